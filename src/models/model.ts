// PretrainedModel: a Hugging Face checkpoint of one of the supported families, loaded from a ModelFiles folder, with
// a forward that returns what transformers' forward returns (logits, last hidden state, hidden states, attentions)
// and a key/value cache for generation.
//
// Deliberate differences from transformers (docs/MODELS.md):
// - positions come from the attention mask (cumsum − 1, as transformers' generate does), in forward too, so a padded
//   batch gives every real token what its unpadded sequence gives; transformers' forward uses 0..N−1 unless told;
// - a query with no allowed key (a left-padding position) outputs 0, never NaN.

import { ArgumentError, ModelError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';
import type { BackendChoice } from '../kernels/backend.js';
import { checkBackend } from '../ops/attention.js';
import { Var, noGrad } from '../autograd/var.js';
import { bert } from './bert.js';
import { type ForwardContext, type LayerCache, type Probe, Weights } from './blocks.js';
import { type ModelConfig, type ModelFamily, parseConfig, ropeInverseFrequencies } from './config.js';
import { type Family, type FamilyOutput } from './family.js';
import { type ModelFiles, readJson } from './files.js';
import { type GenerateOptions, generate, stream } from './generate.js';
import { gpt2 } from './gpt2.js';
import { llama } from './llama.js';
import type { PretrainedTokenizer } from './tokenizer.js';
import { indexWeights, readWeight } from './weights.js';

const FAMILY: Record<ModelFamily, Family> = { gpt2, bert, llama, mistral: llama, qwen2: llama };

/** Options of {@link PretrainedModel.forward}. */
export interface ForwardOptions {
  /**
   * [B, N] (or [B, past + N] with a cache, as transformers takes it): 1 = a real token, 0 = padding.
   * @default all ones
   */
  attentionMask?: number[][];
  /** BERT: [B, N] segment ids. @default all zeros */
  tokenTypeIds?: number[][];
  /** Also return each layer's attention weights [B, H, N, S]. @default false */
  returnAttentions?: boolean;
  /** Also return the hidden states, transformers' output_hidden_states (L + 1 of [B, N, D]). @default false */
  returnHiddenStates?: boolean;
  /** Continue from the tokens this cache holds (decoders); it grows by N when the call succeeds. */
  cache?: ModelCache;
  /** The backend of the projections and the attention; see setBackend. @default the global choice */
  backend?: BackendChoice;
}

export interface ForwardOutput {
  /** [B, N, V], for checkpoints with an output head */
  logits?: Tensor;
  /** [B, N, D] */
  lastHiddenState: Tensor;
  /** One [B, H, N, S] per layer, when asked */
  attentions?: Tensor[];
  /** L + 1 of [B, N, D], when asked */
  hiddenStates?: Tensor[];
}

/** Options of {@link PretrainedModel.fromFiles}. */
export interface FromFilesOptions {
  /** Read tokenizer.json when the folder has one. @default true */
  tokenizer?: boolean;
}

const FORWARD_KEYS = new Set(['attentionMask', 'tokenTypeIds', 'returnAttentions', 'returnHiddenStates', 'cache', 'backend']);

/** Past keys and values of every layer, for one batch; made by {@link PretrainedModel.createCache}. */
export class ModelCache {
  readonly model: PretrainedModel;
  /** Batch size B. */
  readonly batchSize: number;
  #state: LayerCache | null;

  constructor(model: PretrainedModel, batchSize: number) {
    this.model = model;
    this.batchSize = batchSize;
    this.#state = { keys: new Array(model.config.numHiddenLayers).fill(null), values: new Array(model.config.numHiddenLayers).fill(null), mask: Array.from({ length: batchSize }, () => []) };
  }

  /** Tokens cached so far, padding included. */
  get length(): number {
    return this.#state?.mask[0].length ?? 0;
  }

  /** Whether {@link release} was called. */
  get released(): boolean {
    return this.#state === null;
  }

  /** Drops every cached key and value; the cache cannot be used afterwards. */
  release(): void {
    this.#state = null;
  }

  /** @internal the state a forward pass reads (a copy of the arrays, so a failed call changes nothing). */
  snapshot(fn: string): LayerCache {
    if (this.#state === null) throw new ArgumentError(`${fn}: cache was released; create a new one with model.createCache()`);
    return { keys: [...this.#state.keys], values: [...this.#state.values], mask: this.#state.mask.map((m) => [...m]) };
  }

  /** @internal commits the state of a successful forward pass. */
  commit(state: LayerCache): void {
    this.#state = state;
  }
}

export class PretrainedModel {
  readonly config: ModelConfig;
  /** The tokenizer of the folder, or null when it has no tokenizer.json. */
  readonly tokenizer: PretrainedTokenizer | null;
  /** Every parameter under its Hugging Face name (a Module: stateDict, parameters, train/eval). */
  readonly weights: Weights;
  /** The dtype the checkpoint stored its weights in ("F32", "F16", "BF16", or "mixed"); qkv computes in float32. */
  readonly storedDType: string;
  /** The JSON files of the folder besides config.json, kept so that savePretrained writes them back. */
  readonly extraFiles: Readonly<Record<string, Record<string, unknown>>>;
  readonly #family: Family;
  readonly #invFreq: Float64Array | null;

  constructor(config: ModelConfig, weights: Weights, options: { tokenizer?: PretrainedTokenizer | null; storedDType?: string; extraFiles?: Record<string, Record<string, unknown>> } = {}) {
    this.config = config;
    this.weights = weights;
    this.tokenizer = options.tokenizer ?? null;
    this.storedDType = options.storedDType ?? 'F32';
    this.extraFiles = options.extraFiles ?? {};
    this.#family = FAMILY[config.family];
    this.#invFreq = config.ropeTheta === null ? null : ropeInverseFrequencies(config);
  }

  /**
   * Loads a model folder in the Hugging Face layout: config.json, model.safetensors (or a sharded index and its
   * shards), and tokenizer.json, tokenizer_config.json, generation_config.json when present.
   * @throws ModelError naming the file and the key for an unsupported config, a missing, unexpected or misshapen
   *   tensor; FormatError for a malformed file.
   */
  static async fromFiles(files: ModelFiles, options: FromFilesOptions = {}): Promise<PretrainedModel> {
    const raw = await readJson(files, 'config.json', true);
    const generation = await readJson(files, 'generation_config.json', false);
    const config = parseConfig(raw, files.where);
    if (generation !== undefined) {
      const eos = generation.eos_token_id;
      const list = Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos];
      for (const id of list) if (Number.isSafeInteger(id) && !config.eosTokenIds.includes(id)) config.eosTokenIds.push(id);
      if (config.bosTokenId === null && Number.isSafeInteger(generation.bos_token_id)) config.bosTokenId = generation.bos_token_id as number;
      if (config.padTokenId === null && Number.isSafeInteger(generation.pad_token_id)) config.padTokenId = generation.pad_token_id as number;
    }
    const family = FAMILY[config.family];
    const index = await indexWeights(files);
    const keys = new Set(index.keys());
    const specs = family.parameters(config, keys);

    // Match every parameter to a checkpoint key first, so that every problem is reported at once.
    const used = new Set<string>();
    const missing: string[] = [];
    const located = specs.map((spec) => {
      const key = family.candidates(spec.name).find((k) => keys.has(k));
      if (key === undefined) missing.push(`${spec.name} ${formatShape(spec.conv1d ? [spec.shape[1], spec.shape[0]] : spec.shape)}`);
      else used.add(key);
      return { spec, key };
    });
    const weightsFile = index.values().next().value?.file ?? 'model.safetensors';
    if (missing.length > 0) {
      throw new ModelError(`${files.where}: the checkpoint lacks ${missing.length} tensor(s) that this ${config.family} config needs:\n  ${missing.join('\n  ')}`, {
        file: weightsFile,
        key: missing[0].split(' ')[0],
      });
    }
    const tied = new Set(family.candidates(family.tiedHead));
    const unexpected = [...keys].filter((k) => !used.has(k) && !family.ignored(k) && !tied.has(k));
    if (unexpected.length > 0) {
      throw new ModelError(
        `${files.where}: the checkpoint has ${unexpected.length} tensor(s) that a ${config.family} model with this config does not use ` +
          `(another architecture, or a config that does not match the weights):\n  ${unexpected.slice(0, 10).join('\n  ')}`,
        { file: index.get(unexpected[0])!.file, key: unexpected[0] },
      );
    }

    const dtypes = new Set<string>();
    const entries: [string, Tensor][] = [];
    for (const { spec, key } of located) {
      const location = index.get(key!)!;
      dtypes.add(location.entry.dtype);
      entries.push([spec.name, new Tensor(await readWeight(files, location, spec.shape, spec.conv1d), spec.shape)]);
    }

    let tokenizer: PretrainedTokenizer | null = null;
    const extraFiles: Record<string, Record<string, unknown>> = {};
    if (generation !== undefined) extraFiles['generation_config.json'] = generation;
    if (options.tokenizer !== false) {
      const json = await readJson(files, 'tokenizer.json', false);
      const tokenizerConfig = await readJson(files, 'tokenizer_config.json', false);
      if (json !== undefined) {
        // Loaded on demand: the tokenizer library is needed only by folders that have a tokenizer.
        const { PretrainedTokenizer } = await import('./tokenizer.js');
        tokenizer = PretrainedTokenizer.fromJson(json, tokenizerConfig, files.where);
        extraFiles['tokenizer.json'] = json;
        if (tokenizerConfig !== undefined) extraFiles['tokenizer_config.json'] = tokenizerConfig;
      }
    }
    return new PretrainedModel(config, new Weights(entries), {
      tokenizer,
      storedDType: dtypes.size === 1 ? [...dtypes][0] : 'mixed',
      extraFiles,
    });
  }

  /** Whether the checkpoint has an output head (logits); BertModel and LlamaModel checkpoints do not. */
  get hasHead(): boolean {
    const w = this.weights;
    switch (this.config.family) {
      case 'gpt2':
        return true;
      case 'bert':
        return w.has('cls.predictions.bias');
      default:
        return this.config.tieWordEmbeddings || w.has('lm_head.weight');
    }
  }

  /** A key/value cache for a batch of B sequences, for {@link forward} with `cache` (decoders only). */
  createCache(batchSize = 1): ModelCache {
    if (!this.config.causal) throw new ArgumentError(`createCache: ${this.config.family} attends both ways; a cache is for decoders`);
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new ArgumentError(`createCache: batchSize must be a positive integer; got ${describe(batchSize)}`);
    return new ModelCache(this, batchSize);
  }

  /**
   * Runs the model on token ids [B, N] (rows of equal length; pad them and say so in attentionMask).
   * @example const { logits } = model.forward([[15496, 995]]); // logits [1, 2, V]
   */
  forward(inputIds: number[][], options: ForwardOptions = {}): ForwardOutput {
    return noGrad(() => {
      const out = this.#run('forward', inputIds, options, null);
      const t = (v: Var) => v.value;
      const result: ForwardOutput = { lastHiddenState: t(out.family.lastHiddenState) };
      if (out.family.logits !== null) result.logits = t(out.family.logits);
      if (options.returnHiddenStates === true) result.hiddenStates = out.family.hiddenStates.map(t);
      if (options.returnAttentions === true) result.attentions = out.attentions!;
      return result;
    });
  }

  /**
   * The same forward as Vars, for training and for hooks: gradients reach `weights` when they require them, and
   * `probe` sees (and may replace) every hook point.
   */
  forwardVar(inputIds: number[][], options: ForwardOptions = {}, probe: Probe | null = null): FamilyOutput & { attentions: Tensor[] | null } {
    const out = this.#run('forwardVar', inputIds, options, probe);
    return { ...out.family, attentions: out.attentions };
  }

  #run(fn: string, inputIds: number[][], options: ForwardOptions, probe: Probe | null): { family: FamilyOutput; attentions: Tensor[] | null } {
    const c = this.config;
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new ArgumentError(`${fn}: options must be an object; got ${describe(options)}`);
    }
    for (const key of Object.keys(options)) {
      if (!FORWARD_KEYS.has(key)) throw new ArgumentError(`${fn}: unknown option "${key}"; known: ${[...FORWARD_KEYS].join(', ')}`);
    }
    const [B, N] = checkIds(fn, 'inputIds', inputIds, c.vocabSize);
    const cacheArg = options.cache;
    if (cacheArg !== undefined && (!(cacheArg instanceof ModelCache) || cacheArg.model !== this)) {
      throw new ArgumentError(`${fn}: cache must come from this model's createCache(); got ${describe(cacheArg)}`);
    }
    if (cacheArg !== undefined && cacheArg.batchSize !== B) {
      throw new ArgumentError(`${fn}: the cache holds ${cacheArg.batchSize} sequence(s) but inputIds has B = ${B}`);
    }
    const cache = cacheArg?.snapshot(fn) ?? null;
    const past = cache?.mask[0].length ?? 0;
    const S = past + N;
    const newMask = readMask(fn, options.attentionMask, B, N, past, cache);
    if (c.ropeTheta === null && S > c.maxPositionEmbeddings) {
      throw new ArgumentError(`${fn}: ${S} tokens exceed max_position_embeddings = ${c.maxPositionEmbeddings} of this ${c.family} model`);
    }
    let tokenTypes = Tensor.zeros([B, N]);
    if (options.tokenTypeIds !== undefined) {
      if (c.family !== 'bert') throw new ArgumentError(`${fn}: tokenTypeIds are for BERT; this is a ${c.family} model`);
      const [tb, tn] = checkIds(fn, 'tokenTypeIds', options.tokenTypeIds, c.typeVocabSize);
      if (tb !== B || tn !== N) throw new ArgumentError(`${fn}: tokenTypeIds must be [B, N] = [${B}, ${N}] like inputIds; got [${tb}, ${tn}]`);
      tokenTypes = new Tensor(Float32Array.from(options.tokenTypeIds.flat()), [B, N]);
    }
    const backend = checkBackend(fn, options.backend);

    // Positions: the count of real tokens before each one (its position in the unpadded sequence).
    const positions = new Float32Array(B * N); // [B, N]
    for (let b = 0; b < B; b++) {
      let seen = cache ? cache.mask[b].reduce((s, m) => s + m, 0) : 0;
      for (let i = 0; i < N; i++) positions[b * N + i] = newMask[b][i] ? seen++ : 0;
    }
    const fullMask = newMask.map((m, b) => (cache ? [...cache.mask[b], ...m] : m)); // [B][S]
    if (cache !== null) cache.mask = fullMask;
    const ctx: ForwardContext = {
      config: c,
      weights: this.weights,
      B,
      N,
      positions: new Tensor(positions, [B, N]),
      tokenTypes,
      angles: this.#angles(positions, B, N),
      mask: attentionMaskTensor(fullMask, N, S, c.slidingWindow),
      cache,
      attentions: options.returnAttentions === true ? [] : null,
      probe,
      backend,
    };
    const ids = new Tensor(Float32Array.from(inputIds.flat()), [B, N]);
    const family = this.#family.forward(ctx, ids);
    if (cacheArg !== undefined && cache !== null) cacheArg.commit(cache);
    return { family, attentions: ctx.attentions };
  }

  /**
   * Generates tokens after each prompt (greedy unless `temperature` > 0) with the key/value cache; returns the new
   * tokens of each row. See {@link GenerateOptions}.
   * @example model.generate([model.tokenizer!.encode('The cat')], { maxNewTokens: 8 })
   */
  generate(prompts: number[][], options: GenerateOptions = {}): number[][] {
    return generate(this, prompts, options);
  }

  /** Streams the tokens generated after one prompt; see {@link generate}. */
  stream(prompt: number[], options: GenerateOptions = {}): AsyncGenerator<number> {
    return stream(this, prompt, options);
  }

  /** RoPE angles [B, N, d/2] = position · inverse frequency, in float64. */
  #angles(positions: Float32Array, B: number, N: number): Float64Array | null {
    const inv = this.#invFreq;
    if (inv === null) return null;
    const half = inv.length;
    const out = new Float64Array(B * N * half);
    for (let t = 0; t < B * N; t++) for (let i = 0; i < half; i++) out[t * half + i] = positions[t] * inv[i];
    return out;
  }
}

