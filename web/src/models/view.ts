// The real-model view: a Hugging Face model (served by `qkv serve --model`, or a folder the user picked or dropped)
// computing in its own worker. It shows the tokens, a grid of every layer × head coloured by one summary (or, with a
// token chosen, by where that token looks), and the chosen head's pattern: each token's top-k links and a heatmap
// (pooled past 48 tokens). Only the chosen head's weights ever reach the page.

import { matrixLayout } from '../layout/matrix.js';
import { needsLightText, weightColour } from '../layout/scale.js';
import { html, px, svg } from '../render/dom.js';
import { renderLegend } from '../render/legend.js';
import { renderMatrix } from '../render/matrix.js';
import { ModelEngine } from './engine.js';
import { type GridStat, STAT_LABELS, headGrid, linksLayout } from './layout.js';
import type { ModelResult, RealModelInfo, Summaries } from './protocol.js';

type Ran = Extract<ModelResult, { kind: 'ran' }>;
type HeadResult = Extract<ModelResult, { kind: 'head' }>;
type TokenResult = Extract<ModelResult, { kind: 'token' }>;

export interface ViewHooks {
  status(text: string): void;
  error(message: string | null): void;
  /** The user asked to go back to the coreference model. */
  back(): void;
}

/** Inputs longer than this draw smaller rows. */
const LONG = 40;

export class RealModelView {
  readonly engine = new ModelEngine();
  info: RealModelInfo | null = null;
  readonly #root: HTMLElement;
  readonly #hooks: ViewHooks;
  #ran: Ran | null = null;
  #stat: GridStat = 'max';
  #shown = 3;
  #focus: number | null = null;
  #token: TokenResult | null = null;
  #selected = { layer: 0, head: 0 };
  #head: HeadResult | null = null;
  #ticket = 0;
  readonly #infoLine: HTMLElement;
  readonly #tokens: HTMLElement;
  readonly #grid: HTMLElement;
  readonly #pattern: HTMLElement;
  readonly #statSelect: HTMLSelectElement;
  readonly #topSelect: HTMLSelectElement;

