// MultiHeadAttention: the key/value cache, grouped-query heads, state dicts and input checks.
// PyTorch parity lives in tests/parity/mha.test.ts.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { KVCache, MultiHeadAttention, StateDictError, Tensor, isQkvError, scaledDotProductAttention } from '../../../src/index.js';
import { TOL, assertBitwiseEqual, assertRelClose } from '../../tolerances.js';

/** Rows [from, to) of the sequence axis of [B, L, D]. */
function slice(x: Tensor, from: number, to: number): Tensor {
  const [B, L, D] = x.shape;
  const out = new Float32Array(B * (to - from) * D);
  for (let b = 0; b < B; b++) out.set(x.data.subarray((b * L + from) * D, (b * L + to) * D), b * (to - from) * D);
  return new Tensor(out, [B, to - from, D]);
}

/** Concatenates [B, Li, D] tensors along the sequence axis. */
function concat(parts: Tensor[]): Tensor {
  const [B, , D] = parts[0].shape;
  const L = parts.reduce((n, p) => n + p.shape[1], 0);
  const out = new Float32Array(B * L * D);
  for (let b = 0; b < B; b++) {
    let at = 0;
    for (const p of parts) {
      const Li = p.shape[1];
      out.set(p.data.subarray(b * Li * D, (b + 1) * Li * D), (b * L + at) * D);
      at += Li;
    }
  }
  return new Tensor(out, [B, L, D]);
}

function randomizeBiases(mha: MultiHeadAttention, seed: number): void {
  const dict = mha.stateDict();
  for (const name of ['in_proj_bias', 'out_proj.bias']) {
    if (dict[name]) dict[name] = Tensor.randn(dict[name].shape, seed++);
  }
  mha.loadStateDict(dict);
}

describe('MultiHeadAttention key/value cache', () => {
  const mha = new MultiHeadAttention({ embedDim: 16, numHeads: 4, seed: 3 });
  randomizeBiases(mha, 10);
  const x = Tensor.randn([2, 7, 16], 4); // [B, N, D]
  const full = mha.forward(x, undefined, undefined, { causal: true }).output; // [B, N, D]

  test('token by token equals one causal pass, bitwise', () => {
    const cache = mha.createCache();
    const steps: Tensor[] = [];
    for (let t = 0; t < 7; t++) {
      steps.push(mha.forward(slice(x, t, t + 1), undefined, undefined, { causal: true, cache }).output);
    }
    assert.equal(cache.length, 7);
    assertBitwiseEqual(concat(steps).data, full.data, 'cached output');
  });

  test('chunks of uneven size equal one causal pass, bitwise', () => {
    const cache = mha.createCache();
    const bounds = [0, 3, 4, 7];
    const parts: Tensor[] = [];
    for (let c = 0; c + 1 < bounds.length; c++) {
      parts.push(mha.forward(slice(x, bounds[c], bounds[c + 1]), undefined, undefined, { causal: true, cache }).output);
    }
    assertBitwiseEqual(concat(parts).data, full.data, 'chunked output');
  });

  test('without causal the cache still attends every cached token', () => {
    const cache = mha.createCache();
    mha.forward(slice(x, 0, 4), undefined, undefined, { cache });
    const last = mha.forward(slice(x, 4, 7), undefined, undefined, { cache }).output;
    const reference = mha.forward(slice(x, 4, 7), x, x).output; // queries 4..6 against all 7 keys
    assertBitwiseEqual(last.data, reference.data, 'cross-attention over the cache');
  });

  test('reset empties the cache, and a cache of another batch size is refused', () => {
    const cache = mha.createCache();
    mha.forward(slice(x, 0, 2), undefined, undefined, { cache, causal: true });
    cache.reset();
    assert.equal(cache.length, 0);
    mha.forward(slice(x, 0, 2), undefined, undefined, { cache, causal: true });
    const other = Tensor.randn([3, 1, 16], 5);
    assert.throws(() => mha.forward(other, undefined, undefined, { cache }), (e: unknown) => {
      return isQkvError(e, 'E_SHAPE') && /cache holds keys \[B, Hkv, S, d\] = \[2, 4, 2, 4\]/.test(e.message);
    });
  });

  test('a cache cannot be used with addBiasKv', () => {
    const withBias = new MultiHeadAttention({ embedDim: 8, numHeads: 2, addBiasKv: true });
    assert.throws(
      () => withBias.forward(Tensor.randn([1, 2, 8], 1), undefined, undefined, { cache: new KVCache() }),
      /cannot be combined with addBiasKv/,
    );
  });
});

