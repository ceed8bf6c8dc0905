// The wasm backend's forward kernel (asm/attention.ts through src/kernels/wasm/) against the reference, the
// specification: every option, broadcast and grouped-query layouts, awkward sizes (N = 1, S ≠ N, d not a multiple
// of 4, ragged last tiles), NaN and infinity rules, weights, and the vectorised exp's accuracy.
//
// Most cases call the backend directly on a prepared problem, so that a declined problem (null) fails the test
// instead of silently running the reference; one case goes through the public API.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Tensor, availableBackends, scaledDotProductAttention } from '../../src/index.js';
import { getNumThreads, setNumThreads, wasmBackend } from '../../src/kernels/wasm/index.js';
import { poolStats } from '../../src/kernels/wasm/pool.js';
import { getKernel, reserveArena } from '../../src/kernels/wasm/runtime.js';
import { type AttentionOptions, prepareAttention } from '../../src/ops/attention.js';
import { attentionReference } from '../../src/reference/attention.js';
import { TOL, assertBitwiseEqual, assertRelClose } from '../tolerances.js';
import { DEFAULT_POOL_MIN_FLOPS, setPoolTestHooks } from './pool-hooks/index.js';

/** Runs the wasm kernel and the reference on the same problem and compares output (and weights when asked). */
function check(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}, what = 'case') {
  const { problem } = prepareAttention('wasm-forward.test', q, k, v, options);
  const request = { weights: options.returnWeights === true, trace: false };
  const got = wasmBackend.attention(problem, request);
  assert.ok(got, `${what}: the wasm backend declined the problem`);
  const want = attentionReference(problem, request);
  assertRelClose(got.output, want.output, TOL.wasmF32, `${what}: output`);
  if (request.weights) {
    assert.ok(got.weights, `${what}: weights missing`);
    assertRelClose(got.weights, want.weights!, TOL.wasmF32, `${what}: weights`);
    checkRowSums(got.weights, want.weights!, problem.S, what);
  }
  return { got, want, problem };
}

/** Each weight row sums to 1, or is all 0 where the reference's is (no allowed key); NaN rows are skipped. */
function checkRowSums(weights: Float32Array, reference: Float32Array, S: number, what: string): void {
  for (let row = 0; row * S < weights.length; row++) {
    let sum = 0;
    let refSum = 0;
    for (let j = 0; j < S; j++) {
      sum += weights[row * S + j];
      refSum += reference[row * S + j];
    }
    if (Number.isNaN(refSum)) continue;
    const expected = refSum === 0 ? 0 : 1;
    assert.ok(Math.abs(sum - expected) <= 1e-5, `${what}: weights row ${row} sums to ${sum}, expected ${expected}`);
  }
}

/** A 0/1 mask of the given shape with about `keep` of the entries 1. */
function randomMask(shape: number[], seed: number, keep = 0.7): Tensor {
  const u = Tensor.rand(shape, seed);
  return new Tensor(u.data.map((x) => (x < keep ? 1 : 0)), shape);
}

/** A copy of t with `value` at the given flat indices. */
function withValues(t: Tensor, indices: number[], value: number): Tensor {
  const data = t.data.slice();
  for (const i of indices) data[i] = value;
  return new Tensor(data, t.shape);
}

