// The attention of a real (Hugging Face) model on one text, as a compact, versioned JSON document ("qkv.attention",
// version 1) and as terminal text: a head grid (layers × heads, one summary per head), one head's heatmap over the
// tokens, and the heaviest keys of one token in every head. It mirrors what bertviz shows for transformers'
// `output_attentions=True`, kept bounded for long inputs: every head's weights are kept only while all of them
// together stay under a size (maxWeights numbers); past it each head keeps, per query token, its top-k keys.
// Per-head summaries are computed from the full weights in either case.
//
//   runAttention(model, text)           tokens, ids and the forward's attentions (L of [1, H, N, S])
//   buildAttentionJson(model, run, …)   the document
//   parseAttentionJson(text)            the document checked, or a FormatError naming the first problem
//   renderModelAttention(doc, …)        the terminal rendering

import { ArgumentError, FormatError, ModelError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { PretrainedModel } from '../models/model.js';
import { COLOR_RAMP, displayWidth, fitText, padEndDisplay, renderHeatmaps, renderLegend, shadeIndex, wrapText } from './heatmap.js';
import { MIN_RENDER_WIDTH, renderTokens } from './render.js';

// ---------------------------------------------------------------------------------------------------------------
// The document.

/** Per-head summaries, each a mean over the query tokens of one row of weights. */
export interface HeadSummary {
  /** Mean entropy of a query's weights, in bits: 0 = all on one key, log2(keys seen) = spread evenly. */
  entropy: number;
  /** Mean largest weight of a query: 1 = every query looks at one key. */
  max: number;
  /** Mean weight on the first token (an "attention sink" when high). */
  first: number;
  /** Mean weight on the previous token, over queries 1..N−1 (a previous-token head when high). */
  previous: number;
  /** Mean weight of a query on itself. */
  self: number;
}

/** The names of the summaries, in the order the grid offers them. */
export const HEAD_STATS = ['max', 'entropy', 'first', 'previous', 'self'] as const;
export type HeadStat = (typeof HEAD_STATS)[number];

/** One head of one layer: its summary, and either its full weights or each query's top-k keys. */
export interface AttentionHeadJson extends HeadSummary {
  /** [N, S] weights (rows = queries), rounded to 6 decimals; present when the document keeps full weights. */
  weights?: number[][];
  /** Per query i, its heaviest keys as [key index, weight] pairs, heaviest first (zero weights left out). */
  top?: [number, number][][];
}

export interface AttentionJson {
  format: 'qkv.attention';
  version: 1;
  /** The text as given. */
  text: string;
  /** A printable piece per token (the tokenizer's own strings, e.g. "Ġworld" for GPT-2). */
  tokens: string[];
  /** The token ids, [N]. */
  ids: number[];
  model: {
    /** Where it was loaded from: a folder, a Hub id, or "the chosen files". */
    source: string;
    family: string;
    /** L, H, Hkv, D, d, V */
    layers: number;
    heads: number;
    kvHeads: number;
    hiddenSize: number;
    headDim: number;
    vocabSize: number;
    /** A decoder: query i sees keys 0..i only. */
    causal: boolean;
  };
  /** What the builder kept: full weights while L·H·N·S ≤ maxWeights, else each query's topK keys. */
  limits: { maxWeights: number; topK: number };
  /** layers[l].heads[h] */
  layers: { heads: AttentionHeadJson[] }[];
}

/** A forward of a model on one text: what {@link buildAttentionJson} reads. */
export interface AttentionRun {
  text: string;
  ids: number[];
  tokens: string[];
  /** One [1, H, N, S] tensor per layer (S = N), as `forward(…, { returnAttentions: true })` gives. */
  attentions: Tensor[];
}

export interface AttentionJsonOptions {
  /** Names the model in the document. @default "a model" */
  source?: string;
  /**
   * Full weights are kept while L·H·N·S stays at or below this many numbers (2^20 ≈ 8 MB of JSON); else only top-k.
   * @default 1048576
   * @example GPT-2 small (144 heads) keeps full weights up to 85 tokens.
   */
  maxWeights?: number;
  /** Keys kept per query when the weights are not kept in full. @default 5 */
  topK?: number;
  /** Heads that keep their full weights whatever the size (the CLI's --layer and --head). @default none */
  keepFull?: (layer: number, head: number) => boolean;
}

export const DEFAULT_MAX_WEIGHTS = 1 << 20;
export const DEFAULT_TOP_K = 5;

/**
 * Tokenizes `text` with the model's tokenizer (its special tokens included, as the model was trained: BERT's [CLS]
 * and [SEP], Llama's <s>) and runs the model once, returning every layer's attention weights [1, H, N, S].
 * @throws ModelError when the model has no tokenizer; ArgumentError for an empty text or one longer than the model's
 *   positions.
 */
export function runAttention(model: PretrainedModel, text: string): AttentionRun {
  const fn = 'runAttention';
  const tokenizer = model.tokenizer;
  if (tokenizer === null) {
    throw new ModelError(`${fn}: the model has no tokenizer.json, so text cannot be turned into tokens`, { file: 'tokenizer.json' });
  }
  if (typeof text !== 'string') throw new ArgumentError(`${fn}: text must be a string; got ${typeof text}`);
  const ids = tokenizer.encode(text);
  if (ids.length === 0) throw new ArgumentError(`${fn}: the text gives no tokens; give some text`);
  const c = model.config;
  if (c.ropeTheta === null && ids.length > c.maxPositionEmbeddings) {
    throw new ArgumentError(`${fn}: the text has ${ids.length} tokens; this ${c.family} model reads at most ${c.maxPositionEmbeddings} (max_position_embeddings)`);
  }
  const { attentions } = model.forward([ids], { returnAttentions: true });
  return { text, ids, tokens: tokenizer.tokenStrings(ids), attentions: attentions! };
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** The summaries of one head: `w` holds its [N, S] weights from `offset`. */
export function summarizeHead(w: ArrayLike<number>, offset: number, N: number, S: number): HeadSummary {
  let entropy = 0;
  let max = 0;
  let first = 0;
  let previous = 0;
  let self = 0;
  for (let i = 0; i < N; i++) {
    const row = offset + i * S;
    let h = 0;
    let m = 0;
    for (let j = 0; j < S; j++) {
      const x = w[row + j];
      if (x > 0) h -= x * Math.log2(x);
      if (x > m) m = x;
    }
    entropy += h;
    max += m;
    first += w[row];
    const q = S - N + i; // the query's own position among the keys
    if (q >= 1) previous += w[row + q - 1];
    self += w[row + q];
  }
  return {
    entropy: round6(entropy / N),
    max: round6(max / N),
    first: round6(first / N),
    previous: N > 1 || S > N ? round6(previous / (S > N ? N : N - 1)) : 0,
    self: round6(self / N),
  };
}

/** The k heaviest keys of row i as [key, weight] pairs, heaviest first (ties by position), zero weights left out. */
export function topKeys(w: ArrayLike<number>, offset: number, S: number, k: number): [number, number][] {
  const best: [number, number][] = [];
  for (let j = 0; j < S; j++) {
    const x = w[offset + j];
    if (!(x > 0)) continue;
    if (best.length === k && x <= best[k - 1][1]) continue;
    let at = best.length;
    while (at > 0 && best[at - 1][1] < x) at--;
    best.splice(at, 0, [j, x]);
    if (best.length > k) best.pop();
  }
  return best;
}

/**
 * The document of one forward (see {@link AttentionJson} and {@link AttentionJsonOptions} for what is kept).
 * @example const doc = buildAttentionJson(model, runAttention(model, 'The cat sat'), { source: './gpt2' });
 */
export function buildAttentionJson(model: PretrainedModel, run: AttentionRun, options: AttentionJsonOptions = {}): AttentionJson {
  const fn = 'buildAttentionJson';
  const c = model.config;
  const maxWeights = options.maxWeights ?? DEFAULT_MAX_WEIGHTS;
  const topK = options.topK ?? DEFAULT_TOP_K;
  if (!(maxWeights >= 0)) throw new ArgumentError(`${fn}: maxWeights must be a number ≥ 0; got ${maxWeights}`);
  if (!Number.isSafeInteger(topK) || topK < 1) throw new ArgumentError(`${fn}: topK must be an integer ≥ 1; got ${topK}`);
  const L = run.attentions.length;
  const N = run.ids.length;
  let total = 0;
  for (const a of run.attentions) total += a.size;
  const full = total <= maxWeights;
  const layers = run.attentions.map((a, l) => {
    const [B, H, rows, S] = a.shape; // [1, H, N, S]
    if (B !== 1 || rows !== N) throw new ArgumentError(`${fn}: attentions[${l}] must be [1, H, N, S] with N = ${N}; got [${a.shape.join(', ')}]`);
    const heads: AttentionHeadJson[] = [];
    for (let h = 0; h < H; h++) {
      const offset = h * N * S;
      const head: AttentionHeadJson = summarizeHead(a.data, offset, N, S);
      if (full || options.keepFull?.(l, h) === true) {
        head.weights = Array.from({ length: N }, (_, i) => Array.from(a.data.subarray(offset + i * S, offset + (i + 1) * S), round6));
      } else {
        head.top = Array.from({ length: N }, (_, i) => topKeys(a.data, offset + i * S, S, topK).map(([j, x]): [number, number] => [j, round6(x)]));
      }
      heads.push(head);
    }
    return { heads };
  });
  return {
    format: 'qkv.attention',
    version: 1,
    text: run.text,
    tokens: run.tokens,
    ids: run.ids,
    model: {
      source: options.source ?? 'a model',
      family: c.family,
      layers: L,
      heads: c.numAttentionHeads,
      kvHeads: c.numKeyValueHeads,
      hiddenSize: c.hiddenSize,
      headDim: c.headDim,
      vocabSize: c.vocabSize,
      causal: c.causal,
    },
    limits: { maxWeights, topK },
    layers,
  };
}

/**
 * Parses and checks a "qkv.attention" document, so a wrong file fails with a message that says what is wrong.
 * @throws FormatError naming the first problem found.
 */
export function parseAttentionJson(text: string): AttentionJson {
  const fail = (what: string): never => {
    throw new FormatError(`parseAttentionJson: ${what}; expected the output of \`qkv explain --model … --json\``);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail(`not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return fail('the document is not an object');
  const d = doc as Partial<AttentionJson>;
  if (d.format !== 'qkv.attention') return fail(`format is ${JSON.stringify(d.format)}, not "qkv.attention"`);
  if (d.version !== 1) return fail(`version ${JSON.stringify(d.version)} is not supported (only 1)`);
  if (typeof d.text !== 'string') return fail('text must be a string');
  if (!Array.isArray(d.tokens) || d.tokens.length === 0 || !d.tokens.every((t) => typeof t === 'string')) return fail('tokens must be a non-empty array of strings');
  const N = d.tokens.length;
  if (!Array.isArray(d.ids) || d.ids.length !== N || !d.ids.every((x) => Number.isSafeInteger(x) && x >= 0)) {
    return fail(`ids must be ${N} token ids, one per token`);
  }
  const m = d.model;
  if (typeof m !== 'object' || m === null) return fail('model must be an object');
  if (typeof m.source !== 'string' || typeof m.family !== 'string') return fail('model.source and model.family must be strings');
  for (const key of ['layers', 'heads', 'kvHeads', 'hiddenSize', 'headDim', 'vocabSize'] as const) {
    if (!Number.isSafeInteger(m[key]) || m[key] < 1) return fail(`model.${key} must be a positive integer; got ${JSON.stringify(m[key])}`);
  }
  if (typeof m.causal !== 'boolean') return fail('model.causal must be true or false');
  const lim = d.limits;
  if (typeof lim !== 'object' || lim === null || !(lim.maxWeights >= 0) || !Number.isSafeInteger(lim.topK) || lim.topK < 1) {
    return fail('limits must be { maxWeights ≥ 0, topK ≥ 1 }');
  }
  if (!Array.isArray(d.layers) || d.layers.length !== m.layers) return fail(`layers must be an array of model.layers = ${m.layers} layers`);
  const weight = (x: unknown) => typeof x === 'number' && x >= 0 && x <= 1.000001;
  d.layers.forEach((layer, l) => {
    if (typeof layer !== 'object' || layer === null || !Array.isArray(layer.heads) || layer.heads.length !== m.heads) {
      fail(`layer ${l} must have model.heads = ${m.heads} heads`);
    }
    layer.heads.forEach((head, h) => {
      const where = `layer ${l} head ${h}`;
      if (typeof head !== 'object' || head === null) fail(`${where} is not an object`);
      for (const stat of HEAD_STATS) {
        if (typeof head[stat] !== 'number' || !Number.isFinite(head[stat])) fail(`${where}: ${stat} must be a number`);
      }
      if (head.weights !== undefined) {
        if (!Array.isArray(head.weights) || head.weights.length !== N) fail(`${where}: weights must be [N, S] with N = ${N}`);
        const S = Array.isArray(head.weights[0]) ? head.weights[0].length : -1;
        if (S < N || !head.weights.every((r) => Array.isArray(r) && r.length === S && r.every(weight))) {
          fail(`${where}: weights must be [N, S] with N = ${N}, every weight in [0, 1]`);
        }
      } else if (head.top !== undefined) {
        if (!Array.isArray(head.top) || head.top.length !== N) fail(`${where}: top must have one list per token (N = ${N})`);
        head.top.forEach((row, i) => {
          const ok =
            Array.isArray(row) &&
            row.length <= lim.topK &&
            row.every((p) => Array.isArray(p) && p.length === 2 && Number.isSafeInteger(p[0]) && p[0] >= 0 && p[0] < N && weight(p[1]));
          if (!ok) fail(`${where}: top[${i}] must be at most ${lim.topK} [key index < ${N}, weight in [0, 1]] pairs`);
        });
      } else {
        fail(`${where} has neither weights nor top`);
      }
    });
  });
  return d as AttentionJson;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the document.

/** The [N, S] weights of a head: its full weights, or its top-k keys with 0 elsewhere (`exact` says which). */
export function headWeights(doc: AttentionJson, layer: number, head: number): { weights: number[][]; exact: boolean } {
  const h = doc.layers[layer].heads[head];
  if (h.weights) return { weights: h.weights, exact: true };
  const N = doc.tokens.length;
  const weights = Array.from({ length: N }, () => new Array<number>(N).fill(0));
  h.top!.forEach((row, i) => row.forEach(([j, w]) => (weights[i][j] = w)));
  return { weights, exact: false };
}

/** The k heaviest keys of token `row` in one head, as [key, weight] pairs. */
export function headTop(doc: AttentionJson, layer: number, head: number, row: number, k: number): [number, number][] {
  const h = doc.layers[layer].heads[head];
  if (h.top) return h.top[row].slice(0, k);
  const w = h.weights![row];
  return topKeys(w, 0, w.length, k);
}

/** A token without its tokenizer's word marker (GPT-2's "Ġ", SentencePiece's "▁", WordPiece's "##"). */
function bare(token: string): string {
  return token.replace(/^(?:Ġ|▁|##| )+/, '').toLowerCase();
}

/**
 * The index of a token: its printable piece, the same without the word marker and case ("world" finds "Ġworld"),
 * or an index. The first match counts.
 * @throws ArgumentError listing (the first 40 of) the tokens when none matches.
 */
export function findModelToken(tokens: readonly string[], wanted: string): number {
  const exact = tokens.indexOf(wanted);
  if (exact >= 0) return exact;
  const loose = tokens.findIndex((t) => bare(t) === bare(wanted) && bare(wanted) !== '');
  if (loose >= 0) return loose;
  if (/^\d+$/.test(wanted) && Number(wanted) < tokens.length) return Number(wanted);
  const shown = tokens.slice(0, 40).map((t, i) => `${i} ${JSON.stringify(t)}`).join(', ');
  throw new ArgumentError(
    `token must be a token of the text or its index (0 to ${tokens.length - 1}); got ${JSON.stringify(wanted)}; ` +
      `the tokens are ${shown}${tokens.length > 40 ? `, … (${tokens.length} in all)` : ''}`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The terminal rendering.

export interface RenderModelOptions {
  /** ANSI colours for a terminal; false gives plain text. */
  color: boolean;
  /** Terminal columns; no line is wider. Widths below MIN_RENDER_WIDTH are treated as MIN_RENDER_WIDTH. */
  width: number;
  /** Show the heatmaps of this layer's heads (with `head`: of one head). */
  layer?: number;
  /** Show the heatmaps of this head in every layer (with `layer`: of one head). */
  head?: number;
  /** List the heaviest keys of this token (a token of the text or its index) in the heads shown. */
  token?: string;
  /** Keys listed per head with `token`. @default 3 */
  top?: number;
  /** The summary in the head grid. @default "max" */
  stat?: HeadStat;
}

const STAT_TITLES: Record<HeadStat, string> = {
  max: "mean largest weight of a query (1 = each token looks at one token)",
  entropy: 'mean entropy of a query\'s weights, in bits (0 = focused on one token; high = spread out)',
  first: 'mean weight on the first token (high = the first token is a resting place, an "attention sink")',
  previous: 'mean weight on the previous token (high = a previous-token head)',
  self: 'mean weight of a token on itself',
};

/** A token as the terminal shows it: spaces as "␣", so that " cat" and "cat" differ and no label starts blank. */
function visible(token: string): string {
  return token.replaceAll(' ', '␣');
}

/** Tokens listed in full above the grid; longer inputs list the first ones. */
const LISTED_TOKENS = 64;
/** Heatmaps of longer inputs pool neighbouring tokens into bins, at most this many per side. */
const HEATMAP_BINS = 48;

/**
 * What `qkv explain --model` prints: the model, the tokens, a head grid of one summary, and, as asked, heatmaps of
 * chosen heads and one token's heaviest keys. Ends with a newline.
 * @throws ArgumentError for a layer, head or token out of range.
 */
export function renderModelAttention(doc: AttentionJson, options: RenderModelOptions): string {
  const fn = 'renderModelAttention';
  const width = Math.max(MIN_RENDER_WIDTH, Math.floor(options.width));
  const { model: m } = doc;
  const tokens = doc.tokens.map(visible);
  const N = tokens.length;
  const L = doc.layers.length;
  const H = doc.layers[0].heads.length;
  for (const [name, value, count, letter] of [['layer', options.layer, L, 'L'], ['head', options.head, H, 'H']] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value < count)) {
      throw new ArgumentError(`${fn}: ${name} must be an integer in [0, ${letter}) with ${letter} = ${count}; got ${value}`);
    }
  }
  const stat = options.stat ?? 'max';
  const top = options.top ?? 3;
  const row = options.token === undefined ? null : findModelToken(doc.tokens, options.token);
  const wrap = (text: string) => wrapText(text, width, '  ');

  const kv = m.kvHeads === m.heads ? '' : ` (${m.kvHeads} key/value heads)`;
  const lines: string[] = [
    ...wrap(`Model: ${m.family} from ${m.source}: ${L} layer${L === 1 ? '' : 's'} × ${H} heads${kv}, D = ${m.hiddenSize}, d = ${m.headDim}, ${m.causal ? 'causal (a token sees itself and the tokens before it)' : 'attending both ways'}`),
    ...wrap(`Text: ${doc.text}`),
    // Laid out narrower by the count's width, which goes into the first line.
    ...renderTokens(tokens.slice(0, LISTED_TOKENS), width - ` (${N})`.length).map((line, i) => (i === 0 ? line.replace(/^Tokens:/, `Tokens (${N}):`) : line)),
  ];
  if (N > LISTED_TOKENS) lines.push(`  … ${N - LISTED_TOKENS} more (--token takes an index)`);
  lines.push('');
  lines.push(...wrap(`Heads: ${STAT_TITLES[stat]}. Rows are layers, columns heads.`));
  lines.push(...renderHeadGrid(doc, stat, options.color, width));
  lines.push(...wrap(headline(doc, stat)));

  const chosen: [number, number][] = [];
  if (options.layer !== undefined || options.head !== undefined) {
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
      if ((options.layer === undefined || options.layer === l) && (options.head === undefined || options.head === h)) chosen.push([l, h]);
    }
  }
  if (chosen.length > 0 && row === null) {
    lines.push('');
    lines.push(...renderChosenHeatmaps(doc, chosen, options.color, width));
  }
  if (row !== null) {
    const heads = chosen.length > 0 ? chosen : doc.layers.flatMap((_, l) => doc.layers[l].heads.map((__, h): [number, number] => [l, h]));
    lines.push('');
    lines.push(...wrap(`Where "${tokens[row]}" (token ${row}) looks: its ${top} heaviest key${top === 1 ? '' : 's'} in ${heads.length === 1 ? 'the head' : `each of the ${heads.length} heads`}, with the weights.`));
    if (doc.layers[heads[0][0]].heads[heads[0][1]].top && top > doc.limits.topK) {
      lines.push(...wrap(`  (the document kept ${doc.limits.topK} keys per token)`));
    }
    const labelWidth = `L${L - 1} H${H - 1}`.length + 2;
    for (const [l, h] of heads) {
      const items = headTop(doc, l, h, row, top).map(([j, w]) => `${j} ${fitText(tokens[j], 12)} ${w.toFixed(3)}`);
      let line = padEndDisplay(`L${l} H${h}`, labelWidth);
      for (const item of items) {
        const next = line.endsWith(' ') ? line + item : `${line}  ${item}`;
        if (displayWidth(next) > width) break;
        line = next;
      }
      lines.push(line.trimEnd());
    }
  }
  if (chosen.length === 0 && row === null) {
    lines.push('');
    lines.push(...wrap('--layer L --head H shows a head\'s weights over the tokens; --token T lists where a token looks in every head; --json prints it all.'));
  }
  return lines.map((line) => line.trimEnd()).join('\n') + '\n';
}

/** The grid of one summary: a row per layer, a column per head, in bands of heads when they do not fit. */
export function renderHeadGrid(doc: AttentionJson, stat: HeadStat, color: boolean, width: number): string[] {
  const L = doc.layers.length;
  const H = doc.layers[0].heads.length;
  const N = doc.tokens.length;
  const format = (x: number) => x.toFixed(2);
  const cellWidth = Math.max(4, ...doc.layers.flatMap((l) => l.heads.map((h) => format(h[stat]).length))) + 2;
  const labelWidth = `L${L - 1}`.length + 1;
  const perBand = Math.max(1, Math.floor((width - labelWidth) / cellWidth));
  // Shades: weights are in [0, 1]; entropy is shaded by its share of the most it can be, log2 N.
  const shade = (x: number) => (stat === 'entropy' ? (N > 1 ? x / Math.log2(N) : 0) : x);
  const lines: string[] = [];
  for (let from = 0; from < H; from += perBand) {
    const to = Math.min(H, from + perBand);
    if (from > 0) lines.push('');
    let header = ' '.repeat(labelWidth);
    for (let h = from; h < to; h++) header += `H${h}`.padStart(cellWidth - 1).padEnd(cellWidth);
    lines.push(header);
    for (let l = 0; l < L; l++) {
      let line = `L${l}`.padEnd(labelWidth);
      for (let h = from; h < to; h++) {
        const x = doc.layers[l].heads[h][stat];
        const text = format(x).padStart(cellWidth - 1) + ' ';
        if (!color) {
          line += text;
          continue;
        }
        const k = Math.max(0, shadeIndex(shade(x)));
        // Light text on the dark end of viridis, dark text on the light end.
        line += `\x1b[48;5;${COLOR_RAMP[k]}m\x1b[38;5;${k < 6 ? 255 : 16}m${text}\x1b[0m`;
      }
      lines.push(line);
    }
  }
  return lines;
}

/** "The highest: L1 H2 (0.93); the lowest: L0 H3 (0.41)." */
function headline(doc: AttentionJson, stat: HeadStat): string {
  let hi = { l: 0, h: 0, x: -Infinity };
  let lo = { l: 0, h: 0, x: Infinity };
  doc.layers.forEach((layer, l) =>
    layer.heads.forEach((head, h) => {
      if (head[stat] > hi.x) hi = { l, h, x: head[stat] };
      if (head[stat] < lo.x) lo = { l, h, x: head[stat] };
    }),
  );
  return `Highest: L${hi.l} H${hi.h} (${hi.x.toFixed(2)}); lowest: L${lo.l} H${lo.h} (${lo.x.toFixed(2)}).`;
}

/** Heatmaps of the chosen heads; an input longer than HEATMAP_BINS tokens is pooled into bins. */
function renderChosenHeatmaps(doc: AttentionJson, chosen: readonly [number, number][], color: boolean, width: number): string[] {
  const tokens = doc.tokens.map(visible);
  const N = tokens.length;
  const bin = Math.ceil(N / HEATMAP_BINS);
  const bins = Math.ceil(N / bin);
  const labels = bin === 1 ? tokens : Array.from({ length: bins }, (_, b) => `${b * bin}–${Math.min(N, (b + 1) * bin) - 1}`);
  const lines: string[] = [];
  let approximate = false;
  const grids = chosen.map(([l, h]) => {
    const { weights, exact } = headWeights(doc, l, h);
    approximate ||= !exact;
    const pooled = bin === 1 ? weights : pool(weights, bin);
    const blocked = doc.model.causal ? pooled.map((r, i) => r.map((_, j) => j * bin > Math.min(N, (i + 1) * bin) - 1)) : undefined;
    return { title: `layer ${l} head ${h}`, shortTitle: `L${l} H${h}`, weights: pooled, blocked };
  });
  const wrap = (text: string) => wrapText(text, width, '  ');
  lines.push(...wrap(`Attention weights of ${chosen.length === 1 ? 'the head' : `${chosen.length} heads`}: row = query token, column = key token; each row sums to 1.`));
  if (bin > 1) lines.push(...wrap(`The ${N} tokens are pooled into bins of ${bin}: a cell is the mean, over its query tokens, of their total weight on its key tokens.`));
  if (approximate) lines.push(...wrap(`This document kept only each token's top ${doc.limits.topK} weights; the others show as 0.`));
  lines.push(...renderLegend(color, width, grids.some((g) => g.blocked?.some((r) => r.includes(true)) ?? false)));
  lines.push('');
  lines.push(...renderHeatmaps(grids, labels, { color, width }));
  return lines;
}

/** [N, N] weights pooled into bins of `bin` tokens: the mean over a bin's queries of their total weight on a bin's keys. */
function pool(weights: readonly (readonly number[])[], bin: number): number[][] {
  const N = weights.length;
  const S = weights[0].length;
  const rows = Math.ceil(N / bin);
  const cols = Math.ceil(S / bin);
  const out = Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
  for (let i = 0; i < N; i++) for (let j = 0; j < S; j++) out[Math.floor(i / bin)][Math.floor(j / bin)] += weights[i][j];
  for (let r = 0; r < rows; r++) {
    const count = Math.min(N, (r + 1) * bin) - r * bin;
    for (let c = 0; c < cols; c++) out[r][c] /= count;
  }
  return out;
}
