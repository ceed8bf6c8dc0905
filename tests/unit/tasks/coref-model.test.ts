// The coreference model, its training loop, its explanation and its head analysis. Training tests use a small shape
// and few steps (seconds); the bundled model (models/coref/) is checked on sentences it never saw in training.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isQkvError } from '../../../src/core/errors.js';
import { softmax } from '../../../src/autograd/nn-ops.js';
import { parseExplainJson } from '../../../src/explain/trace-json.js';
import { DEFAULT_SENTENCE, HELD_OUT_SENTENCES, generateSplits, toBatch } from '../../../src/tasks/coref/data.js';
import { UnknownWordError, VOCAB } from '../../../src/tasks/coref/vocab.js';
import {
  CorefModel,
  candidateProbabilities,
  explainSentence,
  findCandidates,
} from '../../../src/tasks/coref/model.js';
import { evaluateCoref, trainCoref } from '../../../src/tasks/coref/train.js';
import { loadCorefModel } from '../../../src/tasks/coref/load.js';
import { analyzeHeads, bestCorefHead, headTable } from '../../../src/tasks/coref/analysis.js';
import { assertAllClose, assertBitwiseEqual, TOL } from '../../tolerances.js';

const SMALL = { hiddenSize: 32, numAttentionHeads: 2, numHiddenLayers: 1, intermediateSize: 64 };

const bundled = loadCorefModel();

test('a short training run: the loss falls from chance', () => {
  // The loss is the word's cross-entropy plus the attention loss; at chance they are log V and log N (N ≈ 12 words).
  const { losses } = trainCoref({ seed: 3, steps: 60, batchSize: 16, trainSize: 400, lr: 1e-2, config: SMALL });
  const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
  const chance = Math.log(VOCAB.size) + Math.log(12);
  assert.ok(Math.abs(first - chance) < 1, `starts near chance log V + log N ≈ ${chance.toFixed(2)}; got ${first.toFixed(3)}`);
  assert.ok(last < 0.6 * first, `the loss falls: first ${first.toFixed(3)}, last ${last.toFixed(3)}`);
});

test('training is deterministic: one seed gives bitwise the same parameters, another seed others', () => {
  const options = { steps: 4, batchSize: 8, trainSize: 64, config: SMALL };
  const a = trainCoref({ seed: 7, ...options }).model.stateDict();
  const b = trainCoref({ seed: 7, ...options }).model.stateDict();
  const c = trainCoref({ seed: 8, ...options }).model.stateDict();
  for (const name of Object.keys(a)) assertBitwiseEqual(a[name].data, b[name].data, name);
  assert.ok(Object.keys(a).some((name) => a[name].data.some((x, i) => x !== c[name].data[i])), 'seed 8 differs from seed 7');
});

test('trainCoref reports progress and rejects bad options by name', () => {
  const seen: number[] = [];
  trainCoref({ seed: 1, steps: 3, batchSize: 4, trainSize: 16, config: SMALL, onProgress: (p) => seen.push(p.step) });
  assert.deepEqual(seen, [1, 2, 3]);
  assert.throws(() => trainCoref({ steps: 0 }), /trainCoref: steps must be an integer ≥ 1; got number 0/);
  assert.throws(() => trainCoref({ lr: -1 }), /trainCoref: lr must be a number ≥ 0/);
});

test('the traced inference path computes what the batched training path computes', async () => {
  const model = await bundled;
  const { test: examples } = generateSplits({ seed: 5, trainSize: 0, validationSize: 0, testSize: 3 });
  // One padded batch: padding must not change a sentence's logits.
  const batch = toBatch(examples);
  const { logits, pointer } = model.forward(batch); // [B, V], [B, N]
  const weights = softmax(pointer).data; // [B, N]
  const V = VOCAB.size;
  const N = batch.length;
  const { layer, head } = model.corefHead;
  examples.forEach((e, b) => {
    const { logits: traced, layers } = model.trace(e.ids, e.pronoun);
    assertAllClose(traced, logits.data.subarray(b * V, (b + 1) * V), TOL.reorder, TOL.reorder, `logits of example ${b}`);
    // The training loss's pointer is the coreference head's row of weights from "it"; padded keys get 0.
    const n = e.ids.length;
    const row = layers[layer].weights.data.subarray((head * n + e.pronoun) * n, (head * n + e.pronoun + 1) * n); // [n]
    assertAllClose(weights.subarray(b * N, b * N + n), row, TOL.reorder, TOL.reorder, `pointer of example ${b}`);
    assert.ok(weights.subarray(b * N + n, (b + 1) * N).every((w) => w === 0), 'no weight on padding');
    assert.equal(layers.length, model.config.numLayers);
    assert.deepEqual(layers[0].weights.shape, [model.config.numHeads, e.ids.length, e.ids.length]);
  });
});

