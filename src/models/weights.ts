// The weights of a model folder: model.safetensors, or model.safetensors.index.json and its shards, as Hugging Face
// writes them (save_pretrained). Headers are read first, to know where every tensor lies; then each tensor is read
// and decoded on its own, into the array it will live in, so loading never holds a checkpoint twice.

import { ModelError } from '../core/errors.js';
import { formatShape, sizeOf } from '../core/shape.js';
import { describe } from '../core/tensor.js';
import {
  type ParsedHeader,
  type TensorEntry,
  decodeSafetensorsTensor,
  parseSafetensorsHeader,
  safetensorsHeaderLength,
} from '../io/safetensors.js';
import { type ModelFiles, readJson } from './files.js';

const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';

/** Where one tensor lies: its file, its header entry, and the absolute start of that file's data section. */
export interface WeightLocation {
  file: string;
  entry: TensorEntry;
  dataStart: number;
}

/** Every tensor of a checkpoint by name. */
export type WeightIndex = Map<string, WeightLocation>;

/** Reads the safetensors headers of a model folder (one file, or the shards of an index). */
export async function indexWeights(files: ModelFiles): Promise<WeightIndex> {
  const index: WeightIndex = new Map();
  if ((await files.size(SINGLE)) !== null) {
    addFile(index, SINGLE, await readHeader(files, SINGLE));
    return index;
  }
  const json = await readJson(files, INDEX, false);
  if (json === undefined) {
    const hint = (await files.size('pytorch_model.bin')) !== null ? ' It has pytorch_model.bin, which qkv does not read: convert it with safetensors (transformers: model.save_pretrained(dir, safe_serialization=True)).' : '';
    throw new ModelError(`${files.where}: the model folder has neither ${SINGLE} nor ${INDEX}.${hint}`, { file: SINGLE });
  }
  const map = json.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new ModelError(`${files.where}/${INDEX}: weight_map must be an object of tensor name → shard file; got ${describe(map)}`, { file: INDEX, key: 'weight_map' });
  }
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
      throw new ModelError(`${files.where}/${INDEX}: weight_map["${name}"] must be a file name in the folder; got ${describe(shard)}`, { file: INDEX, key: name });
    }
    shards.set(shard, [...(shards.get(shard) ?? []), name]);
  }
  for (const [shard, names] of shards) {
    if ((await files.size(shard)) === null) {
      throw new ModelError(`${files.where}: ${INDEX} names the shard ${shard} (for ${names[0]}), but the folder has no such file`, { file: shard, key: names[0] });
    }
    const header = await readHeader(files, shard);
    const present = new Set(header.entries.map((e) => e.name));
    for (const name of names) {
      if (!present.has(name)) throw new ModelError(`${files.where}/${shard}: has no tensor ${name}, which ${INDEX} places there`, { file: shard, key: name });
    }
    addFile(index, shard, header);
  }
  return index;
}

/**
 * Reads one tensor as float32 and checks its shape. With `transpose`, a stored [K, O] matrix is returned as [O, K]
 * (GPT-2's Conv1D weights, stored as x·W, become nn.Linear's layout).
 */
export async function readWeight(
  files: ModelFiles,
  location: WeightLocation,
  shape: readonly number[],
  transpose = false,
): Promise<Float32Array> {
  const { file, entry, dataStart } = location;
  const stored = transpose ? [shape[1], shape[0]] : shape;
  if (entry.shape.length !== stored.length || entry.shape.some((s, i) => s !== stored[i])) {
    throw new ModelError(
      `${files.where}/${file}: tensor ${entry.name} must be ${formatShape(stored)} for this config; got ${formatShape(entry.shape)}`,
      { file, key: entry.name },
    );
  }
  const bytes = await files.read(file, dataStart + entry.begin, dataStart + entry.end);
  let values: Float32Array;
  try {
    values = decodeSafetensorsTensor(bytes, entry, `${files.where}/${file}`);
  } catch (e) {
    throw new ModelError((e as Error).message, { file, key: entry.name });
  }
  if (!transpose) return values;
  const [K, O] = entry.shape;
  const out = new Float32Array(sizeOf(shape)); // [O, K]
  for (let k = 0; k < K; k++) for (let o = 0; o < O; o++) out[o * K + k] = values[k * O + o];
  return out;
}

async function readHeader(files: ModelFiles, name: string): Promise<ParsedHeader> {
  const size = (await files.size(name))!;
  const where = `${files.where}/${name}`;
  try {
    const length = safetensorsHeaderLength(await files.read(name, 0, Math.min(8, size)), size, where);
    return parseSafetensorsHeader(await files.read(name, 0, length), size, where);
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError((e as Error).message, { file: name });
  }
}

function addFile(index: WeightIndex, file: string, header: ParsedHeader): void {
  for (const entry of header.entries) {
    const previous = index.get(entry.name);
    if (previous) throw new ModelError(`tensor ${entry.name} is in both ${previous.file} and ${file}`, { file, key: entry.name });
    index.set(entry.name, { file, entry, dataStart: header.dataStart });
  }
}
