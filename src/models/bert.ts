// BERT, as transformers' modeling_bert.py (BertModel, BertForMaskedLM): word + position + token-type embeddings,
// post-norm blocks, attention in both directions with key padding, the erf GELU, and the masked-LM head.
//
//   h = LayerNorm(word[ids] + position[positions] + token_type[types])             [B, N, D]
//   per layer: h = LayerNorm(h + attention.output.dense(attention(q, k, v)))        (heads H, padding masked)
//              h = LayerNorm(h + output.dense(gelu(intermediate.dense(h))))         [B, N, F] inside
//   logits = decoder(LayerNorm(gelu(transform.dense(h)))) + bias                  [B, N, V], decoder = wordᵀ
//
// Checkpoints come as BertModel (no prefix) or BertForMaskedLM / BertForPreTraining ("bert." prefix, "cls." head);
// old ones (bert-base-uncased) name LayerNorm parameters gamma and beta.

import { embedding, gelu, layerNorm } from '../autograd/nn-ops.js';
import { add, linear } from '../autograd/tensor-ops.js';
import { type Var } from '../autograd/var.js';
import { type Tensor } from '../core/tensor.js';
import { type ModelConfig } from './config.js';
import { type ForwardContext, type ParameterSpec, selfAttention, splitHeads, visit } from './blocks.js';
import { type Family, type FamilyOutput, finish } from './family.js';

function parameters(c: ModelConfig, keys: ReadonlySet<string>): ParameterSpec[] {
  const D = c.hiddenSize;
  const F = c.intermediateSize;
  const mlm = [...keys].some((k) => k.startsWith('cls.predictions.'));
  const pre = mlm ? 'bert.' : '';
  const norm = (name: string): ParameterSpec[] => [
    { name: `${name}.weight`, shape: [D] },
    { name: `${name}.bias`, shape: [D] },
  ];
  const dense = (name: string, out: number, inp: number): ParameterSpec[] => [
    { name: `${name}.weight`, shape: [out, inp] },
    { name: `${name}.bias`, shape: [out] },
  ];
  const specs: ParameterSpec[] = [
    { name: `${pre}embeddings.word_embeddings.weight`, shape: [c.vocabSize, D] },
    { name: `${pre}embeddings.position_embeddings.weight`, shape: [c.maxPositionEmbeddings, D] },
    { name: `${pre}embeddings.token_type_embeddings.weight`, shape: [c.typeVocabSize, D] },
    ...norm(`${pre}embeddings.LayerNorm`),
  ];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const b = `${pre}encoder.layer.${l}`;
    specs.push(
      ...dense(`${b}.attention.self.query`, D, D),
      ...dense(`${b}.attention.self.key`, D, D),
      ...dense(`${b}.attention.self.value`, D, D),
      ...dense(`${b}.attention.output.dense`, D, D),
      ...norm(`${b}.attention.output.LayerNorm`),
      ...dense(`${b}.intermediate.dense`, F, D),
      ...dense(`${b}.output.dense`, D, F),
      ...norm(`${b}.output.LayerNorm`),
    );
  }
  // The pooler is kept (and written back) when the checkpoint has it; qkv's outputs do not use it.
  if (keys.has(`${pre}pooler.dense.weight`) || keys.has('pooler.dense.weight')) specs.push(...dense(`${pre}pooler.dense`, D, D));
  if (mlm) {
    specs.push(
      ...dense('cls.predictions.transform.dense', D, D),
      ...norm('cls.predictions.transform.LayerNorm'),
      { name: 'cls.predictions.bias', shape: [c.vocabSize] },
    );
    if (!c.tieWordEmbeddings) specs.push({ name: 'cls.predictions.decoder.weight', shape: [c.vocabSize, D] });
  }
  return specs;
}

function forward(ctx: ForwardContext, ids: Tensor): FamilyOutput {
  const c = ctx.config;
  const w = ctx.weights;
  const pre = w.has('cls.predictions.bias') ? 'bert.' : '';
  const p = (name: string) => w.get(pre + name);
  const lin = (x: Var, name: string) => linear(x, p(`${name}.weight`), p(`${name}.bias`), { backend: ctx.backend });
  const norm = (x: Var, name: string) => layerNorm(x, p(`${name}.weight`), p(`${name}.bias`), c.normEps);

  const summed = add(
    add(
      visit(ctx, 'hook_embed', embedding(p('embeddings.word_embeddings.weight'), ids)),
      visit(ctx, 'hook_pos_embed', embedding(p('embeddings.position_embeddings.weight'), ctx.positions)),
    ),
    visit(ctx, 'hook_token_type_embed', embedding(p('embeddings.token_type_embeddings.weight'), ctx.tokenTypes)),
  ); // [B, N, D]
  let h = norm(summed, 'embeddings.LayerNorm');
  const hidden: Var[] = [];
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const b = `encoder.layer.${l}`;
    h = visit(ctx, `blocks.${l}.hook_resid_pre`, h);
    hidden.push(h);
    const heads = (name: string) => splitHeads(lin(h, `${b}.attention.self.${name}`), c.numAttentionHeads); // [B, H, N, d]
    const z = selfAttention(ctx, l, heads('query'), heads('key'), heads('value')); // [B, N, D]
    const attnOut = visit(ctx, `blocks.${l}.hook_attn_out`, lin(z, `${b}.attention.output.dense`));
    h = visit(ctx, `blocks.${l}.hook_resid_mid`, norm(add(attnOut, h), `${b}.attention.output.LayerNorm`));
    const mlpOut = visit(ctx, `blocks.${l}.hook_mlp_out`, lin(gelu(lin(h, `${b}.intermediate.dense`)), `${b}.output.dense`)); // [B, N, D]
    h = visit(ctx, `blocks.${l}.hook_resid_post`, norm(add(mlpOut, h), `${b}.output.LayerNorm`));
  }
  if (pre === '') return finish(hidden, h, null);
  const decoder = c.tieWordEmbeddings ? p('embeddings.word_embeddings.weight') : w.get('cls.predictions.decoder.weight');
  return finish(hidden, h, (x) => {
    const t = layerNorm(
      gelu(linear(x, w.get('cls.predictions.transform.dense.weight'), w.get('cls.predictions.transform.dense.bias'), { backend: ctx.backend })),
      w.get('cls.predictions.transform.LayerNorm.weight'),
      w.get('cls.predictions.transform.LayerNorm.bias'),
      c.normEps,
    ); // [B, N, D]
    return linear(t, decoder, w.get('cls.predictions.bias'), { backend: ctx.backend }); // [B, N, V]
  });
}

export const bert: Family = {
  parameters,
  candidates(name) {
    const names = name.startsWith('bert.') ? [name, name.slice(5)] : [name, `bert.${name}`];
    // bert-base-uncased and other old checkpoints: LayerNorm.gamma / LayerNorm.beta
    const old = (n: string) => n.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    return [...names, ...names.map(old).filter((n) => !names.includes(n))];
  },
  ignored: (key) =>
    /(^|\.)embeddings\.position_ids$/.test(key) || key.startsWith('cls.seq_relationship.') || key === 'cls.predictions.decoder.bias',
  tiedHead: 'cls.predictions.decoder.weight',
  forward,
};
