// Hugging Face parity: every tiny checkpoint that tools/make_hf_fixtures.py wrote (GPT-2, BERT, Llama, Mistral, Qwen2;
// F32, F16 and BF16; sharded; tied and untied heads; Llama 3 RoPE scaling) is loaded with loadPretrained and run as
// a padded batch on every backend. Each real token must give what the float64 PyTorch forward of its unpadded
// sequence gave: logits, hidden states, attention weights, q/k/v after RoPE, z and the residual stream per layer.
// The cached path must give the same logits, and greedy generation the same tokens.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { type Tensor, readSafetensors } from '../../src/index.js';
import { type Var } from '../../src/autograd/var.js';
import { loadPretrained } from '../../src/models/pretrained.js';
import { type PretrainedModel } from '../../src/models/model.js';
import { describeEachVariant } from '../backends/variants.js';
import { TOL, assertAllClose, assertRelClose } from '../tolerances.js';

const ROOT = new URL('./fixtures/', import.meta.url);

interface Expected {
  case: string;
  family: string;
  input_ids: number[][];
  token_type_ids?: number[][];
  greedy?: { prompt: number[]; max_new_tokens: number; tokens: number[] };
}

interface Case {
  name: string;
  folder: string;
  expected: Expected;
  tensors: Record<string, Tensor>;
}

const manifest = JSON.parse(readFileSync(new URL('manifest.json', ROOT), 'utf8')) as { cases: { case: string }[] };
const cases: Case[] = manifest.cases.map(({ case: name }) => {
  const folder = new URL(`${name}/`, ROOT);
  return {
    name,
    folder: folder.pathname,
    expected: JSON.parse(readFileSync(new URL('expected.json', folder), 'utf8')) as Expected,
    tensors: readSafetensors(new Uint8Array(readFileSync(new URL('expected.safetensors', folder)))),
  };
});

/** Rows of `t` [B, X, ...rest] at batch b, positions from..from+n of dim `dim` (1 or 2), flattened. */
function slice(t: { data: ArrayLike<number>; shape: readonly number[] }, b: number, dim: 1 | 2, from: number, n: number): Float32Array {
  const [B, d1, d2] = t.shape;
  const inner = t.shape.slice(3).reduce((x, y) => x * y, 1);
  const out: number[] = [];
  if (dim === 1) {
    const row = t.shape.slice(2).reduce((x, y) => x * y, 1);
    for (let i = 0; i < n; i++) for (let k = 0; k < row; k++) out.push(t.data[(b * d1 + from + i) * row + k]);
  } else {
    for (let h = 0; h < d1; h++) for (let i = 0; i < n; i++) for (let k = 0; k < inner; k++) out.push(t.data[((b * d1 + h) * d2 + from + i) * inner + k]);
  }
  void B;
  return Float32Array.from(out);
}

/** The padded batch of a case: decoders are left-padded, BERT right-padded, as their tokenizers pad. */
function batchOf(c: Case, model: PretrainedModel) {
  const ids = c.expected.input_ids;
  const width = Math.max(...ids.map((r) => r.length));
  const left = model.config.causal;
  const pad = (row: number[], fill: number) => {
    const extra = new Array<number>(width - row.length).fill(fill);
    return left ? [...extra, ...row] : [...row, ...extra];
  };
  return {
    width,
    offset: (b: number) => (left ? width - ids[b].length : 0),
    inputIds: ids.map((r) => pad(r, 0)),
    attentionMask: ids.map((r) => pad(r.map(() => 1), 0)),
    tokenTypeIds: c.expected.token_type_ids?.map((r) => pad(r, 0)),
  };
}

