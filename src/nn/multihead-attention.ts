// MultiHeadAttention: torch.nn.MultiheadAttention with batch-first tensors, grouped-query heads and a key/value cache.
// It mirrors PyTorch's F.multi_head_attention_forward:
//
//   q = query · Wqᵀ + bq      [B, N, D]   → [B, H, N, d]
//   k = key   · Wkᵀ + bk      [B, S, Dk]  → [B, Hkv, S, d]    (+ bias_k, + a zero key, + the cache)
//   v = value · Wvᵀ + bv      [B, S, Dv]  → [B, Hkv, S, d]
//   o = attention(q, k, v)    [B, H, N, d] → [B, N, D]
//   output = o · Woᵀ + bo     [B, N, D]
//
// Deliberate differences from PyTorch (docs/SEMANTICS.md): tensors are batch-first; a mask is nonzero = may attend
// (PyTorch's attn_mask and key_padding_mask use True = blocked); a query with no allowed key outputs 0, not NaN.
//
// Training: the module is an nn Module whose parameters carry PyTorch's names (in_proj_weight or q/k/v_proj_weight,
// in_proj_bias, bias_k, bias_v, out_proj.weight, out_proj.bias), so stateDict / loadStateDict / namedParameters come
// from Module. `forward` is the inference path (cache, weights, trace); `forwardVar` runs the same math through
// src/autograd, on the same parameter storage, so gradients reach every parameter. The tensor accessors
// (qProjWeight, ...) are views of that storage; assigning to them copies in.

import { ArgumentError, ShapeError } from '../core/errors.js';
import { formatShape, sizeOf } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';
import {
  type AttentionOptions,
  type AttentionTrace,
  prepareAttention,
  scoreSettings,
  wrapAttention,
} from '../ops/attention.js';
import { type BackendChoice, checkChoice, runAttention, runLinear, runSelfAttention } from '../kernels/backend.js';
import { attention } from '../autograd/attention.js';
import { type VarLike, broadcastTo, concat, linear, narrow, permute, reshape } from '../autograd/tensor-ops.js';
import { Var, asVar } from '../autograd/var.js';
import { type Seed, normal, rngOf, uniform } from './init.js';
import { Linear } from './layers.js';
import { Module, Parameter } from './module.js';

/** Constructor options of {@link MultiHeadAttention}. Names follow nn.MultiheadAttention in camelCase. */
export interface MultiHeadAttentionConfig {
  /** Model width D = H · d. */
  embedDim: number;
  /** Query heads H; must divide embedDim. */
  numHeads: number;
  /**
   * Key/value heads Hkv for grouped-query attention; must divide numHeads.
   * @default numHeads
   */
  numKvHeads?: number;
  /**
   * Width Dk of the key input.
   * @default embedDim
   */
  kdim?: number;
  /**
   * Width Dv of the value input.
   * @default embedDim
   */
  vdim?: number;
  /**
   * Learn biases in the input and output projections.
   * @default true
   */
  bias?: boolean;
  /**
   * Append a learned key and value (bias_k, bias_v) to the key/value sequence.
   * @default false
   */
  addBiasKv?: boolean;
  /**
   * Append a zero key and value to the key/value sequence (after bias_k / bias_v).
   * @default false
   */
  addZeroAttn?: boolean;
  /**
   * Seed of the initialisation (PyTorch's scheme: Xavier-uniform projections, zero biases), or a shared Rng.
   * @default 0
   */
  seed?: Seed;
}

/** Options of {@link MultiHeadAttention.forward}. */
export interface MultiHeadAttentionOptions {
  /**
   * Nonzero = may attend, 0 = blocked; broadcastable to `[B, H, N, S]` (`[H, N, S]` unbatched).
   * A key padding mask is `[B, 1, 1, S]`. S counts cached keys, but not the keys that addBiasKv / addZeroAttn add.
   * @default undefined
   */
  mask?: Tensor;
  /**
   * Added to the scores; broadcastable to `[B, H, N, S]`. May hold -Infinity.
   * @default undefined
   */
  bias?: Tensor;
  /**
   * Causal masking, as in {@link AttentionOptions.causal}. With a cache, `true` means "bottom-right": each new token
   * attends the cached tokens and the new tokens up to itself.
   * @default false
   */
  causal?: AttentionOptions['causal'];
  /**
   * Return the attention weights.
   * @default false
   */
  returnWeights?: boolean;
  /**
   * Average the returned weights over heads (`[B, N, S]`) instead of per head (`[B, H, N, S]`), as PyTorch's
   * `average_attn_weights`.
   * @default true
   */
  averageWeights?: boolean;
  /**
   * Return the projected queries, keys and values per head, and every step of the attention.
   * @default false
   */
  trace?: boolean;
  /**
   * A cache from {@link MultiHeadAttention.createCache}. The new keys and values are appended to it, and the queries
   * attend everything cached so far. Feeding a sequence token by token, or in chunks, equals one causal pass.
   * @default undefined
   */
  cache?: KVCache;
  /**
   * The backend for this call; see {@link setBackend}.
   * @default the global choice
   */
  backend?: BackendChoice;
}

