// The viewer page: the state of what is shown, the controls that change it, and the calls that draw each view.
// Computing is the worker's (engine.ts); geometry is layout/'s; drawing is render/'s. This file only wires them.

import type { ExplainJson } from './qkv.js';
import { Engine } from './engine.js';
import { headViewLayout, topIndices } from './layout/head-view.js';
import { matrixLayout } from './layout/matrix.js';
import { modelViewLayout } from './layout/model-view.js';
import { predictionText, strongestLink } from './layout/prediction.js';
import { headColour } from './layout/scale.js';
import { stepsModel } from './layout/steps.js';
import { html } from './render/dom.js';
import { renderFocusList, renderHeadView } from './render/head-view.js';
import { renderLegend } from './render/legend.js';
import { renderMatrix } from './render/matrix.js';
import { renderModelView } from './render/model-view.js';
import { renderSteps } from './render/steps.js';
import { droppedFolder, pickedFolder } from './models/files.js';
import { RealModelView } from './models/view.js';
import './styles.css';

type Tab = 'head' | 'matrix' | 'model' | 'steps';

/** Inputs longer than this are "long": top-k links, pooled heatmaps, a stretched colour scale. */
const LONG = 40;

interface State {
  doc: ExplainJson | null;
  /** Where the shown document came from. */
  origin: { kind: 'model'; ms: number } | { kind: 'trace'; name: string } | null;
  layer: number;
  heads: number[];
  focus: number | null;
  tab: Tab;
  topK: number;
  scale: 'fixed' | 'stretch';
  /** Whether the user chose top-k or the scale, so a new document does not override the choice. */
  chosen: { topK: boolean; scale: boolean };
}

