// A pre-norm transformer encoder layer, as torch.nn.TransformerEncoderLayer(norm_first=True, batch_first=True,
// activation="gelu"), with the same parameter names so PyTorch state dicts load unchanged:
//
//   x = x + dropout1(self_attn(norm1(x)))                    [B, N, D]
//   x = x + dropout2(linear2(dropout(gelu(linear1(norm2(x))))))
//
// Difference: PyTorch also applies dropout to the attention weights inside self_attn; qkv's fused attention keeps
// no weights to drop, so attention dropout is not offered (dropout1 on its output still is).

import { type VarLike, add } from '../autograd/tensor-ops.js';
import { type Var, asVar } from '../autograd/var.js';
import { type Seed, rngOf } from './init.js';
import { FeedForward } from './feed-forward.js';
import { Dropout, LayerNorm, type Linear } from './layers.js';
import { Module } from './module.js';
import { MultiHeadAttention, type MultiHeadAttentionVarOptions } from './multihead-attention.js';

/**
 * Constructor options of {@link TransformerEncoderLayer}. Names are the camelCase of Hugging Face's config.json
 * (hidden_size, num_attention_heads, num_key_value_heads, intermediate_size); see docs/SEMANTICS.md.
 */
export interface TransformerEncoderLayerConfig {
  /** Model width D. */
  hiddenSize: number;
  /** Query heads H. */
  numAttentionHeads: number;
  /**
   * Key/value heads Hkv (grouped-query attention).
   * @default numAttentionHeads
   */
  numKeyValueHeads?: number;
  /**
   * Hidden width F of the feed-forward block.
   * @default 4 · hiddenSize
   */
  intermediateSize?: number;
  /**
   * Dropout after attention, inside and after the feed-forward block (training mode only).
   * @default 0.1, as PyTorch
   */
  dropout?: number;
  /**
   * @default 1e-5
   */
  layerNormEps?: number;
  /**
   * Seed of the initialisation and of the dropout masks, or a shared Rng.
   * @default 0
   */
  seed?: Seed;
}

/** Pre-norm encoder layer: x [B, N, D] (or [N, D]) → the same shape. */
export class TransformerEncoderLayer extends Module {
  readonly selfAttn: MultiHeadAttention;
  readonly ff: FeedForward;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly dropout1: Dropout;
  readonly dropout2: Dropout;

  constructor(config: TransformerEncoderLayerConfig) {
    super('TransformerEncoderLayer');
    const rng = rngOf(config.seed, 'TransformerEncoderLayer');
    const D = config.hiddenSize;
    const p = config.dropout ?? 0.1;
    const eps = config.layerNormEps ?? 1e-5;
    this.selfAttn = this.addModule(
      'self_attn',
      new MultiHeadAttention({
        embedDim: D,
        numHeads: config.numAttentionHeads,
        numKeyValueHeads: config.numKeyValueHeads,
        seed: rng,
      }),
    );
    // The feed-forward block's parts are registered under PyTorch's names (linear1, dropout, linear2), not under ff.
    this.ff = new FeedForward({ hiddenSize: D, intermediateSize: config.intermediateSize ?? 4 * D, dropout: p, seed: rng });
    this.addModule<Linear>('linear1', this.ff.linear1);
    this.addModule('dropout', this.ff.dropout);
    this.addModule<Linear>('linear2', this.ff.linear2);
    this.norm1 = this.addModule('norm1', new LayerNorm(D, { eps }));
    this.norm2 = this.addModule('norm2', new LayerNorm(D, { eps }));
    this.dropout1 = this.addModule('dropout1', new Dropout(p, { seed: rng.nextUint32() }));
    this.dropout2 = this.addModule('dropout2', new Dropout(p, { seed: rng.nextUint32() }));
  }

  /**
   * x [B, N, D] → [B, N, D]. `options` go to self-attention: `mask` (nonzero = may attend, e.g. a key padding mask
   * [B, 1, 1, N]), `bias`, `causal`.
   */
  forward(x: VarLike, options: MultiHeadAttentionVarOptions = {}): Var {
    const input = asVar(x, 'TransformerEncoderLayer.forward', 'x');
    const h = this.norm1.forward(input);
    const attended = add(input, this.dropout1.forward(this.selfAttn.forwardVar(h, h, h, options))); // [B, N, D]
    return add(attended, this.dropout2.forward(this.ff.forward(this.norm2.forward(attended)))); // [B, N, D]
  }
}