/** Options of {@link MultiHeadAttention.forwardVar}: those of forward that apply to training. */
export type MultiHeadAttentionVarOptions = Pick<MultiHeadAttentionOptions, 'mask' | 'bias' | 'causal' | 'backend'>;

/** The steps of one forward pass. Per-head tensors are `[B, H, ...]` (no B when the input was unbatched). */
export interface MultiHeadAttentionTrace extends AttentionTrace {
  /** Projected queries `[B, H, N, d]`. */
  query: Tensor;
  /** Projected keys `[B, Hkv, S, d]`, cache and appended keys included. */
  key: Tensor;
  /** Projected values `[B, Hkv, S, d]`. */
  value: Tensor;
  /** The output before the output projection, heads concatenated: `[B, N, D]`. */
  heads: Tensor;
}

export interface MultiHeadAttentionOutput {
  /** `[B, N, D]` (`[N, D]` unbatched) */
  output: Tensor;
  /** `[B, N, S]` averaged, or `[B, H, N, S]` per head, when `returnWeights` is set. */
  weights?: Tensor;
  trace?: MultiHeadAttentionTrace;
}

/**
 * Keys and values of earlier tokens, projected and split into heads, for incremental decoding.
 * Create one per sequence batch with {@link MultiHeadAttention.createCache}.
 */
export class KVCache {
  /** Cached keys `[B, Hkv, S, d]`, or null before the first call. */
  key: Tensor | null = null;
  /** Cached values `[B, Hkv, S, d]`. */
  value: Tensor | null = null;

  /** Number of cached tokens S. */
  get length(): number {
    return this.key === null ? 0 : this.key.shape[2];
  }

  /** Forgets every cached token. */
  reset(): void {
    this.key = null;
    this.value = null;
  }
}

/**
 * Multi-head attention with learned projections, as torch.nn.MultiheadAttention(batch_first=True).
 *
 * @example
 * const mha = new MultiHeadAttention({ embedDim: 64, numHeads: 4, seed: 1 });
 * const x = Tensor.randn([2, 10, 64], 2); // [B, N, D]
 * const { output, weights } = mha.forward(x, undefined, undefined, { causal: true, returnWeights: true });
 * // output [2, 10, 64], weights [2, 10, 10] (averaged over heads)
 */
