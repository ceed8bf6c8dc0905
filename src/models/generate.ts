// Text generation for decoder models, as transformers' generate: greedy by default, seeded sampling with temperature,
// top-k and top-p (in that order, as transformers' logits warpers apply them), and a key/value cache (the prompt in
// chunks, then one token at a time). Prompts of different lengths are left-padded, with the attention mask saying
// so, which the model turns into positions: each row gets the tokens it would get alone.

import { ArgumentError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { describe } from '../core/tensor.js';
import type { BackendChoice } from '../kernels/backend.js';
import { type ModelCache, type PretrainedModel } from './model.js';

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** How many tokens to add to each prompt (fewer when a stop token comes). @default 20 */
  maxNewTokens?: number;
  /** 0 = greedy (argmax); otherwise logits are divided by it before sampling. @default 0 */
  temperature?: number;
  /** Sample among the k most likely tokens only (ties at the k-th are kept, as transformers does). @default off */
  topK?: number;
  /** Sample among the smallest set of tokens whose probability reaches p. @default off */
  topP?: number;
  /** The seed of the sampler. @default 0 */
  seed?: number;
  /** Tokens that end a row; the stop token is included in the output. @default the model's eos ids */
  stopTokens?: number[];
  /** Use the key/value cache; false recomputes the whole sequence for every token (a check, and slow). @default true */
  useCache?: boolean;
  /** The prompt runs through the model in chunks of this many tokens. @default 256 */
  prefillChunk?: number;
  /** @default the global choice */
  backend?: BackendChoice;
}

const KEYS = new Set(['maxNewTokens', 'temperature', 'topK', 'topP', 'seed', 'stopTokens', 'useCache', 'prefillChunk', 'backend']);

interface Plan {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  rng: Rng;
  stop: Set<number>;
  useCache: boolean;
  prefillChunk: number;
  backend: BackendChoice | undefined;
}

/**
 * Generates tokens after each prompt; returns the new tokens of each row (a stop token included, then nothing).
 * @example generate(model, [tokenizer.encode('The cat')], { maxNewTokens: 8 })
 */
export function generate(model: PretrainedModel, prompts: number[][], options: GenerateOptions = {}): number[][] {
  const out = prompts.map(() => [] as number[]);
  for (const step of steps(model, 'generate', prompts, options)) step.forEach((t, b) => t >= 0 && out[b].push(t));
  return out;
}

/**
 * Streams the tokens generated after one prompt, as they come. The cache is released when the stream ends, also
 * when the consumer stops early.
 * @example for await (const id of stream(model, ids)) process.stdout.write(tokenizer.decode([id]));
 */
export async function* stream(model: PretrainedModel, prompt: number[], options: GenerateOptions = {}): AsyncGenerator<number> {
  for (const [token] of steps(model, 'stream', [prompt], options)) {
    yield token;
    await new Promise((resolve) => setTimeout(resolve, 0)); // let the event loop run between tokens
  }
}

/** One array per generated position: the new token of each row, or −1 for a row that has stopped. */
function* steps(model: PretrainedModel, fn: string, prompts: number[][], options: GenerateOptions): Generator<number[]> {
  const plan = checkOptions(fn, model, options);
  if (!model.config.causal) throw new ArgumentError(`${fn}: ${model.config.family} is an encoder; generation needs a decoder`);
  if (!model.hasHead) throw new ArgumentError(`${fn}: this checkpoint has no output head (lm_head), so it cannot predict tokens`);
  if (!Array.isArray(prompts) || prompts.length === 0 || !prompts.every((p) => Array.isArray(p) && p.length > 0)) {
    throw new ArgumentError(`${fn}: prompts must be non-empty arrays of token ids; got ${describe(prompts)}`);
  }
  const B = prompts.length;
  const width = Math.max(...prompts.map((p) => p.length));
  const pad = model.config.padTokenId ?? model.config.eosTokenIds[0] ?? 0;
  const ids = prompts.map((p) => [...new Array<number>(width - p.length).fill(pad), ...p]); // left-padded [B, width]
  const mask = prompts.map((p) => [...new Array<number>(width - p.length).fill(0), ...new Array<number>(p.length).fill(1)]);
  const done = new Array<boolean>(B).fill(false);

  const cache: ModelCache | null = plan.useCache ? model.createCache(B) : null;
  try {
    let logits = prefill(model, ids, mask, cache, plan);
    for (let t = 0; t < plan.maxNewTokens && !done.every(Boolean); t++) {
      const next = logits.map((row, b) => (done[b] ? -1 : pick(row, plan)));
      next.forEach((token, b) => {
        if (token >= 0 && plan.stop.has(token)) done[b] = true;
      });
      yield next;
      if (t + 1 === plan.maxNewTokens || done.every(Boolean)) break;
      const column = next.map((token) => (token < 0 ? pad : token));
      if (cache !== null) {
        logits = lastLogits(model.forward(column.map((token) => [token]), { cache, backend: plan.backend }).logits!.data, B, 1);
      } else {
        column.forEach((token, b) => {
          ids[b].push(token);
          mask[b].push(1);
        });
        logits = lastLogits(model.forward(ids, { attentionMask: mask, backend: plan.backend }).logits!.data, B, ids[0].length);
      }
    }
  } finally {
    cache?.release();
  }
}

