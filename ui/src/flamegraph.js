// FlameGraph: draws a tree model (tree.js) on a canvas. Click zooms into a
// frame (its ancestors stay as dimmed full-width bars), a click on the root or
// reset() zooms out; hovering shows function, total, self and shares of the
// whole and of the view; right-click asks the page for a context menu.
// Colours: by package (warm families), search hits highlighted, or for a diff
// the change in share of the total (red more, green less; a colour-blind
// palette uses orange and blue). Root at the top (Pyroscope's default) or at
// the bottom (classic flame graphs).

import { formatPercent, formatValue } from './format.js';
import { nodeName, packageOf } from './tree.js';

const ROW = 18;

function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function packageColour(name) {
  if (name === 'other') return 'hsl(0, 0%, 70%)';
  if (name === 'total') return 'hsl(30, 10%, 62%)';
  const p = hash(packageOf(name));
  const f = hash(name);
  const hue = 8 + (p % 46);              // red … yellow, one hue per package
  const sat = 72 + (p >> 8) % 20;
  const light = 52 + ((f >> 4) % 14);     // functions of a package vary a little
  return `hsl(${hue}, ${sat}%, ${light}%)`;
}

// Change in share of the total, -1 … +1 (clamped relative change).
function diffChange(m, i) {
  const l = m.leftTicks ? m.totalL[i] / m.leftTicks : 0;
  const r = m.rightTicks ? m.totalR[i] / m.rightTicks : 0;
  if (l === 0) return r > 0 ? 1 : 0;
  return Math.max(-1, Math.min(1, (r - l) / l));
}

