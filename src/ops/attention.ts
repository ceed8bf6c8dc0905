// scaledDotProductAttention: the public op. It validates its inputs once, turns them into the canonical
// AttentionProblem (broadcast and grouped-query heads become per-batch offsets), runs a kernel, and wraps the flat
// results back into tensors. Those three steps are `attend`, the one door through which every caller (this op,
// autograd's attention, nn's MultiHeadAttention) reaches an attention kernel; `selfAttend` is the door to the fused
// self-attention kernel. Semantics follow torch.nn.functional.scaled_dot_product_attention; docs/SEMANTICS.md
// lists where qkv deliberately differs.

import { ArgumentError, ShapeError } from '../core/errors.js';
import { type Shape, broadcastStrides, formatShape, offsetsFor, sizeOf, stridesOf } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';
import { type BackendChoice, type BackendName, type Ran, checkChoice, runAttention, runSelfAttention } from '../kernels/backend.js';
import {
  type AttentionProblem,
  type AttentionResult,
  type BroadcastOperand,
  type CausalAlignment,
  type ScoreSettings,
  causalAllows,
} from '../kernels/contract.js';

/** Options of {@link scaledDotProductAttention}. */
export interface AttentionOptions {
  /**
   * Which keys each query may attend: **nonzero = may attend, 0 = blocked** (the SDPA / Keras / ONNX convention;
   * PyTorch's nn.MultiheadAttention uses the opposite). Broadcastable to `[...batch, N, S]`.
   * A key padding mask is `[B, 1, 1, S]`.
   * @default undefined (every key allowed)
   */
  mask?: Tensor;
  /**
   * Added to the scores after scaling (ALiBi, relative positions). May hold -Infinity.
   * Broadcastable to `[...batch, N, S]`.
   * @default undefined
   */
  bias?: Tensor;
  /**
   * Causal masking. `true` or `"top-left"`: query i attends keys j ≤ i (PyTorch `is_causal`).
   * `"bottom-right"`: j ≤ i + S − N (FlashAttention, ONNX with a cache), which is what decoding with a cache needs.
   * @default false
   */
  causal?: boolean | 'top-left' | 'bottom-right';
  /**
   * Multiplies Q·Kᵀ. 0 and negative values are honoured.
   * @default 1 / sqrt(d)
   */
  scale?: number;
  /**
   * Soft capping (Gemma 2, ONNX Attention): scores become softcap · tanh(scores / softcap), after scaling and
   * before bias and mask. 0 turns it off.
   * @default 0
   */
  softcap?: number;
  /**
   * Also return the attention weights `[...batch, N, S]`.
   * @default false
   */
  returnWeights?: boolean;
  /**
   * Also return every step of the computation (the seed's steps 1.1 to 1.3), per head.
   * @default false
   */
  trace?: boolean;
  /**
   * The backend for this call; see {@link setBackend}.
   * @default the global choice, "auto" unless changed
   */
  backend?: BackendChoice;
}

/** Every intermediate of one attention call. Each tensor is `[...batch, N, S]` except `output`. */
export interface AttentionTrace {
  /** Step 1.1: the raw scores Q·Kᵀ, before scaling. */
  scores: Tensor;
  /**
   * Step 1.1: the logits of the softmax: scores scaled, soft-capped, biased and masked (blocked positions hold
   * -Infinity).
   */
  logits: Tensor;
  /** Step 1.2: the softmax weights; each row sums to 1 (0 for a row with no allowed key). */
  weights: Tensor;
  /** Step 1.3: the weighted sums of the values `[...batch, N, dv]`. */
  output: Tensor;
}

export interface AttentionOutput {
  /** `[...batch, N, dv]` */
  output: Tensor;
  /**
   * The backend that computed this call: "wasm", or "reference" (chosen, or run because the fast backend declined
   * the problem, e.g. for a trace, or is not available).
   */
  backend: BackendName;
  /** `[...batch, N, S]`, when `returnWeights` is set. */
  weights?: Tensor;
  /** When `trace` is set. */
  trace?: AttentionTrace;
}