export class MultiHeadAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** Head size d = D / H. */
  readonly headDim: number;
  readonly kdim: number;
  readonly vdim: number;
  readonly hasBias: boolean;
  readonly addBiasKv: boolean;
  readonly addZeroAttn: boolean;

  /** `in_proj_weight` [D + 2·Hkv·d, D] when {@link packed}: the q, k and v projections stacked; else null. */
  readonly inProjWeightParam: Parameter | null;
  /** `q_proj_weight` [D, D], `k_proj_weight` [Hkv·d, Dk], `v_proj_weight` [Hkv·d, Dv] when not packed; else null. */
  readonly qProjWeightParam: Parameter | null;
  readonly kProjWeightParam: Parameter | null;
  readonly vProjWeightParam: Parameter | null;
  /** `in_proj_bias` [D + 2·Hkv·d] or null. */
  readonly inProjBiasParam: Parameter | null;
  /** `bias_k`, `bias_v` [1, 1, Hkv·d] or null. */
  readonly biasKParam: Parameter | null;
  readonly biasVParam: Parameter | null;
  /** `out_proj`: [D, D] weight and [D] bias. */
  readonly outProj: Linear;

  constructor(config: MultiHeadAttentionConfig) {
    super('MultiHeadAttention');
    const fn = 'MultiHeadAttention';
    if (typeof config !== 'object' || config === null) {
      throw new ArgumentError(`${fn}: config must be an object; got ${describe(config)}`);
    }
    const positive = (name: string, v: unknown): number => {
      if (!Number.isSafeInteger(v) || (v as number) < 1) {
        throw new ArgumentError(`${fn}: ${name} must be a positive integer; got ${describe(v)}`);
      }
      return v as number;
    };
    const D = positive('embedDim', config.embedDim);
    const H = positive('numHeads', config.numHeads);
    const Hkv = positive('numKvHeads', config.numKvHeads ?? H);
    if (D % H !== 0) throw new ArgumentError(`${fn}: embedDim (${D}) must be divisible by numHeads (${H})`);
    if (H % Hkv !== 0) throw new ArgumentError(`${fn}: numHeads (${H}) must be divisible by numKvHeads (${Hkv})`);
    this.embedDim = D;
    this.numHeads = H;
    this.numKvHeads = Hkv;
    this.headDim = D / H;
    this.kdim = positive('kdim', config.kdim ?? D);
    this.vdim = positive('vdim', config.vdim ?? D);
    this.hasBias = config.bias ?? true;
    this.addBiasKv = config.addBiasKv ?? false;
    this.addZeroAttn = config.addZeroAttn ?? false;

    // PyTorch's _reset_parameters: Xavier-uniform in-projections (over the packed [3D, D] matrix when packed), zero
    // biases, Kaiming-uniform(a=√5) out-projection (bound 1/√D), Xavier-normal bias_k / bias_v. The draws happen in
    // this order from one stream, so a seed always gives the same module.
    const rng = rngOf(config.seed ?? 0, fn);
    const Dkv = Hkv * this.headDim;
    if (this.packed) {
      // q, k and v drawn one after the other are the rows of the packed matrix, in order.
      const weight = uniform([D + 2 * Dkv, D], Math.sqrt(6 / (D + D + 2 * Dkv)), rng);
      this.inProjWeightParam = this.addParameter('in_proj_weight', new Parameter(weight));
      this.qProjWeightParam = this.kProjWeightParam = this.vProjWeightParam = null;
    } else {
      this.inProjWeightParam = null;
      const q = uniform([D, D], Math.sqrt(6 / (D + D)), rng);
      const k = uniform([Dkv, this.kdim], Math.sqrt(6 / (Dkv + this.kdim)), rng);
      const v = uniform([Dkv, this.vdim], Math.sqrt(6 / (Dkv + this.vdim)), rng);
      this.qProjWeightParam = this.addParameter('q_proj_weight', new Parameter(q));
      this.kProjWeightParam = this.addParameter('k_proj_weight', new Parameter(k));
      this.vProjWeightParam = this.addParameter('v_proj_weight', new Parameter(v));
    }
    this.inProjBiasParam = this.hasBias ? this.addParameter('in_proj_bias', new Parameter(Tensor.zeros([D + 2 * Dkv]))) : null;
    const outWeight = uniform([D, D], 1 / Math.sqrt(D), rng);
    const std = Math.sqrt(2 / (2 * Dkv));
    this.biasKParam = this.addBiasKv ? this.addParameter('bias_k', new Parameter(normal([1, 1, Dkv], std, rng))) : null;
    this.biasVParam = this.addBiasKv ? this.addParameter('bias_v', new Parameter(normal([1, 1, Dkv], std, rng))) : null;
    // out_proj is an nn.Linear in PyTorch too; its own initialisation is replaced by the draws above.
    this.outProj = this.addModule('out_proj', new Linear(D, D, { bias: this.hasBias, seed: 0 }));
    this.outProj.weight.data.set(outWeight.data);
    this.outProj.bias?.data.fill(0);
  }

  /** True when the q, k and v projections are stored as one `in_proj_weight` (PyTorch's `_qkv_same_embed_dim`). */
  get packed(): boolean {
    return this.kdim === this.embedDim && this.vdim === this.embedDim && this.numKvHeads === this.numHeads;
  }

  /** [D, D] (a view of in_proj_weight's rows when packed). Assigning copies into the parameter. */
  get qProjWeight(): Tensor {
    return this.weightView(0);
  }
  set qProjWeight(t: Tensor) {
    this.weightView(0, t);
  }
  /** [Hkv·d, Dk] */
  get kProjWeight(): Tensor {
    return this.weightView(1);
  }
  set kProjWeight(t: Tensor) {
    this.weightView(1, t);
  }
  /** [Hkv·d, Dv] */
  get vProjWeight(): Tensor {
    return this.weightView(2);
  }
  set vProjWeight(t: Tensor) {
    this.weightView(2, t);
  }
  /** [D + 2·Hkv·d], the q, k and v biases in that order; null without bias. */
  get inProjBias(): Tensor | null {
    return this.inProjBiasParam?.value ?? null;
  }
  set inProjBias(t: Tensor | null) {
    assign('inProjBias', this.inProjBiasParam, t);
  }
  /** [D, D] */
  get outProjWeight(): Tensor {
    return this.outProj.weight.value;
  }
  set outProjWeight(t: Tensor) {
    assign('outProjWeight', this.outProj.weight, t);
  }
  /** [D] or null */
  get outProjBias(): Tensor | null {
    return this.outProj.bias?.value ?? null;
  }
  set outProjBias(t: Tensor | null) {
    assign('outProjBias', this.outProj.bias, t);
  }
  /** [1, 1, Hkv·d] or null */
  get biasK(): Tensor | null {
    return this.biasKParam?.value ?? null;
  }
  set biasK(t: Tensor | null) {
    assign('biasK', this.biasKParam, t);
  }
  /** [1, 1, Hkv·d] or null */
  get biasV(): Tensor | null {
    return this.biasVParam?.value ?? null;
  }
  set biasV(t: Tensor | null) {
    assign('biasV', this.biasVParam, t);
  }

  /** A new, empty key/value cache for incremental decoding. */
  createCache(): KVCache {
    return new KVCache();
  }

  /**
   * Attends from `query` to `key`/`value`: self-attention when both are omitted (key defaults to query, value to key).
   *
   * - query `[B, N, D]`, key `[B, S, Dk]`, value `[B, S, Dv]`; or all unbatched: `[N, D]`, `[S, Dk]`, `[S, Dv]`.
   * - Returns output `[B, N, D]` and, on request, weights `[B, N, S]` (averaged) or `[B, H, N, S]`.
   */
  forward(
    query: Tensor,
    key: Tensor = query,
    value: Tensor = key,
    options: MultiHeadAttentionOptions = {},
  ): MultiHeadAttentionOutput {
    const fn = 'MultiHeadAttention.forward';
    for (const [name, t] of [['query', query], ['key', key], ['value', value]] as const) {
      if (!(t instanceof Tensor)) throw new ArgumentError(`${fn}: ${name} must be a Tensor; got ${describe(t)}`);
    }
    if (typeof options !== 'object' || options === null) {
      throw new ArgumentError(`${fn}: options must be an object; got ${describe(options)}`);
    }
    const { numHeads: H, numKvHeads: Hkv, headDim: d } = this;
    const { batched, B, N, got } = this.checkInputs(fn, query.shape, key.shape, value.shape);
    const q3 = batched ? query : query.reshape([1, ...query.shape]); // [B, N, D]
    const k3 = batched ? key : key.reshape([1, ...key.shape]); // [B, S, Dk]
    const v3 = batched ? value : value.reshape([1, ...value.shape]); // [B, S, Dv]
    const cache = options.cache;
    if (cache !== undefined) {
      if (!(cache instanceof KVCache)) throw new ArgumentError(`${fn}: cache must come from createCache(); got ${describe(cache)}`);
      if (this.addBiasKv || this.addZeroAttn) {
        throw new ArgumentError(`${fn}: a cache cannot be combined with addBiasKv or addZeroAttn`);
      }
      if (cache.key !== null && (cache.key.shape[0] !== B || cache.key.shape[1] !== Hkv || cache.key.shape[3] !== d)) {
        throw new ShapeError(
          `${fn}: cache holds keys [B, Hkv, S, d] = ${formatShape(cache.key.shape)}, which do not fit B = ${B}, ` +
            `Hkv = ${Hkv}, d = ${d}; ${got}`,
        );
      }
    }

    const backend = options.backend === undefined ? undefined : checkChoice(fn, options.backend);
    const selfAttention = this.inProjWeightParam !== null && key === query && value === query;
    if (selfAttention && cache === undefined && options.trace !== true && !this.addBiasKv && !this.addZeroAttn) {
      const fused = this.fusedSelfAttention(fn, q3, options, batched, backend);
      if (fused !== null) return fused;
    }

    // Input projections, split into heads. Self-attention with packed weights projects once, x · in_proj_weightᵀ:
    // every element of a product is computed on its own (kernels/backend.ts runLinear), so this equals the three
    // products of forwardVar bit for bit.
    const [bq, bk, bv] = this.splitInProjBias();
    let q: Tensor, k: Tensor, v: Tensor;
    if (selfAttention) {
      const D = this.embedDim;
      const qkv = project(q3, this.inProjWeightParam.value, this.inProjBias?.data ?? null, backend); // [B, N, 3D]
      q = splitHeads(qkv, H, 0, D); // [B, H, N, d]
      k = splitHeads(qkv, Hkv, D, D); // [B, Hkv, S, d]
      v = splitHeads(qkv, Hkv, 2 * D, D); // [B, Hkv, S, d]
    } else {
      const Dkv = Hkv * d;
      q = splitHeads(project(q3, this.qProjWeight, bq, backend), H, 0, H * d); // [B, H, N, d]
      k = splitHeads(project(k3, this.kProjWeight, bk, backend), Hkv, 0, Dkv); // [B, Hkv, S, d]
      v = splitHeads(project(v3, this.vProjWeight, bv, backend), Hkv, 0, Dkv); // [B, Hkv, S, d]
    }
    let causal = options.causal;
    if (cache !== undefined) {
      if (cache.key !== null && cache.value !== null) {
        k = concatSeq(cache.key, k); // [B, Hkv, S_cached + S, d]
        v = concatSeq(cache.value, v); // [B, Hkv, S_cached + S, d]
      }
      cache.key = k;
      cache.value = v;
      if (causal === true) causal = 'bottom-right';
    }
    const St = k.shape[2];

    const scores = this.scoreOptions(fn, { mask: options.mask, bias: options.bias, causal }, [B, H, N, St], batched);
    if (this.biasK !== null && this.biasV !== null) {
      k = concatSeq(k, splitHeads(this.biasK.broadcastTo([B, 1, Hkv * d]), Hkv, 0, Hkv * d)); // [B, Hkv, S + 1, d]
      v = concatSeq(v, splitHeads(this.biasV.broadcastTo([B, 1, Hkv * d]), Hkv, 0, Hkv * d)); // [B, Hkv, S + 1, d]
    }
    if (this.addZeroAttn) {
      k = concatSeq(k, Tensor.zeros([B, Hkv, 1, d])); // [B, Hkv, S + extra, d]
      v = concatSeq(v, Tensor.zeros([B, Hkv, 1, d])); // [B, Hkv, S + extra, d]
    }

    const returnWeights = options.returnWeights === true;
    const prepared = prepareAttention(fn, q, k, v, { ...scores, backend: options.backend });
    const request = { weights: returnWeights, trace: options.trace === true };
    const result = wrapAttention(prepared, runAttention(fn, prepared.problem, request, prepared.backend));
    const heads = mergeHeads(result.output); // [B, N, D]
    const output = project(heads, this.outProjWeight, this.outProjBias?.data ?? null, backend); // [B, N, D]

    const unbatch = (t: Tensor) => (batched ? t : t.reshape(t.shape.slice(1)));
    const out = outputOf(output, result.weights, options, batched);
    if (result.trace) {
      out.trace = {
        query: unbatch(q),
        key: unbatch(k),
        value: unbatch(v),
        scores: unbatch(result.trace.scores),
        scaledScores: unbatch(result.trace.scaledScores),
        weights: unbatch(result.trace.weights),
        output: unbatch(result.trace.output),
        heads: unbatch(heads),
      };
    }
    return out;
  }

  /**
   * The same attention as {@link forward}, recorded for autograd: gradients reach the inputs (when they are Vars
   * that require one) and every parameter. In float32 the output equals `forward(...).output` bit for bit; after
   * {@link Module.double} it runs in float64. No cache, weights or trace: this is the training path.
   *
   * - query `[B, N, D]`, key `[B, S, Dk]`, value `[B, S, Dv]`, or all unbatched; key defaults to query, value to key.
   * - Returns `[B, N, D]` (`[N, D]` unbatched).
   */
  forwardVar(
    query: VarLike,
    key: VarLike = query,
    value: VarLike = key,
    options: MultiHeadAttentionVarOptions = {},
  ): Var {
    const fn = 'MultiHeadAttention.forwardVar';
    const qIn = asVar(query, fn, 'query');
    const kIn = key === query ? qIn : asVar(key, fn, 'key');
    const vIn = value === key ? kIn : value === query ? qIn : asVar(value, fn, 'value');
    if (typeof options !== 'object' || options === null) {
      throw new ArgumentError(`${fn}: options must be an object; got ${describe(options)}`);
    }
    const { embedDim: D, numHeads: H, numKvHeads: Hkv, headDim: d } = this;
    const { batched, B, N, S } = this.checkInputs(fn, qIn.shape, kIn.shape, vIn.shape);
    const q3 = batched ? qIn : reshape(qIn, [1, ...qIn.shape]); // [B, N, D]
    const k3 = batched ? kIn : reshape(kIn, [1, ...kIn.shape]); // [B, S, Dk]
    const v3 = batched ? vIn : reshape(vIn, [1, ...vIn.shape]); // [B, S, Dv]

    // Input projections, split into heads; packed weights and the bias are cut into their q, k, v rows.
    const Dkv = Hkv * d;
    const rows = (p: Parameter | null, at: number, n: number) => (p === null ? null : narrow(p, 0, at, n));
    const packed = this.inProjWeightParam;
    const wq = packed ? narrow(packed, 0, 0, D) : this.qProjWeightParam!; // [D, D]
    const wk = packed ? narrow(packed, 0, D, Dkv) : this.kProjWeightParam!; // [Hkv·d, Dk]
    const wv = packed ? narrow(packed, 0, D + Dkv, Dkv) : this.vProjWeightParam!; // [Hkv·d, Dv]
    const bias = this.inProjBiasParam;
    const backend = { backend: options.backend }; // the projections' GEMM, as forward's
    const q = splitHeadsVar(linear(q3, wq, rows(bias, 0, D), backend), H); // [B, H, N, d]
    let k = splitHeadsVar(linear(k3, wk, rows(bias, D, Dkv), backend), Hkv); // [B, Hkv, S, d]
    let v = splitHeadsVar(linear(v3, wv, rows(bias, D + Dkv, Dkv), backend), Hkv); // [B, Hkv, S, d]

    const scores = this.scoreOptions(fn, options, [B, H, N, S], batched);
    if (this.biasKParam !== null && this.biasVParam !== null) {
      k = concat([k, splitHeadsVar(broadcastTo(this.biasKParam, [B, 1, Dkv]), Hkv)], 2); // [B, Hkv, S + 1, d]
      v = concat([v, splitHeadsVar(broadcastTo(this.biasVParam, [B, 1, Dkv]), Hkv)], 2); // [B, Hkv, S + 1, d]
    }
    if (this.addZeroAttn) {
      const zeros = new Var(Tensor.zeros([B, Hkv, 1, d]));
      k = concat([k, zeros], 2); // [B, Hkv, S + extra, d]
      v = concat([v, zeros], 2); // [B, Hkv, S + extra, d]
    }
    const o = attention(q, k, v, { ...scores, backend: options.backend }); // [B, H, N, d]
    const heads = reshape(permute(o, [0, 2, 1, 3]), [B, N, D]); // [B, N, D]
    const output = linear(heads, this.outProj.weight, this.outProj.bias, backend); // [B, N, D]: out_proj, as forward's
    return batched ? output : reshape(output, [N, D]);
  }

  /**
   * Self-attention with packed weights as one backend call (kernels/backend.ts runSelfAttention), which keeps the
   * projections and the heads in the backend's memory; null when no backend takes it, and forward composes the
   * steps. Both give the same bits.
   */
  private fusedSelfAttention(
    fn: string,
    x: Tensor,
    options: MultiHeadAttentionOptions,
    batched: boolean,
    backend: BackendChoice | undefined,
  ): MultiHeadAttentionOutput | null {
    const { numHeads: H, headDim: d, embedDim: D } = this;
    const [B, N] = x.shape; // x [B, N, D]
    const scoreShape = [B, H, N, N];
    const { mask, bias, causal } = options;
    const scores = this.scoreOptions(fn, { mask, bias, causal }, scoreShape, batched);
    const problem = {
      B,
      N,
      D,
      H,
      x: x.data,
      inWeight: this.inProjWeightParam!.value.data,
      inBias: this.inProjBias?.data ?? null,
      outWeight: this.outProjWeight.data,
      outBias: this.outProjBias?.data ?? null,
      scores: scoreSettings(fn, scores, scoreShape, d),
    };
    const result = runSelfAttention(problem, options.returnWeights === true, backend);
    if (result === null) return null;
    const weights = result.weights && new Tensor(result.weights, scoreShape); // [B, H, N, N]
    return outputOf(new Tensor(result.output, [B, N, D]), weights, options, batched);
  }

  /** Checks the ranks and sizes of query, key and value; the errors are those of {@link forward}. */
  private checkInputs(fn: string, qs: readonly number[], ks: readonly number[], vs: readonly number[]) {
    const { embedDim: D } = this;
    const got = `got query ${formatShape(qs)}, key ${formatShape(ks)}, value ${formatShape(vs)}`;
    const batched = qs.length === 3;
    if (!(qs.length === 3 || qs.length === 2) || ks.length !== qs.length || vs.length !== qs.length) {
      throw new ShapeError(
        `${fn}: query, key and value must be [B, N, D], [B, S, Dk], [B, S, Dv] (or all unbatched: [N, D], [S, Dk], ` +
          `[S, Dv]); ${got}`,
      );
    }
    const [B, N, Dq] = batched ? qs : [1, ...qs];
    const [Bk, S, Dk] = batched ? ks : [1, ...ks];
    const [Bv, Sv, Dv] = batched ? vs : [1, ...vs];
    if (Dq !== D || Dk !== this.kdim || Dv !== this.vdim) {
      throw new ShapeError(
        `${fn}: query, key and value must be [B, N, D], [B, S, Dk], [B, S, Dv] with D = ${D}, Dk = ${this.kdim}, ` +
          `Dv = ${this.vdim}; ${got}`,
      );
    }
    if (Bk !== B || Bv !== B || Sv !== S) {
      throw new ShapeError(`${fn}: query, key and value must share B, and key and value must share S; ${got}`);
    }
    return { batched, B, N, S, got };
  }

  /**
   * The mask, bias and causal rule for attention over `scoreShape` = [B, H, N, S] keys. add_bias_kv and add_zero_attn
   * append keys that every query may attend: the mask gains allowed columns and the bias zero columns, so causal
   * masking has to become an explicit mask over the original keys.
   */
  private scoreOptions(
    fn: string,
    options: { mask?: Tensor; bias?: Tensor; causal?: AttentionOptions['causal'] },
    scoreShape: number[],
    batched: boolean,
  ): { mask?: Tensor; bias?: Tensor; causal?: AttentionOptions['causal'] } {
    let { mask, bias, causal } = options;
    const extra = (this.addBiasKv ? 1 : 0) + (this.addZeroAttn ? 1 : 0);
    if (extra > 0) {
      if (causal !== undefined && causal !== false) {
        mask = causalMask(mask, scoreShape, causal, fn);
        causal = false;
      }
      mask = mask === undefined ? undefined : padLast(checkScore(fn, 'mask', mask, scoreShape, batched), extra, 1);
      bias = bias === undefined ? undefined : padLast(checkScore(fn, 'bias', bias, scoreShape, batched), extra, 0);
    } else if (!batched) {
      // Unbatched masks are [H, N, S] at most; give them the batch dim explicitly so a 4-D mask is rejected.
      mask = mask === undefined ? undefined : checkScore(fn, 'mask', mask, scoreShape, batched);
      bias = bias === undefined ? undefined : checkScore(fn, 'bias', bias, scoreShape, batched);
    }
    return { mask, bias, causal };
  }

  /** Projection weight i (0 q, 1 k, 2 v) as a Tensor, or, with `t`, copies t into it. */
  private weightView(i: 0 | 1 | 2, t?: Tensor): Tensor {
    const names = ['qProjWeight', 'kProjWeight', 'vProjWeight'] as const;
    const D = this.embedDim;
    const Dkv = this.numKvHeads * this.headDim;
    const packed = this.inProjWeightParam;
    if (packed === null) {
      const p = [this.qProjWeightParam, this.kProjWeightParam, this.vProjWeightParam][i]!;
      if (t !== undefined) assign(names[i], p, t);
      return p.value;
    }
    const from = [0, D, D + Dkv][i] * D;
    const rows = i === 0 ? D : Dkv;
    const part = packed.data.subarray(from, from + rows * D);
    if (t !== undefined) part.set(checkAssigned(names[i], [rows, D], t).data);
    return new Tensor(part instanceof Float32Array ? part : Float32Array.from(part), [rows, D]); // [rows, D]
  }

  /** The q, k and v parts of in_proj_bias, or nulls. */
  private splitInProjBias(): [Float32Array | null, Float32Array | null, Float32Array | null] {
    const bias = this.inProjBias;
    if (bias === null) return [null, null, null];
    const D = this.embedDim;
    const Dkv = this.numKvHeads * this.headDim;
    const b = bias.data;
    return [b.subarray(0, D), b.subarray(D, D + Dkv), b.subarray(D + Dkv, D + 2 * Dkv)];
  }
}

