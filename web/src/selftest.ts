// The wasm backend's browser self-test page (selftest.html), read by tests/browser/wasm-threads.test.ts. It runs one
// attention call on the page's own thread (which may not block, so the backend must use one thread there), then
// starts a dedicated worker that runs it with 1, 2 and 4 threads (selftest-worker.ts), and leaves a SelftestReport
// on window.qkvSelftest and a summary on the page. Served without cross-origin isolation, it checks the fallback:
// no SharedArrayBuffer, one thread everywhere, the same bits.

import { getNumThreads, initWasm, scaledDotProductAttention, setNumThreads } from '../../src/index.js';
import { poolStats } from '../../src/kernels/wasm/pool.js';
import {
  type SelftestReport,
  type WorkerReport,
  floatsToBase64,
  requireWasmBackend,
  selftestInputs,
} from './selftest-problem.js';

async function mainThreadCall(): Promise<SelftestReport['mainThread']> {
  await initWasm(); // a page compiles the module asynchronously before the backend is available
  requireWasmBackend();
  setNumThreads(2);
  const { query, key, value, options } = selftestInputs();
  const output = scaledDotProductAttention(query, key, value, { ...options, backend: 'wasm' }).output.data;
  return { threads: getNumThreads(), jobs: poolStats().jobs, output: floatsToBase64(output) };
}

function workerReport(): Promise<WorkerReport> {
  const worker = new Worker(new URL('./selftest-worker.ts', import.meta.url), { type: 'module' });
  return new Promise((done, fail) => {
    worker.onmessage = (e: MessageEvent<{ report: WorkerReport } | { error: string }>) => {
      worker.terminate();
      if ('error' in e.data) fail(new Error(`worker: ${e.data.error}`));
      else done(e.data.report);
    };
    worker.onerror = (e) => fail(new Error(`worker: ${e.message || 'its script could not be loaded'}`));
    worker.postMessage('run');
  });
}

function show(report: SelftestReport): void {
  const lines = [`crossOriginIsolated: ${report.crossOriginIsolated}`];
  if (report.mainThread) lines.push(`main thread: ${report.mainThread.threads} thread`);
  for (const r of report.worker?.runs ?? []) {
    lines.push(`worker, setNumThreads(${r.requested}): ${r.threads} threads, units ${r.callerUnits} caller + ${r.workerUnits} pool`);
  }
  if (report.error) lines.push(`error: ${report.error}`);
  document.getElementById('report')!.textContent = lines.join('\n');
}

async function main(): Promise<void> {
  const report: SelftestReport = { crossOriginIsolated, mainThread: null, worker: null, error: null };
  try {
    report.mainThread = await mainThreadCall();
    report.worker = await workerReport();
  } catch (e) {
    report.error = e instanceof Error ? e.message : String(e);
  }
  show(report);
  (window as unknown as { qkvSelftest: SelftestReport }).qkvSelftest = report;
  document.body.dataset.state = report.error ? 'failed' : 'done';
}

void main();