describe('wasm backend: registration', () => {
  it('is available in Node once its module is imported', () => {
    assert.ok(wasmBackend.available());
    assert.ok(availableBackends().includes('wasm'));
  });

  it('gives the reference results through the public API, and leaves traces to the reference', () => {
    const q = Tensor.randn([2, 3, 17, 8], 1); // [B, H, N, d]
    const k = Tensor.randn([2, 3, 23, 8], 2); // [B, H, S, d]
    const v = Tensor.randn([2, 3, 23, 5], 3); // [B, H, S, dv]
    const fast = scaledDotProductAttention(q, k, v, { backend: 'wasm', causal: true, returnWeights: true });
    const ref = scaledDotProductAttention(q, k, v, { backend: 'reference', causal: true, returnWeights: true });
    assert.deepEqual(fast.output.shape, [2, 3, 17, 5]);
    assertRelClose(fast.output.data, ref.output.data, TOL.wasmF32, 'output');
    assertRelClose(fast.weights!.data, ref.weights!.data, TOL.wasmF32, 'weights');

    const { problem } = prepareAttention('test', q, k, v, {});
    assert.equal(wasmBackend.attention(problem, { weights: false, trace: true }), null);
    const traced = scaledDotProductAttention(q, k, v, { backend: 'wasm', trace: true });
    assert.ok(traced.trace);
  });
});

describe('wasm backend: sizes', () => {
  const cases: [string, number[], number[], number[]][] = [
    // name, query [.., N, d], key [.., S, d], value [.., S, dv]
    ['N = S = d = 1', [1, 1, 1], [1, 1, 1], [1, 1, 1]],
    ['N = 1 (decoding), S = 100', [2, 1, 16], [2, 100, 16], [2, 100, 16]],
    ['d = 1', [3, 9, 1], [3, 12, 1], [3, 12, 2]],
    ['d = 3, dv = 5', [2, 4, 13, 3], [2, 4, 7, 3], [2, 4, 7, 5]],
    ['d = 64', [1, 2, 70, 64], [1, 2, 70, 64], [1, 2, 70, 64]],
    ['d = 65, dv = 7', [1, 2, 33, 65], [1, 2, 66, 65], [1, 2, 66, 7]],
    ['dv = 1', [2, 31, 8], [2, 40, 8], [2, 40, 1]],
    ['dv = 12 (not a multiple of 8)', [1, 20, 16], [1, 30, 16], [1, 30, 12]],
    ['ragged tiles: N = 130, S = 200', [1, 2, 130, 32], [1, 2, 200, 32], [1, 2, 200, 24]],
    ['S = 1', [2, 5, 4], [2, 1, 4], [2, 1, 3]],
    ['S = 64 exactly, N = 128 exactly', [1, 128, 16], [1, 64, 16], [1, 64, 16]],
    ['S < N', [1, 3, 90, 10], [1, 3, 20, 10], [1, 3, 20, 10]],
    ['rank 2 (no batch dims)', [15, 6], [9, 6], [9, 4]],
  ];
  cases.forEach(([name, qs, ks, vs], n) => {
    it(name, () => {
      const q = Tensor.randn(qs, 10 + n);
      const k = Tensor.randn(ks, 20 + n);
      const v = Tensor.randn(vs, 30 + n);
      check(q, k, v, {}, name);
      check(q, k, v, { returnWeights: true }, `${name}, weights`);
      check(q, k, v, { causal: true }, `${name}, causal`);
      check(q, k, v, { causal: 'bottom-right', returnWeights: true }, `${name}, bottom-right`);
    });
  });

  it('N = 0 and S = 0', () => {
    const weights = { returnWeights: true };
    const none = check(Tensor.randn([2, 0, 4], 1), Tensor.randn([2, 5, 4], 2), Tensor.randn([2, 5, 3], 3), weights);
    assert.equal(none.got.output.length, 0);
    const empty = check(Tensor.randn([2, 3, 4], 1), Tensor.zeros([2, 0, 4]), Tensor.zeros([2, 0, 3]), weights);
    assert.deepEqual([...empty.got.output], new Array(2 * 3 * 3).fill(0));
    assert.equal(empty.got.weights!.length, 0);
  });

  it('dv = 0 still gives weights', () => {
    check(Tensor.randn([1, 7, 4], 1), Tensor.randn([1, 9, 4], 2), Tensor.zeros([1, 9, 0]), { returnWeights: true });
  });
});

