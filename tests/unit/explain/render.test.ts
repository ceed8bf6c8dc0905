// The terminal rendering of `qkv explain`, on documents built from real attention: a seeded MultiHeadAttention on
// random inputs (layout, every head, widths) and one head of hand-set vectors where "it" clearly attends to "cat"
// (shades, steps, the top contributor). Widths are measured here by code points after stripping ANSI escapes.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ArgumentError, MultiHeadAttention, Tensor, scaledDotProductAttention } from '../../../src/index.js';
import { type ExplainJson, headsToJson } from '../../../src/explain/trace-json.js';
import { PLAIN_RAMP, displayWidth, fitText, layoutHeatmaps, renderHeatmaps } from '../../../src/explain/heatmap.js';
import { renderExplain } from '../../../src/explain/render.js';

const ESC = '\x1b';
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
const columns = (line: string) => [...strip(line)].length;
const SENTENCE = ['The', 'cat', 'sat', 'on', 'the', 'mat', 'because', 'it', 'was', 'tired', '.'];
const PREDICTION = { pronoun: 7, candidates: [1, 5], probabilities: [0.93, 0.07], referent: 1 };

/** L layers × H heads of seeded MultiHeadAttention on random inputs, unbatched, with a hand-set prediction. */
function mhaDoc(tokens: string[], options: { layers?: number; heads?: number; causal?: boolean; prediction?: boolean } = {}): ExplainJson {
  const { layers = 2, heads = 2, causal = false, prediction = true } = options;
  const N = tokens.length;
  const D = 4 * heads;
  const layerList = Array.from({ length: layers }, (_, l) => {
    const mha = new MultiHeadAttention({ embedDim: D, numHeads: heads, seed: 10 + l });
    const { trace } = mha.forward(Tensor.randn([N, D], 20 + l), undefined, undefined, { trace: true, causal }); // x [N, D]
    return { heads: headsToJson(trace!) };
  });
  return {
    format: 'qkv.explain',
    version: 1,
    sentence: tokens.join(' '),
    tokens,
    model: { layers, heads, embedDim: D, headDim: 4 },
    layers: layerList,
    ...(prediction ? { prediction: PREDICTION } : {}),
  };
}

/** One head of hand-set vectors (d = 2): the query of "it" matches only the key of "cat". */
function handDoc(): ExplainJson {
  const tokens = ['the', 'cat', 'sat', 'because', 'it', 'was'];
  const q = Tensor.from([[0, 1], [0, 1], [1, 0], [0, 0], [4, 0], [0, 2]]); // [N, d]
  const k = Tensor.from([[0, 1], [2, 0], [0, 1], [0, 0], [0, 0], [0, 1]]); // [N, d]
  const v = Tensor.from([[0, 0], [1, 0], [0, 1], [0, 0], [0, 0], [0, 1]]); // [N, d]
  const { trace } = scaledDotProductAttention(q, k, v, { trace: true });
  const one = (t: Tensor) => t.reshape([1, ...t.shape]); // [1, N, .]
  const heads = headsToJson({
    query: one(q),
    key: one(k),
    value: one(v),
    scores: one(trace!.scores),
    logits: one(trace!.logits),
    weights: one(trace!.weights),
    output: one(trace!.output),
    heads: trace!.output,
  });
  return {
    format: 'qkv.explain',
    version: 1,
    sentence: 'the cat sat because it was',
    tokens,
    model: { layers: 1, heads: 1, embedDim: 2, headDim: 2 },
    layers: [{ heads }],
    prediction: { pronoun: 4, candidates: [1, 2], probabilities: [0.93, 0.07], referent: 1 },
  };
}

/** The lines of one numbered step section of the steps, e.g. section(text, '1.2', '1.3'). */
function section(text: string, from: string, to: string): string[] {
  const start = text.indexOf(`\n${from} `);
  const end = to === '' ? text.length : text.indexOf(`\n${to} `);
  assert.ok(start >= 0 && end > start, `sections ${from} to ${to} in\n${text}`);
  return text.slice(start, end).split('\n');
}

