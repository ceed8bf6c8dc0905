// The viewer's layout functions (web/src/layout/), which are pure: checked here in Node, on weights from real
// attention (a seeded MultiHeadAttention), without a browser.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { headViewLayout, topIndices } from '../../web/src/layout/head-view.js';
import { describeCell, matrixLayout } from '../../web/src/layout/matrix.js';
import { modelViewLayout } from '../../web/src/layout/model-view.js';
import { predictionText, strongestLink } from '../../web/src/layout/prediction.js';
import { legendLayout, weightColour } from '../../web/src/layout/scale.js';
import { stepsModel } from '../../web/src/layout/steps.js';
import { TOL, assertAllClose } from '../tolerances.js';
import { longTrace } from './fixtures.js';

const doc = longTrace(100);
const head = doc.layers[1].heads[2];
const tokens = doc.tokens;

test('topIndices orders by weight, ties by position', () => {
  assert.deepEqual(topIndices([0.1, 0.5, 0.1, 0.3], 3), [1, 3, 0]);
  assert.deepEqual(topIndices([0.2, 0.2], 0), [0, 1]);
});

test('head view: one line per kept link, thickness by weight, top-k and focus', () => {
  const all = headViewLayout(tokens.slice(0, 5), [{ head: 0, weights: [[0.7, 0.2, 0.1, 0, 0], [0.5, 0.5, 0, 0, 0]], colour: '#000' }], { minWeight: 0.05 });
  assert.deepEqual(all.links.map((l) => [l.from, l.to]), [[0, 2], [0, 1], [1, 0], [1, 1], [0, 0]]); // light to heavy
  assert.equal(all.hidden, 5);
  const heavy = all.links.at(-1)!;
  assert.ok(heavy.strokeWidth > all.links[0].strokeWidth);
  assert.equal(heavy.y1, all.queries[0].y);
  assert.equal(heavy.y2, all.keys[0].y);

  const top = headViewLayout(tokens, [0, 1].map((h) => ({ head: h, weights: doc.layers[0].heads[h].weights, colour: '#000' })), { topK: 3 });
  assert.equal(top.links.length, 2 * 100 * 3); // long inputs: every token keeps its 3 strongest links, tiny or not
  const focused = headViewLayout(tokens, [{ head: 2, weights: head.weights, colour: '#000' }], { topK: 3, focus: 42 });
  assert.deepEqual(new Set(focused.links.map((l) => l.from)), new Set([42]));
  assert.deepEqual(focused.links.map((l) => l.to).reverse(), topIndices(head.weights[42], 3));
});

test('matrix: one cell per weight when short; pooled rows still sum to 1 when long', () => {
  const short = matrixLayout(head.weights.slice(0, 10).map((r) => r.slice(0, 10)), tokens, tokens);
  assert.equal(short.cells.length, 100);
  assert.equal(short.rowBin, 1);
  assert.equal(describeCell(short.cells[12], tokens, tokens), `"w1" (2) → "w2" (3): weight ${head.weights[1][2].toFixed(6)}`);

  const long = matrixLayout(head.weights, tokens, tokens, { maxCells: 30 });
  assert.equal(long.rowBin, 4);
  assert.equal(long.rowsDrawn, 25);
  for (let r = 0; r < long.rowsDrawn; r++) {
    const sum = long.cells.filter((c) => c.row === r).reduce((a, c) => a + c.value, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `pooled row ${r} sums to ${sum}`);
  }
  const c = long.cells.find((x) => x.row === 2 && x.col === 3)!;
  let total = 0;
  for (let i = 8; i < 12; i++) for (let j = 12; j < 16; j++) total += head.weights[i][j];
  assert.ok(Math.abs(c.value - total / 4) < 1e-7);
  assert.match(describeCell(c, tokens, tokens), /^queries 9–12 → keys 13–16: mean total weight/);
  assert.equal(long.rowLabels[2].text, '9–12');
});

test('model view: every layer × head, pooled to fit', () => {
  const m = modelViewLayout(doc, 120, 40);
  assert.equal(m.thumbnails.length, doc.layers.length * doc.layers[0].heads.length);
  assert.deepEqual(m.thumbnails.map((t) => `${t.layer}.${t.head}`).slice(0, 5), ['0.0', '0.1', '0.2', '0.3', '1.0']);
  assert.equal(m.thumbnails[0].matrix.rowsDrawn, 34); // 100 tokens, 3 per bin
});

test('steps: weights sum to 1 and the weighted values add up to the output', () => {
  const s = stepsModel(head, tokens, 7);
  assert.equal(s.rows.length, 100);
  assert.ok(Math.abs(s.weightSum - 1) < 1e-5);
  assert.ok(Math.abs(s.scale - 1 / Math.sqrt(s.headDim)) < 1e-5);
  assertAllClose(s.recomputed, s.output, TOL.reorder, TOL.reorder, 'Σ weight × value vs output');
  const top = stepsModel(head, tokens, 7, 5);
  assert.equal(top.rows.length, 5);
  assert.equal(top.hiddenCount, 95);
  assert.ok(Math.abs(top.rows.reduce((a, r) => a + r.weight, 0) + top.hiddenWeight - 1) < 1e-5);
  assert.deepEqual(top.rows.map((r) => r.index), [...topIndices(head.weights[7], 5)].sort((a, b) => a - b));
  assert.equal(top.top.index, topIndices(head.weights[7], 1)[0]);
});

test('prediction in the seed\'s words, and the head that links the pronoun to the referent', () => {
  const small = {
    tokens: ['the', 'cat', 'sat', 'on', 'the', 'mat', 'because', 'it', 'was', 'tired'],
    prediction: { pronoun: 7, candidates: [1, 5], probabilities: [0.934, 0.066], referent: 1 },
  };
  const p = predictionText(small)!;
  assert.equal(p.short, '"it" → "cat" 0.93');
  assert.deepEqual(p.candidates.map((c) => c.token), ['cat', 'mat']);
  assert.equal(predictionText({ tokens: small.tokens }), null);
  const best = strongestLink(doc, 5, 9);
  for (const layer of doc.layers) for (const h of layer.heads) assert.ok(h.weights[5][9] <= best.weight);
  assert.equal(doc.layers[best.layer].heads[best.head].weights[5][9], best.weight);
});

test('colour scale: light at 0, dark at the top, clamped; the legend spans the domain', () => {
  assert.equal(weightColour(0), 'rgb(247, 251, 255)');
  assert.equal(weightColour(1), 'rgb(8, 48, 107)');
  assert.equal(weightColour(2), weightColour(1));
  assert.equal(weightColour(0.05, 0.1), weightColour(0.5));
  const legend = legendLayout(0.2, 200, 10);
  assert.equal(legend.stops.length, 10);
  assert.deepEqual(legend.ticks.map((t) => t.label), ['0.00', '0.05', '0.10', '0.15', '0.20']);
  assert.equal(legend.ticks.at(-1)!.x, 200);
});
