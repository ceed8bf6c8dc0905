// Backends: one interface, several implementations of the same contract (the reference in reference/ is the
// specification). A backend may decline a problem it does not handle by returning null; the reference then runs.
//
// Choosing: `setBackend(name)` globally, or `backend` per call. "auto" picks the fastest available backend.

import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/tensor.js';
import { attentionReference } from '../reference/attention.js';
import { attentionBackwardReference } from '../reference/attention-backward.js';
import { gemmReference } from '../reference/linear.js';
import type {
  AttentionGradientsResult,
  AttentionProblem,
  AttentionRequest,
  AttentionResult,
  Backend,
  BackendName,
  GemmProblem,
  SelfAttentionProblem,
  SelfAttentionResult,
} from './contract.js';

export type { Backend, BackendName, SelfAttentionProblem, SelfAttentionResult } from './contract.js';
export type BackendChoice = BackendName | 'auto';

/** A kernel's result and the name of the backend that computed it. */
export type Ran<T> = T & { backend: BackendName };

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
 * available is an error; "auto" takes the first available backend that accepts the problem. The result names the
 * backend that computed it.
 */
export function runAttention(
  fn: string,
  problem: AttentionProblem,
  request: AttentionRequest,
  choice: BackendChoice = selected,
): Ran<AttentionResult> {
  return dispatch(fn, choice, (b) => b.attention(problem, request));
}

/** Runs the attention backward like {@link runAttention}; backends without a backward defer to the reference. */
export function runAttentionBackward(
  fn: string,
  problem: AttentionProblem,
  gradOutput: Float32Array,
  choice: BackendChoice = selected,
): Ran<AttentionGradientsResult> {
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
): Ran<SelfAttentionResult> | null {
  for (const backend of backends) {
    if ((choice !== 'auto' && backend.name !== choice) || !backend.selfAttention || !backend.available()) continue;
    const result = backend.selfAttention(problem, weights);
    if (result !== null) return Object.assign(result, { backend: backend.name });
  }
  return null;
}

/** Runs a matrix product (see {@link Backend.gemm}) like {@link runAttention}; C [M, O]. */
export function runGemm(fn: string, problem: GemmProblem, choice: BackendChoice = selected): Float32Array {
  return dispatch(fn, choice, (b) => wrapArray(b.gemm?.(problem) ?? null)).value;
}

/**
 * y [M, O] = x [M, K] · weight [O, K]ᵀ + bias [O] (F.linear, reference/linear.ts) on the chosen backend. The
 * projections of MultiHeadAttention and the autograd `linear` both come here (through ops/linear.ts), so that they
 * agree bit for bit.
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

/** A GEMM's array as an object, so that dispatch can name its backend. */
function wrapArray(value: Float32Array | null): { value: Float32Array } | null {
  return value === null ? null : { value };
}

/** Tries the chosen backend, or every available one for "auto", and falls back to the reference. */
function dispatch<T extends object>(fn: string, choice: BackendChoice, run: (b: Backend) => T | null): Ran<T> {
  const named = (backend: Backend, result: T | null) => (result === null ? null : Object.assign(result, { backend: backend.name }));
  if (choice !== 'auto') {
    const backend = backends.find((b) => b.name === choice)!;
    if (!backend.available()) {
      throw new ArgumentError(`${fn}: backend "${choice}" is not available here; available: ${availableBackends().join(', ')}`);
    }
    return named(backend, run(backend)) ?? named(reference, run(reference))!;
  }
  for (const backend of backends) {
    if (!backend.available()) continue;
    const result = named(backend, run(backend));
    if (result !== null) return result;
  }
  return named(reference, run(reference))!;
}
