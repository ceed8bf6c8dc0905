// The position-wise feed-forward block of a transformer (Vaswani et al. 2017, §3.3), as PyTorch's
// TransformerEncoderLayer writes it: linear2(dropout(gelu(linear1(x)))), with the exact (erf) GELU.

import { gelu } from '../autograd/nn-ops.js';
import { type VarLike } from '../autograd/tensor-ops.js';
import { type Var } from '../autograd/var.js';
import { type Seed, rngOf } from './init.js';
import { Dropout, Linear } from './layers.js';
import { Module } from './module.js';

/** Constructor options of {@link FeedForward}. */
export interface FeedForwardConfig {
  /** Model width D (Hugging Face's hidden_size). */
  hiddenSize: number;
  /** Hidden width F (Hugging Face's intermediate_size). */
  intermediateSize: number;
  /**
   * Dropout on the hidden activations (training mode only).
   * @default 0
   */
  dropout?: number;
  /**
   * Learn biases.
   * @default true
   */
  bias?: boolean;
  /**
   * Seed of the initialisation and of the dropout masks, or a shared Rng.
   * @default 0
   */
  seed?: Seed;
}

/**
 * x [..., D] → linear1 [..., F] → GELU → dropout → linear2 [..., D]. Parameters `linear1.weight` [F, D],
 * `linear1.bias` [F], `linear2.weight` [D, F], `linear2.bias` [D].
 */
export class FeedForward extends Module {
  readonly linear1: Linear;
  readonly dropout: Dropout;
  readonly linear2: Linear;

  constructor(config: FeedForwardConfig) {
    super('FeedForward');
    const rng = rngOf(config.seed, 'FeedForward');
    const bias = config.bias ?? true;
    this.linear1 = this.addModule('linear1', new Linear(config.hiddenSize, config.intermediateSize, { bias, seed: rng }));
    this.dropout = this.addModule('dropout', new Dropout(config.dropout ?? 0, { seed: rng.nextUint32() }));
    this.linear2 = this.addModule('linear2', new Linear(config.intermediateSize, config.hiddenSize, { bias, seed: rng }));
  }

  /** x [..., D] → [..., D] */
  forward(x: VarLike): Var {
    return this.linear2.forward(this.dropout.forward(gelu(this.linear1.forward(x)))); // [..., F] inside
  }
}
