// Unit tests of src/ops/attention.ts (scaledDotProductAttention): hand-computed examples, every input validation
// with its error class, code and message, and the edge cases the semantics spell out (docs/SEMANTICS.md): fully
// blocked rows give 0, empty N or S, scale 0 and negative scales, huge logits, NaN propagation, and trace contents.
// Expected numbers are computed here with Math.exp from the definition softmax(Q·Kᵀ·scale + bias)·V.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ArgumentError,
  ShapeError,
  Tensor,
  isQkvError,
  scaledDotProductAttention as sdpa,
  type AttentionOptions,
} from '../../../src/index.js';
import { VARIANTS } from '../../backends/variants.js';
import { TOL, assertAllClose, assertBitwiseEqual, roundoffTolerance } from '../../tolerances.js';

const FN = 'scaledDotProductAttention';

/** softmax of a row of logits in float64; -Infinity entries get weight 0. */
function softmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - max));
  const sum = e.reduce((s, x) => s + x, 0);
  return e.map((x) => x / sum);
}

/** Σ_j w[j] · v[j] for value rows v [S, dv]. */
function mix(w: number[], v: number[][]): number[] {
  return v[0].map((_, c) => w.reduce((s, wj, j) => s + wj * v[j][c], 0));
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what = 'values'): void {
  assertAllClose(actual, expected, TOL.reorder, TOL.reorder, what);
}

