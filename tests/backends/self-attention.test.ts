// The wasm backend's fused self-attention (src/kernels/wasm/self-attention.ts): MultiHeadAttention.forward with packed
// weights in one backend call. It must give the bits of the composed path (projection, heads split, attention, heads
// merged, projection), which forwardVar records step by step on the same kernels, for every option it takes, on one
// and on two threads; it must really run (not decline) on finite inputs, and decline on non-finite ones.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  MultiHeadAttention,
  type MultiHeadAttentionOptions,
  Tensor,
  isQkvError,
  scaledDotProductAttention,
} from '../../src/index.js';
import { type SelfAttentionProblem, runLinear } from '../../src/kernels/backend.js';
import { getNumThreads, setNumThreads } from '../../src/kernels/wasm/index.js';
import { poolStats } from '../../src/kernels/wasm/pool.js';
import { wasmSelfAttention } from '../../src/kernels/wasm/self-attention.js';
import { scoreSettings } from '../../src/ops/attention.js';
import { assertBitwiseEqual } from '../tolerances.js';
import { DEFAULT_POOL_MIN_FLOPS, setPoolTestHooks } from './pool-hooks/index.js';

/** Small, odd and large head sizes: d = 8, 3, 65. */
const MODULES = [
  { embedDim: 24, numHeads: 3, seed: 1 },
  { embedDim: 12, numHeads: 4, bias: false, seed: 2 },
  { embedDim: 130, numHeads: 2, seed: 3 },
];

interface Case {
  name: string;
  B: number;
  N: number;
  options: (B: number, H: number, N: number) => MultiHeadAttentionOptions;
}

const CASES: Case[] = [
  { name: 'plain, one token', B: 1, N: 1, options: () => ({}) },
  { name: 'plain', B: 3, N: 5, options: () => ({}) },
  { name: 'causal, a partial query tile', B: 2, N: 70, options: () => ({ causal: true }) },
  { name: 'bottom-right causal', B: 1, N: 9, options: () => ({ causal: 'bottom-right' }) },
  {
    name: 'key padding mask and weights per head',
    B: 2,
    N: 66,
    options: (B, _H, N) => ({
      mask: new Tensor(Float32Array.from({ length: B * N }, (_, i) => (i % 7 === 3 ? 0 : 1)), [B, 1, 1, N]),
      returnWeights: true,
      averageWeights: false,
    }),
  },
  {
    name: 'bias per head with -Infinity, averaged weights',
    B: 1,
    N: 33,
    options: (_B, H, N) => {
      const bias = Tensor.randn([H, N, N], 9);
      bias.data[5] = -Infinity;
      return { bias, returnWeights: true };
    },
  },
  { name: 'mask that blocks whole rows', B: 1, N: 12, options: (_B, _H, N) => ({ mask: Tensor.zeros([N, N]), causal: true }) },
];

/** The attention weights [B, H, N, N] of the composed path: the wasm projection, split into heads, then the wasm SDPA. */
function composedWeights(mha: MultiHeadAttention, x: Tensor, options: MultiHeadAttentionOptions): Tensor {
  const [B, N, D] = x.shape;
  const H = mha.numHeads;
  const d = D / H;
  const W = mha.inProjWeightParam!.value.data; // [3D, D]
  const qkv = runLinear('test', x.data, B * N, D, W, 3 * D, mha.inProjBias?.data ?? null, 'wasm'); // [B·N, 3D]
  const heads = new Tensor(qkv, [B, N, 3, H, d]).permute([2, 0, 3, 1, 4]).clone().data; // [3, B, H, N, d]
  const part = (i: number) => new Tensor(heads.slice(i * B * H * N * d, (i + 1) * B * H * N * d), [B, H, N, d]);
  const { mask, bias, causal } = options;
  const sdpa = scaledDotProductAttention(part(0), part(1), part(2), { mask, bias, causal, returnWeights: true, backend: 'wasm' });
  return sdpa.weights!;
}

