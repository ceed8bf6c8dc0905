// The wasm backend and its thread pool in a real browser (Debian's Chromium through playwright-core), on the
// self-test page web/selftest.html (web/src/selftest*.ts): in a dedicated worker, 1, 2 and 4 threads give the same
// bits, and 2 and 4 threads really run units on pool workers (module Web Workers on shared WebAssembly memory); on
// the page's own thread, which may not block, and on a page served without cross-origin isolation (no
// SharedArrayBuffer), the backend falls back to one thread with the same bits. The outputs agree with the float64
// reference computed here in Node.
//
// The page is a test, not part of the published viewer: this file builds it (web/vite.config.ts, mode "selftest")
// into test-artifacts/selftest/ and serves that folder. Needs /usr/bin/chromium (tools/install-chromium.sh), as
// viewer.test.ts; never skips.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { type Browser, chromium } from 'playwright-core';
import { build } from 'vite';

import { type RunningServer, startServer } from '../../src/cli/serve.js';
import { scaledDotProductAttention } from '../../src/index.js';
import {
  SELFTEST_REPEATS,
  SELFTEST_SHAPE,
  SELFTEST_THREADS,
  type SelftestReport,
  base64ToFloats,
  selftestInputs,
  selftestMha,
} from '../../web/src/selftest-problem.js';
import { TOL, assertBitwiseEqual, assertRelClose } from '../tolerances.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** Where the self-test build goes (web/vite.config.ts). */
const SELFTEST_ROOT = join(REPO, 'test-artifacts', 'selftest');
const CHROMIUM = process.env.QKV_CHROMIUM ?? '/usr/bin/chromium';
/** The flags of viewer.test.ts: headless, no sandbox as root, no background traffic to a closed network. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
/** Work units of the self-test problem: B·H heads × ceil(N / 64) query tiles. */
const UNITS = SELFTEST_SHAPE.B * SELFTEST_SHAPE.H * Math.ceil(SELFTEST_SHAPE.N / 64);

interface PageRun {
  report: SelftestReport;
  consoleErrors: string[];
}

let isolatedServer: RunningServer;
let plainServer: RunningServer;
let browser: Browser;
let isolated: PageRun;
let plain: PageRun;
/** The float64 reference, computed here in Node on the same seeded inputs. */
let reference: Float32Array;

function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  try {
    execFileSync('bash', [join(REPO, 'tools/install-chromium.sh')], { stdio: 'inherit' });
  } catch {
    // reported below
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`browser tests: ${CHROMIUM} is missing and tools/install-chromium.sh could not install it; run it as root (apt-get install chromium)`);
  }
}

/** Opens selftest.html from `server` in a fresh context and waits for its report. */
async function runPage(server: RunningServer): Promise<PageRun> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && consoleErrors.push(`worker: ${m.text()}`)));
  await page.goto(new URL('selftest.html', server.url).href);
  await page.waitForFunction('document.body.dataset.state !== undefined', undefined, { timeout: 60_000 });
  const report = (await page.evaluate('window.qkvSelftest')) as SelftestReport;
  await context.close();
  return { report, consoleErrors };
}

before(async () => {
  await build({ configFile: join(REPO, 'web/vite.config.ts'), mode: 'selftest', logLevel: 'error' });
  ensureChromium();
  const { query, key, value, options } = selftestInputs();
  reference = scaledDotProductAttention(query, key, value, { ...options, backend: 'reference' }).output.data;
  isolatedServer = await startServer({ port: 0, root: SELFTEST_ROOT });
  plainServer = await startServer({ port: 0, root: SELFTEST_ROOT, isolation: false });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  isolated = await runPage(isolatedServer);
  plain = await runPage(plainServer);
});

after(async () => {
  await browser?.close();
  await isolatedServer?.close();
  await plainServer?.close();
});

/** Every output of a report, with a name for messages: the main thread's, then each run's. */
function outputsOf(report: SelftestReport): [string, Float32Array][] {
  const all: [string, Float32Array][] = [];
  if (report.mainThread) all.push(['main thread', base64ToFloats(report.mainThread.output)]);
  for (const r of report.worker?.runs ?? []) {
    r.outputs.forEach((o, i) => all.push([`setNumThreads(${r.requested}) call ${i}`, base64ToFloats(o)]));
  }
  return all;
}