describe('scaledDotProductAttention: hand-computed examples', () => {
  // Two tokens, d = 2. Every input is exactly representable in float32.
  const q = [[1, 2], [3, -1]];
  const k = [[1, 0], [0.5, 1]];
  const v = [[1, 2], [3, -4]];
  const raw = [[1, 2.5], [3, 0.5]]; // q[i] · k[j], by hand
  const scale = 1 / Math.sqrt(2);
  const [Q, K, V] = [Tensor.from(q), Tensor.from(k), Tensor.from(v)];

  it('full attention, default scale 1/√d', () => {
    const w = raw.map((row) => softmax(row.map((r) => r * scale)));
    // Row 0 by hand too: weights 1/(1 + e^{1.5/√2}) and e^{1.5/√2}/(1 + e^{1.5/√2}).
    const e = Math.exp(1.5 / Math.sqrt(2));
    close(w[0], [1 / (1 + e), e / (1 + e)], 'softmax helper');
    const { output, weights } = sdpa(Q, K, V, { returnWeights: true });
    assert.deepEqual(output.shape, [2, 2]);
    close(weights!.data, w.flat(), 'weights');
    close(output.data, w.map((row) => mix(row, v)).flat(), 'output');
  });

  it('causal (top-left): row 0 sees key 0 only', () => {
    const { output, weights } = sdpa(Q, K, V, { causal: true, returnWeights: true });
    const w1 = softmax(raw[1].map((r) => r * scale));
    assert.deepEqual([...weights!.data.slice(0, 2)], [1, 0]);
    close(weights!.data.slice(2), w1, 'weights of row 1');
    close(output.data, [...v[0], ...mix(w1, v)], 'output');
  });

  it('an explicit scale, a bias and a mask', () => {
    const bias = [[0.5, -1], [0, 2]];
    const mask = [[1, 1], [0, 1]]; // row 1 may not attend key 0
    const { output, weights } = sdpa(Q, K, V, { scale: 0.25, bias: Tensor.from(bias), mask: Tensor.from(mask), returnWeights: true });
    const w0 = softmax([raw[0][0] * 0.25 + 0.5, raw[0][1] * 0.25 - 1]);
    close(weights!.data, [...w0, 0, 1], 'weights');
    close(output.data, [...mix(w0, v), ...v[1]], 'output');
  });

  it('softcap: logits become c · tanh(logit / c) after scaling and before the bias', () => {
    const c = 0.5;
    const bias = [[1, 0], [0, 0]];
    const { weights } = sdpa(Q, K, V, { scale: 1, softcap: c, bias: Tensor.from(bias), returnWeights: true });
    const w = raw.map((row, i) => softmax(row.map((r, j) => c * Math.tanh(r / c) + bias[i][j])));
    close(weights!.data, w.flat(), 'weights');
  });

  it('causal "bottom-right" aligns the last query with the last key (N = 2, S = 3)', () => {
    const k3 = Tensor.from([[1, 0], [0.5, 1], [0, 0]]);
    const v3 = Tensor.from([[1, 2], [3, -4], [5, 6]]);
    const br = sdpa(Q, k3, v3, { causal: 'bottom-right', returnWeights: true }).weights!;
    const tl = sdpa(Q, k3, v3, { causal: 'top-left', returnWeights: true }).weights!;
    // bottom-right: row 0 sees keys 0, 1; row 1 sees all. top-left: row 0 sees key 0; row 1 keys 0, 1.
    const blockedBr = [[0, 0, 1], [0, 0, 0]];
    const blockedTl = [[0, 1, 1], [0, 0, 1]];
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        assert.equal(br.at(i, j) === 0, blockedBr[i][j] === 1, `bottom-right [${i}, ${j}]`);
        assert.equal(tl.at(i, j) === 0, blockedTl[i][j] === 1, `top-left [${i}, ${j}]`);
      }
    }
  });

  it('any nonzero mask value means "may attend"; a key padding mask [B, 1, 1, S] blocks whole columns', () => {
    const q4 = Tensor.randn([2, 2, 3, 4], 1); // [B, H, N, d]
    const k4 = Tensor.randn([2, 2, 5, 4], 2); // [B, H, S, d]
    const v4 = Tensor.randn([2, 2, 5, 3], 3); // [B, H, S, dv]
    const weird = sdpa(q4, k4, v4, { mask: Tensor.from([0.5, -2, 1e-20, 7, NaN]), returnWeights: true });
    const plain = sdpa(q4, k4, v4, { returnWeights: true });
    assertBitwiseEqual(weird.output.data, plain.output.data, 'nonzero mask values');
    const padding = Tensor.ones([2, 1, 1, 5]);
    padding.data[3] = 0; // batch 0, key 3
    padding.data[5 + 4] = 0; // batch 1, key 4
    const { weights } = sdpa(q4, k4, v4, { mask: padding, returnWeights: true });
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 3; i++) {
        assert.equal(weights!.at(0, h, i, 3), 0);
        assert.equal(weights!.at(1, h, i, 4), 0);
        assert.ok(weights!.at(0, h, i, 4) > 0 && weights!.at(1, h, i, 3) > 0);
      }
    }
  });

  it('grouped-query attention: query head h reads key/value head floor(h / (H / Hkv))', () => {
    const q4 = Tensor.randn([1, 4, 3, 2], 4); // [B, H, N, d], H = 4
    const k2 = Tensor.randn([1, 2, 5, 2], 5); // [B, Hkv, S, d], Hkv = 2
    const v2 = Tensor.randn([1, 2, 5, 3], 6); // [B, Hkv, S, dv]
    const { output } = sdpa(q4, k2, v2);
    assert.deepEqual(output.shape, [1, 4, 3, 3]);
    const head = (t: Tensor, h: number) => new Tensor(t.data.slice(h * t.shape[2] * t.shape[3], (h + 1) * t.shape[2] * t.shape[3]), t.shape.slice(2));
    for (let h = 0; h < 4; h++) {
      const kv = Math.floor(h / 2);
      assertBitwiseEqual(head(output, h).data, sdpa(head(q4, h), head(k2, kv), head(v2, kv)).output.data, `head ${h}`);
    }
  });

  it('rank-2 and rank-3 inputs broadcast against each other', () => {
    const q2 = Tensor.randn([3, 4], 7); // [N, d]
    const k3 = Tensor.randn([2, 5, 4], 8); // [H, S, d]
    const v2 = Tensor.randn([5, 2], 9); // [S, dv]
    const { output } = sdpa(q2, k3, v2);
    assert.deepEqual(output.shape, [2, 3, 2]);
  });
});

