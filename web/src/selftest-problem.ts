// The wasm backend's browser self-test (selftest.html): the one attention problem it runs, and the report it leaves on
// the page. Shared by the page (selftest.ts), its worker (selftest-worker.ts) and the Node test that reads the report
// (tests/browser/wasm-threads.test.ts), so that all three build the same seeded inputs.

import { type AttentionOptions, MultiHeadAttention, Tensor } from '../../src/index.js';
import { wasmBackend } from '../../src/kernels/wasm/index.js';

/**
 * B = 1, H = 4, N = S = 256, d = dv = 64, causal: 16 work units (4 heads × 4 tiles of 64 query rows) and
 * 4·H·N·S·d = 67 Mflop by the pool's estimate, well above its one-thread threshold (8 Mflop), so that 2 and 4
 * threads really use the pool with its default settings.
 */
export const SELFTEST_SHAPE = { B: 1, H: 4, N: 256, S: 256, d: 64 } as const;
export const SELFTEST_THREADS = [1, 2, 4] as const;
/** Calls per thread count once the pool's workers are ready (the first, cold call is reported too). */
export const SELFTEST_REPEATS = 3;

export function selftestInputs(): { query: Tensor; key: Tensor; value: Tensor; options: AttentionOptions } {
  const { B, H, N, S, d } = SELFTEST_SHAPE;
  return {
    query: Tensor.randn([B, H, N, d], 101), // [B, H, N, d]
    key: Tensor.randn([B, H, S, d], 102), // [B, H, S, d]
    value: Tensor.randn([B, H, S, d], 103), // [B, H, S, dv]
    options: { causal: true },
  };
}

/**
 * MultiHeadAttention self-attention, D = 128, H = 4, N = 128, causal: the wasm backend runs it as one fused call
 * (src/kernels/wasm/self-attention.ts) whose input projection (12.6 Mflop) and attention (8.4 Mflop) use the pool.
 */
export const SELFTEST_MHA = { D: 128, H: 4, N: 128 } as const;

/** The seeded module and input of the MultiHeadAttention check; returns the output [1, N, D] on `backend`. */
export function selftestMha(backend: 'wasm' | 'reference'): Float32Array {
  const { D, H, N } = SELFTEST_MHA;
  const mha = new MultiHeadAttention({ embedDim: D, numHeads: H, seed: 104 });
  const x = Tensor.randn([1, N, D], 105); // [B, N, D]
  return mha.forward(x, x, x, { causal: true, backend }).output.data;
}

/**
 * Throws unless the "wasm" backend is registered and its kernel loaded here. Naming wasmBackend also keeps its
 * registration in this page's bundle: package.json's "sideEffects" lists only dist/kernels/wasm/index.js, so a
 * bundle of the sources (as Vite builds web/) drops src/kernels/wasm/index.ts's registerBackend call unless one of
 * its exports is used.
 */
export function requireWasmBackend(): void {
  if (!wasmBackend.available()) throw new Error('the wasm backend is not available here (its kernel did not load)');
}

/** What one thread count gave in the worker. */
export interface ThreadRun {
  /** The setNumThreads argument. */
  requested: number;
  /** getNumThreads() afterwards: 1 where threads cannot run. */
  threads: number;
  /** The pool's workers and how many were ready after the calls (0 without a pool). */
  workers: number;
  ready: number;
  /** Deltas of the pool's counters over the calls made once the workers were ready. */
  jobs: number;
  units: number;
  callerUnits: number;
  workerUnits: number;
  /** The outputs [B, H, N, dv] as base64 float32 bytes: the cold call's, then SELFTEST_REPEATS more. */
  outputs: string[];
  /** The MultiHeadAttention check's output [1, N, D] (selftestMha), base64, once the pool's workers were ready. */
  mha: string;
  /** Pool jobs that the MultiHeadAttention check ran: with threads, the two bands of the input projection and the
   *  attention (the output projection, 4.2 Mflop, stays below the pool's threshold). */
  mhaJobs: number;
}

/** What the dedicated worker reports. */
export interface WorkerReport {
  crossOriginIsolated: boolean;
  sharedArrayBuffer: boolean;
  runs: ThreadRun[];
  /** The float64 reference ("reference" backend) on the same inputs, rounded to float32, base64. */
  reference: string;
}

/** What the page leaves on window.qkvSelftest when it is done. */
export interface SelftestReport {
  crossOriginIsolated: boolean;
  /** One call on the page's own thread after `await initWasm()`, with setNumThreads(2) asked. */
  mainThread: { threads: number; jobs: number; output: string } | null;
  worker: WorkerReport | null;
  /** The first error, as text; null when everything ran. */
  error: string | null;
}

/** Float32 bytes as base64 (btoa exists in browsers and Node). */
export function floatsToBase64(values: Float32Array): string {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function base64ToFloats(text: string): Float32Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}
