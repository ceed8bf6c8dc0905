// Draws one head's heatmap (layout/matrix.ts). Hovering a cell, or focusing the heatmap and moving with the arrow
// keys, shows that cell's exact weight in a live region; Enter on a cell focuses its query token.

import { type MatrixCell, type MatrixLayout, describeCell } from '../layout/matrix.js';
import { needsLightText, weightColour } from '../layout/scale.js';
import { html, px, svg } from './dom.js';

export interface MatrixHandlers {
  onToken(index: number): void;
}

export function renderMatrix(
  layout: MatrixLayout,
  tokens: readonly string[],
  title: string,
  scaleMax: number,
  handlers: MatrixHandlers,
  focus: number | null,
): HTMLElement {
  const readout = html('output', { class: 'readout', 'aria-live': 'polite', 'data-testid': 'readout' }, 'Hover or focus a cell to read its weight.');
  const byPos = new Map<string, MatrixCell>();
  const showNumbers = layout.rowBin === 1 && layout.colBin === 1 && layout.cells[0]?.size >= 22;
  const cells = layout.cells.map((c) => {
    byPos.set(`${c.row},${c.col}`, c);
    const rect = svg('rect', {
      x: px(c.x), y: px(c.y), width: px(c.size), height: px(c.size), fill: weightColour(c.value, scaleMax),
      'data-row': c.row, 'data-col': c.col, class: 'cell',
    });
    if (!showNumbers) return rect;
    const label = svg(
      'text',
      { x: px(c.x + c.size / 2), y: px(c.y + c.size / 2), class: `cell-num${needsLightText(c.value, scaleMax) ? ' light' : ''}` },
      c.value >= 0.995 ? '1' : c.value.toFixed(2).slice(1),
    );
    return svg('g', {}, rect, label);
  });
  const highlightRow = focus === null ? null : Math.floor(focus / layout.rowBin);
  const cursor = svg('rect', { class: 'cursor', width: 0, height: 0, x: 0, y: 0, visibility: 'hidden' });
  const picture = svg(
    'svg',
    {
      viewBox: `0 0 ${px(layout.width)} ${px(layout.height)}`, width: px(layout.width), height: px(layout.height),
      class: 'matrix', tabindex: 0, role: 'img', 'data-testid': 'matrix',
      'aria-label': `${title}: attention weights, queries down and keys across. Use the arrow keys to read cells.`,
    },
    ...layout.rowLabels.map((l, r) =>
      svg('text', { x: px(l.x), y: px(l.y), 'text-anchor': 'end', 'dominant-baseline': 'middle', class: `label${r === highlightRow ? ' focused' : ''}` }, l.text),
    ),
    ...layout.colLabels.map((l) =>
      svg('text', { transform: `translate(${px(l.x)},${px(l.y)}) rotate(-60)`, 'dominant-baseline': 'middle', class: 'label' }, l.text),
    ),
    svg('g', {}, ...cells),
    cursor,
  );
  let active: MatrixCell | null = null;
  const show = (c: MatrixCell | undefined) => {
    if (!c) return;
    active = c;
    readout.textContent = describeCell(c, tokens, tokens);
    for (const [k, v] of Object.entries({ x: c.x, y: c.y, width: c.size, height: c.size })) cursor.setAttribute(k, String(px(v)));
    cursor.setAttribute('visibility', 'visible');
  };
  picture.addEventListener('mousemove', (event) => {
    const t = (event.target as Element).closest('[data-row]') ?? (event.target as Element).parentElement?.querySelector('[data-row]');
    if (t) show(byPos.get(`${t.getAttribute('data-row')},${t.getAttribute('data-col')}`));
  });
  picture.addEventListener('focus', () => show(active ?? layout.cells[0]));
  picture.addEventListener('blur', () => cursor.setAttribute('visibility', 'hidden'));
  picture.addEventListener('keydown', (event) => {
    const c = active ?? layout.cells[0];
    if (!c) return;
    const moves: Record<string, [number, number]> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const move = moves[event.key];
    if (move) {
      event.preventDefault();
      const row = Math.max(0, Math.min(layout.rowsDrawn - 1, c.row + move[0]));
      const col = Math.max(0, Math.min(layout.colsDrawn - 1, c.col + move[1]));
      show(byPos.get(`${row},${col}`));
    } else if (event.key === 'Enter' && layout.rowBin === 1) {
      handlers.onToken(c.rows[0]);
    }
  });
  return html('figure', { class: 'matrix-figure' }, html('figcaption', {}, title), picture, readout);
}