for (const threads of [1, 2]) {
  describe(`fused self-attention equals the composed path bit for bit [wasm-${threads}]`, () => {
    let threadsBefore = 1;
    before(() => {
      threadsBefore = getNumThreads();
      setNumThreads(threads);
      setPoolTestHooks({ minFlops: threads > 1 ? 0 : DEFAULT_POOL_MIN_FLOPS });
    });
    after(() => {
      setPoolTestHooks({ minFlops: DEFAULT_POOL_MIN_FLOPS });
      setNumThreads(threadsBefore);
    });

    for (const config of MODULES) {
      for (const c of CASES) {
        test(`D = ${config.embedDim}, H = ${config.numHeads}: ${c.name} (B = ${c.B}, N = ${c.N})`, () => {
          const mha = new MultiHeadAttention(config);
          const x = Tensor.randn([c.B, c.N, config.embedDim], 11); // [B, N, D]
          const options: MultiHeadAttentionOptions = { ...c.options(c.B, config.numHeads, c.N), backend: 'wasm' };
          const jobs = poolStats().jobs;
          const fused = mha.forward(x, x, x, options);
          if (threads > 1 && c.N * c.B > 1) assert.ok(poolStats().jobs > jobs, 'the pool ran the fused jobs');
          const composed = mha.forwardVar(x, x, x, options); // the same kernels, step by step
          assertBitwiseEqual(fused.output.data, composed.data, 'output');
          if (options.returnWeights === true) {
            const perHead = mha.forward(x, x, x, { ...options, averageWeights: false }).weights!; // [B, H, N, N]
            assertBitwiseEqual(perHead.data, composedWeights(mha, x, options).data, 'weights');
            assert.deepEqual(fused.weights!.shape, options.averageWeights === false ? [c.B, config.numHeads, c.N, c.N] : [c.B, c.N, c.N]);
          }
        });
      }
    }

    test('unbatched input gives the batched result without its batch dim', () => {
      const mha = new MultiHeadAttention({ embedDim: 24, numHeads: 3, seed: 4 });
      const x = Tensor.randn([7, 24], 5); // [N, D]
      const unbatched = mha.forward(x, x, x, { causal: true, backend: 'wasm' });
      assert.deepEqual(unbatched.output.shape, [7, 24]);
      assertBitwiseEqual(unbatched.output.data, mha.forwardVar(x, x, x, { causal: true, backend: 'wasm' }).data, 'output');
    });
  });
}

describe('wasmSelfAttention runs or declines', () => {
  const D = 16;
  const H = 2;
  const N = 6;
  const mha = new MultiHeadAttention({ embedDim: D, numHeads: H, seed: 6 });
  const problem = (x: Tensor): SelfAttentionProblem => ({
    B: 1,
    N,
    D,
    H,
    x: x.data,
    inWeight: mha.inProjWeightParam!.value.data,
    inBias: mha.inProjBias?.data ?? null,
    outWeight: mha.outProjWeight.data,
    outBias: mha.outProjBias?.data ?? null,
    scores: scoreSettings('test', { causal: true }, [1, H, N, N], D / H),
  });

  test('it runs on finite inputs, with weights when asked', () => {
    const x = Tensor.randn([1, N, D], 7);
    const result = wasmSelfAttention(problem(x), true);
    assert.ok(result !== null, 'the fused path ran');
    assert.equal(result.output.length, N * D);
    assert.equal(result.weights!.length, H * N * N);
    assertBitwiseEqual(result.output, mha.forwardVar(x, x, x, { causal: true, backend: 'wasm' }).data, 'output');
    // causal weights: row i has i + 1 allowed keys and sums to 1
    for (let i = 0; i < N; i++) {
      const row = result.weights!.subarray(i * N, (i + 1) * N);
      assert.ok(row.subarray(i + 1).every((w) => w === 0), `row ${i} is causal`);
      assert.ok(Math.abs(row.reduce((a, w) => a + w, 0) - 1) < 1e-6, `row ${i} sums to 1`);
    }
  });

  test('it declines when the projection holds NaN or ±Inf, and forward then composes the steps', () => {
    const x = Tensor.randn([1, N, D], 8);
    x.data[3] = Number.NaN;
    assert.equal(wasmSelfAttention(problem(x), false), null);
    const out = mha.forward(x, x, x, { causal: true, backend: 'wasm' }).output;
    assertBitwiseEqual(out.data, mha.forwardVar(x, x, x, { causal: true, backend: 'wasm' }).data, 'output');
  });

  test('forward checks the backend choice before it runs anything', () => {
    const x = Tensor.randn([1, N, D], 9);
    assert.throws(
      () => mha.forward(x, x, x, { backend: 'gpu' as never }),
      (e: unknown) => isQkvError(e, 'E_ARGUMENT') && /MultiHeadAttention\.forward: backend must be/.test(e.message),
    );
  });
});
