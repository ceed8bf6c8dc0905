// The nn blocks: PyTorch names and initialisation, train/eval, and every parameter's gradient against central finite
// differences in float64 (Module.double()); the same gradients computed in float32 through the fused attention must
// agree with those differences too.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Rng } from '../../../src/core/random.js';
import { Tensor } from '../../../src/core/tensor.js';
import { isQkvError } from '../../../src/core/errors.js';
import { type Var, backward } from '../../../src/autograd/var.js';
import { TransformerEncoderLayer } from '../../../src/nn/encoder-layer.js';
import { FeedForward } from '../../../src/nn/feed-forward.js';
import { Dropout, Embedding, LayerNorm, Linear } from '../../../src/nn/layers.js';
import { type Module } from '../../../src/nn/module.js';
import { MultiHeadAttention, type MultiHeadAttentionVarOptions } from '../../../src/nn/multihead-attention.js';
import { PositionalEncoding, sinusoidalPositionalEncoding } from '../../../src/nn/positional-encoding.js';
import { TOL, assertBitwiseEqual, assertRelClose } from '../../tolerances.js';
import { checkGradients, finiteDifferences, leaf64, weightedSum } from '../autograd/gradcheck.js';

/** Non-zero biases and LayerNorm parameters away from 1 / 0, so that every parameter's gradient is exercised. */
function perturb<M extends Module>(m: M, seed: number): M {
  const rng = new Rng(seed);
  for (const p of m.parameters()) for (let i = 0; i < p.size; i++) p.data[i] += 0.2 * rng.normal();
  return m;
}

/**
 * Checks every parameter's gradient (and the input's) of `loss` in float64 against central differences, then the
 * float32 gradients (fused attention) against the same differences.
 */
function checkModule(m: Module, input: Var, loss: (x: Var) => Var): void {
  const named = m.namedParameters();
  const vars = [input, ...named.map(([, p]) => p)];
  const names = ['input', ...named.map(([n]) => n)];
  const original = named.map(([, p]) => p.data.slice());
  m.double();
  checkGradients(() => loss(input), vars, names);
  const fd = finiteDifferences(() => loss(input), vars);

  m.float();
  named.forEach(([, p], i) => assertBitwiseEqual(p.data, original[i], 'float() restores the float32 values'));
  const x32 = new (input.constructor as typeof Var)(new Tensor(Float32Array.from(input.data), input.shape), { requiresGrad: true });
  backward(loss(x32));
  assertRelClose(x32.gradData!, fd[0], TOL.grad, 'float32 input gradient');
  named.forEach(([name, p], i) => assertRelClose(p.gradData!, fd[i + 1], TOL.grad, `float32 ${name} gradient`));
}