describe('wasm backend: broadcasting and grouped-query heads', () => {
  it('grouped-query attention: 8 query heads over 2 key/value heads', () => {
    const q = Tensor.randn([2, 8, 37, 16], 1);
    const k = Tensor.randn([2, 2, 50, 16], 2);
    const v = Tensor.randn([2, 2, 50, 16], 3);
    check(q, k, v, { causal: true, returnWeights: true }, 'GQA');
  });

  it('broadcast batch dims on query, key and value separately', () => {
    const r = Tensor.randn;
    check(r([1, 3, 11, 8], 1), r([2, 3, 14, 8], 2), r([2, 1, 14, 6], 3), {}, 'q broadcast over B');
    check(r([2, 3, 11, 8], 1), r([14, 8], 2), r([1, 14, 6], 3), {}, 'one k, v for every batch index');
    check(r([4, 1, 2, 9, 5], 1), r([3, 1, 12, 5], 2), r([4, 3, 1, 12, 5], 3), {}, 'rank 5');
  });
});

describe('wasm backend: masks, bias, causality, scale, softcap', () => {
  const q = Tensor.randn([2, 3, 70, 12], 1); // [B, H, N, d]
  const k = Tensor.randn([2, 3, 90, 12], 2); // [B, H, S, d]
  const v = Tensor.randn([2, 3, 90, 10], 3); // [B, H, S, dv]

  const masks: [string, number[]][] = [
    ['[N, S]', [70, 90]],
    ['key padding [B, 1, 1, S]', [2, 1, 1, 90]],
    ['per query [1, H, N, 1]', [1, 3, 70, 1]],
    ['full [B, H, N, S]', [2, 3, 70, 90]],
    ['scalar-like [1, 1]', [1, 1]],
  ];
  masks.forEach(([name, shape], n) => {
    it(`mask ${name}`, () => {
      const mask = randomMask(shape, 100 + n, 0.6);
      check(q, k, v, { mask, returnWeights: true }, `mask ${name}`);
      check(q, k, v, { mask, causal: true }, `mask ${name}, causal`);
    });
  });

  it('bias of several shapes, with -Infinity entries', () => {
    const bias = withValues(Tensor.randn([70, 90], 5), [0, 3, 91, 92, 500, 1000], -Infinity); // [N, S]
    check(q, k, v, { bias, returnWeights: true }, 'bias [N, S]');
    const perHead = withValues(Tensor.randn([3, 1, 90], 6), [1, 2, 100], -Infinity); // [H, 1, S]
    check(q, k, v, { bias: perHead, mask: randomMask([2, 1, 1, 90], 7), returnWeights: true }, 'bias [H, 1, S] + mask');
  });

  it('a row whose allowed keys all have bias -Infinity gives 0', () => {
    const biasData = new Float32Array(70 * 90);
    biasData.fill(-Infinity, 5 * 90, 6 * 90); // row 5: every key -Infinity
    const { got } = check(q, k, v, { bias: new Tensor(biasData, [70, 90]), returnWeights: true }, 'bias row -Inf');
    for (let b = 0; b < 6; b++) {
      for (let c = 0; c < 10; c++) assert.equal(got.output[(b * 70 + 5) * 10 + c], 0);
    }
  });

  it('fully masked rows give output 0 and weights 0', () => {
    const maskData = new Float32Array(70 * 90).fill(1);
    for (const row of [0, 33, 64, 69]) maskData.fill(0, row * 90, (row + 1) * 90);
    const { got } = check(q, k, v, { mask: new Tensor(maskData, [70, 90]), returnWeights: true }, 'masked rows');
    for (const row of [0, 33, 64, 69]) {
      assert.ok(got.output.subarray(row * 10, (row + 1) * 10).every((x) => x === 0));
      assert.ok(got.weights!.subarray(row * 90, (row + 1) * 90).every((x) => x === 0));
    }
  });

  it('both causal alignments with N < S and N > S', () => {
    for (const [N, S] of [
      [70, 150],
      [150, 70],
      [64, 64],
      [65, 1],
    ]) {
      const qq = Tensor.randn([2, N, 8], N);
      const kk = Tensor.randn([2, S, 8], S);
      const vv = Tensor.randn([2, S, 9], S + 1);
      for (const causal of [true, 'top-left', 'bottom-right'] as const) {
        check(qq, kk, vv, { causal, returnWeights: true }, `N=${N} S=${S} causal ${causal}`);
        check(qq, kk, vv, { causal, mask: randomMask([N, S], 3) }, `N=${N} S=${S} causal ${causal} + mask`);
      }
    }
  });

  it('scale 0 and negative scales', () => {
    check(q, k, v, { scale: 0, returnWeights: true }, 'scale 0');
    check(q, k, v, { scale: -0.3, causal: 'bottom-right', returnWeights: true }, 'scale -0.3');
  });

  it('softcap', () => {
    check(q, k, v, { softcap: 5, scale: 1, returnWeights: true }, 'softcap 5');
    check(q, k, v, { softcap: 0.5, bias: Tensor.randn([70, 90], 9), causal: true }, 'softcap 0.5 + bias + causal');
  });

  it('huge logits (scores about 1e4)', () => {
    const big = (t: Tensor) => new Tensor(t.data.map((x) => x * 30), t.shape);
    const qq = big(Tensor.randn([2, 40, 16], 1));
    const kk = big(Tensor.randn([2, 60, 16], 2));
    const vv = Tensor.randn([2, 60, 16], 3);
    check(qq, kk, vv, { scale: 1, returnWeights: true }, 'huge logits');
    check(qq, kk, vv, { scale: 1, causal: true }, 'huge logits, causal');
  });
});

