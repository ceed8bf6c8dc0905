// Shared fast-check generators for attention inputs, and the small index helpers (slice, concatenate, repeat,
// permute along one axis) that attention properties need to build their "same problem, stated differently" inputs.
// Shapes follow docs/SHAPES.md: query [B, H, N, d], key [B, Hkv, S, d], value [B, Hkv, S, dv], masks and biases
// broadcastable to [B, H, N, S]. Tensors are drawn from seeds (Tensor.randn), so generation is cheap and every
// counterexample is reproducible from the printed seeds; fast-check still shrinks the sizes.

import fc from 'fast-check';
import { Rng, Tensor, type AttentionOptions, type AttentionOutput } from '../src/index.js';

/** Any implementation of the scaledDotProductAttention contract (the reference, or a backend). */
export type AttentionFn = (query: Tensor, key: Tensor, value: Tensor, options?: AttentionOptions) => AttentionOutput;

export type Causal = false | 'top-left' | 'bottom-right';

export interface AttentionDims {
  B: number;
  /** Query heads. */
  H: number;
  /** Key/value heads; divides H (Hkv < H only when grouped-query attention is drawn). */
  Hkv: number;
  N: number;
  S: number;
  d: number;
  dv: number;
}

export interface AttentionCase extends AttentionDims {
  query: Tensor; // [B, H, N, d]
  key: Tensor; // [B, Hkv, S, d]
  value: Tensor; // [B, Hkv, S, dv]
  /** Nonzero = may attend; some leading dims may be 1 or missing. Broadcastable to [B, H, N, S]. */
  mask: Tensor | undefined;
  causal: Causal;
  /** A seed for any further random data a property needs. */
  seed: number;
}

export interface CaseOptions {
  /** Draw grouped-query heads, Hkv dividing H (otherwise Hkv = H). @default false */
  gqa?: boolean;
  /** Draw a mask (sometimes absent). @default false */
  mask?: boolean;
  /** Draw a causal alignment (sometimes false). @default false */
  causal?: boolean;
  /** Force S = N (self-attention). @default false */
  square?: boolean;
}

const sizes = { B: [1, 2], H: [1, 3], N: [1, 6], S: [1, 6], d: [1, 5] } as const;

const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

/** Standard normal samples times `magnitude`, reproducible from `seed`. */
export function randomTensor(shape: readonly number[], seed: number, magnitude = 1): Tensor {
  const t = Tensor.randn(shape, seed);
  for (let i = 0; i < t.size; i++) t.data[i] *= magnitude;
  return t;
}

/**
 * Sizes in the small ranges the property suite uses. With `gqa`, H = Hkv · group for Hkv in 1..2 and group in 1..3,
 * so that a third of the cases have 1 < Hkv < H, where repeat_interleave and tiling differ.
 */
export function attentionDims(options: CaseOptions = {}): fc.Arbitrary<AttentionDims> {
  const int = ([min, max]: readonly [number, number]) => fc.integer({ min, max });
  return fc
    .record({
      B: int(sizes.B),
      H: int(sizes.H),
      N: int(sizes.N),
      S: int(sizes.S),
      d: int(sizes.d),
      dv: int(sizes.d),
      Hkv: int([1, 2]),
      group: int([1, 3]),
    })
    .map(({ Hkv, group, ...dims }) => ({
      ...dims,
      S: options.square ? dims.N : dims.S,
      H: options.gqa ? Hkv * group : dims.H,
      Hkv: options.gqa ? Hkv : dims.H,
    }));
}

/**
 * A mask shape for the score shape [B, H, N, S]: each dim kept or set to 1, then up to two leading dims dropped,
 * which covers key padding masks [B, 1, 1, S], per-head masks and plain [N, S] masks.
 */
export function maskShape(target: readonly number[], keep: readonly boolean[], drop: number): number[] {
  return target.map((s, i) => (keep[i] ? s : 1)).slice(Math.min(drop, target.length - 2));
}

/** A mask of `shape` whose entries are 0 (blocked) with probability `blockRate`, otherwise a nonzero value. */
export function randomMask(shape: readonly number[], seed: number, blockRate: number): Tensor {
  const rng = new Rng(seed);
  const allowedValues = [1, 1, 2, -1, 0.5]; // nonzero = may attend, whatever the value
  const t = Tensor.zeros(shape);
  for (let i = 0; i < t.size; i++) {
    t.data[i] = rng.uniform() < blockRate ? 0 : allowedValues[rng.int(allowedValues.length)];
  }
  return t;
}

