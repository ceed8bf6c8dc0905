// Text renderings of an attention trace in the seed's words: 1.1 scoring, 1.2 weighting, 1.3 aggregating.
// Pure functions from a trace to lines of text, so the CLI, tests and docs can all use them.

import type { AttentionTrace } from '../ops/attention.js';
import { ArgumentError } from '../core/errors.js';

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
}

/** The seed's three steps for one query token, as lines of text. */
export function renderSteps(input: StepsInput): string[] {
  const { trace, queryTokens, keyTokens, row, scale, values } = input;
  const matrix = input.matrix ?? 0;
  const [N, S] = trace.weights.shape.slice(-2);
  const dv = trace.output.shape[trace.output.rank - 1];
  if (row < 0 || row >= N) throw new ArgumentError(`renderSteps: row must be in [0, ${N}); got ${row}`);
  const at = (matrix * N + row) * S;
  const raw = trace.scores.data.subarray(at, at + S);
  const scaled = trace.scaledScores.data.subarray(at, at + S);
  const weights = trace.weights.data.subarray(at, at + S);
  const output = trace.output.data.subarray((matrix * N + row) * dv, (matrix * N + row + 1) * dv);
  const me = `"${queryTokens[row]}"`;
  const width = Math.max(6, ...keyTokens.map((t) => t.length)) + 2;
  const lines: string[] = [];

  lines.push(`1.1 Scoring: the query of ${me} · the key of every token, then × scale ${scale.toFixed(4)}`);
  lines.push(`    ${'token'.padEnd(width)}${'q·k'.padStart(8)}${'scaled'.padStart(8)}`);
  for (let j = 0; j < S; j++) lines.push(`    ${keyTokens[j].padEnd(width)}${fmt(raw[j])}${fmt(scaled[j])}`);

  let sum = 0;
  for (const w of weights) sum += w;
  lines.push('');
  lines.push(`1.2 Weighting: softmax turns the scaled scores into weights that sum to 1`);
  for (let j = 0; j < S; j++) lines.push(`    ${keyTokens[j].padEnd(width)}${fmt(weights[j])}  ${bar(weights[j])}`);
  lines.push(`    ${'sum'.padEnd(width)}${fmt(sum, 6, 8)}`);

  const order = [...weights.keys()].sort((a, b) => weights[b] - weights[a]).slice(0, input.top ?? 3);
  lines.push('');
  lines.push(`1.3 Aggregating: the output of ${me} is Σ weight × value, a context vector of ${dv} numbers`);
  for (const j of order) {
    const v = values.subarray(j * dv, (j + 1) * dv);
    lines.push(`    ${fmt(weights[j], 3, 5)} × value of ${`"${keyTokens[j]}"`.padEnd(width)} ${vector(v)}`);
  }
  lines.push(`    ${'= output'.padEnd(5 + ' × value of '.length + width)} ${vector(output)}`);
  return lines;
}

/** The weights of one [N, S] matrix as a table with a shade per cell. */
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

function vector(v: ArrayLike<number>): string {
  return `[${Array.from(v, (x) => x.toFixed(2)).join(', ')}]`;
}