describe('MultiHeadAttention grouped-query heads', () => {
  test('equals full multi-head attention whose key/value heads are repeated', () => {
    const D = 16;
    const H = 4;
    const Hkv = 2;
    const d = D / H;
    const gqa = new MultiHeadAttention({ embedDim: D, numHeads: H, numKvHeads: Hkv, seed: 7 });
    randomizeBiases(gqa, 20);
    assert.equal(gqa.packed, false);
    const g = gqa.stateDict();
    assert.deepEqual(g.k_proj_weight.shape, [Hkv * d, D]);
    assert.deepEqual(g.in_proj_bias.shape, [D + 2 * Hkv * d]);

    // Repeat each key/value head's rows H / Hkv times (repeat_interleave over heads).
    const repeatRows = (w: Float32Array, width: number): Float32Array => {
      const out = new Float32Array(H * d * width);
      for (let h = 0; h < H; h++) {
        const src = Math.floor(h / (H / Hkv));
        out.set(w.subarray(src * d * width, (src + 1) * d * width), h * d * width);
      }
      return out;
    };
    const full = new MultiHeadAttention({ embedDim: D, numHeads: H, seed: 0 });
    const bias = g.in_proj_bias.data;
    const inProjBias = new Float32Array(3 * D);
    inProjBias.set(bias.subarray(0, D), 0);
    inProjBias.set(repeatRows(bias.subarray(D, D + Hkv * d), 1), D);
    inProjBias.set(repeatRows(bias.subarray(D + Hkv * d), 1), 2 * D);
    const inProj = new Float32Array(3 * D * D);
    inProj.set(g.q_proj_weight.data, 0);
    inProj.set(repeatRows(g.k_proj_weight.data, D), D * D);
    inProj.set(repeatRows(g.v_proj_weight.data, D), 2 * D * D);
    full.loadStateDict({
      in_proj_weight: new Tensor(inProj, [3 * D, D]),
      in_proj_bias: new Tensor(inProjBias, [3 * D]),
      'out_proj.weight': g['out_proj.weight'],
      'out_proj.bias': g['out_proj.bias'],
    });

    const x = Tensor.randn([2, 5, D], 8);
    const a = gqa.forward(x, undefined, undefined, { causal: true, returnWeights: true, averageWeights: false });
    const b = full.forward(x, undefined, undefined, { causal: true, returnWeights: true, averageWeights: false });
    assertBitwiseEqual(a.output.data, b.output.data, 'output');
    assertBitwiseEqual(a.weights!.data, b.weights!.data, 'weights');
  });
});

