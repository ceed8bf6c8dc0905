// Loading coreference models from files: Node only (it reads the file system). Kept apart from model.ts so that the
// browser bundle of the web viewer never sees a file path or a node: import.

import { readFile } from 'node:fs/promises';

import { CorefModel } from './model.js';

/** Where the bundled model lies, relative to this module (the same from src/ and from dist/). */
export const BUNDLED_MODEL_URL: URL = new URL('../../../models/coref/model.safetensors', import.meta.url);

/**
 * Reads a model file written by `qkv train` (or the bundled model when `path` is omitted).
 * @throws FormatError when the file is not a coreference model; Node's ENOENT error when it does not exist.
 */
export async function loadCorefModel(path: string | URL = BUNDLED_MODEL_URL): Promise<CorefModel> {
  const bytes = new Uint8Array(await readFile(path));
  return CorefModel.fromBytes(bytes, `loadCorefModel(${path instanceof URL ? path.pathname : path})`);
}
