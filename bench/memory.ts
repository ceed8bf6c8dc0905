// A peak-memory child of the benchmark (bench/run.ts): in a fresh process, builds one SDPA workload, runs one
// forward call of one implementation, and prints one JSON line with process.resourceUsage().maxRSS before and after.
// A fresh process makes the high-water mark belong to that call alone (plus module loading and the inputs, which the
// "before" figure shows).
//
// Usage: node --import tsx bench/memory.ts '{"label":"…","impl":"qkv wasm","H":1,"N":65536,"d":64,"causal":true}'

import { fileURLToPath } from 'node:url';
import { sdpaCase } from './cases.js';
import { allImpls } from './impls.js';

export interface MemorySpec {
  label: string;
  /** An Impl id from bench/impls.ts. */
  impl: string;
  H: number;
  N: number;
  d: number;
  causal: boolean;
}

export interface MemoryResult {
  /** Peak resident set of the whole process, KiB. */
  maxRssKiB: number;
  /** Peak before the call: modules loaded, inputs built, the implementation prepared (KiB). */
  baselineKiB: number;
  /** The call, ms. */
  ms: number;
}

async function main(spec: MemorySpec): Promise<MemoryResult> {
  const impl = allImpls().find((i) => i.id === spec.impl);
  if (impl === undefined) throw new Error(`memory: no implementation "${spec.impl}"`);
  const why = await impl.load();
  if (why !== null) throw new Error(`memory: ${spec.impl} skipped: ${why}`);
  const c = sdpaCase(spec.H, spec.N, spec.d, spec.causal);
  const runner = await impl.prepare(c);
  if (typeof runner === 'string') throw new Error(`memory: ${spec.impl}: ${runner}`);
  const baselineKiB = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  await runner.run();
  const ms = performance.now() - t0;
  return { maxRssKiB: process.resourceUsage().maxRSS, baselineKiB, ms };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await main(JSON.parse(process.argv[2]) as MemorySpec);
  process.stdout.write(JSON.stringify(result) + '\n');
  // onnxruntime-web's worker threads would keep the process alive.
  process.exit(0);
}
