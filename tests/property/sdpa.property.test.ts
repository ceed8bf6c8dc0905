// Properties of scaled dot-product attention that hold for every input, checked with fast-check on small random
// problems (B ≤ 2, H ≤ 3, N, S ≤ 6, d, dv ≤ 5). They restate the math of PyTorch's
// F.scaled_dot_product_attention as invariances: softmax rows sum to 1, softmax ignores a per-row shift, causal
// rows never see the future, keys are a set (order-free), the matrix form equals the token-by-token loop, grouped-query
// attention equals repeating key/value heads, broadcasting equals expanding, and the whole equals a naive float64
// softmax(Q·Kᵀ·scale + bias)·V (tests/oracle.ts).
//
// The suite is parameterised by the attention function and runs once per backend variant (tests/backends/
// variants.ts): `attentionProperties('wasm', attend, { numRuns, reorder, roundoff })`. The bitwise properties stay
// bitwise on every backend: each compares two calls of one deterministic backend whose per-row arithmetic is the
// same. Only the row-shift property widens for float32, by the rounding of s + b at the magnitude of the shift.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Rng, Tensor, broadcastShapes } from '../../src/index.js';
import { attentionOn, describeEachVariant } from '../backends/variants.js';
import {
  type AttentionCase,
  type AttentionFn,
  type Causal,
  attentionCase,
  causalAllows,
  concatAlong,
  maskShape,
  randomMask,
  randomTensor,
  repeatInterleave,
  selectAlong,
  sliceAlong,
} from '../arbitraries.js';
import { naiveAttention } from '../oracle.js';
import { TOL, assertAllClose, assertBitwiseEqual, roundoffTolerance } from '../tolerances.js';

/** A fixed seed keeps CI reproducible; change it locally to explore other inputs. */
const SEED = 0x5eed;

/** How hard a backend is checked. */
export interface PropertySettings {
  /** fast-check runs per property. @default 100 */
  numRuns?: number;
  /** Elementwise tolerance, relative to the largest |expected|, for reordered math. @default TOL.reorder */
  reorder?: number;
  /** Unit roundoff of the backend's accumulation. @default TOL.roundoffF64 */
  roundoff?: number;
}

/** Elementwise closeness relative to the largest |expected| (TOL.reorder's definition). */
function assertReorderClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  let max = 0;
  for (let i = 0; i < expected.length; i++) if (Number.isFinite(expected[i])) max = Math.max(max, Math.abs(expected[i]));
  assertAllClose(actual, expected, tol, tol * max, what);
}

/** The case's mask expanded to the score shape [B, H, N, S], or undefined. */
function fullMask(c: AttentionCase): Tensor | undefined {
  return c.mask?.broadcastTo([c.B, c.H, c.N, c.S]); // [B, H, N, S]
}

/** Whether query i of batch b, head h may attend key j under the case's mask and causal rule. */
function allowedIn(c: AttentionCase, mask: Tensor | undefined, b: number, h: number, i: number, j: number): boolean {
  return causalAllows(c.causal, i, j, c.N, c.S) && (mask === undefined || mask.at(b, h, i, j) !== 0);
}

function optionsOf(c: AttentionCase) {
  return { mask: c.mask, causal: c.causal, returnWeights: true };
}

