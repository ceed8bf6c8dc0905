// Terminal heatmaps of attention weights: one grid per layer × head, rows = query tokens, columns = key tokens, a
// shade per weight. As in llm-viz (GptModelLayout.ts, then render/), layout and painting are apart: layoutHeatmaps is
// pure geometry from the token count and the terminal width (cell width, column labels, grids side by side, column
// chunks for long sentences); renderHeatmaps paints the cells as ANSI 256-colour backgrounds on the viridis ramp, or,
// when the output is not a terminal, as the characters of a density ramp. Also the display-width helpers that every
// terminal rendering here measures with.

// ---------------------------------------------------------------------------------------------------------------
// Display width: ANSI escapes take no columns, East Asian wide characters take two, combining marks none.

const ANSI = /\x1b\[[0-9;]*m/g;
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cc}\u200b-\u200f\u2060\ufeff]$/u;

/** `s` without its ANSI SGR escapes (colours). */
export function stripAnsi(s: string): string {
  return s.replace(ANSI, '');
}

function charWidth(ch: string): number {
  if (ZERO_WIDTH.test(ch)) return 0;
  const cp = ch.codePointAt(0)!;
  const wide =
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd);
  return wide ? 2 : 1;
}

/** Columns that `s` takes in a terminal, counted by code point: escapes 0, wide characters 2, combining marks 0. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of stripAnsi(s)) w += charWidth(ch);
  return w;
}

/** `s` (no escapes) cut to at most `width` columns, ending in "…" when cut. */
export function fitText(s: string, width: number): string {
  if (displayWidth(s) <= width) return s;
  if (width <= 0) return '';
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = charWidth(ch);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return out + '…';
}

/** `s` padded with spaces on the right to `width` columns (escapes not counted). */
export function padEndDisplay(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - displayWidth(s)));
}

/** Words of `text` (no escapes) wrapped to `width` columns; later lines start with `indent`; a word too long is cut. */
export function wrapText(text: string, width: number, indent = ''): string[] {
  if (displayWidth(text) <= width) return [text];
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const start = lines.length === 0 ? '' : indent;
    const next = line === '' ? start + word : `${line} ${word}`;
    if (displayWidth(next) <= width || line === '') {
      line = displayWidth(next) <= width ? next : fitText(next, width);
    } else {
      lines.push(line);
      line = fitText(indent + word, width);
    }
  }
  lines.push(line);
  return lines;
}

// ---------------------------------------------------------------------------------------------------------------
// Shades: ten buckets of width 0.1 over [0, 1].

/** The plain-text ramp, from weight 0 to weight 1: one character per bucket of 0.1. */
export const PLAIN_RAMP = ' .:-=+*#%@';

/** viridis(10): dark blue to yellow, lightness rising steadily, readable by colour-blind eyes and in grey. */
const VIRIDIS = ['440154', '482878', '3e4a89', '31688e', '26828e', '1f9e89', '35b779', '6dcd59', 'b4de2c', 'fde725'];

/**
 * The xterm-256 colour nearest to each viridis step, among the 6×6×6 cube (16–231) and the grey ramp (232–255), not
 * reusing a colour, so that the ten shades stay ten: 53, 54, 60, 24, 30, 36, 72, 77, 148, 220.
 */
export const COLOR_RAMP: readonly number[] = nearestXtermColors(VIRIDIS);

function nearestXtermColors(hexes: readonly string[]): number[] {
  const levels = [0, 95, 135, 175, 215, 255];
  const rgbOf = (code: number) =>
    code < 232
      ? [Math.floor((code - 16) / 36), Math.floor((code - 16) / 6) % 6, (code - 16) % 6].map((k) => levels[k])
      : [8 + 10 * (code - 232), 8 + 10 * (code - 232), 8 + 10 * (code - 232)];
  const used = new Set<number>();
  return hexes.map((hex) => {
    const rgb = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
    let best = 16;
    let bestDistance = Infinity;
    for (let code = 16; code < 256; code++) {
      const c = rgbOf(code);
      const distance = (c[0] - rgb[0]) ** 2 + (c[1] - rgb[1]) ** 2 + (c[2] - rgb[2]) ** 2;
      if (distance < bestDistance && !used.has(code)) [best, bestDistance] = [code, distance];
    }
    used.add(best);
    return best;
  });
}

/** The bucket 0..9 of a weight in [0, 1] (1 falls in the top bucket); -1 for a weight that is not a number. */
export function shadeIndex(weight: number): number {
  if (!Number.isFinite(weight)) return -1;
  return Math.max(0, Math.min(9, Math.floor(weight * 10)));
}

