// The wasm backend's GEMM (asm/gemm.ts through src/kernels/wasm/gemm.ts) against the reference (reference/linear.ts):
// the three products of a linear layer and its backward on awkward sizes, bitwise equality on one and two threads,
// rows that do not depend on how many rows the call has (a key/value cache projects one token at a time), and the
// dispatch through runLinear and the autograd `linear` and `matmul`.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { Tensor, availableBackends } from '../../src/index.js';
import { Var, backward } from '../../src/autograd/var.js';
import { linear, matmul, mul, sum } from '../../src/autograd/tensor-ops.js';
import { runLinear } from '../../src/kernels/backend.js';
import { getNumThreads, setNumThreads, wasmBackend } from '../../src/kernels/wasm/index.js';
import { poolStats } from '../../src/kernels/wasm/pool.js';
import { type GemmProblem, gemmReference, linearReference } from '../../src/reference/linear.js';
import { TOL, assertBitwiseEqual, assertRelClose } from '../tolerances.js';
import { DEFAULT_POOL_MIN_FLOPS, setPoolTestHooks } from './pool-hooks/index.js';

const skip = availableBackends().includes('wasm') ? undefined : 'the wasm backend is not available here';
const SIZES = [1, 3, 5, 8, 67];

/** The three forms: y = x·Wᵀ + b (linear), dX = dY·W, dW = dYᵀ·X. */
const FORMS = [
  { name: 'x·Wᵀ + b', transA: false, transB: true, bias: true },
  { name: 'dY·W', transA: false, transB: false, bias: false },
  { name: 'dYᵀ·X', transA: true, transB: false, bias: false },
  { name: 'A·B + b', transA: false, transB: false, bias: true },
] as const;

function problem(M: number, K: number, N: number, form: (typeof FORMS)[number], seed: number): GemmProblem {
  return {
    a: Tensor.randn([M * K], seed).data, // [M, K], or [K, M] when transA
    b: Tensor.randn([K * N], seed + 1).data, // [K, N], or [N, K] when transB
    M,
    K,
    N,
    transA: form.transA,
    transB: form.transB,
    bias: form.bias ? Tensor.randn([N], seed + 2).data : null,
  };
}

describe('wasm GEMM against the reference on awkward sizes', { skip }, () => {
  for (const form of FORMS) {
    it(`${form.name}: M, K, N ∈ {${SIZES.join(', ')}}`, () => {
      let seed = 1;
      for (const M of SIZES) {
        for (const K of SIZES) {
          for (const N of SIZES) {
            const p = problem(M, K, N, form, (seed += 3));
            const got = wasmBackend.gemm!(p);
            assert.ok(got, `${form.name} M=${M} K=${K} N=${N}: declined`);
            assertRelClose(got, gemmReference(p), TOL.wasmF32, `${form.name} M=${M} K=${K} N=${N}`);
          }
        }
      }
    });
  }

  it('K = 0 gives the bias; M = 0 and N = 0 give empty results', () => {
    const bias = Float32Array.from([1, -2, 3]);
    const p: GemmProblem = { a: new Float32Array(0), b: new Float32Array(0), M: 2, K: 0, N: 3, transA: false, transB: true, bias };
    assert.deepEqual([...wasmBackend.gemm!(p)!], [1, -2, 3, 1, -2, 3]);
    assert.deepEqual([...wasmBackend.gemm!({ ...p, transB: false })!], [1, -2, 3, 1, -2, 3]);
    assert.equal(wasmBackend.gemm!({ ...p, M: 0 })!.length, 0);
    assert.equal(wasmBackend.gemm!({ ...p, N: 0, bias: null })!.length, 0);
  });

  it('declines both operands transposed (the reference runs)', () => {
    assert.equal(wasmBackend.gemm!({ ...problem(3, 4, 5, FORMS[1], 7), transA: true, transB: true }), null);
  });

  it('NaN and Infinity propagate to exactly the elements whose sums they enter', () => {
    const p = problem(9, 10, 11, FORMS[0], 50);
    p.a[2 * 10 + 3] = NaN; // row 2 of x
    p.b[4 * 10 + 7] = Infinity; // row 4 of W: column 4 of y
    const got = wasmBackend.gemm!(p)!;
    for (let m = 0; m < 9; m++) {
      for (let n = 0; n < 11; n++) {
        const want = gemmReference(p)[m * 11 + n];
        assert.ok(Object.is(Number.isNaN(got[m * 11 + n]), Number.isNaN(want)), `y[${m}, ${n}]`);
      }
    }
  });
});

describe('wasm GEMM rows do not depend on M', { skip }, () => {
  for (const form of [FORMS[0], FORMS[1]]) {
    it(`${form.name}: row r of an M-row call equals the same row computed alone, bitwise`, () => {
      const M = 131; // two full 64-row units, a partial one, and a tail past the last multiple of 4
      const K = 67;
      const N = 45;
      const p = problem(M, K, N, form, 90);
      const all = wasmBackend.gemm!(p)!;
      for (const r of [0, 1, 3, 4, 63, 64, 127, 128, 130]) {
        const one = wasmBackend.gemm!({ ...p, M: 1, a: p.a.subarray(r * K, (r + 1) * K) })!;
        assertBitwiseEqual(one, all.subarray(r * N, (r + 1) * N), `row ${r}`);
      }
    });
  }
});

