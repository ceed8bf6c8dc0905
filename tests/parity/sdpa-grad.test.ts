// Parity of scaledDotProductAttentionBackward with PyTorch autograd (torch 1.13, float64) through the SDPA math,
// from tools/make_grad_fixtures.py; the fixture's own manifest gives the torch version, the seed and every case's
// shapes. Each gradient must match with ‖grad − ref‖/‖ref‖ ≤ TOL.grad. Where qkv deliberately differs from PyTorch
// (a row with no allowed key: PyTorch gives NaN, pytorch#41508) the fixture holds qkv's gradient 0 instead, and the
// script checked that PyTorch's plain math does give NaN there.
//
// The cases run under every backend variant (tests/backends/variants.ts), naming the backend per call. Only the
// reference has a backward today; the dispatcher falls back to it, so these runs check that fallback and will check
// a backend's own backward, at TOL.grad, once one exists.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scaledDotProductAttentionBackward } from '../../src/ops/attention-backward.js';
import { describeEachVariant } from '../backends/variants.js';
import { TOL, assertRelClose } from '../tolerances.js';
import { type EncodedTensor, type FixtureOptions, optionsOf, readFixture, toExpected, toTensor } from './fixtures.js';

type GradName = 'gradQuery' | 'gradKey' | 'gradValue' | 'gradBias';

interface GradCase {
  name: string;
  inputs: { query: EncodedTensor; key: EncodedTensor; value: EncodedTensor; gradOutput: EncodedTensor };
  options: FixtureOptions;
  expected: Partial<Record<GradName, EncodedTensor>>;
}

interface GradManifestCase {
  name: string;
  note: string;
  /** Query rows (over the broadcast batch) with no allowed key. */
  emptyRows: number;
  /** Whether PyTorch's plain math gives NaN gradients for this case (only where emptyRows > 0). */
  torchPlainGivesNaN: boolean;
  gradcheck: boolean;
  checkedAgainstTorchSdpa: boolean;
}

interface GradFixture {
  manifest: { generator: string; torch: string; seed: number; cases: GradManifestCase[] };
  cases: GradCase[];
}

const { manifest, cases } = readFixture<GradFixture>('sdpa-grad.json');

describeEachVariant('scaledDotProductAttentionBackward matches PyTorch autograd', (v) => {
  for (const c of cases) {
    it(c.name, () => {
      const query = toTensor(c.inputs.query);
      const key = toTensor(c.inputs.key);
      const value = toTensor(c.inputs.value);
      const options = { ...optionsOf(c.options), backend: v.backend };
      const got = scaledDotProductAttentionBackward(query, key, value, toTensor(c.inputs.gradOutput), options);

      const pairs: [GradName, Float32Array | undefined, readonly number[] | undefined][] = [
        ['gradQuery', got.gradQuery.data, got.gradQuery.shape],
        ['gradKey', got.gradKey.data, got.gradKey.shape],
        ['gradValue', got.gradValue.data, got.gradValue.shape],
        ['gradBias', got.gradBias?.data, got.gradBias?.shape],
      ];
      for (const [name, data, shape] of pairs) {
        const encoded = c.expected[name];
        if (encoded === undefined) {
          assert.equal(data, undefined, `${c.name}: ${name} is returned only with a bias`);
          continue;
        }
        const expected = toExpected(encoded);
        assert.ok(data && shape, `${c.name}: ${name} is missing`);
        assert.deepEqual(shape, expected.shape, `${c.name}: ${name} shape`);
        assert.ok(data.every(Number.isFinite), `${c.name}: ${name} is finite`);
        assertRelClose(data, expected.data, TOL.grad, `${c.name}: ${name}`);
        // Where autograd's gradient is exactly 0 (rows with no key, keys no row sees), qkv's is exactly 0 too.
        for (let n = 0; n < data.length; n++) {
          if (expected.data[n] === 0) assert.equal(data[n], 0, `${c.name}: ${name}[${n}] must be exactly 0`);
        }
      }
    });
  }
}, { usesForward: false });

describe('SDPA gradient fixtures', () => {
  it('are listed in their manifest with the torch version and seed', () => {
    assert.equal(manifest.generator, 'tools/make_grad_fixtures.py');
    assert.match(manifest.torch, /^\d+\.\d+/);
    assert.equal(typeof manifest.seed, 'number');
    assert.deepEqual(
      cases.map((c) => c.name),
      manifest.cases.map((c) => c.name),
    );
    assert.ok(manifest.cases.every((c) => c.gradcheck));
  });

  it('cover rows with no allowed key, where PyTorch gives NaN and qkv gives 0', () => {
    const withEmptyRows = manifest.cases.filter((c) => c.emptyRows > 0).map((c) => c.name);
    assert.deepEqual(withEmptyRows, ['causal_bottom_right_n_gt_s', 'fully_masked_rows_mask', 'fully_masked_row_bias']);
    for (const c of manifest.cases) {
      assert.equal(c.torchPlainGivesNaN, c.emptyRows > 0, `${c.name}: torchPlainGivesNaN`);
    }
  });
});
