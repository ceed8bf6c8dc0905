// Differentiable scaled dot-product attention. Two implementations of one contract (ops/attention.ts):
//
// - fused (float32): the forward is the public op's kernel (ops/ attend, so a faster backend speeds training up for
//   free), and the gradient rule is scaledDotProductAttentionBackward. Nothing N×S is kept
//   between the passes; the backward recomputes the weights.
// - from primitives (float64, or on request): tinygrad's ~15 lines, each op with its own gradient rule:
//
//     scores = q · kᵀ                         [...batch, N, S]   (kv heads repeated for grouped-query attention)
//     s      = softcap(scores · scale) + bias
//     s      = blocked ? -Infinity : s       (mask 0, causal)
//     w      = softmax(s)                    (a row with no allowed key → 0)
//     out    = w · v                         [...batch, N, dv]
//
// The float64 path exists so the whole graph, attention included, can be checked against central finite
// differences in float64; the fused path is checked against it. Difference: the primitive path multiplies blocked
// weights (0) by their values, so a NaN in a blocked value reaches the row, where the fused kernel never reads it.

import { Tensor } from '../core/tensor.js';
import { causalAllows } from '../kernels/contract.js';
import { scaledDotProductAttentionBackward } from '../ops/attention-backward.js';
import { type AttentionOptions, type AttentionOutput, attend, prepareAttention } from '../ops/attention.js';
import { softmax } from './nn-ops.js';
import { type VarLike, add, broadcastTo, matmul, mul, reshape, tanh, transpose } from './tensor-ops.js';
import { Var, alloc, asVar, dtypeOf } from './var.js';

/** Options of {@link attention}: those of scaledDotProductAttention, with a bias that may itself be learned. */
export interface VarAttentionOptions extends Omit<AttentionOptions, 'bias' | 'returnWeights' | 'trace'> {
  /**
   * Added to the scores; broadcastable to `[...batch, N, S]`. A Var gets a gradient (summed over its broadcast dims).
   * @default undefined
   */
  bias?: Tensor | Var;
  /**
   * Build the graph from primitives (matmul, softmax, ...) instead of the fused kernel. Always so for float64.
   * @default false
   */
  fromPrimitives?: boolean;
}

/**
 * Scaled dot-product attention with gradients for query, key, value (and a Var bias):
 * query [...batch, N, d], key [...batch, S, d], value [...batch, S, dv] → [...batch, N, dv], with the broadcasting,
 * grouped-query heads, masks and causal rules of {@link scaledDotProductAttention}.
 * @example
 * const q = new Var(Tensor.randn([1, 2, 4, 8], 1), { requiresGrad: true }); // [B, H, N, d]
 * backward(sum(attention(q, q, q, { causal: true })));
 */
export function attention(query: VarLike, key: VarLike, value: VarLike, options: VarAttentionOptions = {}): Var {
  return attentionDetails('attention', query, key, value, options).output;
}

/** What {@link attentionDetails} returns: the output Var and, from the fused kernel, the weights and trace asked. */
export interface AttentionDetails extends Omit<AttentionOutput, 'output' | 'backend'> {
  /** `[...batch, N, dv]` */
  output: Var;
  /** The backend of the fused kernel; undefined on the primitive path (plain ops, float64 loops). */
  backend?: AttentionOutput['backend'];
}

/**
 * Internal: {@link attention} that also returns the weights and trace of the forward when asked (the options of
 * scaledDotProductAttention); MultiHeadAttention's one forward path uses it. The weights and trace come from the
 * fused kernel, so the float64 and primitive paths have none.
 */
