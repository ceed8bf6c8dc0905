// The public API of qkv, curated by hand. Everything a user may import is listed here; nothing else is public.

// Registers the WebAssembly SIMD backend, which "auto" prefers once its module is compiled.
import './kernels/wasm/index.js';

export { Tensor, type NestedArray } from './core/tensor.js';
export { Rng } from './core/random.js';
export { type Shape, broadcastShapes, formatShape } from './core/shape.js';
export {
  QkvError,
  ShapeError,
  ArgumentError,
  FormatError,
  StateDictError,
  WorkerError,
  isQkvError,
  type QkvErrorCode,
} from './core/errors.js';
export {
  scaledDotProductAttention,
  type AttentionOptions,
  type AttentionOutput,
  type AttentionTrace,
} from './ops/attention.js';
export {
  MultiHeadAttention,
  KVCache,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionOptions,
  type MultiHeadAttentionOutput,
  type MultiHeadAttentionTrace,
  type MultiHeadAttentionVarOptions,
} from './nn/multihead-attention.js';
export {
  setBackend,
  getBackend,
  availableBackends,
  type BackendName,
  type BackendChoice,
} from './kernels/backend.js';
export { initWasm, setNumThreads, getNumThreads } from './kernels/wasm/index.js';
export {
  readSafetensors,
  readSafetensorsMetadata,
  writeSafetensors,
  type SafetensorsMetadata,
} from './io/safetensors.js';
export { scaledDotProductAttentionBackward, type AttentionGradients } from './ops/attention-backward.js';
export * as autograd from './autograd/index.js';
export { Var, backward, noGrad, type DType } from './autograd/var.js';
export { Module, Parameter } from './nn/module.js';
export { Linear, LayerNorm, Embedding, Dropout } from './nn/layers.js';
export { FeedForward, type FeedForwardConfig } from './nn/feed-forward.js';
export { TransformerEncoderLayer, type TransformerEncoderLayerConfig } from './nn/encoder-layer.js';
export { PositionalEncoding, sinusoidalPositionalEncoding } from './nn/positional-encoding.js';
export { saveCheckpoint, loadCheckpoint } from './nn/checkpoint.js';
export { type Seed } from './nn/init.js';
export { AdamW, type AdamWOptions } from './optim/adamw.js';
export { cosineWithWarmup, type CosineWithWarmupOptions } from './optim/schedule.js';
export { clipGradNorm } from './optim/clip.js';
export { parseExplainJson, headsToJson, type ExplainJson, type HeadTraceJson } from './explain/trace-json.js';
export { renderExplain } from './explain/render.js';
export {
  CorefModel,
  DEFAULT_CONFIG as COREF_DEFAULT_CONFIG,
  type CorefModelConfig,
  explainSentence,
} from './tasks/coref/model.js';
export { trainCoref, evaluateCoref, type TrainOptions, type TrainProgress, type TrainResult } from './tasks/coref/train.js';
