// The Diff view: a baseline and a comparison (two time ranges, and a label
// selector each), with presets "vs 1 h / 24 h / 7 d earlier". The flame graph
// is coloured by the change in each function's share of its side's total
// (red: more, green: less; a colour-blind palette uses orange and blue); the
// table lists the biggest changes; both totals are shown. Data from
// /pyroscope/render-diff, as Pyroscope serves it.

import * as api from './api.js';
import * as state from './state.js';
import { FlameGraph, escapeHtml } from './flamegraph.js';
import { FunctionTable } from './table.js';
import { QueryBar, serviceOf } from './querybar.js';
import { describeRange, formatTime, formatValue, parseType, resolveTime } from './format.js';
import { fromFlamebearer, functionTable, matcher, searchMatches } from './tree.js';

const SHIFTS = [['1h', 3.6e6, 'vs 1 h earlier'], ['24h', 8.64e7, 'vs 24 h earlier'], ['7d', 6.048e8, 'vs 7 d earlier']];

// The diff state for a range: with a shift (the presets), the comparison is
// the range and the baseline the same range that much earlier; without, the
// range's first half is the baseline and its second half the comparison.
export function diffParams(s, shiftMs = null) {
  const until = resolveTime(s.until);
  const from = resolveTime(s.from);
  if (shiftMs === null) {
    const mid = Math.round((from + until) / 2);
    return { type: s.type, query: s.query, rightQuery: s.query, from: String(from), until: String(mid),
             rightFrom: String(mid), rightUntil: String(until) };
  }
  return {
    type: s.type, query: s.query, rightQuery: s.query,
    from: String(from - shiftMs), until: String(until - shiftMs),
    rightFrom: String(from), rightUntil: String(until),
  };
}

export class DiffView {
  constructor(host) {
    this.host = host;
    host.innerHTML = `
      <div class="querybar"></div>
      <div class="banner" hidden></div>
      <section class="panel diff-sides">
        <div class="side baseline"><h3>Baseline</h3>
          <label>From <input type="datetime-local" step="1" class="l-from"></label>
          <label>Until <input type="datetime-local" step="1" class="l-until"></label>
          <label class="grow">Selector <input class="l-query" spellcheck="false"></label>
          <div class="total l-total"></div></div>
        <div class="side comparison"><h3>Comparison</h3>
          <label>From <input type="datetime-local" step="1" class="r-from"></label>
          <label>Until <input type="datetime-local" step="1" class="r-until"></label>
          <label class="grow">Selector <input class="r-query" spellcheck="false"></label>
          <div class="total r-total"></div></div>
        <div class="presets">${SHIFTS.map(([k, , t]) => `<button data-shift="${k}">${t}</button>`).join('')}
          <button class="apply-sides">Apply</button>
          <label class="palette"><input type="checkbox" class="cb"> colour-blind palette</label></div>
      </section>
      <section class="panel flame-panel">
        <div class="toolbar"><input class="search" type="search" placeholder="Search functions (text or /regex/)" spellcheck="false">
          <span class="matched"></span><span class="legend"></span>
          <button class="reset">Reset zoom</button></div>
        <div class="flame-body split">
          <div class="flame-wrap"><div class="flame"></div></div>
          <div class="table-wrap"></div></div>
      </section>`;
    const $ = (sel) => host.querySelector(sel);
    this.$ = $;
    this.bar = new QueryBar($('.querybar'), { onRefresh: () => this.update(state.get(), true), diff: true });
    this.flame = new FlameGraph($('.flame'));
    this.table = new FunctionTable($('.table-wrap'), {
      onSandwich: (name) => {
        const s = state.get();
        state.set({ view: 'sandwich', sandwich: name, from: s.rightFrom, until: s.rightUntil, query: s.rightQuery,
                    rightFrom: '', rightUntil: '', rightQuery: '' }, { page: 'explore' });
      },
      onSelect: (name) => state.set({ search: name }, { replace: true }),
    });
    host.querySelectorAll('[data-shift]').forEach((b) => b.addEventListener('click', () => {
      const s = state.get();
      const shift = SHIFTS.find(([k]) => k === b.dataset.shift)[1];
      const right = { from: s.rightFrom, until: s.rightUntil };
      state.set({ ...diffParams(right.from ? { ...s, from: right.from, until: right.until } : s, shift), rightQuery: s.rightQuery || s.query });
    }));
    $('.apply-sides').addEventListener('click', () => {
      const v = (c) => String(new Date($(c).value).getTime());
      state.set({ from: v('.l-from'), until: v('.l-until'), rightFrom: v('.r-from'), rightUntil: v('.r-until'),
                  query: $('.l-query').value, rightQuery: $('.r-query').value });
    });
    $('.cb').addEventListener('change', () => state.set({ palette: $('.cb').checked ? 'cb' : '' }, { replace: true }));
    $('.search').addEventListener('input', () => state.set({ search: $('.search').value }, { replace: true }));
    $('.reset').addEventListener('click', () => this.flame.reset());
  }