test('the plain fallback has no escapes, a legend from 0 to 1, and shades that follow the weights', () => {
  const doc = handDoc();
  const text = renderExplain(doc, { color: false, width: 80 });
  assert.ok(!text.includes(ESC));
  assert.match(text, new RegExp(`weight 0 \\[${PLAIN_RAMP.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')}\\] 1`));
  // The row of "it" puts the darkest character under "cat" (weight > 0.9) and the lightest elsewhere.
  const w = doc.layers[0].heads[0].weights[4];
  assert.ok(w[1] > 0.9, `weight of cat ${w[1]}`);
  const grid = renderHeatmaps([{ title: 'layer 0 head 0', shortTitle: 'L0 H0', weights: doc.layers[0].heads[0].weights }], doc.tokens, { color: false, width: 80 });
  const layout = layoutHeatmaps(doc.tokens, 1, 80, 5);
  const rows = grid.filter((l) => /^\d /.test(l));
  assert.equal(rows.length, doc.tokens.length);
  rows.forEach((line, i) => {
    doc.layers[0].heads[0].weights[i].forEach((weight, j) => {
      const cell = line.padEnd(layout.labelWidth + doc.tokens.length * layout.cellWidth).slice(layout.labelWidth + j * layout.cellWidth, layout.labelWidth + (j + 1) * layout.cellWidth);
      assert.equal(cell, PLAIN_RAMP[Math.min(9, Math.floor(weight * 10))].repeat(layout.cellWidth), `row ${i} key ${j}: weight ${weight}`);
    });
  });
  assert.match(rows[4], /@/);
});

