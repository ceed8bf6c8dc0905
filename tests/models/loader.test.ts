// The model loader refuses what it cannot run exactly, with one ModelError that names the file and the key, and
// round-trips what it can: load → savePretrained → load gives the same bits, in the dtype the checkpoint had.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Tensor, isQkvError, readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../../src/index.js';
import { ModelError } from '../../src/core/errors.js';
import { blobFiles } from '../../src/models/files.js';
import { PretrainedModel } from '../../src/models/model.js';
import { loadPretrained, pretrainedFiles, savePretrained } from '../../src/models/pretrained.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

/** A fixture folder as in-memory files (the model files only), for mutation. */
function filesOf(name: string): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const f of readdirSync(join(FIXTURES, name))) {
    if (!f.startsWith('expected') && !f.startsWith('tokenizer')) out[f] = new Uint8Array(readFileSync(join(FIXTURES, name, f)));
  }
  return out;
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const parse = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;

function load(files: Record<string, Uint8Array>): Promise<PretrainedModel> {
  return PretrainedModel.fromFiles(blobFiles(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, new Blob([v])])), 'test-folder'));
}

/** Rewrites model.safetensors through `edit` (as float32). */
function editWeights(files: Record<string, Uint8Array>, edit: (w: Record<string, Tensor>) => void): Record<string, Uint8Array> {
  const weights = readSafetensors(files['model.safetensors']);
  edit(weights);
  return { ...files, 'model.safetensors': writeSafetensors(weights) };
}

async function rejects(files: Record<string, Uint8Array>, file: string, key: string | undefined, message: RegExp): Promise<void> {
  await assert.rejects(load(files), (e: unknown) => {
    assert.ok(e instanceof ModelError && isQkvError(e, 'E_MODEL'), `not a ModelError: ${String(e)}`);
    assert.equal(e.file, file, `file of: ${e.message}`);
    if (key !== undefined) assert.equal(e.key, key, `key of: ${e.message}`);
    assert.match(e.message, message);
    return true;
  });
}

