// Reference backward of scaled dot-product attention: the gradients of a loss L with respect to query, key, value
// (and bias), given dL/d(output). It mirrors llm.c's attention_backward and what PyTorch autograd computes through the
// SDPA math (matmul, scale, tanh, add, masked_fill, softmax, matmul). It recomputes the forward's passes of
// reference/attention.ts for one query row, then walks them in reverse, each pass restating the forward line it
// differentiates:
//
//   for every batch index b and query row i (the forward's row, recomputed: w[j] and the softcap slope):
//     1.3ᵀ aggregating  out[i] = Σ_j w[j] · v[j]
//                        → dv[j] += w[j] · dout[i]            dw[j] = dout[i] · v[j]
//     1.2ᵀ weighting    w = softmax(score)
//                        → dscore[j] = w[j] · (dw[j] − Σ_k w[k] · dw[k])
//                          (Σ_k w[k] · dw[k] = dout[i] · out[i], FlashAttention's D_i)
//     1.1ᵀ scoring      score[j] = softcap(raw[j] · scale) + bias[i, j],  raw[j] = q[i] · k[j]
//                        → dbias[i, j] += dscore[j]
//                          draw[j] = dscore[j] · (1 − tanh²(raw[j] · scale / softcap)) · scale   (no tanh: slope 1)
//                          dq[i] += Σ_j draw[j] · k[j]         dk[j] += draw[j] · q[i]
//
// Only allowed keys take part, as in the forward: a blocked key (mask 0, causal) is never read and gets no gradient
// from the row, and a row with no allowed key (output 0 whatever the inputs) gives no gradient at all, never NaN
// (PyTorch's plain math gives NaN there, pytorch#41508).
//
// The gradients are returned in the problem's input layouts: dq has query's elements, dk key's, dv value's, dbias
// bias's, and every batch index adds into them through the same per-batch offsets the forward read through. So
// broadcast batch dims and grouped-query heads (several query heads reading one key/value head) are summed without a
// separate reduction. Everything accumulates in float64, in the fixed order b, i, j, and is rounded to float32 once.

import { type AttentionGradientsResult, type AttentionProblem } from '../kernels/contract.js';
import { rowBuffers, scoreRow, softmaxRow } from './attention.js';

export type { AttentionGradientsResult } from '../kernels/contract.js';

/**
 * Gradients of attention for a validated problem. See the file header for the math.
 * Shapes: gradOutput [batch, N, dv]; results in the layouts of query, key, value and bias.
 */
export function attentionBackwardReference(p: AttentionProblem, gradOutput: Float32Array): AttentionGradientsResult {
  const { batch, N, S, d, dv, scale, bias } = p;
  const gradQ = new Float64Array(p.query.length); // like query
  const gradK = new Float64Array(p.key.length); // like key
  const gradV = new Float64Array(p.value.length); // like value
  const gradBias = bias ? new Float64Array(bias.data.length) : null; // like bias

  const row = rowBuffers(S, { slope: true }); // one row: scores, then weights; softcap slopes
  const { logits: w, allowed, slope } = row;
  const dw = new Float64Array(S); // one row of dL/dw, overwritten by dL/dscore in 1.2ᵀ

  for (let b = 0; b < batch; b++) {
    const qBase = p.queryOffsets[b];
    const kBase = p.keyOffsets[b];
    const vBase = p.valueOffsets[b];
    for (let i = 0; i < N; i++) {
      const qi = qBase + i * d;
      const oi = (b * N + i) * dv; // row i of gradOutput [batch, N, dv]

      // 1.1 and 1.2, recomputed exactly as the forward computes them. A row with no key to attend outputs 0
      // whatever q, k, v and bias are, so nothing flows back.
      if (!softmaxRow(row, scoreRow(p, b, i, row))) continue;

      // 1.3ᵀ aggregating: out[i] = Σ_j w[j] · v[j]  →  dv[j] += w[j] · dout[i],  dw[j] = dout[i] · v[j].
      for (let j = 0; j < S; j++) {
        if (!allowed[j]) continue;
        const vj = vBase + j * dv;
        let g = 0;
        for (let c = 0; c < dv; c++) {
          const go = gradOutput[oi + c];
          g += go * p.value[vj + c];
          gradV[vj + c] += w[j] * go;
        }
        dw[j] = g;
      }

      // 1.2ᵀ weighting: w = softmax(score)  →  dscore[j] = w[j] · (dw[j] − D),
      //   D = Σ_k w[k] · dw[k] = dout[i] · out[i].
      let D = 0;
      for (let j = 0; j < S; j++) if (allowed[j]) D += w[j] * dw[j];
      for (let j = 0; j < S; j++) if (allowed[j]) dw[j] = w[j] * (dw[j] - D);

      // 1.1ᵀ scoring: score[j] = softcap(raw[j] · scale) + bias[i, j],  raw[j] = q[i] · k[j]
      //   →  dbias[i, j] += dscore[j],  draw[j] = dscore[j] · slope[j] · scale,
      //      dq[i] += draw[j] · k[j],  dk[j] += draw[j] · q[i].
      for (let j = 0; j < S; j++) {
        if (!allowed[j]) continue;
        if (gradBias && bias) gradBias[bias.offsets[b] + i * bias.rowStride + j * bias.colStride] += dw[j];
        const draw = dw[j] * slope![j] * scale;
        const kj = kBase + j * d;
        for (let c = 0; c < d; c++) {
          gradQ[qi + c] += draw * p.key[kj + c];
          gradK[kj + c] += draw * p.query[qi + c];
        }
      }
    }
  }

  const result: AttentionGradientsResult = {
    query: Float32Array.from(gradQ),
    key: Float32Array.from(gradK),
    value: Float32Array.from(gradV),
  };
  if (gradBias) result.bias = Float32Array.from(gradBias);
  return result;
}
