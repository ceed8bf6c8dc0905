// What a model family provides: its parameters under their Hugging Face names, how checkpoint keys map onto them,
// and its forward pass. gpt2.ts, bert.ts and llama.ts (Llama, Mistral, Qwen2) each implement it with the shared
// pieces of blocks.ts.

import { type Var } from '../autograd/var.js';
import { type Tensor } from '../core/tensor.js';
import { type ModelConfig } from './config.js';
import { type ForwardContext, type ParameterSpec } from './blocks.js';

/** What a family's forward returns, as Vars (so a loss can be differentiated through it). */
export interface FamilyOutput {
  /** [B, N, D] after the final norm (decoders) or the last layer (BERT) */
  lastHiddenState: Var;
  /** [B, N, V], or null for a checkpoint without an output head */
  logits: Var | null;
  /** Hugging Face's output_hidden_states: the embeddings (or each block's input), then the last hidden state. L + 1. */
  hiddenStates: Var[];
}

export interface Family {
  /** The parameters a config needs, in state-dict order, under the names save_pretrained writes. */
  parameters(config: ModelConfig, keys: ReadonlySet<string>): ParameterSpec[];
  /** The checkpoint keys that may hold a parameter, most likely first (prefixes, old LayerNorm names). */
  candidates(name: string): string[];
  /** Checkpoint keys that are buffers or heads qkv does not use (causal-mask buffers, inv_freq, ...). */
  ignored(key: string): boolean;
  /** The key of an output head that is tied to the embeddings: present in some files, never read then. */
  tiedHead: string;
  /** ids [B, N] (integer-valued floats) → outputs. */
  forward(ctx: ForwardContext, ids: Tensor): FamilyOutput;
}

/** The family output from the block inputs, the last hidden state and the head. */
export function finish(hidden: Var[], last: Var, head: ((x: Var) => Var) | null): FamilyOutput {
  return { lastHiddenState: last, logits: head === null ? null : head(last), hiddenStates: [...hidden, last] };
}
