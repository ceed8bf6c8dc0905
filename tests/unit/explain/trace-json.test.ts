// The explain JSON: built from a real MultiHeadAttention trace, it survives JSON and parses back; wrong files fail
// with a message that says what is wrong.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FormatError, MultiHeadAttention, Tensor } from '../../../src/index.js';
import { type ExplainJson, headsToJson, parseExplainJson } from '../../../src/explain/trace-json.js';

function document(): ExplainJson {
  const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 4, numKvHeads: 2, seed: 1 });
  const x = Tensor.randn([3, 8], 2); // [N, D], unbatched
  const { trace } = mha.forward(x, undefined, undefined, { trace: true, causal: true });
  return {
    format: 'qkv.explain',
    version: 1,
    sentence: 'a b c',
    tokens: ['a', 'b', 'c'],
    model: { layers: 1, heads: 4, embedDim: 8, headDim: 2 },
    layers: [{ heads: headsToJson(trace!) }],
  };
}

test('a trace round-trips through JSON, blocked scores as null', () => {
  const doc = document();
  const parsed = parseExplainJson(JSON.stringify(doc));
  assert.deepEqual(parsed, doc);
  const head = parsed.layers[0].heads[3];
  assert.equal(head.scaledScores[0][1], null); // causal: token 0 cannot see token 1
  assert.equal(head.weights[0][1], 0);
  for (const row of head.weights) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  // Grouped heads: query heads 2 and 3 read key/value head 1.
  assert.deepEqual(parsed.layers[0].heads[2].key, parsed.layers[0].heads[3].key);
  assert.notDeepEqual(parsed.layers[0].heads[1].key, parsed.layers[0].heads[2].key);
});

test('wrong files fail with a message naming the problem', () => {
  const good = document();
  const cases: [string, RegExp][] = [
    ['{nope', /not JSON/],
    ['[]', /format is undefined/],
    [JSON.stringify({ ...good, version: 2 }), /version 2 is not supported/],
    [JSON.stringify({ ...good, tokens: ['a', 'b'] }), /layer 0 head 0: query must be a \[N, d\] matrix with N = 2/],
    [JSON.stringify({ ...good, layers: [] }), /layers must be a non-empty array/],
  ];
  const broken = structuredClone(good);
  broken.layers[0].heads[1].weights[2] = [1, 0];
  cases.push([JSON.stringify(broken), /layer 0 head 1: weights must be \[N, N\] with N = 3/]);
  for (const [text, message] of cases) {
    assert.throws(() => parseExplainJson(text), (e: unknown) => e instanceof FormatError && message.test(e.message));
  }
});