  async update(s, refresh = false) {
    const $ = this.$;
    if (!s.rightFrom || !s.type) {
      // Entered without sides: compare the current range with the one before.
      if (!s.type) {
        await this.bar.load(s);
        const svc = serviceOf(s.query) || [...this.bar.byService.keys()][0];
        const types = [...(this.bar.byService.get(svc) || [])];
        const type = types.find((t) => t.includes('cpu') && !t.includes('samples')) || types[0];
        if (!type) {
          this.banner('No profiles stored yet: nothing to compare.', 'empty');
          return;
        }
        state.set({ ...diffParams({ ...s, type, query: `{service_name="${svc}"}` }) }, { replace: true });
        return;
      }
      state.set(diffParams(s), { replace: true });
      return;
    }
    if (refresh || !this.bar.byService) await this.bar.load({ ...s, from: s.from, until: s.rightUntil });
    this.bar.render({ ...s, from: s.rightFrom, until: s.rightUntil });
    const local = (ms) => {
      const d = new Date(Number(ms) - new Date(Number(ms)).getTimezoneOffset() * 60000);
      return d.toISOString().slice(0, 19);
    };
    $('.l-from').value = local(resolveTime(s.from));
    $('.l-until').value = local(resolveTime(s.until));
    $('.r-from').value = local(resolveTime(s.rightFrom));
    $('.r-until').value = local(resolveTime(s.rightUntil));
    $('.l-query').value = s.query || '{}';
    $('.r-query').value = s.rightQuery || s.query || '{}';
    $('.cb').checked = s.palette === 'cb';
    try {
      const fb = await api.renderDiff({
        leftQuery: api.renderQuery(s.type, s.query), leftFrom: String(resolveTime(s.from)), leftUntil: String(resolveTime(s.until)),
        rightQuery: api.renderQuery(s.type, s.rightQuery || s.query), rightFrom: String(resolveTime(s.rightFrom)),
        rightUntil: String(resolveTime(s.rightUntil)), maxNodes: s.maxNodes,
      });
      this.banner('');
      const unit = parseType(s.type).sampleUnit;
      this.model = fromFlamebearer(fb.flamebearer, { diff: true, leftTicks: fb.leftTicks, rightTicks: fb.rightTicks });
      this.flame.set({ palette: s.palette === 'cb' ? 'diff-cb' : 'diff', orientation: 'top' });
      this.flame.setModel(this.model, { unit });
      $('.l-total').innerHTML = `total <b>${escapeHtml(formatValue(fb.leftTicks, unit))}</b> · ${escapeHtml(describeRange(s.from, s.until))}`;
      $('.r-total').innerHTML = `total <b>${escapeHtml(formatValue(fb.rightTicks, unit))}</b> · ${escapeHtml(describeRange(s.rightFrom, s.rightUntil))}`;
      const cb = s.palette === 'cb';
      $('.legend').innerHTML = `<span class="sw ${cb ? 'cb-up' : 'up'}"></span> larger share in the comparison <span class="sw ${cb ? 'cb-down' : 'down'}"></span> smaller`;
      if (!fb.leftTicks || !fb.rightTicks) {
        this.banner(`${!fb.leftTicks ? 'The baseline' : 'The comparison'} has no profiles: pick another range (${escapeHtml(formatTime(resolveTime(!fb.leftTicks ? s.from : s.rightFrom)))} …).`, 'empty');
      }
      this.applySearch(s);
    } catch (e) {
      this.banner(`The diff failed: ${escapeHtml(e.message)}`, 'error');
    }
  }

  applySearch(s) {
    const m = this.model;
    if (!m) return;
    const { test } = matcher(s.search);
    const found = searchMatches(m, test);
    this.flame.set({ hit: test ? found.hit : null });
    this.$('.matched').textContent = test ? `${found.count} frames` : '';
    this.table.set(functionTable(m), { total: m.totalAll, unit: parseType(s.type).sampleUnit, test,
                                       diff: { leftTicks: m.leftTicks, rightTicks: m.rightTicks } });
  }

  banner(html, kind = 'info') {
    const b = this.$('.banner');
    b.hidden = !html;
    b.className = `banner ${kind}`;
    b.innerHTML = html || '';
  }

  onState(s) {
    if (this.prev && this.model && s.search !== this.prev.search) {
      const onlySearch = Object.keys({ ...s, ...this.prev }).every((k) => k === 'search' || s[k] === this.prev[k]);
      if (onlySearch) {
        this.prev = s;
        this.applySearch(s);
        return;
      }
    }
    this.prev = s;
    this.update(s);
  }
}
