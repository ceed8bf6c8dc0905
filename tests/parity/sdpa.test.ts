// Parity of scaledDotProductAttention with float64 references from tools/make_fixtures.py (torch 1.13; see the
// manifest). Each case compares the output, the weights and the traced scores with ‖out − ref‖/‖ref‖ within the
// parity tolerance (TOL.parity; TOL.wasmF32 for wasm), NaN and ±Infinity positions matching exactly. Where qkv
// deliberately differs from PyTorch (rows with no allowed key give 0; blocked keys are never read) the reference
// follows qkv; elsewhere the script checked it against torch.
//
// Every case runs on every backend variant (tests/backends/variants.ts) with that variant's tolerance. A backend that
// declines traces (wasm) hands a traced call to the reference, so the output and weights are checked from an
// untraced call, and the trace from a traced one; each "does not change the output" check compares like with like.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attentionOn, backendAccepts, describeEachVariant } from '../backends/variants.js';
import { assertBitwiseEqual, assertRelClose } from '../tolerances.js';
import { type Manifest, type SdpaCase, optionsOf, readFixture, toExpected, toTensor } from './fixtures.js';

const { cases } = readFixture<{ cases: SdpaCase[] }>('sdpa.json');
const manifest = readFixture<Manifest>('manifest.json');

/** Rows (of length `width`) that hold a NaN, and rows that are all zero. */
function rowCounts(data: Float64Array, width: number): { nan: number; zero: number } {
  let nan = 0;
  let zero = 0;
  for (let r = 0; r < data.length / width; r++) {
    const row = data.subarray(r * width, (r + 1) * width);
    if (row.some(Number.isNaN)) nan++;
    if (row.every((x) => x === 0)) zero++;
  }
  return { nan, zero };
}

describeEachVariant('scaledDotProductAttention matches the PyTorch fixtures', (v) => {
  const attend = attentionOn(v);
  for (const c of cases) {
    it(c.name, () => {
      const query = toTensor(c.inputs.query);
      const key = toTensor(c.inputs.key);
      const value = toTensor(c.inputs.value);
      const options = optionsOf(c.options);
      assert.ok(backendAccepts(v, query, key, value, { ...options, returnWeights: true }), `${c.name}: declined`);
      const got = attend(query, key, value, { ...options, returnWeights: true });

      const output = toExpected(c.expected.output);
      const weights = toExpected(c.expected.weights);
      const scores = toExpected(c.expected.scores);
      const scaledScores = toExpected(c.expected.scaledScores);
      assert.deepEqual(got.output.shape, output.shape, `${c.name}: output shape`);
      assertRelClose(got.output.data, output.data, v.tol.parity, `${c.name}: output`);
      assert.ok(got.weights, `${c.name}: weights were requested`);
      assert.deepEqual(got.weights.shape, weights.shape, `${c.name}: weights shape`);
      assertRelClose(got.weights.data, weights.data, v.tol.parity, `${c.name}: weights`);

      const traced = attend(query, key, value, { ...options, returnWeights: true, trace: true });
      assert.ok(traced.trace, `${c.name}: trace was requested`);
      assertRelClose(traced.trace.scores.data, scores.data, v.tol.parity, `${c.name}: trace.scores`);
      assertRelClose(traced.trace.logits.data, scaledScores.data, v.tol.parity, `${c.name}: trace.logits`);
      assertRelClose(traced.trace.weights.data, weights.data, v.tol.parity, `${c.name}: trace.weights`);
      assertRelClose(traced.output.data, output.data, v.tol.parity, `${c.name}: traced output`);

      // Asking for weights must not change the output.
      const plain = attend(query, key, value, options);
      assert.equal(plain.weights, undefined);
      assertBitwiseEqual(plain.output.data, got.output.data, `${c.name}: output without weights`);
      // Nor must asking for a trace, where the backend computes traces itself; otherwise the traced call ran on the
      // reference, whose output agrees with this backend's within the backend's tolerance.
      if (v.servesTraces) {
        assertBitwiseEqual(traced.output.data, got.output.data, `${c.name}: output with a trace`);
        assertBitwiseEqual(traced.weights!.data, got.weights.data, `${c.name}: weights with a trace`);
      } else {
        assertRelClose(got.output.data, traced.output.data, v.tol.parity, `${c.name}: output vs the traced reference`);
        assertRelClose(got.weights.data, traced.weights!.data, v.tol.parity, `${c.name}: weights vs the traced reference`);
      }
    });
  }
});

describe('SDPA parity fixtures', () => {
  const listed = manifest.files['sdpa.json'].cases;

  it('are listed in the manifest with the torch version and seed', () => {
    assert.match(manifest.torch, /^\d+\.\d+/);
    assert.equal(typeof manifest.seed, 'number');
    assert.deepEqual(
      cases.map((c) => c.name),
      listed.map((c) => c.name),
    );
  });

  it('hold the edge cases the manifest describes (NaN rows, rows with no allowed key, huge logits)', () => {
    for (const [i, c] of cases.entries()) {
      const entry = listed[i];
      const S = c.expected.weights.shape.at(-1) as number;
      const dv = c.expected.output.shape.at(-1) as number;
      assert.equal(rowCounts(toExpected(c.expected.weights).data, S).zero, entry.emptyRows, `${c.name}: empty rows`);
      assert.equal(rowCounts(toExpected(c.expected.output).data, dv).nan, entry.nanRows, `${c.name}: NaN rows`);
    }
    const byName = new Map(listed.map((c) => [c.name, c]));
    assert.ok(byName.get('causal_bottom_right_n_gt_s')!.emptyRows > 0);
    assert.ok(byName.get('fully_masked_rows_mask')!.emptyRows > 0);
    assert.ok(byName.get('fully_masked_rows_bias')!.emptyRows > 0);
    assert.equal(byName.get('nan_query_row')!.nanRows, 1);
    assert.ok(byName.get('nan_value_allowed')!.nanRows > 0);
    assert.equal(byName.get('nan_key_blocked')!.nanRows, 0);
    assert.equal(byName.get('nan_value_blocked')!.nanRows, 0);
    assert.ok(byName.get('huge_logits')!.maxAbsScaledScore > 5e3);
  });
});