/** Copies `t` into a parameter, checking the shape; `null` is accepted only for an absent parameter. */
function assign(name: string, p: Parameter | null, t: Tensor | null): void {
  const fn = `MultiHeadAttention.${name}`;
  if (p === null) {
    if (t === null) return;
    throw new ArgumentError(`${fn}: this module has no such parameter (see its config); got ${describe(t)}`);
  }
  p.data.set(checkAssigned(name, p.shape, t).data);
}

/** `t`, checked to be a Tensor of `shape`. */
function checkAssigned(name: string, shape: readonly number[], t: unknown): Tensor {
  const fn = `MultiHeadAttention.${name}`;
  if (!(t instanceof Tensor)) throw new ArgumentError(`${fn}: must be a Tensor; got ${describe(t)}`);
  if (t.rank !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new ShapeError(`${fn}: must be ${formatShape(shape)}; got ${formatShape(t.shape)}`);
  }
  return t;
}

/** [B, L, heads·d] → [B, heads, L, d], recorded for autograd. */
function splitHeadsVar(x: Var, heads: number): Var {
  const [B, L, W] = x.shape;
  return permute(reshape(x, [B, L, heads, W / heads]), [0, 2, 1, 3]);
}


/**
 * x [B, L, Din] · Wᵀ + b → [B, L, Dout], on the backend's GEMM (kernels/backend.ts runLinear), the kernel that the
 * autograd `linear` of forwardVar uses too. Its rows do not depend on L, so a key/value cache fed token by token
 * projects exactly as one pass does.
 */
