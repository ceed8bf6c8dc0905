// Draws the model view (layout/model-view.ts): a grid of buttons, one tiny heatmap per layer × head. Choosing one
// opens that head in the matrix view.

import type { ModelViewLayout } from '../layout/model-view.js';
import { weightColour } from '../layout/scale.js';
import { html, px, svg } from './dom.js';

export function renderModelView(layout: ModelViewLayout, scaleMax: number, selected: { layer: number; heads: readonly number[] }, onPick: (layer: number, head: number) => void): HTMLElement {
  const grid = html('div', { class: 'model-grid', style: `--heads:${layout.heads}`, 'data-testid': 'model-view', role: 'group', 'aria-label': 'Every layer and head' });
  grid.append(html('span', {}), ...Array.from({ length: layout.heads }, (_, h) => html('span', { class: 'axis' }, `Head ${h}`)));
  for (let l = 0; l < layout.layers; l++) {
    grid.append(html('span', { class: 'axis' }, `Layer ${l}`));
    for (const t of layout.thumbnails.filter((t) => t.layer === l)) {
      const isSelected = t.layer === selected.layer && selected.heads.includes(t.head);
      const picture = svg(
        'svg',
        { viewBox: `0 0 ${px(t.matrix.width)} ${px(t.matrix.height)}`, width: layout.size, height: layout.size, 'aria-hidden': 'true' },
        ...t.matrix.cells.map((c) => svg('rect', { x: px(c.x), y: px(c.y), width: px(c.size + 0.05), height: px(c.size + 0.05), fill: weightColour(c.value, scaleMax) })),
      );
      const button = html(
        'button',
        { type: 'button', class: `thumb${isSelected ? ' selected' : ''}`, 'data-testid': 'thumb', 'data-layer': t.layer, 'data-head': t.head, 'aria-label': `Layer ${t.layer}, head ${t.head}: open in the matrix view`, 'aria-pressed': isSelected ? 'true' : 'false' },
        picture,
      );
      button.addEventListener('click', () => onPick(t.layer, t.head));
      grid.append(button);
    }
  }
  return grid;
}
