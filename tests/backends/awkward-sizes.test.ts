// Awkward sizes on every backend variant (tests/backends/variants.ts): a single query row (decoding), S ≠ N both
// ways, head sizes d ∈ {1, 3, 65} (not multiples of the SIMD width), dv ≠ d, B·H = 1 (fewer work units than
// threads), and ragged last tiles (the wasm kernel's tiles are 64 query rows × 64 keys). Each case runs with no
// options, both causal alignments, a mask, a bias and a softcap, always with weights.
//
// Every variant is compared with the float64 oracle (tests/oracle.ts); a backend other than the reference is also
// compared with the reference, and must run the case itself rather than decline it to the reference.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type AttentionOptions, Tensor, broadcastShapes, scaledDotProductAttention } from '../../src/index.js';
import { type Causal, randomMask, randomTensor, repeatInterleave } from '../arbitraries.js';
import { naiveAttention } from '../oracle.js';
import { assertBitwiseEqual, assertRelClose } from '../tolerances.js';
import { attentionOn, backendAccepts, describeEachVariant } from './variants.js';

/** name, query [..., N, d], key [..., S, d], value [..., S, dv] */
type SizeCase = [string, number[], number[], number[]];

const SIZES: SizeCase[] = [
  ['N = S = d = dv = 1', [1, 1, 1], [1, 1, 1], [1, 1, 1]],
  ['N = 1 (decoding), S = 100', [2, 1, 16], [2, 100, 16], [2, 100, 16]],
  ['S = 1', [2, 5, 4], [2, 1, 4], [2, 1, 3]],
  ['S < N', [1, 3, 90, 10], [1, 3, 20, 10], [1, 3, 20, 10]],
  ['S > N', [2, 2, 20, 8], [2, 2, 90, 8], [2, 2, 90, 8]],
  ['d = 1, dv = 2', [3, 9, 1], [3, 12, 1], [3, 12, 2]],
  ['d = 3, dv = 5', [2, 4, 13, 3], [2, 4, 7, 3], [2, 4, 7, 5]],
  ['d = 65, dv = 7', [1, 2, 33, 65], [1, 2, 66, 65], [1, 2, 66, 7]],
  ['dv = 12 ≠ d = 16', [1, 20, 16], [1, 30, 16], [1, 30, 12]],
  ['B·H = 1, one query tile (fewer units than threads)', [1, 1, 40, 8], [1, 1, 50, 8], [1, 1, 50, 8]],
  ['B·H = 1, rank 2', [15, 6], [9, 6], [9, 4]],
  ['B·H = 1, N = 65: a full tile and a one-row tile', [65, 8], [70, 8], [70, 8]],
  ['B·H = 1, N = 130, S = 200: three ragged query tiles', [130, 8], [200, 8], [200, 6]],
  ['ragged tiles: N = 130, S = 200, B·H = 4', [2, 2, 130, 32], [2, 2, 200, 32], [2, 2, 200, 24]],
  ['tile edges: N = 128, S = 64 exactly', [1, 128, 16], [1, 64, 16], [1, 64, 16]],
  ['one past a tile: N = 63, S = 65', [2, 63, 5], [2, 65, 5], [2, 65, 5]],
  ['grouped heads: H = 4 over Hkv = 1, N = 1', [2, 4, 1, 8], [2, 1, 30, 8], [2, 1, 30, 8]],
  ['grouped heads: H = 6 over Hkv = 2, S ≠ N', [1, 6, 11, 3], [1, 2, 70, 3], [1, 2, 70, 5]],
];

interface OptionCase {
  name: string;
  causal: Causal;
  mask?: boolean;
  bias?: boolean;
  scale?: number;
  softcap?: number;
}

const OPTIONS: OptionCase[] = [
  { name: 'plain', causal: false },
  { name: 'causal top-left', causal: 'top-left' },
  { name: 'causal bottom-right', causal: 'bottom-right' },
  { name: 'mask [N, S]', causal: false, mask: true },
  { name: 'bias [N, S] + bottom-right', causal: 'bottom-right', bias: true },
  { name: 'scale 0.5, softcap 5, mask', causal: 'top-left', mask: true, scale: 0.5, softcap: 5 },
];