describe('layers follow PyTorch', () => {
  test('Linear: weight [O, K] and bias [O] in U(±1/√K), seeded', () => {
    const a = new Linear(16, 4, { seed: 3 });
    const b = new Linear(16, 4, { seed: 3 });
    assert.deepEqual(a.namedParameters().map(([n, p]) => [n, p.shape]), [['weight', [4, 16]], ['bias', [4]]]);
    assertBitwiseEqual(a.weight.data, b.weight.data, 'same seed');
    assert.ok(a.parameters().every((p) => p.data.every((x) => Math.abs(x) <= 0.25)));
    assert.ok(a.weight.data.some((x) => Math.abs(x) > 0.2), 'fills the range');
    assert.deepEqual(new Linear(3, 2, { bias: false }).namedParameters().map(([n]) => n), ['weight']);
  });

  test('LayerNorm starts at weight 1, bias 0; Embedding is N(0, 1)', () => {
    const ln = new LayerNorm(5);
    assert.ok(ln.weight!.data.every((x) => x === 1) && ln.bias!.data.every((x) => x === 0));
    assert.equal(new LayerNorm(5, { elementwiseAffine: false }).parameters().length, 0);
    const e = new Embedding(100, 50, { seed: 1 });
    const mean = Array.from(e.weight.data).reduce((s, x) => s + x, 0) / e.weight.size;
    const variance = Array.from(e.weight.data).reduce((s, x) => s + x * x, 0) / e.weight.size;
    assert.ok(Math.abs(mean) < 0.05 && Math.abs(variance - 1) < 0.05);
  });

  test('the encoder layer has exactly PyTorch\'s parameter names, in its order', () => {
    const layer = new TransformerEncoderLayer({ hiddenSize: 8, numAttentionHeads: 2, intermediateSize: 16 });
    assert.deepEqual(layer.namedParameters().map(([n, p]) => `${n} [${p.shape.join(', ')}]`), [
      'self_attn.in_proj_weight [24, 8]',
      'self_attn.in_proj_bias [24]',
      'self_attn.out_proj.weight [8, 8]',
      'self_attn.out_proj.bias [8]',
      'linear1.weight [16, 8]',
      'linear1.bias [16]',
      'linear2.weight [8, 16]',
      'linear2.bias [8]',
      'norm1.weight [8]',
      'norm1.bias [8]',
      'norm2.weight [8]',
      'norm2.bias [8]',
    ]);
  });

  test('train() / eval() reach every dropout; eval is deterministic, training is seeded', () => {
    const make = () => new TransformerEncoderLayer({ hiddenSize: 8, numAttentionHeads: 2, dropout: 0.5, seed: 4 });
    const x = Tensor.randn([2, 3, 8], 1);
    const layer = make().eval();
    assert.ok([layer.dropout1, layer.dropout2, layer.ff.dropout].every((d) => !d.training));
    assertBitwiseEqual(layer.forward(x).data, layer.forward(x).data, 'eval is deterministic');
    layer.train();
    const a = layer.forward(x).data;
    assert.notDeepEqual(Array.from(a), Array.from(layer.forward(x).data), 'fresh masks each call');
    assertBitwiseEqual(make().forward(x).data, a, 'the same seed draws the same masks');
  });

  test('sinusoidal positions: sin on even columns, cos on odd, with 10000^(2i/D)', () => {
    const pe = sinusoidalPositionalEncoding(6, 4);
    assert.equal(pe.at(0, 1), 1);
    assert.equal(pe.at(0, 0), 0);
    assert.equal(pe.at(3, 0), Math.fround(Math.sin(3)));
    assert.equal(pe.at(5, 3), Math.fround(Math.cos(5 / 100)));
    const enc = new PositionalEncoding(4, { maxLength: 6 });
    assertBitwiseEqual(enc.forward(Tensor.zeros([2, 6, 4])).data.subarray(24), pe.data, 'added to every batch');
    assert.throws(() => enc.forward(Tensor.zeros([1, 7, 4])), (e: unknown) => isQkvError(e, 'E_SHAPE') && /N ≤ 6; got \[1, 7, 4\]/.test(e.message));
  });

  test('Dropout checks p', () => {
    assert.throws(() => new Dropout(-0.1), /Dropout: p must be in \[0, 1\]/);
  });
});

describe('module gradients equal central finite differences', () => {
  test('Linear and LayerNorm', () => {
    const fc = perturb(new Linear(5, 3, { seed: 1 }), 2);
    checkModule(fc, leaf64([2, 4, 5], 3), (x) => weightedSum(fc.forward(x)));
    const ln = perturb(new LayerNorm(6), 4);
    checkModule(ln, leaf64([3, 6], 5, 2), (x) => weightedSum(ln.forward(x)));
  });

  test('FeedForward (GELU) with dropout masks drawn the same way every time', () => {
    const ff = perturb(new FeedForward({ hiddenSize: 4, intermediateSize: 8, dropout: 0.3, seed: 2 }), 6);
    const seeded = (x: Var) => {
      (ff.dropout as { rng: Rng }).rng = new Rng(5); // a fixed mask, as finite differences need
      return weightedSum(ff.forward(x));
    };
    checkModule(ff, leaf64([2, 3, 4], 7), seeded);
  });

  const mhaCases: { name: string; mha: () => MultiHeadAttention; q: number[]; kv?: [number[], number[]]; options?: MultiHeadAttentionVarOptions }[] = [
    { name: 'packed self-attention, causal', mha: () => new MultiHeadAttention({ embedDim: 8, numHeads: 2, seed: 1 }), q: [2, 4, 8], options: { causal: true } },
    {
      name: 'kdim/vdim cross-attention with bias_k/bias_v, a zero key and a padding mask',
      mha: () => new MultiHeadAttention({ embedDim: 6, numHeads: 2, kdim: 5, vdim: 3, addBiasKv: true, addZeroAttn: true, seed: 2 }),
      q: [2, 3, 6],
      kv: [[2, 4, 5], [2, 4, 3]],
      options: { mask: Tensor.from([[[[1, 0, 1, 1]]], [[[1, 1, 0, 0]]]]) },
    },
    { name: 'grouped-query heads (H 4, Hkv 2), causal + bias_kv', mha: () => new MultiHeadAttention({ embedDim: 8, numHeads: 4, numKvHeads: 2, addBiasKv: true, seed: 3 }), q: [1, 5, 8], options: { causal: true } },
    { name: 'unbatched with an additive bias, no biases', mha: () => new MultiHeadAttention({ embedDim: 4, numHeads: 2, bias: false, seed: 4 }), q: [3, 4], options: { bias: Tensor.randn([2, 3, 3], 9) } },
  ];
  for (const c of mhaCases) {
    test(`MultiHeadAttention: ${c.name}`, () => {
      const mha = perturb(c.mha(), 8);
      const query = leaf64(c.q, 10);
      if (c.kv === undefined) {
        checkModule(mha, query, (x) => weightedSum(mha.forwardVar(x, x, x, c.options)));
      } else {
        const key = leaf64(c.kv[0], 11);
        const value = leaf64(c.kv[1], 12);
        checkModule(mha, query, (x) => weightedSum(mha.forwardVar(x, key, value, c.options)));
      }
      assert.ok(mha.parameters().every((p) => p.gradData !== null && p.gradData.some((g) => g !== 0)), 'every parameter gets a gradient');
    });
  }

  test('TransformerEncoderLayer (pre-norm) with a padding mask and causal attention', () => {
    const layer = perturb(new TransformerEncoderLayer({ hiddenSize: 8, numAttentionHeads: 2, intermediateSize: 12, dropout: 0, seed: 5 }), 9);
    const mask = Tensor.from([[[[1, 1, 1, 1]]], [[[1, 1, 1, 0]]]]); // [B, 1, 1, S]
    checkModule(layer, leaf64([2, 4, 8], 13), (x) => weightedSum(layer.forward(x, { mask, causal: true })));
  });
});

