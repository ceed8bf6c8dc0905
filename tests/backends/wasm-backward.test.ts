// The wasm backend's flash-attention backward (asm/attention-backward.ts through src/kernels/wasm/) against the
// reference backward, the specification: grouped-query heads and broadcast batch dims (summed into the inputs'
// layouts), both causal alignments, masks of several shapes, rows without an allowed key, head sizes 1, 3, 64 and 65,
// N ≠ S, several query and key tiles, query-tile chunks, NaN and infinity rules, what it declines, and results that
// are bitwise the same on one and two threads.
//
// Cases call the backend directly on a prepared problem, so that a declined problem (null) fails the test instead of
// silently running the reference; one case goes through the public API.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { Tensor, availableBackends, scaledDotProductAttentionBackward } from '../../src/index.js';
import { getNumThreads, setNumThreads, wasmBackend } from '../../src/kernels/wasm/index.js';
import { poolStats } from '../../src/kernels/wasm/pool.js';
import { type AttentionOptions, prepareAttention } from '../../src/ops/attention.js';
import { type AttentionGradientsResult, attentionBackwardReference } from '../../src/reference/attention-backward.js';
import { TOL, assertBitwiseEqual, assertRelClose } from '../tolerances.js';
import { DEFAULT_POOL_MIN_FLOPS, setPoolTestHooks } from './pool-hooks/index.js';

const skip = availableBackends().includes('wasm') ? undefined : 'the wasm backend is not available here';

/** The wasm backward of one prepared problem, with a gradient of the output's size drawn from `seed`. */
function run(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions, seed: number, gradOutput?: Float32Array) {
  const { problem } = prepareAttention('wasm-backward.test', q, k, v, options);
  const g = gradOutput ?? Tensor.randn([problem.batch * problem.N * problem.dv], seed).data; // [batch, N, dv]
  const got = wasmBackend.attentionBackward!(problem, g);
  return { problem, g, got };
}

/** Runs the wasm backward and the reference, and compares the three gradients. */
function check(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}, what = 'case', seed = 99) {
  const { problem, g, got } = run(q, k, v, options, seed);
  assert.ok(got, `${what}: the wasm backend declined the problem`);
  const want = attentionBackwardReference(problem, g);
  assertRelClose(got.query, want.query, TOL.wasmF32, `${what}: gradQuery`);
  assertRelClose(got.key, want.key, TOL.wasmF32, `${what}: gradKey`);
  assertRelClose(got.value, want.value, TOL.wasmF32, `${what}: gradValue`);
  return { got, want };
}

/** A 0/1 mask of the given shape with about `keep` of the entries 1. */
function randomMask(shape: number[], seed: number, keep = 0.7): Tensor {
  return new Tensor(Tensor.rand(shape, seed).data.map((x) => (x < keep ? 1 : 0)), shape);
}

/** A copy of t with `value` at the given flat indices. */
function withValues(t: Tensor, indices: number[], value: number): Tensor {
  const data = t.data.slice();
  for (const i of indices) data[i] = value;
  return new Tensor(data, t.shape);
}

function assertGradsBitwise(a: AttentionGradientsResult, b: AttentionGradientsResult, what: string): void {
  assertBitwiseEqual(a.query, b.query, `${what}: gradQuery`);
  assertBitwiseEqual(a.key, b.key, `${what}: gradKey`);
  assertBitwiseEqual(a.value, b.value, `${what}: gradValue`);
}