describe('MultiHeadAttention forward', () => {
  const mha = new MultiHeadAttention({ embedDim: 12, numHeads: 3, kdim: 5, vdim: 7, seed: 1 });
  randomizeBiases(mha, 30);
  const q = Tensor.randn([2, 4, 12], 1);
  const k = Tensor.randn([2, 6, 5], 2);
  const v = Tensor.randn([2, 6, 7], 3);

  test('matches projections plus scaledDotProductAttention', () => {
    const sd = mha.stateDict();
    const linear = (x: Tensor, w: Tensor, b: Float32Array) => {
      const [B, L, Din] = x.shape;
      const Dout = w.shape[0];
      const y = new Float32Array(B * L * Dout);
      for (let r = 0; r < B * L; r++)
        for (let o = 0; o < Dout; o++) {
          let acc = b[o];
          for (let c = 0; c < Din; c++) acc += x.data[r * Din + c] * w.data[o * Din + c];
          y[r * Dout + o] = acc;
        }
      return new Tensor(y, [B, L, Dout]);
    };
    const split = (x: Tensor) => x.reshape([2, -1, 3, 4]).permute([0, 2, 1, 3]); // [B, H, L, d]
    const bias = sd.in_proj_bias.data;
    const qh = split(linear(q, sd.q_proj_weight, bias.subarray(0, 12)));
    const kh = split(linear(k, sd.k_proj_weight, bias.subarray(12, 24)));
    const vh = split(linear(v, sd.v_proj_weight, bias.subarray(24, 36)));
    const mask = Tensor.from([[[[1, 1, 0, 1, 1, 0]]], [[[1, 0, 1, 1, 1, 1]]]]); // [B, 1, 1, S]
    // The projections above are the reference's float64 loops, so the module runs on the reference too: like with like.
    const attn = scaledDotProductAttention(qh, kh, vh, { mask, returnWeights: true, backend: 'reference' });
    const merged = attn.output.permute([0, 2, 1, 3]).reshape([2, 4, 12]);
    const expected = linear(merged, sd['out_proj.weight'], sd['out_proj.bias'].data);

    const got = mha.forward(q, k, v, { mask, returnWeights: true, averageWeights: false, backend: 'reference' });
    assertRelClose(got.output.data, expected.data, TOL.reorder, 'output');
    assertBitwiseEqual(got.weights!.data, attn.weights!.data, 'per-head weights');
    const traced = mha.forward(q, k, v, { mask, returnWeights: true, averageWeights: false, trace: true, backend: 'reference' });
    const attnTraced = scaledDotProductAttention(qh, kh, vh, { mask, returnWeights: true, trace: true });
    assertBitwiseEqual(traced.weights!.data, attnTraced.weights!.data, 'per-head weights, traced');
    assert.deepEqual(traced.trace!.query.shape, [2, 3, 4, 4]);
    assert.deepEqual(traced.trace!.key.shape, [2, 3, 6, 4]);
    assert.deepEqual(traced.trace!.heads.shape, [2, 4, 12]);

    const averaged = mha.forward(q, k, v, { mask, returnWeights: true }).weights!;
    assert.deepEqual(averaged.shape, [2, 4, 6]);
    const w = attn.weights!;
    for (const [b, i, j] of [[0, 0, 0], [1, 3, 5], [0, 2, 2]]) {
      const mean = (w.at(b, 0, i, j) + w.at(b, 1, i, j) + w.at(b, 2, i, j)) / 3;
      assert.ok(Math.abs(averaged.at(b, i, j) - mean) < 1e-7);
    }
  });

  test('unbatched input equals a batch of one', () => {
    const one = mha.forward(q.reshape([2, 4, 12]), k, v).output;
    const first = (t: Tensor) => new Tensor(t.data.slice(0, t.size / 2), t.shape.slice(1));
    const single = mha.forward(first(q), first(k), first(v), { returnWeights: true });
    assert.deepEqual(single.output.shape, [4, 12]);
    assert.deepEqual(single.weights!.shape, [4, 6]);
    assertBitwiseEqual(single.output.data, one.data.subarray(0, 48), 'unbatched output');
  });

  test('checks its inputs and names the shapes', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => mha.forward(Tensor.randn([2, 4, 11], 1), k, v), /query, key and value must be \[B, N, D\].*D = 12, Dk = 5, Dv = 7; got query \[2, 4, 11\]/],
      [() => mha.forward(q, Tensor.randn([3, 6, 5], 1), v), /must share B.*key \[3, 6, 5\]/],
      [() => mha.forward(q, k, Tensor.randn([2, 5, 7], 1)), /must share S.*value \[2, 5, 7\]/],
      [() => mha.forward(Tensor.randn([4], 1)), /got query \[4\]/],
      [() => mha.forward(q, k, v, { mask: Tensor.ones([2, 4, 5]) }), /mask must broadcast.*got mask \[2, 4, 5\]/],
      [() => mha.forward(q, k, v, { causal: 'left' as never }), /causal must be/],
    ];
    for (const [call, message] of cases) {
      assert.throws(call, (e: unknown) => isQkvError(e) && e.message.startsWith('MultiHeadAttention.forward:') && message.test(e.message));
    }
  });
});

