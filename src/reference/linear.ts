// Reference affine map y = x · Wᵀ + b, as torch.nn.functional.linear. Accumulates in float64, rounds once.

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

/**
 * A matrix product in the form the backends' GEMM kernels take: C [M, N] = op(A) · op(B) + bias, where op(A) is
 * [M, K] (A stored [M, K], or [K, M] when transA) and op(B) is [K, N] (B stored [K, N], or [N, K] when transB).
 * `linear` is transB (B = weight [O, K]); its backward takes dX = dY · W (plain) and dW = dYᵀ · X (transA).
 */
export interface GemmProblem {
  a: Float32Array;
  b: Float32Array;
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
  /** [N], added to every row; null for none */
  bias: Float32Array | null;
}

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