describe('wasm backward: sizes and tiles', { skip }, () => {
  const cases: [string, number[], number[], number[], AttentionOptions][] = [
    ['N = S = 1, d = 1', [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], {}],
    ['d = 1, N ≠ S', [1, 2, 5, 1], [1, 2, 9, 1], [1, 2, 9, 1], {}],
    ['d = 3, dv = 5', [2, 1, 7, 3], [2, 1, 4, 3], [2, 1, 4, 5], {}],
    ['d = 64, several query and key tiles', [1, 2, 150, 64], [1, 2, 200, 64], [1, 2, 200, 64], {}],
    ['d = 65, dv = 65', [1, 1, 70, 65], [1, 1, 66, 65], [1, 1, 66, 65], {}],
    ['N = 1 against many keys', [1, 3, 1, 16], [1, 3, 130, 16], [1, 3, 130, 8], {}],
    ['one head split into query-tile chunks (N = 300)', [1, 1, 300, 8], [1, 1, 90, 8], [1, 1, 90, 8], { causal: true }],
    ['two heads, three chunks each', [1, 2, 130, 12], [1, 2, 130, 12], [1, 2, 130, 12], {}],
  ];
  for (const [name, qs, ks, vs, options] of cases) {
    it(name, () => {
      check(Tensor.randn(qs, 1), Tensor.randn(ks, 2), Tensor.randn(vs, 3), options, name);
    });
  }

  it('N = 0 and S = 0 give zeros of the inputs\' sizes', () => {
    const empty = run(Tensor.randn([1, 2, 0, 4], 1), Tensor.randn([1, 2, 5, 4], 2), Tensor.randn([1, 2, 5, 3], 3), {}, 4);
    assert.ok(empty.got && empty.got.key.every((x) => x === 0) && empty.got.key.length === 40);
    const noKeys = run(Tensor.randn([1, 2, 3, 4], 1), Tensor.randn([1, 2, 0, 4], 2), Tensor.randn([1, 2, 0, 3], 3), {}, 4);
    assert.ok(noKeys.got && noKeys.got.query.every((x) => x === 0) && noKeys.got.query.length === 24);
  });
});

describe('wasm backward: broadcasting and grouped-query heads', { skip }, () => {
  it('grouped-query attention: 6 query heads over 2 key/value heads (each kv head sums its 3 query heads)', () => {
    check(Tensor.randn([2, 6, 40, 16], 5), Tensor.randn([2, 2, 70, 16], 6), Tensor.randn([2, 2, 70, 8], 7), {}, 'GQA');
  });

  it('broadcast batch dims on query, key and value separately', () => {
    check(Tensor.randn([1, 3, 20, 8], 8), Tensor.randn([2, 1, 30, 8], 9), Tensor.randn([2, 3, 30, 4], 10), {}, 'q over B');
    check(Tensor.randn([2, 3, 20, 8], 11), Tensor.randn([1, 1, 30, 8], 12), Tensor.randn([1, 3, 30, 4], 13), {}, 'k, v over B');
  });

  it('grouped heads with a causal mask and chunks (sums across chunks and heads in a fixed order)', () => {
    check(Tensor.randn([1, 4, 200, 8], 14), Tensor.randn([1, 2, 200, 8], 15), Tensor.randn([1, 2, 200, 8], 16), { causal: true }, 'GQA causal');
  });
});