describeEachVariant('Hugging Face checkpoints match PyTorch', (v) => {
  for (const c of cases) {
    it(`${c.name}: every output of every real token of a padded batch`, async () => {
      const model = await loadPretrained(c.folder, { tokenizer: false });
      const batch = batchOf(c, model);
      const seen = new Map<string, Var>();
      const probe = (name: string, value: Var) => {
        if (/\.(hook_q|hook_k|hook_v|hook_z|hook_resid_post)$/.test(name)) seen.set(name, value);
        return undefined;
      };
      const out = model.forwardVar(
        batch.inputIds,
        { attentionMask: batch.attentionMask, tokenTypeIds: batch.tokenTypeIds, returnAttentions: true, backend: v.backend },
        probe,
      );
      const L = model.config.numHiddenLayers;
      for (let b = 0; b < c.expected.input_ids.length; b++) {
        const n = c.expected.input_ids[b].length;
        const at = batch.offset(b);
        const ref = (name: string) => {
          const t = c.tensors[`seq${b}.${name}`];
          assert.ok(t, `${c.name}: the fixture has no seq${b}.${name}`);
          return t.data;
        };
        if (out.logits) assertRelClose(slice(out.logits, b, 1, at, n), ref('logits'), TOL.modelParity, `seq${b} logits`);
        else assert.equal(c.tensors[`seq${b}.logits`], undefined, 'the fixture has logits but the model has no head');
        assertRelClose(slice(out.lastHiddenState, b, 1, at, n), ref('last_hidden_state'), TOL.modelParity, `seq${b} last_hidden_state`);
        assert.equal(out.hiddenStates.length, L + 1);
        for (let l = 0; l <= L; l++) {
          assertRelClose(slice(out.hiddenStates[l], b, 1, at, n), ref(`hidden_states.${l}`), TOL.modelParity, `seq${b} hidden_states.${l}`);
        }
        for (let l = 0; l < L; l++) {
          const weights = out.attentions![l]; // [B, H, N, S]
          const [, H, N, S] = weights.shape;
          const real: number[] = [];
          for (let h = 0; h < H; h++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) real.push(weights.data[((b * H + h) * N + at + i) * S + at + j]);
          assertAllClose(real, ref(`attentions.${l}`), 0, TOL.modelAttention, `seq${b} attentions.${l}`);
          for (const name of ['q', 'k', 'v']) {
            assertRelClose(slice(seen.get(`blocks.${l}.attn.hook_${name}`)!, b, 2, at, n), ref(`${name}.${l}`), TOL.modelParity, `seq${b} ${name}.${l}`);
          }
          assertRelClose(slice(seen.get(`blocks.${l}.attn.hook_z`)!, b, 1, at, n), ref(`z.${l}`), TOL.modelParity, `seq${b} z.${l}`);
          assertRelClose(slice(seen.get(`blocks.${l}.hook_resid_post`)!, b, 1, at, n), ref(`resid_post.${l}`), TOL.modelParity, `seq${b} resid_post.${l}`);
        }
      }
    });

    if (c.expected.greedy) {
      it(`${c.name}: the cache gives the full pass's logits, and greedy decoding PyTorch's tokens`, async () => {
        const model = await loadPretrained(c.folder, { tokenizer: false });
        const ids = c.expected.input_ids[0];
        const V = model.config.vocabSize;
        const cache = model.createCache(1);
        const stepped: number[] = [];
        for (let t = 0; t < ids.length; t += 3) {
          stepped.push(...model.forward([ids.slice(t, t + 3)], { cache, backend: v.backend }).logits!.data);
        }
        assert.equal(stepped.length, ids.length * V);
        assertRelClose(stepped, c.tensors['seq0.logits'].data, TOL.modelParity, 'chunked cached logits');
        const { prompt, max_new_tokens: maxNewTokens, tokens } = c.expected.greedy!;
        assert.deepEqual(model.generate([prompt], { maxNewTokens, stopTokens: [], backend: v.backend }), [tokens]);
        assert.deepEqual(model.generate([prompt], { maxNewTokens, stopTokens: [], useCache: false, backend: v.backend }), [tokens]);
      });
    }
  }
});
