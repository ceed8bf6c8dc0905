// The backend variants every parity, property and conformance suite runs under: the reference (the specification,
// float64 accumulation), and the wasm SIMD kernel with one and with two threads (float32 accumulation). After
// TensorFlow.js's one-suite-for-every-backend: a suite is written once, as `describeEachVariant(title, (v) => …)`,
// and each variant brings its own tolerances and selects itself at test time.
//
// Selection happens in a `before` hook, not in the describe body: node:test runs every describe body eagerly while
// it collects tests, so a setBackend there would be overwritten by the next variant's body before any test runs.
// Suites also pass `backend: v.backend` per call, so that a test never depends on the global choice alone.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type AttentionOptions,
  type AttentionOutput,
  type BackendChoice,
  type BackendName,
  type Tensor,
  availableBackends,
  getBackend,
  scaledDotProductAttention,
  setBackend,
} from '../../src/index.js';
import { getNumThreads, setNumThreads, wasmBackend } from '../../src/kernels/wasm/index.js'; // registers "wasm"
import { poolStats } from '../../src/kernels/wasm/pool.js';
import { prepareAttention } from '../../src/ops/attention.js';
import { type AttentionFn } from '../arbitraries.js';
import { TOL } from '../tolerances.js';
import { DEFAULT_POOL_MIN_FLOPS, setPoolTestHooks } from './pool-hooks/index.js';

/** Per-variant tolerances; each comparison keeps its definition from tests/tolerances.ts. */
export interface VariantTolerances {
  /** ‖out − ref‖ / ‖ref‖ against float64 fixtures and the float64 oracle. */
  parity: number;
  /** Two computations of the same math in a different order on this backend (elementwise, relative to max |ref|). */
  reorder: number;
  /** ONNX float32 cases, elementwise. */
  onnxF32: number;
  /** ONNX float16 cases, elementwise. */
  onnxF16: number;
  /** Unit roundoff of the backend's accumulation (float64 or float32). */
  roundoff: number;
}

export interface BackendVariant {
  /** Shown in test names: "reference", "wasm-1", "wasm-2". */
  name: string;
  backend: BackendName;
  /** Threads of the wasm kernel; undefined for the reference. */
  threads?: number;
  tol: VariantTolerances;
  /** fast-check runs per property (the same seed on every variant, so each sees the same inputs). */
  numRuns: number;
  /**
   * Whether this backend computes traces itself. The wasm backend declines a `trace` request, so the reference
   * answers it: a traced output is then the reference's, and only an untraced call exercises the backend.
   */
  servesTraces: boolean;
  /** Why this variant cannot run here, or undefined when it can. */
  unavailable(): string | undefined;
  /** Selects the variant for every later call: the global backend and the thread count. */
  setup(): void;
}

// ---- threads: the one place that sets the wasm kernel's thread count ---------------------------------------------
// A call normally uses the pool only when it is large (pool.ts's DEFAULT_POOL_MIN_FLOPS), which none of these suites'
// problems are; a wasm variant with several threads therefore lowers that bar to 0 (a test hook), so that every
// call with two or more work units really runs on the pool, and checks afterwards that it did.

/** Whether `threads` threads can run here: setNumThreads is honoured only where the pool can start. */
function threadsUnavailable(threads: number): string | undefined {
  if (threads === 1) return undefined;
  const before = getNumThreads();
  setNumThreads(threads);
  const got = getNumThreads();
  setNumThreads(before);
  return got === threads ? undefined : `${threads} wasm threads cannot run here (getNumThreads() gives ${got})`;
}

/** Selects `threads` threads; with more than one, every call of two or more units goes to the pool. */
function selectThreads(threads: number): void {
  setNumThreads(threads);
  setPoolTestHooks({ minFlops: threads > 1 ? 0 : DEFAULT_POOL_MIN_FLOPS });
  if (getNumThreads() !== threads) throw new Error(`setNumThreads(${threads}) left getNumThreads() = ${getNumThreads()}`);
}

// ------------------------------------------------------------------------------------------------------------------

