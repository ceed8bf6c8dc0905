// Text renderings of an attention trace in the seed's words: 1.1 scoring, 1.2 weighting, 1.3 aggregating.
// Pure functions from numbers to lines of text, so the CLI, tests and docs can all use them. renderStepsRow is the one
// implementation of the steps; renderSteps feeds it a row of a Tensor trace (the tour) and render.ts a head of an
// explain JSON document (`qkv explain`).

import type { AttentionTrace } from '../ops/attention.js';
import { ArgumentError, ShapeError } from '../core/errors.js';
import { displayWidth, fitText, padEndDisplay, wrapText } from './heatmap.js';

/** Fixed-width number, e.g. "  0.905". -Infinity prints as "-inf" (a blocked key). */
export function fmt(x: number, digits = 3, width = 8): string {
  const s = x === -Infinity ? '-inf' : x === Infinity ? 'inf' : x.toFixed(digits);
  return s.padStart(width);
}

/** A horizontal bar of `width` cells for a weight in [0, 1], in eighths of a cell. */
export function bar(weight: number, width = 20): string {
  const eighths = Math.round(Math.max(0, Math.min(1, weight)) * width * 8);
  const full = Math.floor(eighths / 8);
  const part = eighths % 8;
  return '█'.repeat(full) + (part > 0 ? ' ▏▎▍▌▋▊▉'[part] : '');
}

/** One query row of one attention matrix: everything the three steps show, as plain numbers. */
export interface StepsRow {
  /** The query token being followed. */
  queryToken: string;
  /** The S key tokens. */
  keyTokens: readonly string[];
  /** 1.1 raw scores q·k against every key: [S]. */
  scores: ArrayLike<number>;
  /** The scores after scaling (and masking): [S]; -Infinity or null where a key is blocked. */
  scaled: ArrayLike<number | null>;
  /** 1.2 softmax weights: [S]. */
  weights: ArrayLike<number>;
  /** The value of every key: [S][dv]. */
  values: readonly ArrayLike<number>[];
  /** 1.3 the output of the query row: [dv]. */
  output: ArrayLike<number>;
  /** The scale that was used, to print it; when unknown the heading only says the scores were scaled. */
  scale?: number;
  /** How many contributors to list. @default 3 */
  top?: number;
  /** Columns to fit: headings wrap, long tokens are cut with "…", bars and vectors shorten. @default Infinity */
  width?: number;
}

/** The seed's three steps for one query row, as lines of text. */
export function renderStepsRow(input: StepsRow): string[] {
  const { queryToken, keyTokens, scores, scaled, weights, values, output, scale } = input;
  const S = keyTokens.length;
  const dv = output.length;
  for (const [name, got] of [['scores', scores.length], ['scaled', scaled.length], ['weights', weights.length], ['values', values.length]] as const) {
    if (got !== S) throw new ShapeError(`renderStepsRow: ${name} must have S = ${S} entries (one per key token); got ${got}`);
  }
  const badValue = values.findIndex((v) => v.length !== dv);
  if (badValue >= 0) {
    throw new ShapeError(`renderStepsRow: values must be [S, dv] with dv = ${dv} as in output; got row ${badValue} of ${values[badValue].length}`);
  }
  const W = input.width ?? Infinity;
  const me = `"${queryToken}"`;
  // Token column: as wide as the longest token (at least 6) plus 2; in a narrow terminal at most half of what the
  // number columns leave, so that a contributor line keeps room for a few numbers of its value.
  const width = Math.min(Math.max(6, ...keyTokens.map(displayWidth)) + 2, Math.max(5, Math.floor((W - 20) / 2)));
  const label = (t: string) => padEndDisplay(fitText(t, width - 2), width);
  const quoted = (t: string) => padEndDisplay(`"${fitText(t, width - 2)}"`, width);
  const heading = (text: string) => wrapText(text, W, '    ');
  const lines: string[] = [];

  const blocked = Array.from(scaled, (x) => x === null || x === -Infinity);
  const scaling = scale === undefined ? 'then scaled' : `then × scale ${scale.toFixed(4)}`;
  const masked = blocked.some(Boolean) ? ' (-inf: a blocked key)' : '';
  lines.push(...heading(`1.1 Scoring: the query of ${me} · the key of every token, ${scaling}${masked}`));
  lines.push(`    ${'token'.padEnd(width)}${'q·k'.padStart(8)}${'scaled'.padStart(8)}`);
  for (let j = 0; j < S; j++) {
    lines.push(`    ${label(keyTokens[j])}${fmt(scores[j])}${fmt(blocked[j] ? -Infinity : (scaled[j] as number))}`);
  }

  let sum = 0;
  for (let j = 0; j < S; j++) sum += weights[j];
  const barWidth = Math.max(0, Math.min(20, W - (4 + width + 10)));
  lines.push('');
  lines.push(...heading(`1.2 Weighting: softmax turns the scaled scores into weights that sum to 1`));
  for (let j = 0; j < S; j++) lines.push(`    ${label(keyTokens[j])}${fmt(weights[j])}  ${bar(weights[j], barWidth)}`.trimEnd());
  lines.push(`    ${'sum'.padEnd(width)}${fmt(sum, 6, 8)}`);

  const order = Array.from({ length: S }, (_, j) => j)
    .sort((a, b) => weights[b] - weights[a])
    .slice(0, input.top ?? 3);
  const lead = 4 + 5 + ' × value of '.length + width + 1;
  lines.push('');
  lines.push(...heading(`1.3 Aggregating: the output of ${me} is Σ weight × value, a context vector of ${dv} numbers`));
  for (const j of order) {
    lines.push(`    ${fmt(weights[j], 3, 5)} × value of ${quoted(keyTokens[j])} ${vector(values[j], W - lead)}`);
  }
  lines.push(`    ${'= output'.padEnd(5 + ' × value of '.length + width)} ${vector(output, W - lead)}`);
  return lines;
}

