// MultiHeadAttention: torch.nn.MultiheadAttention with batch-first tensors, grouped-query heads and a key/value cache.
// It mirrors PyTorch's F.multi_head_attention_forward, and is written as nanoGPT's CausalSelfAttention: one forward
// that records for autograd, whose inference entry (`forward`) is the same path under noGrad.
//
//   q = query · Wqᵀ + bq      [B, N, D]   → [B, H, N, d]
//   k = key   · Wkᵀ + bk      [B, S, Dk]  → [B, Hkv, S, d]    (+ the cache, + bias_k, + a zero key)
//   v = value · Wvᵀ + bv      [B, S, Dv]  → [B, Hkv, S, d]
//   o = attention(q, k, v)    [B, H, N, d] → [B, N, D]
//   output = o · Woᵀ + bo     [B, N, D]
//
// The fast path is taken in one place: self-attention with packed weights, when nothing records a gradient and no
// step is asked for, goes to the backend in one call (ops/ selfAttend), which gives the composed path's bits.
// The key/value cache is nn/kv-cache.ts, PyTorch's add_bias_kv and add_zero_attn are nn/attention-extras.ts.
//
// Deliberate differences from PyTorch (docs/SEMANTICS.md): tensors are batch-first; a mask is nonzero = may attend
// (PyTorch's attn_mask and key_padding_mask use True = blocked); a query with no allowed key outputs 0, not NaN.
//
// The parameters carry PyTorch's names (in_proj_weight or q/k/v_proj_weight, in_proj_bias, bias_k, bias_v,
// out_proj.weight, out_proj.bias), so stateDict / loadStateDict / namedParameters come from Module. The tensor
// accessors (qProjWeight, ...) are derived from one table: views of that storage, and assigning to them copies in.

