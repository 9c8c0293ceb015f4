// Values and times for people: units of profile types, what the timeline
// shows for each type (a rate for cumulative types, an average for gauges),
// time ranges (relative "now-1h" or absolute ms) and their labels.

const SI = ['', 'k', 'M', 'G', 'T', 'P'];

export function formatNumber(v, digits = 3) {
  if (!isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1000) {
    let i = 0;
    let x = v;
    while (Math.abs(x) >= 1000 && i < SI.length - 1) {
      x /= 1000;
      i++;
    }
    return `${trim(x, digits)}${SI[i]}`;
  }
  return trim(v, digits);
}

function trim(v, digits) {
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(digits)));
}

// A value in a sample unit: nanoseconds, bytes, count, or derived units.
export function formatValue(v, unit) {
  if (v === undefined || v === null || !isFinite(v)) return '–';
  const a = Math.abs(v);
  switch (unit) {
    case 'nanoseconds':
      if (a >= 3.6e12) return `${trim(v / 3.6e12, 3)} h`;
      if (a >= 6e10) return `${trim(v / 6e10, 3)} min`;
      if (a >= 1e9) return `${trim(v / 1e9, 3)} s`;
      if (a >= 1e6) return `${trim(v / 1e6, 3)} ms`;
      if (a >= 1e3) return `${trim(v / 1e3, 3)} µs`;
      return `${trim(v, 3)} ns`;
    case 'bytes':
    case 'bytes/s': {
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let i = 0;
      let x = v;
      while (Math.abs(x) >= 1024 && i < units.length - 1) {
        x /= 1024;
        i++;
      }
      return `${trim(x, 3)} ${units[i]}${unit === 'bytes/s' ? '/s' : ''}`;
    }
    case 'cores':
      return `${trim(v, 3)} cores`;
    case 'seconds/s':
      return `${trim(v, 3)} s/s`;
    case 'per second':
      return `${formatNumber(v)}/s`;
    default:
      return formatNumber(v);
  }
}

export function formatPercent(part, of) {
  if (!of) return '0%';
  const p = (100 * part) / of;
  return `${p >= 10 ? p.toFixed(1) : p.toFixed(2)}%`;
}

// Profile type id → its parts.
export function parseType(id) {
  const [name = '', sampleType = '', sampleUnit = '', periodType = '', periodUnit = ''] = (id || '').split(':');
  return { id, name, sampleType, sampleUnit, periodType, periodUnit };
}

// Pyroscope's cumulative types are shown as rates; in-use memory and
// goroutines are gauges, shown as the average of the profiles in a step.
export function timelineMode(typeId) {
  const t = parseType(typeId);
  const gauge = t.name === 'goroutine' || t.name === 'goroutines' || t.sampleType.startsWith('inuse_');
  if (gauge) {
    return { gauge: true, unit: t.sampleUnit === 'bytes' ? 'bytes' : 'count', scale: () => 1,
             label: `${t.sampleType} (average)` };
  }
  if (t.sampleUnit === 'nanoseconds') {
    // Wall time (Node.js, fgprof) counts waiting threads too: it is not CPU.
    const cpu = t.sampleType !== 'wall' && (t.name === 'process_cpu' || t.sampleType === 'cpu');
    return { gauge: false, unit: cpu ? 'cores' : 'seconds/s', scale: (step) => 1 / (step * 1e9),
             label: cpu ? 'CPU (cores)' : `${t.sampleType} time (seconds per second)` };
  }
  if (t.sampleUnit === 'bytes') {
    return { gauge: false, unit: 'bytes/s', scale: (step) => 1 / step, label: `${t.sampleType} (bytes/s)` };
  }
  return { gauge: false, unit: 'per second', scale: (step) => 1 / step, label: `${t.sampleType} (per second)` };
}

// --- time ranges -------------------------------------------------------------

const UNITS = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 };

// "now", "now-15m", "now-1h30m" or ms since the epoch → ms since the epoch.
export function resolveTime(text, now = Date.now()) {
  if (text === undefined || text === null || text === '' || text === 'now') return now;
  if (/^\d+$/.test(text)) return Number(text);
  const m = /^now-((?:\d+[smhdw])+)$/.exec(text);
  if (!m) return NaN;
  let ms = 0;
  for (const [, n, u] of m[1].matchAll(/(\d+)([smhdw])/g)) ms += Number(n) * UNITS[u];
  return now - ms;
}

export function isRelative(text) {
  return text === 'now' || /^now-/.test(text || '');
}

export const PRESETS = [
  ['5m', 'Last 5 minutes'],
  ['15m', 'Last 15 minutes'],
  ['1h', 'Last hour'],
  ['6h', 'Last 6 hours'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
];

export function formatTime(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function describeRange(from, until) {
  if (until === 'now' && isRelative(from)) {
    const preset = PRESETS.find(([p]) => from === `now-${p}`);
    return preset ? preset[1] : `Last ${from.slice(4)}`;
  }
  return `${formatTime(resolveTime(from))} … ${formatTime(resolveTime(until))}`;
}

// Pyroscope's UI step: about 100 points over the range, at least 15 s.
export function stepFor(startMs, endMs) {
  return Math.max(15, Math.ceil((endMs - startMs) / 1000 / 100));
}