test('a model survives the safetensors round trip, and a foreign file is refused', () => {
  const model = new CorefModel(SMALL, 4);
  const bytes = model.toBytes({ note: 'test' });
  const back = CorefModel.fromBytes(bytes);
  assert.deepEqual(back.config, model.config);
  const a = model.stateDict();
  const b = back.stateDict();
  for (const name of Object.keys(a)) assertBitwiseEqual(b[name].data, a[name].data, name);
  const notCoref = new Uint8Array(bytes);
  // Overwrite the metadata's format value in place (same length) so the header stays valid JSON.
  const header = new TextDecoder().decode(notCoref.subarray(0, 2000));
  const at = header.indexOf('qkv.coref');
  notCoref.set(new TextEncoder().encode('qkv.other'), at);
  assert.throws(() => CorefModel.fromBytes(notCoref), (e) => isQkvError(e, 'E_FORMAT') && /not a qkv coreference model/.test(e.message));
});

test('the bundled model is small and gets the referent right on the default and the held-out sentences', async () => {
  const model = await bundled;
  const { readFile } = await import('node:fs/promises');
  const { BUNDLED_MODEL_URL } = await import('../../../src/tasks/coref/load.js');
  const size = (await readFile(BUNDLED_MODEL_URL)).length;
  assert.ok(size < 1_000_000, `model file ${size} bytes`);
  const cases = [{ sentence: DEFAULT_SENTENCE, referent: 'cat' }, ...HELD_OUT_SENTENCES];
  for (const { sentence, referent } of cases) {
    const doc = explainSentence(model, sentence);
    const p = doc.prediction;
    assert.ok(p, `a prediction for "${sentence}"`);
    assert.equal(doc.tokens[p.referent], referent, `"${sentence}": predicted "${doc.tokens[p.referent]}"`);
    assert.equal(doc.tokens[p.pronoun], 'it');
    const k = p.candidates.indexOf(p.referent);
    assert.ok(p.probabilities[k] > 0.5, `probability of the referent ${p.probabilities[k]}`);
    assertAllClose([p.probabilities[0] + p.probabilities[1]], [1], 1e-12, 1e-12, 'candidate probabilities sum');
  }
});

test('the bundled model: held-out accuracy, and a head that looks from "it" at the referent', async () => {
  const model = await bundled;
  const { test: examples } = generateSplits({ seed: 1, trainSize: 0, validationSize: 0, testSize: 200 });
  const { accuracy } = evaluateCoref(model, examples);
  assert.ok(accuracy >= 0.95, `accuracy on 200 test sentences ${accuracy}`);
  const stats = analyzeHeads(model, examples.slice(0, 60));
  assert.equal(stats.length, model.config.numLayers * model.config.numHeads);
  for (const s of stats) {
    for (const [k, v] of Object.entries(s)) {
      if (k !== 'layer' && k !== 'head') assert.ok(v >= 0 && v <= 1 + 1e-6, `layer ${s.layer} head ${s.head} ${k} = ${v}`);
    }
  }
  const best = bestCorefHead(stats);
  assert.ok(best.pronounToReferent >= 0.8, `best head ${best.layer}.${best.head}: ${best.pronounToReferent}`);
  assert.ok(best.pronounToReferent > best.pronounToOther, 'more weight on the referent than on the other noun');
  // A head that no loss asked to attend to the referent does it too (docs/LEARNING.md).
  const unasked = bestCorefHead(stats, model.corefHead);
  assert.ok(unasked.layer !== model.corefHead.layer || unasked.head !== model.corefHead.head);
  assert.ok(unasked.pronounToReferent >= 0.8, `best unsupervised head ${unasked.layer}.${unasked.head}: ${unasked.pronounToReferent}`);
  // The analysis reads the same weights that explain shows.
  const e = examples[0];
  const one = analyzeHeads(model, [e]).find((s) => s.layer === best.layer && s.head === best.head)!;
  const doc = explainSentence(model, e.tokens.join(' '));
  assert.equal(one.pronounToReferent, doc.layers[best.layer].heads[best.head].weights[e.pronoun][e.referent]);
  assert.match(headTable(stats, { marked: model.corefHead }), /^\| layer\.head \| it → referent/);
  assert.match(headTable(stats, { marked: model.corefHead }), /\n\| 1\.0\* \| /);
});

