// End to end in a real browser: Debian's chromium driven by playwright-core,
// against the stoker binary scraping the demo Go app. Screenshots of every
// view go to $SCREENSHOT_DIR (default build/ui-screenshots).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { browser, demoStoker, waitFor } from './support.mjs';

const SHOTS = process.env.SCREENSHOT_DIR || new URL('../../build/ui-screenshots', import.meta.url).pathname;
const GO = process.env.GO || 'go';
mkdirSync(SHOTS, { recursive: true });

let env;
let chrome;

before(async () => {
  env = await demoStoker({ seconds: 40 });
  chrome = await browser();
});

after(async () => {
  await chrome?.close();
  await env?.stop();
});

// A page on `path` that fails the test on console errors.
async function open(path, { width = 1280, height = 720, dark = false } = {}) {
  const page = await chrome.newPage({ viewport: { width, height }, colorScheme: dark ? 'dark' : 'light' });
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(env.base + path);
  return page;
}

const frames = (page) => page.evaluate(() => window.stokerDebug.frames());
const frame = async (page, name) => (await frames(page)).find((f) => f.name === name);
const param = (page, k) => new URL(page.url()).searchParams.get(k);

async function flameReady(page, name = 'main.burnCPU') {
  await waitFor(async () => !!(await frame(page, name)), 20000, `a frame named ${name}`);
}

// The timeline's points once it shows data inside [from, until] (ms).
async function timelineReady(page, from = 0, until = Infinity) {
  let points = [];
  await waitFor(async () => {
    points = await page.evaluate(() => window.stokerDebug.points());
    return points.length >= 2 && points.every((p) => p.t >= from - 1000 && p.t <= until + 1000);
  }, 20000, 'the timeline');
  return points;
}