function project(x: Tensor, weight: Tensor, bias: Float32Array | null, backend: BackendChoice | undefined): Tensor {
  const [B, L, Din] = x.shape;
  const Dout = weight.shape[0];
  const fn = 'MultiHeadAttention.forward';
  return new Tensor(runLinear(fn, x.data, B * L, Din, weight.data, Dout, bias, backend), [B, L, Dout]);
}

/**
 * Columns [start, start + width) of x [B, L, W] as heads: [B, L, heads·d] → [B, heads, L, d]. Plain loops: this runs
 * on every forward, and Tensor.permute's general index walk costs as much as a small projection.
 */
function splitHeads(x: Tensor, heads: number, start: number, width: number): Tensor {
  const [B, L, W] = x.shape;
  const d = width / heads;
  const src = x.data;
  const out = new Float32Array(B * L * width); // [B, heads, L, d]
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      const row = (b * L + l) * W + start;
      for (let h = 0; h < heads; h++) {
        const from = row + h * d;
        const to = ((b * heads + h) * L + l) * d;
        for (let c = 0; c < d; c++) out[to + c] = src[from + c];
      }
    }
  }
  return new Tensor(out, [B, heads, L, d]);
}

/** [B, H, N, d] → [B, N, H·d] */
function mergeHeads(x: Tensor): Tensor {
  const [B, H, N, d] = x.shape;
  const src = x.data;
  const out = new Float32Array(src.length); // [B, N, H·d]
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < N; i++) {
        const from = ((b * H + h) * N + i) * d;
        const to = ((b * N + i) * H + h) * d;
        for (let c = 0; c < d; c++) out[to + c] = src[from + c];
      }
    }
  }
  return new Tensor(out, [B, N, H * d]);
}

