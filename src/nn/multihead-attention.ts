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

import { ArgumentError, ShapeError, StateDictError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { formatShape, sizeOf } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';
import { type AttentionOptions, type AttentionTrace, prepareAttention, wrapAttention } from '../ops/attention.js';
import { type BackendChoice, runAttention } from '../kernels/backend.js';
import { linearReference } from '../reference/linear.js';

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
   * Seed of the initialisation (PyTorch's scheme: Xavier-uniform projections, zero biases).
   * @default 0
   */
  seed?: number;
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
export class MultiHeadAttention {
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

  /** [D, D] */
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

  constructor(config: MultiHeadAttentionConfig) {
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
    // biases, Kaiming-uniform(a=√5) out-projection (bound 1/√D), Xavier-normal bias_k / bias_v.
    const rng = new Rng(config.seed ?? 0);
    const Dkv = Hkv * this.headDim;
    const uniform = (shape: number[], bound: number) => Tensor.rand(shape, rng, -bound, bound);
    if (this.packed) {
      const bound = Math.sqrt(6 / (D + D + 2 * Dkv));
      this.qProjWeight = uniform([D, D], bound);
      this.kProjWeight = uniform([Dkv, D], bound);
      this.vProjWeight = uniform([Dkv, D], bound);
    } else {
      this.qProjWeight = uniform([D, D], Math.sqrt(6 / (D + D)));
      this.kProjWeight = uniform([Dkv, this.kdim], Math.sqrt(6 / (Dkv + this.kdim)));
      this.vProjWeight = uniform([Dkv, this.vdim], Math.sqrt(6 / (Dkv + this.vdim)));
    }
    this.inProjBias = this.hasBias ? Tensor.zeros([D + 2 * Dkv]) : null;
    this.outProjWeight = uniform([D, D], 1 / Math.sqrt(D));
    this.outProjBias = this.hasBias ? Tensor.zeros([D]) : null;
    const std = Math.sqrt(2 / (2 * Dkv));
    const normal = () => {
      const t = Tensor.randn([1, 1, Dkv], rng);
      for (let i = 0; i < t.size; i++) t.data[i] *= std;
      return t;
    };
    this.biasK = this.addBiasKv ? normal() : null;
    this.biasV = this.addBiasKv ? normal() : null;
  }

  /** True when the q, k and v projections are stored as one `in_proj_weight` (PyTorch's `_qkv_same_embed_dim`). */
  get packed(): boolean {
    return this.kdim === this.embedDim && this.vdim === this.embedDim && this.numKvHeads === this.numHeads;
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
    const { embedDim: D, numHeads: H, numKvHeads: Hkv, headDim: d } = this;
    const got = `got query ${formatShape(query.shape)}, key ${formatShape(key.shape)}, value ${formatShape(value.shape)}`;
    const batched = query.rank === 3;
    if (!(query.rank === 3 || query.rank === 2) || key.rank !== query.rank || value.rank !== query.rank) {
      throw new ShapeError(
        `${fn}: query, key and value must be [B, N, D], [B, S, Dk], [B, S, Dv] (or all unbatched: [N, D], [S, Dk], ` +
          `[S, Dv]); ${got}`,
      );
    }
    const q3 = batched ? query : query.reshape([1, ...query.shape]); // [B, N, D]
    const k3 = batched ? key : key.reshape([1, ...key.shape]); // [B, S, Dk]
    const v3 = batched ? value : value.reshape([1, ...value.shape]); // [B, S, Dv]
    const [B, N, Dq] = q3.shape;
    const [Bk, S, Dk] = k3.shape;
    const [Bv, Sv, Dv] = v3.shape;
    if (Dq !== D || Dk !== this.kdim || Dv !== this.vdim) {
      throw new ShapeError(
        `${fn}: query, key and value must be [B, N, D], [B, S, Dk], [B, S, Dv] with D = ${D}, Dk = ${this.kdim}, ` +
          `Dv = ${this.vdim}; ${got}`,
      );
    }
    if (Bk !== B || Bv !== B || Sv !== S) {
      throw new ShapeError(`${fn}: query, key and value must share B, and key and value must share S; ${got}`);
    }
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

    // Input projections, split into heads.
    const [bq, bk, bv] = this.splitInProjBias();
    let q = splitHeads(project(q3, this.qProjWeight, bq), H); // [B, H, N, d]
    let k = splitHeads(project(k3, this.kProjWeight, bk), Hkv); // [B, Hkv, S, d]
    let v = splitHeads(project(v3, this.vProjWeight, bv), Hkv); // [B, Hkv, S, d]
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

    // add_bias_kv and add_zero_attn append keys that every query may attend: the mask gains allowed columns and the
    // bias zero columns. Causal masking then has to become an explicit mask over the original keys.
    let mask = options.mask;
    let bias = options.bias;
    const extra = (this.addBiasKv ? 1 : 0) + (this.addZeroAttn ? 1 : 0);
    if (extra > 0) {
      const scoreShape = [B, H, N, St];
      if (causal !== undefined && causal !== false) {
        mask = causalMask(mask, scoreShape, causal, fn);
        causal = false;
      }
      mask = mask === undefined ? undefined : padLast(checkScore(fn, 'mask', mask, scoreShape, batched), extra, 1);
      bias = bias === undefined ? undefined : padLast(checkScore(fn, 'bias', bias, scoreShape, batched), extra, 0);
      if (this.biasK !== null && this.biasV !== null) {
        k = concatSeq(k, splitHeads(this.biasK.broadcastTo([B, 1, Hkv * d]), Hkv)); // [B, Hkv, S + 1, d]
        v = concatSeq(v, splitHeads(this.biasV.broadcastTo([B, 1, Hkv * d]), Hkv)); // [B, Hkv, S + 1, d]
      }
      if (this.addZeroAttn) {
        k = concatSeq(k, Tensor.zeros([B, Hkv, 1, d])); // [B, Hkv, S + extra, d]
        v = concatSeq(v, Tensor.zeros([B, Hkv, 1, d])); // [B, Hkv, S + extra, d]
      }
    } else if (!batched) {
      // Unbatched masks are [H, N, S] at most; give them the batch dim explicitly so a 4-D mask is rejected.
      mask = mask === undefined ? undefined : checkScore(fn, 'mask', mask, [B, H, N, St], batched);
      bias = bias === undefined ? undefined : checkScore(fn, 'bias', bias, [B, H, N, St], batched);
    }

    const returnWeights = options.returnWeights === true;
    const prepared = prepareAttention(fn, q, k, v, { mask, bias, causal, backend: options.backend });
    const request = { weights: returnWeights, trace: options.trace === true };
    const result = wrapAttention(prepared, runAttention(fn, prepared.problem, request, prepared.backend));
    const heads = mergeHeads(result.output); // [B, N, D]
    const output = project(heads, this.outProjWeight, this.outProjBias?.data ?? null); // [B, N, D]

    const unbatch = (t: Tensor) => (batched ? t : t.reshape(t.shape.slice(1)));
    const out: MultiHeadAttentionOutput = { output: unbatch(output) };
    if (result.weights) {
      const averaged = options.averageWeights ?? true;
      out.weights = unbatch(averaged ? meanOverHeads(result.weights) : result.weights);
    }
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
   * The parameters under PyTorch's nn.MultiheadAttention names: `in_proj_weight` (or `q_proj_weight`,
   * `k_proj_weight`, `v_proj_weight` when not packed), `in_proj_bias`, `out_proj.weight`, `out_proj.bias`, `bias_k`,
   * `bias_v`. The tensors are copies.
   */
  stateDict(): Record<string, Tensor> {
    const dict: Record<string, Tensor> = {};
    if (this.packed) {
      dict.in_proj_weight = concatRows([this.qProjWeight, this.kProjWeight, this.vProjWeight]);
    } else {
      dict.q_proj_weight = this.qProjWeight.clone();
      dict.k_proj_weight = this.kProjWeight.clone();
      dict.v_proj_weight = this.vProjWeight.clone();
    }
    if (this.inProjBias) dict.in_proj_bias = this.inProjBias.clone();
    if (this.biasK && this.biasV) {
      dict.bias_k = this.biasK.clone();
      dict.bias_v = this.biasV.clone();
    }
    dict['out_proj.weight'] = this.outProjWeight.clone();
    if (this.outProjBias) dict['out_proj.bias'] = this.outProjBias.clone();
    return dict;
  }

  /**
   * Loads parameters saved by PyTorch (`module.state_dict()`) or by {@link stateDict}. Every entry is checked first;
   * missing, unknown and wrongly shaped entries are reported together in one StateDictError, and nothing is loaded.
   */
  loadStateDict(dict: Record<string, Tensor>): void {
    const fn = 'MultiHeadAttention.loadStateDict';
    if (typeof dict !== 'object' || dict === null) {
      throw new ArgumentError(`${fn}: dict must be an object of tensors; got ${describe(dict)}`);
    }
    const expected = this.stateDict();
    const problems: string[] = [];
    for (const [name, want] of Object.entries(expected)) {
      const t = dict[name];
      if (t === undefined) problems.push(`missing ${name} ${formatShape(want.shape)}`);
      else if (!(t instanceof Tensor)) problems.push(`${name} must be a Tensor; got ${describe(t)}`);
      else if (t.rank !== want.rank || t.shape.some((s, i) => s !== want.shape[i])) {
        problems.push(`${name} must be ${formatShape(want.shape)}; got ${formatShape(t.shape)}`);
      }
    }
    for (const name of Object.keys(dict)) {
      if (!(name in expected)) problems.push(`unknown ${name}`);
    }
    if (problems.length > 0) {
      throw new StateDictError(`${fn}: the state dict does not fit this module:\n  ${problems.join('\n  ')}`, problems);
    }
    const copy = (name: string) => dict[name].clone();
    if (this.packed) {
      const [q, k, v] = splitRows(dict.in_proj_weight, [this.embedDim, this.embedDim, this.embedDim]);
      this.qProjWeight = q;
      this.kProjWeight = k;
      this.vProjWeight = v;
    } else {
      this.qProjWeight = copy('q_proj_weight');
      this.kProjWeight = copy('k_proj_weight');
      this.vProjWeight = copy('v_proj_weight');
    }
    if (this.hasBias) {
      this.inProjBias = copy('in_proj_bias');
      this.outProjBias = copy('out_proj.bias');
    }
    if (this.addBiasKv) {
      this.biasK = copy('bias_k');
      this.biasV = copy('bias_v');
    }
    this.outProjWeight = copy('out_proj.weight');
  }

  /** The q, k and v parts of in_proj_bias, or nulls. */
  private splitInProjBias(): [Float32Array | null, Float32Array | null, Float32Array | null] {
    if (this.inProjBias === null) return [null, null, null];
    const D = this.embedDim;
    const Dkv = this.numKvHeads * this.headDim;
    const b = this.inProjBias.data;
    return [b.subarray(0, D), b.subarray(D, D + Dkv), b.subarray(D + Dkv, D + 2 * Dkv)];
  }
}

/** x [B, L, Din] · Wᵀ + b → [B, L, Dout]. */
function project(x: Tensor, weight: Tensor, bias: Float32Array | null): Tensor {
  const [B, L, Din] = x.shape;
  const Dout = weight.shape[0];
  return new Tensor(linearReference(x.data, B * L, Din, weight.data, Dout, bias), [B, L, Dout]);
}

/** [B, L, heads·d] → [B, heads, L, d] */
function splitHeads(x: Tensor, heads: number): Tensor {
  const [B, L, W] = x.shape;
  return x.reshape([B, L, heads, W / heads]).permute([0, 2, 1, 3]);
}

/** [B, H, N, d] → [B, N, H·d] */
function mergeHeads(x: Tensor): Tensor {
  const [B, H, N, d] = x.shape;
  return x.permute([0, 2, 1, 3]).reshape([B, N, H * d]);
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

/** Stacks 2-D tensors with equal column counts on top of each other. */
function concatRows(parts: Tensor[]): Tensor {
  const cols = parts[0].shape[1];
  const rows = parts.reduce((n, t) => n + t.shape[0], 0);
  const out = new Float32Array(rows * cols); // [rows, cols]
  let at = 0;
  for (const t of parts) {
    out.set(t.data, at);
    at += t.size;
  }
  return new Tensor(out, [rows, cols]);
}

/** Splits a 2-D tensor into row blocks of the given sizes (copies). */
function splitRows(t: Tensor, sizes: number[]): Tensor[] {
  const cols = t.shape[1];
  let row = 0;
  return sizes.map((n) => {
    const part = new Tensor(t.data.slice(row * cols, (row + n) * cols), [n, cols]);
    row += n;
    return part;
  });
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
