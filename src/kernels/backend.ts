// Backends: one interface, several implementations of the same contract (the reference in reference/ is the
// specification). A backend may decline a problem it does not handle by returning null; the reference then runs.
//
// Choosing: `setBackend(name)` globally, or `backend` per call. "auto" picks the fastest available backend.

import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/tensor.js';
import {
  type AttentionProblem,
  type AttentionRequest,
  type AttentionResult,
  attentionReference,
} from '../reference/attention.js';
import { type AttentionGradientsResult, attentionBackwardReference } from '../reference/attention-backward.js';
import { type GemmProblem, gemmReference } from '../reference/linear.js';

export type BackendName = 'reference' | 'wasm';
export type BackendChoice = BackendName | 'auto';

/** What a backend implements. Each kernel receives a validated problem and may return null to decline it. */
export interface Backend {
  readonly name: BackendName;
  /** Whether this backend can run here and now (for example, its WebAssembly module is instantiated). */
  available(): boolean;
  /** Forward attention; see reference/attention.ts for the contract. */
  attention(problem: AttentionProblem, request: AttentionRequest): AttentionResult | null;
  /** Backward attention; see reference/attention-backward.ts. Optional: without it the reference runs. */
  attentionBackward?(problem: AttentionProblem, gradOutput: Float32Array): AttentionGradientsResult | null;
  /**
   * A float32 matrix product C [M, N] = op(A)·op(B) + bias; see reference/linear.ts (GemmProblem). Optional: without
   * it the reference runs. Each row of C must not depend on M (a key/value cache computes one row at a time and must
   * equal the full pass bit for bit).
   */
  gemm?(problem: GemmProblem): Float32Array | null;
  /**
   * Optional: MultiHeadAttention's self-attention in one call (see {@link SelfAttentionProblem}), so that a backend
   * can keep the projections and the heads in its own memory. It must equal the composition of its `gemm` and
   * `attention` bit for bit; without it, or when it declines, MultiHeadAttention composes them.
   */
  selfAttention?(problem: SelfAttentionProblem, weights: boolean): SelfAttentionResult | null;
}

/**
 * Self-attention with packed input weights, as MultiHeadAttention.forward computes it: [q | k | v] = x · inWeightᵀ +
 * inBias; per head h, attention over columns h·d.. of q, k and v with the score settings (whose mask and bias index
 * the scores [B·H, N, N]); the heads merged back into [B, N, D]; then · outWeightᵀ + outBias.
 */
export interface SelfAttentionProblem {
  B: number;
  N: number;
  /** model width D = H · d */
  D: number;
  H: number;
  /** [B·N, D] */
  x: Float32Array;
  /** [3D, D] and [3D] */
  inWeight: Float32Array;
  inBias: Float32Array | null;
  /** [D, D] and [D] */
  outWeight: Float32Array;
  outBias: Float32Array | null;
  /** The attention's settings over scores [B·H, N, N]. */
  scores: Pick<AttentionProblem, 'mask' | 'bias' | 'causal' | 'scale' | 'softcap'>;
}

export interface SelfAttentionResult {
  /** [B, N, D] */
  output: Float32Array;
  /** [B·H, N, N], when asked */
  weights?: Float32Array;
}

const reference: Backend = {
  name: 'reference',
  available: () => true,
  attention: attentionReference,
  attentionBackward: attentionBackwardReference,
  gemm: gemmReference,
};

/** Registered backends, fastest first. The reference is always last. */
const backends: Backend[] = [reference];
let selected: BackendChoice = 'auto';

/** Adds a backend ahead of the reference. Kernel modules call this when they load. */
export function registerBackend(backend: Backend): void {
  const i = backends.findIndex((b) => b.name === backend.name);
  if (i >= 0) backends.splice(i, 1);
  backends.splice(backends.length - 1, 0, backend);
}