/** forward's result from output [B, N, D] and the weights [B, H, N, S] when asked, without the batch dim if unbatched. */
function outputOf(
  output: Tensor,
  weights: Tensor | undefined,
  options: MultiHeadAttentionOptions,
  batched: boolean,
): MultiHeadAttentionOutput {
  const unbatch = (t: Tensor) => (batched ? t : t.reshape(t.shape.slice(1)));
  const out: MultiHeadAttentionOutput = { output: unbatch(output) };
  if (weights) out.weights = unbatch((options.averageWeights ?? true) ? meanOverHeads(weights) : weights);
  return out;
}

/** Concatenates [B, H, S1, d] and [B, H, S2, d] along the sequence → [B, H, S1 + S2, d]. */
function concatSeq(a: Tensor, b: Tensor): Tensor {
  const [B, H, S1, d] = a.shape;
  const S2 = b.shape[2];
  const out = new Float32Array(B * H * (S1 + S2) * d); // [B, H, S1 + S2, d]
  for (let bh = 0; bh < B * H; bh++) {
    out.set(a.data.subarray(bh * S1 * d, (bh + 1) * S1 * d), bh * (S1 + S2) * d);
    out.set(b.data.subarray(bh * S2 * d, (bh + 1) * S2 * d), (bh * (S1 + S2) + S1) * d);
  }
  return new Tensor(out, [B, H, S1 + S2, d]);
}

