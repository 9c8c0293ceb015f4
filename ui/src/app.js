// The page: navigation (Explore, Diff, Targets, Status), "Open a profile"
// (file picker or drag-and-drop anywhere: the file is stored with
// source="upload" and its name, then shown), the light/dark theme, and one
// view at a time, chosen by the URL's path.

import * as state from './state.js';
import { ExploreView } from './explore.js';
import { DiffView, diffParams } from './diff.js';
import { StatusView, TargetsView } from './status.js';

const app = document.getElementById('app');
app.innerHTML = `
  <nav class="top">
    <a class="brand" href="/">stoker</a>
    <a data-page="explore" href="/">Explore</a>
    <a data-page="diff" href="/diff">Diff</a>
    <a data-page="targets" href="/targets">Targets</a>
    <a data-page="status" href="/status">Status</a>
    <span class="spacer"></span>
    <span class="upload-msg" hidden></span>
    <button class="open-file" title="Open a pprof (.pb.gz), JFR or folded-stacks file: it is stored here with source=&quot;upload&quot; and shown. You can also drop a file on the page.">Open a profile</button>
    <input class="file-input" type="file" hidden>
    <button class="theme" title="Light or dark"></button>
  </nav>
  <div class="drop-zone" hidden><div>Drop a profile to open it<br><small>pprof, JFR or folded stacks</small></div></div>
  <main></main>`;
const main = app.querySelector('main');
const views = {};
const kinds = { explore: ExploreView, diff: DiffView, targets: TargetsView, status: StatusView };

function theme(t) {
  const dark = t === 'dark' || (t !== 'light' && matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  app.querySelector('.theme').textContent = dark ? '☀ Light' : '☾ Dark';
}
theme(localStorage.getItem('stoker-theme'));
app.querySelector('.theme').addEventListener('click', () => {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  localStorage.setItem('stoker-theme', next);
  theme(next);
  route(state.get());  // canvases and the chart pick up the new colours
});

// In-page navigation keeps the history (and the current selection for Diff).
app.querySelector('nav').addEventListener('click', (e) => {
  const a = e.target.closest('a[data-page]');
  if (!a || e.ctrlKey || e.metaKey || e.button !== 0) return;
  e.preventDefault();
  const s = state.get();
  const page = a.dataset.page;
  if (page === s.page) return;
  const keep = { type: s.type, query: s.page === 'diff' ? s.rightQuery || s.query : s.query };
  if (page === 'diff') {
    history.pushState(null, '', state.href('diff', s.type ? diffParams(s) : {}));
  } else if (page === 'explore') {
    const range = s.page === 'diff' ? { from: s.rightFrom, until: s.rightUntil } : { from: s.from, until: s.until };
    history.pushState(null, '', state.href('explore', { ...keep, ...range }));
  } else {
    history.pushState(null, '', state.href(page, {}));
  }
  route(state.get());
});

function route(s) {
  const page = kinds[s.page] ? s.page : 'explore';
  app.querySelectorAll('nav a[data-page]').forEach((a) => a.classList.toggle('on', a.dataset.page === page));
  for (const [name, v] of Object.entries(views)) v.host.hidden = name !== page;
  if (!views[page]) {
    const host = document.createElement('div');
    host.className = `view view-${page}`;
    main.append(host);
    views[page] = new kinds[page](host);
  }
  views[page].host.hidden = false;
  document.title = `stoker · ${page[0].toUpperCase()}${page.slice(1)}`;
  views[page].onState(s);
}

// Open a profile: POST /api/v1/upload, then show what was stored.
const msg = app.querySelector('.upload-msg');
function say(text, kind) {
  msg.hidden = !text;
  msg.className = `upload-msg ${kind || ''}`;
  msg.textContent = text || '';
}
async function openFile(file) {
  if (!file) return;
  say(`Opening ${file.name}…`, 'busy');
  try {
    const res = await fetch(`/api/v1/upload?name=${encodeURIComponent(file.name)}`, { method: 'POST', body: file });
    const text = await res.text();
    if (!res.ok) throw new Error(text.trim() || `HTTP ${res.status}`);
    const doc = JSON.parse(text);
    say(`Opened ${doc.file} (${doc.format})`, 'ok');
    setTimeout(() => say(''), 6000);
    history.pushState(null, '', state.href('explore', {
      type: doc.types[0], query: doc.query, from: String(doc.time - 5 * 60e3), until: String(doc.time + 5 * 60e3),
    }));
    route(state.get());
  } catch (e) {
    say(`Could not open ${file.name}: ${e.message}`, 'error');
  }
}
const input = app.querySelector('.file-input');
app.querySelector('.open-file').addEventListener('click', () => input.click());
input.addEventListener('change', () => {
  openFile(input.files[0]);
  input.value = '';
});
const drop = app.querySelector('.drop-zone');
let dragDepth = 0;
const isFile = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
document.addEventListener('dragenter', (e) => {
  if (!isFile(e)) return;
  dragDepth++;
  drop.hidden = false;
});
document.addEventListener('dragleave', () => {
  if (--dragDepth <= 0) {
    dragDepth = 0;
    drop.hidden = true;
  }
});
document.addEventListener('dragover', (e) => { if (isFile(e)) e.preventDefault(); });
document.addEventListener('drop', (e) => {
  if (!isFile(e)) return;
  e.preventDefault();
  dragDepth = 0;
  drop.hidden = true;
  openFile(e.dataTransfer.files[0]);
});

state.subscribe(route);
route(state.get());

// For tests and benchmarks: the drawn frames and timeline points.
window.stokerDebug = {
  frames: () => views.explore?.flame.frames() || [],
  diffFrames: () => views.diff?.flame.frames() || [],
  callers: () => views.explore?.callers.frames() || [],
  callees: () => views.explore?.callees.frames() || [],
  points: () => views.explore?.timeline.points() || [],
  plotRect: () => views.explore?.timeline.plotRect(),
  timelineRange: () => views.explore?.timeline.range() || null,
  flame: () => views.explore?.flame,
  graphNodes: () => views.explore?.graph.nodes() || [],
  graphEdges: () => views.explore?.graph.edges() || [],
  sourceLines: () => views.explore?.source.lines() || [],
  timeline: () => views.explore?.timeline,
};
