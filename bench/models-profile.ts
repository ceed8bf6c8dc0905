// Where qkv's time goes on the benchmark's real models: runs qkv's prefill or decode of bench/models.ts under V8's
// CPU profiler (the same sampler as `node --cpu-prof`, started through node:inspector around the workload only, after
// a warm-up), then prints the self time per function and per source file, and writes the .cpuprofile for DevTools.
// The profile is of the main thread; the wasm pool's workers run the other half of a threaded kernel, and the main
// thread's own share of a kernel shows under the wasm function's name ("wasm-function[...]" for unnamed ones).
//
// Usage: node --import tsx bench/models-profile.ts <gpt2|llama-135m> <prefill|decode> [reps] [out.cpuprofile]

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join, relative } from 'node:path';
import { setNumThreads } from '../src/kernels/wasm/index.js';
import { loadPretrained } from '../src/models/pretrained.js';
import { MODELS_DIR, modelsPlan, tokenIds } from './models.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [name = 'gpt2', workload = 'prefill', repsArg = '3', outArg] = process.argv.slice(2);
const reps = Number(repsArg);
const plan = modelsPlan(false);
setNumThreads(plan.threads);
const model = await loadPretrained(join(MODELS_DIR, name), { tokenizer: false });
const ids = tokenIds(plan.prompt + plan.decodeTokens, model.config.vocabSize);
const prompt = ids.slice(0, plan.prompt);

const once = () => {
  const cache = model.createCache(1);
  model.forward([prompt], { cache, backend: 'wasm' });
  if (workload === 'decode') for (const id of ids.slice(plan.prompt)) model.forward([[id]], { cache, backend: 'wasm' });
  cache.release();
};
const timed = () => {
  // Decode: the prompt runs untimed and unprofiled, as in the benchmark.
  const cache = model.createCache(1);
  if (workload === 'decode') model.forward([prompt], { cache, backend: 'wasm' });
  return cache;
};
once(); // warm-up: JIT, WebAssembly tier-up, the pool's threads

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
let ms = 0;
let profiled: Profile | null = null;
// Every repetition's untimed part (the decode's prompt) runs before the profiler starts.
const caches = Array.from({ length: reps }, timed);
await session.post('Profiler.start');
for (const cache of caches) {
  const t = performance.now();
  if (workload === 'prefill') model.forward([prompt], { cache, backend: 'wasm' });
  else for (const id of ids.slice(plan.prompt)) model.forward([[id]], { cache, backend: 'wasm' });
  ms += performance.now() - t;
  cache.release();
}
profiled = ((await session.post('Profiler.stop')) as { profile: Profile }).profile;
session.disconnect();

// Self time per node: the samples that landed in it, weighted by the sampling deltas.
const self = new Map<number, number>();
profiled.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profiled!.timeDeltas[i] ?? 0) / 1000));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
for (const node of profiled.nodes) {
  const t = self.get(node.id) ?? 0;
  if (t === 0) continue;
  const { functionName, url } = node.callFrame;
  const file = url.startsWith('file://') ? relative(process.cwd(), new URL(url).pathname) : url || '(native)';
  // No line numbers: tsx's transpiled modules report every function on line 1.
  const fn = `${functionName || '(anonymous)'} ${file}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + t);
  byFile.set(file, (byFile.get(file) ?? 0) + t);
}
const top = (m: Map<string, number>, n: number) =>
  [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${(v / reps).toFixed(1).padStart(8)} ms ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
const what = workload === 'prefill' ? `prefill of ${plan.prompt} tokens` : `${plan.decodeTokens} decode steps after ${plan.prompt}`;
process.stdout.write(`${name} ${what}: ${(ms / reps).toFixed(0)} ms per repetition (${reps} profiled); main-thread samples ${(total / reps).toFixed(0)} ms per repetition\n`);
process.stdout.write(`\nself time per function (per repetition):\n${top(byFunction, 30).join('\n')}\n`);
process.stdout.write(`\nself time per file (per repetition):\n${top(byFile, 15).join('\n')}\n`);
const out = outArg ?? `/tmp/qkv-${name}-${workload}.cpuprofile`;
writeFileSync(out, JSON.stringify(profiled));
process.stdout.write(`\nwrote ${out}\n`);
process.exit(0);
