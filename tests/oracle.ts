// A float64 oracle for scaled dot-product attention, written from the definition and independent of src/: the
// property suite and the awkward-size table compare every backend with it (the reference could not be compared
// with itself).

import { type Tensor } from '../src/index.js';
import { type Causal, causalAllows } from './arbitraries.js';

export interface NaiveOptions {
  mask?: Tensor; // [...batch, N, S], explicit (no broadcasting)
  bias?: Tensor; // [...batch, N, S], explicit
  causal: Causal;
  scale: number;
  softcap: number;
}

/**
 * softmax(Q·Kᵀ·scale, softcapped, + bias, masked)·V in float64, straight from the definition, on explicit inputs:
 * query [...batch, N, d], key [...batch, S, d], value [...batch, S, dv] with equal batch dims. A row whose logits
 * are all -Infinity gives weights 0 and output 0 (qkv's documented choice).
 */
export function naiveAttention(query: Tensor, key: Tensor, value: Tensor, o: NaiveOptions) {
  const [N, d] = query.shape.slice(-2);
  const [S, dv] = value.shape.slice(-2);
  const batch = query.size / (N * d);
  const output = new Float64Array(batch * N * dv); // [batch, N, dv]
  const weights = new Float64Array(batch * N * S); // [batch, N, S]
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < N; i++) {
      const logits: number[] = [];
      for (let j = 0; j < S; j++) {
        const at = (b * N + i) * S + j;
        const open = causalAllows(o.causal, i, j, N, S) && (o.mask === undefined || o.mask.data[at] !== 0);
        if (!open) {
          logits.push(-Infinity);
          continue;
        }
        let dot = 0;
        for (let c = 0; c < d; c++) dot += query.data[(b * N + i) * d + c] * key.data[(b * S + j) * d + c];
        let logit = dot * o.scale;
        if (o.softcap > 0) logit = o.softcap * Math.tanh(logit / o.softcap);
        logits.push(logit + (o.bias === undefined ? 0 : o.bias.data[at]));
      }
      const max = Math.max(-Infinity, ...logits);
      if (max === -Infinity) continue;
      const exps = logits.map((l) => Math.exp(l - max));
      const total = exps.reduce((s, e) => s + e, 0);
      for (let j = 0; j < S; j++) {
        const w = exps[j] / total;
        weights[(b * N + i) * S + j] = w;
        for (let c = 0; c < dv; c++) output[(b * N + i) * dv + c] += w * value.data[(b * S + j) * dv + c];
      }
    }
  }
  return { output, weights };
}