describe('scaledDotProductAttention: input validation', () => {
  const q = Tensor.zeros([2, 4, 16, 64]);
  const k = Tensor.zeros([2, 4, 16, 64]);
  const v = Tensor.zeros([2, 4, 16, 64]);

  interface Case {
    what: string;
    call: () => unknown;
    cls: typeof ShapeError | typeof ArgumentError;
    /** Substrings the message must contain besides the function name. */
    names: string[];
  }
  const T = (shape: number[]) => Tensor.zeros(shape);
  const with_ = (options: AttentionOptions) => () => sdpa(q, k, v, options);
  const cases: Case[] = [
    { what: 'query not a Tensor', call: () => sdpa([1] as unknown as Tensor, k, v), cls: ArgumentError, names: ['query', 'Tensor', 'an array'] },
    { what: 'key not a Tensor', call: () => sdpa(q, new Float32Array(4) as unknown as Tensor, v), cls: ArgumentError, names: ['key', 'Tensor', 'Float32Array'] },
    { what: 'value not a Tensor', call: () => sdpa(q, k, null as unknown as Tensor), cls: ArgumentError, names: ['value', 'Tensor', 'null'] },
    { what: 'options null', call: () => sdpa(q, k, v, null as unknown as AttentionOptions), cls: ArgumentError, names: ['options', 'null'] },
    { what: 'options a number', call: () => sdpa(q, k, v, 3 as unknown as AttentionOptions), cls: ArgumentError, names: ['options', '3'] },
    {
      what: 'query of rank 1',
      call: () => sdpa(T([64]), k, v),
      cls: ShapeError,
      names: ['query', '[..., N, d]', 'got query [64], key [2, 4, 16, 64], value [2, 4, 16, 64]'],
    },
    { what: 'key of rank 1', call: () => sdpa(q, T([64]), v), cls: ShapeError, names: ['key', '[..., S, d]', 'key [64]'] },
    { what: 'value of rank 0', call: () => sdpa(q, k, T([])), cls: ShapeError, names: ['value', '[..., S, dv]', 'value []'] },
    {
      what: 'key head size differing from the query',
      call: () => sdpa(q, T([2, 4, 16, 32]), v),
      cls: ShapeError,
      names: ['key must be [..., S, d] with d = 64', 'got query [2, 4, 16, 64], key [2, 4, 16, 32], value [2, 4, 16, 64]'],
    },
    {
      what: 'value length differing from the key',
      call: () => sdpa(q, k, T([2, 4, 15, 64])),
      cls: ShapeError,
      names: ['value must be [..., S, dv] with S = 16', 'value [2, 4, 15, 64]'],
    },
    {
      what: 'head size d = 0',
      call: () => sdpa(T([2, 3, 0]), T([2, 5, 0]), T([2, 5, 4])),
      cls: ShapeError,
      names: ['head size d', 'query [2, 3, 0], key [2, 5, 0], value [2, 5, 4]'],
    },
    {
      what: 'batch sizes that do not broadcast',
      call: () => sdpa(q, T([3, 4, 16, 64]), T([3, 4, 16, 64])),
      cls: ShapeError,
      names: ['batch dims', 'broadcast', 'query [2, 4, 16, 64], key [3, 4, 16, 64]'],
    },
    {
      what: 'key/value heads that do not divide the query heads',
      call: () => sdpa(q, T([2, 3, 16, 64]), T([2, 3, 16, 64])),
      cls: ShapeError,
      names: ['heads dim', 'divide', 'key [2, 3, 16, 64]'],
    },
    {
      what: 'more key heads than query heads',
      call: () => sdpa(T([2, 2, 16, 64]), k, v),
      cls: ShapeError,
      names: ['heads dim', 'query [2, 2, 16, 64], key [2, 4, 16, 64]'],
    },
    {
      what: 'grouping outside the heads dim',
      call: () => sdpa(T([4, 2, 16, 64]), T([2, 2, 16, 64]), T([2, 2, 16, 64])),
      cls: ShapeError,
      names: ['batch dims', 'query [4, 2, 16, 64], key [2, 2, 16, 64]'],
    },
    {
      what: 'value heads that do not divide the query heads',
      call: () => sdpa(q, k, T([2, 3, 16, 64])),
      cls: ShapeError,
      names: ['heads dim', 'value [2, 3, 16, 64]'],
    },
    { what: 'causal "yes"', call: with_({ causal: 'yes' as 'top-left' }), cls: ArgumentError, names: ['causal', 'bottom-right', 'yes'] },
    { what: 'causal 1', call: with_({ causal: 1 as unknown as boolean }), cls: ArgumentError, names: ['causal', 'number 1'] },
    { what: 'scale NaN', call: with_({ scale: NaN }), cls: ArgumentError, names: ['scale', 'finite', 'NaN'] },
    { what: 'scale Infinity', call: with_({ scale: Infinity }), cls: ArgumentError, names: ['scale', 'Infinity'] },
    { what: 'scale a string', call: with_({ scale: '1' as unknown as number }), cls: ArgumentError, names: ['scale', 'string 1'] },
    { what: 'softcap negative', call: with_({ softcap: -1 }), cls: ArgumentError, names: ['softcap', '≥ 0', '-1'] },
    { what: 'softcap NaN', call: with_({ softcap: NaN }), cls: ArgumentError, names: ['softcap', 'NaN'] },
    { what: 'softcap Infinity', call: with_({ softcap: Infinity }), cls: ArgumentError, names: ['softcap', 'Infinity'] },
    { what: 'softcap a string', call: with_({ softcap: '2' as unknown as number }), cls: ArgumentError, names: ['softcap', 'string 2'] },
    { what: 'mask not a Tensor', call: with_({ mask: [[1]] as unknown as Tensor }), cls: ArgumentError, names: ['mask must be a Tensor', 'an array'] },
    { what: 'bias not a Tensor', call: with_({ bias: new Float32Array(1) as unknown as Tensor }), cls: ArgumentError, names: ['bias must be a Tensor', 'Float32Array'] },
    {
      what: 'mask with a wrong query length',
      call: with_({ mask: T([3, 16]) }),
      cls: ShapeError,
      names: ['mask must broadcast to [...batch, N, S] = [2, 4, 16, 16]', 'got mask [3, 16]'],
    },
    {
      what: 'mask with a wrong batch size',
      call: with_({ mask: T([3, 1, 1, 16]) }),
      cls: ShapeError,
      names: ['mask', '[2, 4, 16, 16]', 'mask [3, 1, 1, 16]'],
    },
    {
      what: 'mask of higher rank than the scores',
      call: with_({ mask: T([1, 2, 4, 16, 16]) }),
      cls: ShapeError,
      names: ['mask', '[2, 4, 16, 16]', 'mask [1, 2, 4, 16, 16]'],
    },
    {
      what: 'bias with a wrong key length',
      call: with_({ bias: T([16, 15]) }),
      cls: ShapeError,
      names: ['bias must broadcast to [...batch, N, S] = [2, 4, 16, 16]', 'got bias [16, 15]'],
    },
    {
      what: 'bias with grouped heads (only key/value may be grouped)',
      call: with_({ bias: T([2, 2, 16, 16]) }),
      cls: ShapeError,
      names: ['bias', 'bias [2, 2, 16, 16]'],
    },
  ];

  for (const c of cases) {
    it(`rejects ${c.what} with a ${c.cls.name}`, () => {
      assert.throws(c.call, (e: unknown) => {
        assert.ok(e instanceof c.cls, `expected ${c.cls.name}; got ${String(e)}`);
        assert.equal(e.code, c.cls === ShapeError ? 'E_SHAPE' : 'E_ARGUMENT');
        assert.ok(isQkvError(e));
        assert.ok(e.message.startsWith(`${FN}: `), `message "${e.message}" does not start with the function name`);
        for (const n of c.names) assert.ok(e.message.includes(n), `message "${e.message}" lacks "${n}"`);
        return true;
      });
    });
  }

  it('accepts every documented form of the options', () => {
    for (const causal of [undefined, false, true, 'top-left', 'bottom-right'] as const) {
      assert.doesNotThrow(() => sdpa(q, k, v, { causal }));
    }
    assert.doesNotThrow(() => sdpa(q, k, v, { scale: 0, softcap: 0 }));
    assert.doesNotThrow(() => sdpa(q, k, v, { scale: -3, softcap: 50 }));
    assert.doesNotThrow(() => sdpa(q, k, v, { mask: T([16]), bias: T([1, 16, 1]) }));
    assert.doesNotThrow(() => sdpa(q, T([2, 1, 16, 64]), T([2, 2, 16, 8]))); // Hkv 1 and 2 for H = 4
  });
});

