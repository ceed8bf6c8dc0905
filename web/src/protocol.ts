// Messages between the page and its worker. The page never computes attention; it asks the worker, which runs qkv.
// Errors cross as plain { name, code, message } objects, which isQkvError recognises.

import type { ExplainJson } from './qkv.js';

/** What the worker runs: the bundled model, a model the user opened, or none yet. */
export interface ModelInfo {
  /** Where it came from: the served URL or the opened file's name. */
  source: string;
  layers: number;
  heads: number;
  embedDim: number;
}

export type Request =
  /** Load the model served at `url`. */
  | { id: number; kind: 'init'; url: string }
  /** Explain a sentence with the current model. */
  | { id: number; kind: 'explain'; sentence: string }
  /** A file the user opened: a trace JSON from `qkv explain --json`, or a safetensors model. */
  | { id: number; kind: 'open'; name: string; bytes: ArrayBuffer };

export type Result =
  | { kind: 'model'; model: ModelInfo }
  | { kind: 'explained'; doc: ExplainJson; ms: number }
  | { kind: 'trace'; doc: ExplainJson; name: string };

export interface WireError {
  name: string;
  code?: string;
  message: string;
}

export type Response = { id: number; ok: true; result: Result } | { id: number; ok: false; error: WireError };
