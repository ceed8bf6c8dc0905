// The attention node: its float64 graph from primitives against central finite differences, and the fused float32
// node (forward kernel + scaledDotProductAttentionBackward) against the same differences, over broadcasting,
// grouped-query heads, masks with an empty row, causal alignments, softcap, scale and a learned bias.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Tensor } from '../../../src/core/tensor.js';
import { scaledDotProductAttention } from '../../../src/ops/attention.js';
import { type VarAttentionOptions, attention } from '../../../src/autograd/attention.js';
import { Var, backward } from '../../../src/autograd/var.js';
import { TOL, assertRelClose } from '../../tolerances.js';
import { checkGradients, finiteDifferences, leaf64, toFloat32Leaf, weightedSum } from './gradcheck.js';

interface Case {
  name: string;
  q: number[];
  k: number[];
  v: number[];
  options?: VarAttentionOptions;
  /** Shape of a learned bias (a Var), when the case has one. */
  learnedBias?: number[];
}

const emptyRowMask = Tensor.ones([2, 1, 3, 5]);
emptyRowMask.data.fill(0, 5, 10); // batch 0, query row 1: no allowed key
emptyRowMask.data[17] = 0;

const negInfBias = Tensor.randn([3, 5], 4);
negInfBias.data[2] = -Infinity;
negInfBias.data[9] = -Infinity;

const cases: Case[] = [
  { name: '[B, H, N, d] with S ≠ N and dv ≠ d', q: [2, 2, 3, 4], k: [2, 2, 5, 4], v: [2, 2, 5, 3] },
  { name: 'grouped-query heads H 4, Hkv 2, causal bottom-right', q: [1, 4, 3, 4], k: [1, 2, 5, 4], v: [1, 2, 5, 4], options: { causal: 'bottom-right' } },
  { name: 'multi-query (Hkv 1), causal top-left', q: [2, 3, 4, 2], k: [2, 1, 4, 2], v: [2, 1, 4, 2], options: { causal: true } },
  { name: 'broadcast batch and a mask with an empty row', q: [2, 1, 3, 4], k: [1, 3, 5, 4], v: [1, 3, 5, 2], options: { mask: emptyRowMask } },
  { name: 'softcap 1.5, scale −0.7 and a learned bias [N, S]', q: [2, 2, 3, 4], k: [2, 2, 5, 4], v: [2, 2, 5, 4], options: { softcap: 1.5, scale: -0.7 }, learnedBias: [3, 5] },
  { name: 'a constant bias with −Infinity entries', q: [1, 2, 3, 4], k: [1, 2, 5, 4], v: [1, 2, 5, 4], options: { bias: negInfBias } },
];

describe('attention gradients equal central finite differences', () => {
  cases.forEach((c, n) => {
    test(c.name, () => {
      const q = leaf64(c.q, 10 * n + 1);
      const k = leaf64(c.k, 10 * n + 2);
      const v = leaf64(c.v, 10 * n + 3);
      const bias = c.learnedBias ? leaf64(c.learnedBias, 10 * n + 4) : null;
      const vars = bias ? [q, k, v, bias] : [q, k, v];
      const options = (qkv: Var[]): VarAttentionOptions => (qkv[3] ? { ...c.options, bias: qkv[3] } : c.options ?? {});
      const loss = (qkv: Var[]) => weightedSum(attention(qkv[0], qkv[1], qkv[2], options(qkv)));

      // float64: the graph from primitives
      checkGradients(() => loss(vars), vars, ['query', 'key', 'value', 'bias']);
      const fd = finiteDifferences(() => loss(vars), vars);

      // float32: the fused kernel and the backward op
      const vars32 = vars.map(toFloat32Leaf);
      const out32 = attention(vars32[0], vars32[1], vars32[2], options(vars32));
      assert.equal(out32.op, 'attention');
      backward(weightedSum(out32));
      vars32.forEach((x, i) => assertRelClose(x.gradData!, fd[i], TOL.grad, `fused ${['query', 'key', 'value', 'bias'][i]}`));
    });
  });
});

describe('the attention node forward', () => {
  test('fused float32 equals scaledDotProductAttention bit for bit; the primitive graph agrees closely', () => {
    const q = Tensor.randn([2, 4, 3, 8], 1);
    const k = Tensor.randn([2, 2, 6, 8], 2);
    const v = Tensor.randn([2, 2, 6, 8], 3);
    const options = { causal: 'bottom-right' as const, softcap: 2 };
    const want = scaledDotProductAttention(q, k, v, options).output;
    assert.deepEqual(Array.from(attention(q, k, v, options).data), Array.from(want.data));
    assertRelClose(attention(q, k, v, { ...options, fromPrimitives: true }).data, want.data, TOL.reorder, 'from primitives');
  });

  test('an empty row outputs 0 on both paths', () => {
    const q = leaf64([2, 1, 3, 4], 1);
    const k = leaf64([1, 3, 5, 4], 2);
    const out = attention(q, k, k, { mask: emptyRowMask });
    assert.ok(out.data.subarray(4, 8).every((x) => x === 0));
    const fused = attention(toFloat32Leaf(q), toFloat32Leaf(k), toFloat32Leaf(k), { mask: emptyRowMask });
    assert.ok(fused.data.subarray(4, 8).every((x) => x === 0));
  });

  test('errors name the attention node and the shapes', () => {
    assert.throws(() => attention(Tensor.zeros([2, 3, 4]), Tensor.zeros([2, 5, 3]), Tensor.zeros([2, 5, 3])),
      /^ShapeError: attention: key must be \[\.\.\., S, d\] with d = 4 as in query; got query \[2, 3, 4\], key \[2, 5, 3\]/);
  });
});
