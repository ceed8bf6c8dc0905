// The pieces every model family shares: the parameters of a checkpoint under their Hugging Face names, the forward
// context (positions, masks, cache, probes), and one attention path, the seed's mechanism:
//
//   q, k, v      [B, H, N, d], [B, Hkv, S, d]      projections split into heads by the family
//   rope         q, k rotated by position          (Llama family)
//   cache        k, v appended to the past         (generation)
//   attention    softmax(q·kᵀ · scale, masked) · v on the fast backend, weights from its log-sum-exp on request
//   merge        [B, H, N, d] → [B, N, H·d]
//
// Hook names follow TransformerLens (blocks.{l}.attn.hook_q, hook_pattern, hook_z, blocks.{l}.hook_resid_post, ...);
// docs/MODELS.md lists them with their shapes.

import { ArgumentError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { BackendChoice } from '../kernels/backend.js';
import { scaledDotProductAttention } from '../ops/attention.js';
import { attention } from '../autograd/attention.js';
import { concat, permute, reshape } from '../autograd/tensor-ops.js';
import { rotary } from '../autograd/transformer-ops.js';
import { Var, isGradEnabled } from '../autograd/var.js';
import { Module, Parameter } from '../nn/module.js';
import { type ModelConfig } from './config.js';

/** A parameter of a family's layout: its Hugging Face name and its shape in qkv (nn.Linear weights are [O, K]). */
export interface ParameterSpec {
  name: string;
  shape: number[];
  /** Stored transposed, [K, O], in the checkpoint (GPT-2's Conv1D). */
  conv1d?: boolean;
}

/** The parameters of a checkpoint, flat, under their Hugging Face names (so stateDict() gives the file's keys). */
export class Weights extends Module {
  readonly #byName = new Map<string, Parameter>();

  constructor(entries: Iterable<[string, Tensor]>) {
    super('Weights');
    for (const [name, t] of entries) this.#byName.set(name, this.addParameter(name, new Parameter(t)));
  }

  /** The parameter called `name`; a missing one is a bug in a family's layout, so it throws. */
  get(name: string): Parameter {
    const p = this.#byName.get(name);
    if (p === undefined) throw new Error(`qkv internal error: no parameter ${name}`);
    return p;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }
}

/** Reads or replaces an activation at a named hook point. Returning undefined keeps the value. */
export type Probe = (name: string, value: Var) => Var | undefined;

/** Past keys and values of every layer: [B, Hkv, S, d] each, plus how many real tokens each batch entry has seen. */
export interface LayerCache {
  keys: (Var | null)[];
  values: (Var | null)[];
  /** [B][S] 1 = a real token, 0 = padding, for every cached position. */
  mask: number[][];
}

/** Everything a forward pass of one batch shares across layers. */
export interface ForwardContext {
  config: ModelConfig;
  weights: Weights;
  B: number;
  /** new tokens */
  N: number;
  /** [B, N] position of each new token (from the attention mask, so padding does not shift real tokens). */
  positions: Tensor;
  /** [B, N] BERT's token type ids (zeros when not given). */
  tokenTypes: Tensor;
  /** Rotation angles [B, N, d/2] for RoPE, or null. */
  angles: Float64Array | null;
  /** [B, 1, N or 1, S] nonzero = may attend, or undefined when only the causal rule applies. */
  mask: Tensor | undefined;
  cache: LayerCache | null;
  /** Collects each layer's weights [B, H, N, S] when set. */
  attentions: Tensor[] | null;
  probe: Probe | null;
  backend: BackendChoice | undefined;
}

/** Runs the probe at a hook point. */
export function visit(ctx: ForwardContext, name: string, value: Var): Var {
  if (ctx.probe === null) return value;
  const replaced = ctx.probe(name, value);
  if (replaced === undefined) return value;
  if (!(replaced instanceof Var) || replaced.shape.length !== value.shape.length || replaced.shape.some((s, i) => s !== value.shape[i])) {
    throw new ArgumentError(`hook ${name}: must return a Var of the same shape [${value.shape.join(', ')}] or undefined`);
  }
  return replaced;
}

/** [B, N, heads·d] → [B, heads, N, d] */
export function splitHeads(x: Var, heads: number): Var {
  const [B, N, width] = x.shape;
  return permute(reshape(x, [B, N, heads, width / heads]), [0, 2, 1, 3]); // [B, heads, N, d]
}

/**
 * The attention of layer `layer`: q [B, H, N, d], k and v [B, Hkv, N, d] (this call's tokens) → [B, N, H·d].
 * Applies RoPE, the cache, the masks and the scale of the config; records weights and hook points.
 */
export function selfAttention(ctx: ForwardContext, layer: number, qIn: Var, kIn: Var, vIn: Var): Var {
  const { config } = ctx;
  const at = `blocks.${layer}.attn`;
  let q = qIn;
  let k = kIn;
  let v = vIn;
  if (ctx.angles !== null) {
    const shape = [ctx.B, ctx.N, config.headDim / 2];
    q = rotary(q, ctx.angles, shape); // [B, H, N, d]
    k = rotary(k, ctx.angles, shape); // [B, Hkv, N, d]
  }
  q = visit(ctx, `${at}.hook_q`, q);
  k = visit(ctx, `${at}.hook_k`, k);
  v = visit(ctx, `${at}.hook_v`, v);
  if (ctx.cache !== null) {
    const pastK = ctx.cache.keys[layer];
    const pastV = ctx.cache.values[layer];
    if (pastK !== null && pastV !== null) {
      k = concat([pastK, k], 2); // [B, Hkv, S, d]
      v = concat([pastV, v], 2); // [B, Hkv, S, d]
    }
    ctx.cache.keys[layer] = k;
    ctx.cache.values[layer] = v;
  }
  const options = {
    mask: ctx.mask,
    causal: config.causal ? ('bottom-right' as const) : false,
    scale: config.attentionScale(layer),
    backend: ctx.backend,
  };
  let out: Var; // [B, H, N, d]
  const wantsPattern = ctx.attentions !== null || ctx.probe !== null;
  const training = isGradEnabled() && (q.requiresGrad || k.requiresGrad || v.requiresGrad);
  if (training) {
    out = attention(q, k, v, options);
    if (wantsPattern) record(ctx, at, layer, scaledDotProductAttention(q.value, k.value, v.value, { ...options, returnWeights: true }).weights!);
  } else {
    const result = scaledDotProductAttention(q.value, k.value, v.value, { ...options, returnWeights: wantsPattern });
    out = new Var(result.output);
    if (wantsPattern) record(ctx, at, layer, result.weights!);
  }
  const [B, H, N, d] = out.shape;
  const z = visit(ctx, `${at}.hook_z`, permute(out, [0, 2, 1, 3])); // [B, N, H, d]
  return reshape(z, [B, N, H * d]); // [B, N, H·d]
}

function record(ctx: ForwardContext, at: string, layer: number, weights: Tensor): void {
  if (ctx.attentions !== null) ctx.attentions[layer] = weights; // [B, H, N, S]
  if (ctx.probe !== null) ctx.probe(`${at}.hook_pattern`, new Var(weights));
}
