// A peak-memory child of the benchmark's models section (bench/models.ts): in a fresh process, loads one model of
// bench/models/ in one runtime, runs one forward (a prefill of N tokens), and prints one JSON line with
// process.resourceUsage().maxRSS after importing the modules, after loading and after the forward, plus VmHWM.
// For qkv it also records what the weights are held as (the parameters' array types and bytes), so that the report
// says from a measurement, not from the docs, whether a BF16 checkpoint stays BF16 in memory.
//
// Usage: node --import tsx bench/model-memory.ts '{"model":"gpt2","impl":"qkv wasm","N":128}'

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setNumThreads } from '../src/kernels/wasm/index.js';
import { loadPretrained } from '../src/models/pretrained.js';
import type { ModelMemoryResult } from './models-report.js';
import { MODELS_DIR, type ModelMemorySpec, tokenIds } from './models.js';

const maxRss = () => process.resourceUsage().maxRSS; // KiB
const vmHwm = () => Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0); // KiB

async function main(spec: ModelMemorySpec): Promise<ModelMemoryResult> {
  const folder = join(MODELS_DIR, spec.model);
  const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')) as Record<string, number>;
  const ids = tokenIds(spec.N, config.vocab_size);
  let afterLoadKiB: number;
  let loadMs: number;
  let forwardMs: number;
  let inMemory: ModelMemoryResult['inMemory'];
  let baselineKiB: number;
  if (spec.impl === 'qkv wasm') {
    setNumThreads(2);
    baselineKiB = maxRss();
    let t = performance.now();
    const model = await loadPretrained(folder, { tokenizer: false });
    loadMs = performance.now() - t;
    afterLoadKiB = maxRss();
    const params = model.weights.namedParameters();
    inMemory = {
      arrays: [...new Set(params.map(([, p]) => p.data.constructor.name))].join(', '),
      bytes: params.reduce((s, [, p]) => s + p.data.byteLength, 0),
    };
    t = performance.now();
    const cache = model.createCache(1);
    model.forward([ids], { cache, backend: 'wasm' });
    forwardMs = performance.now() - t;
  } else {
    const node = spec.impl === 'ort-node';
    const mod = (await import(node ? 'onnxruntime-node' : 'onnxruntime-web')) as { default?: typeof import('onnxruntime-common') } & typeof import('onnxruntime-common');
    const ort = mod.default ?? mod;
    if (!node) ort.env.wasm.numThreads = 2;
    baselineKiB = maxRss();
    const path = join(folder, 'model.onnx');
    let t = performance.now();
    const session = node
      ? await ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' })
      : await ort.InferenceSession.create(readFileSync(path), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    loadMs = performance.now() - t;
    afterLoadKiB = maxRss();
    const L = config.n_layer ?? config.num_hidden_layers;
    const Hkv = config.n_head ?? config.num_key_value_heads;
    const d = config.head_dim ?? config.n_embd / config.n_head;
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]) };
    for (let l = 0; l < L; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, Hkv, 0, d]);
    t = performance.now();
    await session.run(feeds);
    forwardMs = performance.now() - t;
  }
  return { baselineKiB, afterLoadKiB, peakKiB: maxRss(), vmHwmKiB: vmHwm(), loadMs, forwardMs, N: spec.N, inMemory };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await main(JSON.parse(process.argv[2]) as ModelMemorySpec);
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0); // onnxruntime-web's and qkv's worker threads would keep the process alive
}
