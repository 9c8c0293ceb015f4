// SourceView: a function's source with each line's self and total, like
// `go tool pprof -list` / weblist (GET /api/v1/source). Lines that cost
// something are tinted by their total; a file the server could not read (not
// on this disk, or outside the roots it may read) still lists its lines'
// costs and says which paths were tried.

import { escapeHtml } from './flamegraph.js';
import { formatPercent, formatValue } from './format.js';

export class SourceView {
  constructor(host) {
    this.host = host;
  }

  // For tests: the listed lines with costs.
  lines() {
    return [...this.host.querySelectorAll('tr[data-line]')].map((tr) => ({
      line: Number(tr.dataset.line), flat: Number(tr.dataset.flat), cum: Number(tr.dataset.cum),
      text: tr.querySelector('.src').textContent,
    }));
  }

  empty(html) {
    this.host.innerHTML = `<div class="note">${html}</div>`;
  }

  set(doc, { unit }) {
    const total = doc.total || 0;
    if (!doc.listings.length) {
      this.empty('No function of that name in these profiles.');
      return;
    }
    const dark = document.documentElement.dataset.theme === 'dark';
    const parts = doc.listings.map((l) => {
      const max = Math.max(1, ...l.lines.map((x) => x.cum));
      const rows = l.lines.map((x) => {
        const h = x.cum / max;
        const bg = x.cum ? (dark ? `background: hsla(8, 70%, 45%, ${0.15 + 0.5 * h})` : `background: hsla(8, 90%, 60%, ${0.08 + 0.42 * h})`) : '';
        return `<tr data-line="${x.line}" data-flat="${x.flat}" data-cum="${x.cum}" style="${bg}">
          <td class="num">${x.flat ? escapeHtml(formatValue(x.flat, unit)) : '.'}</td>
          <td class="num">${x.cum ? escapeHtml(formatValue(x.cum, unit)) : '.'}</td>
          <td class="ln">${x.line}</td><td class="src">${l.found ? escapeHtml(x.text) : '<i>???</i>'}</td></tr>`;
      }).join('');
      const missing = l.found ? '' : `<div class="src-missing">Source not found on this machine; tried ${l.tried.map((t) => `<code>${escapeHtml(t)}</code>`).join(', ') || 'no path'}. Set <code>source.paths</code> (or <code>stoker view --source-path</code>) to where the code is.</div>`;
      return `<section class="listing"><h3><b>${escapeHtml(l.function)}</b> in <code>${escapeHtml(l.file)}</code>
          <span class="sum">self ${escapeHtml(formatValue(l.flat, unit))}, total ${escapeHtml(formatValue(l.cum, unit))} (${formatPercent(l.cum, total)} of all)</span></h3>
        ${missing}<table class="source"><thead><tr><th class="num">Self</th><th class="num">Total</th><th>Line</th><th></th></tr></thead><tbody>${rows}</tbody></table></section>`;
    });
    this.host.innerHTML = parts.join('');
  }
}