describe('scaledDotProductAttention: edge cases', () => {
  it('a fully masked row gives output 0 and weights 0, not NaN; other rows are unaffected', () => {
    const q = Tensor.randn([2, 3, 4], 1); // [H, N, d]
    const k = Tensor.randn([2, 5, 4], 2); // [H, S, d]
    const v = Tensor.randn([2, 5, 3], 3); // [H, S, dv]
    const mask = Tensor.ones([3, 5]);
    mask.data.fill(0, 5, 10); // row 1 blocked everywhere
    const { output, weights } = sdpa(q, k, v, { mask, returnWeights: true });
    const plain = sdpa(q, k, v, { returnWeights: true });
    for (let h = 0; h < 2; h++) {
      for (let c = 0; c < 3; c++) assert.ok(Object.is(output.at(h, 1, c), 0));
      for (let j = 0; j < 5; j++) assert.ok(Object.is(weights!.at(h, 1, j), 0));
      for (const i of [0, 2]) for (let c = 0; c < 3; c++) assert.equal(output.at(h, i, c), plain.output.at(h, i, c));
    }
  });

  it('a row whose bias is -Infinity everywhere gives output 0 and weights 0', () => {
    const q = Tensor.randn([2, 3], 1);
    const k = Tensor.randn([4, 3], 2);
    const v = Tensor.randn([4, 2], 3);
    const bias = Tensor.zeros([2, 4]);
    bias.data.fill(-Infinity, 4, 8);
    const { output, weights } = sdpa(q, k, v, { bias, returnWeights: true });
    assert.deepEqual([...output.data.slice(2)], [0, 0]);
    assert.deepEqual([...weights!.data.slice(4)], [0, 0, 0, 0]);
    assert.ok(output.data.slice(0, 2).every(Number.isFinite));
  });

  it('causal "bottom-right" with N > S: the first N − S rows see no key and give 0', () => {
    const q = Tensor.randn([5, 2], 1); // [N, d]
    const k = Tensor.randn([2, 2], 2); // [S, d]
    const v = Tensor.randn([2, 3], 3); // [S, dv]
    const { output } = sdpa(q, k, v, { causal: 'bottom-right' });
    assert.deepEqual([...output.data.slice(0, 9)], new Array(9).fill(0));
    assert.ok(output.data.slice(9).every((x) => x !== 0 && Number.isFinite(x)));
  });

  it('N = 0 gives empty outputs of the right shapes', () => {
    const { output, weights, trace } = sdpa(Tensor.zeros([1, 2, 0, 4]), Tensor.randn([1, 2, 3, 4], 1), Tensor.randn([1, 2, 3, 5], 2), {
      returnWeights: true,
      trace: true,
      causal: true,
    });
    assert.deepEqual(output.shape, [1, 2, 0, 5]);
    assert.deepEqual(weights!.shape, [1, 2, 0, 3]);
    assert.deepEqual(trace!.scores.shape, [1, 2, 0, 3]);
  });

  for (const causal of [false, true, 'bottom-right'] as const) {
    it(`S = 0 gives output 0 and empty weights (causal ${String(causal)})`, () => {
      const { output, weights } = sdpa(Tensor.randn([1, 2, 3, 4], 1), Tensor.zeros([1, 2, 0, 4]), Tensor.zeros([1, 2, 0, 5]), {
        returnWeights: true,
        causal,
      });
      assert.deepEqual(output.shape, [1, 2, 3, 5]);
      assert.ok(output.data.every((x) => Object.is(x, 0)));
      assert.deepEqual(weights!.shape, [1, 2, 3, 0]);
    });
  }

  it('scale 0 gives uniform weights over the allowed keys and the mean of their values', () => {
    const q = Tensor.randn([4, 3], 1); // [N, d]
    const k = Tensor.randn([4, 3], 2); // [S, d]
    const v = Tensor.randn([4, 2], 3); // [S, dv]
    const { output, weights } = sdpa(q, k, v, { scale: 0, causal: true, returnWeights: true });
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 4; j++) assert.equal(weights!.at(i, j), j <= i ? Math.fround(1 / (i + 1)) : 0);
      for (let c = 0; c < 2; c++) {
        let mean = 0;
        for (let j = 0; j <= i; j++) mean += v.at(j, c) / (i + 1);
        close([output.at(i, c)], [mean], `row ${i}`);
      }
    }
  });

  it('a negative scale is honoured: scale −s with keys K equals scale s with keys −K, bitwise', () => {
    const q = Tensor.randn([2, 3, 4], 1);
    const k = Tensor.randn([2, 5, 4], 2);
    const v = Tensor.randn([2, 5, 3], 3);
    const negK = new Tensor(k.data.map((x) => -x), k.shape);
    for (const s of [0.5, 2]) {
      assertBitwiseEqual(sdpa(q, k, v, { scale: -s }).output.data, sdpa(q, negK, v, { scale: s }).output.data);
    }
    // And it favours the least similar key: q = [1, 0] against keys [1, 0] and [−1, 0].
    const { weights } = sdpa(Tensor.from([[1, 0]]), Tensor.from([[1, 0], [-1, 0]]), Tensor.from([[1], [2]]), { scale: -10, returnWeights: true });
    close(weights!.data, softmax([-10, 10]), 'weights');
  });

  it('huge logits (~1e4) stay finite and exact: softmax is shifted by the row maximum', () => {
    // On every available backend. A float32 backend rounds a logit of 1e4 to within 2⁻²⁴ · 1e4 ≈ 6e-4, so its
    // weights are exact only to roundoffTolerance; the reference (float64) keeps TOL.reorder.
    for (const v of VARIANTS) {
      if (v.unavailable() !== undefined) continue;
      const tol = roundoffTolerance(TOL.reorder, v.tol.roundoff, 1e4);
      const near = (a: ArrayLike<number>, e: ArrayLike<number>, what: string) =>
        assertAllClose(a, e, tol, tol, `${v.name}: ${what}`);
      // Logits 1e4 and 1e4 − 1: a naive exp overflows, the shifted softmax gives softmax([1, 0]).
      const { output, weights } = sdpa(Tensor.from([[100]]), Tensor.from([[100], [99.99]]), Tensor.from([[1], [-1]]), {
        scale: 1,
        returnWeights: true,
        backend: v.backend,
      });
      const w = softmax([1, 0]);
      // 99.99 is not exact in float32; recompute the second logit from the float32 key.
      const l1 = 100 * Math.fround(99.99) - 1e4;
      const wx = softmax([0, l1]);
      near(weights!.data, wx, 'weights');
      assert.ok(Math.abs(wx[0] - w[0]) < 1e-3);
      near(output.data, [wx[0] - wx[1]], 'output');
      const big = sdpa(Tensor.randn([2, 3, 4], 1), Tensor.randn([2, 5, 4], 2), Tensor.randn([2, 5, 3], 3), {
        scale: 1e4,
        returnWeights: true,
        backend: v.backend,
      });
      assert.ok(big.output.data.every(Number.isFinite), `${v.name}: output finite`);
      assert.ok(big.weights!.data.every(Number.isFinite), `${v.name}: weights finite`);
    }
  });
});

