// Differentiable tensor ops: shape changes, broadcasting arithmetic, reductions and matrix products. Each op computes
// its forward and then records its gradient rule, which restates the forward line it differentiates (llm.c style).
// Semantics follow PyTorch: add/sub/mul broadcast (numpy rules) and their gradients are summed over the broadcast
// dims; matmul broadcasts its batch dims; linear is F.linear. Elementwise ops and float64 products accumulate in
// float64 and round once; float32 products (linear always, matmul above a size) run on the backend's GEMM
// (ops/linear.ts gemm: the wasm SIMD kernel accumulates in float32, the reference in float64), forward and
// backward, so that a faster backend speeds training up and `linear` equals the inference projections bit for bit.

import { ArgumentError, ShapeError } from '../core/errors.js';
import { broadcastElements, broadcastsTo, inferShape, permuteElements, permutation, swapDims } from '../core/layout.js';
import {
  type Shape,
  broadcastStrides,
  checkShape,
  formatShape,
  normalizeDim,
  offsetsFor,
  sizeOf,
  tryBroadcastShapes,
} from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';
import { type BackendChoice } from '../kernels/backend.js';
import { gemm, linear as linearOp } from '../ops/linear.js';
import { Var, alloc, asVar, dtypeOf } from './var.js';

/**
 * Float32 matmul products with at least this many multiply-adds (M·K·P per batch entry) run on the backend's GEMM;
 * smaller ones stay in the plain loop, where a kernel call would cost more than it saves.
 */
const MATMUL_GEMM_MIN = 4096;

/** A Var, or a Tensor taken as a constant. */
export type VarLike = Var | Tensor;

// ---------------------------------------------------------------------------------------------------------------
// Shape ops

/**
 * The same elements with another shape (one dim may be -1), as torch.reshape. x [...] → [...shape].
 * The result shares x's data; the gradient is reshaped back.
 */
export function reshape(x: VarLike, shape: Shape): Var {
  const fn = 'reshape';
  const a = asVar(x, fn, 'x');
  const target = inferShape(a.size, shape);
  if (target === null) {
    throw new ShapeError(`${fn}: cannot reshape x ${formatShape(a.shape)} (${a.size} elements) to ${formatShape(shape)}`);
  }
  // y = x viewed as `target`  →  dx = dy viewed as x's shape
  return Var.fromOp(fn, a.data, target, [a], (g) => [g]);
}

/** Dims reordered: output dim i is input dim dims[i] (torch.permute). A copy. */
export function permute(x: VarLike, dims: readonly number[]): Var {
  const fn = 'permute';
  const a = asVar(x, fn, 'x');
  const norm = permutation(dims, a.rank, fn);
  if (norm === null) {
    throw new ArgumentError(`${fn}: dims must be a permutation of 0..${a.rank - 1} for x ${formatShape(a.shape)}; got [${dims.join(', ')}]`);
  }
  const shape = norm.map((d) => a.shape[d]);
  const inverse = norm.map((_, i) => norm.indexOf(i));
  // y = x with dims reordered by `norm`  →  dx = dy reordered back by the inverse permutation
  return Var.fromOp(fn, permuteElements(a.data, a.shape, norm), shape, [a], (g) => [permuteElements(g, shape, inverse)]);
}

/** Two dims swapped (torch.transpose); the last two by default. */
export function transpose(x: VarLike, dim0 = -2, dim1 = -1): Var {
  const a = asVar(x, 'transpose', 'x');
  const i = normalizeDim(dim0, a.rank, 'transpose');
  const j = normalizeDim(dim1, a.rank, 'transpose');
  return permute(a, swapDims(a.rank, i, j));
}

/** x broadcast to `shape` (torch.expand, materialised); the gradient sums over the broadcast dims. */
export function broadcastTo(x: VarLike, shape: Shape): Var {
  const fn = 'broadcastTo';
  const a = asVar(x, fn, 'x');
  checkShape(shape, fn);
  if (!broadcastsTo(a.shape, shape)) {
    throw new ShapeError(`${fn}: cannot broadcast x ${formatShape(a.shape)} to ${formatShape(shape)}`);
  }
  // y[i] = x[offsets[i]]  →  dx[o] = Σ_{i: offsets[i] = o} dy[i]
  return Var.fromOp(fn, broadcastElements(a.data, a.shape, shape), shape, [a], (g) => [
    scatterAdd(g, offsetsFor(shape, broadcastStrides(a.shape, shape)), a.size),
  ]);
}

