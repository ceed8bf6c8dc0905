// ModelFiles: how qkv reads a model folder in the Hugging Face layout (config.json, model.safetensors or a sharded
// index, tokenizer.json, ...), the same way in Node (a folder on disk) and in a browser (files the user picked or
// dropped). Reads take byte ranges, so that weights are read one tensor at a time and a checkpoint is never held
// twice in memory.

import { ArgumentError, FormatError, ModelError } from '../core/errors.js';
import { describe } from '../core/tensor.js';

/** A model folder, read by name. */
export interface ModelFiles {
  /** Names the folder in messages: a path, a Hub id with its cache folder, or "the chosen files". */
  readonly where: string;
  /** The byte size of a file, or null when the folder has no such file. */
  size(name: string): Promise<number | null>;
  /** Bytes [begin, end) of a file; the whole file by default. */
  read(name: string, begin?: number, end?: number): Promise<Uint8Array>;
}

/**
 * A folder on disk (Node). Nothing is read until asked.
 * @example const files = folderFiles('./gpt2');
 */
export function folderFiles(path: string): ModelFiles {
  if (typeof path !== 'string' || path === '') throw new ArgumentError(`folderFiles: path must be a non-empty string; got ${describe(path)}`);
  const fs = import('node:fs/promises');
  const join = (name: string) => `${path.replace(/\/+$/, '')}/${name}`;
  return {
    where: path,
    async size(name) {
      try {
        const stat = await (await fs).stat(join(name));
        return stat.isFile() ? stat.size : null;
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') return null;
        throw new ModelError(`${path}: cannot read ${name} (${(e as Error).message})`, { file: name });
      }
    },
    async read(name, begin = 0, end) {
      const handle = await (await fs).open(join(name), 'r').catch((e: Error) => {
        throw new ModelError(`${path}: cannot open ${name} (${e.message})`, { file: name });
      });
      try {
        const last = end ?? (await handle.stat()).size;
        const out = new Uint8Array(last - begin);
        let done = 0;
        while (done < out.length) {
          const { bytesRead } = await handle.read(out, done, out.length - done, begin + done);
          if (bytesRead === 0) throw new ModelError(`${path}: ${name} ended at byte ${begin + done}, before ${last}`, { file: name });
          done += bytesRead;
        }
        return out;
      } finally {
        await handle.close();
      }
    },
  };
}

/**
 * Files held as Blobs (a browser's File objects from an <input type="file"> or a drop, or Node's Blob), by name.
 * @example const files = blobFiles(Object.fromEntries([...input.files].map((f) => [f.name, f])));
 */
export function blobFiles(blobs: Record<string, Blob>, where = 'the chosen files'): ModelFiles {
  if (typeof blobs !== 'object' || blobs === null) {
    throw new ArgumentError(`blobFiles: blobs must be an object mapping file names to Blobs; got ${describe(blobs)}`);
  }
  const get = (name: string): Blob | undefined => (Object.hasOwn(blobs, name) ? blobs[name] : undefined);
  return {
    where,
    async size(name) {
      return get(name)?.size ?? null;
    },
    async read(name, begin = 0, end) {
      const blob = get(name);
      if (blob === undefined) throw new ModelError(`${where}: no file ${name}`, { file: name });
      return new Uint8Array(await blob.slice(begin, end ?? blob.size).arrayBuffer());
    },
  };
}

/** A file's JSON, or undefined when the file is absent and not required. */
export async function readJson(files: ModelFiles, name: string, required: true): Promise<Record<string, unknown>>;
export async function readJson(files: ModelFiles, name: string, required: false): Promise<Record<string, unknown> | undefined>;
export async function readJson(files: ModelFiles, name: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  if ((await files.size(name)) === null) {
    if (!required) return undefined;
    throw new ModelError(`${files.where}: the model folder has no ${name}`, { file: name });
  }
  const text = new TextDecoder().decode(await files.read(name));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${files.where}/${name} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FormatError(`${files.where}/${name} must hold a JSON object; got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}
