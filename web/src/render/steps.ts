// Draws the step view (layout/steps.ts): the seed's walk for one token and one head, as a table. Vectors are
// strips of coloured cells (blue negative, red positive), with their numbers in a tooltip and an accessible label.

import type { StepsModel } from '../layout/steps.js';
import { signedColour, weightColour } from '../layout/scale.js';
import { html, px, svg } from './dom.js';

function strip(values: readonly number[], limit: number, label: string): SVGSVGElement {
  const w = 7;
  const h = 14;
  return svg(
    'svg',
    { viewBox: `0 0 ${values.length * w} ${h}`, width: values.length * w, height: h, class: 'vector', role: 'img', 'aria-label': `${label}: ${values.map((v) => v.toFixed(2)).join(', ')}` },
    svg('title', {}, `${label}: [${values.map((v) => v.toFixed(3)).join(', ')}]`),
    ...values.map((v, k) => svg('rect', { x: k * w, y: 0, width: w - 0.5, height: h, fill: signedColour(v, limit) })),
  );
}

function limitOf(...vectors: (readonly number[])[]): number {
  let m = 0;
  for (const v of vectors) for (const x of v) m = Math.max(m, Math.abs(x));
  return m || 1;
}

export function renderSteps(model: StepsModel, where: string): HTMLElement {
  const kLimit = limitOf(model.query, ...model.rows.map((r) => r.key));
  const vLimit = limitOf(model.output, ...model.rows.map((r) => r.value));
  const me = `"${model.token}"`;
  const rows = model.rows.map((r) =>
    html(
      'tr',
      { class: r.index === model.top.index ? 'top' : undefined, 'data-index': r.index },
      html('th', { scope: 'row' }, r.token),
      html('td', {}, strip(r.key, kLimit, `key of "${r.token}"`)),
      html('td', { class: 'num' }, r.score.toFixed(3)),
      html('td', { class: 'num' }, r.scaled === null ? 'blocked' : r.scaled.toFixed(3)),
      html(
        'td',
        { class: 'num weight' },
        html('span', { class: 'wbar', style: `width:${px(r.weight * 60)}px;background:${weightColour(r.weight)}` }),
        r.weight.toFixed(4),
      ),
      html('td', {}, strip(r.weighted, vLimit, `${r.weight.toFixed(3)} × value of "${r.token}"`)),
    ),
  );
  const hidden =
    model.hiddenCount > 0
      ? html('tr', { class: 'hidden-keys' }, html('th', { scope: 'row' }, `${model.hiddenCount} more`), html('td', { colspan: 3 }, 'lighter keys, left out'), html('td', { class: 'num' }, model.hiddenWeight.toFixed(4)), html('td', {}))
      : null;
  const maxDiff = Math.max(...model.output.map((x, k) => Math.abs(x - model.recomputed[k])));
  return html(
    'div',
    { class: 'steps', 'data-testid': 'steps' },
    html('p', { class: 'where' }, where),
    html(
      'ul',
      { class: 'walk' },
      html('li', {}, html('strong', {}, 'Query. '), `What ${me} is looking for: a vector of d = ${model.headDim} numbers. `, strip(model.query, kLimit, `query of ${me}`)),
      html('li', {}, html('strong', {}, '1.1 Scoring. '), `The query of ${me} times the key of every token (q·k), then × ${model.scale.toFixed(4)} (= 1/√${model.headDim}) gives the scaled score.`),
      html('li', {}, html('strong', {}, '1.2 Weighting. '), 'Softmax turns the scaled scores into weights that sum to 1.'),
      html('li', {}, html('strong', {}, '1.3 Aggregating. '), `Each value times its weight; their sum is the output of ${me}, a context vector.`),
    ),
    html(
      'table',
      { class: 'steps-table' },
      html('caption', {}, `Every step for ${me}`),
      html(
        'thead',
        {},
        html('tr', {}, ...['key token', 'key k', '1.1 q·k', 'scaled', '1.2 weight', '1.3 weight × value'].map((t) => html('th', { scope: 'col' }, t))),
      ),
      html('tbody', {}, ...rows, hidden),
      html(
        'tfoot',
        {},
        html('tr', {}, html('th', { scope: 'row' }, 'sum'), html('td', { colspan: 3 }), html('td', { class: 'num', 'data-testid': 'weight-sum' }, model.weightSum.toFixed(6)), html('td', {}, strip(model.recomputed, vLimit, 'Σ weight × value'))),
      ),
    ),
    html(
      'p',
      { class: 'output' },
      html('strong', {}, `Output of ${me}: `),
      strip(model.output, vLimit, `output of ${me}`),
      ` [${model.output.map((v) => v.toFixed(2)).join(', ')}]`,
      html('br', {}),
      html('small', {}, `The sum of weighted values above equals the model's output to within ${maxDiff.toExponential(1)}. Heaviest key: "${model.top.token}" (${model.top.weight.toFixed(4)}).`),
    ),
  );
}