test('the colour output paints every cell with an ANSI 256-colour background and prints a legend', () => {
  const doc = mhaDoc(SENTENCE, { causal: true });
  const text = renderExplain(doc, { color: true, width: 100 });
  const N = SENTENCE.length;
  const legend = text.split('\n').find((l) => l.startsWith('weight 0 '))!;
  assert.ok(legend.includes(`${ESC}[48;5;`) && / 1\b/.test(strip(legend)), legend);
  assert.equal(legend.match(/\x1b\[48;5;\d+m/g)!.length, 10);
  // Causal: the cells above the diagonal are blocked and left unpainted; all others get one background each.
  const painted = (text.match(/\x1b\[48;5;\d+m/g) ?? []).length - 10;
  assert.equal(painted, 2 * 2 * ((N * (N + 1)) / 2));
  assert.match(text, /no shade = blocked key/);
});

test('no line is wider than the width, for 40, 80 and 160 columns and a 30-token sentence, in colour and plain', () => {
  const long = Array.from({ length: 30 }, (_, i) => (i % 7 === 3 ? `token${i}isverylong` : `w${i}`));
  long[7] = 'it';
  long[12] = 'café';
  long[13] = '猫';
  const docs = [mhaDoc(SENTENCE), mhaDoc(long, { layers: 1, heads: 3 }), mhaDoc(['it'], { layers: 1, heads: 1, prediction: false })];
  for (const doc of docs) {
    for (const width of [40, 80, 160]) {
      for (const color of [false, true]) {
        const text = renderExplain(doc, { color, width });
        for (const line of text.split('\n')) {
          assert.ok(columns(line) <= width, `N = ${doc.tokens.length}, width ${width}, color ${color}: ${columns(line)} columns: ${strip(line)}`);
        }
      }
    }
  }
});

test('every layer and head gets its own labelled heatmap, also when a long sentence is cut into column chunks', () => {
  for (const [tokens, width] of [[SENTENCE, 160], [SENTENCE, 40], [Array.from({ length: 70 }, (_, i) => `t${i}`), 40]] as const) {
    const doc = mhaDoc([...tokens], { layers: 2, heads: 3 });
    const text = strip(renderExplain(doc, { color: false, width }));
    for (let l = 0; l < 2; l++) {
      for (let h = 0; h < 3; h++) assert.match(text, new RegExp(`(layer ${l} head ${h}|L${l} H${h})\\b`), `layer ${l} head ${h} at width ${width}`);
    }
    if (tokens.length === 70) {
      assert.match(text, /keys 0–\d+/);
      assert.match(text, /–69\b/);
    }
  }
});

test('the steps show the scores, the scaled scores, the weights summing to 1 and the largest weight on top', () => {
  const doc = handDoc();
  const head = doc.layers[0].heads[0];
  const text = renderExplain(doc, { color: false, width: 80 });
  assert.match(text, /The steps for "it" \(token 4\) in layer 0 head 0/);
  const scoring = section(text, '1.1', '1.2').filter((l) => /^ {4}\S+ +-?\d/.test(l));
  assert.equal(scoring.length, doc.tokens.length);
  scoring.forEach((line, j) => {
    const [, token, raw, scaled] = line.match(/^ {4}(\S+)\s+(\S+)\s+(\S+)$/)!;
    assert.equal(token, doc.tokens[j]);
    assert.equal(Number(raw), Number(head.scores[4][j].toFixed(3)));
    assert.equal(Number(scaled), Number((head.scaledScores[4][j] as number).toFixed(3)));
  });
  assert.match(section(text, '1.1', '1.2')[1], /× scale 0\.7071/);
  const weighting = section(text, '1.2', '1.3');
  assert.ok(weighting.some((l) => /^ {4}sum\s+1\.000000$/.test(l)));
  const weightRows = weighting.filter((l) => /^ {4}(?!sum)\S+ +\d/.test(l));
  weightRows.forEach((line, j) => assert.equal(Number(line.trim().split(/\s+/)[1]), Number(head.weights[4][j].toFixed(3))));
  // The top contributor is the argmax of the weights.
  const argmax = head.weights[4].indexOf(Math.max(...head.weights[4]));
  const firstContributor = section(text, '1.3', '').find((l) => /× value of/.test(l))!;
  assert.match(firstContributor, new RegExp(`× value of "${doc.tokens[argmax]}"`));
  assert.equal(doc.tokens[argmax], 'cat');
});

test('the default head is the one giving the referent the most weight from the token; layer and head override it', () => {
  const doc = mhaDoc(SENTENCE, { layers: 2, heads: 3 });
  let best = { l: 0, h: 0, w: -1 };
  doc.layers.forEach((layer, l) => layer.heads.forEach((h, hi) => {
    if (h.weights[7][1] > best.w) best = { l, h: hi, w: h.weights[7][1] };
  }));
  const text = renderExplain(doc, { color: false, width: 120 });
  assert.match(text, new RegExp(`The steps for "it" \\(token 7\\) in layer ${best.l} head ${best.h}: of the 6 heads, it gives the predicted referent "cat" the most weight`));
  assert.match(renderExplain(doc, { color: false, width: 120, layer: 1, head: 2 }), /in layer 1 head 2: as asked/);
  const none = renderExplain(mhaDoc(SENTENCE, { prediction: false }), { color: false, width: 120 });
  assert.match(none, /in layer 0 head 0: there is no prediction/);
  assert.ok(!none.includes('Prediction:'));
});

test('the token to follow: "it" by default, else the last token; a named token or an index', () => {
  const doc = mhaDoc(SENTENCE);
  assert.match(renderExplain(doc, { color: false, width: 80, token: 'cat' }), /The steps for "cat" \(token 1\)/);
  assert.match(renderExplain(doc, { color: false, width: 80, token: 'THE' }), /The steps for "The" \(token 0\)/);
  assert.match(renderExplain(doc, { color: false, width: 80, token: '4' }), /The steps for "the" \(token 4\)/);
  const noIt = mhaDoc(['a', 'b', 'c'], { prediction: false });
  assert.match(renderExplain(noIt, { color: false, width: 80 }), /The steps for "c" \(token 2\)/);
});

test('the prediction in the seed\'s words, with the other candidate', () => {
  const text = renderExplain(handDoc(), { color: false, width: 80 });
  assert.match(text, /^Prediction: "it" → "cat" 0\.93 \(the other candidate: "sat" 0\.07\)$/m);
});

test('a token that is not in the sentence, or a layer out of range, is an ArgumentError that says what there is', () => {
  const doc = mhaDoc(SENTENCE);
  assert.throws(
    () => renderExplain(doc, { color: false, width: 80, token: 'dog' }),
    (e: unknown) =>
      e instanceof ArgumentError && /^renderExplain: token/.test(e.message) && /"dog"/.test(e.message) && /7 "it"/.test(e.message) && /10 "\."/.test(e.message),
  );
  assert.throws(() => renderExplain(doc, { color: false, width: 80, layer: 2 }), (e: unknown) => e instanceof ArgumentError && /renderExplain: layer must be an integer in \[0, L\) with L = 2; got 2/.test(e.message));
  assert.throws(() => renderExplain(doc, { color: false, width: Number.NaN }), (e: unknown) => e instanceof ArgumentError && /renderExplain: options\.width/.test(e.message));
});

test('display width: escapes take no columns, wide characters two; cutting ends in "…"', () => {
  assert.equal(displayWidth(`${ESC}[48;5;53m  ${ESC}[0mcafé`), 6);
  assert.equal(displayWidth('猫'), 2);
  assert.equal(displayWidth('e\u0301'), 1);
  assert.equal(fitText('because', 4), 'bec…');
  assert.equal(fitText('猫猫猫', 4), '猫…');
  assert.equal(fitText('cat', 3), 'cat');
});
