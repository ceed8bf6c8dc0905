// Gradient checking against central finite differences in float64, for every test of src/autograd and src/nn:
// tinygrad's helper_test_op, with finite differences instead of torch. The loss is rebuilt from scratch for every
// perturbation, so it must read the Vars' data afresh (leaves and module parameters alike).

import { Rng } from '../../../src/core/random.js';
import { Tensor } from '../../../src/core/tensor.js';
import { mul, sum } from '../../../src/autograd/tensor-ops.js';
import { type Data, Var, backward, noGrad } from '../../../src/autograd/var.js';
import { TOL, assertRelClose, relativeError } from '../../tolerances.js';

/** A float64 leaf with standard normal entries (scaled), requiring a gradient. */
export function leaf64(shape: number[], seed: number, scale = 1): Var {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * scale;
  return new Var(data, { shape, requiresGrad: true });
}

/** Σ y · w with fixed random weights w of y's shape (float64), so every output element matters differently. */
export function weightedSum(y: Var, seed = 99): Var {
  const rng = new Rng(seed);
  const w = new Float64Array(y.size);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal();
  return sum(mul(y, new Var(w, { shape: y.shape })));
}

/** dL/dv for each Var by central differences: (L(v + h) − L(v − h)) / 2h, element by element. */
export function finiteDifferences(loss: () => Var, vars: Var[], h = 1e-6): Float64Array[] {
  return vars.map((v) => {
    const out = new Float64Array(v.size);
    for (let i = 0; i < v.size; i++) {
      const x = v.data[i];
      v.data[i] = x + h;
      const up = noGrad(loss).item();
      v.data[i] = x - h;
      const down = noGrad(loss).item();
      v.data[i] = x;
      out[i] = (up - down) / (2 * h);
    }
    return out;
  });
}

/**
 * Asserts backward's gradients of `loss` with respect to `vars` equal central differences within TOL.grad
 * (relative L2 error per Var). Returns the worst relative error, to report how far below the bar it is.
 */
export function checkGradients(loss: () => Var, vars: Var[], names: string[] = vars.map((_, i) => `input ${i}`), h = 1e-6): number {
  for (const v of vars) v.zeroGrad();
  backward(loss());
  const fd = finiteDifferences(loss, vars, h);
  let worst = 0;
  vars.forEach((v, i) => {
    const g: Data = v.gradData ?? new Float64Array(v.size);
    assertRelClose(g, fd[i], TOL.grad, `${names[i]}: gradient vs central differences`);
    worst = Math.max(worst, relativeError(g, fd[i]));
  });
  return worst;
}

/** A float32 copy of a float64 Var as a leaf requiring a gradient. */
export function toFloat32Leaf(v: Var): Var {
  return new Var(new Tensor(Float32Array.from(v.data), v.shape), { requiresGrad: true });
}