describe('wasm backend: NaN and infinity rules', () => {
  const q = Tensor.randn([1, 2, 70, 8], 1); // [B, H, N, d]
  const k = Tensor.randn([1, 2, 80, 8], 2); // [B, H, S, d]
  const v = Tensor.randn([1, 2, 80, 6], 3); // [B, H, S, dv]

  it('NaN in a query row makes exactly that row NaN', () => {
    const { got } = check(withValues(q, [3 * 8 + 1, 75 * 8], NaN), k, v, { returnWeights: true }, 'NaN query');
    assert.ok(Number.isNaN(got.output[3 * 6]));
    assert.ok(!Number.isNaN(got.output[4 * 6]));
  });

  it('NaN in a key reaches only the rows that may attend it', () => {
    // Key 50 of head 0 is NaN; causal top-left: rows 0..49 never read it.
    const { got } = check(q, withValues(k, [50 * 8 + 2], NaN), v, { causal: true, returnWeights: true }, 'NaN key');
    assert.ok(!Number.isNaN(got.output[49 * 6]));
    assert.ok(Number.isNaN(got.output[50 * 6]));
  });

  it('NaN and Infinity in values: blocked keys are never read, allowed ones propagate', () => {
    const vv = withValues(withValues(v, [60 * 6 + 1], NaN), [20 * 6 + 4, (80 + 7) * 6], Infinity);
    check(q, k, vv, { causal: true, returnWeights: true }, 'NaN value, causal');
    check(q, k, vv, { mask: randomMask([70, 80], 4, 0.5) }, 'NaN value, mask');
    const keyPadding = new Tensor(new Float32Array(80).fill(1).fill(0, 55), [80]); // keys 55.. blocked
    check(q, k, withValues(v, [60 * 6 + 1, 79 * 6], NaN), { mask: keyPadding }, 'NaN value behind padding');
  });

  it('a NaN value at an allowed key with bias -Infinity still propagates (weight 0 times NaN)', () => {
    const bias = new Tensor(new Float32Array(80).fill(0).fill(-Infinity, 10, 11), [80]); // key 10: -Infinity
    check(q, k, withValues(v, [10 * 6], NaN), { bias }, 'NaN value, bias -Inf');
  });

  it('NaN in mask means may attend; NaN in bias propagates only where allowed', () => {
    const mask = withValues(randomMask([70, 80], 5, 0.5), [0, 1, 2, 300], NaN);
    const bias = withValues(Tensor.zeros([70, 80]), [5, 81, 82, 700], NaN);
    check(q, k, v, { mask, bias, returnWeights: true }, 'NaN mask and bias');
  });

  it('a row with one NaN score and every other key -Infinity is NaN', () => {
    const bias = new Tensor(new Float32Array(70 * 80).fill(-Infinity), [70, 80]);
    bias.data[2 * 80 + 7] = NaN; // row 2, key 7
    const { got } = check(q, k, v, { bias, returnWeights: true }, 'lone NaN');
    assert.ok(Number.isNaN(got.output[2 * 6]));
    assert.equal(got.output[3 * 6], 0);
  });

  it('+Infinity scores make the row NaN, as in the reference', () => {
    const bias = withValues(Tensor.zeros([70, 80]), [4 * 80 + 3], Infinity);
    check(q, k, v, { bias, returnWeights: true }, '+Inf bias');
  });
});