/** Mean over the heads dim: [B, H, N, S] → [B, N, S], accumulated in float64. */
function meanOverHeads(w: Tensor): Tensor {
  const [B, H, N, S] = w.shape;
  const out = new Float32Array(B * N * S); // [B, N, S]
  const acc = new Float64Array(N * S);
  for (let b = 0; b < B; b++) {
    acc.fill(0);
    for (let h = 0; h < H; h++) {
      const base = (b * H + h) * N * S;
      for (let i = 0; i < N * S; i++) acc[i] += w.data[base + i];
    }
    for (let i = 0; i < N * S; i++) out[b * N * S + i] = acc[i] / H;
  }
  return new Tensor(out, [B, N, S]);
}

/**
 * Checks a mask or bias against the score shape [B, H, N, S] (or [H, N, S] for unbatched inputs) and returns it
 * broadcast to the full 4-D score shape.
 */
function checkScore(fn: string, name: string, t: Tensor, scoreShape: number[], batched: boolean): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(`${fn}: ${name} must be a Tensor; got ${describe(t)}`);
  const target = batched ? scoreShape : scoreShape.slice(1);
  const fits = t.rank <= target.length && t.shape.every((s, i) => s === 1 || s === target[target.length - t.rank + i]);
  if (!fits) {
    const letters = batched ? '[B, H, N, S]' : '[H, N, S]';
    throw new ShapeError(`${fn}: ${name} must broadcast to ${letters} = ${formatShape(target)}; got ${name} ${formatShape(t.shape)}`);
  }
  return t.broadcastTo(target).reshape(scoreShape);
}

