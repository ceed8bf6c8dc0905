// What `qkv explain` prints in a terminal: the tokens, a heatmap of the weights of every layer and head, the seed's
// steps (1.1 scoring, 1.2 weighting, 1.3 aggregating) for one token in one head, and the model's answer in the seed's
// words ("it" → "cat" 0.93). A pure function from an ExplainJson document to text; heatmap.ts lays out and paints the
// grids and steps.ts writes the steps, so the tour and `qkv explain` share one rendering of them.

import { ArgumentError } from '../core/errors.js';
import { displayWidth, fitText, renderHeatmaps, renderLegend, wrapText } from './heatmap.js';
import { renderStepsRow } from './steps.js';
import type { ExplainJson } from './trace-json.js';

export interface RenderExplainOptions {
  /** ANSI colour shades for a terminal; false gives a plain-text heatmap (output that is not a TTY). */
  color: boolean;
  /**
   * Terminal columns: no line is wider (ANSI escapes count 0 columns, wide characters 2). Widths below
   * MIN_RENDER_WIDTH are treated as MIN_RENDER_WIDTH.
   * @example process.stdout.columns ?? 80
   */
  width: number;
  /**
   * The token whose steps are shown: a token of the sentence (exact, else ignoring case), or its index.
   * @default "it" when the sentence has it, else the last token
   */
  token?: string;
  /** Layer of the head whose steps are shown. @default the layer of the default head (see `head`) */
  layer?: number;
  /**
   * Head whose steps are shown.
   * @default the head giving the predicted referent the highest weight from the token, when there is a prediction;
   *   else head 0 (of layer 0, when no layer is given)
   */
  head?: number;
}

/** The narrowest width laid out; narrower terminals get lines of this width. */
export const MIN_RENDER_WIDTH = 30;

/**
 * The terminal rendering of an explained sentence, ending with a newline.
 * @throws ArgumentError when the width is not a number, the token is not in the sentence (the message lists the
 *   tokens), or layer or head is out of range.
 * @example io.stdout.write(renderExplain(doc, { color: process.stdout.isTTY === true, width: process.stdout.columns ?? 80 }))
 */
export function renderExplain(doc: ExplainJson, options: RenderExplainOptions): string {
  const fn = 'renderExplain';
  if (typeof options !== 'object' || options === null) throw new ArgumentError(`${fn}: options must be an object; got ${String(options)}`);
  if (typeof options.width !== 'number' || Number.isNaN(options.width)) {
    throw new ArgumentError(`${fn}: options.width must be a number of columns; got ${String(options.width)}`);
  }
  const width = Math.max(MIN_RENDER_WIDTH, Math.floor(options.width));
  const { tokens } = doc;
  const row = chooseToken(doc, options.token);
  const { layer, head, why } = chooseHead(doc, row, options.layer, options.head);
  const L = doc.layers.length;
  const H = doc.layers[0].heads.length;
  const wrap = (text: string) => wrapText(text, width, '  ');

  const lines: string[] = [
    ...wrap(`Sentence: ${doc.sentence}`),
    ...renderTokens(tokens, width),
    ...wrap(
      `Model: ${L} layer${L === 1 ? '' : 's'} × ${H} head${H === 1 ? '' : 's'}, ` +
        `embedding D = ${doc.model.embedDim}, head size d = ${doc.model.headDim}`,
    ),
    '',
    ...wrap('Attention weights of every layer and head: row = query token, column = key token; each row sums to 1.'),
  ];
  const grids = doc.layers.flatMap((l, li) =>
    l.heads.map((h, hi) => ({
      title: `layer ${li} head ${hi}`,
      shortTitle: `L${li} H${hi}`,
      weights: h.weights,
      blocked: h.scaledScores.map((r) => r.map((x) => x === null)),
    })),
  );
  lines.push(...renderLegend(options.color, width, grids.some((g) => g.blocked.some((r) => r.includes(true)))));
  lines.push('');
  lines.push(...renderHeatmaps(grids, tokens, { color: options.color, width }));

  const trace = doc.layers[layer].heads[head];
  const scale = 1 / Math.sqrt(doc.model.headDim);
  lines.push('');
  lines.push(...wrap(`The steps for "${tokens[row]}" (token ${row}) in layer ${layer} head ${head}: ${why}`));
  lines.push('');
  lines.push(
    ...renderStepsRow({
      queryToken: tokens[row],
      keyTokens: tokens,
      scores: trace.scores[row], // [S]
      scaled: trace.scaledScores[row], // [S]
      weights: trace.weights[row], // [S]
      values: trace.value, // [S, d]
      output: trace.output[row], // [d]
      scale: usesScale(trace.scores[row], trace.scaledScores[row], scale) ? scale : undefined,
      width,
    }),
  );
  if (doc.prediction) {
    lines.push('');
    lines.push(...wrap(renderPrediction(doc)));
  }
  return lines.join('\n') + '\n';
}