const referenceTol: VariantTolerances = {
  parity: TOL.parity,
  reorder: TOL.reorder,
  onnxF32: TOL.onnxF32,
  onnxF16: TOL.onnxF16,
  roundoff: TOL.roundoffF64,
};

const wasmTol: VariantTolerances = {
  parity: TOL.wasmF32,
  reorder: TOL.reorder,
  onnxF32: TOL.onnxF32,
  onnxF16: TOL.onnxF16,
  roundoff: TOL.roundoffF32,
};

function wasmVariant(threads: number): BackendVariant {
  return {
    name: `wasm-${threads}`,
    backend: 'wasm',
    threads,
    tol: wasmTol,
    numRuns: 100,
    servesTraces: false,
    unavailable() {
      if (!availableBackends().includes('wasm')) return 'the wasm backend is not available here';
      return threadsUnavailable(threads);
    },
    setup() {
      setBackend('wasm');
      selectThreads(threads);
    },
  };
}

/** Every variant, in the order the suites run them. */
export const VARIANTS: readonly BackendVariant[] = [
  {
    name: 'reference',
    backend: 'reference',
    tol: referenceTol,
    numRuns: 100,
    servesTraces: true,
    unavailable: () => undefined,
    setup() {
      setBackend('reference');
    },
  },
  wasmVariant(1),
  wasmVariant(2),
];

/**
 * Registers `body`'s tests once per variant, in a suite named `${title} [${variant}]`. A variant that cannot run
 * here is skipped with its reason. The global backend and thread count are set before the suite's first test and
 * restored after its last. With several threads, a last test checks that the suite's calls did run on the pool
 * (pass `usesForward: false` for a suite that calls no forward attention, such as the backward's).
 */
export function describeEachVariant(
  title: string,
  body: (v: BackendVariant) => void,
  { usesForward = true }: { usesForward?: boolean } = {},
): void {
  for (const v of VARIANTS) {
    const skip = v.unavailable();
    describe(`${title} [${v.name}]`, skip === undefined ? {} : { skip }, () => {
      let previousBackend: BackendChoice = 'auto';
      let previousThreads = 1;
      let statsBefore = poolStats();
      before(() => {
        previousBackend = getBackend();
        previousThreads = getNumThreads();
        statsBefore = poolStats();
        v.setup();
      });
      after(() => {
        setBackend(previousBackend);
        setNumThreads(previousThreads);
        setPoolTestHooks({ minFlops: DEFAULT_POOL_MIN_FLOPS });
      });
      body(v);
      if (usesForward && (v.threads ?? 1) > 1) {
        // How many units the workers (rather than the calling thread) took depends on scheduling, so it is reported,
        // not asserted; tests/backends/threads.test.ts checks that workers run units.
        it(`ran its calls on the thread pool (${v.threads} threads)`, (t) => {
          const now = poolStats();
          const jobs = now.jobs - statsBefore.jobs;
          const workerUnits = now.units - now.callerUnits - (statsBefore.units - statsBefore.callerUnits);
          t.diagnostic(`${jobs} pooled calls; ${workerUnits} units ran on pool workers`);
          assert.ok(jobs > 0, 'no call of this suite ran on the pool');
        });
      }
    });
  }
}

/** scaledDotProductAttention on the variant's backend (named per call). */
export function attentionOn(v: BackendVariant): AttentionFn {
  return (query: Tensor, key: Tensor, value: Tensor, options: AttentionOptions = {}): AttentionOutput =>
    scaledDotProductAttention(query, key, value, { ...options, backend: v.backend });
}

/**
 * Whether the variant's backend itself accepts the problem, rather than declining it to the reference: without
 * this check a declined problem would pass every comparison with the reference unnoticed.
 */
export function backendAccepts(
  v: BackendVariant,
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options: AttentionOptions = {},
): boolean {
  if (v.backend === 'reference') return true;
  const { problem } = prepareAttention('backendAccepts', query, key, value, options);
  const request = { weights: options.returnWeights === true, trace: options.trace === true };
  return wasmBackend.attention(problem, request) !== null;
}
