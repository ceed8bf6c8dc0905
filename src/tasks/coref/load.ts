// Loading coreference models from files: Node only (it reads the file system). Kept apart from model.ts, and Node's
// fs is imported only when loadCorefModel runs, so that a browser bundle of `qkv/coref` that does not call it (the
// web viewer's) never sees a file path or a node: import.

import { CorefModel } from './model.js';

/**
 * Where the bundled model lies, relative to this module (the same from src/ and from dist/). The comment keeps Vite
 * from copying the 345 kB file into a page's assets (a page fetches the model the server hands out), and the
 * annotation lets a bundler drop the constant when nothing reads it.
 */
export const BUNDLED_MODEL_URL: URL = /* @__PURE__ */ new URL(/* @vite-ignore */ '../../../models/coref/model.safetensors', import.meta.url);

/**
 * Reads a model file written by `qkv train` (or the bundled model when `path` is omitted).
 * @throws FormatError when the file is not a coreference model; Node's ENOENT error when it does not exist.
 */
export async function loadCorefModel(path: string | URL = BUNDLED_MODEL_URL): Promise<CorefModel> {
  const { readFile } = await import('node:fs/promises');
  const bytes = new Uint8Array(await readFile(path));
  return CorefModel.fromBytes(bytes, `loadCorefModel(${path instanceof URL ? path.pathname : path})`);
}
