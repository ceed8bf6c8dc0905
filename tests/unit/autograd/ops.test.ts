// Every differentiable op's gradient against central finite differences in float64 (table-driven, one row per op
// and broadcasting case), plus the tape's own rules: accumulation, reuse, noGrad, dtypes and errors.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Rng } from '../../../src/core/random.js';
import { Tensor } from '../../../src/core/tensor.js';
import { isQkvError } from '../../../src/core/errors.js';
import {
  add, broadcastTo, concat, linear, matmul, mean, mul, narrow, permute, reshape, sub, sum, tanh, transpose,
} from '../../../src/autograd/tensor-ops.js';
import { crossEntropy, dropout, embedding, gelu, layerNorm, softmax } from '../../../src/autograd/nn-ops.js';
import { Var, backward, noGrad } from '../../../src/autograd/var.js';
import { assertBitwiseEqual, assertRelClose } from '../../tolerances.js';
import { checkGradients, leaf64, weightedSum } from './gradcheck.js';

interface OpCase {
  name: string;
  /** Input shapes; each becomes a float64 leaf with normal entries. */
  shapes: number[][];
  f: (xs: Var[]) => Var;
  scale?: number;
}

const ids = Tensor.from([[0, 3, 3, 1], [4, 0, 2, 3]]); // [2, 4], ids repeat
const targets = Tensor.from([[1, 4, -100], [0, 2, 2]]); // [2, 3], one ignored

const cases: OpCase[] = [
  { name: 'add, broadcast [2, 3, 4] + [3, 1]', shapes: [[2, 3, 4], [3, 1]], f: ([a, b]) => add(a, b) },
  { name: 'sub, broadcast [4] − [2, 4]', shapes: [[4], [2, 4]], f: ([a, b]) => sub(a, b) },
  { name: 'mul, broadcast [2, 1, 4] · [3, 1]', shapes: [[2, 1, 4], [3, 1]], f: ([a, b]) => mul(a, b) },
  { name: 'mul, a with itself', shapes: [[3, 2]], f: ([a]) => mul(a, a) },
  { name: 'add and mul by numbers', shapes: [[2, 3]], f: ([a]) => mul(add(a, 1.5), -0.7) },
  { name: 'matmul [2, 3, 4] · [4, 5]', shapes: [[2, 3, 4], [4, 5]], f: ([a, b]) => matmul(a, b) },
  { name: 'matmul, batch broadcast [2, 1, 3, 4] · [1, 2, 4, 2]', shapes: [[2, 1, 3, 4], [1, 2, 4, 2]], f: ([a, b]) => matmul(a, b) },
  { name: 'linear with bias', shapes: [[2, 3, 4], [5, 4], [5]], f: ([x, w, b]) => linear(x, w, b) },
  { name: 'linear without bias', shapes: [[3, 4], [2, 4]], f: ([x, w]) => linear(x, w) },
  { name: 'reshape, permute, transpose', shapes: [[2, 3, 4]], f: ([a]) => transpose(permute(reshape(a, [4, -1, 2]), [2, 0, 1]), 0, 2) },
  { name: 'broadcastTo [3, 1] → [2, 3, 4]', shapes: [[3, 1]], f: ([a]) => broadcastTo(a, [2, 3, 4]) },
  { name: 'narrow dim 1', shapes: [[2, 5, 3]], f: ([a]) => narrow(a, 1, 1, 3) },
  { name: 'concat dim 1 of three', shapes: [[2, 1, 3], [2, 2, 3], [2, 3, 3]], f: (xs) => concat(xs, 1) },
  { name: 'tanh', shapes: [[3, 4]], f: ([a]) => tanh(a) },
  { name: 'sum and mean', shapes: [[3, 4]], f: ([a]) => add(mul(sum(a), 0.3), mean(mul(a, a))) },
  { name: 'softmax over the last dim', shapes: [[2, 3, 5]], f: ([a]) => softmax(a), scale: 2 },
  { name: 'layerNorm with weight and bias', shapes: [[2, 3, 6], [6], [6]], f: ([x, w, b]) => layerNorm(x, w, b) },
  { name: 'layerNorm without affine, eps 0.1', shapes: [[4, 5]], f: ([x]) => layerNorm(x, null, null, 0.1) },
  { name: 'gelu (exact)', shapes: [[4, 6]], f: ([a]) => gelu(a), scale: 3 },
  { name: 'embedding with repeated ids', shapes: [[5, 3]], f: ([w]) => embedding(w, ids) },
  { name: 'crossEntropy with ignoreIndex', shapes: [[2, 3, 5]], f: ([x]) => crossEntropy(x, targets), scale: 2 },
  {
    name: 'crossEntropy, label smoothing 0.2, sum',
    shapes: [[2, 3, 5]],
    f: ([x]) => crossEntropy(x, targets, { labelSmoothing: 0.2, reduction: 'sum' }),
  },
  // A fresh generator per evaluation: the same mask every time, as finite differences need.
  { name: 'dropout p = 0.4 (seeded)', shapes: [[4, 5]], f: ([a]) => dropout(a, 0.4, new Rng(3)) },
];

