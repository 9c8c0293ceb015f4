// The Refine bar: pprof's refine options (focus, ignore, hide, show,
// show_from, tagfocus, tagignore — regexes with pprof's meaning) and the
// granularity (functions, file and function, lines), kept in the URL as
// r_<option> and granularity, sent to every read of the flame graph, table,
// graph and source views. Options show as chips; "+ Refine" adds one.

import * as state from './state.js';
import { escapeHtml } from './flamegraph.js';

export const OPTIONS = [
  ['focus', 'Focus', 'keep only samples with a frame matching'],
  ['ignore', 'Ignore', 'drop samples with a frame matching'],
  ['hide', 'Hide', 'remove matching frames from the stacks'],
  ['show', 'Show', 'keep only matching frames in the stacks'],
  ['show_from', 'Show from', 'drop the frames above the outermost match'],
  ['tagfocus', 'Tag focus', 'keep samples whose labels match (key=regex or regex over key:value)'],
  ['tagignore', 'Tag ignore', 'drop samples whose labels match'],
];

export const GRANULARITIES = [['functions', 'Functions'], ['filefunctions', 'File:function'], ['lines', 'Lines']];

// The API parameters of the URL state's refine options.
export function refineParams(s) {
  const p = {};
  for (const [k] of OPTIONS) if (s[`r_${k}`]) p[k] = s[`r_${k}`];
  if (s.granularity && s.granularity !== 'functions') p.granularity = s.granularity;
  return p;
}

// A regex matching exactly one function name (from a frame name at any
// granularity: "fn file:line" → fn).
export function exactFunction(frameName) {
  const fn = frameName.split(' ')[0];
  return `^${fn.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

export class RefineBar {
  constructor(host) {
    this.host = host;
    host.innerHTML = `
      <span class="rf-label">Refine</span>
      <span class="rf-chips"></span>
      <span class="rf-add-wrap">
        <button class="rf-add" type="button" title="pprof's refine options: regexes over function and file names, or over labels">+ Refine</button>
        <span class="rf-form" hidden>
          <select class="rf-opt">${OPTIONS.map(([k, t, d]) => `<option value="${k}" title="${escapeHtml(d)}">${t}</option>`).join('')}</select>
          <input class="rf-value" spellcheck="false" placeholder="regex, e.g. main\\.handle">
          <button class="rf-apply" type="button">Apply</button>
          <span class="rf-help"></span>
        </span>
      </span>
      <label class="rf-gran">Granularity <select class="granularity">${GRANULARITIES.map(([k, t]) => `<option value="${k}">${t}</option>`).join('')}</select></label>`;
    const $ = (sel) => host.querySelector(sel);
    this.$ = $;
    $('.rf-add').addEventListener('click', () => {
      $('.rf-form').hidden = !$('.rf-form').hidden;
      if (!$('.rf-form').hidden) $('.rf-value').focus();
    });
    const help = () => { $('.rf-help').textContent = OPTIONS.find(([k]) => k === $('.rf-opt').value)[2]; };
    $('.rf-opt').addEventListener('change', help);
    help();
    const apply = () => {
      const v = $('.rf-value').value.trim();
      if (!v) return;
      $('.rf-form').hidden = true;
      $('.rf-value').value = '';
      state.set({ [`r_${$('.rf-opt').value}`]: v, focus: '' });
    };
    $('.rf-apply').addEventListener('click', apply);
    $('.rf-value').addEventListener('keydown', (e) => { if (e.key === 'Enter') apply(); });
    $('.granularity').addEventListener('change', () => state.set({ granularity: $('.granularity').value, focus: '', search: '' }));
    $('.rf-chips').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-rm]');
      if (b) state.set({ [b.dataset.rm]: '', focus: '' });
    });
  }

  render(s, unmatched = []) {
    const chips = OPTIONS.filter(([k]) => s[`r_${k}`]).map(([k, t]) => {
      const miss = unmatched.includes(k);
      return `<span class="chip${miss ? ' miss' : ''}" title="${miss ? 'matched nothing' : escapeHtml(OPTIONS.find(([o]) => o === k)[2])}">${t}: <code>${escapeHtml(s[`r_${k}`])}</code><button data-rm="r_${k}" title="Remove">×</button></span>`;
    });
    this.$('.rf-chips').innerHTML = chips.join('');
    this.$('.granularity').value = s.granularity || 'functions';
    this.host.classList.toggle('active', chips.length > 0 || (s.granularity && s.granularity !== 'functions'));
  }
}