/** A full attention case; see {@link CaseOptions} for what is drawn. */
export function attentionCase(options: CaseOptions = {}): fc.Arbitrary<AttentionCase> {
  return fc
    .record({
      dims: attentionDims(options),
      seeds: fc.tuple(seedArb, seedArb, seedArb, seedArb, seedArb),
      magnitude: fc.constantFrom(0.25, 1, 3),
      withMask: options.mask ? fc.boolean() : fc.constant(false),
      keep: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
      drop: fc.integer({ min: 0, max: 2 }),
      blockRate: fc.constantFrom(0, 0.3, 0.6, 1),
      causal: options.causal ? fc.constantFrom<Causal>(false, 'top-left', 'bottom-right') : fc.constant<Causal>(false),
    })
    .map(({ dims, seeds, magnitude, withMask, keep, drop, blockRate, causal }) => {
      const { B, H, Hkv, N, S, d, dv } = dims;
      const mask = withMask ? randomMask(maskShape([B, H, N, S], keep, drop), seeds[3], blockRate) : undefined;
      return {
        ...dims,
        query: randomTensor([B, H, N, d], seeds[0], magnitude), // [B, H, N, d]
        key: randomTensor([B, Hkv, S, d], seeds[1], magnitude), // [B, Hkv, S, d]
        value: randomTensor([B, Hkv, S, dv], seeds[2]), // [B, Hkv, S, dv]
        mask,
        causal,
        seed: seeds[4],
      };
    });
}

/** True when query i may attend key j under the causal rule alone (N queries, S keys). */
export function causalAllows(causal: Causal, i: number, j: number, N: number, S: number): boolean {
  if (causal === 'top-left') return j <= i;
  if (causal === 'bottom-right') return j <= i + S - N;
  return true;
}

// ---- index helpers -------------------------------------------------------------------------------------------

function splitAt(shape: readonly number[], axis: number): { outer: number; size: number; inner: number } {
  const a = axis < 0 ? axis + shape.length : axis;
  const prod = (xs: readonly number[]) => xs.reduce((p, s) => p * s, 1);
  return { outer: prod(shape.slice(0, a)), size: shape[a], inner: prod(shape.slice(a + 1)) };
}

function withAxis(shape: readonly number[], axis: number, size: number): number[] {
  const a = axis < 0 ? axis + shape.length : axis;
  return shape.map((s, i) => (i === a ? size : s));
}

/** Positions `picks` of `axis`, in that order (torch.index_select). */
export function selectAlong(t: Tensor, axis: number, picks: readonly number[]): Tensor {
  const { outer, size, inner } = splitAt(t.shape, axis);
  const out = Tensor.zeros(withAxis(t.shape, axis, picks.length));
  for (let o = 0; o < outer; o++) {
    for (let p = 0; p < picks.length; p++) {
      const from = (o * size + picks[p]) * inner;
      out.data.set(t.data.subarray(from, from + inner), (o * picks.length + p) * inner);
    }
  }
  return out;
}

/** Positions start .. end−1 of `axis`. */
export function sliceAlong(t: Tensor, axis: number, start: number, end: number): Tensor {
  return selectAlong(t, axis, [...Array(Math.max(0, end - start)).keys()].map((i) => start + i));
}

/** Each position of `axis` repeated `times` times in place (torch.repeat_interleave). */
export function repeatInterleave(t: Tensor, axis: number, times: number): Tensor {
  const { size } = splitAt(t.shape, axis);
  return selectAlong(t, axis, [...Array(size * times).keys()].map((i) => Math.floor(i / times)));
}

/** Tensors of equal shape except along `axis`, joined along it (torch.cat). */
export function concatAlong(parts: readonly Tensor[], axis: number): Tensor {
  const total = parts.reduce((n, p) => n + splitAt(p.shape, axis).size, 0);
  const out = Tensor.zeros(withAxis(parts[0].shape, axis, total));
  const { outer, inner } = splitAt(out.shape, axis);
  let at = 0;
  for (const p of parts) {
    const { size } = splitAt(p.shape, axis);
    for (let o = 0; o < outer; o++) {
      out.data.set(p.data.subarray(o * size * inner, (o + 1) * size * inner), (o * total + at) * inner);
    }
    at += size;
  }
  return out;
}