describe('wasm backend: calls are independent and deterministic', () => {
  it('a large call followed by a small one, and repeated calls, give equal results', () => {
    const small = [Tensor.randn([1, 5, 3], 1), Tensor.randn([1, 6, 3], 2), Tensor.randn([1, 6, 2], 3)] as const;
    const first = check(...small, { returnWeights: true }, 'small, first');
    const large = [Tensor.randn([2, 4, 300, 40], 4), Tensor.randn([2, 4, 300, 40], 5), Tensor.randn([2, 4, 300, 40], 6)];
    check(large[0], large[1], large[2], { returnWeights: true }, 'large');
    const again = check(...small, { returnWeights: true }, 'small, again');
    assertBitwiseEqual(again.got.output, first.got.output, 'output');
    assertBitwiseEqual(again.got.weights!, first.got.weights!, 'weights');
  });

  it('reuses its arena: repeated calls do not grow the memory', () => {
    const args = [Tensor.randn([3, 50, 20], 1), Tensor.randn([3, 80, 20], 2), Tensor.randn([3, 80, 20], 3)] as const;
    check(...args, { returnWeights: true });
    const bytes = getKernel()!.memory.buffer.byteLength;
    for (let i = 0; i < 5; i++) check(...args, { returnWeights: true });
    assert.equal(getKernel()!.memory.buffer.byteLength, bytes);
  });

  it('declines a problem whose weights do not fit its memory (the reference then runs)', () => {
    // weights [1, 16384, 40000] would take 2.6 GB; the decision is made before anything is allocated.
    const q = Tensor.zeros([16384, 1]);
    const kv = Tensor.zeros([40000, 1]);
    const { problem } = prepareAttention('test', q, kv, kv, {});
    assert.equal(wasmBackend.attention(problem, { weights: true, trace: false }), null);
  });
});

