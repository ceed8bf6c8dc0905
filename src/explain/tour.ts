// The tour that `npm start` prints: self-attention on one sentence, step by step, in the seed's words.
// The queries, keys and values are hand-set 4-number vectors whose features are named, so every number can be
// followed by eye. A trained model (`qkv explain`, the Learning issue) will replace them with learned ones.

import { Tensor } from '../core/tensor.js';
import { scaledDotProductAttention } from '../ops/attention.js';
import { renderSteps, renderWeightTable } from './steps.js';

/** The features of the hand-set vectors: d = 4. */
const FEATURES = ['animal', 'thing', 'action', 'state'] as const;

// token, query (what am I looking for), key (what do I offer), value (what do I contain)
const SENTENCE: [string, number[], number[], number[]][] = [
  ['The', [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
  ['cat', [0, 0, 2, 0], [3, 0, 0, 0], [1, 0, 0, 0]],
  ['sat', [2, 0, 0, 0], [0, 0, 2, 0], [0, 0, 1, 0]],
  ['on', [0, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
  ['the', [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
  ['mat', [0, 0, 0, 0], [0, 1.2, 0, 0], [0, 1, 0, 0]],
  ['because', [0, 0, 2, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
  ['it', [3, 0.5, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
  ['was', [2, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]],
  ['tired', [2, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]],
];

/** The tour as lines of text. */
export function tour(): string[] {
  const tokens = SENTENCE.map(([t]) => t);
  const N = tokens.length;
  const d = FEATURES.length;
  const matrix = (col: 1 | 2 | 3) => new Tensor(Float32Array.from(SENTENCE.flatMap((r) => r[col])), [N, d]); // [N, d]
  const query = matrix(1);
  const key = matrix(2);
  const value = matrix(3);
  const { trace } = scaledDotProductAttention(query, key, value, { trace: true });
  const row = tokens.indexOf('it');
  return [
    'qkv: self-attention, step by step',
    '',
    `Sentence: ${tokens.join(' ')}`,
    `Every token has a query (what am I looking for?), a key (what do I offer?) and a value (what do I contain?).`,
    `Here they are hand-set vectors of d = ${d} numbers with named features [${FEATURES.join(', ')}];`,
    `a trained model learns them instead. We follow the word "it".`,
    '',
    `query of "it" = [${query.data.subarray(row * d, (row + 1) * d).join(', ')}]  (looking for an animal)`,
    '',
    ...renderSteps({ trace: trace!, queryTokens: tokens, keyTokens: tokens, row, scale: 1 / Math.sqrt(d), values: value.data }),
    '',
    'All tokens at once: the weight matrix (row = query token, column = key token; each row sums to 1)',
    ...renderWeightTable(trace!.weights.data, tokens, tokens),
  ];
}
