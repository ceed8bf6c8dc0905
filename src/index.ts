// The public API of qkv, curated by hand. Everything a user may import is listed here; nothing else is public.
// The sections follow the layout of src/: core → ops → kernels → autograd → nn → optim → io → models → explain.
// The coreference task is a demo built on the library, behind its own subpath: `qkv/coref` (src/tasks/coref/index.ts).

// Registers the WebAssembly SIMD backend, which "auto" prefers once its module is compiled.
import './kernels/wasm/index.js';

// core: tensors, shapes, random numbers, errors
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
  ModelError,
  NetworkError,
  isQkvError,
  type QkvErrorCode,
} from './core/errors.js';

// ops: attention and its gradients
export {
  scaledDotProductAttention,
  type AttentionOptions,
  type AttentionOutput,
  type AttentionTrace,
} from './ops/attention.js';
export { scaledDotProductAttentionBackward, type AttentionGradients } from './ops/attention-backward.js';

// kernels: choosing a backend, threads
export {
  setBackend,
  getBackend,
  availableBackends,
  type BackendName,
  type BackendChoice,
} from './kernels/backend.js';
export { initWasm, setNumThreads, getNumThreads } from './kernels/wasm/index.js';

// autograd: the tape (ops as a namespace: autograd.matmul, autograd.softmax, ...)
export * as autograd from './autograd/index.js';
export { Var, backward, noGrad, type DType } from './autograd/var.js';

// nn: modules
export {
  MultiHeadAttention,
  KVCache,
  type MultiHeadAttentionConfig,
  type MultiHeadAttentionOptions,
  type MultiHeadAttentionOutput,
  type MultiHeadAttentionTrace,
  type MultiHeadAttentionVarOptions,
} from './nn/multihead-attention.js';
export { Module, Parameter } from './nn/module.js';
export { Linear, LayerNorm, Embedding, Dropout } from './nn/layers.js';
export { FeedForward, type FeedForwardConfig } from './nn/feed-forward.js';
export { TransformerEncoderLayer, type TransformerEncoderLayerConfig } from './nn/encoder-layer.js';
export { PositionalEncoding, sinusoidalPositionalEncoding } from './nn/positional-encoding.js';
export { saveCheckpoint, loadCheckpoint } from './nn/checkpoint.js';
export { type Seed } from './nn/init.js';

// optim: training
export { AdamW, type AdamWOptions } from './optim/adamw.js';
export { cosineWithWarmup, type CosineWithWarmupOptions } from './optim/schedule.js';
export { clipGradNorm } from './optim/clip.js';

// io: weights
export {
  readSafetensors,
  readSafetensorsMetadata,
  writeSafetensors,
  type SafetensorsMetadata,
} from './io/safetensors.js';

// models: Hugging Face checkpoints (GPT-2, BERT, Llama, Mistral, Qwen2) from a folder, a Hub id or picked files
export { loadPretrained, savePretrained, pretrainedFiles, type LoadOptions, type SaveOptions } from './models/pretrained.js';
export {
  PretrainedModel,
  ModelCache,
  type ForwardOptions,
  type ForwardOutput,
  type FromFilesOptions,
} from './models/model.js';
export { type ModelConfig, type ModelFamily, type Llama3RopeScaling } from './models/config.js';
export { type GenerateOptions } from './models/generate.js';
export { type ModelFiles, folderFiles, blobFiles } from './models/files.js';
// The Hub client itself is Node only and stays out of the root; loadPretrained downloads through it on demand.
export type { HubOptions, DownloadProgress } from './models/hub.js';
export { type Probe } from './models/blocks.js';

// explain: traces as JSON and as text
export { parseExplainJson, headsToJson, type ExplainJson, type HeadTraceJson } from './explain/trace-json.js';
export { renderExplain, MIN_RENDER_WIDTH, type RenderExplainOptions } from './explain/render.js';
export { wrapText } from './explain/heatmap.js';
export { tour } from './explain/tour.js';
// explain: a Hugging Face model's attention on one text ("qkv.attention" JSON, head grids, heatmaps). The module's
// runAttention is exported as traceModelAttention, so that it is not mistaken for the attention op.
export {
  runAttention as traceModelAttention,
  buildAttentionJson,
  parseAttentionJson,
  renderModelAttention,
  summarizeHead,
  topKeys,
  findModelToken,
  HEAD_STATS,
  DEFAULT_TOP_K,
  DEFAULT_MAX_WEIGHTS,
  type AttentionRun,
  type AttentionJson,
  type AttentionHeadJson,
  type AttentionJsonOptions,
  type HeadSummary,
  type HeadStat,
  type RenderModelOptions,
} from './explain/model-trace.js';
