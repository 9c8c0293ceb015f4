// The Explore view: query bar, timeline (drag to select a range, click a
// point to open that profile, group by a label, a function's self/total over
// time), and the merged flame graph with its toolbar (search, views, root on
// top or bottom, bottom-up, collapse recursion, node budget, exports), the
// function table beside it, the sandwich of one function, pprof's call graph
// and a function's source with per-line costs; the Refine bar (pprof's focus,
// ignore, hide, show, show_from, tagfocus, tagignore and granularity) applies
// to all of them. Everything it shows follows the URL.

import * as api from './api.js';
import * as state from './state.js';
import { FlameGraph, escapeHtml } from './flamegraph.js';
import { FunctionTable } from './table.js';
import { Timeline } from './timeline.js';
import { QueryBar, serviceOf } from './querybar.js';
import { RefineBar, exactFunction, refineParams } from './refine.js';
import { GraphView, warmUp } from './graph.js';
import { SourceView } from './source.js';
import {
  describeRange, formatPercent, formatTime, formatValue, parseType, resolveTime, stepFor, timelineMode,
} from './format.js';
import {
  findPath, fromFlamebearer, functionTable, matcher, otherShare, path, searchMatches,
} from './tree.js';

const NODE_BUDGETS = ['1024', '4096', '8192', '16384', '65536'];

export class ExploreView {
  constructor(host) {
    this.host = host;
    host.innerHTML = `
      <div class="querybar"></div>
      <div class="banner" hidden></div>
      <section class="panel timeline-panel">
        <header><h2 class="tl-title">Usage over time</h2>
          <span class="hint">drag to select a range · click a point to open that profile</span>
          <span class="fn-chip" hidden></span>
          <label class="groupby">Group by <select class="groupby-select"><option value="">—</option></select></label></header>
        <div class="timeline"></div>
      </section>
      <section class="panel flame-panel">
        <div class="toolbar">
          <input class="search" type="search" placeholder="Search (text or /regex/) — press /" spellcheck="false">
          <span class="matched"></span>
          <input class="spans" type="text" placeholder="Span ids" spellcheck="false"
            title="A span profile: only the samples of these spans (span_id labels inside the profiles, as OpenTelemetry writes them; 16 hex digits, comma-separated), as Grafana's traces to profiles shows it">
          <div class="seg views">
            <button data-view="both">Flame + table</button><button data-view="flame">Flame graph</button>
            <button data-view="table">Table</button><button data-view="sandwich">Sandwich</button>
            <button data-view="graph">Graph</button><button data-view="source">Source</button></div>
          <button class="toggle orient" title="Root at the top (icicle) or at the bottom (classic)"></button>
          <button class="toggle bottomup" title="Reverse stacks: the hottest functions become the roots">Bottom-up</button>
          <button class="toggle collapse" title="Merge a frame into its parent when both are the same function">Collapse recursion</button>
          <label class="nodes">Max nodes <select class="maxnodes">${NODE_BUDGETS.map((n) => `<option>${n}</option>`).join('')}</select></label>
          <button class="reset" title="Reset zoom (Esc)">Reset zoom</button>
          <div class="menu-wrap"><button class="export-btn">Export ▾</button>
            <div class="menu export-menu" hidden>
              <a class="exp-pprof" download>pprof (.pb.gz, go tool pprof)</a>
              <a class="exp-folded" download>Folded stacks (.folded)</a>
              <a class="exp-svg" download>Flame graph (.svg)</a>
              <a class="exp-dot" download="callgraph.dot">Call graph (.dot, Graphviz)</a>
              <a class="exp-png" href="#" download="flamegraph.png">Flame graph (.png)</a></div></div>
        </div>
        <div class="refine-bar"></div>
        <div class="trunc-note" hidden></div>
        <div class="flame-body">
          <div class="flame-wrap"><div class="flame"></div></div>
          <div class="table-wrap"></div>
        </div>
        <div class="sandwich" hidden>
          <div class="sw-title"></div>
          <div class="sw-part"><div class="sw-label">Callers (who calls it; root at the bottom)</div><div class="sw-callers"></div></div>
          <div class="sw-part"><div class="sw-label">Callees (what it calls)</div><div class="sw-callees"></div></div>
        </div>
        <div class="graph-view" hidden><div class="graph-note"></div><div class="graph-canvas"></div></div>
        <div class="source-view" hidden></div>
      </section>
      <div class="menu ctx-menu" hidden>
        <button data-act="zoom">Zoom to this frame</button>
        <button data-act="focus">Focus on this function (refine)</button>
        <button data-act="ignore">Ignore this function</button>
        <button data-act="hide">Hide this function</button>
        <button data-act="source">Show source</button>
        <button data-act="sandwich">Sandwich view</button>
        <button data-act="time">Show over time</button>
        <button data-act="copy">Copy function name</button>
      </div>`;
    const $ = (sel) => host.querySelector(sel);
    this.$ = $;
    this.bar = new QueryBar($('.querybar'), { onRefresh: () => this.update(state.get(), true) });
    this.timeline = new Timeline($('.timeline'), {
      onSelectRange: (from, until) => state.set({ from: String(from), until: String(until), profile: '' }),
      onPoint: (id) => state.set({ profile: id }),
    });
    this.flame = new FlameGraph($('.flame'), {
      onZoom: (i) => state.set({ focus: i > 0 ? path(this.model, i).join(';') : '' }, { replace: true }),
      onContextMenu: (i, x, y) => this.contextMenu(i, x, y),
    });
    this.table = new FunctionTable($('.table-wrap'), {
      onSandwich: (name) => state.set({ view: 'sandwich', sandwich: name }),
      onOverTime: (name) => state.set({ fn: name }),
      onSelect: (name) => state.set({ search: name }, { replace: true }),
      onSource: (name) => state.set({ view: 'source', source: name }),
    });
    this.refine = new RefineBar($('.refine-bar'));
    this.graph = new GraphView($('.graph-canvas'), { onNode: (n, x, y) => this.contextMenu(null, x, y, n.name) });
    this.source = new SourceView($('.source-view'));
    warmUp();
    this.callers = new FlameGraph($('.sw-callers'), { onContextMenu: null });
    this.callees = new FlameGraph($('.sw-callees'), { onContextMenu: null });
    this.wire();
  }