describe('scaledDotProductAttention: NaN propagation', () => {
  const q = () => Tensor.randn([3, 4], 1); // [N, d]
  const k = () => Tensor.randn([3, 4], 2); // [S, d]
  const v = () => Tensor.randn([3, 2], 3); // [S, dv]
  const clean = sdpa(q(), k(), v(), { causal: true, returnWeights: true });

  it('NaN in a blocked (future) key or value does not reach any row', () => {
    const key = k();
    const value = v();
    key.data.fill(NaN, 2 * 4); // key 2: blocked for rows 0 and 1
    value.data.fill(NaN, 2 * 2); // value 2
    const got = sdpa(q(), key, value, { causal: true, returnWeights: true });
    assertBitwiseEqual(got.output.data.slice(0, 4), clean.output.data.slice(0, 4), 'rows 0, 1');
    assert.ok(got.output.data.slice(4).every(Number.isNaN), 'row 2 attends the NaN key');
  });

  it('NaN in a key or value blocked by the mask does not propagate', () => {
    const value = v();
    value.data[1 * 2] = NaN; // value 1, channel 0
    const mask = Tensor.from([1, 0, 1]); // key 1 blocked for every row
    const got = sdpa(q(), k(), value, { mask, returnWeights: true });
    const ref = sdpa(q(), k(), v(), { mask, returnWeights: true });
    assertBitwiseEqual(got.output.data, ref.output.data);
  });

  it('NaN in an allowed value propagates to that channel of every row that attends it', () => {
    const value = v();
    value.data[1 * 2 + 1] = NaN; // value 1, channel 1
    const got = sdpa(q(), k(), value, { causal: true }).output;
    assert.deepEqual([got.at(0, 0), got.at(0, 1)], [clean.output.at(0, 0), clean.output.at(0, 1)], 'row 0 never sees key 1');
    for (const i of [1, 2]) {
      assert.ok(Number.isNaN(got.at(i, 1)), `row ${i} channel 1`);
      assert.equal(got.at(i, 0), clean.output.at(i, 0), `row ${i} channel 0`);
    }
  });

  it('NaN in an allowed key makes the whole row NaN', () => {
    const key = k();
    key.data[1 * 4] = NaN; // key 1
    const got = sdpa(q(), key, v(), { causal: true, returnWeights: true });
    assertBitwiseEqual(got.output.data.slice(0, 2), clean.output.data.slice(0, 2), 'row 0');
    assert.ok(got.output.data.slice(2).every(Number.isNaN), 'rows 1, 2');
    for (const i of [1, 2]) for (let j = 0; j <= i; j++) assert.ok(Number.isNaN(got.weights!.at(i, j)), `weight [${i}, ${j}]`);
  });

  it('NaN in a query row makes only that row NaN', () => {
    const query = q();
    query.data[1 * 4 + 2] = NaN;
    const got = sdpa(query, k(), v(), { causal: true }).output;
    assert.ok(Number.isNaN(got.at(1, 0)) && Number.isNaN(got.at(1, 1)));
    assertBitwiseEqual([got.at(0, 0), got.at(0, 1), got.at(2, 0), got.at(2, 1)], [
      clean.output.at(0, 0),
      clean.output.at(0, 1),
      clean.output.at(2, 0),
      clean.output.at(2, 1),
    ]);
  });

  it('NaN in the bias propagates where the key is allowed, and not where it is blocked', () => {
    const bias = Tensor.zeros([3, 3]);
    bias.data[0 * 3 + 2] = NaN; // row 0, key 2: blocked by causal
    bias.data[2 * 3 + 1] = NaN; // row 2, key 1: allowed
    const got = sdpa(q(), k(), v(), { causal: true, bias }).output;
    assertBitwiseEqual(got.data.slice(0, 4), clean.output.data.slice(0, 4), 'rows 0, 1');
    assert.ok(got.data.slice(4).every(Number.isNaN), 'row 2');
  });
});