/** One heatmap cell of `cellWidth` columns; a blocked key (null) is left blank. */
function paintCell(weight: number, blocked: boolean, cellWidth: number, color: boolean): string {
  const k = shadeIndex(weight);
  if (blocked) return ' '.repeat(cellWidth);
  if (k < 0) return '?'.repeat(cellWidth);
  return color ? `\x1b[48;5;${COLOR_RAMP[k]}m${' '.repeat(cellWidth)}\x1b[0m` : PLAIN_RAMP[k].repeat(cellWidth);
}

/** The scale from 0 to 1 that the shades stand for, fitted to `width`. */
export function renderLegend(color: boolean, width: number, anyBlocked: boolean): string[] {
  const swatches = color ? COLOR_RAMP.map((_, k) => paintCell(k / 10, false, 2, true)).join('') : `[${PLAIN_RAMP}]`;
  const notes = [
    color ? 'each shade 0.1 wide' : 'each character 0.1 wide',
    ...(anyBlocked ? [color ? 'no shade = blocked key' : 'blocked keys are blank, like weight 0'] : []),
  ];
  const scale = `weight 0 ${swatches} 1`;
  const full = `${scale}  (${notes.join('; ')})`;
  if (displayWidth(full) <= width) return [full];
  return [scale, ...notes.flatMap((n) => wrapText(`  ${n}`, width, '  '))];
}

// ---------------------------------------------------------------------------------------------------------------
// Layout: pure geometry.

/** How the key columns of every grid are labelled. */
export type ColumnLabels = 'tokens' | 'indices' | 'digits';

export interface HeatmapLayout {
  /** tokens: key tokens (cut to cellWidth - 1); indices: key indices; digits: indices written downwards. */
  labels: ColumnLabels;
  /** Columns per cell. */
  cellWidth: number;
  /** Columns of the row labels "index token", the gap after them included. */
  labelWidth: number;
  /** Columns given to the token in a row label. */
  labelTokenWidth: number;
  /** Grids per band (side by side). */
  perRow: number;
  /** Key columns per grid: N, or fewer when a long sentence is cut into column chunks. */
  columns: number;
  /** Columns of one grid: columns × cellWidth, or the title when that is wider. */
  gridWidth: number;
}

/** Columns between grids laid side by side. */
const GAP = 2;

/**
 * Where things go when `grids` heatmaps of the N `tokens` are drawn in `width` columns. In order of preference: key
 * tokens over the columns, the widest cells with two grids side by side, else the widest with one; key indices; key
 * indices written downwards over one-column cells; and, when even that is too wide, the columns cut into chunks.
 * Row labels ("7 it") keep their index and at least 5 columns of token (3 in chunks).
 */
export function layoutHeatmaps(tokens: readonly string[], grids: number, width: number, titleWidth: number): HeatmapLayout {
  const N = tokens.length;
  const digits = String(Math.max(0, N - 1)).length;
  const longest = Math.max(1, ...tokens.map(displayWidth));
  const tokenCap = Math.min(longest, Math.max(4, Math.floor(width / 5)));
  const minToken = Math.min(5, longest);

  const attempt = (labels: ColumnLabels, cellWidth: number, side: number): HeatmapLayout | null => {
    const gridWidth = Math.max(N * cellWidth, titleWidth);
    const room = width - side * gridWidth - (side - 1) * GAP - digits - 2;
    const labelTokenWidth = Math.min(tokenCap, room);
    if (labelTokenWidth < minToken) return null;
    const labelWidth = digits + labelTokenWidth + 2;
    const perRow = Math.max(1, Math.min(grids, Math.floor((width - labelWidth + GAP) / (gridWidth + GAP))));
    return { labels, cellWidth, labelWidth, labelTokenWidth, perRow, columns: N, gridWidth };
  };

  const widest = Math.min(longest, 6) + 1;
  const tokenCells = [];
  for (let c = widest; c >= Math.min(4, widest); c--) tokenCells.push(c);
  const candidates: [ColumnLabels, number, number][] = [
    ...tokenCells.map((c): [ColumnLabels, number, number] => ['tokens', c, Math.min(grids, 2)]),
    ...tokenCells.map((c): [ColumnLabels, number, number] => ['tokens', c, 1]),
    ['indices', digits + 1, 1],
    ['digits', 1, 1],
  ];
  for (const [labels, cellWidth, side] of candidates) {
    const layout = attempt(labels, cellWidth, side);
    if (layout !== null) return layout;
  }
  // Chunks: one grid per band, as many one-column cells as fit beside short row labels.
  const labelTokenWidth = Math.min(3, longest);
  const labelWidth = digits + labelTokenWidth + 2;
  const columns = Math.max(1, Math.min(N, width - labelWidth));
  return { labels: 'digits', cellWidth: 1, labelWidth, labelTokenWidth, perRow: 1, columns, gridWidth: Math.max(columns, titleWidth) };
}