import { ArgumentError, ShapeError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';
import { type AttentionOptions, type AttentionTrace, checkBackend, selfAttend } from '../ops/attention.js';
import { type BackendChoice, type BackendName } from '../kernels/backend.js';
import { attentionDetails } from '../autograd/attention.js';
import { type VarLike, linear, narrow, permute, reshape } from '../autograd/tensor-ops.js';
import { Var, asVar, isGradEnabled, noGrad } from '../autograd/var.js';
import { appendExtraKeys, extraKeyCount, scoreOptions } from './attention-extras.js';
import { type Seed, normal, rngOf, uniform } from './init.js';
import { KVCache, appendToCache, checkCache } from './kv-cache.js';
import { Linear } from './layers.js';
import { Module, Parameter } from './module.js';

export { KVCache };

/** Constructor options of {@link MultiHeadAttention}. Names follow nn.MultiheadAttention in camelCase. */
export interface MultiHeadAttentionConfig {
  /** Model width D = H · d. */
  embedDim: number;
  /** Query heads H; must divide embedDim. */
  numHeads: number;
  /**
   * Key/value heads Hkv for grouped-query attention; must divide numHeads. Named as Hugging Face's
   * num_key_value_heads (torch.nn.MultiheadAttention has no such option).
   * @default numHeads
   */
  numKeyValueHeads?: number;
  /** @deprecated the old name of {@link numKeyValueHeads}, still read when that is absent. */
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
  /** The backend that computed the attention ("wasm" or "reference"), fused or composed; see scaledDotProductAttention. */
  backend: BackendName;
  /** `[B, N, S]` averaged, or `[B, H, N, S]` per head, when `returnWeights` is set. */
  weights?: Tensor;
  trace?: MultiHeadAttentionTrace;
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
  /** Key/value heads Hkv. */
  readonly numKeyValueHeads: number;
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
    // Errors name the option as the caller spelled it.
    const kvName = config.numKeyValueHeads === undefined && config.numKvHeads !== undefined ? 'numKvHeads' : 'numKeyValueHeads';
    const Hkv = positive(kvName, config.numKeyValueHeads ?? config.numKvHeads ?? H);
    if (D % H !== 0) throw new ArgumentError(`${fn}: embedDim (${D}) must be divisible by numHeads (${H})`);
    if (H % Hkv !== 0) throw new ArgumentError(`${fn}: numHeads (${H}) must be divisible by ${kvName} (${Hkv})`);
    this.embedDim = D;
    this.numHeads = H;
    this.numKeyValueHeads = Hkv;
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
    return this.kdim === this.embedDim && this.vdim === this.embedDim && this.numKeyValueHeads === this.numHeads;
  }

  /** @deprecated the old name of {@link numKeyValueHeads}. */
  get numKvHeads(): number {
    return this.numKeyValueHeads;
  }

  /** A new, empty key/value cache for incremental decoding. */
  createCache(): KVCache {
    return new KVCache();
  }

  /**
   * Attends from `query` to `key`/`value`: self-attention when both are omitted (key defaults to query, value to key).
   * This is {@link forwardVar} under noGrad, with the weights, the trace and the cache on request.
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
    const { output, ...rest } = noGrad(() => this.attend(fn, query, key, value, options));
    return { output: output.value, ...rest };
  }

  /**
   * The same attention as {@link forward}, recorded for autograd: gradients reach the inputs (when they are Vars
   * that require one) and every parameter. In float32 the output equals `forward(...).output` bit for bit; after
   * {@link Module.double} it runs in float64.
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
    return this.attend('MultiHeadAttention.forwardVar', query, key, value, options).output;
  }

  /** The one forward path (see the file header); `fn` names the public method in errors. */
  private attend(
    fn: string,
    query: VarLike,
    key: VarLike,
    value: VarLike,
    options: MultiHeadAttentionOptions,
  ): Omit<MultiHeadAttentionOutput, 'output'> & { output: Var } {
    const self = key === query && value === query;
    const qIn = asVar(query, fn, 'query');
    const kIn = key === query ? qIn : asVar(key, fn, 'key');
    const vIn = value === key ? kIn : value === query ? qIn : asVar(value, fn, 'value');
    if (typeof options !== 'object' || options === null) {
      throw new ArgumentError(`${fn}: options must be an object; got ${describe(options)}`);
    }
    const { embedDim: D, numHeads: H, numKeyValueHeads: Hkv, headDim: d } = this;
    const { batched, B, N, got } = this.checkInputs(fn, qIn.shape, kIn.shape, vIn.shape);
    const backend = checkBackend(fn, options.backend);
    const { cache } = options;
    const extra = extraKeyCount(this);
    if (cache !== undefined) {
      if (extra > 0) throw new ArgumentError(`${fn}: a cache cannot be combined with addBiasKv or addZeroAttn`);
      checkCache(fn, cache, B, Hkv, d, got);
    }
    const x3 = (x: Var) => (batched ? x : reshape(x, [1, ...x.shape])); // [B, L, width]
    const unbatch = <T extends Tensor | Var>(t: T): T =>
      (batched ? t : t instanceof Tensor ? t.reshape(t.shape.slice(1)) : reshape(t, t.shape.slice(1))) as T;
    const weightsOf = (w: Tensor) => unbatch((options.averageWeights ?? true) ? meanOverHeads(w) : w);

    // The fast path: packed self-attention in one backend call, when nothing records and no step is asked for.
    const packedWeight = this.inProjWeightParam;
    if (self && packedWeight !== null && !isGradEnabled() && cache === undefined && options.trace !== true && extra === 0) {
      const { mask, bias, causal } = scoreOptions(fn, options, [B, H, N, N], batched, 0);
      const fused = selfAttend(
        fn,
        x3(qIn).value, // [B, N, D]
        H,
        {
          inWeight: packedWeight.value.data,
          inBias: this.inProjBias?.data ?? null,
          outWeight: this.outProjWeight.data,
          outBias: this.outProjBias?.data ?? null,
        },
        { mask, bias, causal, backend, returnWeights: options.returnWeights },
      );
      if (fused !== null) {
        const out: Omit<MultiHeadAttentionOutput, 'output'> & { output: Var } = {
          output: new Var(unbatch(fused.output)),
          backend: fused.backend,
        };
        if (fused.weights) out.weights = weightsOf(fused.weights); // [B, H, N, N] → [B, N, N] averaged
        return out;
      }
    }

    // Input projections, split into heads. Self-attention with packed weights projects once, x · in_proj_weightᵀ;
    // every element of a product is computed on its own (ops/linear.ts), so this equals three products bit for bit.
    const projection = { backend };
    let q: Var, k: Var, v: Var;
    if (self && packedWeight !== null) {
      const qkv = linear(x3(qIn), packedWeight, this.inProjBiasParam, projection); // [B, N, 3D]
      const heads = permute(reshape(qkv, [B, N, 3, H, d]), [2, 0, 3, 1, 4]); // [3, B, H, N, d]
      [q, k, v] = [0, 1, 2].map((i) => reshape(narrow(heads, 0, i, 1), [B, H, N, d])); // [B, H, N, d] each
    } else {
      const Dkv = Hkv * d;
      const rows = (p: Parameter | null, at: number, n: number) => (p === null ? null : narrow(p, 0, at, n));
      const bias = this.inProjBiasParam;
      const wq = packedWeight ? narrow(packedWeight, 0, 0, D) : this.qProjWeightParam!; // [D, D]
      const wk = packedWeight ? narrow(packedWeight, 0, D, Dkv) : this.kProjWeightParam!; // [Hkv·d, Dk]
      const wv = packedWeight ? narrow(packedWeight, 0, D + Dkv, Dkv) : this.vProjWeightParam!; // [Hkv·d, Dv]
      q = splitHeads(linear(x3(qIn), wq, rows(bias, 0, D), projection), H); // [B, H, N, d]
      k = splitHeads(linear(x3(kIn), wk, rows(bias, D, Dkv), projection), Hkv); // [B, Hkv, S, d]
      v = splitHeads(linear(x3(vIn), wv, rows(bias, D + Dkv, Dkv), projection), Hkv); // [B, Hkv, S, d]
    }

    // With a cache, the keys so far come first, and causal means bottom-right: new token t sees the cache and itself.
    let causal = options.causal;
    if (cache !== undefined) {
      [k, v] = appendToCache(cache, k, v); // [B, Hkv, S_cached + S, d]
      if (causal === true) causal = 'bottom-right';
    }
    const scores = scoreOptions(fn, { mask: options.mask, bias: options.bias, causal }, [B, H, N, k.shape[2]], batched, extra);
    if (extra > 0) [k, v] = appendExtraKeys(this, k, v); // [B, Hkv, S + extra, d]

    const att = attentionDetails(fn, q, k, v, { ...scores, backend, returnWeights: options.returnWeights, trace: options.trace });
    const heads = reshape(permute(att.output, [0, 2, 1, 3]), [B, N, D]); // [B, N, D]
    const output = linear(heads, this.outProj.weight, this.outProj.bias, projection); // [B, N, D]

    const out: Omit<MultiHeadAttentionOutput, 'output'> & { output: Var } = {
      output: unbatch(output),
      backend: att.backend ?? 'reference', // float64 (Module.double): plain float64 loops
    };
    if (att.weights) out.weights = weightsOf(att.weights);
    if (att.trace) {
      out.trace = {
        query: unbatch(q.value),
        key: unbatch(k.value),
        value: unbatch(v.value),
        scores: unbatch(att.trace.scores),
        logits: unbatch(att.trace.logits),
        weights: unbatch(att.trace.weights),
        output: unbatch(att.trace.output),
        heads: unbatch(heads.value),
      };
    }
    return out;
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
}

/** The tensor accessors of {@link MultiHeadAttention}: views of its parameters' storage; assigning copies in. */
interface ParameterViews {
  /** [D, D] (a view of in_proj_weight's rows when packed). */
  qProjWeight: Tensor;
  /** [Hkv·d, Dk] */
  kProjWeight: Tensor;
  /** [Hkv·d, Dv] */
  vProjWeight: Tensor;
  /** [D + 2·Hkv·d], the q, k and v biases in that order; null without bias. */
  inProjBias: Tensor | null;
  /** [D, D] */
  outProjWeight: Tensor;
  /** [D] or null */
  outProjBias: Tensor | null;
  /** [1, 1, Hkv·d] or null */
  biasK: Tensor | null;
  /** [1, 1, Hkv·d] or null */
  biasV: Tensor | null;
}

// The accessors are defined below from one table, so the class declares their types here.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type, @typescript-eslint/no-unsafe-declaration-merging
export interface MultiHeadAttention extends ParameterViews {}

/** Where an accessor's tensor lives: a parameter, or rows [from, from + rows) of one. */
interface Slot {
  param: Parameter | null;
  rows?: [from: number, count: number];
}

const SLOTS: Record<keyof ParameterViews, (m: MultiHeadAttention) => Slot> = {
  qProjWeight: (m) => projectionSlot(m, 0),
  kProjWeight: (m) => projectionSlot(m, 1),
  vProjWeight: (m) => projectionSlot(m, 2),
  inProjBias: (m) => ({ param: m.inProjBiasParam }),
  outProjWeight: (m) => ({ param: m.outProj.weight }),
  outProjBias: (m) => ({ param: m.outProj.bias }),
  biasK: (m) => ({ param: m.biasKParam }),
  biasV: (m) => ({ param: m.biasVParam }),
};

for (const [name, slotOf] of Object.entries(SLOTS)) {
  Object.defineProperty(MultiHeadAttention.prototype, name, {
    get(this: MultiHeadAttention): Tensor | null {
      return viewOf(slotOf(this));
    },
    set(this: MultiHeadAttention, t: Tensor | null) {
      assignSlot(name, slotOf(this), t);
    },
  });
}

/** Projection weight i (0 q, 1 k, 2 v): its own parameter, or its rows of in_proj_weight when packed. */
function projectionSlot(m: MultiHeadAttention, i: 0 | 1 | 2): Slot {
  const packed = m.inProjWeightParam;
  if (packed === null) return { param: [m.qProjWeightParam, m.kProjWeightParam, m.vProjWeightParam][i] };
  const D = m.embedDim;
  const Dkv = m.numKeyValueHeads * m.headDim;
  return { param: packed, rows: [[0, D, D + Dkv][i], i === 0 ? D : Dkv] };
}

/** The slot's tensor: shares a float32 parameter's storage (a float64 one is rounded into a copy). */
function viewOf({ param, rows }: Slot): Tensor | null {
  if (param === null) return null;
  if (rows === undefined) return param.value;
  const cols = param.shape[1];
  const part = param.data.subarray(rows[0] * cols, (rows[0] + rows[1]) * cols);
  return new Tensor(part instanceof Float32Array ? part : Float32Array.from(part), [rows[1], cols]); // [rows, cols]
}

/** Copies `t` into the slot, checking the shape; `null` is accepted only for an absent parameter. */
function assignSlot(name: string, slot: Slot, t: Tensor | null): void {
  const { param, rows } = slot;
  if (param === null) {
    if (t === null) return;
    throw new ArgumentError(`MultiHeadAttention.${name}: this module has no such parameter (see its config); got ${describe(t)}`);
  }
  const shape = rows === undefined ? param.shape : [rows[1], param.shape[1]];
  const from = rows === undefined ? 0 : rows[0] * param.shape[1];
  param.data.set(checkAssigned(name, shape, t).data, from);
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
function splitHeads(x: Var, heads: number): Var {
  const [B, L, W] = x.shape;
  return permute(reshape(x, [B, L, heads, W / heads]), [0, 2, 1, 3]); // [B, heads, L, d]
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