const state: State = {
  doc: null,
  origin: null,
  layer: 0,
  heads: [],
  focus: null,
  tab: 'head',
  topK: 0,
  scale: 'fixed',
  chosen: { topK: false, scale: false },
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('sentence-form');
const input = $<HTMLInputElement>('sentence');
const statusLine = $('status');
const errorBox = $('error');
const tokensBox = $('tokens');
const predictionBox = $('prediction-text');
const layerSelect = $<HTMLSelectElement>('layer');
const headsBox = $('heads');
const topKSelect = $<HTMLSelectElement>('topk');
const scaleSelect = $<HTMLSelectElement>('scale');
const legendBox = $('legend');
const fileInput = $<HTMLInputElement>('file');
const dropOverlay = $('drop');
const TABS: Tab[] = ['head', 'matrix', 'model', 'steps'];
const tabButton = (t: Tab) => $<HTMLButtonElement>(`tab-${t}`);
const panel = (t: Tab) => $(`panel-${t}`);

const engine = new Engine();
let modelSource = '';

// ---- real models: a Hugging Face folder, served (qkv serve --model) or picked, computed in its own worker -------

let mode: 'coref' | 'real' = 'coref';
let corefReady = false;
const real = new RealModelView($('real'), { status: setStatus, error: showError, back: () => setMode('coref') });
const corefSections = [$('prediction'), document.querySelector<HTMLElement>('.tokens-section')!, $('views')];

function setMode(next: 'coref' | 'real'): void {
  mode = next;
  for (const section of corefSections) section.hidden = next === 'real';
  real.hidden = next !== 'real';
  document.querySelector<HTMLLabelElement>('label[for="sentence"]')!.textContent = next === 'real' ? 'Text' : 'Sentence';
  // Before the coreference model is loaded, its init explains when it is done.
  if (next === 'coref' && !corefReady) return;
  void explain(input.value);
}

async function openFolder(request: Parameters<RealModelView['load']>[0]): Promise<void> {
  try {
    await real.load(request);
    showError(null);
    setMode('real');
  } catch (e) {
    const name = request.kind === 'load-files' ? request.name : 'the served model';
    showError(`Could not open ${name}: ${(e as Error).message}`);
    setStatus('The model was not opened; the view is unchanged.');
  }
}

// ---- messages -------------------------------------------------------------------------------------------------

function showError(message: string | null): void {
  errorBox.hidden = message === null;
  errorBox.textContent = message ?? '';
}

function setStatus(text: string): void {
  statusLine.textContent = text;
}

// ---- computing ------------------------------------------------------------------------------------------------

let latest = 0;

async function explain(sentence: string): Promise<void> {
  if (mode === 'real') return real.explain(sentence);
  const ticket = ++latest;
  try {
    const result = await engine.explain(sentence);
    if (ticket !== latest || result.kind !== 'explained') return;
    showError(null);
    show(result.doc, { kind: 'model', ms: result.ms });
  } catch (e) {
    if (ticket !== latest) return;
    showError((e as Error).message);
  }
}

async function open(file: File): Promise<void> {
  setStatus(`Opening ${file.name}…`);
  try {
    const result = await engine.open(file.name, await file.arrayBuffer());
    showError(null);
    if (result.kind === 'trace') {
      input.value = result.doc.sentence;
      show(result.doc, { kind: 'trace', name: result.name });
    } else if (result.kind === 'model') {
      modelSource = result.model.source;
      await explain(input.value);
    }
  } catch (e) {
    showError(`Could not open ${file.name}: ${(e as Error).message}`);
    setStatus('The file was not opened; the view is unchanged.');
  }
}

// ---- state changes --------------------------------------------------------------------------------------------

function show(doc: ExplainJson, origin: NonNullable<State['origin']>): void {
  const sameTokens = state.doc !== null && state.doc.tokens.join('\u0000') === doc.tokens.join('\u0000');
  const sameShape = state.doc !== null && state.doc.layers.length === doc.layers.length && state.doc.layers[0].heads.length === doc.layers[0].heads.length;
  state.doc = doc;
  state.origin = origin;
  if (!sameShape) {
    state.layer = doc.layers.length - 1;
    state.heads = doc.layers[state.layer].heads.map((_, h) => h);
  }
  if (!sameTokens) state.focus = null;
  const long = doc.tokens.length > LONG;
  if (!state.chosen.topK) state.topK = long ? 3 : 0;
  if (!state.chosen.scale) state.scale = long ? 'stretch' : 'fixed';
  const m = doc.model;
  setStatus(
    origin.kind === 'model'
      ? `Computed in your browser in ${Math.max(1, Math.round(origin.ms))} ms by the model from ${modelSource} (${m.layers} layers × ${m.heads} heads, D = ${m.embedDim}, d = ${m.headDim}).`
      : `Showing ${origin.name}, a trace from \`qkv explain --json\` (${m.layers} layers × ${m.heads} heads, ${doc.tokens.length} tokens). Edit the sentence to compute with the model again.`,
  );
  render();
}

function selectToken(index: number | null): void {
  state.focus = state.focus === index ? null : index;
  render();
  if (state.focus !== null) (tokensBox.querySelector(`[data-index="${state.focus}"]`) as HTMLElement | null)?.focus();
}

function selectTab(tab: Tab, moveFocus = false): void {
  state.tab = tab;
  for (const t of TABS) {
    const b = tabButton(t);
    b.setAttribute('aria-selected', String(t === tab));
    b.tabIndex = t === tab ? 0 : -1;
    panel(t).hidden = t !== tab;
  }
  if (moveFocus) tabButton(tab).focus();
  renderViews();
}

// ---- drawing --------------------------------------------------------------------------------------------------

function render(): void {
  renderTokens();
  renderPrediction();
  renderControls();
  renderViews();
}

function renderTokens(): void {
  const doc = state.doc;
  if (!doc) return;
  const tabStop = state.focus ?? 0;
  tokensBox.replaceChildren(
    ...doc.tokens.map((t, i) =>
      html('button', { type: 'button', class: 'token', 'data-index': i, 'aria-pressed': String(state.focus === i), tabindex: i === tabStop ? 0 : -1, title: `token ${i + 1}` }, t),
    ),
  );
}

function renderPrediction(): void {
  const doc = state.doc;
  if (!doc) return;
  const p = predictionText(doc);
  if (!p) {
    predictionBox.replaceChildren(
      state.origin?.kind === 'trace'
        ? 'This trace has no prediction.'
        : 'No answer: the model answers for a sentence with one "it" and two nouns it knows, such as "The dog chased the ball because it was round."',
    );
    return;
  }
  const link = strongestLink(doc, doc.prediction!.pronoun, doc.prediction!.referent);
  const others = p.candidates.filter((c) => c.index !== doc.prediction!.referent);
  const button = html('button', { type: 'button', class: 'link', 'data-testid': 'show-link' }, 'Show this head');
  button.addEventListener('click', () => {
    state.layer = link.layer;
    state.heads = [link.head];
    state.focus = doc.prediction!.pronoun;
    selectTab('head');
    render();
  });
  predictionBox.replaceChildren(
    html('strong', { class: 'answer', 'data-testid': 'answer' }, p.short),
    ` The model reads "${p.pronoun}" as "${p.referent}" with probability ${p.probability.toFixed(2)}`,
    ...others.map((c) => `; "${c.token}" ${c.probability.toFixed(2)}`),
    '.',
    html('br', {}),
    `The head that looks most from "${p.pronoun}" to "${p.referent}": layer ${link.layer}, head ${link.head}, weight ${link.weight.toFixed(2)}` +
      (doc.model.supervisedHead?.layer === link.layer && doc.model.supervisedHead.head === link.head ? ' (training taught this head to do so; the other heads of its layer learned it unasked). ' : '. '),
    button,
  );
}

function renderControls(): void {
  const doc = state.doc;
  if (!doc) return;
  layerSelect.replaceChildren(...doc.layers.map((_, l) => html('option', { value: l, selected: l === state.layer }, `Layer ${l}`)));
  headsBox.replaceChildren(
    ...doc.layers[state.layer].heads.map((_, h) =>
      html(
        'label',
        { class: 'head-toggle' },
        html('input', { type: 'checkbox', value: h, checked: state.heads.includes(h), 'data-testid': `head-${h}` }),
        html('span', { class: 'swatch', style: `background:${headColour(h)}` }),
        `Head ${h}`,
      ),
    ),
    html('button', { type: 'button', class: 'small', 'data-all': 'true' }, 'All'),
  );
  topKSelect.value = String(state.topK);
  scaleSelect.value = state.scale;
}

/** The largest weight among the heads shown, for the stretched colour scale. */
function scaleMax(heads: readonly { weights: readonly (readonly number[])[] }[]): number {
  if (state.scale === 'fixed') return 1;
  let m = 0;
  for (const h of heads) for (const row of h.weights) for (const w of row) m = Math.max(m, w);
  return m > 0 ? m : 1;
}

function renderViews(): void {
  const doc = state.doc;
  if (!doc) return;
  const layer = doc.layers[state.layer];
  const shown = state.heads.map((h) => ({ head: h, trace: layer.heads[h] }));
  const N = doc.tokens.length;
  const long = N > LONG;
  const onToken = (i: number) => selectToken(i);
  const target = panel(state.tab);
  let legendMax: number | null = null;

  if (state.tab === 'head') {
    const layout = headViewLayout(
      doc.tokens,
      shown.map((s) => ({ head: s.head, weights: s.trace.weights, colour: headColour(s.head) })),
      { width: 520, rowHeight: long ? 15 : 24, topK: state.topK, focus: state.focus },
    );
    const picture = html('div', { class: 'head-scroll' }, renderHeadView(layout, state.focus, { onToken }, long ? 11 : 13));
    const side =
      state.focus === null
        ? html('p', { class: 'hint' }, 'Choose a token (above, or on the left of the drawing) to see only its lines and the exact weights.')
        : renderFocusList(
            doc.tokens[state.focus],
            shown.map((s) => {
              const row = s.trace.weights[state.focus!];
              return {
                layer: state.layer,
                head: s.head,
                colour: headColour(s.head),
                ranked: topIndices(row, 5).map((j) => ({ token: doc.tokens[j], index: j, weight: row[j] })),
              };
            }),
          );
    const notes = html(
      'p',
      { class: 'hint' },
      `Line width and opacity follow the weight; colours are heads. ${shown.length === 0 ? 'Choose at least one head.' : ''}`,
      layout.hidden > 0 && state.topK > 0 ? ` Showing each token's top ${state.topK} links; ${layout.hidden} lighter links are hidden.` : '',
    );
    target.replaceChildren(html('div', { class: 'head-layout' }, picture, side), notes);
  } else if (state.tab === 'matrix') {
    legendMax = scaleMax(shown.map((s) => s.trace));
    const max = legendMax;
    target.replaceChildren(
      html(
        'div',
        { class: 'matrices' },
        ...shown.map((s) =>
          renderMatrix(matrixLayout(s.trace.weights, doc.tokens, doc.tokens), doc.tokens, `Layer ${state.layer}, head ${s.head}`, max, { onToken }, state.focus),
        ),
      ),
      long ? html('p', { class: 'hint' }, 'Long input: neighbouring tokens are pooled; a cell holds the mean total weight of its queries on its keys.') : '',
    );
  } else if (state.tab === 'model') {
    legendMax = scaleMax(doc.layers.flatMap((l) => l.heads));
    target.replaceChildren(
      renderModelView(modelViewLayout(doc, 120), legendMax, { layer: state.layer, heads: state.heads }, (l, h) => {
        state.layer = l;
        state.heads = [h];
        renderControls();
        selectTab('matrix');
      }),
    );
  } else {
    const head = shown[0];
    const token = state.focus ?? doc.prediction?.pronoun ?? 0;
    if (!head) {
      target.replaceChildren(html('p', { class: 'hint' }, 'Choose a head to walk through its steps.'));
    } else {
      legendMax = 1;
      const where = `Token "${doc.tokens[token]}" (${token + 1} of ${N}), layer ${state.layer}, head ${head.head}${shown.length > 1 ? ' (the first head chosen)' : ''}. Choose another token above.`;
      target.replaceChildren(renderSteps(stepsModel(head.trace, doc.tokens, token, long ? 12 : 0), where));
    }
  }
  legendBox.replaceChildren(legendMax === null ? '' : renderLegend(legendMax, 'Attention weight'));
}

// ---- events ---------------------------------------------------------------------------------------------------

let typing: ReturnType<typeof setTimeout> | undefined;
input.addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(() => void explain(input.value), 250);
});
form.addEventListener('submit', (event) => {
  event.preventDefault();
  clearTimeout(typing);
  void explain(input.value);
});