describe('scaledDotProductAttention: trace', () => {
  const q = Tensor.randn([2, 3, 4], 1); // [H, N, d]
  const k = Tensor.randn([2, 5, 4], 2); // [H, S, d]
  const v = Tensor.randn([2, 5, 3], 3); // [H, S, dv]
  const mask = Tensor.from([1, 1, 1, 0, 1]); // key 3 blocked
  const bias = Tensor.randn([3, 5], 4); // [N, S]
  const scale = 0.3;
  const { output, weights, trace } = sdpa(q, k, v, { mask, bias, scale, causal: 'bottom-right', returnWeights: true, trace: true });

  it('holds tensors of shape [...batch, N, S], and the output itself', () => {
    assert.ok(trace);
    for (const t of [trace.scores, trace.logits, trace.weights]) assert.deepEqual(t.shape, [2, 3, 5]);
    assert.equal(trace.output, output);
  });

  it('scores are the raw, unscaled dot products q[i] · k[j], for blocked keys too', () => {
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 5; j++) {
          let dot = 0;
          for (let c = 0; c < 4; c++) dot += q.at(h, i, c) * k.at(h, j, c);
          assert.equal(trace!.scores.at(h, i, j), Math.fround(dot), `[${h}, ${i}, ${j}]`);
        }
      }
    }
  });

  it('logits are raw · scale + bias where allowed, and -Infinity where blocked', () => {
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 5; j++) {
          const blocked = j === 3 || j > i + 5 - 3; // mask, or causal bottom-right
          const got = trace!.logits.at(h, i, j);
          if (blocked) {
            assert.equal(got, -Infinity, `[${h}, ${i}, ${j}]`);
            continue;
          }
          let dot = 0;
          for (let c = 0; c < 4; c++) dot += q.at(h, i, c) * k.at(h, j, c);
          assert.equal(got, Math.fround(dot * scale + bias.at(i, j)), `[${h}, ${i}, ${j}]`);
        }
      }
    }
  });

  it('weights equal the returnWeights weights and the softmax of logits', () => {
    assertBitwiseEqual(trace!.weights.data, weights!.data);
    for (let r = 0; r < 6; r++) {
      const row = [...trace!.logits.data.slice(r * 5, r * 5 + 5)];
      close(trace!.weights.data.slice(r * 5, r * 5 + 5), softmax(row), `row ${r}`);
    }
  });

  it('is absent unless asked for, and weights are absent unless asked for', () => {
    const plain = sdpa(q, k, v);
    assert.equal(plain.trace, undefined);
    assert.equal(plain.weights, undefined);
    const traced = sdpa(q, k, v, { trace: true });
    assert.equal(traced.weights, undefined);
    assert.ok(traced.trace);
    // A trace does not change the output. Compared on the reference, which computes traces: a backend that declines
    // them (wasm) hands the traced call to the reference, so under "auto" the two calls may run on different backends.
    const plainRef = sdpa(q, k, v, { backend: 'reference' });
    const tracedRef = sdpa(q, k, v, { backend: 'reference', trace: true });
    assertBitwiseEqual(tracedRef.output.data, plainRef.output.data);
    assertBitwiseEqual(traced.output.data, tracedRef.output.data);
  });
});
