// Geometry of the head view, after bertviz's head view (Vig, 2019): the tokens twice, as queries on the left and as
// keys on the right, and a line from each query to each key it attends to, as thick as the weight. Several heads
// draw over each other in their own colours. Long inputs keep only each query's top-k keys.
// Pure: numbers in, coordinates out; render/head-view.ts draws them.

export interface HeadViewHead {
  /** Head index, for the colour and the labels. */
  head: number;
  /** Attention weights [N, S] (self-attention: S = N). */
  weights: readonly (readonly number[])[];
  colour: string;
}

export interface HeadViewOptions {
  /** Width of the drawing. @default 560 */
  width?: number;
  /** Vertical distance between tokens. @default 22 */
  rowHeight?: number;
  /** Only draw each query's k heaviest keys; 0 draws every key. @default 0 */
  topK?: number;
  /** Only draw the lines of this query token. @default null (every token) */
  focus?: number | null;
  /** With every key drawn (topK 0), lines lighter than this are left out; top-k lines are all drawn. @default 0.01 */
  minWeight?: number;
  /** Width of the thickest line (weight 1). @default 6 */
  maxStroke?: number;
}

export interface TokenBox {
  index: number;
  text: string;
  x: number;
  y: number;
}

export interface HeadLink {
  head: number;
  /** Query and key token indices. */
  from: number;
  to: number;
  weight: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  strokeWidth: number;
  opacity: number;
  colour: string;
}

export interface HeadViewLayout {
  width: number;
  height: number;
  /** Query labels are right-aligned at x; key labels left-aligned at x. */
  queries: TokenBox[];
  keys: TokenBox[];
  links: HeadLink[];
  /** Lines left out by topK and minWeight, for a note under the drawing. */
  hidden: number;
}

/** The k largest entries of a row, as indices, heaviest first (ties by position). */
export function topIndices(row: readonly number[], k: number): number[] {
  const order = row.map((_, j) => j).sort((a, b) => row[b] - row[a] || a - b);
  return k > 0 ? order.slice(0, k) : order;
}

export function headViewLayout(tokens: readonly string[], heads: readonly HeadViewHead[], options: HeadViewOptions = {}): HeadViewLayout {
  const width = options.width ?? 560;
  const rowHeight = options.rowHeight ?? 22;
  const topK = options.topK ?? 0;
  const focus = options.focus ?? null;
  const minWeight = options.minWeight ?? 0.01;
  const maxStroke = options.maxStroke ?? 6;
  // Room for the longest label on each side, in an average glyph width of 7.5 px at 13 px.
  const label = Math.min(160, Math.max(40, Math.max(...tokens.map((t) => t.length)) * 7.5 + 12));
  const top = rowHeight / 2 + 4;
  // The key side also holds the focused token's weights ("cat 0.97"): 40 px more.
  const left = label;
  const right = width - label - 40;
  const queries = tokens.map((text, index) => ({ index, text, x: left - 8, y: top + index * rowHeight }));
  const keys = tokens.map((text, index) => ({ index, text, x: right + 8, y: top + index * rowHeight }));
  const links: HeadLink[] = [];
  let hidden = 0;
  for (const { head, weights, colour } of heads) {
    weights.forEach((row, i) => {
      if (focus !== null && i !== focus) return;
      // A blocked key (weight 0) never gets a line; otherwise top-k wins over the threshold, so that a long input,
      // whose weights are all small, still shows each token's strongest links.
      const floor = topK > 0 ? Number.MIN_VALUE : minWeight;
      const keep = topIndices(row, topK).filter((j) => row[j] >= floor);
      hidden += row.length - keep.length;
      for (const j of keep) {
        const w = row[j];
        links.push({
          head,
          from: i,
          to: j,
          weight: w,
          x1: left,
          y1: queries[i].y,
          x2: right,
          y2: keys[j].y,
          strokeWidth: Math.max(0.5, w * maxStroke),
          opacity: Math.min(1, 0.2 + 0.8 * w),
          colour,
        });
      }
    });
  }
  // Light lines first, so the heavy ones are drawn on top.
  links.sort((a, b) => a.weight - b.weight);
  return { width, height: top * 2 + (tokens.length - 1) * rowHeight, queries, keys, links, hidden };
}
