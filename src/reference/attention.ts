// Reference scaled dot-product attention: the specification that every fast kernel is tested against.
// It mirrors PyTorch's documented math for F.scaled_dot_product_attention and llm.c's attention_forward:
//
//   for every batch index b (all broadcast batch dims, heads included) and query row i:
//     1.1 scoring      raw[j]    = q[i] · k[j]                                  j < S
//                      score[j]  = softcap(raw[j] · scale) + bias[i, j]         blocked (mask 0, causal) → -Infinity
//     1.2 weighting    w[j]      = exp(score[j] − max) / Σ exp(score − max)     a row with no allowed key → all 0
//     1.3 aggregating  out[i]    = Σ_j w[j] · v[j]                              over allowed keys only
//
// Everything accumulates in float64 and is rounded to float32 once, at the end, so this is as exact as float32
// outputs can be. It is written to be read, not to be fast: O(N·S·d) plain loops, one row at a time.
//
// Semantics chosen where the anchors disagree (see docs/SEMANTICS.md):
// - A row with no allowed key gives weights 0 and output 0 (PyTorch gives NaN, ONNX and TF.js the mean of V).
// - A blocked key is never read: a NaN in its score or its value does not reach the row. A NaN in an allowed score
//   or value propagates to the row, as in PyTorch.

/** How a mask or bias of any broadcastable shape is read for one batch index: element (i, j) is at
 *  `offsets[b] + i * rowStride + j * colStride`. Strides are 0 on broadcast dims. */
export interface BroadcastOperand {
  data: Float32Array;
  offsets: Int32Array;
  rowStride: number;
  colStride: number;
}

/** Causal alignment. "top-left": key j ≤ i (PyTorch is_causal). "bottom-right": j ≤ i + S − N (FlashAttention). */
export type CausalAlignment = 'none' | 'top-left' | 'bottom-right';

/**
 * A validated attention problem in canonical form: every batch dim (heads included) is flattened to `batch`
 * matrices, and broadcasting or grouped-query sharing is expressed by per-batch element offsets. Backends receive
 * only this, never user tensors, so validation happens once, in ops/.
 */
export interface AttentionProblem {
  /** Flattened batch size: the product of the broadcast batch dims. */
  batch: number;
  N: number;
  S: number;
  d: number;
  dv: number;
  /** query [batch → offsets] [N, d], key [S, d], value [S, dv], each row-major with unit column stride. */
  query: Float32Array;
  key: Float32Array;
  value: Float32Array;
  queryOffsets: Int32Array;
  keyOffsets: Int32Array;
  valueOffsets: Int32Array;
  /** Nonzero = may attend. */
  mask: BroadcastOperand | null;
  /** Added to the scores after scale and softcap. May hold -Infinity. */
  bias: BroadcastOperand | null;
  causal: CausalAlignment;
  scale: number;
  /** 0 = off; otherwise scores become softcap · tanh(scores / softcap) before bias and mask. */
  softcap: number;
}

/** What a kernel is asked to produce besides the output. */
export interface AttentionRequest {
  weights: boolean;
  trace: boolean;
}

/** Kernel results as flat arrays: output [batch, N, dv]; weights and trace arrays [batch, N, S]. */
export interface AttentionResult {
  output: Float32Array;
  weights?: Float32Array;
  trace?: { scores: Float32Array; scaledScores: Float32Array; weights: Float32Array };
}

/** True when key j is allowed for query i by the causal rule alone. */
export function causalAllows(causal: CausalAlignment, i: number, j: number, N: number, S: number): boolean {
  if (causal === 'top-left') return j <= i;
  if (causal === 'bottom-right') return j <= i + S - N;
  return true;
}

/**
 * Computes attention for a validated problem. See the file header for the math.
 * Shapes: output [batch, N, dv]; weights, scores, scaledScores [batch, N, S].
 */
export function attentionReference(p: AttentionProblem, request: AttentionRequest): AttentionResult {
  const { batch, N, S, d, dv, scale, softcap, causal, mask, bias } = p;
  const output = new Float32Array(batch * N * dv); // [batch, N, dv]
  const weights = request.weights || request.trace ? new Float32Array(batch * N * S) : undefined; // [batch, N, S]
  const scores = request.trace ? new Float32Array(batch * N * S) : undefined; // [batch, N, S]
  const scaledScores = request.trace ? new Float32Array(batch * N * S) : undefined; // [batch, N, S]

  const logits = new Float64Array(S); // one row of scores, -Infinity where blocked
  const allowed = new Uint8Array(S);
  const acc = new Float64Array(dv);

  for (let b = 0; b < batch; b++) {
    const qBase = p.queryOffsets[b];
    const kBase = p.keyOffsets[b];
    const vBase = p.valueOffsets[b];
    for (let i = 0; i < N; i++) {
      const row = (b * N + i) * S; // offset of row i in the [batch, N, S] outputs

      // 1.1 scoring: raw dot products, then scale, softcap, bias, mask and causal.
      let max = -Infinity;
      let nan = false;
      for (let j = 0; j < S; j++) {
        let raw = 0;
        const qi = qBase + i * d;
        const kj = kBase + j * d;
        for (let c = 0; c < d; c++) raw += p.query[qi + c] * p.key[kj + c];
        if (scores) scores[row + j] = raw;

        let s = raw * scale;
        if (softcap > 0) s = softcap * Math.tanh(s / softcap);
        if (bias) s += bias.data[bias.offsets[b] + i * bias.rowStride + j * bias.colStride];
        const open =
          causalAllows(causal, i, j, N, S) &&
          (mask === null || mask.data[mask.offsets[b] + i * mask.rowStride + j * mask.colStride] !== 0);
        allowed[j] = open ? 1 : 0;
        logits[j] = open ? s : -Infinity;
        if (scaledScores) scaledScores[row + j] = logits[j];
        if (!open) continue;
        if (s > max) max = s;
        else if (Number.isNaN(s)) nan = true;
      }

      // 1.2 weighting: a stable softmax over the allowed keys. max = -Infinity means no key can be attended
      // (all blocked, or all biased to -Infinity): the row stays 0 instead of 0/0 = NaN.
      acc.fill(0);
      if (max === -Infinity && !nan) continue;
      if (nan) max = NaN;
      let sum = 0;
      for (let j = 0; j < S; j++) {
        const e = allowed[j] ? Math.exp(logits[j] - max) : 0;
        logits[j] = e;
        sum += e;
      }

      // 1.3 aggregating: the weighted sum of the values of the allowed keys.
      for (let j = 0; j < S; j++) {
        if (!allowed[j]) continue;
        const w = logits[j] / sum;
        if (weights) weights[row + j] = w;
        const vj = vBase + j * dv;
        for (let c = 0; c < dv; c++) acc[c] += w * p.value[vj + c];
      }
      const o = (b * N + i) * dv;
      for (let c = 0; c < dv; c++) output[o + c] = acc[c];
    }
  }
  const result: AttentionResult = { output };
  if (request.weights) result.weights = request.trace ? weights!.slice() : weights;
  if (scores && scaledScores && weights) result.trace = { scores, scaledScores, weights };
  return result;
}
