// The flame graph as data: Pyroscope's flamebearer levels (4 ints per node,
// or 7 for a diff) decoded into flat typed arrays with absolute x, depth and
// parent, plus what the page derives from it: the function table, search
// matches and their share, folded stacks.

// fb: {names, levels, numTicks, maxSelf}; diff: 7-int levels with
// leftTicks/rightTicks. Nodes are ordered by level, then x.
export function fromFlamebearer(fb, { diff = false, leftTicks = 0, rightTicks = 0 } = {}) {
  const width = diff ? 7 : 4;
  let n = 0;
  for (const row of fb.levels) n += row.length / width;
  const m = {
    names: fb.names,
    n,
    diff,
    depth: fb.levels.length,
    level: new Int32Array(n),
    x: new Float64Array(n),
    total: new Float64Array(n),
    self: new Float64Array(n),
    name: new Int32Array(n),
    parent: new Int32Array(n),
    levelStart: new Int32Array(fb.levels.length + 1),
    totalAll: 0,
  };
  if (diff) {
    m.totalL = new Float64Array(n);
    m.totalR = new Float64Array(n);
    m.selfL = new Float64Array(n);
    m.selfR = new Float64Array(n);
    m.leftTicks = leftTicks;
    m.rightTicks = rightTicks;
  }
  let i = 0;
  fb.levels.forEach((row, l) => {
    m.levelStart[l] = i;
    let prevL = 0;
    let prevR = 0;
    for (let j = 0; j < row.length; j += width) {
      m.level[i] = l;
      if (diff) {
        const xl = prevL + row[j];
        const xr = prevR + row[j + 3];
        prevL = xl + row[j + 1];
        prevR = xr + row[j + 4];
        m.totalL[i] = row[j + 1];
        m.selfL[i] = row[j + 2];
        m.totalR[i] = row[j + 4];
        m.selfR[i] = row[j + 5];
        m.x[i] = xl + xr;
        m.total[i] = row[j + 1] + row[j + 4];
        m.self[i] = row[j + 2] + row[j + 5];
        m.name[i] = row[j + 6];
      } else {
        const x = prevL + row[j];
        prevL = x + row[j + 1];
        m.x[i] = x;
        m.total[i] = row[j + 1];
        m.self[i] = row[j + 2];
        m.name[i] = row[j + 3];
      }
      i++;
    }
  });
  m.levelStart[fb.levels.length] = n;
  m.totalAll = n ? m.total[0] : 0;
  // Parents: both levels are sorted by x, so one pass per level pairs them.
  m.parent.fill(-1);
  for (let l = 1; l < m.depth; l++) {
    let p = m.levelStart[l - 1];
    const pEnd = m.levelStart[l];
    for (let c = m.levelStart[l]; c < m.levelStart[l + 1]; c++) {
      while (p < pEnd - 1 && m.x[p] + m.total[p] <= m.x[c]) p++;
      m.parent[c] = p;
    }
  }
  return m;
}

export function nodeName(m, i) {
  return m.names[m.name[i]];
}

// The root-first path of node i, without the "total" root.
export function path(m, i) {
  const out = [];
  for (let k = i; k > 0; k = m.parent[k]) out.push(nodeName(m, k));
  return out.reverse();
}

// The node at `names` (root first, without "total"), or -1.
export function findPath(m, names) {
  let node = 0;
  for (let d = 0; d < names.length; d++) {
    const l = d + 1;
    let found = -1;
    for (let c = m.levelStart[l]; c < m.levelStart[l + 1] && found < 0; c++) {
      if (m.parent[c] === node && nodeName(m, c) === names[d]) found = c;
    }
    if (found < 0) return -1;
    node = found;
  }
  return node;
}

// Per function: self, and total counting each stack once even when the
// function recurses (a node adds its total only without a same-name ancestor).
// In a bottom-up tree the leaf functions are the roots: a function's self is
// the total of its root nodes.
export function functionTable(m, { bottomUp = false } = {}) {
  const rows = new Map();
  const get = (name) => {
    let r = rows.get(name);
    if (!r) {
      r = { name, self: 0, total: 0, selfL: 0, selfR: 0, totalL: 0, totalR: 0 };
      rows.set(name, r);
    }
    return r;
  };
  for (let i = 1; i < m.n; i++) {
    const name = nodeName(m, i);
    const r = get(name);
    if (!bottomUp) r.self += m.self[i];
    else if (m.level[i] === 1) r.self += m.total[i];
    if (m.diff) {
      r.selfL += m.selfL[i];
      r.selfR += m.selfR[i];
    }
    let nested = false;
    for (let k = m.parent[i]; k > 0 && !nested; k = m.parent[k]) nested = m.name[k] === m.name[i];
    if (!nested) {
      r.total += m.total[i];
      if (m.diff) {
        r.totalL += m.totalL[i];
        r.totalR += m.totalR[i];
      }
    }
  }
  return [...rows.values()];
}

// A search box's text as a matcher: /regex/flags, else a case-insensitive
// substring. null for an empty or invalid search (with `error` set).
export function matcher(text) {
  if (!text) return { test: null };
  const re = /^\/(.+)\/([imsu]*)$/.exec(text);
  if (re) {
    try {
      const r = new RegExp(re[1], re[2]);
      return { test: (s) => r.test(s) };
    } catch (e) {
      return { test: null, error: e.message };
    }
  }
  const lower = text.toLowerCase();
  return { test: (s) => s.toLowerCase().includes(lower) };
}

// Which nodes match, and the share of the total under matching frames
// (nested matches counted once).
export function searchMatches(m, test) {
  const hit = new Uint8Array(m.n);
  let share = 0;
  if (!test) return { hit, share: 0, count: 0 };
  let count = 0;
  for (let i = 1; i < m.n; i++) {
    if (!test(nodeName(m, i))) continue;
    hit[i] = 1;
    count++;
    let covered = false;
    for (let k = m.parent[i]; k > 0 && !covered; k = m.parent[k]) covered = hit[k] === 1;
    if (!covered) share += m.total[i];
  }
  return { hit, share, count };
}

// Brendan Gregg's collapsed stacks of what the flame graph shows.
export function folded(m) {
  const lines = [];
  for (let i = 1; i < m.n; i++) {
    if (m.self[i] > 0) lines.push(`${path(m, i).join(';')} ${m.self[i]}`);
  }
  return lines.join('\n') + '\n';
}

// Value folded into `other` nodes by the server's node budget.
export function otherShare(m) {
  let other = 0;
  for (let i = 1; i < m.n; i++) if (nodeName(m, i) === 'other') other += m.total[i];
  return other;
}

// Go-style package of a function: "net/http.(*conn).serve" → "net/http".
export function packageOf(name) {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash < 0 ? 0 : slash);
  return dot < 0 ? name : name.slice(0, dot);
}
