// Pure geometry and content of the real-model view: the head grid (a cell per layer × head, coloured by one
// summary, or by where a chosen token looks) and the links of one head (each query's top-k keys, as bertviz's head
// view draws them). No DOM; view.ts draws them.

import type { Summaries } from './protocol.js';

export type GridStat = keyof Summaries;

export const STAT_LABELS: Record<GridStat, string> = {
  max: 'largest weight (mean over tokens)',
  entropy: 'entropy in bits (mean over tokens)',
  first: 'weight on the first token',
  previous: 'weight on the previous token',
  self: 'weight on itself',
};

export interface GridCell {
  layer: number;
  head: number;
  /** The number shown. */
  value: number;
  /** Its place on the colour scale, 0 to 1. */
  shade: number;
  /** The text in the cell, and the longer one of its tooltip and accessible name. */
  text: string;
  title: string;
}

/**
 * The L × H cells, layer-major. With `token`, each cell is the weight of that token's heaviest key in the head (and
 * names the key); else the summary `stat`, entropy shaded by its share of log2 N.
 */
export function headGrid(
  L: number,
  H: number,
  tokens: readonly string[],
  summaries: Summaries,
  stat: GridStat,
  token: { index: number; keys: Int32Array; weights: Float32Array } | null,
): GridCell[] {
  const N = tokens.length;
  const cells: GridCell[] = [];
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      const k = l * H + h;
      if (token) {
        const key = token.keys[k];
        const w = token.weights[k];
        cells.push({
          layer: l, head: h, value: w, shade: w, text: w.toFixed(2).replace(/^0/, ''),
          title: `Layer ${l}, head ${h}: "${tokens[token.index]}" looks most at "${tokens[key] ?? '?'}" (token ${key}), weight ${w.toFixed(3)}`,
        });
      } else {
        const v = summaries[stat][k];
        const shade = stat === 'entropy' ? (N > 1 ? v / Math.log2(N) : 0) : v;
        cells.push({ layer: l, head: h, value: v, shade, text: stat === 'entropy' ? v.toFixed(1) : v.toFixed(2).replace(/^0/, ''), title: `Layer ${l}, head ${h}: ${STAT_LABELS[stat]} ${v.toFixed(3)}` });
      }
    }
  }
  return cells;
}

export interface LinkLine {
  from: number;
  to: number;
  weight: number;
  y1: number;
  y2: number;
  strokeWidth: number;
  opacity: number;
}

export interface LinksLayout {
  width: number;
  height: number;
  /** x of the query labels (right-aligned) and of the key labels (left-aligned), and of the line ends. */
  queryX: number;
  keyX: number;
  left: number;
  right: number;
  /** y of token i's row. */
  rowY: (i: number) => number;
  lines: LinkLine[];
}

/**
 * Each query's `shown` heaviest keys from top-k lists ([N, k], key −1 = none), as lines from the query (left) to the
 * key (right); only the focused token's when one is focused. Light lines first, so heavy ones draw on top.
 */
export function linksLayout(
  tokens: readonly string[],
  topKeys: Int32Array,
  topWeights: Float32Array,
  k: number,
  options: { shown: number; focus: number | null; rowHeight: number; width: number },
): LinksLayout {
  const N = tokens.length;
  const label = Math.min(150, Math.max(40, Math.max(...tokens.map((t) => t.length)) * 7.5 + 12));
  const top = options.rowHeight / 2 + 4;
  const left = label;
  const right = options.width - label;
  const rowY = (i: number) => top + i * options.rowHeight;
  const lines: LinkLine[] = [];
  for (let i = 0; i < N; i++) {
    if (options.focus !== null && i !== options.focus) continue;
    for (let r = 0; r < Math.min(k, options.shown); r++) {
      const j = topKeys[i * k + r];
      if (j < 0) break;
      const w = topWeights[i * k + r];
      lines.push({ from: i, to: j, weight: w, y1: rowY(i), y2: rowY(j), strokeWidth: Math.max(0.5, w * 6), opacity: Math.min(1, 0.2 + 0.8 * w) });
    }
  }
  lines.sort((a, b) => a.weight - b.weight);
  return { width: options.width, height: top * 2 + (N - 1) * options.rowHeight, queryX: left - 8, keyX: right + 8, left, right, rowY, lines };
}
