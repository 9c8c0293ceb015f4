// QueryBar: what to look at — the service, the profile type (grouped by
// profile: CPU → cpu / samples, memory → alloc_space / …), a label selector
// with autocomplete of label names and values, and the time range (presets
// that stay relative, or absolute times), plus refresh. Every choice goes to
// the URL through state.set().

import * as api from './api.js';
import * as state from './state.js';
import { describeRange, PRESETS, parseType, resolveTime } from './format.js';
import { escapeHtml } from './flamegraph.js';

const TYPE_TITLES = { process_cpu: 'CPU', memory: 'Memory', goroutine: 'Goroutines', goroutines: 'Goroutines',
                      block: 'Block', mutex: 'Mutex', wall: 'Wall', fgprof: 'fgprof' };

// The service_name matcher of a selector, and the selector with it replaced.
export function serviceOf(selector) {
  const m = /service_name\s*=\s*"([^"]*)"/.exec(selector || '');
  return m ? m[1] : '';
}

export function withService(selector, service) {
  let body = (selector || '{}').trim().replace(/^\{|\}$/g, '').trim();
  body = body.replace(/,?\s*service_name\s*=\s*"[^"]*"\s*/, '').replace(/^,\s*/, '');
  const parts = [service ? `service_name="${service}"` : '', body].filter(Boolean);
  return `{${parts.join(', ')}}`;
}

function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
}

export class QueryBar {
  // `diff`: the bar of the Diff view — the service and type apply to both
  // sides, and the sides carry their own time ranges.
  constructor(host, { onRefresh = () => {}, diff = false } = {}) {
    this.host = host;
    this.onRefresh = onRefresh;
    this.diff = diff;
    host.innerHTML = `
      <label class="field"><span>Service</span><select class="service" title="service_name"></select></label>
      <label class="field"><span>Profile type</span><select class="ptype"></select></label>
      <label class="field grow"><span>Label selector</span>
        <div class="ac-wrap"><input class="selector" spellcheck="false" autocomplete="off" placeholder='{service_name="app", instance=~"10.*"}'>
        <ul class="ac" hidden></ul></div></label>
      <div class="field range-field"><span>Time range</span>
        <button class="range-btn" type="button"></button>
        <div class="range-menu" hidden>
          <div class="presets">${PRESETS.map(([p, t]) => `<button type="button" data-preset="${p}">${t}</button>`).join('')}</div>
          <div class="absolute"><label>From <input type="datetime-local" step="1" class="abs-from"></label>
          <label>Until <input type="datetime-local" step="1" class="abs-until"></label>
          <button type="button" class="apply">Apply</button></div>
        </div></div>
      <button class="refresh" type="button" title="Refresh (relative ranges move to now)">↻</button>`;
    this.service = host.querySelector('.service');
    this.ptype = host.querySelector('.ptype');
    this.selector = host.querySelector('.selector');
    this.ac = host.querySelector('.ac');
    this.rangeBtn = host.querySelector('.range-btn');
    this.rangeMenu = host.querySelector('.range-menu');
    this.service.addEventListener('change', () => {
      const s = state.get();
      const patch = { query: withService(this.selector.value, this.service.value), profile: '' };
      if (diff) patch.rightQuery = withService(s.rightQuery || s.query, this.service.value);
      state.set(patch);
    });
    this.ptype.addEventListener('change', () => state.set({ type: this.ptype.value, profile: '', focus: '' }));
    this.selector.addEventListener('keydown', (e) => this.key(e));
    this.selector.addEventListener('input', () => this.suggest());
    this.selector.addEventListener('blur', () => setTimeout(() => { this.ac.hidden = true; }, 150));
    this.selector.addEventListener('change', () => state.set({ query: this.selector.value.trim() || '{}', profile: '' }));
    this.rangeBtn.addEventListener('click', () => {
      this.rangeMenu.hidden = !this.rangeMenu.hidden;
      const s = state.get();
      host.querySelector('.abs-from').value = localInput(resolveTime(s.from));
      host.querySelector('.abs-until').value = localInput(resolveTime(s.until));
    });
    host.querySelectorAll('[data-preset]').forEach((b) => b.addEventListener('click', () => {
      this.rangeMenu.hidden = true;
      state.set({ from: `now-${b.dataset.preset}`, until: 'now', profile: '' });
    }));
    host.querySelector('.apply').addEventListener('click', () => {
      const from = new Date(host.querySelector('.abs-from').value).getTime();
      const until = new Date(host.querySelector('.abs-until').value).getTime();
      if (!(from < until)) return;
      this.rangeMenu.hidden = true;
      state.set({ from: String(from), until: String(until), profile: '' });
    });
    host.querySelector('.refresh').addEventListener('click', () => this.onRefresh());
    if (diff) {
      host.querySelector('.range-field').hidden = true;
      this.selector.closest('.field').querySelector('span').textContent = 'Baseline selector';
    }
    document.addEventListener('click', (e) => {
      if (!host.querySelector('.range-field').contains(e.target)) this.rangeMenu.hidden = true;
    });
  }