describe('MultiHeadAttention.forwardVar is the inference path, recorded', () => {
  const configs = [
    { embedDim: 8, numHeads: 2, seed: 1 },
    { embedDim: 12, numHeads: 3, kdim: 5, vdim: 7, addBiasKv: true, addZeroAttn: true, seed: 2 },
    { embedDim: 8, numHeads: 4, numKvHeads: 2, seed: 3 },
  ];
  for (const config of configs) {
    test(`equals forward bit for bit: ${JSON.stringify(config)}`, () => {
      const mha = perturb(new MultiHeadAttention(config), 1);
      const q = Tensor.randn([2, 4, config.embedDim], 1);
      const k = Tensor.randn([2, 5, config.kdim ?? config.embedDim], 2);
      const v = Tensor.randn([2, 5, config.vdim ?? config.embedDim], 3);
      const mask = Tensor.from([[[[1, 1, 0, 1, 1]]], [[[0, 1, 1, 1, 1]]]]);
      assertBitwiseEqual(mha.forwardVar(q, k, v, { mask }).data, mha.forward(q, k, v, { mask }).output.data, 'cross-attention');
      if (!mha.packed && config.kdim !== undefined) return; // self-attention needs Dk = Dv = D
      assertBitwiseEqual(mha.forwardVar(q).data, mha.forward(q).output.data, 'self-attention');
      assertBitwiseEqual(mha.forwardVar(q, q, q, { causal: true }).data, mha.forward(q, q, q, { causal: true }).output.data, 'causal');
    });
  }

  test('parameter tensors are shared: the packed q/k/v views read in_proj_weight, assignments copy in and check shapes', () => {
    const mha = new MultiHeadAttention({ embedDim: 4, numHeads: 2, seed: 1 });
    mha.inProjWeightParam!.data[0] = 42;
    assert.equal(mha.qProjWeight.data[0], 42);
    mha.kProjWeight = Tensor.full([4, 4], 3);
    assert.ok(mha.inProjWeightParam!.data.subarray(16, 32).every((x) => x === 3));
    assert.throws(() => { mha.vProjWeight = Tensor.zeros([4, 3]); }, (e: unknown) => isQkvError(e, 'E_SHAPE') && /vProjWeight: must be \[4, 4\]; got \[4, 3\]/.test(e.message));
    assert.throws(() => { mha.biasK = Tensor.zeros([1, 1, 4]); }, /no such parameter/);
  });

  test('forwardVar checks its inputs like forward', () => {
    const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 2 });
    assert.throws(() => mha.forwardVar(Tensor.zeros([2, 3, 7])), (e: unknown) =>
      isQkvError(e, 'E_SHAPE') && e.message.startsWith('MultiHeadAttention.forwardVar: query, key and value must be [B, N, D]'));
  });
});
