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
