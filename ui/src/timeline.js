// Timeline: usage over time, drawn by uPlot (the one charting library of the
// page: small, fast, MIT). Lines per series (group-by values, or a function's
// self/total), gaps where a step has no profile, a legend with each series'
// total; dragging selects a time range, clicking a point opens the profile
// behind it (its exemplar).

import { formatValue, formatTime } from './format.js';

const COLOURS = ['#e8590c', '#1c7ed6', '#2f9e44', '#ae3ec9', '#f08c00', '#0ca678',
                 '#d6336c', '#5c7cfa', '#74b816', '#868e96'];

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

// Tick labels: hours and minutes (with seconds when ticks are closer than a
// minute), the date when the range spans days.
function timeLabels(splits) {
  if (!splits.length) return [];
  const pad = (n) => String(n).padStart(2, '0');
  const span = splits[splits.length - 1] - splits[0];
  const gap = splits.length > 1 ? splits[1] - splits[0] : 60;
  return splits.map((sec) => {
    const d = new Date(sec * 1000);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}${gap < 60 ? `:${pad(d.getSeconds())}` : ''}`;
    return span > 2 * 86400 || gap >= 86400 ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}` : hm;
  });
}

export class Timeline {
  constructor(host, { onSelectRange = () => {}, onPoint = () => {} } = {}) {
    this.host = host;
    this.onSelectRange = onSelectRange;
    this.onPoint = onPoint;
    this.plot = null;
    this.series = [];
    this.unit = '';
    this.resize = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.host.clientWidth, height: this.height() });
    });
    this.resize.observe(host);
  }

  height() {
    return 170;
  }

  // series: [{label, points: [[ms, value, exemplarId?]...], colour?, dash?}]
  set(series, { unit = '', range = null } = {}) {
    this.series = series;
    this.unit = unit;
    this.dataRange = range;
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
    }
    const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const data = [xs.map((x) => x / 1000)];
    this.exemplars = [];
    for (const s of series) {
      const ys = new Array(xs.length).fill(null);
      const ex = new Array(xs.length).fill(null);
      for (const [t, v, id] of s.points) {
        ys[index.get(t)] = v;
        ex[index.get(t)] = id || null;
      }
      data.push(ys);
      this.exemplars.push(ex);
    }
    const axis = css('--muted');
    const grid = css('--grid');
    const opts = {
      width: this.host.clientWidth,
      height: this.height(),
      cursor: { drag: { x: true, y: false }, focus: { prox: 24 }, points: { size: 7 } },
      select: { show: true },
      legend: { show: true, live: true },
      scales: { x: { time: true, ...(range ? { min: range[0] / 1000, max: range[1] / 1000 } : {}) },
                y: { range: (u, min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, space: 60,
          values: (u, splits) => timeLabels(splits) },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 78,
          values: (u, vals) => vals.map((v) => formatValue(v, this.unit)) },
      ],
      series: [
        { value: (u, v) => (v === null ? '' : formatTime(v * 1000)) },
        ...series.map((s, i) => ({
          label: s.total === undefined ? s.label : `${s.label} (${s.totalLabel || 'total'} ${formatValue(s.total, s.totalUnit || this.unit)})`,
          stroke: s.colour || COLOURS[i % COLOURS.length],
          width: 1.6,
          dash: s.dash,
          fill: series.length === 1 ? `${s.colour || COLOURS[0]}22` : undefined,
          spanGaps: false,
          points: { show: xs.length <= 90 },
          value: (u, v) => (v === null ? '–' : formatValue(v, this.unit)),
        })),
      ],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 4) return;
          const from = u.posToVal(u.select.left, 'x') * 1000;
          const until = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          this.onSelectRange(Math.round(from), Math.round(until));
        }],
      },
    };
    this.plot = new uPlot(opts, data, this.host);
    // On the whole chart: points at the plot's edges lie on the overlay's border.
    this.plot.root.addEventListener('click', (e) => this.click(e));
  }

  click(e) {
    const u = this.plot;
    const r = u.over.getBoundingClientRect();
    const x = Math.min(Math.max(e.clientX - r.left, 0), r.width);
    const y = e.clientY - r.top;
    if (y < -10 || y > r.height + 10 || !u.data[0].length) return;
    const idx = u.posToIdx(x);
    if (idx === null || idx === undefined || Math.abs(u.valToPos(u.data[0][idx], 'x') - x) > 12) return;
    // The series whose point is nearest to the click, vertically.
    let best = -1;
    let bestDist = Infinity;
    for (let s = 1; s < u.series.length; s++) {
      const v = u.data[s][idx];
      if (v === null || !u.series[s].show) continue;
      const d = Math.abs(u.valToPos(v, 'y') - y);
      if (d < bestDist) {
        bestDist = d;
        best = s;
      }
    }
    if (best < 0 || bestDist > 30) return;
    const id = this.exemplars[best - 1][idx];
    if (id) this.onPoint(id, u.data[0][idx] * 1000, this.series[best - 1].label);
  }

  // Points in page coordinates (for tests).
  points() {
    const u = this.plot;
    if (!u) return [];
    const r = u.over.getBoundingClientRect();
    const out = [];
    for (let s = 1; s < u.series.length; s++) {
      u.data[s].forEach((v, i) => {
        if (v !== null) out.push({ series: s - 1, x: r.left + u.valToPos(u.data[0][i], 'x'), y: r.top + u.valToPos(v, 'y'), t: u.data[0][i] * 1000 });
      });
    }
    return out;
  }

  plotRect() {
    return this.plot ? this.plot.over.getBoundingClientRect() : null;
  }

  // The range (ms) the plot's data was drawn for (for tests: tells the plot
  // of a new range from the one it replaces, which uPlot has already zoomed
  // into the dragged range).
  range() {
    return this.plot ? this.dataRange : null;
  }
}