/** Elements [start, start + length) of one dim (torch.narrow): a view when they are contiguous, else a copy. */
export function narrow(x: VarLike, dim: number, start: number, length: number): Var {
  const fn = 'narrow';
  const a = asVar(x, fn, 'x');
  const d = normalizeDim(dim, a.rank, fn);
  const size = a.shape[d];
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > size) {
    throw new ArgumentError(`${fn}: [start, start + length) = [${start}, ${start + length}) must lie in dim ${d} of x ${formatShape(a.shape)}`);
  }
  const outer = sizeOf(a.shape.slice(0, d));
  const inner = sizeOf(a.shape.slice(d + 1));
  const shape = a.shape.map((s, i) => (i === d ? length : s)); // [..., length, ...]
  // A slice of the outermost dims is one contiguous block: the result shares it, as reshape shares its data.
  let y = a.data.subarray(start * inner, (start + length) * inner);
  if (outer > 1) {
    y = alloc(a.dtype, outer * length * inner);
    for (let o = 0; o < outer; o++) {
      y.set(a.data.subarray((o * size + start) * inner, (o * size + start + length) * inner), o * length * inner);
    }
  }
  // y[o, i] = x[o, start + i]  →  dx[o, start + i] = dy[o, i], 0 elsewhere
  return Var.fromOp(fn, y, shape, [a], (g) => {
    const gx = new Float64Array(a.size);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < length * inner; i++) gx[(o * size + start) * inner + i] = g[o * length * inner + i];
    }
    return [gx];
  });
}