/** Checks a [B, N] array of integer ids in [0, limit) and returns [B, N]. */
function checkIds(fn: string, name: string, ids: unknown, limit: number): [number, number] {
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every(Array.isArray)) {
    throw new ArgumentError(`${fn}: ${name} must be a non-empty array of rows [B, N] of token ids; got ${describe(ids)}`);
  }
  const rows = ids as unknown[][];
  const N = rows[0].length;
  if (N === 0) throw new ArgumentError(`${fn}: ${name} rows must hold at least one id`);
  for (let b = 0; b < rows.length; b++) {
    if (rows[b].length !== N) throw new ArgumentError(`${fn}: ${name} rows must have equal lengths (pad them); row 0 has ${N}, row ${b} has ${rows[b].length}`);
    for (let i = 0; i < N; i++) {
      const id = rows[b][i];
      if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= limit) {
        throw new ArgumentError(`${fn}: ${name}[${b}][${i}] must be an integer in [0, ${limit}); got ${describe(id)}`);
      }
    }
  }
  return [rows.length, N];
}

/** The attention mask of the new tokens, [B][N], from a mask of N or past + N columns (checked against the cache). */
function readMask(fn: string, mask: number[][] | undefined, B: number, N: number, past: number, cache: LayerCache | null): number[][] {
  if (mask === undefined) return Array.from({ length: B }, () => new Array<number>(N).fill(1));
  if (!Array.isArray(mask) || mask.length !== B || !mask.every(Array.isArray)) {
    throw new ArgumentError(`${fn}: attentionMask must be [B, N] or [B, past + N] with B = ${B}; got ${describe(mask)}`);
  }
  const width = mask[0].length;
  if ((width !== N && width !== past + N) || !mask.every((row) => row.length === width)) {
    throw new ArgumentError(`${fn}: attentionMask must be [B, N] = [${B}, ${N}] or [B, past + N] = [${B}, ${past + N}]; got rows of ${mask.map((r) => r.length).join(', ')}`);
  }
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < width; j++) {
      if (mask[b][j] !== 0 && mask[b][j] !== 1) throw new ArgumentError(`${fn}: attentionMask[${b}][${j}] must be 0 or 1; got ${describe(mask[b][j])}`);
      if (j < width - N && cache !== null && cache.mask[b][j] !== mask[b][j]) {
        throw new ArgumentError(`${fn}: attentionMask[${b}][${j}] = ${mask[b][j]} disagrees with the cached mask (${cache.mask[b][j]})`);
      }
    }
  }
  return mask.map((row) => row.slice(width - N));
}

/**
 * The mask tensor of a batch: [B, 1, 1, S] for padding, [B or 1, 1, N, S] with a sliding window (query at
 * S − N + i sees key j when its distance is below the window), or undefined when every key is real and there is no
 * window (the causal rule alone).
 */
function attentionMaskTensor(fullMask: number[][], N: number, S: number, window: number | null): Tensor | undefined {
  const B = fullMask.length;
  const padded = fullMask.some((row) => row.some((m) => m === 0));
  const windowed = window !== null && S > window;
  if (!padded && !windowed) return undefined;
  if (!windowed) return new Tensor(Float32Array.from(fullMask.flat()), [B, 1, 1, S]);
  const data = new Float32Array(B * N * S); // [B, 1, N, S]
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < N; i++) {
      const q = S - N + i;
      for (let j = 0; j < S; j++) data[(b * N + i) * S + j] = fullMask[b][j] && q - j < window! ? 1 : 0;
    }
  }
  return new Tensor(data, [B, 1, N, S]);
}
