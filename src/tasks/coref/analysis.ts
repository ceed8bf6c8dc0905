// What each attention head of the coreference model looks at, measured on labelled sentences, in the spirit of
// "What Does BERT Look At?" (Clark, Khandelwal, Levy & Manning, 2019): for every layer × head, the mean attention
// weight along relations that the sentence's labels define (pronoun → referent, token → previous token, property →
// referent, ...). Weights are those of the trained model's inference pass (CorefModel.trace), one sentence at a time,
// so no padding is involved.

import { ArgumentError } from '../../core/errors.js';
import { type CorefExample } from './data.js';
import { type CorefModel } from './model.js';
import { DETERMINERS, nounClass } from './vocab.js';

/** The relations measured; each value is a mean attention weight in [0, 1] (a row of weights sums to 1). */
export interface HeadRelations {
  /** From "it" to the correct noun: the seed's promise ("it" → "cat" 0.9). */
  pronounToReferent: number;
  /** From "it" to the other candidate noun. */
  pronounToOther: number;
  /** From "it" to the property word after it ("tired"), the word that decides the referent. */
  pronounToProperty: number;
  /** From the property word to the referent (the noun it describes). */
  propertyToReferent: number;
  /** From each candidate noun to the property word. */
  nounToProperty: number;
  /** From the word right after "it" ("was", "yawned") back to "it": verb → subject. */
  verbToPronoun: number;
  /** From every token to the token before it (all rows but the first). */
  previousToken: number;
  /** From every token to the token after it (all rows but the last). */
  nextToken: number;
  /** From every token to itself. */
  self: number;
  /** From every token to the first token (a "sink", as BERT's [CLS]/[SEP]). */
  firstToken: number;
  /** From every token, the total weight on determiners ("the", "a"). */
  determiners: number;
  /** From every token, the total weight on the two candidate nouns. */
  nouns: number;
}

export interface HeadStats extends HeadRelations {
  layer: number;
  head: number;
  /** Fraction of sentences in which this head's largest weight from "it" is on the referent. */
  pronounArgmaxIsReferent: number;
}

export const RELATION_LABELS: Readonly<Record<keyof HeadRelations, string>> = {
  pronounToReferent: 'it → referent',
  pronounToOther: 'it → other noun',
  pronounToProperty: 'it → property',
  propertyToReferent: 'property → referent',
  nounToProperty: 'noun → property',
  verbToPronoun: 'verb → it',
  previousToken: 'previous token',
  nextToken: 'next token',
  self: 'self',
  firstToken: 'first token',
  determiners: 'the/a',
  nouns: 'any → nouns',
};

/**
 * Mean attention along each relation, for every layer × head, over `examples` (the held-out test split, for the
 * docs). Returns the heads in order layer by layer.
 */
export function analyzeHeads(model: CorefModel, examples: readonly CorefExample[]): HeadStats[] {
  if (examples.length === 0) throw new ArgumentError('analyzeHeads: examples must not be empty');
  const { numHiddenLayers: L, numAttentionHeads: H } = model.config;
  const sums = Array.from({ length: L * H }, () => ({ ...zeroRelations(), pronounArgmaxIsReferent: 0 }));
  for (const e of examples) {
    const { layers } = model.trace(e.ids, e.pronoun);
    const N = e.ids.length;
    const property = e.tokens.indexOf(e.property, e.pronoun + 1);
    const other = e.candidates[0] === e.referent ? e.candidates[1] : e.candidates[0];
    for (let l = 0; l < L; l++) {
      const w = layers[l].weights.data; // [H, N, N]
      for (let h = 0; h < H; h++) {
        const at = (i: number, j: number) => w[(h * N + i) * N + j];
        const s = sums[l * H + h];
        s.pronounToReferent += at(e.pronoun, e.referent);
        s.pronounToOther += at(e.pronoun, other);
        s.pronounToProperty += at(e.pronoun, property);
        s.propertyToReferent += at(property, e.referent);
        s.nounToProperty += (at(e.candidates[0], property) + at(e.candidates[1], property)) / 2;
        s.verbToPronoun += at(e.pronoun + 1, e.pronoun);
        let prev = 0;
        let next = 0;
        let self = 0;
        let first = 0;
        let det = 0;
        let nouns = 0;
        for (let i = 0; i < N; i++) {
          if (i > 0) prev += at(i, i - 1);
          if (i < N - 1) next += at(i, i + 1);
          self += at(i, i);
          first += at(i, 0);
          for (let j = 0; j < N; j++) {
            if (DETERMINERS.includes(e.tokens[j])) det += at(i, j);
            if (nounClass(e.tokens[j]) !== undefined) nouns += at(i, j);
          }
        }
        s.previousToken += prev / (N - 1);
        s.nextToken += next / (N - 1);
        s.self += self / N;
        s.firstToken += first / N;
        s.determiners += det / N;
        s.nouns += nouns / N;
        let best = 0;
        for (let j = 1; j < N; j++) if (at(e.pronoun, j) > at(e.pronoun, best)) best = j;
        if (best === e.referent) s.pronounArgmaxIsReferent += 1;
      }
    }
  }
  return sums.map((s, i) => {
    const out = { layer: Math.floor(i / H), head: i % H } as HeadStats;
    for (const [k, v] of Object.entries(s)) (out as unknown as Record<string, number>)[k] = v / examples.length;
    return out;
  });
}

/**
 * The head with the largest mean weight from "it" to the referent, leaving out `except` (for example the head that
 * training supervised, to find the best head that learned it unasked).
 */
export function bestCorefHead(stats: readonly HeadStats[], except?: { layer: number; head: number }): HeadStats {
  const pool = stats.filter((s) => except === undefined || s.layer !== except.layer || s.head !== except.head);
  if (pool.length === 0) throw new ArgumentError(`bestCorefHead: stats must hold a head other than except; got ${stats.length} heads`);
  return pool.reduce((a, b) => (b.pronounToReferent > a.pronounToReferent ? b : a));
}

/**
 * A Markdown table of the stats: one row per layer × head, one column per relation. The `marked` head's name gets
 * a star (the supervised head).
 */
export function headTable(
  stats: readonly HeadStats[],
  options: { marked?: { layer: number; head: number }; relations?: (keyof HeadRelations)[] } = {},
): string {
  const relations = options.relations ?? (Object.keys(RELATION_LABELS) as (keyof HeadRelations)[]);
  const star = (s: HeadStats) => (s.layer === options.marked?.layer && s.head === options.marked?.head ? '*' : '');
  const header = ['layer.head', ...relations.map((r) => RELATION_LABELS[r])];
  const rows = stats.map((s) => [`${s.layer}.${s.head}${star(s)}`, ...relations.map((r) => s[r].toFixed(2))]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function zeroRelations(): HeadRelations {
  const z = {} as HeadRelations;
  for (const k of Object.keys(RELATION_LABELS) as (keyof HeadRelations)[]) z[k] = 0;
  return z;
}
