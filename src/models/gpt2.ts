// GPT-2, as transformers' modeling_gpt2.py (GPT2LMHeadModel): learned positions, pre-norm blocks with LayerNorm,
// one fused q|k|v projection (c_attn), the tanh GELU ("gelu_new"), a final LayerNorm and an output head tied to
// the token embeddings.
//
//   h = wte[ids] + wpe[positions]                                   [B, N, D]
//   per block: h += c_proj(attention(split(c_attn(ln_1(h)))))        (heads H, causal)
//              h += mlp.c_proj(gelu_new(mlp.c_fc(ln_2(h))))          [B, N, F] inside
//   logits = ln_f(h) · wteᵀ                                          [B, N, V]
//
// Checkpoints store Conv1D weights as [in, out]; qkv keeps nn.Linear's [out, in] and transposes when it reads and
// writes them.

import { embedding, layerNorm } from '../autograd/nn-ops.js';
import { add, linear, narrow } from '../autograd/tensor-ops.js';
import { geluTanh } from '../autograd/transformer-ops.js';
import { type Var } from '../autograd/var.js';
import { type Tensor } from '../core/tensor.js';
import { type ModelConfig } from './config.js';
import { type ForwardContext, type ParameterSpec, selfAttention, splitHeads, visit } from './blocks.js';
import { type Family, type FamilyOutput, finish } from './family.js';

const PREFIX = 'transformer.';

function parameters(c: ModelConfig): ParameterSpec[] {
  const D = c.hiddenSize;
  const F = c.intermediateSize;
  const specs: ParameterSpec[] = [
    { name: 'transformer.wte.weight', shape: [c.vocabSize, D] },
    { name: 'transformer.wpe.weight', shape: [c.maxPositionEmbeddings, D] },
  ];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const h = `transformer.h.${l}`;
    specs.push(
      { name: `${h}.ln_1.weight`, shape: [D] },
      { name: `${h}.ln_1.bias`, shape: [D] },
      { name: `${h}.attn.c_attn.weight`, shape: [3 * D, D], conv1d: true },
      { name: `${h}.attn.c_attn.bias`, shape: [3 * D] },
      { name: `${h}.attn.c_proj.weight`, shape: [D, D], conv1d: true },
      { name: `${h}.attn.c_proj.bias`, shape: [D] },
      { name: `${h}.ln_2.weight`, shape: [D] },
      { name: `${h}.ln_2.bias`, shape: [D] },
      { name: `${h}.mlp.c_fc.weight`, shape: [F, D], conv1d: true },
      { name: `${h}.mlp.c_fc.bias`, shape: [F] },
      { name: `${h}.mlp.c_proj.weight`, shape: [D, F], conv1d: true },
      { name: `${h}.mlp.c_proj.bias`, shape: [D] },
    );
  }
  specs.push({ name: 'transformer.ln_f.weight', shape: [D] }, { name: 'transformer.ln_f.bias', shape: [D] });
  if (!c.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [c.vocabSize, D] });
  return specs;
}

function forward(ctx: ForwardContext, ids: Tensor): FamilyOutput {
  const c = ctx.config;
  const p = (name: string) => ctx.weights.get(name);
  const D = c.hiddenSize;
  let h = add(
    visit(ctx, 'hook_embed', embedding(p('transformer.wte.weight'), ids)),
    visit(ctx, 'hook_pos_embed', embedding(p('transformer.wpe.weight'), ctx.positions)),
  ); // [B, N, D]
  const hidden: Var[] = [];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const b = `transformer.h.${l}`;
    h = visit(ctx, `blocks.${l}.hook_resid_pre`, h);
    hidden.push(h);
    const x = layerNorm(h, p(`${b}.ln_1.weight`), p(`${b}.ln_1.bias`), c.normEps);
    const qkv = linear(x, p(`${b}.attn.c_attn.weight`), p(`${b}.attn.c_attn.bias`), { backend: ctx.backend }); // [B, N, 3D]
    const heads = (i: number) => splitHeads(narrow(qkv, 2, i * D, D), c.numAttentionHeads); // [B, H, N, d]
    const z = selfAttention(ctx, l, heads(0), heads(1), heads(2)); // [B, N, D]
    const attnOut = visit(ctx, `blocks.${l}.hook_attn_out`, linear(z, p(`${b}.attn.c_proj.weight`), p(`${b}.attn.c_proj.bias`), { backend: ctx.backend }));
    h = visit(ctx, `blocks.${l}.hook_resid_mid`, add(h, attnOut));
    const y = layerNorm(h, p(`${b}.ln_2.weight`), p(`${b}.ln_2.bias`), c.normEps);
    const up = geluTanh(linear(y, p(`${b}.mlp.c_fc.weight`), p(`${b}.mlp.c_fc.bias`), { backend: ctx.backend })); // [B, N, F]
    const mlpOut = visit(ctx, `blocks.${l}.hook_mlp_out`, linear(up, p(`${b}.mlp.c_proj.weight`), p(`${b}.mlp.c_proj.bias`), { backend: ctx.backend }));
    h = visit(ctx, `blocks.${l}.hook_resid_post`, add(h, mlpOut)); // [B, N, D]
  }
  const last = layerNorm(h, p('transformer.ln_f.weight'), p('transformer.ln_f.bias'), c.normEps);
  const head = c.tieWordEmbeddings ? p('transformer.wte.weight') : p('lm_head.weight');
  return finish(hidden, last, (x) => linear(x, head, null, { backend: ctx.backend }));
}

export const gpt2: Family = {
  parameters,
  /** GPT2Model checkpoints have no `transformer.` prefix; the attn.bias / masked_bias buffers are causal masks. */
  candidates: (name) => (name.startsWith(PREFIX) ? [name, name.slice(PREFIX.length)] : [name]),
  ignored: (key) => /(^|\.)attn\.(masked_)?bias$/.test(key),
  tiedHead: 'lm_head.weight',
  forward,
};
