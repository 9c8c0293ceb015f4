// A small Node.js service profiled by Pyroscope's real SDK (@pyroscope/nodejs),
// pushing to the stoker under test: STOKER_URL is the SDK's serverAddress.
// It burns CPU in two named functions and allocates, so that its wall and
// heap profiles have recognisable stacks. It stops by itself after
// RUN_SECONDS (default 60).
'use strict';
const Pyroscope = require('@pyroscope/nodejs');

Pyroscope.init({
  serverAddress: process.env.STOKER_URL,
  appName: 'node-sdk-app',
  tags: { region: 'eu-test' },
  flushIntervalMs: Number(process.env.FLUSH_MS || 2000),
  basicAuthUser: process.env.STOKER_USER,
  basicAuthPassword: process.env.STOKER_PASSWORD,
});
Pyroscope.start();

function fibonacciWork(n) {
  return n < 2 ? n : fibonacciWork(n - 1) + fibonacciWork(n - 2);
}

const kept = [];
function allocateBuffers() {
  kept.push(Buffer.alloc(64 * 1024, 1));
  if (kept.length > 200) kept.splice(0, 100);
}

const deadline = Date.now() + 1000 * Number(process.env.RUN_SECONDS || 60);
function tick() {
  fibonacciWork(24);
  allocateBuffers();
  if (Date.now() < deadline) {
    setImmediate(tick);
  } else {
    Pyroscope.stop().finally(() => process.exit(0));
  }
}
tick();
