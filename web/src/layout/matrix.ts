// Geometry of the matrix view: the N×S weights of one head as a heatmap, queries down, keys across. Past
// `maxCells` tokens per side, neighbouring tokens are pooled into bins so a long input still fits: a binned cell
// holds the mean, over its query tokens, of their total weight on its key tokens, so every binned row still sums to
// one, as a row of weights does. Pure; render/matrix.ts draws it.

export interface MatrixOptions {
  /** Side of one cell in pixels. @default 22 */
  cell?: number;
  /** Most cells per side before tokens are pooled. @default 48 */
  maxCells?: number;
  /** Width reserved for the query labels, and height for the key labels. @default from the longest token */
  labelSize?: number;
}

export interface MatrixCell {
  /** Bin indices in the drawn grid. */
  row: number;
  col: number;
  /** Token ranges [start, end) of the bin. */
  rows: [number, number];
  cols: [number, number];
  /** The weight, or the pooled weight of a bin. */
  value: number;
  x: number;
  y: number;
  size: number;
}

export interface MatrixLabel {
  text: string;
  x: number;
  y: number;
  /** Token range [start, end). */
  range: [number, number];
}

export interface MatrixLayout {
  width: number;
  height: number;
  /** Tokens per bin along queries and keys (1 = every token has its own row or column). */
  rowBin: number;
  colBin: number;
  rowsDrawn: number;
  colsDrawn: number;
  cells: MatrixCell[];
  rowLabels: MatrixLabel[];
  colLabels: MatrixLabel[];
  /** Where the grid starts. */
  gridX: number;
  gridY: number;
  max: number;
}

function binLabel(tokens: readonly string[], [a, b]: [number, number]): string {
  return b - a === 1 ? tokens[a] : `${a + 1}–${b}`;
}

export function matrixLayout(weights: readonly (readonly number[])[], queryTokens: readonly string[], keyTokens: readonly string[], options: MatrixOptions = {}): MatrixLayout {
  const N = weights.length;
  const S = N === 0 ? 0 : weights[0].length;
  const maxCells = options.maxCells ?? 48;
  const rowBin = Math.max(1, Math.ceil(N / maxCells));
  const colBin = Math.max(1, Math.ceil(S / maxCells));
  const rowsDrawn = Math.ceil(N / rowBin);
  const colsDrawn = Math.ceil(S / colBin);
  const cell = options.cell ?? 22;
  const longest = Math.max(3, ...queryTokens.map((t) => t.length), ...keyTokens.map((t) => t.length));
  const labelSize = options.labelSize ?? Math.min(120, longest * 7 + 10);
  const gridX = labelSize;
  const gridY = labelSize;
  const cells: MatrixCell[] = [];
  let max = 0;
  for (let r = 0; r < rowsDrawn; r++) {
    const rows: [number, number] = [r * rowBin, Math.min(N, (r + 1) * rowBin)];
    for (let c = 0; c < colsDrawn; c++) {
      const cols: [number, number] = [c * colBin, Math.min(S, (c + 1) * colBin)];
      let total = 0;
      for (let i = rows[0]; i < rows[1]; i++) for (let j = cols[0]; j < cols[1]; j++) total += weights[i][j];
      const value = total / (rows[1] - rows[0]);
      max = Math.max(max, value);
      cells.push({ row: r, col: c, rows, cols, value, x: gridX + c * cell, y: gridY + r * cell, size: cell });
    }
  }
  const rowLabels = Array.from({ length: rowsDrawn }, (_, r) => {
    const range: [number, number] = [r * rowBin, Math.min(N, (r + 1) * rowBin)];
    return { text: binLabel(queryTokens, range), x: gridX - 6, y: gridY + (r + 0.5) * cell, range };
  });
  const colLabels = Array.from({ length: colsDrawn }, (_, c) => {
    const range: [number, number] = [c * colBin, Math.min(S, (c + 1) * colBin)];
    return { text: binLabel(keyTokens, range), x: gridX + (c + 0.5) * cell, y: gridY - 6, range };
  });
  return {
    width: gridX + colsDrawn * cell + 2,
    height: gridY + rowsDrawn * cell + 2,
    rowBin,
    colBin,
    rowsDrawn,
    colsDrawn,
    cells,
    rowLabels,
    colLabels,
    gridX,
    gridY,
    max,
  };
}

/** The text a hovered or focused cell shows: the exact weight, or what a pooled cell means. */
export function describeCell(cell: MatrixCell, queryTokens: readonly string[], keyTokens: readonly string[]): string {
  const [r0, r1] = cell.rows;
  const [c0, c1] = cell.cols;
  if (r1 - r0 === 1 && c1 - c0 === 1) {
    return `"${queryTokens[r0]}" (${r0 + 1}) → "${keyTokens[c0]}" (${c0 + 1}): weight ${cell.value.toFixed(6)}`;
  }
  return `queries ${r0 + 1}–${r1} → keys ${c0 + 1}–${c1}: mean total weight ${cell.value.toFixed(6)}`;
}
