// The self-test's dedicated worker: where a browser lets the wasm backend block in Atomics.wait, and so the one
// place its thread pool can run. For 1, 2 and 4 threads it runs the same attention call, waits (on its event loop)
// until the pool's workers are ready, runs it again, and reports the outputs' bits with the pool's counters; then
// it runs the MultiHeadAttention check (the fused self-attention) once.
//
// The counters (poolStats) are a test hook of src/kernels/wasm/pool.ts, not public API: this page is a test.

import { getNumThreads, scaledDotProductAttention, setNumThreads } from '../../src/index.js';
import { poolStats } from '../../src/kernels/wasm/pool.js';
import {
  SELFTEST_REPEATS,
  SELFTEST_THREADS,
  type ThreadRun,
  type WorkerReport,
  floatsToBase64,
  requireWasmBackend,
  selftestInputs,
  selftestMha,
} from './selftest-problem.js';

interface WorkerScope {
  onmessage: ((event: { data: unknown }) => void) | null;
  postMessage(message: { report: WorkerReport } | { error: string }): void;
  crossOriginIsolated?: boolean;
}
const scope = globalThis as unknown as WorkerScope;

/** How long the pool's workers may take to start (module workers that compile nothing: well under a second). */
const READY_TIMEOUT_MS = 10_000;

const { query, key, value, options } = selftestInputs();

function runWasm(): Float32Array {
  return scaledDotProductAttention(query, key, value, { ...options, backend: 'wasm' }).output.data; // [B, H, N, dv]
}

/**
 * Yields to this worker's event loop until every pool worker is ready. A browser starts a Worker (and delivers
 * the pool's first message to it) through its creator's event loop, which a blocked caller does not run: workers
 * join the calls that start after they are ready.
 */
async function poolReady(): Promise<void> {
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    const { workers, ready } = poolStats();
    if (workers > 0 && ready === workers) return;
    if (performance.now() > deadline) throw new Error(`the pool's workers did not start: ${ready} of ${workers} ready`);
    await new Promise((done) => setTimeout(done, 10));
  }
}

async function run(): Promise<WorkerReport> {
  requireWasmBackend();
  const reference = scaledDotProductAttention(query, key, value, { ...options, backend: 'reference' }).output.data;
  const runs: ThreadRun[] = [];
  for (const n of SELFTEST_THREADS) {
    setNumThreads(n);
    const outputs = [floatsToBase64(runWasm())]; // the cold call: it starts the pool, whose workers are not ready yet
    if (getNumThreads() > 1) await poolReady();
    const before = poolStats();
    for (let i = 0; i < SELFTEST_REPEATS; i++) outputs.push(floatsToBase64(runWasm()));
    const after = poolStats();
    const mha = floatsToBase64(selftestMha('wasm'));
    const mhaJobs = poolStats().jobs - after.jobs;
    runs.push({
      requested: n,
      threads: getNumThreads(),
      workers: after.workers,
      ready: after.ready,
      jobs: after.jobs - before.jobs,
      units: after.units - before.units,
      callerUnits: after.callerUnits - before.callerUnits,
      workerUnits: after.workerUnits - before.workerUnits,
      outputs,
      mha,
      mhaJobs,
    });
  }
  setNumThreads(1); // ends the pool
  return {
    crossOriginIsolated: scope.crossOriginIsolated === true,
    sharedArrayBuffer: typeof SharedArrayBuffer === 'function',
    runs,
    reference: floatsToBase64(reference),
  };
}

scope.onmessage = () => {
  run().then(
    (report) => scope.postMessage({ report }),
    (e: unknown) => scope.postMessage({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }),
  );
};