tokensBox.addEventListener('click', (event) => {
  const b = (event.target as Element).closest('button.token');
  if (b) selectToken(Number(b.getAttribute('data-index')));
});
tokensBox.addEventListener('keydown', (event) => {
  const buttons = [...tokensBox.querySelectorAll<HTMLButtonElement>('button.token')];
  const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
  const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
  if (event.key === 'Escape') {
    state.focus = null;
    render();
  } else if (next !== undefined && at >= 0) {
    event.preventDefault();
    const b = buttons[Math.max(0, Math.min(buttons.length - 1, next))];
    buttons.forEach((x) => (x.tabIndex = x === b ? 0 : -1));
    b.focus();
  }
});

layerSelect.addEventListener('change', () => {
  state.layer = Number(layerSelect.value);
  render();
});
headsBox.addEventListener('change', () => {
  state.heads = [...headsBox.querySelectorAll<HTMLInputElement>('input:checked')].map((c) => Number(c.value));
  renderViews();
});
headsBox.addEventListener('click', (event) => {
  if (!(event.target as Element).closest('[data-all]') || !state.doc) return;
  state.heads = state.doc.layers[state.layer].heads.map((_, h) => h);
  render();
});
topKSelect.addEventListener('change', () => {
  state.topK = Number(topKSelect.value);
  state.chosen.topK = true;
  renderViews();
});
scaleSelect.addEventListener('change', () => {
  state.scale = scaleSelect.value === 'stretch' ? 'stretch' : 'fixed';
  state.chosen.scale = true;
  renderViews();
});

