// scaledDotProductAttentionBackward: the public backward op. It validates its inputs with the forward's own
// prepareAttention (so both ops accept and reject exactly the same inputs), checks gradOutput against the forward's
// output shape, runs the backward kernel on the canonical problem, and wraps the flat gradients into tensors of the
// inputs' shapes. The gradients are those PyTorch autograd gives through the SDPA math, except that a row with no
// allowed key gives 0, not NaN (docs/SEMANTICS.md).

import { ArgumentError, ShapeError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';
import { runAttentionBackward } from '../kernels/backend.js';
import { type AttentionOptions, prepareAttention } from './attention.js';

/** Gradients of a loss with respect to each input of {@link scaledDotProductAttention}, each of its input's shape. */
export interface AttentionGradients {
  /** dL/dquery `[...batch, N, d]`, query's own shape (summed over the dims query was broadcast along). */
  gradQuery: Tensor;
  /** dL/dkey `[...batch, S, d]`, key's own shape (summed over broadcast dims and over the query heads of a group). */
  gradKey: Tensor;
  /** dL/dvalue `[...batch, S, dv]`, value's own shape (summed like gradKey). */
  gradValue: Tensor;
  /** dL/dbias, the bias's own shape (summed over its broadcast dims); present when `options.bias` is given. */
  gradBias?: Tensor;
}

/**
 * The backward of {@link scaledDotProductAttention}: given dL/d(output), the gradients with respect to query, key,
 * value and bias.
 *
 * - query `[...batch, N, d]`, key `[...batch, S, d]`, value `[...batch, S, dv]`, with the forward's broadcasting and
 *   grouped-query heads; gradOutput `[...batch, N, dv]`, exactly the forward output's shape.
 * - options are the forward's (`mask`, `bias`, `causal`, `scale`, `softcap`, `backend`); `returnWeights` and
 *   `trace` are ignored. Mask and causal get no gradient.
 * - Each gradient has its input's shape: contributions are summed over broadcast batch dims, and over the query
 *   heads that share a key/value head. When one tensor is passed as several inputs (self-attention with q = k = v),
 *   its gradient is the sum of those returned for each.
 * - A query row with no allowed key gives gradient 0 everywhere it reaches, never NaN, and a blocked key gets no
 *   gradient from the rows that cannot see it.
 * - Accumulates in float64 and rounds once to float32.
 *
 * @example
 * const q = Tensor.randn([1, 2, 4, 8], 1); // [B, H, N, d]
 * const gradOutput = Tensor.ones([1, 2, 4, 8]); // [B, H, N, dv]: dL/doutput for L = Σ output
 * const { gradQuery, gradKey, gradValue } = scaledDotProductAttentionBackward(q, q, q, gradOutput, { causal: true });
 */
export function scaledDotProductAttentionBackward(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  gradOutput: Tensor,
  options: AttentionOptions = {},
): AttentionGradients {
  const fn = 'scaledDotProductAttentionBackward';
  const prepared = prepareAttention(fn, query, key, value, options);
  const { problem, batchShape } = prepared;
  const outputShape = [...batchShape, problem.N, problem.dv]; // [...batch, N, dv]
  if (!(gradOutput instanceof Tensor)) {
    throw new ArgumentError(`${fn}: gradOutput must be a Tensor; got ${describe(gradOutput)}`);
  }
  const sameShape =
    gradOutput.rank === outputShape.length && gradOutput.shape.every((s, i) => s === outputShape[i]);
  if (!sameShape) {
    throw new ShapeError(
      `${fn}: gradOutput must be [...batch, N, dv] = ${formatShape(outputShape)}, the output's shape; got ` +
        `query ${formatShape(query.shape)}, key ${formatShape(key.shape)}, value ${formatShape(value.shape)}, ` +
        `gradOutput ${formatShape(gradOutput.shape)}`,
    );
  }

  const grads = runAttentionBackward(fn, problem, gradOutput.data, prepared.backend);
  const out: AttentionGradients = {
    gradQuery: new Tensor(grads.query, query.shape), // [...batch, N, d], query's own batch dims
    gradKey: new Tensor(grads.key, key.shape), // [...batch, S, d], key's own batch dims
    gradValue: new Tensor(grads.value, value.shape), // [...batch, S, dv], value's own batch dims
  };
  if (options.bias !== undefined && grads.bias) out.gradBias = new Tensor(grads.bias, options.bias.shape); // like bias
  return out;
}