test('explain JSON: every layer and head, rows that sum to 1, and it parses as an explain document', async () => {
  const model = await bundled;
  const doc = explainSentence(model, DEFAULT_SENTENCE);
  const parsed = parseExplainJson(JSON.stringify(doc));
  assert.deepEqual(parsed.tokens, ['the', 'cat', 'sat', 'on', 'the', 'mat', 'because', 'it', 'was', 'tired']);
  assert.equal(parsed.layers.length, model.config.numLayers);
  assert.deepEqual(parsed.model, { layers: 2, heads: 4, embedDim: 64, headDim: 16, supervisedHead: { layer: 1, head: 0 } });
  for (const layer of parsed.layers) {
    assert.equal(layer.heads.length, 4);
    for (const head of layer.heads) {
      for (const row of head.weights) assertAllClose([row.reduce((a, b) => a + b, 0)], [1], 1e-6, 1e-6, 'row sum');
    }
  }
});

test('explainSentence: unknown words name themselves and suggest known ones; no "it" means no prediction', async () => {
  const model = await bundled;
  assert.throws(
    () => explainSentence(model, 'The cat sat on the matt because it was tierd.'),
    (e) =>
      e instanceof UnknownWordError &&
      /explainSentence/.test(e.message) &&
      /"matt" \(did you mean "mat"/.test(e.message) &&
      /"tierd" \(did you mean "tired"/.test(e.message),
  );
  const doc = explainSentence(model, 'The cat sat on the mat.');
  assert.equal(doc.prediction, undefined);
  assert.equal(doc.layers.length, 2);
  assert.deepEqual(findCandidates(doc.tokens), { note: 'no prediction: the sentence must contain "it" exactly once (found 0)' });
  assert.match(
    (findCandidates(['the', 'cat', 'slept', 'because', 'it', 'was', 'tired']) as { note: string }).note,
    /exactly two nouns .* \(found "cat"\)/,
  );
  assert.deepEqual(findCandidates(['a', 'dog', 'and', 'a', 'box', 'it']), { pronoun: 5, candidates: [1, 4] });
});

test('candidateProbabilities is the softmax over the candidates\' logits', () => {
  const logits = new Float32Array([0, 2, 0, Math.log(3) + 2]);
  assertAllClose(candidateProbabilities(logits, [1, 3]), [0.25, 0.75], 1e-6, 1e-6, 'probabilities');
});

test('explain JSON names the supervised head of a model trained with the attention loss, and only then', async () => {
  const doc = explainSentence(await bundled, DEFAULT_SENTENCE);
  assert.deepEqual(doc.model.supervisedHead, { layer: 1, head: 0 });
  assert.deepEqual(parseExplainJson(JSON.stringify(doc)).model.supervisedHead, { layer: 1, head: 0 });
  const untrained = explainSentence(new CorefModel({}, 3), DEFAULT_SENTENCE);
  assert.equal(untrained.model.supervisedHead, undefined);
  const bad = { ...doc, model: { ...doc.model, supervisedHead: { layer: 1, head: 9 } } };
  assert.throws(() => parseExplainJson(JSON.stringify(bad)), /model\.supervisedHead .* names no head of the document/);
});
