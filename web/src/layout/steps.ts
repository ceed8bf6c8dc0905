// The step view's content, in the seed's order for one query token of one head: its query, the keys, the scores
// (1.1 scoring), the scaled scores, the softmax weights that sum to 1 (1.2 weighting), the weighted values and their
// sum, the output vector (1.3 aggregating). Pure: a head's trace in, rows of numbers out; render/steps.ts draws them.

import type { HeadTraceJson } from '../qkv.js';
import { topIndices } from './head-view.js';

export interface StepRow {
  /** Key token index and text. */
  index: number;
  token: string;
  key: readonly number[];
  /** 1.1 q·k, then the scaled (and masked: null = blocked) score. */
  score: number;
  scaled: number | null;
  /** 1.2 the softmax weight. */
  weight: number;
  value: readonly number[];
  /** 1.3 weight × value. */
  weighted: number[];
}

export interface StepsModel {
  index: number;
  token: string;
  /** d, the head size. */
  headDim: number;
  /** The scale between raw and scaled scores (1/√d unless the model chose another). */
  scale: number;
  query: readonly number[];
  /** The rows shown: every key, or the top-k by weight for long inputs, in token order. */
  rows: StepRow[];
  /** Keys left out of `rows`, and their total weight. */
  hiddenCount: number;
  hiddenWeight: number;
  /** Σ of every weight of the row (not only the shown ones): 1 up to rounding. */
  weightSum: number;
  /** The output vector from the trace. */
  output: readonly number[];
  /** Σ weight × value over every key, recomputed here: equals `output` up to rounding. */
  recomputed: number[];
  /** The key with the largest weight. */
  top: { index: number; token: string; weight: number };
}

/** The scale of a head, read from its scores: scaled / raw for the first finite pair with raw ≠ 0. */
function scaleOf(head: HeadTraceJson, headDim: number): number {
  for (let i = 0; i < head.scores.length; i++) {
    for (let j = 0; j < head.scores[i].length; j++) {
      const raw = head.scores[i][j];
      const scaled = head.scaledScores[i][j];
      if (scaled !== null && Math.abs(raw) > 1e-6) return scaled / raw;
    }
  }
  return 1 / Math.sqrt(headDim);
}

/** The steps of query token `index`; with `topK` > 0, only the k heaviest keys are listed (the sum covers all). */
export function stepsModel(head: HeadTraceJson, tokens: readonly string[], index: number, topK = 0): StepsModel {
  const weights = head.weights[index];
  const headDim = head.query[index].length;
  const dv = head.value[0]?.length ?? 0;
  const S = weights.length;
  const shown = new Set(topK > 0 && topK < S ? topIndices(weights, topK) : weights.map((_, j) => j));
  const rows: StepRow[] = [];
  const recomputed = new Array<number>(dv).fill(0);
  let weightSum = 0;
  let hiddenWeight = 0;
  for (let j = 0; j < S; j++) {
    const w = weights[j];
    weightSum += w;
    const weighted = head.value[j].map((v) => w * v);
    weighted.forEach((x, k) => (recomputed[k] += x));
    if (!shown.has(j)) {
      hiddenWeight += w;
      continue;
    }
    rows.push({ index: j, token: tokens[j], key: head.key[j], score: head.scores[index][j], scaled: head.scaledScores[index][j], weight: w, value: head.value[j], weighted });
  }
  const best = topIndices(weights, 1)[0];
  return {
    index,
    token: tokens[index],
    headDim,
    scale: scaleOf(head, headDim),
    query: head.query[index],
    rows,
    hiddenCount: S - rows.length,
    hiddenWeight,
    weightSum,
    output: head.output[index],
    recomputed,
    top: { index: best, token: tokens[best], weight: weights[best] },
  };
}
