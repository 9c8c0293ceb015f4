// `stoker view FILE` against `go tool pprof -http` on the same files, in the
// same headless chromium: the time from the command to a drawn flame graph.
// Then the Graph view: layout and drawing of an 80-node call graph.
//   python3 bench/bigprof.py /tmp/big1.pb.gz 1; python3 bench/bigprof.py /tmp/big30.pb.gz 30
//   node bench/view_bench.mjs /tmp/big1.pb.gz /tmp/big30.pb.gz
// RUNS (default 3), PPROF_LIMIT_S (default 600: pprof's page not drawn by then
// counts as not drawn), STOKER_ONLY=1 (skip pprof).
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browser, freePort, start, stop, waitFor, STOKER } from '../ui/tests/support.mjs';

const GO = process.env.GO || 'go';
const files = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'stoker-view-bench-'));
const chrome = await browser();
const runs = Number(process.env.RUNS || 3);
// How long to wait for pprof's page (it may take minutes on big files).
const pprofLimit = Number(process.env.PPROF_LIMIT_S || 600) * 1000;

async function timeStoker(file) {
  const port = await freePort();
  const log = join(dir, `view-${port}.log`);
  const t0 = performance.now();
  const child = start([STOKER, 'view', '--web.listen-address', `127.0.0.1:${port}`, file], log);
  let url;
  await waitFor(async () => {
    url = /Serving the page at (\S+)/.exec(readFileSync(log, 'utf8'))?.[1];
    return url && (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok;
  }, 300000, 'stoker view');
  const tServe = performance.now();
  const page = await chrome.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  await waitFor(async () => (await page.evaluate(() => window.stokerDebug.frames().length)) > 10, 300000, 'the flame graph');
  const tDrawn = performance.now();
  // The Graph view once the page is up (what a user clicks next).
  await page.click('button[data-view="graph"]');
  await waitFor(async () => (await page.evaluate(() => window.stokerDebug.graphNodes().length)) > 10, 60000, 'the call graph');
  const t = await page.evaluate(() => window.stokerTimings);
  const nodes = await page.evaluate(() => window.stokerDebug.graphNodes().length);
  await page.close();
  await stop(child);
  return { serve: tServe - t0, drawn: tDrawn - t0, graph: t.graphLayoutMs + t.graphDrawMs, nodes };
}

async function timePprof(file) {
  const port = await freePort();
  const t0 = performance.now();
  const log = join(dir, `pprof-${port}.log`);
  const child = start([GO, 'tool', 'pprof', `-http=127.0.0.1:${port}`, '-no_browser', file], log);
  // It says so once the profile is loaded (asking a page would compute it).
  await waitFor(async () => /Serving web UI/.test(readFileSync(log, 'utf8')), 300000, 'go tool pprof -http');
  const tServe = performance.now();
  const page = await chrome.newPage({ viewport: { width: 1400, height: 900 } });
  let drawn = true;
  try {
    await page.goto(`http://127.0.0.1:${port}/ui/flamegraph`, { timeout: pprofLimit });
    await waitFor(async () => (await page.evaluate(() => document.querySelectorAll('#chart svg g').length)) > 10, pprofLimit, 'pprof\'s flame graph');
  } catch (e) {
    drawn = false;  // reported as "not drawn after the limit"
  }
  const tDrawn = performance.now();
  await page.close();
  await stop(child);
  return { serve: tServe - t0, drawn: drawn ? tDrawn - t0 : Infinity };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const file of files) {
  const mb = (readFileSync(file).length / 1048576).toFixed(1);
  const s = [];
  const p = [];
  for (let i = 0; i < runs; i++) {
    s.push(await timeStoker(file));
    if (!process.env.STOKER_ONLY) p.push(await timePprof(file));
  }
  if (!p.length) p.push({ serve: NaN, drawn: NaN });
  const sd = median(s.map((x) => x.drawn));
  const pd = median(p.map((x) => x.drawn));
  console.log(`${file} (${mb} MB): stoker view ${(sd / 1000).toFixed(2)} s to a drawn flame graph (serving after ${(median(s.map((x) => x.serve)) / 1000).toFixed(2)} s); ` +
    `go tool pprof -http ${(pd / 1000).toFixed(2)} s (serving after ${(median(p.map((x) => x.serve)) / 1000).toFixed(2)} s): stoker ${(pd / sd).toFixed(1)}x faster; ` +
    `Graph view after the page is up: ${median(s.map((x) => x.nodes))} nodes laid out and drawn in ${median(s.map((x) => x.graph)).toFixed(0)} ms (median of ${runs})`);
}
await chrome.close();