// The names on the flame graph's first level below the root.
async function firstLevel(page) {
  const fs = await frames(page);
  const root = fs.find((f) => f.name === 'total');
  const orient = root && fs.some((f) => f.y > root.y) ? 18 : -18;
  return root ? fs.filter((f) => f.y === root.y + orient).sort((a, b) => b.w - a.w).map((f) => f.name) : [];
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

test('the page loads without console errors and shows the demo app\'s CPU timeline and flame graph', async () => {
  const page = await open('/?from=now-10m');
  await flameReady(page);
  // The page chose the demo service and CPU time, and says so in the URL.
  assert.equal(param(page, 'type'), 'process_cpu:cpu:nanoseconds:cpu:nanoseconds');
  assert.match(param(page, 'query'), /service_name="demo"/);
  const fs = await frames(page);
  const topFrames = await firstLevel(page);
  assert.ok(topFrames.includes('main.worker'), `the first level holds main.worker: ${topFrames}`);
  assert.ok(fs.some((f) => f.name === 'crypto/sha256.block'));
  const points = await timelineReady(page);
  assert.ok(points.length >= 3, 'the timeline has points');
  assert.match(await page.textContent('.tl-title'), /CPU \(cores\)/);
  assert.match(await page.textContent('.timeline .u-legend'), /total/);
  await shot(page, 'explore');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('clicking a frame zooms into it; Esc resets', async () => {
  const page = await open('/?from=now-10m');
  await flameReady(page);
  const f = await frame(page, 'main.burnCPU');
  await page.mouse.click(f.x + f.w / 2, f.y + 8);
  await waitFor(async () => param(page, 'focus') === 'main.worker;main.burnCPU', 5000, 'the focus in the URL');
  const zoomed = await frame(page, 'main.burnCPU');
  const canvasWidth = await page.evaluate(() => document.querySelector('.flame-canvas').clientWidth);
  assert.ok(zoomed.w > canvasWidth - 2, 'the zoomed frame spans the width');
  await shot(page, 'zoom');
  await page.keyboard.press('Escape');
  await waitFor(async () => param(page, 'focus') === null, 5000, 'the zoom reset');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('search highlights frames, shows their share and filters the table; the table sorts', async () => {
  const page = await open('/?from=now-10m');
  await flameReady(page);
  await page.keyboard.press('/');
  await page.keyboard.type('sha256');
  await waitFor(async () => /of the total/.test(await page.textContent('.matched')), 5000, 'the matched share');
  const share = Number(/([\d.]+)% of the total/.exec(await page.textContent('.matched'))[1]);
  assert.ok(share > 10 && share <= 100, `sha256 is a large share of CPU: ${share}`);
  const names = await page.$$eval('table.functions tbody td.fn', (tds) => tds.map((td) => td.textContent));
  assert.ok(names.length > 0 && names.every((n) => n.includes('sha256')), `the table shows only matches: ${names}`);
  assert.equal(param(page, 'search'), 'sha256');
  await shot(page, 'search');
  // Sort by total, then by name.
  await page.fill('.search', '');
  await page.click('th[data-key="total"]');
  const totals = await page.$$eval('table.functions tbody tr td:nth-child(3) .pct',
    (els) => els.map((e) => parseFloat(e.textContent)));
  assert.ok(totals.length > 5);
  for (let i = 1; i < totals.length; i++) assert.ok(totals[i - 1] >= totals[i], 'sorted by total, descending');
  await page.click('th[data-key="name"]');
  const sorted = await page.$$eval('table.functions tbody td.fn', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(sorted, [...sorted].sort((a, b) => a.localeCompare(b)));
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the orientation flips; bottom-up puts the hottest leaf first; the sandwich shows callers and callees', async () => {
  const page = await open('/?from=now-10m');
  await flameReady(page);
  const rootTop = await frame(page, 'total');
  await page.click('.orient');
  await waitFor(async () => param(page, 'orient') === 'bottom', 5000, 'orient=bottom');
  const rootBottom = await frame(page, 'total');
  const worker = await frame(page, 'main.worker');
  assert.ok(rootBottom.y > rootTop.y && worker.y < rootBottom.y, 'the root is drawn at the bottom');
  await shot(page, 'root-at-bottom');
  await page.click('.orient');
  await page.click('.bottomup');
  await waitFor(async () => param(page, 'bottomUp') === '1', 5000, 'bottomUp=1');
  await waitFor(async () => (await firstLevel(page))[0] === 'crypto/sha256.block', 10000, 'the bottom-up graph');
  const roots = await firstLevel(page);
  assert.equal(roots[0], 'crypto/sha256.block', `the widest root of the bottom-up graph is the hottest leaf: ${roots}`);
  // The table is the same as top-down: self comes from the roots.
  const workerRow = await page.$$eval('tr[data-name="main.worker"] td', (tds) => tds.map((td) => td.textContent));
  const blockRow = await page.$$eval('tr[data-name="crypto/sha256.block"] td', (tds) => tds.map((td) => td.textContent));
  assert.ok(parseFloat(blockRow[1].split(" ").pop()) > parseFloat(workerRow[1].split(" ").pop()), `self of block ${blockRow} > self of worker ${workerRow}`);
  await shot(page, 'bottom-up');
  await page.click('.bottomup');
  // Sandwich from the context menu of a frame.
  await waitFor(async () => (await firstLevel(page)).includes('main.worker'), 10000, 'the top-down graph');
  const sum = await frame(page, 'crypto/sha256.Sum256');
  await page.mouse.click(sum.x + sum.w / 2, sum.y + 8, { button: 'right' });
  await page.click('.ctx-menu button[data-act="sandwich"]');
  await waitFor(async () => (await page.evaluate(() => window.stokerDebug.callers())).length > 1, 10000, 'the sandwich');
  const callers = (await page.evaluate(() => window.stokerDebug.callers())).map((f) => f.name);
  const callees = (await page.evaluate(() => window.stokerDebug.callees())).map((f) => f.name);
  assert.ok(callers.includes('main.burnCPU'), `callers: ${callers}`);
  assert.ok(callees.includes('crypto/sha256.(*digest).Write'), `callees: ${callees}`);
  assert.equal(param(page, 'sandwich'), 'crypto/sha256.Sum256');
  await shot(page, 'sandwich');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('dragging on the timeline selects a range and puts it in the URL; a point opens one profile', async () => {
  const page = await open('/?from=now-10m');
  await flameReady(page);
  const points = await timelineReady(page);
  const first = points[0];
  const last = points[points.length - 1];
  await page.mouse.move(first.x - 5, first.y);
  await page.mouse.down();
  await page.mouse.move((first.x + last.x) / 2, first.y, { steps: 8 });
  await page.mouse.move(last.x + 5, first.y, { steps: 8 });
  await page.mouse.up();
  await waitFor(async () => /^\d+$/.test(param(page, 'from') || ''), 5000, 'an absolute range in the URL');
  const from = Number(param(page, 'from'));
  const until = Number(param(page, 'until'));
  assert.ok(until > from && until - from < 10 * 60 * 1000, 'the range is the dragged part');
  // Click the last point of the new range's timeline: that one profile.
  const again = await timelineReady(page, from, until);
  const p = again[again.length - 1];
  await page.mouse.click(p.x, p.y);
  await waitFor(async () => /^\d+$/.test(param(page, 'profile') || ''), 5000, 'profile=<id>');
  await waitFor(async () => /Showing one profile/.test(await page.textContent('.view-explore .banner')), 5000, 'the note');
  await flameReady(page, 'main.worker');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a function over time; reloading the URL restores the view; back goes to the previous one', async () => {
  const page = await open('/?from=now-10m');
  await flameReady(page);
  await page.fill('.search', 'burnCPU');
  await page.click('tr[data-name="main.burnCPU"] button[data-act="time"]');
  await waitFor(async () => param(page, 'fn') === 'main.burnCPU', 5000, 'fn in the URL');
  await waitFor(async () => (await page.textContent('.timeline .u-legend')).includes('main.burnCPU · self'), 5000, 'the function lines');
  await page.click('[data-view="table"]');
  await page.click('.orient');
  await shot(page, 'function-over-time');
  const url = page.url();
  await page.reload();
  await waitFor(async () => (await page.$$('table.functions tbody tr')).length > 0, 10000, 'the table after reload');
  assert.equal(await page.inputValue('.search'), 'burnCPU');
  assert.ok(await page.isHidden('.flame-wrap'), 'the table view alone');
  assert.ok((await page.textContent('.timeline .u-legend')).includes('main.burnCPU · total'));
  assert.equal(page.url(), url);
  await page.goBack();
  await waitFor(async () => param(page, 'orient') === null, 5000, 'back to the previous orientation');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('a diff of two ranges renders with both totals', async () => {
  const now = Date.now();
  const page = await open('/?from=now-10m');
  await flameReady(page);
  const points = await timelineReady(page);
  const mid = Math.round((points[0].t + points[points.length - 1].t) / 2);
  await page.goto(`${env.base}/diff?type=process_cpu:cpu:nanoseconds:cpu:nanoseconds&query=${encodeURIComponent('{service_name="demo"}')}` +
                  `&from=${points[0].t - 20000}&until=${mid}&rightFrom=${mid}&rightUntil=${now + 60000}`);
  await waitFor(async () => (await page.evaluate(() => window.stokerDebug.diffFrames())).length > 3, 15000, 'the diff flame graph');
  const left = await page.textContent('.l-total');
  const right = await page.textContent('.r-total');
  assert.match(left, /total [\d.]+ (s|ms)/);
  assert.match(right, /total [\d.]+ (s|ms)/);
  assert.ok(await page.$('table.functions th[data-key="change"]'), 'the table lists changes');
  await shot(page, 'diff');
  await page.click('.cb');
  await waitFor(async () => param(page, 'palette') === 'cb', 5000, 'the colour-blind palette');
  await shot(page, 'diff-colour-blind');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('the pprof download opens in go tool pprof; folded and SVG downloads work', async () => {
  const page = await open('/?from=now-10m');
  await flameReady(page);
  const pprof = await page.getAttribute('.exp-pprof', 'href');
  const res = await fetch(env.base + pprof);
  assert.equal(res.status, 200);
  const file = join(env.dir, 'view.pb.gz');
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  const top = execFileSync(GO, ['tool', 'pprof', '-top', file], { encoding: 'utf8' });
  assert.match(top, /main\.burnCPU/);
  const folded = await (await fetch(env.base + await page.getAttribute('.exp-folded', 'href'))).text();
  assert.match(folded, /main\.worker;main\.burnCPU/);
  const svg = await fetch(env.base + await page.getAttribute('.exp-svg', 'href'));
  assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
  await page.close();
});

test('labels inside profiles: group by endpoint draws a line each; a span id narrows the flame graph to that span', async () => {
  const page = await open('/?from=now-10m&groupBy=endpoint');
  await flameReady(page);
  // The demo app labels its requests by endpoint: the group-by menu offers
  // the label and the timeline draws one line per endpoint.
  const options = await page.$$eval('.groupby-select option', (os) => os.map((o) => o.textContent));
  assert.ok(options.includes('endpoint') && options.includes('span_name'), `group-by offers: ${options}`);
  await waitFor(async () => /endpoint=\/checkout/.test(await page.textContent('.timeline .u-legend')), 10000, 'a line per endpoint');
  const legend = await page.textContent('.timeline .u-legend');
  for (const e of ['/search', '/cart']) assert.ok(legend.includes(`endpoint=${e}`), `legend: ${legend}`);
  await shot(page, 'group-by-endpoint');
  // The span that cost most, as go tool pprof lists the span_id tags of the download.
  const res = await fetch(env.base + await page.getAttribute('.exp-pprof', 'href'));
  const file = join(env.dir, 'spans.pb.gz');
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  const tags = execFileSync(GO, ['tool', 'pprof', '-tags', file], { encoding: 'utf8' });
  const span = /span_id:[^]*?\b([0-9a-f]{16})\b/.exec(tags)?.[1];
  assert.ok(span, `go tool pprof lists span ids: ${tags.slice(0, 400)}`);
  await page.fill('.spans', span);
  await page.press('.spans', 'Enter');
  await waitFor(async () => param(page, 'spans') === span, 5000, 'spans in the URL');
  await waitFor(async () => /Span profile/.test(await page.textContent('.view-explore .banner')), 10000, 'the span note');
  await waitFor(async () => (await frames(page)).some((f) => f.name.startsWith('main.handle')), 10000, 'the handler of that span');
  assert.ok(!(await frame(page, 'main.burnCPU')), 'the unlabelled worker is not in the span profile');
  // The pprof download holds that span only.
  const sub = join(env.dir, 'span.pb.gz');
  writeFileSync(sub, Buffer.from(await (await fetch(env.base + await page.getAttribute('.exp-pprof', 'href'))).arrayBuffer()));
  const subTags = execFileSync(GO, ['tool', 'pprof', '-tags', sub], { encoding: 'utf8' });
  assert.deepEqual([...new Set(subTags.match(/\b[0-9a-f]{16}\b/g))], [span]);
  await shot(page, 'span-profile');
  await page.click('.all-spans');
  await waitFor(async () => param(page, 'spans') === null, 5000, 'all samples again');
  await flameReady(page);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('targets, status, the dark theme and an empty range', async () => {
  let page = await open('/targets');
  await waitFor(async () => (await page.$$('table.grid td.health.up')).length >= 5, 10000, 'five healthy endpoints');
  await shot(page, 'targets');
  await page.click('nav a[data-page="status"]');
  await waitFor(async () => /scrape_configs/.test(await page.textContent('pre.cfg')), 10000, 'the config');
  assert.match(await page.textContent('.rw'), /No remote_write endpoints/);
  await shot(page, 'status');
  assert.deepEqual(page.errors, []);
  await page.close();
  page = await open('/?from=now-10m', { dark: true });
  await flameReady(page);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  await shot(page, 'explore-dark');
  await page.close();
  page = await open('/?from=1000&until=4000');
  await waitFor(async () => /No profiles in/.test(await page.textContent('.view-explore .banner')), 10000, 'the empty state');
  assert.match(await page.textContent('.view-explore .banner'), /first profiles arrive within one scrape interval/);
  await shot(page, 'empty');
  await page.close();
});