describe('wasm backend: vectorised exp', () => {
  it('is within 1 ulp of Math.exp where the result is normal, near it or 0 below, exact at 0, NaN for NaN', () => {
    const kernel = getKernel()!;
    const xs: number[] = [];
    // Every float32 in [-87.3, 0] is too many for a test; take every 997th bit pattern, plus special values.
    const bits = new Uint32Array(1);
    const asFloat = new Float32Array(bits.buffer);
    for (let b = 0x80000000; b <= 0xc2aeac4f; b += 997) {
      bits[0] = b;
      xs.push(asFloat[0]);
    }
    const specials = [0, -0, -87.33, -87.34, -88, -100, -1e30, -Infinity, NaN];
    const n = xs.length + specials.length;
    assert.ok(reserveArena(kernel, 8 * n + 64));
    const at = kernel.arenaBase;
    const io = new Float32Array(kernel.memory.buffer, at, n);
    io.set(xs);
    io.set(specials, xs.length);
    kernel.exports.vexp_array(at, at, n);

    const f = new Float32Array(1);
    const ulp = (x: number): number => {
      f[0] = x;
      const u = new Uint32Array(f.buffer);
      u[0] += 1;
      return f[0] - x;
    };
    const smallestNormal = 1.1754943508222875e-38;
    const subnormalUlp = 1.401298464324817e-45;
    let worst = 0;
    for (let i = 0; i < xs.length; i++) {
      const exact = Math.fround(Math.exp(xs[i]));
      if (exact < smallestNormal) continue; // subnormal results, checked below
      worst = Math.max(worst, Math.abs(io[i] - exact) / ulp(exact));
    }
    assert.ok(worst <= 1, `max error ${worst} ulp`);
    // Where the exact result is subnormal (x below ln(2^-126) ≈ -87.3365), the result is that subnormal to within two
    // of its ulps, or 0 from about -87.68 on (the kernel clamps its argument at -88, where 2^n is 0).
    for (let x = -87.34; x > -88.2; x -= 0.01) {
      io[0] = x;
      kernel.exports.vexp_array(at, at, 1);
      const exact = Math.exp(Math.fround(x));
      assert.ok(io[0] === 0 || Math.abs(io[0] - exact) <= 2 * subnormalUlp, `exp(${Math.fround(x)}) = ${io[0]}, not ${exact}`);
      if (x < -87.7) assert.equal(io[0], 0, `exp(${Math.fround(x)})`);
    }
    const s = io.subarray(xs.length);
    assert.deepEqual([...s.subarray(0, 2)], [1, 1]);
    assert.ok(s[2] >= smallestNormal && s[3] > 0 && s[3] < smallestNormal);
    assert.ok(s[4] === 0 && s[5] === 0 && s[6] === 0 && s[7] === 0);
    assert.ok(Number.isNaN(s[8]));
  });
});

describe('wasm backend: inputs streamed in while the pool computes', () => {
  // With the pool, a problem whose heads are rows of their own is copied in head by head after the job opens, and
  // each unit waits for its head (SLOT.BATCH_STATE); each head decides on its own whether its values need the
  // careful P·V. The result must not depend on any of it.
  let threadsBefore = 1;
  before(() => {
    threadsBefore = getNumThreads();
    setNumThreads(2);
    setPoolTestHooks({ minFlops: 0 });
  });
  after(() => {
    setPoolTestHooks({ minFlops: DEFAULT_POOL_MIN_FLOPS });
    setNumThreads(threadsBefore);
  });

  it('equals the reference, and the one-thread result bit for bit, with NaN values in one head only', () => {
    const q = Tensor.randn([2, 3, 90, 8], 1); // [B, H, N, d]
    const k = Tensor.randn([2, 3, 90, 8], 2);
    const v = withValues(Tensor.randn([2, 3, 90, 8], 3), [(1 * 3 + 2) * 90 * 8 + 80 * 8 + 1], NaN); // head (1, 2), key 80
    const jobs = poolStats().jobs;
    const pooled = check(q, k, v, { causal: true, returnWeights: true }, 'streamed');
    assert.ok(poolStats().jobs > jobs, 'the call ran on the pool');
    const head = (1 * 3 + 2) * 90 * 8; // output offset of head (1, 2)
    assert.ok(!Number.isNaN(pooled.got.output[head + 79 * 8 + 1]), 'row 79 never reads key 80');
    assert.ok(Number.isNaN(pooled.got.output[head + 80 * 8 + 1]), 'row 80 reads it (in value column 1)');
    assert.ok(pooled.got.output.subarray(0, head).every((x) => !Number.isNaN(x)), 'the other heads stay finite');

    setNumThreads(1);
    const single = check(q, k, v, { causal: true, returnWeights: true }, 'one thread');
    setNumThreads(2);
    assertBitwiseEqual(pooled.got.output, single.got.output, 'output');
    assertBitwiseEqual(pooled.got.weights!, single.got.weights!, 'weights');
  });
});
