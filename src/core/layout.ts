// Index math of the shape ops that Tensor and autograd's Var share: reshape (inferring -1), permute and broadcast.
// Both classes call these for the checks and the element copy, and only word their errors themselves. The copy is
// a strided gather: dims that stay contiguous are merged first, so a permute [B, N, H, d] → [B, H, N, d] (the head
// split of attention) is one loop nest copying runs of d elements, without a per-element index walk.

import { type Shape, broadcastStrides, normalizeDim, sizeOf, stridesOf, tryBroadcastShapes } from './shape.js';

/** Storage that the shape ops copy: a Tensor's float32 or a Var's float32 / float64 elements. */
type Elements = Float32Array | Float64Array;

/**
 * The shape a reshape of `size` elements to `shape` gives, one -1 inferred; null when it does not fit (a second -1,
 * another negative or fractional size, or another element count).
 */
export function inferShape(size: number, shape: Shape): number[] | null {
  const out = [...shape];
  const unknown = out.indexOf(-1);
  if (unknown !== -1) {
    out[unknown] = 1;
    const rest = sizeOf(out);
    if (out.indexOf(-1, unknown + 1) !== -1 || rest === 0 || size % rest !== 0) return null;
    out[unknown] = size / rest;
  }
  if (!out.every((s) => Number.isSafeInteger(s) && s >= 0) || sizeOf(out) !== size) return null;
  return out;
}

/** `dims` normalised (negative dims count from the end) when they permute 0..rank-1, else null. */
export function permutation(dims: readonly number[], rank: number, where: string): number[] | null {
  const norm = dims.map((d) => normalizeDim(d, rank, where));
  return norm.length === rank && new Set(norm).size === rank ? norm : null;
}

/** The dims order that swaps dims a and b of a rank-`rank` tensor (torch.transpose). */
export function swapDims(rank: number, a: number, b: number): number[] {
  const dims = [...Array(rank).keys()];
  dims[a] = b;
  dims[b] = a;
  return dims;
}

/** True when `shape` broadcasts to exactly `target` (torch.expand's rule). */
export function broadcastsTo(shape: Shape, target: Shape): boolean {
  const out = tryBroadcastShapes(shape, target);
  return out !== null && out.length === target.length && out.every((s, i) => s === target[i]);
}

/** x [...shape] permuted: output dim i is input dim dims[i] (normalised). A contiguous copy of x's dtype. */
export function permuteElements<T extends Elements>(x: T, shape: Shape, dims: readonly number[]): T {
  const inStrides = stridesOf(shape);
  const outShape = dims.map((d) => shape[d]);
  return gatherStrided(x, outShape, dims.map((d) => inStrides[d]));
}

/** x [...shape] broadcast to `target` (which it must broadcast to): a contiguous copy of x's dtype. */
export function broadcastElements<T extends Elements>(x: T, shape: Shape, target: Shape): T {
  return gatherStrided(x, target, broadcastStrides(shape, target));
}

/**
 * A contiguous copy of `source` read as a tensor of `shape` whose dims step `strides` elements (0 on broadcast
 * dims). Dims of size 1 are dropped and neighbours that stay contiguous are merged; the last three dims of what is
 * left are plain nested loops, and any dims above them are walked once per block.
 */
export function gatherStrided<T extends Elements>(source: T, shape: Shape, strides: readonly number[]): T {
  const out = new (source.constructor as new (n: number) => T)(sizeOf(shape));
  if (out.length === 0) return out;
  // Merge: dim i folds into dim i + 1 when stepping dim i is the same as running through all of dim i + 1.
  const sizes: number[] = [];
  const steps: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = sizes.length - 1;
    if (last >= 0 && steps[last] === strides[i] * shape[i]) {
      sizes[last] *= shape[i];
      steps[last] = strides[i];
    } else {
      sizes.push(shape[i]);
      steps.push(strides[i]);
    }
  }
  while (sizes.length < 3) {
    sizes.unshift(1);
    steps.unshift(0);
  }
  const r = sizes.length;
  const [n0, n1, n2] = sizes.slice(r - 3);
  const [s0, s1, s2] = steps.slice(r - 3);
  const outer = sizes.slice(0, r - 3);
  const outerSteps = steps.slice(0, r - 3);
  const index = new Array<number>(outer.length).fill(0);
  let base = 0;
  let o = 0;
  const blocks = sizeOf(outer);
  for (let block = 0; block < blocks; block++) {
    for (let i0 = 0; i0 < n0; i0++) {
      for (let i1 = 0; i1 < n1; i1++) {
        const from = base + i0 * s0 + i1 * s1;
        if (s2 === 1) for (let i2 = 0; i2 < n2; i2++) out[o++] = source[from + i2];
        else for (let i2 = 0; i2 < n2; i2++) out[o++] = source[from + i2 * s2];
      }
    }
    // Next block: an odometer over the outer dims.
    for (let d = outer.length - 1; d >= 0; d--) {
      base += outerSteps[d];
      if (++index[d] < outer[d]) break;
      base -= outerSteps[d] * index[d];
      index[d] = 0;
    }
  }
  return out;
}