for (const t of TABS) tabButton(t).addEventListener('click', () => selectTab(t));
document.querySelector('[role="tablist"]')!.addEventListener('keydown', (event) => {
  const e = event as KeyboardEvent;
  const at = TABS.indexOf(state.tab);
  const next = { ArrowRight: (at + 1) % TABS.length, ArrowLeft: (at + TABS.length - 1) % TABS.length, Home: 0, End: TABS.length - 1 }[e.key];
  if (next === undefined) return;
  e.preventDefault();
  selectTab(TABS[next], true);
});

const folderInput = $<HTMLInputElement>('folder');
folderInput.addEventListener('change', () => {
  const picked = folderInput.files ? pickedFolder(folderInput.files) : null;
  if (picked) void openFolder({ kind: 'load-files', ...picked });
  else if (folderInput.files?.length) showError('Could not open the folder: it has no config.json; choose a Hugging Face model folder.');
  folderInput.value = '';
});

fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  if (file) void open(file);
  fileInput.value = '';
});
let dragDepth = 0;
document.addEventListener('dragenter', (event) => {
  event.preventDefault();
  dragDepth++;
  dropOverlay.hidden = false;
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) dropOverlay.hidden = true;
});
document.addEventListener('dragover', (event) => event.preventDefault());
document.addEventListener('drop', (event) => {
  event.preventDefault();
  dragDepth = 0;
  dropOverlay.hidden = true;
  const folder = event.dataTransfer ? droppedFolder(event.dataTransfer) : null;
  if (folder) {
    void folder.then((picked) =>
      picked && 'config.json' in picked.files ? openFolder({ kind: 'load-files', ...picked }) : showError('Could not open the folder: it has no config.json; drop a Hugging Face model folder.'),
    );
    return;
  }
  const file = event.dataTransfer?.files[0];
  if (file) void open(file);
});

// ---- start ----------------------------------------------------------------------------------------------------

const modelUrl = new URL('model.safetensors', document.baseURI).href;
// `qkv serve --model <folder>` serves a Hugging Face model under model/, listed in model/files.json: the page opens it.
const servedFolder = new URL('model/', document.baseURI).href;
fetch(new URL('files.json', servedFolder))
  .then((r) => (r.ok ? (r.json() as Promise<{ files?: unknown[] }>) : null))
  .then((list) => (list?.files?.length ? openFolder({ kind: 'load-url', url: servedFolder }) : undefined))
  .catch(() => undefined);
engine.init(modelUrl).then(
  (info) => {
    modelSource = new URL(info.source).pathname.slice(1);
    corefReady = true;
    return mode === 'coref' ? explain(input.value) : undefined;
  },
  (e: Error) => {
    setStatus('No model: open a .safetensors model or a trace JSON to see attention.');
    showError(`The model could not be loaded: ${e.message}`);
  },
);
