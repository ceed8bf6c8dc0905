// The viewer's worker: every computation of the page happens here, with qkv itself. It loads the coreference model
// (the served one, or a safetensors file the user opens), explains sentences, and checks opened trace JSON files.
// The page thread only draws.

import { CorefModel, explainSentence, isQkvError, parseExplainJson } from './qkv.js';
import type { ModelInfo, Request, Response, Result, WireError } from './protocol.js';

interface WorkerScope {
  onmessage: ((event: { data: Request }) => void) | null;
  postMessage(message: Response): void;
}
const scope = globalThis as unknown as WorkerScope;

let model: CorefModel | null = null;

function infoOf(m: CorefModel, source: string): ModelInfo {
  return { source, layers: m.config.numHiddenLayers, heads: m.config.numAttentionHeads, embedDim: m.config.hiddenSize };
}

/** A safetensors file starts with its header length (8 bytes) and then "{"; a JSON file starts with "{". */
function looksLikeJson(bytes: Uint8Array): boolean {
  for (const b of bytes.subarray(0, 64)) {
    if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09 || b === 0xef || b === 0xbb || b === 0xbf) continue;
    return b === 0x7b || b === 0x5b; // { or [
  }
  return false;
}

async function handle(request: Request): Promise<Result> {
  switch (request.kind) {
    case 'init': {
      const response = await fetch(request.url);
      if (!response.ok) {
        throw new Error(`could not load the model from ${request.url}: HTTP ${response.status} ${(await response.text()).trim()}`);
      }
      model = CorefModel.fromBytes(new Uint8Array(await response.arrayBuffer()), `model ${request.url}`);
      return { kind: 'model', model: infoOf(model, request.url) };
    }
    case 'explain': {
      if (model === null) throw new Error('no model is loaded yet');
      const start = performance.now();
      const doc = explainSentence(model, request.sentence);
      return { kind: 'explained', doc, ms: performance.now() - start };
    }
    case 'open': {
      const bytes = new Uint8Array(request.bytes);
      if (bytes.length === 0) throw new Error(`${request.name} is empty; open a trace JSON from \`qkv explain --json\` or a .safetensors model`);
      if (looksLikeJson(bytes)) {
        const doc = parseExplainJson(new TextDecoder().decode(bytes));
        return { kind: 'trace', doc, name: request.name };
      }
      const opened = CorefModel.fromBytes(bytes, request.name);
      model = opened;
      return { kind: 'model', model: infoOf(opened, request.name) };
    }
  }
}

function wire(e: unknown): WireError {
  if (isQkvError(e)) return { name: e.name, code: e.code, message: e.message };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

scope.onmessage = (event) => {
  const request = event.data;
  handle(request).then(
    (result) => scope.postMessage({ id: request.id, ok: true, result }),
    (e: unknown) => scope.postMessage({ id: request.id, ok: false, error: wire(e) }),
  );
};
