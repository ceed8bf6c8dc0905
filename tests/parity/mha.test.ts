// Parity of MultiHeadAttention with torch.nn.MultiheadAttention(batch_first=True): each fixture holds a real module's
// state_dict (float32, PyTorch's key names), its inputs, and its forward computed in float64 (tools/make_fixtures.py).
// PyTorch's True-means-blocked key_padding_mask and attn_mask are stored already converted to qkv's
// nonzero-means-may-attend mask; a causal attn_mask becomes `causal: true`.
//
// The forward cases run on every backend variant (tests/backends/variants.ts), named per call with `backend`, with
// the variant's parity tolerance; the state-dict round trip involves no backend and runs once.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MultiHeadAttention, type MultiHeadAttentionOptions, Tensor } from '../../src/index.js';
import { type BackendVariant, describeEachVariant } from '../backends/variants.js';
import { assertBitwiseEqual, assertRelClose } from '../tolerances.js';
import { type Manifest, type MhaCase, readFixture, toExpected, toTensor } from './fixtures.js';

const { cases } = readFixture<{ cases: MhaCase[] }>('mha.json');
const manifest = readFixture<Manifest>('manifest.json');

function stateDictOf(c: MhaCase): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(c.stateDict).map(([name, t]) => [name, toTensor(t)]));
}

function moduleOf(c: MhaCase): MultiHeadAttention {
  // A seed other than the default, so that a parameter the state dict fails to overwrite shows.
  const mha = new MultiHeadAttention({ ...c.config, seed: 7 });
  mha.loadStateDict(stateDictOf(c));
  return mha;
}

function optionsOf(c: MhaCase, v: BackendVariant): MultiHeadAttentionOptions {
  const options: MultiHeadAttentionOptions = { averageWeights: c.options.averageWeights, backend: v.backend };
  if (c.options.mask !== undefined) options.mask = toTensor(c.options.mask);
  if (c.options.causal !== undefined) options.causal = c.options.causal;
  return options;
}

/** Runs the case; self-attention cases omit key and value, as qkv allows. */
function run(mha: MultiHeadAttention, c: MhaCase, options: MultiHeadAttentionOptions) {
  const query = toTensor(c.inputs.query);
  if (c.inputs.key === undefined || c.inputs.value === undefined) return mha.forward(query, undefined, undefined, options);
  return mha.forward(query, toTensor(c.inputs.key), toTensor(c.inputs.value), options);
}

describeEachVariant('MultiHeadAttention matches torch.nn.MultiheadAttention fixtures', (v) => {
  for (const c of cases) {
    it(c.name, () => {
      const mha = moduleOf(c);
      const options = optionsOf(c, v);
      const got = run(mha, c, { ...options, returnWeights: true });

      const output = toExpected(c.expected.output);
      const weights = toExpected(c.expected.weights);
      assert.deepEqual(got.output.shape, output.shape, `${c.name}: output shape`);
      assertRelClose(got.output.data, output.data, v.tol.parity, `${c.name}: output`);
      assert.ok(got.weights, `${c.name}: weights were requested`);
      assert.deepEqual(got.weights.shape, weights.shape, `${c.name}: weights shape`);
      assertRelClose(got.weights.data, weights.data, v.tol.parity, `${c.name}: weights`);

      // returnWeights defaults to false and does not change the output.
      const plain = run(mha, c, options);
      assert.equal(plain.weights, undefined, `${c.name}: no weights unless asked`);
      assertBitwiseEqual(plain.output.data, got.output.data, `${c.name}: output without weights`);
    });
  }

  it('self-attention with key and value omitted equals passing the query three times', () => {
    const c = cases.find((x) => x.name === 'self_attention');
    assert.ok(c && c.inputs.key === undefined);
    const mha = moduleOf(c);
    const x = toTensor(c.inputs.query);
    const on = { backend: v.backend };
    const omitted = mha.forward(x, undefined, undefined, on).output;
    assertBitwiseEqual(omitted.data, mha.forward(x, x, x, on).output.data, 'self-attention output');
  });

  it('averageWeights defaults to true, as PyTorch', () => {
    const c = cases.find((x) => x.name === 'cross_attention');
    assert.ok(c && c.options.averageWeights);
    const got = run(moduleOf(c), c, { returnWeights: true, backend: v.backend });
    const weights = toExpected(c.expected.weights);
    assert.deepEqual(got.weights?.shape, weights.shape);
    assertRelClose(got.weights!.data, weights.data, v.tol.parity, 'default-averaged weights');
  });
});

describe('MultiHeadAttention state dicts round-trip PyTorch fixtures', () => {
  for (const c of cases) {
    it(c.name, () => {
      const dict = stateDictOf(c);
      const mha = moduleOf(c);
      const back = mha.stateDict();
      assert.deepEqual(Object.keys(back).sort(), Object.keys(dict).sort(), `${c.name}: keys`);
      for (const [name, t] of Object.entries(dict)) {
        assert.deepEqual(back[name].shape, t.shape, `${c.name}: ${name} shape`);
        assertBitwiseEqual(back[name].data, t.data, `${c.name}: ${name}`);
      }
    });
  }
});

describe('MHA parity fixtures', () => {
  it('are listed in the manifest, and cover the PyTorch variants', () => {
    const listed = manifest.files['mha.json'].cases;
    assert.deepEqual(
      cases.map((c) => c.name),
      listed.map((c) => c.name),
    );
    const has = (key: string) => cases.some((c) => key in c.stateDict);
    for (const key of ['in_proj_weight', 'q_proj_weight', 'k_proj_weight', 'v_proj_weight', 'bias_k', 'bias_v']) {
      assert.ok(has(key), `some case has ${key}`);
    }
    assert.ok(cases.some((c) => !c.config.bias && !('in_proj_bias' in c.stateDict) && !('out_proj.bias' in c.stateDict)));
    assert.ok(cases.some((c) => c.config.addZeroAttn));
    assert.ok(cases.some((c) => c.inputs.query.shape.length === 2), 'an unbatched case');
    assert.ok(cases.some((c) => !c.options.averageWeights) && cases.some((c) => c.options.averageWeights));
    // Biases are re-drawn non-zero, so that a dropped bias fails the parity check.
    for (const c of cases) {
      for (const [name, t] of Object.entries(stateDictOf(c))) {
        if (name.includes('bias')) assert.ok(t.data.every((x) => x !== 0), `${c.name}: ${name} has zeros`);
      }
    }
  });
});