export interface StepsInput {
  /** The trace of one call; only the first matrix of the batch (batch index `matrix`) is shown. */
  trace: AttentionTrace;
  /** Query tokens (N of them) and key tokens (S; the same list for self-attention). */
  queryTokens: readonly string[];
  keyTokens: readonly string[];
  /** Which query row to walk through. */
  row: number;
  /** Which [N, S] matrix of the flattened batch (for example a head). @default 0 */
  matrix?: number;
  /** The scale that was used, to print it. */
  scale: number;
  /** The values [S, dv] of that matrix, to list the top contributors. */
  values: Float32Array;
  /** How many contributors to list. @default 3 */
  top?: number;
  /** Columns to fit. @default Infinity */
  width?: number;
}

/** The seed's three steps for one query token of a Tensor trace (scores, weights [..., N, S]), as lines of text. */
export function renderSteps(input: StepsInput): string[] {
  const { trace, queryTokens, keyTokens, row, values } = input;
  const matrix = input.matrix ?? 0;
  const [N, S] = trace.weights.shape.slice(-2);
  const dv = trace.output.shape[trace.output.rank - 1];
  if (row < 0 || row >= N) throw new ArgumentError(`renderSteps: row must be in [0, ${N}); got ${row}`);
  const at = (matrix * N + row) * S;
  return renderStepsRow({
    queryToken: queryTokens[row],
    keyTokens,
    scores: trace.scores.data.subarray(at, at + S), // [S]
    scaled: trace.logits.data.subarray(at, at + S), // [S]
    weights: trace.weights.data.subarray(at, at + S), // [S]
    values: Array.from({ length: S }, (_, j) => values.subarray(j * dv, (j + 1) * dv)), // [S][dv]
    output: trace.output.data.subarray((matrix * N + row) * dv, (matrix * N + row + 1) * dv), // [dv]
    scale: input.scale,
    top: input.top,
    width: input.width,
  });
}

/** The weights of one [N, S] matrix as a table with a number per cell. */
export function renderWeightTable(
  weights: Float32Array,
  queryTokens: readonly string[],
  keyTokens: readonly string[],
): string[] {
  const width = Math.max(...queryTokens.map((t) => t.length)) + 2;
  const cell = Math.max(5, ...keyTokens.map((t) => t.length + 1));
  const S = keyTokens.length;
  const lines = [' '.repeat(width) + keyTokens.map((t) => t.padStart(cell)).join('')];
  queryTokens.forEach((token, i) => {
    const cells = keyTokens.map((_, j) => weights[i * S + j].toFixed(2).padStart(cell));
    lines.push(token.padEnd(width) + cells.join(''));
  });
  return lines;
}

/** "[0.91, 0.01, …]": as many numbers as fit in `room` columns (all of them when room is Infinity). */
function vector(v: ArrayLike<number>, room = Infinity): string {
  const items = Array.from(v, (x) => x.toFixed(2));
  const full = `[${items.join(', ')}]`;
  if (full.length <= room) return full;
  let k = items.length - 1;
  while (k > 0 && `[${items.slice(0, k).join(', ')}, …]`.length > room) k--;
  return k === 0 ? '[…]' : `[${items.slice(0, k).join(', ')}, …]`;
}