/**
 * Scaled dot-product attention: softmax(Q·Kᵀ · scale + bias, masked) · V, computed for all tokens at once.
 *
 * - query `[...batch, N, d]`, key `[...batch, S, d]`, value `[...batch, S, dv]`.
 * - Batch dims broadcast where one side has size 1 (PyTorch's rules).
 * - Grouped-query attention: when the heads dim (third from last) is Hkv for key/value and H for query with
 *   H % Hkv == 0, query head h reads key/value head floor(h / (H / Hkv)) (PyTorch's `enable_gqa`).
 * - A query row with no allowed key gives output 0 and weights 0, never NaN.
 *
 * @example
 * const q = Tensor.randn([1, 4, 8, 16], 1); // [B, H, N, d]
 * const { output } = scaledDotProductAttention(q, q, q, { causal: true }); // [1, 4, 8, 16]
 */
export function scaledDotProductAttention(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options: AttentionOptions = {},
): AttentionOutput {
  return attend('scaledDotProductAttention', query, key, value, options);
}

/**
 * Internal: validates, runs and wraps one attention call (prepareAttention → runAttention → wrapAttention), naming
 * `fn` in errors. Shapes as {@link scaledDotProductAttention}.
 */
export function attend(fn: string, query: Tensor, key: Tensor, value: Tensor, options: AttentionOptions): AttentionOutput {
  const prepared = prepareAttention(fn, query, key, value, options);
  const request = { weights: options.returnWeights === true, trace: options.trace === true };
  return wrapAttention(prepared, runAttention(fn, prepared.problem, request, prepared.backend));
}

/** The packed weights of a self-attention (MultiHeadAttention's in_proj and out_proj), float32. */
export interface SelfAttentionWeights {
  /** [3D, D] and [3D] */
  inWeight: Float32Array;
  inBias: Float32Array | null;
  /** [D, D] and [D] */
  outWeight: Float32Array;
  outBias: Float32Array | null;
}

/**
 * Internal: self-attention with packed weights in one backend call (kernels/contract.ts SelfAttentionProblem):
 * x [B, N, D] → output [B, N, D], and the weights [B, H, N, N] when `returnWeights`. `options` may hold mask, bias,
 * causal, backend and returnWeights; mask and bias index the scores [B, H, N, N]. Null when no backend takes it:
 * the caller then composes the same steps, which give the same bits.
 */
export function selfAttend(
  fn: string,
  x: Tensor,
  H: number,
  weights: SelfAttentionWeights,
  options: AttentionOptions,
): AttentionOutput | null {
  const [B, N, D] = x.shape; // x [B, N, D]
  const scoreShape = [B, H, N, N];
  const backend = options.backend === undefined ? undefined : checkChoice(fn, options.backend);
  const problem = { B, N, D, H, x: x.data, ...weights, scores: scoreSettings(fn, options, scoreShape, D / H) };
  const result = runSelfAttention(problem, options.returnWeights === true, backend);
  if (result === null) return null;
  const out: AttentionOutput = { output: new Tensor(result.output, [B, N, D]), backend: result.backend }; // [B, N, D]
  if (result.weights) out.weights = new Tensor(result.weights, scoreShape); // [B, H, N, N]
  return out;
}

/**
 * The causal rule as a 0/1 mask [N, S] (1 = may attend), for callers that append keys the rule must not reach
 * (MultiHeadAttention's add_bias_kv and add_zero_attn).
 */
export function causalMask(fn: string, causal: AttentionOptions['causal'], N: number, S: number): Tensor {
  const alignment = parseCausal(fn, causal);
  const mask = new Float32Array(N * S); // [N, S]
  for (let i = 0; i < N; i++) for (let j = 0; j < S; j++) mask[i * S + j] = causalAllows(alignment, i, j, N, S) ? 1 : 0;
  return new Tensor(mask, [N, S]);
}

/** Internal: a per-call backend choice, validated (undefined stays undefined: the global choice). */
export function checkBackend(fn: string, choice: unknown): BackendChoice | undefined {
  return choice === undefined ? undefined : checkChoice(fn, choice);
}

