// scaledDotProductAttentionBackward against central finite differences in float64 (the Learning issue's check):
// a small float64 forward written here from the documented semantics, independent of src/, gives
// L(q, k, v, bias) = Σ gradOutput ⊙ output, and every element of every input is perturbed by ±h. The forward is
// evaluated in float64 because float32 rounding (≈ 6e-8 relative) divided by a usable h would swamp a 1e-4 bar.
// Also: exact zeros for rows with no allowed key and for blocked keys, grouped-query sums, backend choice, and
// bad inputs. PyTorch autograd parity lives in tests/parity/sdpa-grad.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type AttentionOptions, Tensor, isQkvError, scaledDotProductAttention } from '../../../src/index.js';
import { scaledDotProductAttentionBackward } from '../../../src/ops/attention-backward.js';
import { TOL, assertBitwiseEqual, assertRelClose } from '../../tolerances.js';

// ---------------------------------------------------------------------------------------------------------------
// A float64 forward, from the documented semantics (docs/SEMANTICS.md), for finite differences.

/** A float64 array with its shape. */
interface Arr {
  shape: number[];
  data: Float64Array;
}

interface Problem64 {
  query: Arr; // [...batch, N, d]
  key: Arr; // [...batch, S, d]
  value: Arr; // [...batch, S, dv]
  mask?: Arr; // broadcastable to [...batch, N, S]
  bias?: Arr; // broadcastable to [...batch, N, S]
  causal: 'none' | 'top-left' | 'bottom-right';
  scale?: number;
  softcap: number;
}

const f64 = (t: Tensor): Arr => ({ shape: [...t.shape], data: Float64Array.from(t.data) });

function problem64(query: Tensor, key: Tensor, value: Tensor, o: AttentionOptions): Problem64 {
  const causal = o.causal === true ? 'top-left' : o.causal === false || o.causal === undefined ? 'none' : o.causal;
  const p: Problem64 = { query: f64(query), key: f64(key), value: f64(value), causal, softcap: o.softcap ?? 0 };
  if (o.mask) p.mask = f64(o.mask);
  if (o.bias) p.bias = f64(o.bias);
  if (o.scale !== undefined) p.scale = o.scale;
  return p;
}

/** The broadcast batch shape: each dim the largest size (key/value heads may divide the query's: GQA). */
function batchShapeOf(p: Problem64): number[] {
  const shapes = [p.query.shape, p.key.shape, p.value.shape].map((s) => s.slice(0, -2));
  const rank = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, o) => Math.max(...shapes.map((s) => s[o - (rank - s.length)] ?? 1)));
}

/** Element index in `shape` (right-aligned to the broadcast `full` index) where size-1 dims read index 0 and a
 *  dim of size s dividing the full size n reads floor(h / (n / s)): broadcasting, and grouped-query heads. */
function indexOf(shape: number[], full: number[], fullShape: number[]): number {
  let index = 0;
  const lead = fullShape.length - shape.length;
  for (let o = 0; o < shape.length; o++) {
    const size = shape[o];
    const n = fullShape[o + lead];
    const h = full[o + lead];
    index = index * size + (size === n ? h : size === 1 ? 0 : Math.floor(h / (n / size)));
  }
  return index;
}

function unravel(b: number, shape: number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let o = shape.length - 1; o >= 0; o--) {
    idx[o] = b % shape[o];
    b = Math.floor(b / shape[o]);
  }
  return idx;
}

/** softmax(softcap(Q·Kᵀ·scale) + bias, masked)·V in float64; a row with no allowed key gives 0.
 *  Output [...batch, N, dv]. */