describe('op gradients equal central finite differences (float64)', () => {
  cases.forEach((c, n) => {
    test(c.name, () => {
      const xs = c.shapes.map((s, i) => leaf64(s, 100 * n + i, c.scale ?? 1));
      const worst = checkGradients(() => weightedSum(c.f(xs)), xs);
      assert.ok(worst < 1e-7, `float64 gradients should be far below the bar; worst ${worst}`);
    });
  });
});

describe('op values', () => {
  test('softmax rows sum to 1, and a row of -Infinity gives zeros and no NaN gradient', () => {
    const x = new Var(new Float64Array([1, 2, 3, -Infinity, -Infinity, -Infinity, 0, -Infinity, 5]), { shape: [3, 3], requiresGrad: true });
    const y = softmax(x);
    assert.ok(Math.abs(y.data[0] + y.data[1] + y.data[2] - 1) < 1e-15);
    assert.deepEqual(Array.from(y.data.subarray(3, 6)), [0, 0, 0]);
    assert.equal(y.data[7], 0);
    backward(weightedSum(y));
    assert.ok(x.gradData!.every((g) => Number.isFinite(g)));
    assert.ok(x.gradData!.subarray(3, 6).every((g) => g === 0));
  });

  test('layerNorm output has mean 0 and variance 1 per row (biased, eps 1e-5)', () => {
    const x = leaf64([3, 8], 5, 4);
    const y = layerNorm(x);
    for (let r = 0; r < 3; r++) {
      const row = Array.from(y.data.subarray(r * 8, r * 8 + 8));
      const mu = row.reduce((a, b) => a + b, 0) / 8;
      const v = row.reduce((a, b) => a + (b - mu) ** 2, 0) / 8;
      assert.ok(Math.abs(mu) < 1e-12);
      // var(x̂) = var / (var + eps), slightly below 1
      assert.ok(v < 1 && v > 1 - 1e-5);
    }
  });

  test('crossEntropy of uniform logits is log V; ignored targets do not count; all ignored is NaN', () => {
    const logits = new Var(new Float64Array(3 * 4), { shape: [3, 4] });
    assert.ok(Math.abs(crossEntropy(logits, Tensor.from([0, 3, -100])).item() - Math.log(4)) < 1e-15);
    assert.ok(Number.isNaN(crossEntropy(logits, Tensor.from([-100, -100, -100])).item()));
    const peaked = new Var(new Float64Array([10, 0, 0, 0]), { shape: [1, 4] });
    const expected = Math.log(Math.exp(10) + 3) - 10;
    assert.ok(Math.abs(crossEntropy(peaked, Tensor.from([0])).item() - expected) < 1e-14);
  });

  test('dropout: identity in eval or with p = 0, reproducible with a seed, keeps about 1 − p scaled by 1 / (1 − p)', () => {
    const x = new Var(Tensor.ones([100, 100]));
    assert.equal(dropout(x, 0.3, new Rng(1), false), x);
    assert.equal(dropout(x, 0, new Rng(1)), x);
    const a = dropout(x, 0.3, new Rng(7));
    const b = dropout(x, 0.3, new Rng(7));
    assertBitwiseEqual(a.data, b.data, 'same seed, same mask');
    const kept = a.data.filter((v) => v !== 0);
    assert.ok(Math.abs(kept.length / 10000 - 0.7) < 0.02, `kept ${kept.length}`);
    assert.ok(kept.every((v) => Math.abs(v - 1 / 0.7) < 1e-6));
    assert.ok(dropout(x, 1, new Rng(1)).data.every((v) => v === 0));
  });

  test('gelu matches x · Φ(x) at known points', () => {
    // Φ from Python's math.erf: 0.5 · (1 + erf(x / √2))
    const x = new Var(new Float64Array([-3, -1, 0, 0.5, 2]));
    const phi = [0.0013498980316301035, 0.15865525393145707, 0.5, 0.6914624612740131, 0.9772498680518208];
    const y = gelu(x);
    phi.forEach((p, i) => assert.ok(Math.abs(y.data[i] - x.data[i] * p) < 1e-15 * Math.max(1, Math.abs(x.data[i]))));
  });
});

