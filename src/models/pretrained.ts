// loadPretrained and savePretrained: Hugging Face's from_pretrained / save_pretrained for qkv. A source is a model
// folder on disk, a Hub id ("openai-community/gpt2", downloaded once into qkv's cache), or in a browser the files the
// user picked (blobFiles). savePretrained writes config.json, model.safetensors and the tokenizer and generation
// files back, so that transformers (and what is built on it) can continue from a model trained or edited in qkv.

import { ArgumentError, ModelError } from '../core/errors.js';
import { Tensor, describe } from '../core/tensor.js';
import { type SafetensorsFloatDType, writeSafetensors } from '../io/safetensors.js';
import { type ModelFiles, folderFiles } from './files.js';
import type { HubOptions } from './hub.js';
import { type FromFilesOptions, PretrainedModel } from './model.js';

/** Options of {@link loadPretrained}: the Hub download's (cacheDir, offline, revision, refresh, endpoint, token, timeoutMs, onProgress, signal; see downloadModel) and the loader's. */
export interface LoadOptions extends HubOptions, FromFilesOptions {}

/**
 * Opens a model: a folder in the Hugging Face layout, a Hub id (Node; downloaded into the cache first, see
 * downloadModel), or ModelFiles (for example blobFiles of a browser's file input).
 * @example
 * const model = await loadPretrained('./gpt2');
 * const ids = model.tokenizer!.encode('The cat sat');
 * console.log(model.tokenizer!.decode(model.generate([ids], { maxNewTokens: 8 })[0]));
 */
export async function loadPretrained(source: string | ModelFiles, options: LoadOptions = {}): Promise<PretrainedModel> {
  const fn = 'loadPretrained';
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ArgumentError(`${fn}: options must be an object; got ${describe(options)}`);
  }
  const { tokenizer, ...hub } = options;
  if (typeof source !== 'string') {
    if (typeof source !== 'object' || source === null || typeof source.read !== 'function' || typeof source.size !== 'function') {
      throw new ArgumentError(`${fn}: source must be a folder path, a Hub id ("owner/name") or ModelFiles; got ${describe(source)}`);
    }
    return PretrainedModel.fromFiles(source, { tokenizer });
  }
  if (source === '') throw new ArgumentError(`${fn}: source must be a folder path or a Hub id; got an empty string`);
  const { stat } = await import('node:fs/promises');
  const isFolder = await stat(source).then((s) => s.isDirectory(), () => false);
  if (isFolder) return PretrainedModel.fromFiles(folderFiles(source), { tokenizer });
  const { downloadModel, isHubId } = await import('./hub.js');
  if (!isHubId(source)) {
    throw new ModelError(`${fn}: ${source} is neither a folder nor a Hub id ("owner/name")`, { file: source });
  }
  const folder = await downloadModel(source, hub);
  const files = folderFiles(folder);
  return PretrainedModel.fromFiles({ ...files, where: `${source} (${folder})` }, { tokenizer });
}

/** Options of {@link savePretrained} and {@link pretrainedFiles}. */
export interface SaveOptions {
  /** The dtype of model.safetensors. @default the dtype the checkpoint was loaded in (F32 when mixed) */
  dtype?: SafetensorsFloatDType;
}

/**
 * The files of a model folder in the Hugging Face layout, as bytes: config.json, model.safetensors (under the names
 * and layouts transformers' save_pretrained writes, GPT-2's Conv1D weights as [in, out], tied heads left out), and
 * the tokenizer and generation files the model was loaded with.
 */
export function pretrainedFiles(model: PretrainedModel, options: SaveOptions = {}): Record<string, Uint8Array> {
  const fn = 'pretrainedFiles';
  if (!(model instanceof PretrainedModel)) throw new ArgumentError(`${fn}: model must be a PretrainedModel; got ${describe(model)}`);
  if (typeof options !== 'object' || options === null) throw new ArgumentError(`${fn}: options must be an object; got ${describe(options)}`);
  const stored = model.storedDType;
  const dtype = options.dtype ?? (stored === 'F16' || stored === 'BF16' ? stored : 'F32');
  const conv1d = model.config.family === 'gpt2' ? /\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/ : null;
  const record: Record<string, Tensor> = {};
  for (const [name, p] of model.weights.namedParameters()) {
    const t = new Tensor(p.data instanceof Float32Array ? p.data : Float32Array.from(p.data), p.shape);
    record[name] = conv1d?.test(name) ? t.transpose() : t; // [O, K] → [K, O] for Conv1D
  }
  const json = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
  const files: Record<string, Uint8Array> = {
    'config.json': json({ ...model.config.raw, torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype] }),
    'model.safetensors': writeSafetensors(record, { format: 'pt' }, { dtype }),
  };
  for (const [name, value] of Object.entries(model.extraFiles)) files[name] = json(value);
  return files;
}

/**
 * Writes a model folder (Node) that transformers' from_pretrained and qkv's loadPretrained read back.
 * @example await savePretrained(model, './my-gpt2');
 */
export async function savePretrained(model: PretrainedModel, folder: string, options: SaveOptions = {}): Promise<void> {
  if (typeof folder !== 'string' || folder === '') throw new ArgumentError(`savePretrained: folder must be a non-empty path; got ${describe(folder)}`);
  const files = pretrainedFiles(model, options);
  const { mkdir, writeFile, rename } = await import('node:fs/promises');
  await mkdir(folder, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) {
    // Written beside and renamed, so that a failed write never leaves a truncated file under the final name.
    const path = `${folder.replace(/\/+$/, '')}/${name}`;
    await writeFile(`${path}.partial`, bytes);
    await rename(`${path}.partial`, path);
  }
}
