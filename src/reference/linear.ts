// Reference affine map y = x · Wᵀ + b, as torch.nn.functional.linear. Accumulates in float64, rounds once.

import { type GemmProblem } from '../kernels/contract.js';

/**
 * x [M, K] (row-major), weight [O, K], bias [O] or null → y [M, O].
 * The caller guarantees the sizes; this is the plain-loop specification.
 */
export function linearReference(
  x: Float32Array,
  M: number,
  K: number,
  weight: Float32Array,
  O: number,
  bias: Float32Array | null,
): Float32Array {
  const y = new Float32Array(M * O); // [M, O]
  for (let m = 0; m < M; m++) {
    const xm = m * K;
    for (let o = 0; o < O; o++) {
      const wo = o * K;
      let acc = bias ? bias[o] : 0;
      for (let k = 0; k < K; k++) acc += x[xm + k] * weight[wo + k];
      y[m * O + o] = acc;
    }
  }
  return y;
}

export type { GemmProblem } from '../kernels/contract.js';

/**
 * Reference GEMM: accumulates in float64 from the bias, over k in increasing order, and rounds once. The `linear`
 * form (transB only) is {@link linearReference} itself. Returns C [M, N].
 */
export function gemmReference(p: GemmProblem): Float32Array {
  const { a, b, M, K, N, transA, transB, bias } = p;
  if (!transA && transB) return linearReference(a, M, K, b, N, bias);
  const c = new Float32Array(M * N); // [M, N]
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = bias ? bias[n] : 0;
      for (let k = 0; k < K; k++) acc += a[transA ? k * M + m : m * K + k] * b[transB ? n * K + k : k * N + n];
      c[m * N + n] = acc;
    }
  }
  return c;
}