describe('loader errors name the file and the key', () => {
  it('an unknown model_type', async () => {
    const files = filesOf('gpt2');
    await rejects({ ...files, 'config.json': json({ ...parse(files['config.json']), model_type: 'gemma2' }) }, 'config.json', 'model_type', /must be one of "gpt2", "bert", "llama", "mistral", "qwen2"; got string gemma2/);
  });

  it('an unknown rope_scaling type, and a malformed llama3 one', async () => {
    const files = filesOf('llama');
    const config = parse(files['config.json']);
    await rejects({ ...files, 'config.json': json({ ...config, rope_scaling: { rope_type: 'yarn', factor: 4 } }) }, 'config.json', 'rope_scaling', /rope_type string yarn/);
    await rejects(
      { ...files, 'config.json': json({ ...config, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4 } }) },
      'config.json',
      'rope_scaling.original_max_position_embeddings',
      /must be a number > 0/,
    );
  });

  it('an unsupported activation, a head count that does not divide, a missing required field', async () => {
    const gpt2 = filesOf('gpt2');
    const config = parse(gpt2['config.json']);
    await rejects({ ...gpt2, 'config.json': json({ ...config, activation_function: 'relu' }) }, 'config.json', 'activation_function', /"gelu_new"/);
    await rejects({ ...gpt2, 'config.json': json({ ...config, n_head: 5 }) }, 'config.json', 'n_head', /must divide n_embd = 32; got 5/);
    await rejects({ ...gpt2, 'config.json': json({ ...config, n_layer: 'two' }) }, 'config.json', 'n_layer', /positive integer; got string two/);
  });

  it('a missing tensor, listed with its shape', async () => {
    const files = editWeights(filesOf('gpt2'), (w) => delete w['h.1.mlp.c_fc.weight']);
    await rejects(files, 'model.safetensors', 'transformer.h.1.mlp.c_fc.weight', /lacks 1 tensor.*\n  transformer\.h\.1\.mlp\.c_fc\.weight \[32, 128\]/);
  });

  it('a tensor of the wrong shape', async () => {
    const files = editWeights(filesOf('llama'), (w) => (w['model.norm.weight'] = Tensor.zeros([31])));
    await rejects(files, 'model.safetensors', 'model.norm.weight', /must be \[32\] for this config; got \[31\]/);
  });

  it('a tensor that no parameter uses (another architecture)', async () => {
    const files = editWeights(filesOf('llama'), (w) => (w['model.layers.0.self_attn.q_norm.weight'] = Tensor.ones([8])));
    await rejects(files, 'model.safetensors', 'model.layers.0.self_attn.q_norm.weight', /does not use/);
  });

  it('a weight in an integer dtype', async () => {
    const files = filesOf('gpt2');
    const weights = readSafetensors(files['model.safetensors']);
    const names = Object.keys(weights).filter((n) => n !== 'ln_f.bias');
    // Rebuild the file by hand with ln_f.bias as I32 (safetensors allows it; a model cannot use it).
    const header: Record<string, unknown> = {};
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (const n of names) {
      const bytes = new Uint8Array(weights[n].data.buffer.slice(0));
      header[n] = { dtype: 'F32', shape: weights[n].shape, data_offsets: [offset, offset + bytes.length] };
      parts.push(bytes);
      offset += bytes.length;
    }
    header['ln_f.bias'] = { dtype: 'I32', shape: [32], data_offsets: [offset, offset + 128] };
    parts.push(new Uint8Array(128));
    offset += 128;
    const text = JSON.stringify(header).padEnd(Math.ceil(JSON.stringify(header).length / 8) * 8);
    const head = new TextEncoder().encode(text);
    const file = new Uint8Array(8 + head.length + offset);
    new DataView(file.buffer).setUint32(0, head.length, true);
    file.set(head, 8);
    let at = 8 + head.length;
    for (const p of parts) {
      file.set(p, at);
      at += p.length;
    }
    await rejects({ ...files, 'model.safetensors': file }, 'model.safetensors', 'ln_f.bias', /dtype I32; only F32, F16, BF16, F64/);
  });

  it('no weights at all, and only pytorch_model.bin', async () => {
    const files = filesOf('gpt2');
    delete files['model.safetensors'];
    await rejects(files, 'model.safetensors', undefined, /neither model\.safetensors nor model\.safetensors\.index\.json/);
    await rejects({ ...files, 'pytorch_model.bin': new Uint8Array(4) }, 'model.safetensors', undefined, /pytorch_model\.bin, which qkv does not read/);
  });

  it('a sharded index that names a missing shard, or a tensor its shard lacks', async () => {
    const files = filesOf('llama-sharded');
    const second = 'model-00002-of-00002.safetensors';
    const { [second]: _dropped, ...rest } = files;
    void _dropped;
    await rejects(rest, second, undefined, /names the shard model-00002-of-00002\.safetensors/);
    const index = parse(files['model.safetensors.index.json']);
    const map = { ...(index.weight_map as Record<string, string>), 'model.layers.9.mlp.up_proj.weight': second };
    await rejects({ ...files, 'model.safetensors.index.json': json({ ...index, weight_map: map }) }, second, 'model.layers.9.mlp.up_proj.weight', /has no tensor/);
  });

  it('a config.json that is not JSON is a FormatError naming the file', async () => {
    const files = { ...filesOf('gpt2'), 'config.json': new TextEncoder().encode('{"model_type": gpt2') };
    await assert.rejects(load(files), (e: unknown) => isQkvError(e, 'E_FORMAT') && /test-folder\/config\.json is not valid JSON/.test((e as Error).message));
  });

  it('a missing folder and a bad source', async () => {
    await assert.rejects(loadPretrained('/nonexistent/qkv-model'), (e: unknown) => isQkvError(e, 'E_MODEL') && /neither a folder nor a Hub id/.test((e as Error).message));
    await assert.rejects(loadPretrained(42 as never), (e: unknown) => isQkvError(e, 'E_ARGUMENT'));
  });
});

