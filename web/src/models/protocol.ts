// Messages between the page and the real-model worker (worker.ts). The page asks; the worker loads a Hugging Face
// model, runs it on a text, and answers with what the page draws: summaries of every head, and on demand one head's
// weights or one token's heaviest keys. Arrays are typed and transferred, so a 1024-token input crosses cheaply.

/** The model the worker runs. */
export interface RealModelInfo {
  /** Where it came from: a served folder's name, or the picked folder's. */
  source: string;
  family: string;
  layers: number;
  heads: number;
  kvHeads: number;
  hiddenSize: number;
  headDim: number;
  causal: boolean;
  /** The most tokens the model reads (learned positions), or null (RoPE). */
  maxTokens: number | null;
}

export type ModelRequest =
  /** Load the folder served under `url` (its files.json lists the files). */
  | { id: number; kind: 'load-url'; url: string }
  /** Load picked or dropped files, by name. */
  | { id: number; kind: 'load-files'; name: string; files: Record<string, Blob> }
  /** Tokenize and run the model; the worker keeps the attentions for the requests below. */
  | { id: number; kind: 'run'; text: string }
  /** One head's weights [N, S] and its top-k keys per query. */
  | { id: number; kind: 'head'; layer: number; head: number; topK: number }
  /** The heaviest key of one query token in every head. */
  | { id: number; kind: 'token'; index: number }
  /** The "qkv.attention" JSON of the last run. */
  | { id: number; kind: 'json' };

/** The five per-head summaries, each [L·H] (layer-major). */
export interface Summaries {
  max: Float32Array;
  entropy: Float32Array;
  first: Float32Array;
  previous: Float32Array;
  self: Float32Array;
}

export type ModelResult =
  | { kind: 'loaded'; info: RealModelInfo }
  | { kind: 'ran'; text: string; tokens: string[]; ids: number[]; summaries: Summaries; ms: number }
  | { kind: 'head'; layer: number; head: number; N: number; S: number; weights: Float32Array; topK: number; topKeys: Int32Array; topWeights: Float32Array }
  | { kind: 'token'; index: number; keys: Int32Array; weights: Float32Array }
  | { kind: 'json'; text: string };

export interface ModelWireError {
  name: string;
  code?: string;
  message: string;
}

export type ModelResponse =
  | { id: number; ok: true; result: ModelResult }
  | { id: number; ok: false; error: ModelWireError }
  /** Loading progress, for the status line. */
  | { id: number; progress: string };