describe('MultiHeadAttention construction and state dicts', () => {
  test('rejects bad configs, naming the field', () => {
    assert.throws(() => new MultiHeadAttention({ embedDim: 10, numHeads: 3 }), /embedDim \(10\) must be divisible by numHeads \(3\)/);
    assert.throws(() => new MultiHeadAttention({ embedDim: 8, numHeads: 4, numKvHeads: 3 }), /numHeads \(4\) must be divisible by numKvHeads \(3\)/);
    assert.throws(() => new MultiHeadAttention({ embedDim: 0, numHeads: 1 }), /embedDim must be a positive integer/);
  });

  test('initialisation is seeded and bounded like PyTorch', () => {
    const a = new MultiHeadAttention({ embedDim: 32, numHeads: 4, seed: 5 }).stateDict();
    const b = new MultiHeadAttention({ embedDim: 32, numHeads: 4, seed: 5 }).stateDict();
    const c = new MultiHeadAttention({ embedDim: 32, numHeads: 4, seed: 6 }).stateDict();
    assertBitwiseEqual(a.in_proj_weight.data, b.in_proj_weight.data, 'same seed');
    assert.notDeepEqual(Array.from(a.in_proj_weight.data), Array.from(c.in_proj_weight.data));
    const xavier = Math.sqrt(6 / (32 + 96));
    assert.ok(a.in_proj_weight.data.every((x) => Math.abs(x) <= xavier));
    assert.ok(a['out_proj.weight'].data.every((x) => Math.abs(x) <= 1 / Math.sqrt(32)));
    assert.ok(a.in_proj_bias.data.every((x) => x === 0));
  });

  test('stateDict has exactly PyTorch keys for each configuration', () => {
    const keys = (config: ConstructorParameters<typeof MultiHeadAttention>[0]) =>
      Object.keys(new MultiHeadAttention(config).stateDict()).sort();
    assert.deepEqual(keys({ embedDim: 8, numHeads: 2 }), ['in_proj_bias', 'in_proj_weight', 'out_proj.bias', 'out_proj.weight']);
    assert.deepEqual(keys({ embedDim: 8, numHeads: 2, bias: false }), ['in_proj_weight', 'out_proj.weight']);
    assert.deepEqual(keys({ embedDim: 8, numHeads: 2, kdim: 3, addBiasKv: true }), [
      'bias_k', 'bias_v', 'in_proj_bias', 'k_proj_weight', 'out_proj.bias', 'out_proj.weight', 'q_proj_weight', 'v_proj_weight',
    ]);
  });

  test('loadStateDict lists every problem at once and loads nothing', () => {
    const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 2, seed: 1 });
    const before = mha.stateDict();
    const dict = { ...before, in_proj_weight: Tensor.zeros([24, 7]), extra: Tensor.zeros([1]) } as Record<string, Tensor>;
    delete dict['out_proj.bias'];
    assert.throws(
      () => mha.loadStateDict(dict),
      (e: unknown) =>
        e instanceof StateDictError &&
        e.problems.length === 3 &&
        e.problems.includes('in_proj_weight must be [24, 8]; got [24, 7]') &&
        e.problems.includes('missing out_proj.bias [8]') &&
        e.problems.includes('unknown extra') &&
        e.message.startsWith('MultiHeadAttention.loadStateDict:'),
    );
    assertBitwiseEqual(mha.stateDict().in_proj_weight.data, before.in_proj_weight.data, 'unchanged');
  });

  test('stateDict → loadStateDict round-trips, and the dict is a copy', () => {
    const a = new MultiHeadAttention({ embedDim: 8, numHeads: 2, addBiasKv: true, seed: 1 });
    const b = new MultiHeadAttention({ embedDim: 8, numHeads: 2, addBiasKv: true, seed: 2 });
    const dict = a.stateDict();
    b.loadStateDict(dict);
    dict.in_proj_weight.data.fill(0);
    const x = Tensor.randn([1, 3, 8], 9);
    assertBitwiseEqual(b.forward(x).output.data, a.forward(x).output.data, 'same parameters, same output');
  });
});