function forward64(p: Problem64): Arr {
  const batchShape = batchShapeOf(p);
  const [N, d] = p.query.shape.slice(-2);
  const [S, dv] = p.value.shape.slice(-2);
  const batch = batchShape.reduce((a, s) => a * s, 1);
  const scale = p.scale ?? 1 / Math.sqrt(d);
  const full = [...batchShape, N, S]; // the scores' shape
  const out = new Float64Array(batch * N * dv); // [...batch, N, dv]
  for (let b = 0; b < batch; b++) {
    const bi = unravel(b, batchShape);
    for (let i = 0; i < N; i++) {
      const qRow = p.query.data.subarray(indexOf(p.query.shape, [...bi, i, 0], [...batchShape, N, d]));
      const scores: number[] = [];
      const open: number[] = [];
      for (let j = 0; j < S; j++) {
        const at = [...bi, i, j];
        if (p.causal === 'top-left' && j > i) continue;
        if (p.causal === 'bottom-right' && j > i + S - N) continue;
        if (p.mask && p.mask.data[indexOf(p.mask.shape, at, full)] === 0) continue;
        const kRow = p.key.data.subarray(indexOf(p.key.shape, [...bi, j, 0], [...batchShape, S, d]));
        let s = 0;
        for (let c = 0; c < d; c++) s += qRow[c] * kRow[c];
        s *= scale;
        if (p.softcap > 0) s = p.softcap * Math.tanh(s / p.softcap);
        if (p.bias) s += p.bias.data[indexOf(p.bias.shape, at, full)];
        scores.push(s);
        open.push(j);
      }
      const max = Math.max(...scores);
      if (max === -Infinity || scores.length === 0) continue;
      const e = scores.map((s) => Math.exp(s - max));
      const sum = e.reduce((a, x) => a + x, 0);
      for (let n = 0; n < open.length; n++) {
        const vRow = p.value.data.subarray(indexOf(p.value.shape, [...bi, open[n], 0], [...batchShape, S, dv]));
        for (let c = 0; c < dv; c++) out[(b * N + i) * dv + c] += (e[n] / sum) * vRow[c];
      }
    }
  }
  return { shape: [...batchShape, N, dv], data: out };
}

const H_STEP = 1e-6;

/** dL/dx by central differences for L = Σ gradOutput ⊙ forward64(p), x one of p's inputs. */
function centralDifferences(p: Problem64, which: 'query' | 'key' | 'value' | 'bias', gradOutput: Float64Array) {
  const x = p[which]!.data;
  const loss = () => forward64(p).data.reduce((a, o, n) => a + o * gradOutput[n], 0);
  const grad = new Float64Array(x.length);
  for (let n = 0; n < x.length; n++) {
    const x0 = x[n];
    x[n] = x0 + H_STEP;
    const up = loss();
    x[n] = x0 - H_STEP;
    const down = loss();
    x[n] = x0;
    grad[n] = up === down ? 0 : (up - down) / (2 * H_STEP); // also 0 for a -Infinity bias entry
  }
  return grad;
}

// ---------------------------------------------------------------------------------------------------------------
// Cases

/** A 0/1 mask with about `pAllow` of the entries allowed. */
function randomMask(shape: number[], seed: number, pAllow = 0.6): Tensor {
  const u = Tensor.rand(shape, seed);
  return new Tensor(u.data.map((x) => (x < pAllow ? 1 : 0)), shape);
}

/** Sets the given flat entries of a tensor (a copy) to `value`. */
function withEntries(t: Tensor, entries: number[], value: number): Tensor {
  const data = t.data.slice();
  for (const e of entries) data[e] = value;
  return new Tensor(data, t.shape);
}

interface Case {
  name: string;
  query: number[];
  key: number[];
  value: number[];
  options?: (seed: number) => AttentionOptions;
  /** Multiplies the random inputs, to reach the saturated part of a softcap. */
  amplitude?: number;
}

const B = 2;
const H = 3;
const N = 4;
const S = 5;
const d = 3;