/** The causal rule as an explicit 0/1 mask [B, H, N, S], combined with an optional user mask. */
function causalMask(mask: Tensor | undefined, scoreShape: number[], causal: AttentionOptions['causal'], fn: string): Tensor {
  const [B, H, N, S] = scoreShape;
  const base = mask === undefined ? Tensor.ones(scoreShape) : checkScore(fn, 'mask', mask, scoreShape, true).clone();
  const offset = causal === 'bottom-right' ? S - N : 0;
  for (let bh = 0; bh < B * H; bh++) {
    for (let i = 0; i < N; i++) {
      for (let j = Math.max(0, i + offset + 1); j < S; j++) base.data[(bh * N + i) * S + j] = 0;
    }
  }
  return base;
}

/** Appends `extra` columns holding `fill` to the last dim: [..., S] → [..., S + extra]. */
function padLast(t: Tensor, extra: number, fill: number): Tensor {
  const S = t.shape[t.rank - 1];
  const rows = sizeOf(t.shape.slice(0, -1));
  const out = new Float32Array(rows * (S + extra)).fill(fill); // [..., S + extra]
  for (let r = 0; r < rows; r++) out.set(t.data.subarray(r * S, (r + 1) * S), r * (S + extra));
  return new Tensor(out, [...t.shape.slice(0, -1), S + extra]);
}