describe('loader accepts the Hugging Face variants', () => {
  it('GPT-2 keys with and without the transformer. prefix give the same model', async () => {
    const plain = filesOf('gpt2');
    const prefixed = editWeights(plain, (w) => {
      for (const k of Object.keys(w)) {
        w[`transformer.${k}`] = w[k];
        delete w[k];
      }
      w['lm_head.weight'] = w['transformer.wte.weight'];
    });
    const a = await load(plain);
    const b = await load(prefixed);
    const ids = [[1, 2, 3, 4]];
    assert.deepEqual(Array.from(a.forward(ids).logits!.data), Array.from(b.forward(ids).logits!.data));
  });

  it('BERT with modern LayerNorm names equals the gamma/beta checkpoint', async () => {
    const old = filesOf('bert-mlm');
    const modern = editWeights(old, (w) => {
      for (const k of Object.keys(w)) {
        const m = k.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
        if (m !== k) {
          w[m] = w[k];
          delete w[k];
        }
      }
    });
    assert.ok(Object.keys(readSafetensors(old['model.safetensors'])).some((k) => k.endsWith('LayerNorm.gamma')), 'the fixture uses gamma/beta');
    const a = await load(old);
    const b = await load(modern);
    const ids = [[2, 10, 11, 3]];
    assert.deepEqual(Array.from(a.forward(ids).logits!.data), Array.from(b.forward(ids).logits!.data));
  });
});

describe('savePretrained round-trips', () => {
  for (const name of ['gpt2', 'gpt2-prefixed-f16', 'bert-mlm', 'bert-base', 'llama', 'llama-sharded', 'mistral', 'qwen2']) {
    it(`${name}: load → save → load gives the same bits, in the stored dtype`, async () => {
      const model = await loadPretrained(join(FIXTURES, name), { tokenizer: false });
      const dir = mkdtempSync(join(tmpdir(), 'qkv-save-'));
      try {
        await savePretrained(model, dir);
        const saved = new Uint8Array(readFileSync(join(dir, 'model.safetensors')));
        const header = JSON.parse(new TextDecoder().decode(saved.subarray(8, 8 + new DataView(saved.buffer).getUint32(0, true))));
        const dtypes = new Set(Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, v]) => (v as { dtype: string }).dtype));
        assert.deepEqual([...dtypes], [model.storedDType]);
        assert.equal(readSafetensorsMetadata(saved).format, 'pt');
        const again = await loadPretrained(dir, { tokenizer: false });
        const a = model.weights.namedParameters();
        const b = again.weights.namedParameters();
        assert.deepEqual(b.map(([n]) => n), a.map(([n]) => n));
        for (let i = 0; i < a.length; i++) assert.deepEqual(new Uint32Array(b[i][1].data.buffer), new Uint32Array(a[i][1].data.buffer), a[i][0]);
        assert.deepEqual(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).model_type, model.config.raw.model_type);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('GPT-2 is written with the keys and Conv1D layout transformers saves', async () => {
    const model = await loadPretrained(join(FIXTURES, 'gpt2'), { tokenizer: false });
    const written = readSafetensors(pretrainedFiles(model)['model.safetensors']);
    const original = readSafetensors(filesOf('gpt2')['model.safetensors']);
    assert.deepEqual(written['transformer.h.0.attn.c_attn.weight'].shape, original['h.0.attn.c_attn.weight'].shape);
    assert.deepEqual(Array.from(written['transformer.h.0.attn.c_attn.weight'].data), Array.from(original['h.0.attn.c_attn.weight'].data));
    assert.equal(written['lm_head.weight'], undefined, 'a tied head is not written');
  });
});
