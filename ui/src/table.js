// FunctionTable: one row per function with self and total (value and % of the
// total), sortable by any column, filtered by the search, with row actions
// (sandwich view, function over time, source). In a diff it shows both sides and the
// change in share, biggest changes first.

import { formatPercent, formatValue } from './format.js';
import { escapeHtml } from './flamegraph.js';

// Small inline icons (no icon font: nothing is fetched).
const ICON_SANDWICH = '<svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true"><rect x="1" y="1" width="10" height="2.5" rx="1" fill="currentColor"/><rect x="1" y="4.75" width="10" height="2.5" rx="1" fill="currentColor" opacity=".5"/><rect x="1" y="8.5" width="10" height="2.5" rx="1" fill="currentColor"/></svg>';
const ICON_SOURCE = '<svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true"><polyline points="4,2 1,6 4,10" fill="none" stroke="currentColor" stroke-width="1.5"/><polyline points="8,2 11,6 8,10" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>';
const ICON_TIME = '<svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true"><polyline points="0.5,9 3.5,5 6,7 9,2 11.5,4" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>';

export class FunctionTable {
  constructor(host, { onSandwich = () => {}, onOverTime = () => {}, onSelect = () => {}, onSource = null } = {}) {
    this.host = host;
    this.onSource = onSource;
    this.onSandwich = onSandwich;
    this.onOverTime = onOverTime;
    this.onSelect = onSelect;
    this.sort = { key: 'self', desc: true };
    this.rows = [];
    this.test = null;
    host.addEventListener('click', (e) => {
      const th = e.target.closest('th[data-key]');
      if (th) {
        const key = th.dataset.key;
        this.sort = { key, desc: this.sort.key === key ? !this.sort.desc : key !== 'name' };
        this.render();
        return;
      }
      const btn = e.target.closest('button[data-act]');
      const tr = e.target.closest('tr[data-name]');
      if (!tr) return;
      const name = tr.dataset.name;
      if (btn && btn.dataset.act === 'sandwich') this.onSandwich(name);
      else if (btn && btn.dataset.act === 'time') this.onOverTime(name);
      else if (btn && btn.dataset.act === 'source' && this.onSource) this.onSource(name.split(' ')[0]);
      else this.onSelect(name);
    });
  }

  // rows from tree.functionTable(); total = the flame graph's total.
  set(rows, { total, unit, diff = null, test = null, limit = 500 }) {
    this.rows = rows;
    this.total = total;
    this.unit = unit;
    this.diff = diff;  // {leftTicks, rightTicks}
    this.test = test;
    this.limit = limit;
    if (diff && this.sort.key === 'self') this.sort = { key: 'change', desc: true };
    if (!diff && this.sort.key === 'change') this.sort = { key: 'self', desc: true };
    this.render();
  }

  filter(test) {
    this.test = test;
    this.render();
  }

  shareChange(r) {
    const l = this.diff.leftTicks ? r.totalL / this.diff.leftTicks : 0;
    const rr = this.diff.rightTicks ? r.totalR / this.diff.rightTicks : 0;
    return rr - l;
  }

  render() {
    const { key, desc } = this.sort;
    let rows = this.rows.filter((r) => r.name !== 'other' || r.self > 0);
    if (this.test) rows = rows.filter((r) => this.test(r.name));
    const value = (r) => (key === 'change' ? Math.abs(this.shareChange(r)) : r[key]);
    rows.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      const c = typeof va === 'string' ? va.localeCompare(vb) : va - vb;
      return desc ? -c : c;
    });
    const shown = rows.slice(0, this.limit);
    const arrow = (k) => (k === key ? (desc ? ' ▾' : ' ▴') : '');
    const u = this.unit;
    let head;
    let body;
    if (this.diff) {
      const { leftTicks, rightTicks } = this.diff;
      head = `<tr><th data-key="name">Function${arrow('name')}</th><th data-key="totalL" class="num">Baseline${arrow('totalL')}</th>
        <th data-key="totalR" class="num">Comparison${arrow('totalR')}</th><th data-key="change" class="num">Change in share${arrow('change')}</th><th></th></tr>`;
      body = shown.map((r) => {
        const ch = this.shareChange(r) * 100;
        const cls = ch > 0.05 ? 'up' : ch < -0.05 ? 'down' : '';
        return `<tr data-name="${escapeHtml(r.name)}"><td class="fn">${escapeHtml(r.name)}</td>
          <td class="num">${formatValue(r.totalL, u)} <span class="pct">${formatPercent(r.totalL, leftTicks)}</span></td>
          <td class="num">${formatValue(r.totalR, u)} <span class="pct">${formatPercent(r.totalR, rightTicks)}</span></td>
          <td class="num ${cls}">${ch >= 0 ? '+' : ''}${ch.toFixed(2)} pp</td>
          <td class="acts"><button data-act="sandwich" title="Sandwich view">${ICON_SANDWICH}</button></td></tr>`;
      }).join('');
    } else {
      head = `<tr><th data-key="name">Function${arrow('name')}</th><th data-key="self" class="num">Self${arrow('self')}</th>
        <th data-key="total" class="num">Total${arrow('total')}</th><th></th></tr>`;
      body = shown.map((r) => `<tr data-name="${escapeHtml(r.name)}"><td class="fn" title="${escapeHtml(r.name)}">${escapeHtml(r.name)}</td>
          <td class="num">${formatValue(r.self, u)} <span class="pct">${formatPercent(r.self, this.total)}</span></td>
          <td class="num">${formatValue(r.total, u)} <span class="pct">${formatPercent(r.total, this.total)}</span></td>
          <td class="acts"><button data-act="sandwich" title="Sandwich view: callers and callees">${ICON_SANDWICH}</button><button data-act="time" title="Show over time on the timeline">${ICON_TIME}</button>${this.onSource ? `<button data-act="source" title="Source with per-line costs">${ICON_SOURCE}</button>` : ''}</td></tr>`).join('');
    }
    const more = rows.length > shown.length ? `<div class="note">${rows.length - shown.length} more functions not shown; search to narrow.</div>` : '';
    const none = rows.length === 0 ? `<div class="note">No function matches.</div>` : '';
    this.host.innerHTML = `<table class="functions"><thead>${head}</thead><tbody>${body}</tbody></table>${none}${more}`;
  }
}