/** A validated problem plus the shapes needed to wrap results back into tensors. */
export interface PreparedAttention {
  problem: AttentionProblem;
  /** The broadcast batch dims of the output (heads included). */
  batchShape: number[];
  /** The per-call backend choice, validated; undefined means the global choice. */
  backend: BackendChoice | undefined;
}

/**
 * Validates attention inputs and builds the canonical problem. `fn` names the public function in error messages,
 * so that callers such as MultiHeadAttention report their own name.
 */
export function prepareAttention(
  fn: string,
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options: AttentionOptions,
): PreparedAttention {
  for (const [name, t] of [['query', query], ['key', key], ['value', value]] as const) {
    if (!(t instanceof Tensor)) throw new ArgumentError(`${fn}: ${name} must be a Tensor; got ${describe(t)}`);
  }
  if (typeof options !== 'object' || options === null) {
    throw new ArgumentError(`${fn}: options must be an object; got ${describe(options)}`);
  }
  const got = `got query ${formatShape(query.shape)}, key ${formatShape(key.shape)}, value ${formatShape(value.shape)}`;
  if (query.rank < 2 || key.rank < 2 || value.rank < 2) {
    throw new ShapeError(`${fn}: query, key and value must be [..., N, d], [..., S, d] and [..., S, dv]; ${got}`);
  }
  const [N, d] = query.shape.slice(-2);
  const [S, dk] = key.shape.slice(-2);
  const [Sv, dv] = value.shape.slice(-2);
  if (dk !== d) throw new ShapeError(`${fn}: key must be [..., S, d] with d = ${d} as in query; ${got}`);
  if (Sv !== S) throw new ShapeError(`${fn}: value must be [..., S, dv] with S = ${S} as in key; ${got}`);
  if (d === 0) throw new ShapeError(`${fn}: query and key must have a head size d of at least 1; ${got}`);

  const qBatch = query.shape.slice(0, -2);
  const kBatch = key.shape.slice(0, -2);
  const vBatch = value.shape.slice(0, -2);
  const batchShape = broadcastBatch(qBatch, kBatch, vBatch);
  if (batchShape === null) {
    throw new ShapeError(
      `${fn}: batch dims of query, key and value must broadcast, and the heads dim (third from last) of key and ` +
        `value must divide that of query (grouped-query attention); ${got}`,
    );
  }

  const problem: AttentionProblem = {
    batch: sizeOf(batchShape),
    N,
    S,
    d,
    dv,
    query: query.data,
    key: key.data,
    value: value.data,
    queryOffsets: batchOffsets(qBatch, batchShape, N * d),
    keyOffsets: batchOffsets(kBatch, batchShape, S * d),
    valueOffsets: batchOffsets(vBatch, batchShape, S * dv),
    ...scoreSettings(fn, options, [...batchShape, N, S], d),
  };
  const backend = options.backend === undefined ? undefined : checkChoice(fn, options.backend);
  return { problem, batchShape, backend };
}

export type { ScoreSettings };

/**
 * Validates the options that act on the scores `[...batch, N, S]` of a problem with head size d: mask, bias, causal,
 * scale and softcap, with the mask and bias turned into operands over the flattened batch.
 */
export function scoreSettings(fn: string, options: AttentionOptions, scoreShape: number[], d: number): ScoreSettings {
  const causal = parseCausal(fn, options.causal);
  const scale = options.scale ?? 1 / Math.sqrt(d);
  if (typeof scale !== 'number' || !Number.isFinite(scale)) {
    throw new ArgumentError(`${fn}: scale must be a finite number; got ${describe(options.scale)}`);
  }
  const softcap = options.softcap ?? 0;
  if (typeof softcap !== 'number' || !Number.isFinite(softcap) || softcap < 0) {
    throw new ArgumentError(`${fn}: softcap must be a finite number ≥ 0 (0 = off); got ${describe(options.softcap)}`);
  }
  return {
    mask: scoreOperand(fn, 'mask', options.mask, scoreShape),
    bias: scoreOperand(fn, 'bias', options.bias, scoreShape),
    causal,
    scale,
    softcap,
  };
}