  wire() {
    const $ = this.$;
    const search = $('.search');
    search.addEventListener('input', () => state.set({ search: search.value }, { replace: true }));
    this.host.querySelectorAll('[data-view]').forEach((b) =>
      b.addEventListener('click', () => state.set({ view: b.dataset.view })));
    $('.orient').addEventListener('click', () => state.set({ orient: state.get().orient === 'top' ? 'bottom' : 'top' }));
    $('.bottomup').addEventListener('click', () => state.set({ bottomUp: !state.get().bottomUp, focus: '' }));
    $('.collapse').addEventListener('click', () => state.set({ collapse: !state.get().collapse, focus: '' }));
    $('.maxnodes').addEventListener('change', () => state.set({ maxNodes: $('.maxnodes').value }));
    $('.spans').addEventListener('change', () =>
      state.set({ spans: $('.spans').value.trim().split(/[\s,]+/).filter(Boolean).join(','), focus: '' }));
    $('.reset').addEventListener('click', () => this.flame.reset());
    $('.groupby-select').addEventListener('change', () => state.set({ groupBy: $('.groupby-select').value }));
    $('.export-btn').addEventListener('click', () => { $('.export-menu').hidden = !$('.export-menu').hidden; });
    $('.exp-png').addEventListener('click', (e) => {
      e.currentTarget.href = this.flame.toPNG();
    });
    const ctx = $('.ctx-menu');
    ctx.addEventListener('click', (e) => this.contextAction(e.target.closest('button')?.dataset.act));
    document.addEventListener('click', (e) => {
      if (!ctx.contains(e.target)) ctx.hidden = true;
      if (!$('.menu-wrap').contains(e.target)) $('.export-menu').hidden = true;
    });
    document.addEventListener('keydown', (e) => {
      if (!this.host.isConnected || this.host.hidden) return;
      const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement?.tagName);
      if (e.key === '/' && !typing) {
        e.preventDefault();
        search.focus();
        search.select();
      } else if (e.key === 'Escape') {
        ctx.hidden = true;
        if (typing) document.activeElement.blur();
        this.flame.reset();
      }
    });
  }

  // The frame menu, for flame graph node `i` or a graph node (`name`).
  contextMenu(i, x, y, name = null) {
    const ctx = this.$('.ctx-menu');
    this.ctxNode = i;
    this.ctxName = name ?? this.model.names[this.model.name[i]];
    ctx.querySelector('[data-act="zoom"]').hidden = i === null;
    ctx.hidden = false;
    // Kept inside the window (a node near the bottom opens it upwards).
    const r = ctx.getBoundingClientRect();
    ctx.style.left = `${Math.max(4, Math.min(x, innerWidth - r.width - 4))}px`;
    ctx.style.top = `${Math.max(4, y + r.height > innerHeight - 4 ? y - r.height : y)}px`;
  }

  contextAction(act) {
    const i = this.ctxNode;
    const name = this.ctxName;
    this.$('.ctx-menu').hidden = true;
    if (!act || !name) return;
    if (act === 'zoom' && i !== null) this.flame.zoomTo(i);
    if (act === 'focus' || act === 'ignore' || act === 'hide') {
      state.set({ [`r_${act}`]: exactFunction(name), focus: '' });
    }
    if (act === 'source') state.set({ view: 'source', source: name.split(' ')[0] });
    if (act === 'sandwich') state.set({ view: 'sandwich', sandwich: name });
    if (act === 'time') state.set({ fn: name });
    if (act === 'copy') navigator.clipboard?.writeText(name);
  }

  banner(html, kind = 'info') {
    const b = this.$('.banner');
    b.hidden = !html;
    b.className = `banner ${kind}`;
    b.innerHTML = html || '';
  }

  async update(s, refresh = false) {
    if (this.abort) this.abort.abort();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const key = `${s.from}|${s.until}`;
    const start = resolveTime(s.from);
    const end = resolveTime(s.until);
    if (!(start < end)) {
      this.banner(`The time range ${escapeHtml(s.from)} … ${escapeHtml(s.until)} is not valid.`, 'error');
      return;
    }
    try {
      if (refresh || key !== this.loadedRange || !this.bar.byService) {
        await this.bar.load(s);
        this.loadedRange = key;
      }
      // Pick a service and type when the URL does not say (Grafana's default:
      // the first CPU type that is not "samples").
      const services = [...this.bar.byService.keys()].sort();
      if (!services.length) {
        this.bar.render(s);
        await this.emptyState(s);
        return;
      }
      let query = s.query;
      let type = s.type;
      const svc = serviceOf(query);
      if (!svc || !this.bar.byService.has(svc)) {
        query = `{service_name="${services.includes('demo') ? 'demo' : services[0]}"}`;
      }
      const types = [...this.bar.byService.get(serviceOf(query))];
      if (!type || !types.includes(type)) {
        type = types.find((t) => t.includes('cpu') && !t.includes('samples')) || types.sort()[0];
      }
      if (query !== s.query || type !== s.type) {
        state.set({ query, type }, { replace: true });
        return;  // the state change comes back here
      }
      this.banner('');
      this.bar.render(s);
      this.range = [start, end];  // "now" resolved once for every request of this update
      this.renderControls(s);
      const jobs = [this.updateTimeline(s, start, end, signal), this.updateFlame(s, start, end, signal)];
      await Promise.all(jobs);
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.banner(`The query failed: ${escapeHtml(e.message)}`, 'error');
    }
  }

  async emptyState(s) {
    let html = `<b>No profiles in ${escapeHtml(describeRange(s.from, s.until))}.</b> `;
    try {
      const t = await api.targets();
      if (!t.activeTargets.length) {
        html += 'stoker has no targets: see <a href="/targets">Targets</a> and its config.';
      } else {
        html += `stoker scrapes ${t.activeTargets.length} target(s); the first profiles arrive within one scrape interval (15 s by default). <a href="/targets">Targets</a> shows their state.`;
      }
    } catch (_) {
      html += 'The first profiles arrive within one scrape interval.';
    }
    this.banner(html, 'empty');
    this.renderToggles(s);
    this.timeline.set([], {});
    this.flame.setModel(fromFlamebearer({ names: [], levels: [] }));
    this.table.set([], { total: 0, unit: '' });
  }

  // What the URL's state alone decides (also in the empty state, before any
  // profile): the view and option buttons, the inputs, which panes show.
  renderToggles(s) {
    const $ = this.$;
    this.host.querySelectorAll('[data-view]').forEach((b) => b.classList.toggle('on', b.dataset.view === s.view));
    $('.orient').textContent = s.orient === 'top' ? 'Root at top' : 'Root at bottom';
    $('.bottomup').classList.toggle('on', !!s.bottomUp);
    $('.collapse').classList.toggle('on', !!s.collapse);
    $('.maxnodes').value = NODE_BUDGETS.includes(s.maxNodes) ? s.maxNodes : '8192';
    if (document.activeElement !== $('.search')) $('.search').value = s.search || '';
    if (document.activeElement !== $('.spans')) $('.spans').value = s.spans || '';
    $('.spans').classList.toggle('on', !!s.spans);
    const view = s.view;
    $('.flame-wrap').hidden = !(view === 'both' || view === 'flame');
    $('.table-wrap').hidden = !(view === 'both' || view === 'table');
    $('.flame-body').classList.toggle('split', view === 'both');
    $('.sandwich').hidden = view !== 'sandwich';
    $('.graph-view').hidden = view !== 'graph';
    $('.source-view').hidden = view !== 'source';
    $('.flame-body').hidden = ['sandwich', 'graph', 'source'].includes(view);
  }

  renderControls(s) {
    this.renderToggles(s);
    const $ = this.$;
    this.refine.render(s, this.unmatched || []);
    const params = this.renderParams(s);
    $('.exp-pprof').href = s.profile ? `/api/v1/profiles/${s.profile}`
      : api.downloadUrl('/api/v1/profiles/merged', {
        query: params.query, from: params.from, until: params.until, spanSelector: params.spanSelector,
        ...refineParams(s),
      });
    $('.exp-dot').href = api.downloadUrl('/pyroscope/render', { ...params, format: 'dot' });
    $('.exp-folded').href = api.downloadUrl('/pyroscope/render', { ...params, format: 'folded' });
    $('.exp-svg').href = api.downloadUrl('/pyroscope/render', { ...params, format: 'svg', orientation: s.orient });
  }

  renderParams(s) {
    const [start, end] = this.range || [resolveTime(s.from), resolveTime(s.until)];
    return {
      query: api.renderQuery(s.type, s.query),
      from: String(start),
      until: String(end),
      maxNodes: s.maxNodes,
      bottomUp: s.bottomUp ? 'true' : '',
      collapseRecursion: s.collapse ? 'true' : '',
      profileId: s.profile || '',
      spanSelector: s.spans || '',
      ...refineParams(s),
    };
  }

  async updateTimeline(s, start, end, signal) {
    const $ = this.$;
    const mode = timelineMode(s.type);
    const step = stepFor(start, end);
    const scale = mode.scale(step);
    $('.tl-title').textContent = `${parseType(s.type).name} · ${mode.label}`;
    const [series, names] = await Promise.all([
      api.selectSeries({ type: s.type, selector: s.query, start, end, step, groupBy: s.groupBy, average: mode.gauge, signal }),
      api.labelNames([`{__profile_type__="${s.type}"}`], start, end),
    ]);
    const gb = $('.groupby-select');
    gb.innerHTML = '<option value="">—</option>' + names.filter((n) => !n.startsWith('__'))
      .map((n) => `<option ${n === s.groupBy ? 'selected' : ''}>${escapeHtml(n)}</option>`).join('');
    // The legend shows what a line adds up to in the profile's own unit
    // (CPU time, bytes allocated); for gauges, their average.
    const t = parseType(s.type);
    const summary = (raw) => {
      const sum = raw.reduce((a, v) => a + v, 0);
      return mode.gauge ? { total: raw.length ? sum / raw.length : 0, totalUnit: mode.unit, totalLabel: 'avg' }
                        : { total: sum, totalUnit: t.sampleUnit, totalLabel: 'total' };
    };
    const lines = series.map((ser) => ({
      label: (ser.labels || []).map((l) => `${l.name}=${l.value}`).join(', ') ||
        (s.groupBy ? `no ${s.groupBy}` : (serviceOf(s.query) || 'all')),
      points: (ser.points || []).map((p) => [Number(p.timestamp), p.value * scale,
        p.exemplars && p.exemplars[0] ? p.exemplars[0].profileId : null]),
      ...summary((ser.points || []).map((p) => p.value)),
    }));
    const chip = $('.fn-chip');
    chip.hidden = !s.fn;
    if (s.fn) {
      const fs = await api.functionSeries({ ...this.renderParams(s), step, function: s.fn }, signal);
      const fscale = mode.gauge ? 1 : scale;
      lines.push({ label: `${s.fn} · total`, colour: '#c2255c', points: fs.total.map(([ts, v]) => [ts, v * fscale]),
                   ...summary(fs.total.map(([, v]) => v)) });
      lines.push({ label: `${s.fn} · self`, colour: '#862e9c', dash: [5, 4], points: fs.self.map(([ts, v]) => [ts, v * fscale]),
                   ...summary(fs.self.map(([, v]) => v)) });
      chip.innerHTML = `over time: <b>${escapeHtml(s.fn)}</b> <button title="Remove">×</button>`;
      chip.querySelector('button').onclick = () => state.set({ fn: '' });
    }
    this.timeline.set(lines, { unit: mode.unit, range: [start, end] });
  }

  async updateFlame(s, start, end, signal) {
    const $ = this.$;
    const t = parseType(s.type);
    const params = this.renderParams(s);
    if (s.view === 'sandwich') {
      await this.updateSandwich(s, params, t, signal);
      return;
    }
    if (s.view === 'graph') {
      await this.updateGraph(s, params, t, signal);
      return;
    }
    if (s.view === 'source') {
      await this.updateSource(s, params, t, signal);
      return;
    }
    const fb = await api.render(params, signal);
    this.setUnmatched(s, fb.unmatched);
    this.model = fromFlamebearer(fb.flamebearer);
    const m = this.model;
    this.flame.set({ orientation: s.orient, hit: null });
    this.flame.setModel(m, { unit: t.sampleUnit });
    if (s.focus) {
      const i = findPath(m, s.focus.split(';'));
      if (i > 0) this.flame.zoomTo(i);
    }
    this.applySearch(s);
    window.stokerTimings = { ...(window.stokerTimings || {}), flameDrawn: performance.now(), flameDrawMs: this.flame.lastDrawMs };
    // Single profile, truncation and empty notes.
    const notes = [];
    if (s.profile) {
      notes.push(`Showing one profile (id ${escapeHtml(s.profile)}). <a href="#" class="back-range">Back to the whole range</a>`);
    }
    if (s.spans) {
      const n = s.spans.split(',').length;
      notes.push(`Span profile: only the samples of ${n === 1 ? 'span' : `${n} spans`} ${escapeHtml(s.spans.replaceAll(',', ', '))} (${escapeHtml(formatValue(m.totalAll, t.sampleUnit))}). <a href="#" class="all-spans">Show all samples</a>`);
    }
    if (fb.profiles === 0) notes.push('No profiles of this type in the range.');
    else if (s.spans && m.totalAll === 0) notes.push('None of their samples are in this range.');
    const other = otherShare(m);
    const tn = $('.trunc-note');
    tn.hidden = other === 0;
    if (other > 0) {
      tn.innerHTML = `${formatPercent(other, m.totalAll)} of the total (${escapeHtml(formatValue(other, t.sampleUnit))}) is folded into <i>other</i> nodes to keep ${escapeHtml(s.maxNodes)} nodes. <button class="raise">Show more nodes</button>`;
      tn.querySelector('.raise').onclick = () => {
        const next = NODE_BUDGETS[Math.min(NODE_BUDGETS.indexOf(s.maxNodes) + 1, NODE_BUDGETS.length - 1)];
        state.set({ maxNodes: next });
      };
    }
    if (notes.length) {
      this.banner(notes.join(' '), 'info');
      this.host.querySelector('.back-range')?.addEventListener('click', (e) => {
        e.preventDefault();
        state.set({ profile: '' });
      });
      this.host.querySelector('.all-spans')?.addEventListener('click', (e) => {
        e.preventDefault();
        state.set({ spans: '' });
      });
    }
  }

  // pprof's warning for refine options that matched nothing, on their chips.
  setUnmatched(s, unmatched) {
    this.unmatched = unmatched || [];
    this.refine.render(s, this.unmatched);
  }

  async updateGraph(s, params, t, signal) {
    const doc = await api.get('/pyroscope/render', { ...params, format: 'graph' }, signal);
    this.setUnmatched(s, doc.unmatched);
    this.graphDoc = doc;
    this.graph.set(doc, { unit: t.sampleUnit });
    const shown = doc.nodes.reduce((a, n) => a + n.flat, 0);
    this.$('.graph-note').innerHTML = `${doc.nodes.length} nodes accounting for ${escapeHtml(formatValue(shown, t.sampleUnit))}, ${formatPercent(shown, doc.total)} of ${escapeHtml(formatValue(doc.total, t.sampleUnit))}` +
      (doc.droppedNodes ? ` · ${doc.droppedNodes} smaller nodes dropped` : '') +
      (doc.droppedEdges ? ` · ${doc.droppedEdges} edges below ${escapeHtml(formatValue(doc.edgeCutoff, t.sampleUnit))} dropped` : '') +
      ' · dotted: calls through dropped nodes · click a node for focus, source and more · click the background to zoom';
    window.stokerTimings = { ...(window.stokerTimings || {}), graphLayoutMs: this.graph.lastLayoutMs, graphMeasureMs: this.graph.lastMeasureMs, graphDrawMs: this.graph.lastDrawMs };
  }

  async updateSource(s, params, t, signal) {
    if (!s.source) {
      this.source.empty('Pick a function for the source view: right-click a frame (or click a graph node) → Show source, or ‹/› in the table.');
      return;
    }
    const doc = await api.get('/api/v1/source', {
      query: params.query, from: params.from, until: params.until, spanSelector: params.spanSelector,
      profileId: params.profileId, ...refineParams(s), function: exactFunction(s.source),
    }, signal);
    this.setUnmatched(s, doc.unmatched);
    this.source.set(doc, { unit: t.sampleUnit });
  }

  applySearch(s) {
    const m = this.model;
    const { test, error } = matcher(s.search);
    const found = searchMatches(m, test);
    this.flame.set({ hit: test ? found.hit : null });
    const matched = this.$('.matched');
    if (error) matched.textContent = `bad regex: ${error}`;
    else if (test) matched.textContent = `${found.count} frames, ${formatPercent(found.share, m.totalAll)} of the total`;
    else matched.textContent = '';
    this.table.set(functionTable(m, { bottomUp: !!s.bottomUp }), { total: m.totalAll, unit: parseType(s.type).sampleUnit, test });
  }

  async updateSandwich(s, params, t, signal) {
    const $ = this.$;
    if (!s.sandwich) {
      $('.sw-title').innerHTML = 'Pick a function for the sandwich view: right-click a frame, or ⧉ in the table.';
      this.callers.setModel(fromFlamebearer({ names: [], levels: [] }));
      this.callees.setModel(fromFlamebearer({ names: [], levels: [] }));
      return;
    }
    const fb = await api.render({ ...params, sandwich: s.sandwich }, signal);
    const callers = fromFlamebearer(fb.callers);
    const callees = fromFlamebearer(fb.callees);
    $('.sw-title').innerHTML = `Sandwich of <b>${escapeHtml(s.sandwich)}</b>: total ${escapeHtml(formatValue(callees.totalAll, t.sampleUnit))}. <a href="#" class="sw-time">Show over time</a>`;
    $('.sw-time').onclick = (e) => {
      e.preventDefault();
      state.set({ fn: s.sandwich });
    };
    this.callers.set({ orientation: 'bottom' });
    this.callers.setModel(callers, { unit: t.sampleUnit });
    this.callees.set({ orientation: 'top' });
    this.callees.setModel(callees, { unit: t.sampleUnit });
  }

  onState(s) {
    const prev = this.prev;
    this.prev = s;
    if (prev && this.model && prev.page === s.page) {
      const changed = new Set();
      for (const k of new Set([...Object.keys(s), ...Object.keys(prev)])) if (s[k] !== prev[k]) changed.add(k);
      const local = ['search', 'focus', 'orient'];
      if ([...changed].every((k) => local.includes(k))) {
        if (changed.has('orient')) {
          this.flame.set({ orientation: s.orient });
          this.renderControls(s);
        }
        if (changed.has('focus')) {
          const i = s.focus ? findPath(this.model, s.focus.split(';')) : 0;
          if (i >= 0 && i !== this.flame.focus) this.flame.zoomTo(i);
        }
        if (changed.has('search')) this.applySearch(s);
        return;
      }
    }
    this.update(s);
  }
}