describe('wasm backward: masks, causality, scale', { skip }, () => {
  const q = Tensor.randn([2, 3, 70, 8], 20); // [B, H, N, d]
  const k = Tensor.randn([2, 3, 90, 8], 21); // [B, H, S, d]
  const v = Tensor.randn([2, 3, 90, 6], 22); // [B, H, S, dv]
  const masks: [string, number[]][] = [
    ['[B, H, N, S]', [2, 3, 70, 90]],
    ['key padding [B, 1, 1, S]', [2, 1, 1, 90]],
    ['[N, S] shared by every head', [70, 90]],
    ['per-query [B, 1, N, 1]', [2, 1, 70, 1]],
  ];
  for (const [name, shape] of masks) {
    it(`mask ${name}`, () => {
      check(q, k, v, { mask: randomMask(shape, 23) }, `mask ${name}`);
    });
  }

  it('both causal alignments with N < S and N > S', () => {
    const long = Tensor.randn([1, 2, 130, 8], 24); // [B, H, 130, d]
    const short = Tensor.randn([1, 2, 50, 8], 25); // [B, H, 50, d]
    for (const causal of [true, 'top-left', 'bottom-right'] as const) {
      check(short, long, long, { causal }, `causal ${causal}, N < S`);
      check(long, short, short, { causal }, `causal ${causal}, N > S`);
    }
  });

  it('rows without an allowed key give exactly 0 and blocked keys get nothing', () => {
    const mask = randomMask([1, 1, 40, 60], 26);
    for (let j = 0; j < 60; j++) mask.data[5 * 60 + j] = 0; // query row 5 sees nothing
    for (let i = 0; i < 40; i++) mask.data[i * 60 + 7] = 0; // key 7 is seen by no query
    const { got } = check(Tensor.randn([1, 2, 40, 4], 27), Tensor.randn([1, 2, 60, 4], 28), Tensor.randn([1, 2, 60, 4], 29), { mask }, 'masked');
    for (let h = 0; h < 2; h++) {
      for (let c = 0; c < 4; c++) {
        assert.equal(got!.query[(h * 40 + 5) * 4 + c], 0, 'gradQuery of the row without keys');
        assert.equal(got!.key[(h * 60 + 7) * 4 + c], 0, 'gradKey of the unseen key');
        assert.equal(got!.value[(h * 60 + 7) * 4 + c], 0, 'gradValue of the unseen key');
      }
    }
  });

  it('bottom-right with S < N leaves the first N − S rows without keys', () => {
    check(Tensor.randn([1, 1, 100, 8], 30), Tensor.randn([1, 1, 30, 8], 31), Tensor.randn([1, 1, 30, 8], 32), { causal: 'bottom-right' }, 'br');
  });

  it('scale 0 and negative scales', () => {
    const a = Tensor.randn([1, 2, 20, 8], 33);
    const b = Tensor.randn([1, 2, 25, 8], 34);
    check(a, b, b, { scale: 0 }, 'scale 0');
    check(a, b, b, { scale: -0.7 }, 'scale -0.7');
  });
});

describe('wasm backward: NaN and infinity rules', { skip }, () => {
  it('never reads a blocked key: NaN there gives bitwise the gradients of zeros there, and the key gets 0', () => {
    const q = Tensor.randn([2, 1, 70, 3], 40); // [B, H, N, d]
    const k = Tensor.randn([2, 1, 80, 3], 41);
    const v = Tensor.randn([2, 1, 80, 2], 42);
    const mask = Tensor.ones([2, 1, 1, 80]);
    mask.data[2] = 0; // key 2 of b0 blocked
    mask.data[80 + 75] = 0; // key 75 of b1 blocked
    const nanK = withValues(k, [6, 7, 8, (80 + 75) * 3], NaN);
    const nanV = withValues(v, [4, 5, (80 + 75) * 2 + 1], Infinity);
    const zeroK = withValues(k, [6, 7, 8, (80 + 75) * 3], 0);
    const zeroV = withValues(v, [4, 5, (80 + 75) * 2 + 1], 0);
    const g = Tensor.randn([2 * 70 * 2], 43).data;
    const nan = run(q, nanK, nanV, { mask }, 0, g).got;
    const zero = run(q, zeroK, zeroV, { mask }, 0, g).got;
    assert.ok(nan && zero);
    assertGradsBitwise(nan, zero, 'NaN at blocked keys vs zeros');
    assert.deepEqual([...nan.key.subarray(6, 9)], [0, 0, 0]);
    check(q, nanK, nanV, { mask }, 'NaN at blocked keys vs the reference', 44);
  });

  it('an allowed NaN key makes the rows that see it NaN, as the reference does', () => {
    const q = Tensor.randn([1, 1, 30, 4], 45);
    const k = withValues(Tensor.randn([1, 1, 30, 4], 46), [10 * 4 + 1], NaN); // key 10
    const v = Tensor.randn([1, 1, 30, 4], 47);
    const { got } = check(q, k, v, { causal: true }, 'causal NaN key');
    for (let i = 0; i < 30; i++) assert.equal(Number.isNaN(got!.query[i * 4]), i >= 10, `row ${i}`);
  });

  it('NaN in a query row and Infinity in dL/d(output) stay in their rows', () => {
    const q = withValues(Tensor.randn([1, 2, 20, 4], 48), [3 * 4], NaN);
    const k = Tensor.randn([1, 2, 25, 4], 49);
    const v = Tensor.randn([1, 2, 25, 4], 50);
    const { problem } = prepareAttention('wasm-backward.test', q, k, v, {});
    const g = withValues(Tensor.randn([2 * 20 * 4], 51), [(20 + 6) * 4 + 2], Infinity).data;
    const got = wasmBackend.attentionBackward!(problem, g);
    assert.ok(got);
    const want = attentionBackwardReference(problem, g);
    assertRelClose(got.query, want.query, TOL.wasmF32, 'gradQuery');
    assertRelClose(got.key, want.key, TOL.wasmF32, 'gradKey');
    assertRelClose(got.value, want.value, TOL.wasmF32, 'gradValue');
  });
});

