// The error function in float64, for the exact GELU (x · Φ(x), Φ(x) = erfc(−x / √2) / 2, as PyTorch's
// approximate='none'). Two classical expansions, each used where it needs no cancellation:
//
//   |x| < 3   erf(x)  = 2/√π · e^(−x²) · Σ_{n≥0} 2ⁿ x^(2n+1) / (1·3·…·(2n+1))       (Abramowitz & Stegun 7.1.6)
//             every term has the sign of x, so the sum loses nothing; erfc = 1 − erf there (erfc(3) ≈ 2e−5, so at
//             worst about 11 correct digits near the switch, far below float32's 7)
//   |x| ≥ 3   erfc(x) = e^(−x²)/√π · 1 / (x + (1/2) / (x + 1 / (x + (3/2) / (x + 2 / (x + …)))))   (A&S 7.1.14)
//             evaluated from the tail with a fixed depth that converges to double precision for x ≥ 3
//
// Accurate to a few ulps against Python's math.erf / math.erfc (tests/unit/autograd/erf.test.ts).

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const ONE_OVER_SQRT_PI = 1 / Math.sqrt(Math.PI);
/** Where the series hands over to the continued fraction. */
const SWITCH = 3;
/** Continued-fraction depth: enough for x ≥ 3 to converge to double precision. */
const DEPTH = 80;

/** The series 7.1.6 for |x| < SWITCH. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** The continued fraction 7.1.14 for erfc(x), x ≥ SWITCH. */
function erfcFraction(x: number): number {
  let t = x;
  for (let n = DEPTH; n >= 1; n--) t = x + n / 2 / t;
  return (ONE_OVER_SQRT_PI * Math.exp(-x * x)) / t;
}

/** erf(x) in float64. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (Math.abs(x) < SWITCH) return erfSeries(x);
  return x > 0 ? 1 - erfcFraction(x) : erfcFraction(-x) - 1;
}

/** erfc(x) = 1 − erf(x) in float64, without cancellation for large positive x. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= SWITCH) return erfcFraction(x);
  if (x <= -SWITCH) return 2 - erfcFraction(-x);
  return 1 - erfSeries(x);
}