/** Query, key and value of the case, and the options object for scaledDotProductAttention. */
function problemOf([, qs, ks, vs]: SizeCase, o: OptionCase, seed: number) {
  const query = randomTensor(qs, seed, 2); // [..., N, d]
  const key = randomTensor(ks, seed + 1, 2); // [..., S, d]
  const value = randomTensor(vs, seed + 2); // [..., S, dv]
  const [N, S] = [qs.at(-2)!, ks.at(-2)!];
  const options: AttentionOptions = { causal: o.causal, returnWeights: true, scale: o.scale, softcap: o.softcap };
  if (o.mask) options.mask = randomMask([N, S], seed + 3, 0.4); // [N, S]
  if (o.bias) options.bias = randomTensor([N, S], seed + 4); // [N, S]
  return { query, key, value, options };
}

/** The float64 oracle on explicit inputs: batch dims broadcast and grouped heads repeated. */
function oracle(query: Tensor, key: Tensor, value: Tensor, options: AttentionOptions) {
  const [N, d] = query.shape.slice(-2);
  const S = key.shape.at(-2)!;
  const dv = value.shape.at(-1)!;
  let [k, v] = [key, value];
  if (query.rank === 4 && key.shape[1] !== query.shape[1]) {
    const group = query.shape[1] / key.shape[1];
    [k, v] = [repeatInterleave(key, 1, group), repeatInterleave(value, 1, group)]; // [B, H, S, d], [B, H, S, dv]
  }
  const batch = broadcastShapes(query.shape.slice(0, -2), k.shape.slice(0, -2), v.shape.slice(0, -2));
  const scores = [...batch, N, S];
  const causal = options.causal === true ? 'top-left' : (options.causal ?? false);
  const q = query.broadcastTo([...batch, N, d]); // [...batch, N, d]
  [k, v] = [k.broadcastTo([...batch, S, d]), v.broadcastTo([...batch, S, dv])]; // [...batch, S, d], [...batch, S, dv]
  return naiveAttention(q, k, v, {
    mask: options.mask?.broadcastTo(scores),
    bias: options.bias?.broadcastTo(scores),
    causal,
    scale: options.scale ?? 1 / Math.sqrt(d),
    softcap: options.softcap ?? 0,
  });
}

describeEachVariant('awkward sizes', (v) => {
  const attend = attentionOn(v);
  SIZES.forEach((size, n) => {
    it(size[0], () => {
      for (const o of OPTIONS) {
        const what = `${size[0]}, ${o.name}`;
        const { query, key, value, options } = problemOf(size, o, 100 * n);
        assert.ok(backendAccepts(v, query, key, value, options), `${what}: the ${v.backend} backend declined it`);
        const got = attend(query, key, value, options);
        const want = oracle(query, key, value, options);
        assertRelClose(got.output.data, want.output, v.tol.parity, `${what}: output vs the float64 oracle`);
        assertRelClose(got.weights!.data, want.weights, v.tol.parity, `${what}: weights vs the float64 oracle`);
        if (v.backend !== 'reference') {
          const ref = scaledDotProductAttention(query, key, value, { ...options, backend: 'reference' });
          assert.deepEqual(got.output.shape, ref.output.shape, `${what}: output shape`);
          assertRelClose(got.output.data, ref.output.data, v.tol.parity, `${what}: output vs the reference`);
          assertRelClose(got.weights!.data, ref.weights!.data, v.tol.parity, `${what}: weights vs the reference`);
        }
        // Asking for weights does not change the output, on this backend.
        const plain = attend(query, key, value, { ...options, returnWeights: false });
        assertBitwiseEqual(plain.output.data, got.output.data, `${what}: output without weights`);
      }
    });
  });
});