export function attentionDetails(
  fn: string,
  query: VarLike,
  key: VarLike,
  value: VarLike,
  options: VarAttentionOptions & Pick<AttentionOptions, 'returnWeights' | 'trace'>,
): AttentionDetails {
  const q = asVar(query, fn, 'query');
  const k = asVar(key, fn, 'key');
  const v = asVar(value, fn, 'value');
  const biasVar = options.bias instanceof Var ? options.bias : null;
  const inputs = biasVar ? [q, k, v, biasVar] : [q, k, v];
  if (options.fromPrimitives === true || dtypeOf(...inputs) === 'float64') return { output: attentionFromPrimitives(q, k, v, options) };

  const opts: AttentionOptions = {
    mask: options.mask,
    bias: biasVar ? biasVar.value : (options.bias as Tensor | undefined),
    causal: options.causal,
    scale: options.scale,
    softcap: options.softcap,
    backend: options.backend,
  };
  const qt = q.value;
  const kt = k.value;
  const vt = v.value;
  const { output, ...details } = attend(fn, qt, kt, vt, { ...opts, returnWeights: options.returnWeights, trace: options.trace });
  // out = softmax(mask(softcap(q · kᵀ · scale) + bias)) · v  →  the backward op's dq, dk, dv (and dbias)
  const out = Var.fromOp(fn, output.data, output.shape, inputs, (g) => {
    const gradOutput = new Tensor(g instanceof Float32Array ? g : Float32Array.from(g), output.shape);
    const grads = scaledDotProductAttentionBackward(qt, kt, vt, gradOutput, opts);
    return [grads.gradQuery.data, grads.gradKey.data, grads.gradValue.data, grads.gradBias?.data ?? null];
  });
  return { ...details, output: out };
}

/** The same attention composed from differentiable primitives (see the file header). */
export function attentionFromPrimitives(query: VarLike, key: VarLike, value: VarLike, options: VarAttentionOptions = {}): Var {
  const fn = 'attentionFromPrimitives';
  const q = asVar(query, fn, 'query');
  let k = asVar(key, fn, 'key');
  let v = asVar(value, fn, 'value');
  const biasTensor = options.bias instanceof Var ? options.bias.value : options.bias;
  const { problem, batchShape } = prepareAttention(fn, q.value, k.value, v.value, {
    mask: options.mask,
    bias: biasTensor,
    causal: options.causal,
    scale: options.scale,
    softcap: options.softcap,
  });
  const { N, S, scale, softcap, causal, mask } = problem;

  // Grouped-query heads: repeat each key/value head H / Hkv times along the heads dim (repeat_interleave).
  if (batchShape.length > 0) {
    const H = batchShape[batchShape.length - 1];
    k = repeatHeads(k, H);
    v = repeatHeads(v, H);
  }

  let s = mul(matmul(q, transpose(k)), scale); // [...batch, N, S]
  if (softcap > 0) s = mul(tanh(mul(s, 1 / softcap)), softcap);
  if (options.bias !== undefined) s = add(s, options.bias);

  // Blocked positions (mask 0, causal) in the [...batch, N, S] layout of s.
  const allowed = new Uint8Array(problem.batch * N * S);
  for (let b = 0; b < problem.batch; b++) {
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < S; j++) {
        const open =
          causalAllows(causal, i, j, N, S) &&
          (mask === null || mask.data[mask.offsets[b] + i * mask.rowStride + j * mask.colStride] !== 0);
        allowed[(b * N + i) * S + j] = open ? 1 : 0;
      }
    }
  }
  s = blockScores(s, allowed);
  return matmul(softmax(s), v); // [...batch, N, dv]
}

/** kv [..., Hkv, S, c] → [..., H, S, c], each head repeated H / Hkv times; unchanged when Hkv is H or 1 or absent. */
function repeatHeads(kv: Var, H: number): Var {
  if (kv.rank < 3) return kv;
  const lead = kv.shape.slice(0, -3);
  const [Hkv, S, c] = kv.shape.slice(-3);
  if (Hkv === H || Hkv === 1) return kv;
  const group = H / Hkv;
  const spread = broadcastTo(reshape(kv, [...lead, Hkv, 1, S, c]), [...lead, Hkv, group, S, c]); // [..., Hkv, g, S, c]
  return reshape(spread, [...lead, H, S, c]); // [..., H, S, c]
}

/** y = allowed ? s : -Infinity; the gradient passes where allowed and is 0 where blocked. */
function blockScores(s: Var, allowed: Uint8Array): Var {
  const y = alloc(s.dtype, s.size);
  for (let i = 0; i < y.length; i++) y[i] = allowed[i] ? s.data[i] : -Infinity;
  // y = allowed ? s : -Infinity  →  ds = allowed ? dy : 0
  return Var.fromOp('blockScores', y, s.shape, [s], (g) => [g.map((x, i) => (allowed[i] ? x : 0))]);
}
