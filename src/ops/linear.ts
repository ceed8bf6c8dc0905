// The matrix products of autograd and nn, as internal ops: the one door from those layers to the backends' GEMM
// (kernels/backend.ts). `linear` is F.linear on flat float32 rows; `gemm` is the general product that matmul and
// the backward rules need. Shapes: M rows, K inner, O output columns (never N: that letter is a sequence length).

import { type BackendChoice, runGemm, runLinear } from '../kernels/backend.js';

/** y [M, O] = x [M, K] · weight [O, K]ᵀ + bias [O], on the chosen backend (the global choice when undefined). */
export function linear(
  fn: string,
  x: Float32Array,
  M: number,
  K: number,
  weight: Float32Array,
  O: number,
  bias: Float32Array | null,
  backend?: BackendChoice,
): Float32Array {
  return runLinear(fn, x, M, K, weight, O, bias, backend);
}

/** The operands of {@link gemm}: C [M, O] = op(A) · op(B) + bias, op(A) [M, K], op(B) [K, O]. */
export interface GemmOperands {
  a: Float32Array;
  b: Float32Array;
  M: number;
  K: number;
  O: number;
  transA: boolean;
  transB: boolean;
  bias: Float32Array | null;
}

/** C [M, O] = op(A) · op(B) + bias on the chosen backend. */
export function gemm(fn: string, p: GemmOperands, backend?: BackendChoice): Float32Array {
  return runGemm(fn, { a: p.a, b: p.b, M: p.M, K: p.K, N: p.O, transA: p.transA, transB: p.transB, bias: p.bias }, backend);
}
