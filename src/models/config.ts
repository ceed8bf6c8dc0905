// ModelConfig: a Hugging Face config.json read into one typed record that every family shares. Field names are the
// camelCase of Hugging Face's own (hidden_size → hiddenSize), whatever the family calls them in its file (GPT-2's
// n_embd is hiddenSize here too). Defaults are those of the transformers config classes (GPT2Config, BertConfig,
// LlamaConfig, MistralConfig, Qwen2Config). A value qkv cannot honour exactly is a ModelError that names
// config.json and the key: never a silently different model.

import { ModelError } from '../core/errors.js';
import { describe } from '../core/tensor.js';

/** The architectures qkv runs. Mistral and Qwen2 are the Llama block with a sliding window or q/k/v biases. */
export type ModelFamily = 'gpt2' | 'bert' | 'llama' | 'mistral' | 'qwen2';

export const FAMILIES: readonly ModelFamily[] = ['gpt2', 'bert', 'llama', 'mistral', 'qwen2'];

/** Llama 3's frequency-dependent RoPE scaling (rope_scaling with rope_type "llama3"). */
export interface Llama3RopeScaling {
  ropeType: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface ModelConfig {
  family: ModelFamily;
  /** V */
  vocabSize: number;
  /** D, the residual width */
  hiddenSize: number;
  /** L */
  numHiddenLayers: number;
  /** H */
  numAttentionHeads: number;
  /** Hkv (grouped-query attention); H when the heads are not grouped. */
  numKeyValueHeads: number;
  /** d, the head size */
  headDim: number;
  /** F, the feed-forward width */
  intermediateSize: number;
  maxPositionEmbeddings: number;
  /** The norm: LayerNorm (GPT-2, BERT) or RMSNorm (Llama family), with its epsilon. */
  norm: 'layer' | 'rms';
  normEps: number;
  /** The feed-forward activation: GPT-2's tanh GELU, BERT's erf GELU, or SiLU in the Llama family's SwiGLU. */
  hiddenAct: 'gelu_new' | 'gelu' | 'silu';
  /** The output head reuses the token embedding matrix. */
  tieWordEmbeddings: boolean;
  /** Biases on the q, k, v projections; on the output projection; on the feed-forward. */
  qkvBias: boolean;
  outputBias: boolean;
  mlpBias: boolean;
  /** Decoders attend causally; BERT attends both ways. */
  causal: boolean;
  /** Multiplies Q·Kᵀ (1/√d, except GPT-2 with scale_attn_weights false, and its per-layer option). */
  attentionScale: (layer: number) => number;
  /** RoPE base θ (Llama family), or null for learned positions. */
  ropeTheta: number | null;
  ropeScaling: Llama3RopeScaling | null;
  /** Mistral: query i sees key j only when 0 ≤ i − j < slidingWindow; null for none. */
  slidingWindow: number | null;
  /** BERT's token type vocabulary (0 for the others). */
  typeVocabSize: number;
  bosTokenId: number | null;
  /** Every id that ends generation (generation_config.json may list several). */
  eosTokenIds: number[];
  padTokenId: number | null;
  /** config.json as read, written back unchanged by savePretrained. */
  raw: Record<string, unknown>;
}

/** Reads config.json (already parsed) into a ModelConfig; `where` names the folder in errors. */
export function parseConfig(raw: Record<string, unknown>, where: string): ModelConfig {
  const file = 'config.json';
  const fail = (key: string, message: string): never => {
    throw new ModelError(`${where}/${file}: ${key} ${message}`, { file, key });
  };
  const has = (key: string) => raw[key] !== undefined && raw[key] !== null;
  const int = (key: string, fallback?: number): number => {
    const v = has(key) ? raw[key] : fallback;
    if (v === undefined) return fail(key, 'is missing; it is required for this model type');
    if (!Number.isSafeInteger(v) || (v as number) < 1) return fail(key, `must be a positive integer; got ${describe(v)}`);
    return v as number;
  };
  const num = (key: string, fallback: number): number => {
    const v = has(key) ? raw[key] : fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return fail(key, `must be a finite number ≥ 0; got ${describe(v)}`);
    return v;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = has(key) ? raw[key] : fallback;
    if (typeof v !== 'boolean') return fail(key, `must be true or false; got ${describe(v)}`);
    return v;
  };
  const optionalId = (key: string): number | null => {
    if (!has(key)) return null;
    const v = raw[key];
    if (!Number.isSafeInteger(v) || (v as number) < 0) return fail(key, `must be a token id (an integer ≥ 0); got ${describe(v)}`);
    return v as number;
  };
  const ids = (key: string): number[] => {
    if (!has(key)) return [];
    const v = raw[key];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((id) => Number.isSafeInteger(id) && id >= 0)) return fail(key, `must be a token id or a list of ids; got ${JSON.stringify(v)}`);
    return list as number[];
  };

