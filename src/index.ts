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