/** Wraps a kernel's flat results into tensors of the caller's batch shape. */
export function wrapAttention({ problem, batchShape }: PreparedAttention, result: Ran<AttentionResult>): AttentionOutput {
  const { N, S, dv } = problem;
  const scoreShape = [...batchShape, N, S];
  const output = new Tensor(result.output, [...batchShape, N, dv]); // [...batch, N, dv]
  const out: AttentionOutput = { output, backend: result.backend };
  if (result.weights) out.weights = new Tensor(result.weights, scoreShape); // [...batch, N, S]
  if (result.trace) {
    out.trace = {
      scores: new Tensor(result.trace.scores, scoreShape),
      logits: new Tensor(result.trace.logits, scoreShape),
      weights: new Tensor(result.trace.weights, scoreShape),
      output,
    };
  }
  return out;
}

function parseCausal(fn: string, causal: AttentionOptions['causal']): CausalAlignment {
  if (causal === undefined || causal === false) return 'none';
  if (causal === true || causal === 'top-left') return 'top-left';
  if (causal === 'bottom-right') return 'bottom-right';
  throw new ArgumentError(`${fn}: causal must be true, false, "top-left" or "bottom-right"; got ${describe(causal)}`);
}

/**
 * The broadcast batch shape of query, key and value, or null. Every dim follows PyTorch broadcasting, except that
 * in the heads dim (the last batch dim) key and value may also have a size that divides the query's: grouped-query
 * attention.
 */
function broadcastBatch(q: Shape, k: Shape, v: Shape): number[] | null {
  const rank = Math.max(q.length, k.length, v.length);
  const aligned = (shape: Shape, o: number): number => shape[o - (rank - shape.length)] ?? 1;
  const out: number[] = [];
  for (let o = 0; o < rank; o++) {
    const size = Math.max(aligned(q, o), aligned(k, o), aligned(v, o));
    // Key and value may be grouped in the heads dim (the last batch dim); the query never is.
    const grouped = o === rank - 1;
    const fits = (s: number, mayGroup: boolean) => s === size || s === 1 || (mayGroup && s > 0 && size % s === 0);
    if (!fits(aligned(q, o), false) || !fits(aligned(k, o), grouped) || !fits(aligned(v, o), grouped)) return null;
    out.push(size);
  }
  return out;
}

/**
 * Element offsets of each [rows, cols] matrix of a tensor with batch dims `own` read at every index of the broadcast
 * batch shape `out`. A dim of size s inside an output dim of size n maps index h to floor(h · s / n): this is
 * broadcasting for s = 1, identity for s = n, and grouped-query sharing for s dividing n.
 */
function batchOffsets(own: Shape, out: Shape, matrixSize: number): Int32Array {
  const strides = stridesOf(own).map((s) => s * matrixSize);
  const offsets = new Int32Array(sizeOf(out));
  const lead = out.length - own.length;
  for (let b = 0; b < offsets.length; b++) {
    let rest = b;
    let offset = 0;
    for (let o = out.length - 1; o >= 0; o--) {
      const h = rest % out[o];
      rest = (rest - h) / out[o];
      if (o < lead) continue;
      const size = own[o - lead];
      offset += Math.floor((h * size) / out[o]) * strides[o - lead];
    }
    offsets[b] = offset;
  }
  return offsets;
}

/** Validates a mask or bias against `[...batch, N, S]` and describes how to read it. */
function scoreOperand(fn: string, name: string, t: Tensor | undefined, target: number[]): BroadcastOperand | null {
  if (t === undefined) return null;
  if (!(t instanceof Tensor)) throw new ArgumentError(`${fn}: ${name} must be a Tensor; got ${describe(t)}`);
  const fitsTarget =
    t.rank <= target.length && t.shape.every((s, i) => s === 1 || s === target[target.length - t.rank + i]);
  if (!fitsTarget) {
    throw new ShapeError(
      `${fn}: ${name} must broadcast to [...batch, N, S] = ${formatShape(target)}; got ${name} ${formatShape(t.shape)}`,
    );
  }
  const strides = broadcastStrides(t.shape, target);
  const r = target.length;
  return {
    data: t.data,
    offsets: offsetsFor(target.slice(0, -2), strides.slice(0, -2)),
    rowStride: strides[r - 2],
    colStride: strides[r - 1],
  };
}
