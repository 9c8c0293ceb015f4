// The page's API client: the same endpoints Grafana and Pyroscope's UI use
// (querier.v1 over Connect JSON, /pyroscope/render and render-diff), plus
// stoker's extensions (function series, sandwich, downloads) and its status
// endpoints. Errors carry the server's message.

export class ApiError extends Error {}

async function answer(res) {
  const text = await res.text();
  if (!res.ok) {
    let msg = text;
    try {
      msg = JSON.parse(text).message || text;
    } catch (_) { /* not JSON */ }
    throw new ApiError(`${msg} (HTTP ${res.status})`);
  }
  return text ? JSON.parse(text) : {};
}

export async function connect(method, body, signal) {
  const res = await fetch(`/querier.v1.QuerierService/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  return answer(res);
}

export async function get(path, params, signal) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (Array.isArray(v)) v.forEach((x) => qs.append(k, x));
    else if (v !== undefined && v !== null && v !== '') qs.set(k, v);
  }
  const res = await fetch(`${path}?${qs}`, { signal });
  return answer(res);
}

export const profileTypes = (start, end) =>
  connect('ProfileTypes', { start: String(start), end: String(end) }).then((r) => r.profileTypes || []);

export const labelNames = (matchers, start, end) =>
  connect('LabelNames', { matchers, start: String(start), end: String(end) }).then((r) => r.names || []);

export const labelValues = (name, matchers, start, end) =>
  connect('LabelValues', { name, matchers, start: String(start), end: String(end) }).then((r) => r.names || []);

export const series = (labelNames, start, end) =>
  connect('Series', { labelNames, matchers: [], start: String(start), end: String(end) }).then((r) =>
    (r.labelsSet || []).map((s) => Object.fromEntries((s.labels || []).map((l) => [l.name, l.value]))));

export function selectSeries({ type, selector, start, end, step, groupBy, average, signal }) {
  return connect('SelectSeries', {
    profileTypeID: type,
    labelSelector: selector,
    start: String(start),
    end: String(end),
    step,
    groupBy: groupBy ? [groupBy] : [],
    aggregation: average ? 'TIME_SERIES_AGGREGATION_TYPE_AVERAGE' : 'TIME_SERIES_AGGREGATION_TYPE_SUM',
    exemplarType: 'EXEMPLAR_TYPE_INDIVIDUAL',
  }, signal).then((r) => r.series || []);
}

// The query string /pyroscope/render takes: `<type id>{matchers}`.
export const renderQuery = (type, selector) => `${type}${selector || '{}'}`;

export function render(params, signal) {
  return get('/pyroscope/render', { timeline: 'false', ...params }, signal);
}

export function renderDiff(params, signal) {
  return get('/pyroscope/render-diff', params, signal);
}

export function functionSeries(params, signal) {
  return get('/api/v1/function_series', params, signal);
}

export const targets = () => get('/api/v1/targets').then((r) => r.data);
export const remoteWrite = () => get('/api/v1/remote_write').then((r) => r.data);
export const config = () => get('/api/v1/status/config').then((r) => r.data);
export const cluster = () => get('/api/v1/status/cluster').then((r) => r.data);

export function downloadUrl(path, params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') qs.set(k, v);
  return `${path}?${qs}`;
}