/** Concatenation along one dim (torch.cat); all other dims must agree. */
export function concat(xs: readonly VarLike[], dim: number): Var {
  const fn = 'concat';
  if (!Array.isArray(xs) || xs.length === 0) throw new ArgumentError(`${fn}: xs must be a non-empty array; got ${describe(xs)}`);
  const vs = xs.map((x, i) => asVar(x, fn, `xs[${i}]`));
  const first = vs[0];
  const d = normalizeDim(dim, first.rank, fn);
  const fits = (v: Var) => v.rank === first.rank && v.shape.every((s, i) => i === d || s === first.shape[i]);
  if (!vs.every(fits)) {
    throw new ShapeError(`${fn}: every x must match in all dims but ${d}; got ${vs.map((v) => formatShape(v.shape)).join(', ')}`);
  }
  const outer = sizeOf(first.shape.slice(0, d));
  const inner = sizeOf(first.shape.slice(d + 1));
  const sizes = vs.map((v) => v.shape[d]);
  const total = sizes.reduce((s, n) => s + n, 0);
  const shape = first.shape.map((s, i) => (i === d ? total : s)); // [..., Σ sizes, ...]
  const y = alloc(dtypeOf(...vs), outer * total * inner);
  let at = 0;
  for (let k = 0; k < vs.length; k++) {
    const n = sizes[k] * inner;
    for (let o = 0; o < outer; o++) y.set(vs[k].data.subarray(o * n, (o + 1) * n), (o * total) * inner + at);
    at += n;
  }
  // y[o, at_k + i] = x_k[o, i]  →  dx_k[o, i] = dy[o, at_k + i]
  return Var.fromOp(fn, y, shape, vs, (g) => {
    let from = 0;
    return vs.map((v, k) => {
      const n = sizes[k] * inner;
      const gx = new Float64Array(v.size);
      for (let o = 0; o < outer; o++) gx.set(g.subarray(o * total * inner + from, o * total * inner + from + n), o * n);
      from += n;
      return gx;
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Elementwise arithmetic with broadcasting

/** a + b, broadcasting (a number is a constant). */
export function add(a: VarLike, b: VarLike | number): Var {
  if (typeof b === 'number') {
    const x = asVar(a, 'add', 'a');
    const y = alloc(x.dtype, x.size);
    for (let i = 0; i < y.length; i++) y[i] = x.data[i] + b;
    // y = x + c  →  dx = dy
    return Var.fromOp('add', y, x.shape, [x], (g) => [g]);
  }
  return binary('add', a, b, (x, y) => x + y, (g) => g, (g) => g);
}

/** a − b, broadcasting. */
export function sub(a: VarLike, b: VarLike): Var {
  return binary('sub', a, b, (x, y) => x - y, (g) => g, (g) => -g);
}

/** a · b elementwise, broadcasting (a number is a constant). */
export function mul(a: VarLike, b: VarLike | number): Var {
  if (typeof b === 'number') {
    const x = asVar(a, 'mul', 'a');
    const y = alloc(x.dtype, x.size);
    for (let i = 0; i < y.length; i++) y[i] = x.data[i] * b;
    // y = c · x  →  dx = c · dy
    return Var.fromOp('mul', y, x.shape, [x], (g) => [g.map((v) => v * b)]);
  }
  return binary('mul', a, b, (x, y) => x * y, (g, _x, y) => g * y, (g, x) => g * x);
}

/**
 * The broadcasting binary op y = f(a, b) with partial derivatives da(g, a, b) and db(g, a, b) per element; the
 * gradients are summed over the dims each input was broadcast along.
 */
function binary(
  fn: string,
  aIn: VarLike,
  bIn: VarLike,
  f: (a: number, b: number) => number,
  da: (g: number, a: number, b: number) => number,
  db: (g: number, a: number, b: number) => number,
): Var {
  const a = asVar(aIn, fn, 'a');
  const b = asVar(bIn, fn, 'b');
  const shape = tryBroadcastShapes(a.shape, b.shape);
  if (shape === null) {
    throw new ShapeError(`${fn}: a and b must broadcast (PyTorch rules); got a ${formatShape(a.shape)}, b ${formatShape(b.shape)}`);
  }
  const offA = offsetsFor(shape, broadcastStrides(a.shape, shape));
  const offB = offsetsFor(shape, broadcastStrides(b.shape, shape));
  const y = alloc(dtypeOf(a, b), offA.length);
  for (let i = 0; i < y.length; i++) y[i] = f(a.data[offA[i]], b.data[offB[i]]);
  // y[i] = f(a[offA[i]], b[offB[i]])  →  da[offA[i]] += ∂f/∂a · dy[i],  db[offB[i]] += ∂f/∂b · dy[i]
  return Var.fromOp(fn, y, shape, [a, b], (g) => {
    const ga = a.requiresGrad ? new Float64Array(a.size) : null;
    const gb = b.requiresGrad ? new Float64Array(b.size) : null;
    for (let i = 0; i < g.length; i++) {
      const x = a.data[offA[i]];
      const z = b.data[offB[i]];
      if (ga) ga[offA[i]] += da(g[i], x, z);
      if (gb) gb[offB[i]] += db(g[i], x, z);
    }
    return [ga, gb];
  });
}

/** tanh elementwise. */
export function tanh(x: VarLike): Var {
  const a = asVar(x, 'tanh', 'x');
  const y = alloc(a.dtype, a.size);
  for (let i = 0; i < y.length; i++) y[i] = Math.tanh(a.data[i]);
  // y = tanh(x)  →  dx = (1 − y²) · dy   (y recomputed in float64)
  return Var.fromOp('tanh', y, a.shape, [a], (g) => [
    g.map((v, i) => {
      const t = Math.tanh(a.data[i]);
      return v * (1 - t * t);
    }),
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// Reductions

/** Σ of every element → a scalar [] (accumulated in float64). */
export function sum(x: VarLike): Var {
  const a = asVar(x, 'sum', 'x');
  let s = 0;
  for (let i = 0; i < a.size; i++) s += a.data[i];
  const y = alloc(a.dtype, 1);
  y[0] = s;
  // y = Σ x  →  dx = dy everywhere
  return Var.fromOp('sum', y, [], [a], (g) => [new Float64Array(a.size).fill(g[0])]);
}

/** Mean of every element → a scalar []. */
export function mean(x: VarLike): Var {
  const a = asVar(x, 'mean', 'x');
  let s = 0;
  for (let i = 0; i < a.size; i++) s += a.data[i];
  const y = alloc(a.dtype, 1);
  y[0] = s / a.size;
  // y = Σ x / n  →  dx = dy / n
  return Var.fromOp('mean', y, [], [a], (g) => [new Float64Array(a.size).fill(g[0] / a.size)]);
}

// ---------------------------------------------------------------------------------------------------------------
// Matrix products

/**
 * Batched matrix product, as torch.matmul for operands of rank ≥ 2: a [..., M, K] · b [..., K, P] → [..., M, P], the
 * batch dims broadcasting. Accumulates in float64.
 */
export function matmul(aIn: VarLike, bIn: VarLike): Var {
  const fn = 'matmul';
  const a = asVar(aIn, fn, 'a');
  const b = asVar(bIn, fn, 'b');
  const got = `got a ${formatShape(a.shape)}, b ${formatShape(b.shape)}`;
  if (a.rank < 2 || b.rank < 2 || a.shape[a.rank - 1] !== b.shape[b.rank - 2]) {
    throw new ShapeError(`${fn}: a must be [..., M, K] and b [..., K, P] with the same K; ${got}`);
  }
  const [M, K] = a.shape.slice(-2);
  const P = b.shape[b.rank - 1];
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batch = tryBroadcastShapes(aBatch, bBatch);
  if (batch === null) throw new ShapeError(`${fn}: the batch dims of a and b must broadcast; ${got}`);
  const offA = offsetsFor(batch, broadcastStrides(aBatch, batch).map((s) => s * M * K));
  const offB = offsetsFor(batch, broadcastStrides(bBatch, batch).map((s) => s * K * P));
  const y = alloc(dtypeOf(a, b), offA.length * M * P); // [..., M, P]
  if (y instanceof Float32Array && M * K * P >= MATMUL_GEMM_MIN) return matmulGemm(a, b, batch, offA, offB, M, K, P, y);
  for (let n = 0; n < offA.length; n++) {
    const ao = offA[n];
    const bo = offB[n];
    for (let m = 0; m < M; m++) {
      for (let p = 0; p < P; p++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += a.data[ao + m * K + k] * b.data[bo + k * P + p];
        y[(n * M + m) * P + p] = acc;
      }
    }
  }
  // y[m, p] = Σ_k a[m, k] · b[k, p]  →  da[m, k] += Σ_p dy[m, p] · b[k, p],  db[k, p] += Σ_m a[m, k] · dy[m, p]
  return Var.fromOp(fn, y, [...batch, M, P], [a, b], (g) => {
    const ga = a.requiresGrad ? new Float64Array(a.size) : null;
    const gb = b.requiresGrad ? new Float64Array(b.size) : null;
    for (let n = 0; n < offA.length; n++) {
      const ao = offA[n];
      const bo = offB[n];
      for (let m = 0; m < M; m++) {
        const go = (n * M + m) * P;
        for (let k = 0; k < K; k++) {
          const av = a.data[ao + m * K + k];
          let acc = 0;
          for (let p = 0; p < P; p++) {
            acc += g[go + p] * b.data[bo + k * P + p];
            if (gb) gb[bo + k * P + p] += av * g[go + p];
          }
          if (ga) ga[ao + m * K + k] += acc;
        }
      }
    }
    return [ga, gb];
  });
}

/**
 * Products of one float32 matmul on the backend's GEMM, per batch entry n (a [M, K] at offA[n], b [K, P] at
 * offB[n]): y_n = a_n · b_n;  da_n += dy_n · b_nᵀ,  db_n += a_nᵀ · dy_n (summed over the entries that share an
 * operand, in increasing n).
 */
function matmulGemm(
  a: Var,
  b: Var,
  batch: Shape,
  offA: Int32Array,
  offB: Int32Array,
  M: number,
  K: number,
  P: number,
  y: Float32Array,
): Var {
  const fn = 'matmul';
  const ad = a.data as Float32Array;
  const bd = b.data as Float32Array;
  const slice = (data: Float32Array, at: number, n: number) => data.subarray(at, at + n);
  for (let n = 0; n < offA.length; n++) {
    const an = slice(ad, offA[n], M * K); // [M, K]
    const bn = slice(bd, offB[n], K * P); // [K, P]
    y.set(gemm(fn, { a: an, b: bn, M, K, O: P, transA: false, transB: false, bias: null }), n * M * P);
  }
  // y_n = a_n · b_n  →  da_n = dy_n · b_nᵀ [M, K],  db_n = a_nᵀ · dy_n [K, P]
  return Var.fromOp(fn, y, [...batch, M, P], [a, b], (gIn) => {
    const g = gIn instanceof Float32Array ? gIn : Float32Array.from(gIn);
    const ga = a.requiresGrad ? new Float32Array(a.size) : null;
    const gb = b.requiresGrad ? new Float32Array(b.size) : null;
    for (let n = 0; n < offA.length; n++) {
      const gn = slice(g, n * M * P, M * P); // [M, P]
      if (ga) {
        const part = gemm(fn, { a: gn, b: slice(bd, offB[n], K * P), M, K: P, O: K, transA: false, transB: true, bias: null });
        for (let i = 0; i < part.length; i++) ga[offA[n] + i] += part[i];
      }
      if (gb) {
        const part = gemm(fn, { a: slice(ad, offA[n], M * K), b: gn, M: K, K: M, O: P, transA: true, transB: false, bias: null });
        for (let i = 0; i < part.length; i++) gb[offB[n] + i] += part[i];
      }
    }
    return [ga, gb];
  });
}

/** Options of {@link linear}. */
export interface LinearOptions {
  /**
   * The backend of the float32 products (see {@link setBackend}).
   * @default the global choice
   */
  backend?: BackendChoice;
}

/**
 * y = x · Wᵀ + b, as torch.nn.functional.linear: x [..., K], weight [O, K], bias [O] (optional) → [..., O].
 * In float32 the forward and the products of the backward (dx = dy · W, dW = dyᵀ · x) run on the backend's GEMM
 * (ops/linear.ts, the inference projections' path, so both agree bit for bit); float64 stays in plain
 * float64 loops (gradient checks).
 */
export function linear(xIn: VarLike, weightIn: VarLike, biasIn?: VarLike | null, options: LinearOptions = {}): Var {
  const fn = 'linear';
  const x = asVar(xIn, fn, 'x');
  const w = asVar(weightIn, fn, 'weight');
  const b = biasIn === undefined || biasIn === null ? null : asVar(biasIn, fn, 'bias');
  const K = x.shape[x.rank - 1];
  const got = `got x ${formatShape(x.shape)}, weight ${formatShape(w.shape)}${b ? `, bias ${formatShape(b.shape)}` : ''}`;
  if (x.rank < 1 || w.rank !== 2 || w.shape[1] !== K || (b !== null && (b.rank !== 1 || b.shape[0] !== w.shape[0]))) {
    throw new ShapeError(`${fn}: x must be [..., K], weight [O, K] and bias [O]; ${got}`);
  }
  const O = w.shape[0];
  const M = x.size / K || 0;
  const shape = [...x.shape.slice(0, -1), O]; // [..., O]
  const parents = b ? [x, w, b] : [x, w];
  const dtype = dtypeOf(...parents);
  if (dtype === 'float32') {
    const xd = x.data as Float32Array;
    const wd = w.data as Float32Array;
    const y = linearOp(fn, xd, M, K, wd, O, b ? (b.data as Float32Array) : null, options.backend); // [M, O]
    // y = x · Wᵀ + b  →  dx [M, K] = dy [M, O] · W [O, K],  dW [O, K] = dyᵀ [O, M] · x [M, K],  db[o] = Σ_m dy[m, o]
    return Var.fromOp(fn, y, shape, parents, (gIn) => {
      const g = gIn instanceof Float32Array ? gIn : Float32Array.from(gIn); // [M, O]
      const product = (a: Float32Array, bm: Float32Array, rows: number, inner: number, cols: number, transA: boolean) =>
        gemm(fn, { a, b: bm, M: rows, K: inner, O: cols, transA, transB: false, bias: null }, options.backend);
      const gx = x.requiresGrad ? product(g, wd, M, O, K, false) : null;
      const gw = w.requiresGrad ? product(g, xd, O, M, K, true) : null;
      const gb = b?.requiresGrad ? columnSums(g, M, O) : null;
      return b ? [gx, gw, gb] : [gx, gw];
    });
  }
  const y = new Float64Array(M * O);
  for (let m = 0; m < M; m++) {
    for (let o = 0; o < O; o++) {
      let acc = b ? b.data[o] : 0;
      for (let k = 0; k < K; k++) acc += x.data[m * K + k] * w.data[o * K + k];
      y[m * O + o] = acc;
    }
  }
  // y[m, o] = b[o] + Σ_k x[m, k] · W[o, k]
  //   →  dx[m, k] = Σ_o dy[m, o] · W[o, k],  dW[o, k] = Σ_m dy[m, o] · x[m, k],  db[o] = Σ_m dy[m, o]
  return Var.fromOp(fn, y, shape, parents, (g) => {
    const gx = x.requiresGrad ? new Float64Array(x.size) : null;
    const gw = w.requiresGrad ? new Float64Array(w.size) : null;
    const gb = b?.requiresGrad ? columnSums(g, M, O) : null;
    for (let m = 0; m < M; m++) {
      for (let o = 0; o < O; o++) {
        const gy = g[m * O + o];
        for (let k = 0; k < K; k++) {
          if (gx) gx[m * K + k] += gy * w.data[o * K + k];
          if (gw) gw[o * K + k] += gy * x.data[m * K + k];
        }
      }
    }
    return b ? [gx, gw, gb] : [gx, gw];
  });
}

/** Σ_m g[m, o] for g [M, O], accumulated in float64 → [O]. */
function columnSums(g: ArrayLike<number>, M: number, O: number): Float64Array {
  const out = new Float64Array(O);
  for (let m = 0; m < M; m++) for (let o = 0; o < O; o++) out[o] += g[m * O + o];
  return out;
}

/** Σ of g over positions that share an offset: the gradient of a gather through `offsets`. */
export function scatterAdd(g: ArrayLike<number>, offsets: Int32Array, size: number): Float64Array {
  const out = new Float64Array(size);
  for (let i = 0; i < offsets.length; i++) out[offsets[i]] += g[i];
  return out;
}
