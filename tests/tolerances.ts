// Every tolerance the suite uses, in one place, and the comparison helpers that report the first bad index, both
// values and the largest difference when a check fails.

import assert from 'node:assert/strict';

export const TOL = {
  /** ‖out − ref‖ / ‖ref‖ against float64 PyTorch fixtures (the Core issue's bar). */
  parity: 1e-5,
  /** ONNX float32 cases, elementwise. */
  onnxF32: 1e-5,
  /** ONNX cases computed by ONNX in float16. */
  onnxF16: 2e-3,
  /** Two float32 computations of the same math in a different order (elementwise, relative to max |ref|). */
  reorder: 1e-5,
  /** ‖out − ref‖ / ‖ref‖ of the wasm kernel (float32 accumulation, a 1-ulp vectorised exp) against the float64
   *  reference; random inputs measure about 3e-7. */
  wasmF32: 1e-5,
  /** Hugging Face model fixtures (logits, hidden states, q/k/v/z, residuals), ‖out − ref‖ / ‖ref‖, float32 compute
   *  against a float64 PyTorch forward (the Real models issue's bar). */
  modelParity: 1e-4,
  /** Attention weights of those fixtures, elementwise absolute. */
  modelAttention: 1e-5,
  /** Gradients, ‖grad − ref‖ / ‖ref‖, against float64 central differences and PyTorch autograd. */
  grad: 1e-4,
  /** Unit roundoff of float64 accumulation (the reference): 2⁻⁵³. */
  roundoffF64: 2 ** -53,
  /** Unit roundoff of float32 accumulation (the wasm kernel): 2⁻²⁴. A logit s + b is rounded with an error up to
   *  this times |s + b|, so a comparison after adding a large bias b scales with it (see roundoffTolerance). */
  roundoffF32: 2 ** -24,
} as const;

type Numeric = ArrayLike<number>;

/**
 * The tolerance for comparing attention with and without a bias of magnitude up to `maxAbsBias` added to the
 * logits, on a backend with unit roundoff `roundoff`: each logit moves by up to roundoff·|b|, and a weight (or an
 * output, a convex combination) by up to twice that through its logit and the row's log-sum-exp; 4× leaves margin.
 * Never below `floor`, so that it only widens a check where the rounding of s + b is really the limit.
 */
export function roundoffTolerance(floor: number, roundoff: number, maxAbsBias: number): number {
  return Math.max(floor, 4 * roundoff * maxAbsBias);
}

/** ‖a − b‖₂ / ‖b‖₂ (or ‖a − b‖₂ when b is all zero). NaN positions must match exactly and are skipped. */
export function relativeError(actual: Numeric, expected: Numeric): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    if (a === e) {
      den += Number.isFinite(e) ? e * e : 0;
      continue;
    }
    num += (a - e) * (a - e);
    den += e * e;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

function describeMismatch(actual: Numeric, expected: Numeric): string {
  let first = -1;
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const same = a === e || (Number.isNaN(a) && Number.isNaN(e));
    if (same) continue;
    if (first < 0) first = i;
    const diff = Number.isNaN(a - e) ? Infinity : Math.abs(a - e);
    if (diff > worst || worstAt < 0) {
      worst = diff;
      worstAt = i;
    }
  }
  if (first < 0) return 'no elementwise difference';
  return (
    `first difference at index ${first}: actual ${actual[first]}, expected ${expected[first]}; ` +
    `largest |difference| ${worst} at index ${worstAt} (actual ${actual[worstAt]}, expected ${expected[worstAt]})`
  );
}

/** Asserts the relative L2 error is within `tol`, and that NaN and ±Infinity positions agree. */
export function assertRelClose(actual: Numeric, expected: Numeric, tol: number, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) !== Number.isNaN(a) || (!Number.isFinite(e) && !Number.isNaN(e) && a !== e)) {
      assert.fail(`${what}: non-finite mismatch; ${describeMismatch(actual, expected)}`);
    }
  }
  const err = relativeError(actual, expected);
  if (!(err <= tol)) {
    assert.fail(`${what}: relative error ${err.toExponential(3)} > ${tol}; ${describeMismatch(actual, expected)}`);
  }
}

/** Asserts |a − e| ≤ atol + rtol·|e| elementwise, with NaN and ±Infinity positions equal. */
export function assertAllClose(actual: Numeric, expected: Numeric, rtol: number, atol = rtol, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const ok = a === e || (Number.isNaN(a) && Number.isNaN(e)) || Math.abs(a - e) <= atol + rtol * Math.abs(e);
    if (!ok) assert.fail(`${what}: not close (rtol ${rtol}, atol ${atol}); ${describeMismatch(actual, expected)}`);
  }
}

/** Asserts bitwise equality of float arrays (NaN equals NaN). */
export function assertBitwiseEqual(actual: Numeric, expected: Numeric, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i]) && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
      assert.fail(`${what}: not bitwise equal; ${describeMismatch(actual, expected)}`);
    }
  }
}