// ---------------------------------------------------------------------------------------------------------------
// Painting.

/** One heatmap to draw: a square [N, N] matrix of weights, with the blocked cells marked. */
export interface HeatmapGrid {
  /** Long and short titles, e.g. "layer 0 head 1" and "L0 H1"; the long one is used where it fits. */
  title: string;
  shortTitle: string;
  /** [N, N] weights, rows = queries. */
  weights: readonly (readonly number[])[];
  /** [N, N], true where the key was blocked (a null scaled score); optional. */
  blocked?: readonly (readonly boolean[])[];
}

export interface HeatmapOptions {
  /** ANSI colour backgrounds (a terminal) or the characters of PLAIN_RAMP (not a terminal). */
  color: boolean;
  /** Columns to fit. */
  width: number;
}

/** Every grid as lines of text, laid out by layoutHeatmaps; no line is wider than `width` (escapes not counted). */
export function renderHeatmaps(grids: readonly HeatmapGrid[], tokens: readonly string[], options: HeatmapOptions): string[] {
  const { color, width } = options;
  const N = tokens.length;
  const titleWidth = Math.max(...grids.map((g) => displayWidth(g.shortTitle)));
  const layout = layoutHeatmaps(tokens, grids.length, width, titleWidth);
  const { cellWidth, labelWidth, labelTokenWidth, perRow, columns, gridWidth } = layout;
  const digits = String(Math.max(0, N - 1)).length;
  const rowLabel = (i: number) => padEndDisplay(`${String(i).padStart(digits)} ${fitText(tokens[i], labelTokenWidth)}`, labelWidth);
  const blank = ' '.repeat(labelWidth);
  const lines: string[] = [];
  if (layout.labels !== 'tokens') lines.push(...wrapText('Columns are key tokens by index, as numbered in the rows.', width, '  '));

  // Bands of perRow panels; a panel is one grid, or one chunk of its columns.
  const panels: { grid: HeatmapGrid; from: number; to: number }[] = [];
  for (const grid of grids) {
    for (let from = 0; from < N; from += columns) panels.push({ grid, from, to: Math.min(N, from + columns) });
  }
  for (let p = 0; p < panels.length; p += perRow) {
    const band = panels.slice(p, p + perRow);
    const chunked = columns < N;
    const title = ({ grid, from, to }: (typeof panels)[number]) => {
      const keys = chunked ? `, keys ${from}–${to - 1}` : '';
      const long = `${grid.title}${keys}`;
      return fitText(displayWidth(long) <= gridWidth ? long : `${grid.shortTitle}${chunked ? ` ${from}–${to - 1}` : ''}`, gridWidth);
    };
    const join = (cells: (panel: (typeof panels)[number]) => string) =>
      band.map((panel) => padEndDisplay(cells(panel), gridWidth)).join(' '.repeat(GAP));
    if (p > 0) lines.push('');
    lines.push(blank + join(title));
    for (const header of columnHeaders(layout, band.map(({ from, to }) => [from, to]))) {
      lines.push(blank + band.map((_, k) => padEndDisplay(header[k], gridWidth)).join(' '.repeat(GAP)));
    }
    for (let i = 0; i < N; i++) {
      lines.push(
        rowLabel(i) +
          join(({ grid, from, to }) => {
            let row = '';
            for (let j = from; j < to; j++) row += paintCell(grid.weights[i][j], grid.blocked?.[i][j] ?? false, cellWidth, color);
            return row;
          }),
      );
    }
  }
  return lines.map((line) => line.trimEnd());

  /** Header lines over the key columns, one string per panel in each line. */
  function columnHeaders(l: HeatmapLayout, ranges: [number, number][]): string[][] {
    const span = (from: number, to: number, f: (j: number) => string) => {
      let s = '';
      for (let j = from; j < to; j++) s += f(j);
      return s;
    };
    if (l.labels === 'tokens') {
      return [ranges.map(([from, to]) => span(from, to, (j) => padEndDisplay(fitText(tokens[j], cellWidth - 1), cellWidth)))];
    }
    if (l.labels === 'indices') return [ranges.map(([from, to]) => span(from, to, (j) => String(j).padEnd(cellWidth)))];
    // Downwards: the tens digit above the units digit, blank where the number is shorter.
    const rows: string[][] = [];
    for (let place = digits - 1; place >= 0; place--) {
      rows.push(ranges.map(([from, to]) => span(from, to, (j) => (j >= 10 ** place || place === 0 ? String(Math.floor(j / 10 ** place) % 10) : ' '))));
    }
    return rows;
  }
}