const cases: Case[] = [
  { name: 'plain [B, H, N, d], S != N', query: [B, H, N, d], key: [B, H, S, d], value: [B, H, S, d] },
  { name: 'N = 1', query: [B, 1, d], key: [B, S, d], value: [B, S, d] },
  { name: 'N = S = 1', query: [1, d], key: [1, d], value: [1, 2] },
  { name: 'dv != d', query: [B, N, 4], key: [B, S, 4], value: [B, S, 2] },
  { name: 'scale 0.37', query: [B, H, N, d], key: [B, H, S, d], value: [B, H, S, d], options: () => ({ scale: 0.37 }) },
  { name: 'scale -0.8', query: [B, N, d], key: [B, S, d], value: [B, S, d], options: () => ({ scale: -0.8 }) },
  { name: 'scale 0', query: [B, N, d], key: [B, S, d], value: [B, S, d], options: () => ({ scale: 0 }) },
  {
    name: 'mask [N, S]',
    query: [B, H, N, d],
    key: [B, H, S, d],
    value: [B, H, S, d],
    options: (seed) => ({ mask: withEntries(randomMask([N, S], seed), [0, S, 2 * S, 3 * S], 1) }),
  },
  {
    name: 'key padding mask [B, 1, 1, S]',
    query: [B, H, N, d],
    key: [B, H, S, d],
    value: [B, H, S, d],
    options: () => ({ mask: Tensor.from([[[[1, 1, 0, 1, 0]]], [[[1, 0, 0, 1, 1]]]]) }),
  },
  {
    name: 'bias [B, H, N, S] with -Infinity entries',
    query: [B, H, N, d],
    key: [B, H, S, d],
    value: [B, H, S, d],
    options: (seed) => ({ bias: withEntries(Tensor.randn([B, H, N, S], seed), [1, 7, 23, 40, 59], -Infinity) }),
  },
  {
    name: 'bias [1, H, 1, S] (ALiBi-like, summed over B and N)',
    query: [B, H, N, d],
    key: [B, H, S, d],
    value: [B, H, S, d],
    options: (seed) => ({ bias: Tensor.randn([1, H, 1, S], seed) }),
  },
  {
    name: 'causal top-left, N = S',
    query: [B, N, d],
    key: [B, N, d],
    value: [B, N, d],
    options: () => ({ causal: true }),
  },
  {
    name: 'causal top-left, N < S',
    query: [B, H, 3, d],
    key: [B, H, 6, d],
    value: [B, H, 6, d],
    options: () => ({ causal: 'top-left' }),
  },
  {
    name: 'causal top-left, N > S',
    query: [B, 6, d],
    key: [B, 3, d],
    value: [B, 3, d],
    options: () => ({ causal: 'top-left' }),
  },
  {
    name: 'causal bottom-right, N < S',
    query: [B, H, 3, d],
    key: [B, H, 6, d],
    value: [B, H, 6, d],
    options: () => ({ causal: 'bottom-right' }),
  },
  {
    name: 'causal bottom-right, N > S (rows without keys)',
    query: [B, 6, d],
    key: [B, 3, d],
    value: [B, 3, d],
    options: () => ({ causal: 'bottom-right' }),
  },
  {
    name: 'softcap 1.5 on large scores',
    query: [B, H, N, d],
    key: [B, H, S, d],
    value: [B, H, S, d],
    amplitude: 3,
    options: () => ({ softcap: 1.5 }),
  },
  {
    name: 'softcap with scale -0.9, bias [N, S] and mask [B, 1, 1, S]',
    query: [B, H, N, d],
    key: [B, H, S, d],
    value: [B, H, S, d],
    amplitude: 2,
    options: (seed) => ({
      softcap: 1.2,
      scale: -0.9,
      bias: Tensor.randn([N, S], seed),
      mask: Tensor.from([[[[1, 0, 1, 1, 1]]], [[[0, 1, 1, 0, 1]]]]),
    }),
  },
  { name: 'GQA H = 4, Hkv = 2, dv != d', query: [B, 4, N, d], key: [B, 2, S, d], value: [B, 2, S, 2] },
  { name: 'GQA H = 4, Hkv = 1', query: [B, 4, N, d], key: [B, 1, S, d], value: [B, 1, S, d] },
  {
    name: 'broadcast query [2, 1, N, d] against key/value [1, 3, S, d]',
    query: [2, 1, N, d],
    key: [1, 3, S, d],
    value: [1, 3, S, 2],
  },
  {
    name: 'broadcast query [N, d] against key/value [2, 3, S, d], mask [2, 1, N, S]',
    query: [N, d],
    key: [2, 3, S, d],
    value: [2, 3, S, d],
    options: (seed) => ({ mask: withEntries(randomMask([2, 1, N, S], seed, 0.7), [0, 5, 10, 15, 20, 25, 30, 35], 1) }),
  },
  { name: 'broadcast key [S, d], value [H, S, dv]', query: [B, H, N, d], key: [S, d], value: [H, S, 2] },
  {
    name: 'fully masked rows (mask rows of zeros)',
    query: [B, H, N, d],
    key: [B, H, S, d],
    value: [B, H, S, d],
    // [B, 1, N, S]: row 1 of batch 0 and row 3 of batch 1 have no allowed key.
    options: () => ({
      mask: withEntries(Tensor.ones([B, 1, N, S]), [5, 6, 7, 8, 9, 35, 36, 37, 38, 39, 2, 13, 24], 0),
    }),
  },
  {
    name: 'fully masked row by a bias row of -Infinity',
    query: [B, N, d],
    key: [B, S, d],
    value: [B, S, d],
    options: (seed) => ({ bias: withEntries(Tensor.randn([N, S], seed), [10, 11, 12, 13, 14, 3], -Infinity) }),
  },
  {
    name: 'GQA + causal bottom-right + mask + bias + softcap',
    query: [B, 4, 3, d],
    key: [B, 2, 6, d],
    value: [B, 2, 6, 2],
    options: (seed) => ({
      causal: 'bottom-right',
      mask: withEntries(randomMask([B, 4, 3, 6], seed, 0.8), [3, 27, 51, 75], 1),
      bias: withEntries(Tensor.randn([4, 1, 6], seed + 1), [7], -Infinity),
      softcap: 2,
    }),
  },
];