/** "Tokens: 0 The  1 cat  2 sat …", wrapped to `width` between tokens, never inside "index token". */
export function renderTokens(tokens: readonly string[], width: number): string[] {
  const lines: string[] = [];
  let line = 'Tokens:';
  tokens.forEach((t, i) => {
    const item = fitText(`${i} ${t}`, width - 2);
    const next = `${line}${i === 0 ? ' ' : '  '}${item}`;
    if (displayWidth(next) <= width) line = next;
    else {
      lines.push(line);
      line = `  ${item}`;
    }
  });
  lines.push(line);
  return lines;
}

/** The model's answer in the seed's words: `Prediction: "it" → "cat" 0.93 (the other candidate: "mat" 0.07)`. */
export function renderPrediction(doc: ExplainJson): string {
  const p = doc.prediction;
  if (!p) return 'Prediction: none (this model makes no prediction)';
  const name = (i: number) => `"${doc.tokens[i] ?? `#${i}`}"`;
  const probability = (i: number) => {
    const k = p.candidates.indexOf(i);
    return k >= 0 && typeof p.probabilities[k] === 'number' ? ` ${p.probabilities[k].toFixed(2)}` : '';
  };
  const others = p.candidates.filter((c) => c !== p.referent).map((c) => `${name(c)}${probability(c)}`);
  const rest = others.length === 0 ? '' : ` (the other candidate${others.length === 1 ? '' : 's'}: ${others.join(', ')})`;
  return `Prediction: ${name(p.pronoun)} → ${name(p.referent)}${probability(p.referent)}${rest}`;
}

/** The index of the token to follow; see RenderExplainOptions.token. */
export function chooseToken(doc: ExplainJson, token: string | undefined): number {
  const { tokens } = doc;
  const pronoun = doc.prediction?.pronoun;
  const find = (wanted: string): number => {
    const matches = (same: (t: string) => boolean) => {
      if (pronoun !== undefined && same(tokens[pronoun] ?? '')) return pronoun;
      return tokens.findIndex(same);
    };
    const exact = matches((t) => t === wanted);
    return exact >= 0 ? exact : matches((t) => t.toLowerCase() === wanted.toLowerCase());
  };
  if (token === undefined) {
    const it = find('it');
    return it >= 0 ? it : tokens.length - 1;
  }
  const found = find(token);
  if (found >= 0) return found;
  if (/^\d+$/.test(token) && Number(token) < tokens.length) return Number(token);
  throw new ArgumentError(
    `renderExplain: token must be a token of the sentence or its index (0 to ${tokens.length - 1}); got ` +
      `${JSON.stringify(token)}; the tokens are ${tokens.map((t, i) => `${i} ${JSON.stringify(t)}`).join(', ')}`,
  );
}

/** The layer and head whose steps are shown for token `row`, and why; see RenderExplainOptions.head. */
export function chooseHead(
  doc: ExplainJson,
  row: number,
  layer: number | undefined,
  head: number | undefined,
): { layer: number; head: number; why: string } {
  const L = doc.layers.length;
  const H = doc.layers[0].heads.length;
  for (const [name, value, count, letter] of [['layer', layer, L, 'L'], ['head', head, H, 'H']] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value < count)) {
      throw new ArgumentError(`renderExplain: ${name} must be an integer in [0, ${letter}) with ${letter} = ${count}; got ${value}`);
    }
  }
  if (layer !== undefined && head !== undefined) return { layer, head, why: 'as asked.' };
  const p = doc.prediction;
  if (p === undefined) {
    return { layer: layer ?? 0, head: head ?? 0, why: 'there is no prediction to choose a head by, so the first one is shown.' };
  }
  let best = { layer: layer ?? 0, head: head ?? 0, weight: -Infinity };
  let count = 0;
  doc.layers.forEach((l, li) =>
    l.heads.forEach((h, hi) => {
      if ((layer !== undefined && li !== layer) || (head !== undefined && hi !== head)) return;
      count++;
      const w = h.weights[row][p.referent];
      if (w > best.weight) best = { layer: li, head: hi, weight: w };
    }),
  );
  const me = `"${doc.tokens[row]}"`;
  const referent = `"${doc.tokens[p.referent]}"`;
  const asked = layer !== undefined || head !== undefined;
  const among = count === 1 ? `the only head${asked ? ' asked for' : ''}` : `of the ${count} heads${layer !== undefined ? ` in layer ${layer}` : head !== undefined ? ` numbered ${head}` : ''}`;
  const supervised = doc.model.supervisedHead;
  const trained =
    supervised?.layer === best.layer && supervised.head === best.head
      ? ' Training taught this head to attend from the pronoun to the referent (an attention loss); the other heads of' +
        ' its layer learned it unasked (docs/LEARNING.md).'
      : '';
  return {
    layer: best.layer,
    head: best.head,
    why: `${among}, it gives the predicted referent ${referent} the most weight from ${me} (${best.weight.toFixed(3)}).${trained}`,
  };
}

/** Whether every unblocked scaled score is the raw score × `scale` (no softcap or bias), so the scale can be printed. */
function usesScale(scores: readonly number[], scaled: readonly (number | null)[], scale: number): boolean {
  const big = Math.max(0, ...scores.map(Math.abs));
  return scores.every((s, j) => scaled[j] === null || Math.abs((scaled[j] as number) - s * scale) <= 1e-5 * (1 + big * scale));
}
