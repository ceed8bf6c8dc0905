// The model's answer in the seed's words: processing "it", the model gives "cat" a high weight, so "it" = "cat".
// Pure: the prediction of an explain document in, the sentence to show out.

import type { ExplainJson } from '../qkv.js';

export interface PredictionText {
  pronoun: string;
  referent: string;
  probability: number;
  /** Every candidate with its probability, in sentence order. */
  candidates: { token: string; index: number; probability: number }[];
  /** The short form, e.g. `"it" → "cat" 0.93`. */
  short: string;
}

export function predictionText(doc: Pick<ExplainJson, 'tokens' | 'prediction'>): PredictionText | null {
  const p = doc.prediction;
  if (!p) return null;
  const at = p.candidates.indexOf(p.referent);
  const probability = p.probabilities[at] ?? NaN;
  const pronoun = doc.tokens[p.pronoun];
  const referent = doc.tokens[p.referent];
  return {
    pronoun,
    referent,
    probability,
    candidates: p.candidates.map((index, k) => ({ token: doc.tokens[index], index, probability: p.probabilities[k] })),
    short: `"${pronoun}" → "${referent}" ${probability.toFixed(2)}`,
  };
}

export interface StrongestLink {
  layer: number;
  head: number;
  weight: number;
}

/** The layer and head whose weight from token `from` to token `to` is largest: the head that "links it to cat". */
export function strongestLink(doc: Pick<ExplainJson, 'layers'>, from: number, to: number): StrongestLink {
  let best: StrongestLink = { layer: 0, head: 0, weight: -Infinity };
  doc.layers.forEach((layer, l) =>
    layer.heads.forEach((head, h) => {
      const w = head.weights[from][to];
      if (w > best.weight) best = { layer: l, head: h, weight: w };
    }),
  );
  return best;
}