function diffColour(change, colourBlind) {
  const t = Math.min(1, Math.abs(change) * 1.5);
  const grey = [192, 192, 192];
  const to = change > 0 ? (colourBlind ? [235, 130, 20] : [220, 40, 40]) : (colourBlind ? [40, 110, 220] : [40, 170, 60]);
  const c = grey.map((g, k) => Math.round(g + (to[k] - g) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

export class FlameGraph {
  constructor(host, { unit = '', onZoom = () => {}, onContextMenu = null } = {}) {
    this.host = host;
    this.unit = unit;
    this.onZoom = onZoom;
    this.onContextMenu = onContextMenu;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'flame-canvas';
    this.tip = document.createElement('div');
    this.tip.className = 'tooltip';
    this.tip.hidden = true;
    host.append(this.canvas, this.tip);
    this.m = null;
    this.focus = 0;
    this.orientation = 'top';
    this.hit = null;
    this.palette = 'package';
    this.colours = [];
    this.drawn = [];
    this.canvas.addEventListener('mousemove', (e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; });
    this.canvas.addEventListener('click', (e) => {
      const i = this.nodeAt(e);
      if (i < 0) return;
      this.zoomTo(i === this.focus ? (this.m.parent[i] > 0 ? this.m.parent[i] : 0) : i);
    });
    this.canvas.addEventListener('contextmenu', (e) => {
      const i = this.nodeAt(e);
      if (i <= 0 || !this.onContextMenu) return;
      e.preventDefault();
      this.onContextMenu(i, e.clientX, e.clientY);
    });
    this.resizeObserver = new ResizeObserver(() => this.draw());
    this.resizeObserver.observe(host);
  }

  setModel(m, { unit } = {}) {
    this.m = m;
    if (unit !== undefined) this.unit = unit;
    this.focus = 0;
    this.colours = m.names.map((n) => packageColour(n));
    this.draw();
  }

  set(opts) {
    Object.assign(this, opts);
    this.draw();
  }

  zoomTo(i) {
    this.tip.hidden = true;
    this.focus = i > 0 ? i : 0;
    this.draw();
    this.onZoom(this.focus);
  }

  reset() {
    this.zoomTo(0);
  }

  y(level) {
    return this.orientation === 'top' ? level * ROW : (this.m.depth - 1 - level) * ROW;
  }

  draw() {
    const m = this.m;
    const t0 = performance.now();
    const width = Math.max(100, this.host.clientWidth);
    const height = m ? Math.max(ROW, m.depth * ROW) : ROW;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(width * dpr) || this.canvas.height !== Math.round(height * dpr)) {
      this.canvas.width = Math.round(width * dpr);
      this.canvas.height = Math.round(height * dpr);
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
    }
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    this.drawn = [];
    if (!m || m.n === 0) return 0;
    ctx.font = '12px ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace';
    ctx.textBaseline = 'middle';
    const charW = ctx.measureText('MMMMMMMMMM').width / 10;
    const f = this.focus;
    const x0 = m.x[f];
    const w0 = m.total[f] || 1;
    const scale = width / w0;
    const fLevel = m.level[f];
    const searching = this.hit && this.hit.some((v) => v);
    const dark = document.documentElement.dataset.theme === 'dark';
    const bar = (i, px, pw, dim) => {
      const y = this.y(m.level[i]);
      let colour;
      if (searching) colour = this.hit[i] ? '#e0459b' : (dark ? '#555' : '#d8d8d8');
      else if (m.diff) colour = diffColour(diffChange(m, i), this.palette === 'diff-cb');
      else colour = this.colours[m.name[i]];
      ctx.globalAlpha = dim ? 0.45 : 1;
      ctx.fillStyle = colour;
      ctx.fillRect(px, y, Math.max(pw - 0.5, 0.5), ROW - 1);
      if (pw > 28) {
        const name = nodeName(m, i);
        const fit = Math.floor((pw - 6) / charW);
        const label = name.length <= fit ? name : `${name.slice(0, Math.max(0, fit - 1))}…`;
        if (fit >= 2) {
          ctx.fillStyle = searching && !this.hit[i] && dark ? '#aaa' : '#1b1b1b';
          ctx.fillText(label, px + 3, y + ROW / 2);
        }
      }
      ctx.globalAlpha = 1;
      this.drawn.push(i, px, y, pw);
    };
    // Ancestors of the focused frame, full width and dimmed.
    for (let a = m.parent[f]; a >= 0; a = m.parent[a]) bar(a, 0, width, true);
    for (let l = fLevel; l < m.depth; l++) {
      let lo = m.levelStart[l];
      let hi = m.levelStart[l + 1];
      // First node that ends after the window starts (levels are sorted by x).
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (m.x[mid] + m.total[mid] <= x0) lo = mid + 1;
        else hi = mid;
      }
      const end = m.levelStart[l + 1];
      for (let i = lo; i < end && m.x[i] < x0 + w0; i++) {
        const px = (m.x[i] - x0) * scale;
        const pw = m.total[i] * scale;
        if (pw < 0.5) continue;
        bar(i, px, pw, false);
      }
    }
    this.lastDrawMs = performance.now() - t0;
    return this.lastDrawMs;
  }

  nodeAt(e) {
    if (!this.m) return -1;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left;
    const y = e.clientY - r.top;
    for (let k = this.drawn.length - 4; k >= 0; k -= 4) {
      const px = this.drawn[k + 1];
      const py = this.drawn[k + 2];
      const pw = this.drawn[k + 3];
      if (x >= px && x < px + pw && y >= py && y < py + ROW) return this.drawn[k];
    }
    return -1;
  }

  hover(e) {
    const i = this.nodeAt(e);
    if (i < 0) {
      this.tip.hidden = true;
      return;
    }
    const m = this.m;
    const u = this.unit;
    const view = m.total[this.focus];
    let html = `<div class="tip-name">${escapeHtml(nodeName(m, i))}</div>`;
    if (m.diff) {
      const l = m.totalL[i];
      const r = m.totalR[i];
      const change = diffChange(m, i);
      html += `<table>
        <tr><td>baseline</td><td>${formatValue(l, u)}</td><td>${formatPercent(l, m.leftTicks)}</td></tr>
        <tr><td>comparison</td><td>${formatValue(r, u)}</td><td>${formatPercent(r, m.rightTicks)}</td></tr>
        <tr><td>share</td><td colspan="2">${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)}%</td></tr></table>`;
    } else {
      html += `<table>
        <tr><td>total</td><td>${formatValue(m.total[i], u)}</td><td>${formatPercent(m.total[i], m.totalAll)} of all</td><td>${formatPercent(m.total[i], view)} of view</td></tr>
        <tr><td>self</td><td>${formatValue(m.self[i], u)}</td><td>${formatPercent(m.self[i], m.totalAll)} of all</td><td></td></tr></table>`;
    }
    this.tip.innerHTML = html;
    this.tip.hidden = false;
    const hr = this.host.getBoundingClientRect();
    const left = Math.min(e.clientX - hr.left + 14, hr.width - this.tip.offsetWidth - 4);
    this.tip.style.left = `${Math.max(0, left)}px`;
    this.tip.style.top = `${e.clientY - hr.top + 16}px`;
  }

  // The drawn frames in page coordinates (for tests and exports).
  frames() {
    const r = this.canvas.getBoundingClientRect();
    const out = [];
    for (let k = 0; k < this.drawn.length; k += 4) {
      out.push({ name: nodeName(this.m, this.drawn[k]), x: r.left + this.drawn[k + 1], y: r.top + this.drawn[k + 2],
                 w: this.drawn[k + 3], h: ROW, node: this.drawn[k] });
    }
    return out;
  }

  toPNG() {
    return this.canvas.toDataURL('image/png');
  }
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