  constructor(root: HTMLElement, hooks: ViewHooks) {
    this.#root = root;
    this.#hooks = hooks;
    this.#infoLine = html('p', { class: 'hint', 'data-testid': 'real-info' });
    this.#tokens = html('div', { class: 'tokens', role: 'toolbar', 'aria-label': 'Tokens of the text', 'data-testid': 'real-tokens' });
    this.#statSelect = html(
      'select',
      { 'data-testid': 'real-stat' },
      ...(Object.keys(STAT_LABELS) as GridStat[]).map((s) => html('option', { value: s }, STAT_LABELS[s])),
    );
    this.#topSelect = html('select', { 'data-testid': 'real-topk' }, ...[1, 3, 5, 10].map((k) => html('option', { value: k, selected: k === 3 }, `top ${k}`)));
    const json = html('button', { type: 'button', class: 'small' }, 'Download JSON');
    const back = html('button', { type: 'button', class: 'small' }, 'Back to the coreference model');
    this.#grid = html('div', { class: 'head-grid-wrap' });
    this.#pattern = html('div', { class: 'head-pattern', 'data-testid': 'head-pattern' });
    root.replaceChildren(
      html('h2', {}, 'Every layer × head ', html('span', { class: 'hint' }, 'a Hugging Face model, computed in your browser')),
      this.#infoLine,
      html('h3', {}, 'Tokens ', html('span', { class: 'hint' }, 'choose one to colour the grid by where it looks')),
      this.#tokens,
      html(
        'fieldset',
        { class: 'controls' },
        html('legend', {}, 'Show'),
        html('label', {}, 'Grid colour: ', this.#statSelect),
        html('label', {}, 'Links per token ', this.#topSelect),
        json,
        back,
      ),
      html('div', { class: 'real-layout' }, this.#grid, this.#pattern),
    );
    this.#statSelect.addEventListener('change', () => {
      this.#stat = this.#statSelect.value as GridStat;
      this.#renderGrid();
    });
    this.#topSelect.addEventListener('change', () => {
      this.#shown = Number(this.#topSelect.value);
      void this.#loadHead();
    });
    this.#tokens.addEventListener('click', (event) => {
      const b = (event.target as Element).closest('button.token');
      if (b) void this.#focusToken(Number(b.getAttribute('data-index')));
    });
    json.addEventListener('click', () => void this.#download());
    back.addEventListener('click', () => hooks.back());
  }

  /** Loads a model (served or picked); the view shows it after the next explain. */
  async load(request: { kind: 'load-url'; url: string } | { kind: 'load-files'; name: string; files: Record<string, Blob> }): Promise<RealModelInfo> {
    this.#hooks.status(`Loading the model${request.kind === 'load-files' ? ` from ${request.name}` : ''}…`);
    const info = await this.engine.load(request, (text) => this.#hooks.status(text));
    this.info = info;
    this.#ran = null;
    this.#selected = { layer: info.layers - 1, head: 0 };
    return info;
  }

  /** Runs the model on `text` and redraws; a newer call supersedes an older one. */
  async explain(text: string): Promise<void> {
    const ticket = ++this.#ticket;
    this.#hooks.status('Computing in your browser…');
    try {
      const result = await this.engine.send({ kind: 'run', text });
      if (ticket !== this.#ticket || result.kind !== 'ran') return;
      const sameTokens = this.#ran !== null && this.#ran.ids.join(',') === result.ids.join(',');
      this.#ran = result;
      if (!sameTokens) {
        this.#focus = null;
        this.#token = null;
      }
      this.#hooks.error(null);
      const m = this.info!;
      this.#infoLine.textContent =
        `${m.family} from ${m.source}: ${m.layers} layers × ${m.heads} heads${m.kvHeads !== m.heads ? ` (${m.kvHeads} key/value heads)` : ''}, ` +
        `D = ${m.hiddenSize}, d = ${m.headDim}, ${m.causal ? 'causal' : 'attending both ways'}. ${result.tokens.length} tokens.`;
      this.#hooks.status(`Computed in your browser in ${Math.max(1, Math.round(result.ms))} ms by ${m.source}.`);
      this.#renderTokens();
      this.#renderGrid();
      await this.#loadHead();
    } catch (e) {
      if (ticket === this.#ticket) this.#hooks.error((e as Error).message);
    }
  }

  async #focusToken(index: number): Promise<void> {
    this.#focus = this.#focus === index ? null : index;
    this.#token = null;
    if (this.#focus !== null) {
      const r = await this.engine.send({ kind: 'token', index: this.#focus });
      if (r.kind === 'token' && r.index === this.#focus) this.#token = r;
    }
    this.#renderTokens();
    this.#renderGrid();
    this.#renderPattern();
    (this.#tokens.querySelector(`[data-index="${index}"]`) as HTMLElement | null)?.focus();
  }

  async #select(layer: number, head: number): Promise<void> {
    this.#selected = { layer, head };
    this.#renderGrid();
    await this.#loadHead();
  }

  async #loadHead(): Promise<void> {
    if (!this.#ran) return;
    const { layer, head } = this.#selected;
    const r = await this.engine.send({ kind: 'head', layer, head, topK: 10 });
    if (r.kind !== 'head' || r.layer !== this.#selected.layer || r.head !== this.#selected.head) return;
    this.#head = r;
    this.#renderPattern();
  }

  async #download(): Promise<void> {
    const r = await this.engine.send({ kind: 'json' });
    if (r.kind !== 'json') return;
    const a = html('a', { href: URL.createObjectURL(new Blob([r.text], { type: 'application/json' })), download: 'attention.json' });
    a.click();
    URL.revokeObjectURL(a.href);
  }

  #renderTokens(): void {
    const ran = this.#ran!;
    this.#tokens.replaceChildren(
      ...ran.tokens.map((t, i) =>
        html('button', { type: 'button', class: 'token', 'data-index': i, 'aria-pressed': String(this.#focus === i), title: `token ${i}` }, t.replaceAll(' ', '␣')),
      ),
    );
  }

  #renderGrid(): void {
    const ran = this.#ran;
    const m = this.info;
    if (!ran || !m) return;
    const cells = headGrid(m.layers, m.heads, ran.tokens, ran.summaries as Summaries, this.#stat, this.#token);
    const size = Math.max(18, Math.min(40, Math.floor(560 / m.heads)));
    const grid = html('div', {
      class: 'head-grid', role: 'group', 'data-testid': 'head-grid', 'aria-label': `${m.layers} layers × ${m.heads} heads`,
      style: `grid-template-columns: auto repeat(${m.heads}, ${size}px); grid-auto-rows: ${size}px`,
    });
    const every = Math.ceil(m.heads / Math.max(1, Math.floor((m.heads * size) / 28)));
    grid.append(html('span', {}), ...Array.from({ length: m.heads }, (_, h) => html('span', { class: 'axis' }, h % every === 0 ? `H${h}` : '')));
    for (let l = 0; l < m.layers; l++) {
      grid.append(html('span', { class: 'axis' }, `L${l}`));
      for (const c of cells.slice(l * m.heads, (l + 1) * m.heads)) {
        const selected = c.layer === this.#selected.layer && c.head === this.#selected.head;
        const b = html(
          'button',
          {
            type: 'button', class: `head-cell${selected ? ' selected' : ''}${needsLightText(c.shade) ? ' light' : ''}`, 'data-testid': 'head-cell',
            'data-layer': c.layer, 'data-head': c.head, title: c.title, 'aria-label': c.title, 'aria-pressed': String(selected),
            style: `background:${weightColour(c.shade)}`,
          },
          size >= 30 ? c.text : '',
        );
        b.addEventListener('click', () => void this.#select(c.layer, c.head));
        grid.append(b);
      }
    }
    const caption = this.#token
      ? `Each head: the weight of "${ran.tokens[this.#token.index]}"'s heaviest key (hover for the key). Choose a head to see its pattern.`
      : `Each head: ${STAT_LABELS[this.#stat]}. Choose a head to see its pattern.`;
    this.#grid.replaceChildren(html('p', { class: 'hint' }, caption), grid, renderLegend(1, this.#stat === 'entropy' && !this.#token ? 'Entropy ÷ log2 N' : 'Weight'));
  }

  #renderPattern(): void {
    const r = this.#head;
    const ran = this.#ran;
    if (!r || !ran || r.N !== ran.tokens.length) return;
    const tokens = ran.tokens.map((t) => t.replaceAll(' ', '␣'));
    const N = r.N;
    const long = N > LONG;
    const links = linksLayout(tokens, r.topKeys, r.topWeights, r.topK, { shown: this.#shown, focus: this.#focus, rowHeight: long ? 15 : 22, width: 460 });
    const font = long ? 11 : 13;
    const picture = svg(
      'svg',
      { viewBox: `0 0 ${links.width} ${px(links.height)}`, width: links.width, height: px(links.height), class: 'head-view', 'data-testid': 'links', role: 'img', 'aria-label': `Layer ${r.layer}, head ${r.head}: each token's top ${this.#shown} links` },
      ...links.lines.map((l) =>
        svg('line', { x1: links.left, y1: px(l.y1), x2: links.right, y2: px(l.y2), stroke: '#2171b5', 'stroke-width': px(l.strokeWidth), 'stroke-opacity': px(l.opacity), 'data-from': l.from, 'data-to': l.to }),
      ),
      ...tokens.flatMap((t, i) => [
        svg('text', { x: links.queryX, y: px(links.rowY(i)), 'text-anchor': 'end', 'dominant-baseline': 'middle', 'font-size': font, class: `token q${this.#focus === i ? ' focused' : ''}`, 'data-index': i }, t),
        svg('text', { x: links.keyX, y: px(links.rowY(i)), 'dominant-baseline': 'middle', 'font-size': font, class: 'token' }, t),
      ]),
    );
    picture.addEventListener('click', (event) => {
      const t = (event.target as Element).closest('text.q');
      if (t) void this.#focusToken(Number(t.getAttribute('data-index')));
    });
    const rows = Array.from({ length: N }, (_, i) => r.weights.subarray(i * r.S, (i + 1) * r.S)) as unknown as number[][];
    const matrix = renderMatrix(matrixLayout(rows, tokens, tokens, { cell: long ? 9 : 22 }), tokens, `Layer ${r.layer}, head ${r.head}`, 1, { onToken: (i) => void this.#focusToken(i) }, this.#focus);
    const focusList =
      this.#focus === null
        ? html('p', { class: 'hint' }, 'Choose a token to see only its links and its heaviest keys.')
        : html(
            'section',
            {},
            html('h4', {}, `Where "${tokens[this.#focus]}" looks in this head`),
            html(
            'ol',
            { class: 'real-top', 'data-testid': 'real-top' },
            ...Array.from({ length: r.topK }, (_, k) => [r.topKeys[this.#focus! * r.topK + k], r.topWeights[this.#focus! * r.topK + k]] as const)
              .filter(([j]) => j >= 0)
              .map(([j, w]) => html('li', {}, html('span', { class: 'tok' }, tokens[j]), ' ', html('span', { class: 'num' }, w.toFixed(3)))),
            ),
          );
    this.#pattern.replaceChildren(
      html('h3', { 'data-testid': 'pattern-title' }, `Layer ${r.layer}, head ${r.head}`),
      html('p', { class: 'hint' }, `Lines: each token's top ${this.#shown} keys, as thick as the weight.${long ? ' The heatmap pools neighbouring tokens.' : ''}`),
      html('div', { class: 'real-pattern' }, html('div', { class: 'head-scroll' }, picture), html('div', {}, matrix, focusList)),
    );
  }

  /** Shows or hides the view. */
  set hidden(value: boolean) {
    this.#root.hidden = value;
  }
}
