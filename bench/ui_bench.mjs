// The web page's speed in the real browser (Debian's chromium via
// playwright-core), on demand:
//   node bench/ui_bench.mjs [--db /tmp/stoker-query-bench/hour.db] [--service shop]
// The store is query_bench's hour of a synthetic Go service (240 CPU profiles
// of ~105 KB); run ./build/bench/query_bench --skip-day first. Prints the page
// weight as stoker sends it (gzip), the time from navigation to a drawn flame
// graph, and the draw and zoom times of a flame graph of at least 16,384 nodes.
import { existsSync, readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browser, freePort, start, stop, waitFor, STOKER } from '../ui/tests/support.mjs';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const db = arg('--db', '/tmp/stoker-query-bench/hour.db');
const service = arg('--service', 'shop');
// query_bench writes the end of its hour into now.txt; any other store (e.g.
// an hour of the demo app, --service demo) is measured up to now.
const nowFile = join(db, '..', 'now.txt');
const now = existsSync(nowFile) ? Number(readFileSync(nowFile, 'utf8')) / 1e6 : Date.now();
const from = Math.round(now - 3600e3 - 1000);
const until = Math.round(now);

const dir = mkdtempSync(join(tmpdir(), 'stoker-ui-bench-'));
const port = await freePort();
writeFileSync(join(dir, 'empty.yaml'), 'scrape_configs: []\n');
const stoker = start([STOKER, '--config', join(dir, 'empty.yaml'), '--storage.path', db,
                      '--web.listen-address', `127.0.0.1:${port}`], join(dir, 'stoker.log'));
const base = `http://127.0.0.1:${port}`;
await waitFor(async () => (await fetch(`${base}/-/ready`)).ok, 20000, 'stoker');

// Page weight: every asset the page loads, as sent with Accept-Encoding: gzip.
const html = await (await fetch(`${base}/`)).text();
const assets = ['/', ...[...html.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((m) => m[1])];
const modules = [...new Set((await Promise.all(assets.filter((a) => a.endsWith('app.js')).map(async () => {
  const out = [];
  const seen = new Set();
  const walk = async (path) => {
    if (seen.has(path)) return;
    seen.add(path);
    out.push(path);
    const src = await (await fetch(base + path)).text();
    for (const m of src.matchAll(/from '\.\/([^']+)'/g)) await walk(`/ui/${m[1]}`);
  };
  await walk('/ui/app.js');
  return out;
}))).flat())];
let wire = 0;
let raw = 0;
for (const a of [...new Set([...assets, ...modules])]) {
  const res = await fetch(base + a, { headers: { 'Accept-Encoding': 'gzip' } });
  const body = Buffer.from(await res.arrayBuffer());
  raw += body.length;
  // fetch() inflates: recompute what was sent from the header when gzipped.
  wire += Number(res.headers.get('content-length')) || body.length;
}
console.log(`page weight: ${(wire / 1024).toFixed(1)} KiB as sent (${(raw / 1024).toFixed(1)} KiB uncompressed), ${new Set([...assets, ...modules]).size} files`);

const chrome = await browser();
const page = await chrome.newPage({ viewport: { width: 1280, height: 720 } });
const url = (maxNodes) => `${base}/?type=process_cpu:cpu:nanoseconds:cpu:nanoseconds&query=${encodeURIComponent(`{service_name="${service}"}`)}` +
  `&from=${from}&until=${until}&maxNodes=${maxNodes}&view=flame`;
for (const maxNodes of [8192, 16384]) {
  const runs = [];
  for (let i = 0; i < 3; i++) {
    await page.goto(url(maxNodes));
    await waitFor(async () => await page.evaluate(() => !!(window.stokerTimings && window.stokerTimings.flameDrawn)), 20000, 'the flame graph');
    runs.push(await page.evaluate(() => window.stokerTimings.flameDrawn));
  }
  runs.sort((a, b) => a - b);
  const nodes = await page.evaluate(() => window.stokerDebug.flame().m.n);
  console.log(`navigation to drawn flame graph, 1 h of ${service}, max nodes ${maxNodes} (${nodes} nodes): ${runs[1].toFixed(0)} ms (median of 3)`);
}
// Draw and zoom times of the big graph, in the page.
const timing = await page.evaluate(() => {
  const fg = window.stokerDebug.flame();
  const draws = [];
  for (let i = 0; i < 20; i++) draws.push(fg.draw());
  draws.sort((a, b) => a - b);
  // Zoom into the 30 widest frames below the root and back, timing each redraw.
  const m = fg.m;
  const order = [...Array(m.n).keys()].filter((i) => m.level[i] >= 1 && m.level[i] <= 4).sort((a, b) => m.total[b] - m.total[a]).slice(0, 30);
  const zooms = [];
  for (const i of order) {
    const t0 = performance.now();
    fg.zoomTo(i);
    zooms.push(performance.now() - t0);
    fg.reset();
  }
  zooms.sort((a, b) => a - b);
  return { n: m.n, order: order.length, drawMedian: draws[10], drawMax: draws[19], zoomMedian: zooms[Math.floor(zooms.length / 2)], zoomMax: zooms[zooms.length - 1], zooms };
});
console.log(`flame graph of ${timing.n} nodes: draw ${timing.drawMedian.toFixed(1)} ms median, ${timing.drawMax.toFixed(1)} ms max (20 draws); ` +
            `zoom ${timing.zoomMedian.toFixed(1)} ms median, ${timing.zoomMax.toFixed(1)} ms max (30 zooms; a frame is 16.7 ms)`);
await chrome.close();
await stop(stoker);