  const modelType = raw.model_type;
  if (typeof modelType !== 'string' || !(FAMILIES as readonly string[]).includes(modelType)) {
    return fail('model_type', `must be one of ${FAMILIES.map((f) => `"${f}"`).join(', ')}; got ${describe(modelType)}`);
  }
  const family = modelType as ModelFamily;
  const common = {
    family,
    bosTokenId: optionalId('bos_token_id'),
    eosTokenIds: ids('eos_token_id'),
    padTokenId: optionalId('pad_token_id'),
    raw,
  };

  if (family === 'gpt2') {
    const D = int('n_embd', 768);
    const H = int('n_head', 12);
    if (D % H !== 0) fail('n_head', `must divide n_embd = ${D}; got ${H}`);
    const act = has('activation_function') ? raw.activation_function : 'gelu_new';
    if (act !== 'gelu_new') fail('activation_function', `must be "gelu_new" (GPT-2's tanh GELU); got ${describe(act)}`);
    const scaleWeights = bool('scale_attn_weights', true);
    const byLayer = bool('scale_attn_by_inverse_layer_idx', false);
    const d = D / H;
    return {
      ...common,
      vocabSize: int('vocab_size', 50257),
      hiddenSize: D,
      numHiddenLayers: int('n_layer', 12),
      numAttentionHeads: H,
      numKeyValueHeads: H,
      headDim: d,
      intermediateSize: has('n_inner') ? int('n_inner') : 4 * D,
      maxPositionEmbeddings: int('n_positions', 1024),
      norm: 'layer',
      normEps: num('layer_norm_epsilon', 1e-5),
      hiddenAct: 'gelu_new',
      tieWordEmbeddings: bool('tie_word_embeddings', true),
      qkvBias: true,
      outputBias: true,
      mlpBias: true,
      causal: true,
      attentionScale: (layer) => (scaleWeights ? 1 / Math.sqrt(d) : 1) / (byLayer ? layer + 1 : 1),
      ropeTheta: null,
      ropeScaling: null,
      slidingWindow: null,
      typeVocabSize: 0,
    };
  }

  if (family === 'bert') {
    const D = int('hidden_size', 768);
    const H = int('num_attention_heads', 12);
    if (D % H !== 0) fail('num_attention_heads', `must divide hidden_size = ${D}; got ${H}`);
    const act = has('hidden_act') ? raw.hidden_act : 'gelu';
    if (act !== 'gelu') fail('hidden_act', `must be "gelu" (the erf GELU); got ${describe(act)}`);
    const positions = has('position_embedding_type') ? raw.position_embedding_type : 'absolute';
    if (positions !== 'absolute') fail('position_embedding_type', `must be "absolute"; got ${describe(positions)}`);
    if (bool('is_decoder', false)) fail('is_decoder', 'must be false: qkv runs BERT as an encoder');
    const d = D / H;
    return {
      ...common,
      vocabSize: int('vocab_size', 30522),
      hiddenSize: D,
      numHiddenLayers: int('num_hidden_layers', 12),
      numAttentionHeads: H,
      numKeyValueHeads: H,
      headDim: d,
      intermediateSize: int('intermediate_size', 3072),
      maxPositionEmbeddings: int('max_position_embeddings', 512),
      norm: 'layer',
      normEps: num('layer_norm_eps', 1e-12),
      hiddenAct: 'gelu',
      tieWordEmbeddings: bool('tie_word_embeddings', true),
      qkvBias: true,
      outputBias: true,
      mlpBias: true,
      causal: false,
      attentionScale: () => 1 / Math.sqrt(d),
      ropeTheta: null,
      ropeScaling: null,
      slidingWindow: null,
      typeVocabSize: int('type_vocab_size', 2),
      padTokenId: optionalId('pad_token_id') ?? 0,
    };
  }

