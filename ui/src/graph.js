// GraphView: pprof's call graph (the Graph view of `go tool pprof -http`) as
// the server prunes it (/pyroscope/render?format=graph: nodecount 80,
// nodefraction 0.005, edgefraction 0.001 by default). Nodes are boxes whose
// text grows with their self value and whose colour deepens with their total;
// edges are arrows from caller to callee, thicker and darker with the value
// along them, dotted where they pass over dropped nodes (pprof's "…").
// Layered layout by dagre (@dagrejs/dagre, vendored from npm), drawn as SVG.
// Clicking a node asks the page what to do with it (focus, source, …).

import { escapeHtml } from './flamegraph.js';
import { formatPercent, formatValue } from './format.js';

const NS = 'http://www.w3.org/2000/svg';

// "crypto/sha256.(*digest).Write" → ["sha256", "(*digest)", "Write"], as
// pprof breaks names: package path dropped, one line per dotted part.
export function nameLines(n) {
  let name = n.function;
  const slash = name.lastIndexOf('/');
  if (slash >= 0) name = name.slice(slash + 1);
  const parts = [];
  let cur = '';
  let depth = 0;
  for (const c of name) {
    if (c === '(' || c === '[') depth++;
    if (c === ')' || c === ']') depth--;
    if (c === '.' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  if (n.file) {
    const base = n.file.slice(n.file.lastIndexOf('/') + 1);
    parts.push(n.line ? `${base}:${n.line}` : base);
  }
  return parts.filter(Boolean);
}

// Runs the layout once on a small graph while the page is idle, so that the
// first real graph does not pay for compiling the layout code (V8 compiles
// functions on first use; that was most of the first layout's time).
export function warmUp() {
  const run = () => {
    if (!window.dagre) return;
    const g = new window.dagre.graphlib.Graph();
    g.setGraph({ ranker: 'tight-tree' });
    g.setDefaultEdgeLabel(() => ({}));
    for (let i = 0; i < 12; i++) g.setNode(String(i), { width: 40, height: 20 });
    for (let i = 1; i < 12; i++) g.setEdge(String(i >> 1), String(i), { weight: 1 });
    g.setEdge('3', '11', { weight: 1 });
    window.dagre.layout(g);
  };
  (window.requestIdleCallback || ((f) => setTimeout(f, 200)))(run);
}

export class GraphView {
  constructor(host, { onNode = () => {} } = {}) {
    this.host = host;
    this.onNode = onNode;
    this.doc = null;
    this.lastLayoutMs = 0;
    this.lastDrawMs = 0;
    host.addEventListener('click', (e) => {
      const g = e.target.closest('g[data-i]');
      if (!this.doc) return;
      if (!g) {
        if (e.target.closest('svg')) this.fit(!this.fitted);
        return;
      }
      e.stopPropagation();  // the page closes its menus on clicks elsewhere
      const n = this.doc.nodes[Number(g.dataset.i)];
      this.onNode(n, e.clientX, e.clientY);
    });
  }

  // Fit the drawing to the width (true) or show it at its actual size.
  fit(on) {
    this.fitted = on;
    const svg = this.host.querySelector('svg');
    if (!svg) return;
    const avail = this.host.clientWidth - 2;
    const scale = on && avail > 0 ? Math.min(1, avail / this.natural.width) : 1;
    svg.setAttribute('width', Math.floor(this.natural.width * scale));
    svg.setAttribute('height', Math.floor(this.natural.height * scale));
    this.host.classList.toggle('fitted', scale < 1);
  }

  // The nodes as drawn (for tests): name, box and values.
  nodes() {
    return [...this.host.querySelectorAll('g[data-i]')].map((g) => {
      const n = this.doc.nodes[Number(g.dataset.i)];
      const r = g.querySelector('rect').getBoundingClientRect();
      return { name: n.name, flat: n.flat, cum: n.cum, x: r.x, y: r.y, w: r.width, h: r.height };
    });
  }

  edges() {
    return [...this.host.querySelectorAll('path[data-e]')].map((p) => this.doc.edges[Number(p.dataset.e)]);
  }

  set(doc, { unit }) {
    this.doc = doc;
    const t0 = performance.now();
    const host = this.host;
    host.textContent = '';
    if (!doc.nodes.length) {
      host.innerHTML = '<div class="note">No samples to draw.</div>';
      return;
    }
    if (!window.dagre) {
      host.innerHTML = '<div class="note">The graph layout library did not load.</div>';
      return;
    }
    const total = Math.max(1, Math.abs(doc.total));
    const maxFlat = Math.max(1, ...doc.nodes.map((n) => Math.abs(n.flat)));
    // Text widths from one measured sample per font size (measuring every
    // line costs more than the layout).
    const ctx = document.createElement('canvas').getContext('2d');
    const perChar = new Map();
    const charWidth = (size) => {
      if (!perChar.has(size)) {
        ctx.font = `${size}px system-ui, sans-serif`;
        const sample = 'runtime.mallocgc (*digest).Write sha256 0123456789 ms%';
        perChar.set(size, ctx.measureText(sample).width / sample.length);
      }
      return perChar.get(size);
    };
    const boxes = doc.nodes.map((n) => {
      const size = 10 + Math.round(10 * Math.sqrt(Math.abs(n.flat) / maxFlat));
      const lines = nameLines(n);
      // pprof's wording: "self (share)" and "of total (share)", "0 of total" for no self.
      const values = n.flat === 0 ? [`0 of ${formatValue(n.cum, unit)} (${formatPercent(n.cum, total)})`]
        : [`${formatValue(n.flat, unit)} (${formatPercent(n.flat, total)})`];
      if (n.flat !== 0 && n.cum !== n.flat) values.push(`of ${formatValue(n.cum, unit)} (${formatPercent(n.cum, total)})`);
      let w = 0;
      for (const l of lines) w = Math.max(w, l.length * charWidth(size));
      for (const l of values) w = Math.max(w, l.length * charWidth(10));
      return { size, lines, values, width: Math.ceil(w * 1.08) + 14, height: lines.length * (size + 2) + values.length * 12 + 10 };
    });
    const g = new window.dagre.graphlib.Graph();
    // tight-tree ranking: about as compact as network-simplex for call
    // graphs, several times faster on 80 nodes.
    g.setGraph({ rankdir: 'TB', nodesep: 16, ranksep: 34, edgesep: 8, marginx: 8, marginy: 8, ranker: 'tight-tree' });
    g.setDefaultEdgeLabel(() => ({}));
    boxes.forEach((b, i) => g.setNode(String(i), { width: b.width, height: b.height }));
    // Residual edges (over dropped nodes) do not shape the layout: they are
    // drawn straight afterwards. Left in, their long spans add dummy nodes
    // that made the layout twice as slow and the graph taller.
    doc.edges.forEach((e, k) => {
      if (e.from !== e.to && !e.residual) {
        g.setEdge(String(e.from), String(e.to), { weight: 1 + Math.round(100 * Math.abs(e.weight) / total), k });
      }
    });
    const tl = performance.now();
    window.dagre.layout(g);
    const t1 = performance.now();
    this.lastMeasureMs = tl - t0;
    const dark = document.documentElement.dataset.theme === 'dark';
    const heat = (v) => Math.min(1, Math.abs(v) / total);
    // pprof's palette: grey for cold, towards red for hot.
    const fill = (v) => {
      const h = heat(v);
      return dark ? `hsl(${14 - 4 * h}, ${20 + 50 * h}%, ${20 + 8 * h}%)` : `hsl(${14 - 4 * h}, ${15 + 60 * h}%, ${95 - 18 * h}%)`;
    };
    const stroke = (v) => {
      const h = heat(v);
      return dark ? `hsl(10, ${15 + 70 * h}%, ${45 + 15 * h}%)` : `hsl(10, ${10 + 75 * h}%, ${62 - 30 * h}%)`;
    };
    const info = g.graph();
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('width', Math.ceil(info.width));
    svg.setAttribute('height', Math.ceil(info.height));
    svg.setAttribute('viewBox', `0 0 ${Math.ceil(info.width)} ${Math.ceil(info.height)}`);
    svg.classList.add('callgraph');
    const text = dark ? '#e6e6e6' : '#222';
    let html = `<defs><marker id="cg-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${dark ? '#aaa' : '#555'}"/></marker></defs>`;
    const routes = g.edges().map((id) => ({ k: g.edge(id).k, pts: g.edge(id).points }));
    doc.edges.forEach((de, k) => {
      if (!de.residual || de.from === de.to) return;
      const a = g.node(String(de.from));
      const b = g.node(String(de.to));
      const down = b.y > a.y;
      routes.push({ k, pts: [{ x: a.x, y: a.y + (down ? a.height / 2 : -a.height / 2) },
        { x: b.x, y: b.y + (down ? -b.height / 2 : b.height / 2) }] });
    });
    for (const { k, pts } of routes) {
      const e = { k };
      const de = doc.edges[e.k];
      let d = `M${pts[0].x},${pts[0].y}`;
      for (let i = 1; i < pts.length; i++) d += ` L${pts[i].x},${pts[i].y}`;
      const w = 1 + 5 * heat(de.weight);
      const from = doc.nodes[de.from].name;
      const to = doc.nodes[de.to].name;
      html += `<path data-e="${e.k}" d="${d}" fill="none" stroke="${stroke(de.weight)}" stroke-width="${w.toFixed(1)}"${de.residual ? ' stroke-dasharray="2,3"' : ''} marker-end="url(#cg-arrow)"><title>${escapeHtml(`${from} ${de.residual ? '…' : '→'} ${to}: ${formatValue(de.weight, unit)}${de.inline ? ' (inline)' : ''}`)}</title></path>`;
      const mid = pts[Math.floor(pts.length / 2)];
      html += `<text class="cg-elabel" x="${mid.x + 4}" y="${mid.y}" fill="${dark ? '#bbb' : '#555'}">${escapeHtml(formatValue(de.weight, unit))}</text>`;
    }
    boxes.forEach((b, i) => {
      const n = doc.nodes[i];
      const p = g.node(String(i));
      const x = p.x - b.width / 2;
      const y = p.y - b.height / 2;
      let tspans = '';
      let ty = y + 6;
      for (const l of b.lines) {
        ty += b.size + 2;
        tspans += `<tspan x="${p.x}" y="${ty - 3}" font-size="${b.size}">${escapeHtml(l)}</tspan>`;
      }
      for (const l of b.values) {
        ty += 12;
        tspans += `<tspan x="${p.x}" y="${ty - 2}" font-size="10">${escapeHtml(l)}</tspan>`;
      }
      html += `<g data-i="${i}" class="cg-node"><title>${escapeHtml(`${n.name}\nself ${formatValue(n.flat, unit)} (${formatPercent(n.flat, total)}), total ${formatValue(n.cum, unit)} (${formatPercent(n.cum, total)})`)}</title>` +
        `<rect x="${x}" y="${y}" width="${b.width}" height="${b.height}" rx="3" fill="${fill(n.cum)}" stroke="${stroke(n.cum)}"/>` +
        `<text text-anchor="middle" fill="${text}">${tspans}</text></g>`;
    });
    svg.innerHTML = html;
    // Fit to the width by default (the whole graph at a glance, as pprof's
    // web view opens); a click on the background toggles the actual size.
    this.natural = { width: Math.ceil(info.width), height: Math.ceil(info.height) };
    host.append(svg);
    this.fit(this.fitted ?? true);
    this.lastLayoutMs = t1 - t0;
    this.lastDrawMs = performance.now() - t1;
  }
}
