// Draws the head view (layout/head-view.ts): query tokens on the left, key tokens on the right, a line per link.
// Clicking a query token focuses it; with a focused token, each key shows its weight in the first selected head.

import type { HeadViewLayout } from '../layout/head-view.js';
import { html, px, svg } from './dom.js';

export interface HeadViewHandlers {
  onToken(index: number): void;
}

export function renderHeadView(layout: HeadViewLayout, focus: number | null, handlers: HeadViewHandlers, fontSize = 13): SVGSVGElement {
  const { width, height } = layout;
  const focusWeights = new Map<number, number>();
  if (focus !== null && layout.links.length > 0) {
    const first = Math.min(...layout.links.map((k) => k.head));
    for (const link of layout.links) if (link.head === first && link.from === focus) focusWeights.set(link.to, link.weight);
  }
  const lines = layout.links.map((k) =>
    svg(
      'line',
      {
        x1: px(k.x1), y1: px(k.y1), x2: px(k.x2), y2: px(k.y2),
        stroke: k.colour, 'stroke-width': px(k.strokeWidth), 'stroke-opacity': px(k.opacity), 'stroke-linecap': 'round',
        'data-from': k.from, 'data-to': k.to, 'data-head': k.head,
      },
      svg('title', {}, `head ${k.head}: ${layout.queries[k.from].text} → ${layout.keys[k.to].text} ${k.weight.toFixed(4)}`),
    ),
  );
  const queries = layout.queries.map((t) =>
    svg(
      'text',
      {
        x: px(t.x), y: px(t.y), 'text-anchor': 'end', 'dominant-baseline': 'middle', class: `token q${t.index === focus ? ' focused' : ''}`,
        'data-index': t.index,
      },
      t.text,
    ),
  );
  const keys = layout.keys.map((t) => {
    const w = focusWeights.get(t.index);
    return svg(
      'text',
      { x: px(t.x), y: px(t.y), 'dominant-baseline': 'middle', class: 'token k', 'data-index': t.index },
      t.text,
      w === undefined ? null : svg('tspan', { class: 'weight', dx: 6 }, w.toFixed(2)),
    );
  });
  const picture = svg(
    'svg',
    {
      viewBox: `0 0 ${width} ${height}`, width, height, class: 'head-view', role: 'img', 'font-size': fontSize,
      'aria-label': `Lines from each query token (left) to the key tokens it attends to (right); ${layout.links.length} lines`,
      'data-testid': 'head-view',
    },
    svg('g', { class: 'links' }, ...lines),
    svg('g', { class: 'queries' }, ...queries),
    svg('g', { class: 'keys' }, ...keys),
  );
  picture.addEventListener('click', (event) => {
    const target = (event.target as Element).closest('text.q');
    if (target) handlers.onToken(Number(target.getAttribute('data-index')));
  });
  return picture;
}

/** The weights of the focused token in each shown head, heaviest first: the numbers behind the lines. */
export function renderFocusList(
  token: string,
  heads: readonly { layer: number; head: number; colour: string; ranked: { token: string; index: number; weight: number }[] }[],
): HTMLElement {
  return html(
    'div',
    { class: 'focus-list', 'data-testid': 'focus-list' },
    html('h3', {}, `Where "${token}" looks`),
    ...heads.map((h) =>
      html(
        'section',
        { 'data-head': h.head, 'data-layer': h.layer },
        html('h4', {}, html('span', { class: 'swatch', style: `background:${h.colour}` }), ` Layer ${h.layer}, head ${h.head}`),
        html(
          'ol',
          {},
          ...h.ranked.map((r, k) =>
            html(
              'li',
              { class: k === 0 ? 'top' : undefined, 'data-testid': k === 0 ? 'focus-top' : undefined },
              html('span', { class: 'tok' }, r.token),
              html('span', { class: 'bar', style: `width:${px(r.weight * 100)}%;background:${h.colour}` }),
              html('span', { class: 'num' }, r.weight.toFixed(3)),
            ),
          ),
        ),
      ),
    ),
  );
}
