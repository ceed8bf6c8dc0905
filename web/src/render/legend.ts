// Draws the legend of the weight colour scale from its layout.

import { type LegendLayout, legendLayout } from '../layout/scale.js';
import { html, px, svg } from './dom.js';

export function renderLegend(max: number, caption: string): HTMLElement {
  const l: LegendLayout = legendLayout(max);
  const pad = 14;
  const picture = svg(
    'svg',
    { viewBox: `${-pad} 0 ${l.width + 2 * pad} ${l.height}`, width: l.width + 2 * pad, height: l.height, 'aria-hidden': 'true' },
    ...l.stops.map((s) => svg('rect', { x: px(s.x), y: l.barY, width: px(s.width), height: l.barHeight, fill: s.fill })),
    svg('rect', { x: 0, y: l.barY, width: l.width, height: l.barHeight, fill: 'none', stroke: '#888', 'stroke-width': 0.5 }),
    ...l.ticks.map((t) => svg('text', { x: px(t.x), y: l.barHeight + 13, 'text-anchor': 'middle', class: 'tick' }, t.label)),
  );
  return html(
    'figure',
    { class: 'legend', 'data-testid': 'legend' },
    picture,
    html('figcaption', {}, `${caption}: light = ${(0).toFixed(1)}, dark = ${max.toFixed(max >= 0.1 ? 2 : 3)}`),
  );
}