describe('wasm backward: declines, and the public API', { skip }, () => {
  it('declines a bias and a softcap (the reference then runs)', () => {
    const q = Tensor.randn([1, 1, 4, 4], 60);
    assert.equal(run(q, q, q, { bias: Tensor.randn([4, 4], 61) }, 1).got, null);
    assert.equal(run(q, q, q, { softcap: 5 }, 1).got, null);
  });

  it('scaledDotProductAttentionBackward with backend "wasm" gives the kernel\'s gradients', () => {
    const q = Tensor.randn([2, 4, 33, 16], 62);
    const k = Tensor.randn([2, 2, 47, 16], 63);
    const v = Tensor.randn([2, 2, 47, 8], 64);
    const gradOutput = Tensor.randn([2, 4, 33, 8], 65);
    const options: AttentionOptions = { causal: 'bottom-right' };
    const viaApi = scaledDotProductAttentionBackward(q, k, v, gradOutput, { ...options, backend: 'wasm' });
    const { problem } = prepareAttention('wasm-backward.test', q, k, v, options);
    const direct = wasmBackend.attentionBackward!(problem, gradOutput.data)!;
    assertBitwiseEqual(viaApi.gradQuery.data, direct.query, 'gradQuery');
    assertBitwiseEqual(viaApi.gradKey.data, direct.key, 'gradKey');
    assertBitwiseEqual(viaApi.gradValue.data, direct.value, 'gradValue');
    assert.deepEqual(viaApi.gradKey.shape, [2, 2, 47, 16]);
  });
});

describe('wasm backward: one and two threads give bitwise equal gradients', { skip }, () => {
  const before = getNumThreads();
  after(() => {
    setNumThreads(before);
    setPoolTestHooks({ minFlops: DEFAULT_POOL_MIN_FLOPS });
  });
  const cases: [string, Tensor, Tensor, Tensor, AttentionOptions][] = [
    ['12 heads', Tensor.randn([1, 12, 70, 16], 70), Tensor.randn([1, 12, 70, 16], 71), Tensor.randn([1, 12, 70, 16], 72), {}],
    ['one head in chunks, causal', Tensor.randn([1, 1, 300, 8], 73), Tensor.randn([1, 1, 300, 8], 74), Tensor.randn([1, 1, 300, 8], 75), { causal: true }],
    ['GQA with a mask and NaN (careful mode)', Tensor.randn([2, 4, 90, 5], 76), withValues(Tensor.randn([2, 2, 65, 5], 77), [9], NaN), Tensor.randn([2, 2, 65, 5], 78), { mask: randomMask([2, 1, 90, 65], 79) }],
  ];
  for (const [name, q, k, v, options] of cases) {
    it(name, (t) => {
      setNumThreads(1);
      const one = run(q, k, v, options, 80).got;
      setNumThreads(2);
      if (getNumThreads() !== 2) {
        t.skip('two wasm threads cannot run here');
        return;
      }
      setPoolTestHooks({ minFlops: 0 });
      const jobs = poolStats().jobs;
      const two = run(q, k, v, options, 80).got;
      assert.ok(one && two);
      assert.ok(poolStats().jobs > jobs, 'the two-thread call did not run on the pool');
      assertGradsBitwise(two, one, name);
    });
  }
});