test('isolation: false leaves out only the COOP and COEP headers', async () => {
  const withHeaders = await fetch(new URL('selftest.html', isolatedServer.url));
  const without = await fetch(new URL('selftest.html', plainServer.url));
  assert.equal(withHeaders.headers.get('cross-origin-opener-policy'), 'same-origin');
  assert.equal(withHeaders.headers.get('cross-origin-embedder-policy'), 'require-corp');
  assert.equal(without.headers.get('cross-origin-opener-policy'), null);
  assert.equal(without.headers.get('cross-origin-embedder-policy'), null);
  assert.equal(without.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(without.headers.get('cross-origin-resource-policy'), 'same-origin');
});

test('the isolated page runs everything, with no console errors', () => {
  const { report, consoleErrors } = isolated;
  assert.equal(report.error, null);
  assert.deepEqual(consoleErrors, []);
  assert.equal(report.crossOriginIsolated, true);
  assert.equal(report.worker!.crossOriginIsolated, true);
  assert.equal(report.worker!.sharedArrayBuffer, true);
  assert.deepEqual(
    report.worker!.runs.map((r) => [r.requested, r.outputs.length]),
    SELFTEST_THREADS.map((n) => [n, 1 + SELFTEST_REPEATS]),
  );
});

test('in a worker, 2 and 4 threads run units on the pool workers; 1 thread runs none', () => {
  for (const r of isolated.report.worker!.runs) {
    const what = `setNumThreads(${r.requested})`;
    assert.equal(r.threads, r.requested, `${what}: getNumThreads()`);
    if (r.requested === 1) {
      assert.deepEqual([r.workers, r.jobs, r.workerUnits], [0, 0, 0], `${what}: no pool`);
      continue;
    }
    assert.equal(r.workers, r.requested - 1, `${what}: pool workers`);
    assert.equal(r.ready, r.workers, `${what}: every pool worker started`);
    assert.equal(r.jobs, SELFTEST_REPEATS, `${what}: every call ran on the pool`);
    assert.equal(r.units, SELFTEST_REPEATS * UNITS, `${what}: units`);
    assert.equal(r.callerUnits + r.workerUnits, r.units, `${what}: every unit ran exactly once`);
    assert.ok(r.workerUnits > 0, `${what}: the pool workers ran no unit (${r.callerUnits} by the caller)`);
  }
});

test('1, 2 and 4 threads, cold and warm, give bitwise the same output', () => {
  const [[, first], ...rest] = outputsOf(isolated.report).filter(([name]) => name !== 'main thread');
  assert.equal(first.length, SELFTEST_SHAPE.B * SELFTEST_SHAPE.H * SELFTEST_SHAPE.N * SELFTEST_SHAPE.d);
  for (const [name, output] of rest) assertBitwiseEqual(output, first, name);
});

test('the outputs agree with the float64 reference within TOL.wasmF32', () => {
  const browserReference = base64ToFloats(isolated.report.worker!.reference);
  assertRelClose(browserReference, reference, TOL.reorder, 'the browser\'s reference against Node\'s');
  for (const [name, output] of outputsOf(isolated.report)) assertRelClose(output, reference, TOL.wasmF32, name);
});

test('MultiHeadAttention self-attention (fused on the pool) gives, for 1, 2 and 4 threads, the bits it gives in Node', () => {
  const node = selftestMha('wasm'); // this process: the same module, on Node's threads
  assertRelClose(node, selftestMha('reference'), TOL.wasmF32, 'Node, wasm against the reference');
  for (const report of [isolated.report, plain.report]) {
    for (const r of report.worker!.runs) {
      const what = `${report.crossOriginIsolated ? '' : 'not isolated, '}setNumThreads(${r.requested})`;
      assertBitwiseEqual(base64ToFloats(r.mha), node, what);
      assert.equal(r.mhaJobs, r.threads > 1 ? 3 : 0, `${what}: pool jobs of the fused call`);
    }
  }
});

test("on the page's own thread (no blocking allowed) the backend uses one thread, with the same bits", () => {
  const main = isolated.report.mainThread!;
  assert.equal(main.threads, 1);
  assert.equal(main.jobs, 0, 'no call ran on a pool');
  const worker = base64ToFloats(isolated.report.worker!.runs[0].outputs[0]);
  assertBitwiseEqual(base64ToFloats(main.output), worker, 'main thread against the worker');
});

test('without cross-origin isolation: no SharedArrayBuffer, one thread everywhere, the same bits', () => {
  const { report, consoleErrors } = plain;
  assert.equal(report.error, null);
  assert.deepEqual(consoleErrors, []);
  assert.equal(report.crossOriginIsolated, false);
  assert.equal(report.worker!.crossOriginIsolated, false);
  assert.equal(report.worker!.sharedArrayBuffer, false);
  assert.equal(report.mainThread!.threads, 1);
  for (const r of report.worker!.runs) {
    assert.deepEqual([r.threads, r.workers, r.jobs], [1, 0, 0], `setNumThreads(${r.requested}) falls back to one thread`);
  }
  const expected = base64ToFloats(isolated.report.worker!.runs[0].outputs[0]);
  const outputs = outputsOf(report);
  assert.equal(outputs.length, 1 + SELFTEST_THREADS.length * (1 + SELFTEST_REPEATS));
  for (const [name, output] of outputs) assertBitwiseEqual(output, expected, `not isolated, ${name}`);
});
