// AdamW's rules beyond the PyTorch fixture (tests/parity/autograd.test.ts), the warmup + cosine schedule, and global
// gradient-norm clipping.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { isQkvError } from '../../../src/core/errors.js';
import { Var } from '../../../src/autograd/var.js';
import { AdamW } from '../../../src/optim/adamw.js';
import { clipGradNorm } from '../../../src/optim/clip.js';
import { cosineWithWarmup } from '../../../src/optim/schedule.js';

const param = (values: number[], grad: number[] | null) => {
  const p = new Var(Float64Array.from(values), { requiresGrad: true });
  p.gradData = grad && Float64Array.from(grad);
  return p;
};

describe('AdamW', () => {
  test('the first step moves each weight by lr · sign(g) (bias correction), after decoupled decay', () => {
    const p = param([1, -2, 3], [0.5, -4, 1e-3]);
    new AdamW([p], { lr: 0.1, weightDecay: 0.5, eps: 0 }).step();
    // θ · (1 − lr · λ) − lr · g / |g|
    [0.85, -1.8, 2.75].forEach((want, i) => assert.ok(Math.abs(p.data[i] - want) < 1e-12, `θ[${i}] = ${p.data[i]}`));
  });

  test('a parameter without a gradient is neither decayed nor counted', () => {
    const p = param([1], null);
    const opt = new AdamW([p], { weightDecay: 0.5 });
    opt.step();
    assert.equal(p.data[0], 1);
    assert.equal(opt.stepCount(p), 0);
  });

  test('rejects out-of-range options, naming them', () => {
    assert.throws(() => new AdamW([], { betas: [0.9, 1] }), (e: unknown) => isQkvError(e, 'E_ARGUMENT') && /AdamW: betas\[1\]/.test(e.message));
    assert.throws(() => new AdamW([], { lr: -1 }), /AdamW: lr/);
  });
});

describe('cosineWithWarmup', () => {
  const o = { baseLr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.1 };
  const table: [number, number][] = [
    [0, 0], [5, 0.5], [10, 1], [60, 0.55], [110, 0.1], [500, 0.1],
    [35, 0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 4))],
  ];
  for (const [step, lr] of table) {
    test(`step ${step} → ${lr.toFixed(4)}`, () => assert.ok(Math.abs(cosineWithWarmup(step, o) - lr) < 1e-12));
  }
  test('decreases monotonically after warmup; no warmup starts at the peak', () => {
    for (let s = 10; s < 110; s++) assert.ok(cosineWithWarmup(s + 1, o) <= cosineWithWarmup(s, o));
    assert.equal(cosineWithWarmup(0, { baseLr: 3, warmupSteps: 0, totalSteps: 5 }), 3);
    assert.throws(() => cosineWithWarmup(0, { baseLr: 1, warmupSteps: 5, totalSteps: 2 }), /cosineWithWarmup: warmupSteps and totalSteps/);
  });
});

describe('clipGradNorm', () => {
  test('returns the global 2-norm and scales every gradient to maxNorm when above', () => {
    const a = param([0, 0], [3, 0]);
    const b = param([0], [4]);
    const none = param([0], null);
    assert.equal(clipGradNorm([a, b, none], 1), 5);
    const after = Math.hypot(a.gradData![0], b.gradData![0]);
    assert.ok(Math.abs(after - 1) < 1e-6);
    assert.ok(Math.abs(a.gradData![0] / b.gradData![0] - 0.75) < 1e-12, 'directions kept');
  });

  test('leaves gradients below the limit alone; the inf-norm is the largest |g|', () => {
    const a = param([0, 0], [0.3, -0.4]);
    assert.ok(Math.abs(clipGradNorm([a], 1) - 0.5) < 1e-15);
    assert.deepEqual(Array.from(a.gradData!), [0.3, -0.4]);
    assert.equal(clipGradNorm([a], 10, Infinity), 0.4);
  });
});
