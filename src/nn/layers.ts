// The basic layers: Linear, LayerNorm, Embedding and Dropout, as their torch.nn namesakes (same parameter names,
// shapes and default initialisation). Each forward takes a Var (or a Tensor, taken as a constant) and returns a Var,
// so gradients reach the parameters through src/autograd.

import { ArgumentError } from '../core/errors.js';
import { type Rng } from '../core/random.js';
import { Tensor, describe } from '../core/tensor.js';
import { dropout, embedding, layerNorm } from '../autograd/nn-ops.js';
import { type VarLike, linear } from '../autograd/tensor-ops.js';
import { type Var } from '../autograd/var.js';
import { type Seed, kaimingUniformLinear, normal, rngOf, uniform } from './init.js';
import { Module, Parameter } from './module.js';

function positive(fn: string, name: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ArgumentError(`${fn}: ${name} must be a positive integer; got ${describe(v)}`);
  return v as number;
}

/**
 * y = x · Wᵀ + b (nn.Linear): x [..., K] → [..., O]. Parameters `weight` [O, K] and `bias` [O], both drawn from
 * U(±1/√K) as PyTorch does (kaiming_uniform with a = √5 for the weight).
 * @example const fc = new Linear(16, 4, { seed: 1 }); fc.forward(x) // x [B, N, 16] → [B, N, 4]
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** [O, K] */
  readonly weight: Parameter;
  /** [O] or null */
  readonly bias: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, options: { bias?: boolean; seed?: Seed } = {}) {
    super('Linear');
    const K = positive('Linear', 'inFeatures', inFeatures);
    const O = positive('Linear', 'outFeatures', outFeatures);
    this.inFeatures = K;
    this.outFeatures = O;
    const rng = rngOf(options.seed, 'Linear');
    this.weight = this.addParameter('weight', new Parameter(kaimingUniformLinear([O, K], rng)));
    this.bias = options.bias === false ? null : this.addParameter('bias', new Parameter(uniform([O], 1 / Math.sqrt(K), rng)));
  }

  /** x [..., K] → [..., O] */
  forward(x: VarLike): Var {
    return linear(x, this.weight, this.bias);
  }
}

/**
 * Layer normalisation over the last dim (nn.LayerNorm(D)): `weight` [D] = 1 and `bias` [D] = 0 when affine.
 * x [..., D] → [..., D].
 */
export class LayerNorm extends Module {
  readonly normalizedShape: number;
  readonly eps: number;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(normalizedShape: number, options: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super('LayerNorm');
    const D = positive('LayerNorm', 'normalizedShape', normalizedShape);
    this.normalizedShape = D;
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps >= 0)) throw new ArgumentError(`LayerNorm: eps must be ≥ 0; got ${describe(options.eps)}`);
    const affine = options.elementwiseAffine ?? true;
    this.weight = affine ? this.addParameter('weight', new Parameter(Tensor.ones([D]))) : null;
    this.bias = affine ? this.addParameter('bias', new Parameter(Tensor.zeros([D]))) : null;
  }

  /** x [..., D] → [..., D] */
  forward(x: VarLike): Var {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** A lookup table (nn.Embedding): `weight` [V, D] drawn from N(0, 1); ids [...] → [..., D]. */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  /** [V, D] */
  readonly weight: Parameter;

  constructor(numEmbeddings: number, embeddingDim: number, options: { seed?: Seed } = {}) {
    super('Embedding');
    this.numEmbeddings = positive('Embedding', 'numEmbeddings', numEmbeddings);
    this.embeddingDim = positive('Embedding', 'embeddingDim', embeddingDim);
    this.weight = this.addParameter('weight', new Parameter(normal([numEmbeddings, embeddingDim], 1, rngOf(options.seed, 'Embedding'))));
  }

  /** ids [...] (a Tensor of integers in [0, V)) → [..., D] */
  forward(ids: Tensor): Var {
    return embedding(this.weight, ids);
  }
}

/** Inverted dropout (nn.Dropout) with its own seeded generator; identity in eval mode. */
export class Dropout extends Module {
  readonly p: number;
  readonly rng: Rng;

  constructor(p: number, options: { seed?: Seed } = {}) {
    super('Dropout');
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ArgumentError(`Dropout: p must be in [0, 1]; got ${describe(p)}`);
    this.p = p;
    this.rng = rngOf(options.seed, 'Dropout');
  }

  forward(x: VarLike): Var {
    return dropout(x, this.p, this.rng, this.training);
  }
}
