// The Llama family, as transformers' modeling_llama.py, modeling_mistral.py and modeling_qwen2.py: RMSNorm,
// rotary positions (rotate-half, rope_theta, Llama 3 scaling), grouped-query attention, the SwiGLU feed-forward,
// a final RMSNorm and a tied or untied output head. Mistral adds a sliding window (in the mask, blocks.ts);
// Qwen2 adds biases to the q, k and v projections.
//
//   h = embed_tokens[ids]                                                   [B, N, D]
//   per layer: h += o_proj(attention(rope(q_proj(x)), rope(k_proj(x)), v_proj(x)))   x = input_layernorm(h)
//              h += down_proj(silu(gate_proj(y)) · up_proj(y))                       y = post_attention_layernorm(h)
//   logits = lm_head(norm(h))                                               [B, N, V]

import { embedding } from '../autograd/nn-ops.js';
import { add, linear, mul } from '../autograd/tensor-ops.js';
import { rmsNorm, silu } from '../autograd/transformer-ops.js';
import { type Var } from '../autograd/var.js';
import { type Tensor } from '../core/tensor.js';
import { type ModelConfig } from './config.js';
import { type ForwardContext, type ParameterSpec, selfAttention, splitHeads, visit } from './blocks.js';
import { type Family, type FamilyOutput, finish } from './family.js';

const PREFIX = 'model.';

function parameters(c: ModelConfig, keys: ReadonlySet<string>): ParameterSpec[] {
  const D = c.hiddenSize;
  const F = c.intermediateSize;
  const qWidth = c.numAttentionHeads * c.headDim;
  const kvWidth = c.numKeyValueHeads * c.headDim;
  const proj = (name: string, out: number, inp: number, bias: boolean): ParameterSpec[] => [
    { name: `${name}.weight`, shape: [out, inp] },
    ...(bias ? [{ name: `${name}.bias`, shape: [out] }] : []),
  ];
  const specs: ParameterSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, D] }];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const b = `model.layers.${l}`;
    specs.push(
      { name: `${b}.input_layernorm.weight`, shape: [D] },
      ...proj(`${b}.self_attn.q_proj`, qWidth, D, c.qkvBias),
      ...proj(`${b}.self_attn.k_proj`, kvWidth, D, c.qkvBias),
      ...proj(`${b}.self_attn.v_proj`, kvWidth, D, c.qkvBias),
      ...proj(`${b}.self_attn.o_proj`, D, qWidth, c.outputBias),
      { name: `${b}.post_attention_layernorm.weight`, shape: [D] },
      ...proj(`${b}.mlp.gate_proj`, F, D, c.mlpBias),
      ...proj(`${b}.mlp.up_proj`, F, D, c.mlpBias),
      ...proj(`${b}.mlp.down_proj`, D, F, c.mlpBias),
    );
  }
  specs.push({ name: 'model.norm.weight', shape: [D] });
  // A LlamaModel checkpoint (no head) with untied embeddings has no lm_head: qkv then returns hidden states only.
  if (!c.tieWordEmbeddings && keys.has('lm_head.weight')) specs.push({ name: 'lm_head.weight', shape: [c.vocabSize, D] });
  return specs;
}

function forward(ctx: ForwardContext, ids: Tensor): FamilyOutput {
  const c = ctx.config;
  const w = ctx.weights;
  const p = (name: string) => w.get(name);
  const lin = (x: Var, name: string, bias: boolean) => linear(x, p(`${name}.weight`), bias ? p(`${name}.bias`) : null, { backend: ctx.backend });
  let h = visit(ctx, 'hook_embed', embedding(p('model.embed_tokens.weight'), ids)); // [B, N, D]
  const hidden: Var[] = [];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const b = `model.layers.${l}`;
    h = visit(ctx, `blocks.${l}.hook_resid_pre`, h);
    hidden.push(h);
    const x = rmsNorm(h, p(`${b}.input_layernorm.weight`), c.normEps);
    const q = splitHeads(lin(x, `${b}.self_attn.q_proj`, c.qkvBias), c.numAttentionHeads); // [B, H, N, d]
    const k = splitHeads(lin(x, `${b}.self_attn.k_proj`, c.qkvBias), c.numKeyValueHeads); // [B, Hkv, N, d]
    const v = splitHeads(lin(x, `${b}.self_attn.v_proj`, c.qkvBias), c.numKeyValueHeads); // [B, Hkv, N, d]
    const z = selfAttention(ctx, l, q, k, v); // [B, N, H·d]
    const attnOut = visit(ctx, `blocks.${l}.hook_attn_out`, lin(z, `${b}.self_attn.o_proj`, c.outputBias));
    h = visit(ctx, `blocks.${l}.hook_resid_mid`, add(h, attnOut));
    const y = rmsNorm(h, p(`${b}.post_attention_layernorm.weight`), c.normEps);
    const gated = mul(silu(lin(y, `${b}.mlp.gate_proj`, c.mlpBias)), lin(y, `${b}.mlp.up_proj`, c.mlpBias)); // [B, N, F]
    const mlpOut = visit(ctx, `blocks.${l}.hook_mlp_out`, lin(gated, `${b}.mlp.down_proj`, c.mlpBias));
    h = visit(ctx, `blocks.${l}.hook_resid_post`, add(h, mlpOut)); // [B, N, D]
  }
  const last = rmsNorm(h, p('model.norm.weight'), c.normEps);
  const head = c.tieWordEmbeddings ? p('model.embed_tokens.weight') : w.has('lm_head.weight') ? p('lm_head.weight') : null;
  return finish(hidden, last, head === null ? null : (x) => linear(x, head, null, { backend: ctx.backend }));
}

export const llama: Family = {
  parameters,
  candidates: (name) => (name.startsWith(PREFIX) ? [name, name.slice(PREFIX.length)] : [name]),
  ignored: (key) => /(^|\.)rotary_emb\.inv_freq$/.test(key),
  tiedHead: 'lm_head.weight',
  forward,
};