/**
 * Chooses the backend for every later call that does not name its own.
 * @param name "reference" (plain TypeScript, the specification), "wasm" (WebAssembly SIMD), or "auto".
 * @default "auto"
 * @example setBackend('reference')
 */
export function setBackend(name: BackendChoice): void {
  selected = checkChoice('setBackend', name);
}

/** The global choice made with {@link setBackend}. */
export function getBackend(): BackendChoice {
  return selected;
}

/** The names of the backends that can run here, fastest first. */
export function availableBackends(): BackendName[] {
  return backends.filter((b) => b.available()).map((b) => b.name);
}

/** Validates a backend choice, naming the function. */
export function checkChoice(fn: string, name: unknown): BackendChoice {
  if (name === 'auto' || backends.some((b) => b.name === name)) return name as BackendChoice;
  throw new ArgumentError(
    `${fn}: backend must be "auto" or one of ${backends.map((b) => `"${b.name}"`).join(', ')}; got ${describe(name)}`,
  );
}

/**
 * Runs attention on the chosen backend (the per-call choice, else the global one). A named backend that is not
 * available is an error; "auto" takes the first available backend that accepts the problem.
 */
export function runAttention(
  fn: string,
  problem: AttentionProblem,
  request: AttentionRequest,
  choice: BackendChoice = selected,
): AttentionResult {
  return dispatch(fn, choice, (b) => b.attention(problem, request));
}

/** Runs the attention backward like {@link runAttention}; backends without a backward defer to the reference. */
export function runAttentionBackward(
  fn: string,
  problem: AttentionProblem,
  gradOutput: Float32Array,
  choice: BackendChoice = selected,
): AttentionGradientsResult {
  return dispatch(fn, choice, (b) => b.attentionBackward?.(problem, gradOutput) ?? null);
}

/**
 * Runs the fused self-attention (see {@link Backend.selfAttention}) on the chosen backend, or for "auto" on the first
 * available one that accepts it; null when none does, and the caller composes it from gemm and attention (which
 * also reports a named backend that is not available).
 */
export function runSelfAttention(
  problem: SelfAttentionProblem,
  weights: boolean,
  choice: BackendChoice = selected,
): SelfAttentionResult | null {
  for (const backend of backends) {
    if ((choice !== 'auto' && backend.name !== choice) || !backend.selfAttention || !backend.available()) continue;
    const result = backend.selfAttention(problem, weights);
    if (result !== null) return result;
  }
  return null;
}

/** Runs a matrix product (see {@link Backend.gemm}) like {@link runAttention}; C [M, N]. */
export function runGemm(fn: string, problem: GemmProblem, choice: BackendChoice = selected): Float32Array {
  return dispatch(fn, choice, (b) => b.gemm?.(problem) ?? null);
}

/**
 * y [M, O] = x [M, K] · weight [O, K]ᵀ + bias [O] (F.linear, reference/linear.ts) on the chosen backend. The
 * projections of MultiHeadAttention and the autograd `linear` both come here, so that they agree bit for bit.
 */
export function runLinear(
  fn: string,
  x: Float32Array,
  M: number,
  K: number,
  weight: Float32Array,
  O: number,
  bias: Float32Array | null,
  choice: BackendChoice = selected,
): Float32Array {
  return runGemm(fn, { a: x, b: weight, M, K, N: O, transA: false, transB: true, bias }, choice);
}

/** Tries the chosen backend, or every available one for "auto", and falls back to the reference. */
function dispatch<T>(fn: string, choice: BackendChoice, run: (b: Backend) => T | null): T {
  if (choice !== 'auto') {
    const backend = backends.find((b) => b.name === choice)!;
    if (!backend.available()) {
      throw new ArgumentError(`${fn}: backend "${choice}" is not available here; available: ${availableBackends().join(', ')}`);
    }
    return run(backend) ?? run(reference)!;
  }
  for (const backend of backends) {
    if (!backend.available()) continue;
    const result = run(backend);
    if (result !== null) return result;
  }
  return run(reference)!;
}
