// The real-model worker: loads a Hugging Face model folder with qkv (served by `qkv serve --model`, or picked by the
// user), runs it on the page's text and keeps the attentions of the last run, so that the page can ask for one head
// or one token at a time. The page thread only draws, so a 1024-token input never freezes the tab.

import {
  type AttentionRun,
  HEAD_STATS,
  type ModelFiles,
  PretrainedModel,
  blobFiles,
  buildAttentionJson,
  isQkvError,
  summarizeHead,
  topKeys,
  traceModelAttention,
} from '../qkv.js';
import type { ModelRequest, ModelResponse, ModelResult, ModelWireError, RealModelInfo, Summaries } from './protocol.js';

interface WorkerScope {
  onmessage: ((event: { data: ModelRequest }) => void) | null;
  postMessage(message: ModelResponse, transfer?: Transferable[]): void;
}
const scope = globalThis as unknown as WorkerScope;

let model: PretrainedModel | null = null;
let source = '';
let last: AttentionRun | null = null;

function infoOf(m: PretrainedModel, from: string): RealModelInfo {
  const c = m.config;
  return {
    source: from,
    family: c.family,
    layers: c.numHiddenLayers,
    heads: c.numAttentionHeads,
    kvHeads: c.numKeyValueHeads,
    hiddenSize: c.hiddenSize,
    headDim: c.headDim,
    causal: c.causal,
    maxTokens: c.ropeTheta === null ? c.maxPositionEmbeddings : null,
  };
}

/**
 * The files of a folder served under `url`: sizes from its files.json, each file fetched (once) when the loader
 * first reads it, so files the loader does not need are never downloaded.
 */
async function servedFiles(url: string, progress: (text: string) => void): Promise<{ files: ModelFiles; name: string }> {
  const response = await fetch(new URL('files.json', url));
  if (!response.ok) throw new Error(`could not list the model's files at ${url}files.json: HTTP ${response.status}`);
  const manifest = (await response.json()) as { source: string; files: { name: string; size: number }[] };
  const sizes = new Map(manifest.files.map((f) => [f.name, f.size]));
  const blobs = new Map<string, Promise<Blob>>();
  const blob = (name: string) => {
    let b = blobs.get(name);
    if (!b) {
      progress(`Downloading ${name} (${(sizes.get(name)! / 1e6).toFixed(1)} MB)…`);
      b = fetch(new URL(name, url)).then((r) => {
        if (!r.ok) throw new Error(`could not fetch ${name} of the model: HTTP ${r.status}`);
        return r.blob();
      });
      blobs.set(name, b);
    }
    return b;
  };
  return {
    name: manifest.source,
    files: {
      where: manifest.source,
      size: async (name) => sizes.get(name) ?? null,
      read: async (name, begin = 0, end) => {
        const b = await blob(name);
        return new Uint8Array(await b.slice(begin, end ?? b.size).arrayBuffer());
      },
    },
  };
}

function summaries(runResult: AttentionRun): Summaries {
  const L = runResult.attentions.length;
  const H = runResult.attentions[0].shape[1];
  const out = Object.fromEntries(HEAD_STATS.map((s) => [s, new Float32Array(L * H)])) as unknown as Summaries;
  runResult.attentions.forEach((a, l) => {
    const [, , N, S] = a.shape; // [1, H, N, S]
    for (let h = 0; h < H; h++) {
      const s = summarizeHead(a.data, h * N * S, N, S);
      for (const name of HEAD_STATS) out[name][l * H + h] = s[name];
    }
  });
  return out;
}

async function handle(request: ModelRequest, progress: (text: string) => void): Promise<{ result: ModelResult; transfer?: Transferable[] }> {
  switch (request.kind) {
    case 'load-url':
    case 'load-files': {
      const { files, name } =
        request.kind === 'load-url' ? await servedFiles(request.url, progress) : { files: blobFiles(request.files, request.name), name: request.name };
      // fromFiles, not loadPretrained: the page never downloads from the Hub itself, so the Hub client stays out of
      // the bundle.
      const loaded = await PretrainedModel.fromFiles(files);
      if (loaded.tokenizer === null) throw new Error(`${name} has no tokenizer.json, so text cannot be turned into tokens`);
      model = loaded;
      source = name;
      last = null;
      return { result: { kind: 'loaded', info: infoOf(loaded, name) } };
    }
    case 'run': {
      if (model === null) throw new Error('no model is loaded yet');
      const start = performance.now();
      last = null; // the old attentions go before the new ones are made
      last = traceModelAttention(model, request.text);
      const s = summaries(last);
      return {
        result: { kind: 'ran', text: request.text, tokens: last.tokens, ids: last.ids, summaries: s, ms: performance.now() - start },
        transfer: HEAD_STATS.map((name) => s[name].buffer),
      };
    }
    case 'head': {
      const a = current().attentions[request.layer];
      if (!a || request.head < 0 || request.head >= a.shape[1]) throw new Error(`there is no layer ${request.layer} head ${request.head}`);
      const [, , N, S] = a.shape; // [1, H, N, S]
      const weights = a.data.slice(request.head * N * S, (request.head + 1) * N * S); // [N, S]
      const k = Math.max(1, Math.min(S, request.topK));
      const topKeysOut = new Int32Array(N * k).fill(-1); // [N, k]; -1 past a causal row's keys
      const topWeights = new Float32Array(N * k); // [N, k]
      for (let i = 0; i < N; i++) {
        topKeys(weights, i * S, S, k).forEach(([j, w], r) => {
          topKeysOut[i * k + r] = j;
          topWeights[i * k + r] = w;
        });
      }
      return {
        result: { kind: 'head', layer: request.layer, head: request.head, N, S, weights, topK: k, topKeys: topKeysOut, topWeights },
        transfer: [weights.buffer, topKeysOut.buffer, topWeights.buffer],
      };
    }
    case 'token': {
      const runResult = current();
      const L = runResult.attentions.length;
      const H = runResult.attentions[0].shape[1];
      const keys = new Int32Array(L * H); // [L·H]
      const weights = new Float32Array(L * H); // [L·H]
      runResult.attentions.forEach((a, l) => {
        const [, , N, S] = a.shape;
        if (request.index < 0 || request.index >= N) throw new Error(`there is no token ${request.index}`);
        for (let h = 0; h < H; h++) {
          const [best] = topKeys(a.data, (h * N + request.index) * S, S, 1);
          keys[l * H + h] = best?.[0] ?? -1;
          weights[l * H + h] = best?.[1] ?? 0;
        }
      });
      return { result: { kind: 'token', index: request.index, keys, weights }, transfer: [keys.buffer, weights.buffer] };
    }
    case 'json':
      return { result: { kind: 'json', text: JSON.stringify(buildAttentionJson(model!, current(), { source })) } };
  }
}

function current(): AttentionRun {
  if (last === null) throw new Error('nothing has been run yet');
  return last;
}

function wire(e: unknown): ModelWireError {
  if (isQkvError(e)) return { name: e.name, code: e.code, message: e.message };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

scope.onmessage = (event) => {
  const request = event.data;
  const progress = (text: string) => scope.postMessage({ id: request.id, progress: text });
  handle(request, progress).then(
    ({ result, transfer }) => scope.postMessage({ id: request.id, ok: true, result }, transfer ?? []),
    (e: unknown) => scope.postMessage({ id: request.id, ok: false, error: wire(e) }),
  );
};
