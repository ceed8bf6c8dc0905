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

import { type AttentionProblem, type AttentionRequest, type AttentionResult, causalAllows } from '../kernels/contract.js';

// The contract's types, re-exported for the modules that still read them here (kernels/wasm).
export type {
  AttentionProblem,
  AttentionRequest,
  AttentionResult,
  BroadcastOperand,
  CausalAlignment,
} from '../kernels/contract.js';
export { causalAllows };

/**
 * Buffers for one query row, [S] each. The forward and the backward both score and weight rows through
 * {@link scoreRow} and {@link softmaxRow}, so the backward differentiates exactly the numbers the forward computed.
 */
export interface RowBuffers {
  /** After scoreRow: the scores, -Infinity where blocked. After softmaxRow: the weights, 0 where blocked. */
  logits: Float64Array;
  /** 1 where the mask and the causal rule allow the key. */
  allowed: Uint8Array;
  /** When given, receives the raw q·k of every key, blocked ones too (a trace shows them). */
  raw: Float64Array | null;
  /** When given, receives d score / d (raw · scale) of each allowed key: softcap's 1 − tanh², else 1. */
  slope: Float64Array | null;
}

export function rowBuffers(S: number, options: { raw?: boolean; slope?: boolean } = {}): RowBuffers {
  return {
    logits: new Float64Array(S),
    allowed: new Uint8Array(S),
    raw: options.raw ? new Float64Array(S) : null,
    slope: options.slope ? new Float64Array(S) : null,
  };
}

/**
 * Step 1.1 for query row i of batch matrix b: score[j] = softcap(q·k[j] · scale) + bias[i, j] over the allowed keys,
 * -Infinity elsewhere. A blocked key is never read (unless `raw` asks for its dot product).
 * @returns the row's maximum score: -Infinity when no key can be attended, NaN when an allowed score is NaN.
 */
export function scoreRow(p: AttentionProblem, b: number, i: number, row: RowBuffers): number {
  const { N, S, d, scale, softcap, causal, mask, bias } = p;
  const qi = p.queryOffsets[b] + i * d;
  const kBase = p.keyOffsets[b];
  let max = -Infinity;
  let nan = false;
  for (let j = 0; j < S; j++) {
    const open =
      causalAllows(causal, i, j, N, S) &&
      (mask === null || mask.data[mask.offsets[b] + i * mask.rowStride + j * mask.colStride] !== 0);
    row.allowed[j] = open ? 1 : 0;
    row.logits[j] = -Infinity;
    if (!open && row.raw === null) continue;
    let raw = 0;
    const kj = kBase + j * d;
    for (let c = 0; c < d; c++) raw += p.query[qi + c] * p.key[kj + c];
    if (row.raw !== null) row.raw[j] = raw;
    if (!open) continue;

    let s = raw * scale;
    if (softcap > 0) {
      const t = Math.tanh(s / softcap);
      s = softcap * t;
      if (row.slope !== null) row.slope[j] = 1 - t * t;
    } else if (row.slope !== null) row.slope[j] = 1;
    if (bias) s += bias.data[bias.offsets[b] + i * bias.rowStride + j * bias.colStride];
    row.logits[j] = s;
    if (s > max) max = s;
    else if (Number.isNaN(s)) nan = true;
  }
  return nan ? NaN : max;
}

/**
 * Step 1.2: a stable softmax over the allowed keys, in place: logits become weights, 0 where blocked.
 * `max` is scoreRow's result. A row with no key to attend (max = -Infinity: all blocked, or all biased to -Infinity)
 * is left alone and gets false: its output is 0, not 0/0 = NaN. A NaN max makes the whole row NaN.
 */
export function softmaxRow(row: RowBuffers, max: number): boolean {
  if (max === -Infinity) return false;
  const { logits, allowed } = row;
  let sum = 0;
  for (let j = 0; j < logits.length; j++) {
    logits[j] = allowed[j] ? Math.exp(logits[j] - max) : 0;
    sum += logits[j];
  }
  for (let j = 0; j < logits.length; j++) if (allowed[j]) logits[j] /= sum;
  return true;
}

/**
 * Computes attention for a validated problem. See the file header for the math.
 * Shapes: output [batch, N, dv]; weights, scores, logits [batch, N, S].
 */
export function attentionReference(p: AttentionProblem, request: AttentionRequest): AttentionResult {
  const { batch, N, S, dv } = p;
  const output = new Float32Array(batch * N * dv); // [batch, N, dv]
  const weights = request.weights || request.trace ? new Float32Array(batch * N * S) : undefined; // [batch, N, S]
  const scores = request.trace ? new Float32Array(batch * N * S) : undefined; // [batch, N, S]
  const logits = request.trace ? new Float32Array(batch * N * S) : undefined; // [batch, N, S]

  const row = rowBuffers(S, { raw: request.trace });
  const acc = new Float64Array(dv);

  for (let b = 0; b < batch; b++) {
    const vBase = p.valueOffsets[b];
    for (let i = 0; i < N; i++) {
      const at = (b * N + i) * S; // offset of row i in the [batch, N, S] outputs

      // 1.1 scoring, and 1.2 weighting.
      const max = scoreRow(p, b, i, row);
      if (scores) scores.set(row.raw!, at);
      if (logits) logits.set(row.logits, at);
      if (!softmaxRow(row, max)) continue;
      if (weights) weights.set(row.logits, at);

      // 1.3 aggregating: the weighted sum of the values of the allowed keys.
      acc.fill(0);
      for (let j = 0; j < S; j++) {
        if (!row.allowed[j]) continue;
        const w = row.logits[j];
        const vj = vBase + j * dv;
        for (let c = 0; c < dv; c++) acc[c] += w * p.value[vj + c];
      }
      const o = (b * N + i) * dv;
      for (let c = 0; c < dv; c++) output[o + c] = acc[c];
    }
  }
  const result: AttentionResult = { output };
  if (request.weights) result.weights = request.trace ? weights!.slice() : weights;
  if (scores && logits && weights) result.trace = { scores, logits, weights };
  return result;
}
