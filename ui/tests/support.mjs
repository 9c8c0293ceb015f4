// Shared by the browser tests and the UI benchmark: start the demo Go app and
// stoker on free ports, wait for data, launch Debian's chromium through
// playwright-core, and tidy up.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { chromium } from 'playwright-core';

export const STOKER = process.env.STOKER_BINARY || new URL('../../build/stoker', import.meta.url).pathname;
export const DEMO = process.env.DEMO_APP || new URL('../../build/demo-app', import.meta.url).pathname;
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function waitFor(pred, ms, what) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      if (await pred()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

// Runs `args` with output in `log`; killed by stop().
export function start(args, log) {
  const fd = openSync(log, 'a');
  const child = spawn(args[0], args.slice(1), { stdio: ['ignore', fd, fd] });
  return child;
}

export async function stop(child) {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

// The demo app and a stoker scraping it every 2 s, until the stored CPU
// profiles span `seconds` (so a timeline at its 15 s minimum step has several
// points). Returns {base, dir, stop()}.
export async function demoStoker({ seconds = 40 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'stoker-ui-'));
  const demoPort = await freePort();
  const webPort = await freePort();
  const demo = start([DEMO, '-listen', `127.0.0.1:${demoPort}`], join(dir, 'demo.log'));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${demoPort}/debug/pprof/`)).ok, 20000, 'the demo app');
  writeFileSync(join(dir, 'stoker.yaml'), `global: {scrape_interval: 2s}
storage: {path: ${join(dir, 'stoker.db')}}
web: {listen_address: '127.0.0.1:${webPort}'}
source: {roots: ['${new URL('../..', import.meta.url).pathname}']}
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: ['127.0.0.1:${demoPort}']
        labels: {service_name: demo}
`);
  const stoker = start([STOKER, '--config', join(dir, 'stoker.yaml')], join(dir, 'stoker.log'));
  const base = `http://127.0.0.1:${webPort}`;
  await waitFor(async () => {
    const now = Date.now();
    const r = await fetch(`${base}/querier.v1.QuerierService/SelectSeries`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ profileTypeID: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds', labelSelector: '{}',
                             start: now - 600000, end: now, step: 1 }),
    });
    const body = await r.json();
    const ts = (body.series || []).flatMap((s) => s.points || []).map((p) => Number(p.timestamp));
    return ts.length > 1 && Math.max(...ts) - Math.min(...ts) >= seconds * 1000;
  }, 120000, `CPU profiles over ${seconds} s`);
  return {
    base, dir,
    async stop() {
      await stop(stoker);
      await stop(demo);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function browser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    // As the machine's notes say: no sandbox as root, and no background
    // networking (this machine has no internet).
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--disable-default-apps'],
  });
}