/** A permutation of 0..n−1 drawn from `seed` (Fisher–Yates). */
function permutation(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  const p = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Rows `rows` of a mask or bias broadcastable to [..., N, S]: kept as is when its row dim is broadcast. */
function rowsOf(t: Tensor | undefined, start: number, end: number): Tensor | undefined {
  if (t === undefined || t.shape[t.rank - 2] === 1) return t;
  return sliceAlong(t, -2, start, end);
}

/** Columns `start .. end−1` of a mask or bias broadcastable to [..., N, S]: kept as is when its column dim is broadcast. */
function colsOf(t: Tensor | undefined, start: number, end: number): Tensor | undefined {
  if (t === undefined || t.shape[t.rank - 1] === 1) return t;
  return sliceAlong(t, -1, start, end);
}

/** Runs every property against `attend`, an implementation of the scaledDotProductAttention contract. */
export function attentionProperties(name: string, attend: AttentionFn, settings: PropertySettings = {}): void {
  describe(`SDPA properties: ${name}`, () => attentionPropertyTests(attend, settings));
}

/** Registers every property as a test of the enclosing suite. */
function attentionPropertyTests(attend: AttentionFn, settings: PropertySettings): void {
  const RUNS = { seed: SEED, numRuns: settings.numRuns ?? 100 };
  const reorder = settings.reorder ?? TOL.reorder;
  const roundoff = settings.roundoff ?? TOL.roundoffF64;

  it('weight rows sum to 1 where a key is allowed, and are exactly 0 (with output 0) where none is', () => {
    fc.assert(
      fc.property(attentionCase({ gqa: true, mask: true, causal: true }), (c) => {
        const { output, weights } = attend(c.query, c.key, c.value, optionsOf(c));
        assert.ok(weights);
        const mask = fullMask(c);
        for (let b = 0; b < c.B; b++) {
          for (let h = 0; h < c.H; h++) {
            for (let i = 0; i < c.N; i++) {
              let sum = 0;
              let anyAllowed = false;
              for (let j = 0; j < c.S; j++) {
                const w = weights.at(b, h, i, j);
                if (allowedIn(c, mask, b, h, i, j)) {
                  anyAllowed = true;
                  assert.ok(w >= 0 && w <= 1, `weight ${w} at [${b}, ${h}, ${i}, ${j}] outside [0, 1]`);
                } else {
                  assert.ok(Object.is(w, 0), `blocked weight at [${b}, ${h}, ${i}, ${j}] is ${w}, not 0`);
                }
                sum += w;
              }
              if (anyAllowed) {
                assert.ok(Math.abs(sum - 1) <= 1e-6, `row [${b}, ${h}, ${i}] sums to ${sum}`);
              } else {
                for (let c2 = 0; c2 < c.dv; c2++) {
                  assert.ok(Object.is(output.at(b, h, i, c2), 0), `fully blocked row [${b}, ${h}, ${i}] has output ≠ 0`);
                }
              }
            }
          }
        }
      }),
      RUNS,
    );
  });

  it('a constant added to a whole row of scores (bias [B, H, N, 1]) changes nothing', () => {
    fc.assert(
      fc.property(
        attentionCase({ gqa: true, mask: true, causal: true }),
        fc.constantFrom(1, 30, 1000),
        (c, magnitude) => {
          const bias = randomTensor([c.B, c.H, c.N, 1], c.seed, magnitude); // [B, H, N, 1]
          const plain = attend(c.query, c.key, c.value, optionsOf(c));
          const shifted = attend(c.query, c.key, c.value, { ...optionsOf(c), bias });
          // Exact in exact math; in floating point s + b is rounded at the magnitude of b, which shows in float32.
          const tol = roundoffTolerance(reorder, roundoff, Math.max(...bias.data.map(Math.abs)));
          assertReorderClose(shifted.output.data, plain.output.data, tol, 'output');
          assertReorderClose(shifted.weights!.data, plain.weights!.data, tol, 'weights');
        },
      ),
      RUNS,
    );
  });

  it('causal rows do not move, bitwise, when keys and values after their last visible key change', () => {
    fc.assert(
      fc.property(
        attentionCase({ gqa: true, mask: true }),
        fc.constantFrom<Causal>('top-left', 'bottom-right'),
        fc.nat(),
        fc.constantFrom('random', 'NaN', 'Infinity'),
        (c0, causal, cutPick, poison) => {
          const c = { ...c0, causal };
          const cut = cutPick % c.S; // keys 0..cut stay, keys cut+1..S−1 change
          const key = c.key.clone();
          const value = c.value.clone();
          const fresh = randomTensor(key.shape, c.seed + 1, 5);
          const freshV = randomTensor(value.shape, c.seed + 2, 5);
          for (const [t, f] of [[key, fresh], [value, freshV]] as const) {
            const per = t.shape[3];
            for (let x = 0; x < t.size; x++) {
              const j = Math.floor(x / per) % c.S;
              if (j <= cut) continue;
              t.data[x] = poison === 'random' ? f.data[x] : poison === 'NaN' ? NaN : Infinity;
            }
          }
          const before = attend(c.query, c.key, c.value, optionsOf(c));
          const after = attend(c.query, key, value, optionsOf(c));
          // Row i's last visible key: i (top-left) or i + S − N (bottom-right); only rows with it ≤ cut are fixed.
          const shift = causal === 'bottom-right' ? c.S - c.N : 0;
          const rows = Math.max(0, Math.min(c.N, cut - shift + 1));
          const keep = (t: Tensor) => sliceAlong(t, 2, 0, rows).data;
          assertBitwiseEqual(keep(after.output), keep(before.output), `output rows 0..${rows - 1}`);
          assertBitwiseEqual(keep(after.weights!), keep(before.weights!), `weight rows 0..${rows - 1}`);
        },
      ),
      RUNS,
    );
  });

  it('causal self-attention: changing tokens after position t leaves outputs 0..t bitwise identical', () => {
    fc.assert(
      fc.property(attentionCase({ square: true }), fc.nat(), (c, cutPick) => {
        const cut = cutPick % c.N;
        const x = c.query; // [B, H, N, d], used as query, key and value
        const y = x.clone();
        const fresh = randomTensor(x.shape, c.seed, 2);
        for (let e = 0; e < y.size; e++) if (Math.floor(e / c.d) % c.N > cut) y.data[e] = fresh.data[e];
        const before = attend(x, x, x, { causal: true });
        const after = attend(y, y, y, { causal: true });
        assertBitwiseEqual(sliceAlong(after.output, 2, 0, cut + 1).data, sliceAlong(before.output, 2, 0, cut + 1).data);
      }),
      RUNS,
    );
  });

  it('permuting keys and values together (and the mask and bias columns alongside) changes nothing', () => {
    fc.assert(
      fc.property(attentionCase({ gqa: true, mask: true }), fc.boolean(), (c, withBias) => {
        const perm = permutation(c.S, c.seed);
        const bias = withBias ? randomTensor([c.N, c.S], c.seed + 1, 2) : undefined; // [N, S]
        const along = (t: Tensor | undefined) =>
          t === undefined || t.shape[t.rank - 1] === 1 ? t : selectAlong(t, -1, perm);
        const plain = attend(c.query, c.key, c.value, { mask: c.mask, bias, returnWeights: true });
        const permuted = attend(c.query, selectAlong(c.key, 2, perm), selectAlong(c.value, 2, perm), {
          mask: along(c.mask),
          bias: along(bias),
          returnWeights: true,
        });
        assertReorderClose(permuted.output.data, plain.output.data, reorder, 'output');
        // Column j of the permuted weights belongs to original key perm[j].
        assertReorderClose(permuted.weights!.data, selectAlong(plain.weights!, -1, perm).data, reorder, 'weights');
      }),
      RUNS,
    );
  });

  it('an all-ones (or any all-nonzero) mask equals no mask, bitwise', () => {
    fc.assert(
      fc.property(
        attentionCase({ gqa: true, causal: true }),
        fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 2 }),
        fc.constantFrom(1, 2, -1, 0.5, 1e-30),
        (c, keep, drop, fill) => {
          const mask = Tensor.full(maskShape([c.B, c.H, c.N, c.S], keep, drop), fill);
          const plain = attend(c.query, c.key, c.value, { causal: c.causal, returnWeights: true });
          const masked = attend(c.query, c.key, c.value, { mask, causal: c.causal, returnWeights: true });
          assertBitwiseEqual(masked.output.data, plain.output.data, 'output');
          assertBitwiseEqual(masked.weights!.data, plain.weights!.data, 'weights');
        },
      ),
      RUNS,
    );
  });

  it('the matrix form equals the token-by-token loop over query rows (mask and bias rows sliced alongside)', () => {
    fc.assert(
      fc.property(attentionCase({ gqa: true, mask: true }), fc.boolean(), (c, withBias) => {
        const bias = withBias ? randomTensor([c.H, c.N, c.S], c.seed, 2) : undefined; // [H, N, S]
        const full = attend(c.query, c.key, c.value, { mask: c.mask, bias, returnWeights: true });
        const rows = [...Array(c.N).keys()].map((i) =>
          attend(sliceAlong(c.query, 2, i, i + 1), c.key, c.value, {
            mask: rowsOf(c.mask, i, i + 1),
            bias: rowsOf(bias, i, i + 1),
            returnWeights: true,
          }),
        );
        assertBitwiseEqual(concatAlong(rows.map((r) => r.output), 2).data, full.output.data, 'output');
        assertBitwiseEqual(concatAlong(rows.map((r) => r.weights!), 2).data, full.weights!.data, 'weights');
      }),
      RUNS,
    );
  });

  it('causal matrix form equals decoding with a growing key/value cache (bottom-right on the visible prefix)', () => {
    fc.assert(
      fc.property(
        attentionCase({ gqa: true, mask: true }),
        fc.constantFrom<Causal>('top-left', 'bottom-right'),
        (c0, causal) => {
          const c = { ...c0, causal };
          const full = attend(c.query, c.key, c.value, optionsOf(c));
          const shift = causal === 'bottom-right' ? c.S - c.N : 0;
          const rows = [...Array(c.N).keys()].map((i) => {
            // Query i sees keys 0 .. i + shift: the cache at that step. With one query row, 'bottom-right'
            // allows the whole cache, so the slice alone carries the causal rule.
            const visible = Math.max(0, Math.min(c.S, i + shift + 1));
            return attend(sliceAlong(c.query, 2, i, i + 1), sliceAlong(c.key, 2, 0, visible), sliceAlong(c.value, 2, 0, visible), {
              mask: colsOf(rowsOf(c.mask, i, i + 1), 0, visible),
              causal: 'bottom-right',
            }).output;
          });
          assertBitwiseEqual(concatAlong(rows, 2).data, full.output.data, 'output');
        },
      ),
      RUNS,
    );
  });

  it('causal matrix form equals single-row calls with the causal row given as an explicit mask', () => {
    fc.assert(
      fc.property(
        attentionCase({ gqa: true, mask: true }),
        fc.constantFrom<Causal>('top-left', 'bottom-right'),
        (c0, causal) => {
          const c = { ...c0, causal };
          const full = attend(c.query, c.key, c.value, optionsOf(c));
          const mask = fullMask(c) ?? Tensor.ones([c.B, c.H, c.N, c.S]); // [B, H, N, S]
          const rows = [...Array(c.N).keys()].map((i) => {
            const rowMask = sliceAlong(mask, 2, i, i + 1); // [B, H, 1, S]
            for (let x = 0; x < rowMask.size; x++) if (!causalAllows(causal, i, x % c.S, c.N, c.S)) rowMask.data[x] = 0;
            return attend(sliceAlong(c.query, 2, i, i + 1), c.key, c.value, { mask: rowMask, returnWeights: true });
          });
          assertBitwiseEqual(concatAlong(rows.map((r) => r.output), 2).data, full.output.data, 'output');
          assertBitwiseEqual(concatAlong(rows.map((r) => r.weights!), 2).data, full.weights!.data, 'weights');
        },
      ),
      RUNS,
    );
  });

  it('grouped-query attention equals repeating each key/value head H / Hkv times (repeat_interleave), bitwise', () => {
    fc.assert(
      fc.property(attentionCase({ gqa: true, mask: true, causal: true }), (c) => {
        const group = c.H / c.Hkv;
        const grouped = attend(c.query, c.key, c.value, optionsOf(c));
        const repeated = attend(c.query, repeatInterleave(c.key, 1, group), repeatInterleave(c.value, 1, group), optionsOf(c));
        assertBitwiseEqual(grouped.output.data, repeated.output.data, 'output');
        assertBitwiseEqual(grouped.weights!.data, repeated.weights!.data, 'weights');
      }),
      RUNS,
    );
  });

  it('broadcasting batch dims (and mask dims) equals broadcastTo of the inputs, bitwise', () => {
    const batchShape = fc
      .tuple(fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 2 }))
      .map(([keepB, keepH, drop]) => ({ keepB, keepH, drop }));
    fc.assert(
      fc.property(attentionCase({ mask: true, causal: true }), batchShape, batchShape, batchShape, (c, qs, ks, vs) => {
        const reduce = ({ keepB, keepH, drop }: { keepB: boolean; keepH: boolean; drop: number }) =>
          [keepB ? c.B : 1, keepH ? c.H : 1].slice(drop);
        const [qb, kb, vb] = [reduce(qs), reduce(ks), reduce(vs)];
        const query = randomTensor([...qb, c.N, c.d], c.seed); // [...qb, N, d]
        const key = randomTensor([...kb, c.S, c.d], c.seed + 1); // [...kb, S, d]
        const value = randomTensor([...vb, c.S, c.dv], c.seed + 2); // [...vb, S, dv]
        const batch = broadcastShapes(qb, kb, vb);
        // The case's mask was drawn for [B, H, N, S]; keep it only when it still broadcasts to [...batch, N, S].
        const target = [...batch, c.N, c.S];
        const fits = (m: Tensor) =>
          m.rank <= target.length && m.shape.every((s, i) => s === 1 || s === target[target.length - m.rank + i]);
        const mask = c.mask !== undefined && fits(c.mask) ? c.mask : undefined;
        const options = { mask, causal: c.causal, returnWeights: true };
        const broadcast = attend(query, key, value, options);
        const expanded = attend(
          query.broadcastTo([...batch, c.N, c.d]),
          key.broadcastTo([...batch, c.S, c.d]),
          value.broadcastTo([...batch, c.S, c.dv]),
          { ...options, mask: mask?.broadcastTo([...batch, c.N, c.S]) },
        );
        assert.deepEqual(broadcast.output.shape, [...batch, c.N, c.dv]);
        assertBitwiseEqual(broadcast.output.data, expanded.output.data, 'output');
        assertBitwiseEqual(broadcast.weights!.data, expanded.weights!.data, 'weights');
      }),
      RUNS,
    );
  });

  it('matches a naive float64 softmax(Q·Kᵀ·scale + bias)·V with mask, causal, scale and softcap', () => {
    fc.assert(
      fc.property(
        attentionCase({ gqa: true, mask: true, causal: true }),
        fc.option(fc.double({ min: -2, max: 2, noNaN: true })),
        fc.constantFrom(0, 0.5, 2, 20),
        fc.constantFrom('none', 'finite', 'with -Infinity'),
        (c, scaleDrawn, softcap, biasKind) => {
          const scale = scaleDrawn ?? undefined;
          let bias: Tensor | undefined;
          if (biasKind !== 'none') {
            bias = randomTensor([c.N, c.S], c.seed, 2); // [N, S]
            if (biasKind === 'with -Infinity') {
              const holes = randomMask([c.N, c.S], c.seed + 1, 0.7);
              for (let x = 0; x < bias.size; x++) if (holes.data[x] === 0) bias.data[x] = -Infinity;
            }
          }
          const got = attend(c.query, c.key, c.value, { mask: c.mask, bias, causal: c.causal, scale, softcap, returnWeights: true });
          const group = c.H / c.Hkv;
          const scoreShape = [c.B, c.H, c.N, c.S];
          const want = naiveAttention(c.query, repeatInterleave(c.key, 1, group), repeatInterleave(c.value, 1, group), {
            mask: c.mask?.broadcastTo(scoreShape),
            bias: bias?.broadcastTo(scoreShape),
            causal: c.causal,
            scale: scale ?? 1 / Math.sqrt(c.d),
            softcap,
          });
          assertReorderClose(got.output.data, want.output, reorder, 'output');
          assertReorderClose(got.weights!.data, want.weights, reorder, 'weights');
        },
      ),
      RUNS,
    );
  });
}

describeEachVariant('SDPA properties', (v) => {
  attentionPropertyTests(attentionOn(v), { numRuns: v.numRuns, reorder: v.tol.reorder, roundoff: v.tol.roundoff });
});