describe('wasm GEMM on one and two threads gives bitwise equal results', { skip }, () => {
  const before = getNumThreads();
  after(() => {
    setNumThreads(before);
    setPoolTestHooks({ minFlops: DEFAULT_POOL_MIN_FLOPS });
  });
  for (const form of FORMS) {
    it(form.name, (t) => {
      const p = problem(150, 67, 130, form, 120);
      setNumThreads(1);
      const one = wasmBackend.gemm!(p)!;
      setNumThreads(2);
      if (getNumThreads() !== 2) {
        t.skip('two wasm threads cannot run here');
        return;
      }
      setPoolTestHooks({ minFlops: 0 });
      const jobs = poolStats().jobs;
      const two = wasmBackend.gemm!(p)!;
      assert.ok(poolStats().jobs > jobs, 'the two-thread call did not run on the pool');
      assertBitwiseEqual(two, one, form.name);
    });
  }
});

describe('the projections dispatch to the GEMM', { skip }, () => {
  const x = Tensor.randn([2, 5, 12], 200); // [B, L, K]
  const w = Tensor.randn([7, 12], 201); // [O, K]
  const b = Tensor.randn([7], 202); // [O]

  it('runLinear: "reference" is linearReference bit for bit, "wasm" and "auto" are the kernel', () => {
    const ref = linearReference(x.data, 10, 12, w.data, 7, b.data);
    assertBitwiseEqual(runLinear('test', x.data, 10, 12, w.data, 7, b.data, 'reference'), ref, 'reference');
    const kernel = wasmBackend.gemm!({ a: x.data, b: w.data, M: 10, K: 12, N: 7, transA: false, transB: true, bias: b.data })!;
    assertBitwiseEqual(runLinear('test', x.data, 10, 12, w.data, 7, b.data, 'wasm'), kernel, 'wasm');
    assertBitwiseEqual(runLinear('test', x.data, 10, 12, w.data, 7, b.data, 'auto'), kernel, 'auto');
    assertRelClose(kernel, ref, TOL.wasmF32, 'kernel vs reference');
  });

  it('autograd linear in float32: forward and gradients match the float64 path', () => {
    const grads = (dtype: 'float32' | 'float64') => {
      const cast = (t: Tensor) => (dtype === 'float32' ? t.data.slice() : Float64Array.from(t.data));
      const xv = new Var(cast(x), { shape: x.shape, requiresGrad: true });
      const wv = new Var(cast(w), { shape: w.shape, requiresGrad: true });
      const bv = new Var(cast(b), { shape: b.shape, requiresGrad: true });
      const weights = new Var(cast(Tensor.randn([2, 5, 7], 203)), { shape: [2, 5, 7] });
      const y = linear(xv, wv, bv, { backend: 'wasm' });
      backward(sum(mul(y, weights)));
      return { y: y.data, gx: xv.gradData!, gw: wv.gradData!, gb: bv.gradData! };
    };
    const f32 = grads('float32');
    const f64 = grads('float64');
    assertRelClose(f32.y, f64.y, TOL.wasmF32, 'y');
    assertRelClose(f32.gx, f64.gx, TOL.wasmF32, 'dx');
    assertRelClose(f32.gw, f64.gw, TOL.wasmF32, 'dW');
    assertRelClose(f32.gb, f64.gb, TOL.wasmF32, 'db');
  });

  it('autograd matmul in float32 above the size bar: forward and gradients match the float64 path', () => {
    const a = Tensor.randn([2, 1, 20, 30], 210); // [..., M, K], broadcast over the second batch dim
    const c = Tensor.randn([1, 3, 30, 25], 211); // [..., K, P], broadcast over the first
    const run = (dtype: 'float32' | 'float64') => {
      const cast = (t: Tensor) => (dtype === 'float32' ? t.data.slice() : Float64Array.from(t.data));
      const av = new Var(cast(a), { shape: a.shape, requiresGrad: true });
      const cv = new Var(cast(c), { shape: c.shape, requiresGrad: true });
      const weights = new Var(cast(Tensor.randn([2, 3, 20, 25], 212)), { shape: [2, 3, 20, 25] });
      const y = matmul(av, cv);
      backward(sum(mul(y, weights)));
      return { y: y.data, ga: av.gradData!, gc: cv.gradData! };
    };
    const f32 = run('float32');
    const f64 = run('float64');
    assertRelClose(f32.y, f64.y, TOL.wasmF32, 'y');
    assertRelClose(f32.ga, f64.ga, TOL.wasmF32, 'da');
    assertRelClose(f32.gc, f64.gc, TOL.wasmF32, 'db');
  });
});