/** Random inputs for a case, the gradients from qkv and from finite differences. */
function run(c: Case, seed: number) {
  const amp = c.amplitude ?? 1;
  const scaled = (t: Tensor) => new Tensor(t.data.map((x) => amp * x), t.shape);
  const query = scaled(Tensor.randn(c.query, seed));
  const key = scaled(Tensor.randn(c.key, seed + 1));
  const value = Tensor.randn(c.value, seed + 2);
  const options = c.options?.(seed + 3) ?? {};
  const forward = scaledDotProductAttention(query, key, value, options).output; // [...batch, N, dv]
  const gradOutput = Tensor.randn(forward.shape, seed + 4); // [...batch, N, dv]
  return { query, key, value, options, forward, gradOutput };
}

function checkAgainstFiniteDifferences(name: string, c: Case, seed: number): void {
  const { query, key, value, options, forward, gradOutput } = run(c, seed);
  const p = problem64(query, key, value, options);
  // The test's forward must be qkv's forward, or its differences would check some other function.
  assertRelClose(forward.data, forward64(p).data, TOL.parity, `${name}: float64 test forward vs qkv forward`);

  const grads = scaledDotProductAttentionBackward(query, key, value, gradOutput, options);
  const go = Float64Array.from(gradOutput.data);
  const inputs = [
    ['query', grads.gradQuery, query],
    ['key', grads.gradKey, key],
    ['value', grads.gradValue, value],
  ] as const;
  for (const [which, grad, input] of inputs) {
    assert.deepEqual(grad.shape, input.shape, `${name}: grad ${which} shape`);
    assert.ok(grad.data.every(Number.isFinite), `${name}: grad ${which} is finite`);
    assertRelClose(grad.data, centralDifferences(p, which, go), TOL.grad, `${name}: grad ${which}`);
  }
  if (options.bias) {
    assert.ok(grads.gradBias, `${name}: gradBias is returned with a bias`);
    assert.deepEqual(grads.gradBias.shape, options.bias.shape, `${name}: gradBias shape`);
    assertRelClose(grads.gradBias.data, centralDifferences(p, 'bias', go), TOL.grad, `${name}: grad bias`);
  } else {
    assert.equal(grads.gradBias, undefined, `${name}: no gradBias without a bias`);
  }
}

