// The public API of qkv, curated by hand. Everything a user may import is listed here; nothing else is public.

export { Tensor, type NestedArray } from './core/tensor.js';
export { Rng } from './core/random.js';
export { type Shape, broadcastShapes, formatShape } from './core/shape.js';
export {
  QkvError,
  ShapeError,
  ArgumentError,
  FormatError,
  StateDictError,
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