/** Runs the prompts (in chunks with a cache) and returns the logits of the last position of each row. */
function prefill(model: PretrainedModel, ids: number[][], mask: number[][], cache: ModelCache | null, plan: Plan): Float32Array[] {
  const width = ids[0].length;
  const B = ids.length;
  if (cache === null) return lastLogits(model.forward(ids, { attentionMask: mask, backend: plan.backend }).logits!.data, B, width);
  let logits: Float32Array[] = [];
  for (let start = 0; start < width; start += plan.prefillChunk) {
    const end = Math.min(width, start + plan.prefillChunk);
    const chunk = ids.map((row) => row.slice(start, end));
    const chunkMask = mask.map((row) => row.slice(start, end));
    logits = lastLogits(model.forward(chunk, { attentionMask: chunkMask, cache, backend: plan.backend }).logits!.data, B, end - start);
  }
  return logits;
}

/** The logits [V] of the last position of each row of logits [B, N, V]. */
function lastLogits(data: Float32Array, B: number, N: number): Float32Array[] {
  const V = data.length / (B * N);
  return Array.from({ length: B }, (_, b) => data.slice(((b + 1) * N - 1) * V, (b + 1) * N * V));
}

/** The next token from one row of logits: argmax, or a seeded sample after temperature, top-k and top-p. */
export function pick(logits: Float32Array, plan: Pick<Plan, 'temperature' | 'topK' | 'topP' | 'rng'>): number {
  if (plan.temperature === 0) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const scores = Float64Array.from(logits, (x) => x / plan.temperature);
  if (plan.topK > 0 && plan.topK < scores.length) {
    const kth = Float64Array.from(scores).sort().reverse()[plan.topK - 1];
    for (let i = 0; i < scores.length; i++) if (scores[i] < kth) scores[i] = -Infinity;
  }
  let max = -Infinity;
  for (const s of scores) max = Math.max(max, s);
  const probs = scores.map((s) => Math.exp(s - max));
  const total = probs.reduce((a, b) => a + b, 0);
  for (let i = 0; i < probs.length; i++) probs[i] /= total;
  if (plan.topP < 1) {
    // transformers' TopPLogitsWarper: drop the least likely tokens whose cumulative probability stays ≤ 1 − p.
    const order = [...probs.keys()].sort((a, b) => probs[a] - probs[b] || b - a);
    let cumulative = 0;
    for (let r = 0; r < order.length - 1; r++) {
      cumulative += probs[order[r]];
      if (cumulative > 1 - plan.topP) break;
      probs[order[r]] = 0;
    }
    const kept = probs.reduce((a, b) => a + b, 0);
    for (let i = 0; i < probs.length; i++) probs[i] /= kept;
  }
  let u = plan.rng.uniform();
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i];
    if (u < 0 && probs[i] > 0) return i;
  }
  let last = probs.length - 1;
  while (probs[last] === 0) last--;
  return last;
}

function checkOptions(fn: string, model: PretrainedModel, options: GenerateOptions): Plan {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ArgumentError(`${fn}: options must be an object; got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KEYS.has(key)) throw new ArgumentError(`${fn}: unknown option "${key}"; known: ${[...KEYS].join(', ')}`);
  }
  const int = (name: keyof GenerateOptions, fallback: number, min: number): number => {
    const v = options[name] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) < min) throw new ArgumentError(`${fn}: ${name} must be an integer ≥ ${min}; got ${describe(v)}`);
    return v as number;
  };
  const temperature = options.temperature ?? 0;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw new ArgumentError(`${fn}: temperature must be a finite number ≥ 0 (0 = greedy); got ${describe(options.temperature)}`);
  }
  const topP = options.topP ?? 1;
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) throw new ArgumentError(`${fn}: topP must be in (0, 1]; got ${describe(options.topP)}`);
  const stopTokens = options.stopTokens ?? model.config.eosTokenIds;
  if (!Array.isArray(stopTokens) || !stopTokens.every((t) => Number.isSafeInteger(t) && t >= 0)) {
    throw new ArgumentError(`${fn}: stopTokens must be an array of token ids; got ${describe(options.stopTokens)}`);
  }
  const useCache = options.useCache ?? true;
  if (typeof useCache !== 'boolean') throw new ArgumentError(`${fn}: useCache must be true or false; got ${describe(options.useCache)}`);
  return {
    maxNewTokens: int('maxNewTokens', 20, 1),
    temperature,
    topK: int('topK', 0, 0),
    topP,
    rng: new Rng(int('seed', 0, 0)),
    stop: new Set(stopTokens),
    useCache,
    prefillChunk: int('prefillChunk', 256, 1),
    backend: options.backend,
  };
}
