// The JSON form of an explained sentence: every layer, every head, every step (the seed's 1.1 to 1.3), plus the
// model's answer. `qkv explain --json` prints it and the web viewer reads it, so it is versioned and validated on
// the way in. JSON has no -Infinity: a blocked score is written as null.

import { FormatError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { MultiHeadAttentionTrace } from '../nn/multihead-attention.js';

/** One head of one layer. Matrices are row-major nested arrays. */
export interface HeadTraceJson {
  /** Queries, keys and values of this head: [N, d] each. */
  query: number[][];
  key: number[][];
  value: number[][];
  /** 1.1 raw scores Q·Kᵀ: [N, N]. */
  scores: number[][];
  /** 1.1 the logits (a trace's `logits`: scaled, soft-capped, biased, masked): [N, N]; null where blocked. The field keeps
   * its name in this file format (qkv.explain version 1). */
  scaledScores: (number | null)[][];
  /** 1.2 softmax weights: [N, N], rows sum to 1. */
  weights: number[][];
  /** 1.3 weighted sums of the values: [N, d]. */
  output: number[][];
}

export interface ExplainJson {
  format: 'qkv.explain';
  version: 1;
  sentence: string;
  tokens: string[];
  model: {
    layers: number;
    heads: number;
    embedDim: number;
    headDim: number;
    /** A head that training taught to attend from the pronoun to the referent (an attention loss), if any. */
    supervisedHead?: { layer: number; head: number };
  };
  /** layers[l].heads[h] */
  layers: { heads: HeadTraceJson[] }[];
  /** The model's answer at the pronoun, when the model makes one. */
  prediction?: {
    /** Token index of the pronoun ("it"). */
    pronoun: number;
    /** Token indices of the candidate referents. */
    candidates: number[];
    /** Probability of each candidate, in the same order. */
    probabilities: number[];
    /** Token index of the chosen referent. */
    referent: number;
  };
}

/** Rows of matrix `m` of a [M, R, C] tensor as nested arrays; -Infinity becomes null when `nullable`. */
function matrix(t: Tensor, m: number, nullable = false): (number | null)[][] {
  const [R, C] = t.shape.slice(-2);
  const rows: (number | null)[][] = [];
  for (let r = 0; r < R; r++) {
    const row: (number | null)[] = [];
    for (let c = 0; c < C; c++) {
      const x = t.data[(m * R + r) * C + c];
      row.push(nullable && x === -Infinity ? null : x);
    }
    rows.push(row);
  }
  return rows;
}

/**
 * The heads of one unbatched MultiHeadAttention trace (tensors [H, N, ...]) in JSON form. Grouped key/value heads
 * are expanded so every query head lists the keys and values it read.
 */
export function headsToJson(trace: MultiHeadAttentionTrace): HeadTraceJson[] {
  const H = trace.query.shape[0];
  const Hkv = trace.key.shape[0];
  const heads: HeadTraceJson[] = [];
  for (let h = 0; h < H; h++) {
    const kv = Math.floor(h / (H / Hkv));
    heads.push({
      query: matrix(trace.query, h) as number[][],
      key: matrix(trace.key, kv) as number[][],
      value: matrix(trace.value, kv) as number[][],
      scores: matrix(trace.scores, h) as number[][],
      scaledScores: matrix(trace.logits, h, true),
      weights: matrix(trace.weights, h) as number[][],
      output: matrix(trace.output, h) as number[][],
    });
  }
  return heads;
}

/**
 * Parses and checks an explain JSON document, so a wrong file fails with a message that says what is wrong.
 * @throws FormatError naming the first problem found.
 */
export function parseExplainJson(text: string): ExplainJson {
  const fail = (what: string): never => {
    throw new FormatError(`parseExplainJson: ${what}; expected the output of \`qkv explain --json\``);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail(`not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null) return fail('the document is not an object');
  const d = doc as Partial<ExplainJson>;
  if (d.format !== 'qkv.explain') return fail(`format is ${JSON.stringify(d.format)}, not "qkv.explain"`);
  if (d.version !== 1) return fail(`version ${JSON.stringify(d.version)} is not supported (only 1)`);
  if (!Array.isArray(d.tokens) || !d.tokens.every((t) => typeof t === 'string')) return fail('tokens must be strings');
  const N = d.tokens.length;
  if (!Array.isArray(d.layers) || d.layers.length === 0) return fail('layers must be a non-empty array');
  const supervised = d.model?.supervisedHead;
  if (supervised !== undefined) {
    const { layer, head } = supervised;
    const heads = d.layers[layer]?.heads?.length ?? 0;
    if (!Number.isInteger(layer) || !Number.isInteger(head) || head < 0 || head >= heads) {
      return fail(`model.supervisedHead ${JSON.stringify(supervised)} names no head of the document`);
    }
  }
  const isMatrix = (m: unknown, rows: number, nullable = false): boolean =>
    Array.isArray(m) &&
    m.length === rows &&
    m.every(
      (r) =>
        Array.isArray(r) &&
        r.length === (Array.isArray(m[0]) ? m[0].length : -1) &&
        r.every((x) => typeof x === 'number' || (nullable && x === null)),
    );
  d.layers.forEach((layer, l) => {
    if (!layer || !Array.isArray(layer.heads) || layer.heads.length === 0) fail(`layer ${l} has no heads`);
    layer.heads.forEach((head, h) => {
      const where = `layer ${l} head ${h}`;
      for (const name of ['query', 'key', 'value', 'output'] as const) {
        if (!isMatrix(head[name], N)) fail(`${where}: ${name} must be a [N, d] matrix with N = ${N}`);
      }
      for (const name of ['scores', 'weights'] as const) {
        if (!isMatrix(head[name], N) || head[name][0]?.length !== N) fail(`${where}: ${name} must be [N, N] with N = ${N}`);
      }
      if (!isMatrix(head.scaledScores, N, true)) fail(`${where}: scaledScores must be [N, N] with N = ${N}`);
    });
  });
  return d as ExplainJson;
}
