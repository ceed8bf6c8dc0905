// The autograd ops as one namespace (`import { autograd } from 'qkv'`), so generic names such as add, mul and sum
// do not crowd the package's top level.

export { Var, backward, noGrad, isGradEnabled, type DType } from './var.js';
export {
  type VarLike,
  reshape,
  permute,
  transpose,
  broadcastTo,
  narrow,
  concat,
  add,
  sub,
  mul,
  tanh,
  sum,
  mean,
  matmul,
  linear,
} from './tensor-ops.js';
export { softmax, layerNorm, gelu, embedding, crossEntropy, dropout, type CrossEntropyOptions } from './nn-ops.js';
export { attention, attentionFromPrimitives, type VarAttentionOptions } from './attention.js';