describe('the tape', () => {
  test('a Var used twice gets the sum of both gradients; leaves accumulate until zeroGrad', () => {
    const x = new Var(new Float64Array([2, -3]), { requiresGrad: true });
    backward(sum(add(mul(x, x), x))); // d/dx (x² + x) = 2x + 1
    assert.deepEqual(Array.from(x.gradData!), [5, -5]);
    backward(sum(mul(x, 3)));
    assert.deepEqual(Array.from(x.gradData!), [8, -2]);
    x.zeroGrad();
    assert.equal(x.gradData, null);
  });

  test('constants get no gradient, and noGrad records nothing', () => {
    const c = new Var(new Float64Array([1, 2]));
    const x = new Var(new Float64Array([3, 4]), { requiresGrad: true });
    backward(sum(mul(c, x)));
    assert.equal(c.gradData, null);
    assert.deepEqual(Array.from(x.gradData!), [1, 2]);
    const y = noGrad(() => mul(x, x));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.parents.length, 0);
    assert.throws(() => backward(sum(y)), (e: unknown) => isQkvError(e, 'E_ARGUMENT') && /backward: root does not require a gradient/.test(e.message));
  });

  test('an explicit output gradient seeds a non-scalar root; a non-scalar root without one is refused', () => {
    const x = new Var(new Float64Array([1, 2, 3]), { requiresGrad: true });
    const y = mul(x, 2);
    backward(y, new Float64Array([1, 0, -1]));
    assert.deepEqual(Array.from(x.gradData!), [2, 0, -2]);
    assert.throws(() => backward(y), (e: unknown) => isQkvError(e, 'E_SHAPE') && /backward: .*scalar.*\[3\]/.test(e.message));
  });

  test('float32 stays float32, float64 wins when mixed; float32 values are shared with Tensors', () => {
    const t = Tensor.randn([2, 3], 1);
    const a = new Var(t, { requiresGrad: true });
    assert.equal(a.value.data, t.data);
    const b = leaf64([2, 3], 2);
    assert.equal(add(a, a).dtype, 'float32');
    assert.equal(add(a, b).dtype, 'float64');
    backward(sum(add(a, b)));
    assert.ok(a.gradData instanceof Float32Array && b.gradData instanceof Float64Array);
  });

  test('a deep chain (20 000 ops) back-propagates without recursion', () => {
    const x = new Var(new Float64Array([1]), { requiresGrad: true });
    let y: Var = x;
    for (let i = 0; i < 20000; i++) y = add(y, 0.5);
    backward(y);
    assert.equal(x.gradData![0], 1);
  });

  test('float32 gradients are close to float64 ones', () => {
    const x64 = leaf64([3, 4], 8);
    const w64 = leaf64([5, 4], 9);
    const x32 = new Var(new Tensor(Float32Array.from(x64.data), [3, 4]), { requiresGrad: true });
    const w32 = new Var(new Tensor(Float32Array.from(w64.data), [5, 4]), { requiresGrad: true });
    const f = (x: Var, w: Var) => weightedSum(gelu(layerNorm(linear(x, w))));
    backward(f(x64, w64));
    backward(f(x32, w32));
    assertRelClose(x32.gradData!, x64.gradData!, 1e-6, 'dx');
    assertRelClose(w32.gradData!, w64.gradData!, 1e-6, 'dw');
  });
});

describe('op errors name the op, the argument and the shapes', () => {
  const a = new Var(Tensor.zeros([2, 3]));
  const cases: [() => unknown, RegExp][] = [
    [() => add(a, new Var(Tensor.zeros([4]))), /^add: a and b must broadcast .*got a \[2, 3\], b \[4\]/],
    [() => matmul(a, a), /^matmul: a must be \[\.\.\., M, K\] and b \[\.\.\., K, P\].*got a \[2, 3\], b \[2, 3\]/],
    [() => linear(a, Tensor.zeros([4, 2])), /^linear: x must be \[\.\.\., K\], weight \[O, K\].*got x \[2, 3\], weight \[4, 2\]/],
    [() => reshape(a, [4]), /^reshape: cannot reshape x \[2, 3\]/],
    [() => layerNorm(a, Tensor.zeros([2])), /^layerNorm: x must be \[\.\.\., D\].*got x \[2, 3\], weight \[2\]/],
    [() => embedding(Tensor.zeros([4, 2]), Tensor.from([1, 4])), /^embedding: ids must hold integers in \[0, 4\); got 4 at index 1/],
    [() => crossEntropy(a, Tensor.from([1, 2, 0])), /^crossEntropy: logits must be \[\.\.\., V\] and targets \[\.\.\.\].*got logits \[2, 3\], targets \[3\]/],
    [() => dropout(a, 1.5, new Rng(1)), /^dropout: p must be in \[0, 1\]/],
    [() => concat([a, Tensor.zeros([3, 3])], 1), /^concat: every x must match in all dims but 1; got \[2, 3\], \[3, 3\]/],
  ];
  test('each bad call throws a QkvError with its message', () => {
    for (const [call, message] of cases) {
      assert.throws(call, (e: unknown) => isQkvError(e) && message.test(e.message));
    }
  });
});