describe('scaledDotProductAttentionBackward equals float64 central differences', () => {
  cases.forEach((c, n) => {
    it(c.name, () => checkAgainstFiniteDifferences(c.name, c, 100 * (n + 1)));
  });

  it('on random shapes and options (fast-check)', () => {
    const arbitrary = fc.record({
      b: fc.integer({ min: 1, max: 2 }),
      hkv: fc.integer({ min: 1, max: 2 }),
      group: fc.integer({ min: 1, max: 2 }),
      n: fc.integer({ min: 1, max: 4 }),
      s: fc.integer({ min: 1, max: 4 }),
      d: fc.integer({ min: 1, max: 3 }),
      dv: fc.integer({ min: 1, max: 3 }),
      causal: fc.constantFrom(...([false, 'top-left', 'bottom-right'] as const)),
      masked: fc.boolean(),
      biased: fc.boolean(),
      scale: fc.option(fc.double({ min: -2, max: 2, noNaN: true }), { nil: undefined }),
      softcap: fc.constantFrom(0, 0.7, 3),
      seed: fc.integer({ min: 1, max: 1 << 20 }),
    });
    fc.assert(
      fc.property(arbitrary, (r) => {
        const h = r.hkv * r.group;
        const c: Case = {
          name: JSON.stringify(r),
          query: [r.b, h, r.n, r.d],
          key: [r.b, r.hkv, r.s, r.d],
          value: [r.b, r.hkv, r.s, r.dv],
          options: (seed) => {
            const o: AttentionOptions = { causal: r.causal, softcap: r.softcap };
            if (r.scale !== undefined) o.scale = r.scale;
            if (r.masked) o.mask = randomMask([r.b, 1, r.n, r.s], seed, 0.7);
            if (r.biased) o.bias = Tensor.randn([h, r.n, r.s], seed + 1);
            return o;
          },
        };
        checkAgainstFiniteDifferences(c.name, c, r.seed);
      }),
      { seed: 0x9ead, numRuns: 40 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Exact zeros, sums, and choices

/** The rows (of length `width`) of `data` that hold a nonzero. */
function nonzeroRows(data: Float32Array, width: number): number[] {
  const rows: number[] = [];
  for (let r = 0; r < data.length / width; r++) {
    if (data.subarray(r * width, (r + 1) * width).some((x) => x !== 0)) rows.push(r);
  }
  return rows;
}

describe('scaledDotProductAttentionBackward: rows without keys and blocked keys', () => {
  it('gives exactly 0 for a query row whose keys are all masked, and NaN nowhere (pytorch#41508)', () => {
    const query = Tensor.randn([2, 4, 3], 1); // [B, N, d]
    const key = Tensor.randn([2, 5, 3], 2); // [B, S, d]
    const value = Tensor.randn([2, 5, 3], 3); // [B, S, dv]
    const mask = withEntries(Tensor.ones([2, 4, 5]), [5, 6, 7, 8, 9, 30, 31, 32, 33, 34], 0); // rows b0 i1, b1 i2
    const gradOutput = Tensor.randn([2, 4, 3], 4);
    const g = scaledDotProductAttentionBackward(query, key, value, gradOutput, { mask });
    for (const t of [g.gradQuery, g.gradKey, g.gradValue]) assert.ok(t.data.every(Number.isFinite));
    assert.deepEqual(nonzeroRows(g.gradQuery.data, 3), [0, 2, 3, 4, 5, 7]); // rows 1 and 6 (b1 i2) are 0
  });

  it('gives exactly 0 to the rows that causal bottom-right leaves without keys (N > S)', () => {
    const query = Tensor.randn([6, 2], 5); // [N, d]
    const key = Tensor.randn([3, 2], 6); // [S, d]
    const value = Tensor.randn([3, 2], 7); // [S, dv]
    const g = scaledDotProductAttentionBackward(query, key, value, Tensor.randn([6, 2], 8), { causal: 'bottom-right' });
    // Rows 0..2 see no key (j ≤ i − 3). Row 3 sees key 0 alone, whose weight is 1 whatever q is: also 0.
    assert.deepEqual(nonzeroRows(g.gradQuery.data, 2), [4, 5]);
    assert.ok(g.gradValue.data.every(Number.isFinite));
  });

  it('gives exactly 0 to keys that no query may attend (causal top-left, N < S)', () => {
    const query = Tensor.randn([3, 2], 9); // [N, d]
    const key = Tensor.randn([6, 2], 10); // [S, d]
    const value = Tensor.randn([6, 2], 11); // [S, dv]
    const g = scaledDotProductAttentionBackward(query, key, value, Tensor.randn([3, 2], 12), { causal: true });
    assert.deepEqual(nonzeroRows(g.gradKey.data, 2), [0, 1, 2]);
    assert.deepEqual(nonzeroRows(g.gradValue.data, 2), [0, 1, 2]);
  });

  it('never reads a blocked key: NaN in its key and value reaches no gradient, and it gets 0', () => {
    const query = Tensor.randn([2, 4, 3], 13); // [B, N, d]
    const clean = { key: Tensor.randn([2, 5, 3], 14), value: Tensor.randn([2, 5, 2], 15) }; // [B, S, d], [B, S, dv]
    const mask = Tensor.from([[[1, 1, 0, 1, 1]], [[1, 1, 1, 1, 0]]]); // [B, 1, S]: key 2 of b0, key 4 of b1 blocked
    const key = withEntries(clean.key, [6, 7, 8, 27, 28, 29], NaN);
    const value = withEntries(clean.value, [4, 5, 18, 19], NaN);
    const zeroed = {
      key: withEntries(clean.key, [6, 7, 8, 27, 28, 29], 0),
      value: withEntries(clean.value, [4, 5, 18, 19], 0),
    };
    const gradOutput = Tensor.randn([2, 4, 2], 16);
    const g = scaledDotProductAttentionBackward(query, key, value, gradOutput, { mask });
    const ref = scaledDotProductAttentionBackward(query, zeroed.key, zeroed.value, gradOutput, { mask });
    assertBitwiseEqual(g.gradQuery.data, ref.gradQuery.data, 'gradQuery');
    assertBitwiseEqual(g.gradKey.data, ref.gradKey.data, 'gradKey');
    assertBitwiseEqual(g.gradValue.data, ref.gradValue.data, 'gradValue');
    assert.deepEqual(nonzeroRows(g.gradKey.data, 3), [0, 1, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(nonzeroRows(g.gradValue.data, 2), [0, 1, 3, 4, 5, 6, 7, 8]);
  });

  it('propagates NaN from an allowed key, as the forward does', () => {
    const query = Tensor.randn([2, 3], 17); // [N, d]
    const key = withEntries(Tensor.randn([4, 3], 18), [4], NaN); // [S, d]: key 1 allowed and NaN
    const value = Tensor.randn([4, 3], 19); // [S, dv]
    const g = scaledDotProductAttentionBackward(query, key, value, Tensor.ones([2, 3]));
    assert.ok(g.gradQuery.data.every(Number.isNaN));
  });

  it('gives zeros of the inputs\' shapes when S = 0', () => {
    const query = Tensor.randn([2, 3, 4], 20); // [H, N, d]
    const empty = new Tensor(new Float32Array(0), [2, 0, 4]); // [H, S, d]
    const g = scaledDotProductAttentionBackward(query, empty, empty, Tensor.ones([2, 3, 4]));
    assert.deepEqual(g.gradQuery.shape, [2, 3, 4]);
    assert.ok(g.gradQuery.data.every((x) => x === 0));
    assert.deepEqual(g.gradKey.shape, [2, 0, 4]);
    assert.deepEqual(g.gradValue.shape, [2, 0, 4]);
  });
});

describe('scaledDotProductAttentionBackward: sums over shared inputs', () => {
  /** Repeats each head of [B, Hkv, S, x] `group` times in place: [B, Hkv·group, S, x]. */
  function repeatHeads(t: Tensor, group: number): Tensor {
    const [b, hkv, s, x] = t.shape;
    const out = new Float32Array(b * hkv * group * s * x);
    for (let m = 0; m < b * hkv; m++) {
      for (let g = 0; g < group; g++) out.set(t.data.subarray(m * s * x, (m + 1) * s * x), (m * group + g) * s * x);
    }
    return new Tensor(out, [b, hkv * group, s, x]);
  }

  it('GQA: each key/value head gets the sum of its query heads\' gradients', () => {
    const query = Tensor.randn([2, 6, 3, 4], 21); // [B, H, N, d]
    const key = Tensor.randn([2, 2, 5, 4], 22); // [B, Hkv, S, d]
    const value = Tensor.randn([2, 2, 5, 3], 23); // [B, Hkv, S, dv]
    const gradOutput = Tensor.randn([2, 6, 3, 3], 24); // [B, H, N, dv]
    const options: AttentionOptions = { causal: 'bottom-right', softcap: 2 };
    const grouped = scaledDotProductAttentionBackward(query, key, value, gradOutput, options);
    const [key3, value3] = [repeatHeads(key, 3), repeatHeads(value, 3)]; // [B, H, S, d], [B, H, S, dv]
    const full = scaledDotProductAttentionBackward(query, key3, value3, gradOutput, options);
    assertRelClose(grouped.gradQuery.data, full.gradQuery.data, TOL.reorder, 'gradQuery');
    const sumGroups = (t: Tensor, x: number) => {
      const out = new Float64Array(2 * 2 * 5 * x); // [B, Hkv, S, x]
      for (let m = 0; m < 2 * 6; m++) {
        const kv = Math.floor(m / 3);
        for (let e = 0; e < 5 * x; e++) out[kv * 5 * x + e] += t.data[m * 5 * x + e];
      }
      return out;
    };
    assertRelClose(grouped.gradKey.data, sumGroups(full.gradKey, 4), TOL.reorder, 'gradKey');
    assertRelClose(grouped.gradValue.data, sumGroups(full.gradValue, 3), TOL.reorder, 'gradValue');
  });

  it('ignores returnWeights and trace; "auto" is the default, and "reference" agrees within float32 rounding', () => {
    const query = Tensor.randn([2, 3, 4], 25);
    const key = Tensor.randn([2, 5, 4], 26);
    const gradOutput = Tensor.randn([2, 3, 4], 27);
    const base = scaledDotProductAttentionBackward(query, key, key, gradOutput, { causal: true });
    for (const extra of [{ backend: 'auto' }, { returnWeights: true, trace: true }] as const) {
      const g = scaledDotProductAttentionBackward(query, key, key, gradOutput, { causal: true, ...extra });
      assertBitwiseEqual(g.gradQuery.data, base.gradQuery.data, `gradQuery with ${JSON.stringify(extra)}`);
      assertBitwiseEqual(g.gradKey.data, base.gradKey.data, `gradKey with ${JSON.stringify(extra)}`);
      assertBitwiseEqual(g.gradValue.data, base.gradValue.data, `gradValue with ${JSON.stringify(extra)}`);
    }
    // "auto" may run the float32 wasm kernel; the reference accumulates in float64.
    const ref = scaledDotProductAttentionBackward(query, key, key, gradOutput, { causal: true, backend: 'reference' });
    assertRelClose(base.gradQuery.data, ref.gradQuery.data, TOL.wasmF32, 'gradQuery, auto vs reference');
    assertRelClose(base.gradKey.data, ref.gradKey.data, TOL.wasmF32, 'gradKey, auto vs reference');
    assertRelClose(base.gradValue.data, ref.gradValue.data, TOL.wasmF32, 'gradValue, auto vs reference');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Bad inputs

describe('scaledDotProductAttentionBackward rejects bad inputs', () => {
  const q = Tensor.randn([2, 3, 5, 4], 1); // [B, H, N, d]
  const k = Tensor.randn([2, 3, 6, 4], 2); // [B, H, S, d]
  const v = Tensor.randn([2, 3, 6, 4], 3); // [B, H, S, dv]
  const go = Tensor.randn([2, 3, 5, 4], 4); // [B, H, N, dv]
  const call = (args: unknown[]) => () =>
    (scaledDotProductAttentionBackward as (...a: unknown[]) => unknown)(...args);

  const table: { name: string; args: unknown[]; code: 'E_SHAPE' | 'E_ARGUMENT'; message: RegExp }[] = [
    {
      name: 'gradOutput not a Tensor',
      args: [q, k, v, [[1]]],
      code: 'E_ARGUMENT',
      message: /^scaledDotProductAttentionBackward: gradOutput must be a Tensor; got /,
    },
    {
      name: 'gradOutput missing',
      args: [q, k, v],
      code: 'E_ARGUMENT',
      message: /^scaledDotProductAttentionBackward: gradOutput must be a Tensor; got undefined/,
    },
    {
      name: 'gradOutput with d instead of dv',
      args: [q, k, Tensor.randn([2, 3, 6, 2], 5), go],
      code: 'E_SHAPE',
      message: new RegExp(
        '^scaledDotProductAttentionBackward: gradOutput must be \\[\\.\\.\\.batch, N, dv\\] = \\[2, 3, 5, 2\\], ' +
          "the output's shape; got query \\[2, 3, 5, 4\\], key \\[2, 3, 6, 4\\], value \\[2, 3, 6, 2\\], " +
          'gradOutput \\[2, 3, 5, 4\\]$',
      ),
    },
    {
      name: 'gradOutput with S rows instead of N',
      args: [q, k, v, Tensor.randn([2, 3, 6, 4], 6)],
      code: 'E_SHAPE',
      message: /gradOutput must be \[\.\.\.batch, N, dv\] = \[2, 3, 5, 4\].*gradOutput \[2, 3, 6, 4\]$/,
    },
    {
      name: "gradOutput shaped like query, not like the broadcast output",
      args: [Tensor.randn([5, 4], 7), k, v, Tensor.randn([5, 4], 8)],
      code: 'E_SHAPE',
      message: /gradOutput must be \[\.\.\.batch, N, dv\] = \[2, 3, 5, 4\].*query \[5, 4\].*gradOutput \[5, 4\]$/,
    },
    {
      name: 'gradOutput that only broadcasts to the output',
      args: [q, k, v, Tensor.randn([1, 3, 5, 4], 9)],
      code: 'E_SHAPE',
      message: /gradOutput \[1, 3, 5, 4\]$/,
    },
    {
      name: 'key with another d',
      args: [q, Tensor.randn([2, 3, 6, 3], 10), v, go],
      code: 'E_SHAPE',
      message:
        /^scaledDotProductAttentionBackward: key must be \[\.\.\., S, d\] with d = 4 as in query; got query \[2, 3, 5, 4\], key \[2, 3, 6, 3\]/,
    },
    {
      name: 'value with another S',
      args: [q, k, Tensor.randn([2, 3, 7, 4], 11), go],
      code: 'E_SHAPE',
      message: /^scaledDotProductAttentionBackward: value must be \[\.\.\., S, dv\] with S = 6 as in key/,
    },
    {
      name: 'heads that neither broadcast nor group',
      args: [q, Tensor.randn([2, 2, 6, 4], 12), Tensor.randn([2, 2, 6, 4], 13), go],
      code: 'E_SHAPE',
      message: /^scaledDotProductAttentionBackward: batch dims of query, key and value must broadcast/,
    },
    {
      name: 'query not a Tensor',
      args: [[1, 2], k, v, go],
      code: 'E_ARGUMENT',
      message: /^scaledDotProductAttentionBackward: query must be a Tensor/,
    },
    {
      name: 'mask of a wrong shape',
      args: [q, k, v, go, { mask: Tensor.ones([5, 5]) }],
      code: 'E_SHAPE',
      message: /^scaledDotProductAttentionBackward: mask must broadcast to \[\.\.\.batch, N, S\] = \[2, 3, 5, 6\]; got mask \[5, 5\]/,
    },
    {
      name: 'bias of a wrong shape',
      args: [q, k, v, go, { bias: Tensor.ones([3, 1, 1, 6]) }],
      code: 'E_SHAPE',
      message: /^scaledDotProductAttentionBackward: bias must broadcast to \[\.\.\.batch, N, S\]/,
    },
    {
      name: 'causal not a known alignment',
      args: [q, k, v, go, { causal: 'yes' }],
      code: 'E_ARGUMENT',
      message: /^scaledDotProductAttentionBackward: causal must be/,
    },
    {
      name: 'scale NaN',
      args: [q, k, v, go, { scale: NaN }],
      code: 'E_ARGUMENT',
      message: /^scaledDotProductAttentionBackward: scale must be a finite number/,
    },
    {
      name: 'negative softcap',
      args: [q, k, v, go, { softcap: -1 }],
      code: 'E_ARGUMENT',
      message: /^scaledDotProductAttentionBackward: softcap must be a finite number ≥ 0/,
    },
    {
      name: 'unknown backend',
      args: [q, k, v, go, { backend: 'gpu' }],
      code: 'E_ARGUMENT',
      message: /^scaledDotProductAttentionBackward: backend must be "auto" or one of/,
    },
    {
      name: 'options null',
      args: [q, k, v, go, null],
      code: 'E_ARGUMENT',
      message: /^scaledDotProductAttentionBackward: options must be an object/,
    },
  ];

  for (const t of table) {
    it(t.name, () => {
      assert.throws(call(t.args), (e: unknown) => {
        assert.ok(isQkvError(e, t.code), `expected ${t.code}, got ${String(e)}`);
        assert.match((e as Error).message, t.message);
        return true;
      });
    });
  }
});
