// The page: navigation (Explore, Diff, Targets, Status), the light/dark
// theme, and one view at a time, chosen by the URL's path.

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
    <button class="theme" title="Light or dark"></button>
  </nav>
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
  flame: () => views.explore?.flame,
  timeline: () => views.explore?.timeline,
};