  // The Llama family: llama, mistral, qwen2.
  const D = int('hidden_size', 4096);
  const H = int('num_attention_heads', 32);
  const Hkv = int('num_key_value_heads', H);
  if (H % Hkv !== 0) fail('num_key_value_heads', `must divide num_attention_heads = ${H}; got ${Hkv}`);
  const d = has('head_dim') ? int('head_dim') : D / H;
  if (!Number.isInteger(d)) fail('num_attention_heads', `must divide hidden_size = ${D} when head_dim is not given; got ${H}`);
  if (d % 2 !== 0) fail('head_dim', `must be even for rotary embeddings; got ${d}`);
  const act = has('hidden_act') ? raw.hidden_act : 'silu';
  if (act !== 'silu') fail('hidden_act', `must be "silu" (SwiGLU); got ${describe(act)}`);
  const attentionBias = family === 'qwen2' ? true : bool('attention_bias', false);
  let slidingWindow: number | null = null;
  if (family === 'mistral' && has('sliding_window')) slidingWindow = int('sliding_window');
  if (family === 'qwen2' && bool('use_sliding_window', false)) {
    fail('use_sliding_window', 'must be false: Qwen2 sliding-window layers (max_window_layers) are not supported');
  }
  if (has('pretraining_tp') && raw.pretraining_tp !== 1) fail('pretraining_tp', `must be 1; got ${describe(raw.pretraining_tp)}`);
  return {
    ...common,
    vocabSize: int('vocab_size', 32000),
    hiddenSize: D,
    numHiddenLayers: int('num_hidden_layers', 32),
    numAttentionHeads: H,
    numKeyValueHeads: Hkv,
    headDim: d,
    intermediateSize: int('intermediate_size', 11008),
    maxPositionEmbeddings: int('max_position_embeddings', 2048),
    norm: 'rms',
    normEps: num('rms_norm_eps', 1e-6),
    hiddenAct: 'silu',
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    qkvBias: attentionBias,
    outputBias: family === 'qwen2' ? false : attentionBias,
    mlpBias: family === 'llama' ? bool('mlp_bias', false) : false,
    causal: true,
    attentionScale: () => 1 / Math.sqrt(d),
    ropeTheta: num('rope_theta', family === 'qwen2' ? 1e6 : 10000),
    ropeScaling: ropeScaling(raw.rope_scaling, fail),
    slidingWindow,
    typeVocabSize: 0,
  };
}

/** rope_scaling: null, {rope_type: "default"}, or Llama 3's; every other type is refused. */
function ropeScaling(value: unknown, fail: (key: string, message: string) => never): Llama3RopeScaling | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) return fail('rope_scaling', `must be an object or null; got ${describe(value)}`);
  const v = value as Record<string, unknown>;
  const type = v.rope_type ?? v.type;
  if (type === 'default') return null;
  if (type !== 'llama3') {
    return fail('rope_scaling', `has rope_type ${describe(type)}; qkv supports "default" and "llama3" (not linear, dynamic, yarn, longrope)`);
  }
  const positive = (key: string): number => {
    const x = v[key];
    if (typeof x !== 'number' || !(x > 0) || !Number.isFinite(x)) return fail(`rope_scaling.${key}`, `must be a number > 0; got ${describe(x)}`);
    return x;
  };
  const scaling: Llama3RopeScaling = {
    ropeType: 'llama3',
    factor: positive('factor'),
    lowFreqFactor: positive('low_freq_factor'),
    highFreqFactor: positive('high_freq_factor'),
    originalMaxPositionEmbeddings: positive('original_max_position_embeddings'),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    fail('rope_scaling.high_freq_factor', `must exceed low_freq_factor = ${scaling.lowFreqFactor}; got ${scaling.highFreqFactor}`);
  }
  return scaling;
}

/**
 * The inverse frequencies of RoPE, [d/2]: 1/θ^(2i/d), then Llama 3's scaling when configured (transformers'
 * _compute_llama3_parameters: long wavelengths divided by `factor`, short ones kept, a smooth blend between).
 * Computed in float64.
 */
export function ropeInverseFrequencies(config: Pick<ModelConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float64Array {
  const d = config.headDim;
  const theta = config.ropeTheta ?? 10000;
  const inv = new Float64Array(d / 2);
  for (let i = 0; i < d / 2; i++) inv[i] = 1 / theta ** ((2 * i) / d);
  const s = config.ropeScaling;
  if (s === null) return inv;
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < inv.length; i++) {
    const wavelen = (2 * Math.PI) / inv[i];
    if (wavelen > lowFreqWavelen) inv[i] /= s.factor;
    else if (wavelen >= highFreqWavelen) {
      // the medium band: (1 − smooth) · inv / factor + smooth · inv
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
    }
  }
  return inv;
}