  // Fills the pickers from what is stored in the range; returns the services
  // and the types per service.
  async load(s) {
    const start = resolveTime(s.from);
    const end = resolveTime(s.until);
    const sets = await api.series(['service_name', '__profile_type__'], start, end);
    const byService = new Map();
    for (const l of sets) {
      const svc = l.service_name || 'unknown_service';
      if (!byService.has(svc)) byService.set(svc, new Set());
      if (l.__profile_type__) byService.get(svc).add(l.__profile_type__);
    }
    this.byService = byService;
    this.range = [start, end];
    return byService;
  }

  render(s) {
    const services = [...(this.byService || new Map()).keys()].sort();
    const current = serviceOf(s.query);
    this.service.innerHTML = (services.length ? '' : '<option value="">(none)</option>') +
      services.map((v) => `<option ${v === current ? 'selected' : ''}>${escapeHtml(v)}</option>`).join('') +
      (current && !services.includes(current) ? `<option selected>${escapeHtml(current)}</option>` : '');
    const types = [...((this.byService && this.byService.get(current)) || [])].sort();
    const groups = new Map();
    for (const id of types) {
      const t = parseType(id);
      if (!groups.has(t.name)) groups.set(t.name, []);
      groups.get(t.name).push(t);
    }
    let html = '';
    for (const [name, list] of groups) {
      html += `<optgroup label="${escapeHtml(TYPE_TITLES[name] || name)}">` +
        list.map((t) => `<option value="${escapeHtml(t.id)}" ${t.id === s.type ? 'selected' : ''}>${escapeHtml(TYPE_TITLES[name] || name)} · ${escapeHtml(t.sampleType)}</option>`).join('') +
        '</optgroup>';
    }
    if (s.type && !types.includes(s.type)) html += `<option value="${escapeHtml(s.type)}" selected>${escapeHtml(s.type)}</option>`;
    this.ptype.innerHTML = html || '<option value="">(none)</option>';
    if (document.activeElement !== this.selector) this.selector.value = s.query || '{}';
    this.rangeBtn.textContent = describeRange(s.from, s.until);
  }

  // Label names after `{` or `,`; values after `name="`.
  async suggest() {
    const text = this.selector.value;
    const pos = this.selector.selectionStart;
    const before = text.slice(0, pos);
    const s = state.get();
    const [start, end] = this.range || [Date.now() - 3600e3, Date.now()];
    const matchers = s.type ? [`{__profile_type__="${s.type}"}`] : [];
    let items = [];
    let replace = null;
    const value = /([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!=|!~|=)\s*"([^"]*)$/.exec(before);
    const name = /[{,]\s*([A-Za-z_][A-Za-z0-9_]*)?$/.exec(before);
    try {
      if (value) {
        const vals = await api.labelValues(value[1], matchers, start, end);
        items = vals.filter((v) => v.startsWith(value[3])).map((v) => ({ label: v, insert: `${v}"` }));
        replace = value[3].length;
      } else if (name) {
        const names = await api.labelNames(matchers, start, end);
        const typed = name[1] || '';
        items = names.filter((n) => !n.startsWith('__') && n.startsWith(typed)).map((n) => ({ label: n, insert: `${n}="` }));
        replace = typed.length;
      }
    } catch (_) {
      items = [];
    }
    this.items = items;
    this.replaceLen = replace;
    this.active = 0;
    this.renderSuggestions();
  }

  renderSuggestions() {
    if (!this.items || !this.items.length) {
      this.ac.hidden = true;
      return;
    }
    this.ac.innerHTML = this.items.slice(0, 30).map((it, i) =>
      `<li class="${i === this.active ? 'active' : ''}" data-i="${i}">${escapeHtml(it.label)}</li>`).join('');
    this.ac.hidden = false;
    this.ac.querySelectorAll('li').forEach((li) => li.addEventListener('mousedown', (e) => {
      e.preventDefault();
      this.accept(Number(li.dataset.i));
    }));
  }

  accept(i) {
    const it = this.items[i];
    if (!it) return;
    const pos = this.selector.selectionStart;
    const text = this.selector.value;
    const start = pos - this.replaceLen;
    this.selector.value = text.slice(0, start) + it.insert + text.slice(pos);
    const caret = start + it.insert.length;
    this.selector.setSelectionRange(caret, caret);
    this.ac.hidden = true;
    this.items = [];
    this.suggest();
  }

  key(e) {
    if (!this.ac.hidden && this.items && this.items.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        this.active = (this.active + (e.key === 'ArrowDown' ? 1 : this.items.length - 1)) % this.items.length;
        this.renderSuggestions();
        return;
      }
      if (e.key === 'Tab' || (e.key === 'Enter' && this.items.length)) {
        e.preventDefault();
        this.accept(this.active);
        return;
      }
      if (e.key === 'Escape') {
        this.ac.hidden = true;
        return;
      }
    }
    if (e.key === 'Enter') {
      e.preventDefault();
      state.set({ query: this.selector.value.trim() || '{}', profile: '' });
    }
  }
}
