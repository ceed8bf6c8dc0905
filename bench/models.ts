// The benchmark's "models" section (`npm run bench -- --only models`): prefill and decode tokens/s of real model
// shapes with random weights, GPT-2 small (124M) and SmolLM2-135M's Llama shape, in qkv (wasm, 2 threads) and in
// onnxruntime-node and onnxruntime-web (2 threads each) running the same weights; then the peak RSS of loading a
// model and running one forward, each in a fresh process (bench/model-memory.ts), for the F32 and a BF16 checkpoint.
//
// The models are built by tools/make_bench_models.py into bench/models/ (gitignored) when missing: Hugging Face
// folders for qkv, and a decoder-with-past ONNX export of the same weights for onnxruntime (a float32 PyTorch module
// that mirrors transformers' forward, checked there against a float64 reference and against onnxruntime-node).
//
// As in the rest of the benchmark: every runtime's result is validated before it is timed (its logits against qkv's,
// relative L2 error ≤ TOLERANCE; qkv's cached decode against its own full forward), the runtimes are warmed up, and
// then take turns in rotating rounds so that the drift of this shared machine falls on all of them alike. qkv always
// runs (the others are checked against it); --impl selects which peers run.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setNumThreads, getNumThreads } from '../src/kernels/wasm/index.js';
import { loadPretrained } from '../src/models/pretrained.js';
import type { PretrainedModel } from '../src/models/model.js';
import { relativeError } from '../tests/tolerances.js';
import { RssSampler, summarize } from './measure.js';
import type { ModelInfo, ModelMemoryResult, ModelMemoryRow, ModelRow, ModelsPlan, ModelsResults } from './models-report.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const MODELS_DIR = join(root, 'bench', 'models');
/** Logits of a peer against qkv's: two float32 orders of the same 124M-parameter computation. */
const TOLERANCE = 1e-3;
const THREADS = 2;
const MiB = 1024 * 1024;

/** The models of the section: folder under bench/models/ and the report's name. */
const MODELS = [
  { name: 'gpt2', title: 'GPT-2 small (124M)' },
  { name: 'llama-135m', title: "SmolLM2-135M's shape (Llama)" },
];

export function modelsPlan(quick: boolean): ModelsPlan {
  return quick
    ? { prompt: 128, decodeTokens: 32, rounds: 2, prefillRoundMs: 500, decodeRoundMs: 500, warmupMs: 0, tolerance: TOLERANCE, threads: THREADS }
    : { prompt: 128, decodeTokens: 32, rounds: 5, prefillRoundMs: 2000, decodeRoundMs: 2000, warmupMs: 1000, tolerance: TOLERANCE, threads: THREADS };
}

/** Seeded token ids in [0, V): the prompt and the decoded tokens (mulberry32). */
export function tokenIds(count: number, V: number, seed = 2024): number[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => Math.floor(next() * V));
}

// ---- runtimes ----

/** One decode in progress: steps of one token, each returning that token's logits [V]. */
interface Decoder {
  step(id: number): Promise<Float32Array>;
  end(): void;
}

/** A runtime with one model loaded. */
interface ModelRunner {
  /** One prompt with an empty cache: the logits of every token [N·V]. */
  prefill(ids: number[]): Promise<Float32Array>;
  /** Runs the prompt (untimed by the caller) and returns a decoder that continues from its cache. */
  startDecode(prompt: number[]): Promise<Decoder>;
  dispose(): Promise<void>;
}

interface Runtime {
  id: string;
  family: 'qkv' | 'peer';
  how: string;
  /** Loads the model of a folder, or returns why this runtime does not run. */
  open(folder: string, model: PretrainedModel): Promise<ModelRunner | string>;
}

const qkvRuntime: Runtime = {
  id: 'qkv wasm',
  family: 'qkv',
  how:
    `loadPretrained(folder) (config.json + model.safetensors), then model.forward(ids, { cache, backend: "wasm" }) with setNumThreads(${THREADS}): ` +
    'the prompt in one call with a fresh model.createCache(1), each decoded token in one call with that cache',
  async open(_folder, model) {
    return {
      async prefill(ids) {
        const cache = model.createCache(1);
        const { logits } = model.forward([ids], { cache, backend: 'wasm' }); // [1, N, V]
        cache.release();
        return logits!.data;
      },
      async startDecode(prompt) {
        const cache = model.createCache(1);
        model.forward([prompt], { cache, backend: 'wasm' });
        return {
          async step(id) {
            return model.forward([[id]], { cache, backend: 'wasm' }).logits!.data; // [1, 1, V]
          },
          end: () => cache.release(),
        };
      },
      async dispose() {},
    };
  },
};

type OrtModule = typeof import('onnxruntime-common');
type OrtSession = Awaited<ReturnType<OrtModule['InferenceSession']['create']>>;
type OrtTensor = InstanceType<OrtModule['Tensor']>;

function message(e: unknown): string {
  const line = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  return line.length <= 160 ? line : `${line.slice(0, 60)} … ${line.slice(-95)}`;
}

/**
 * An onnxruntime session of model.onnx (bench/models/<name>/): input_ids [1, n] int64 and past_key_values.{l}.key /
 * .value [1, Hkv, P, d] in, logits [1, n, V] and present.{l}.* out. A prompt runs with an empty past (P = 0); each
 * decoded token feeds the previous call's presents back as the past, as optimum's and transformers.js's loops do.
 */
function ortRuntime(id: string, how: string, importOrt: () => Promise<OrtModule>, create: (o: OrtModule, path: string) => Promise<OrtSession>): Runtime {
  return {
    id,
    family: 'peer',
    how,
    async open(folder, model) {
      let o: OrtModule;
      let session: OrtSession;
      try {
        o = await importOrt();
      } catch (e) {
        return `cannot load: ${message(e)}`;
      }
      try {
        session = await create(o, join(folder, 'model.onnx'));
      } catch (e) {
        return `session creation failed: ${message(e)}`;
      }
      const { numHiddenLayers: L, numKeyValueHeads: Hkv, headDim: d } = model.config;
      const ids = (xs: number[]) => new o.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);
      const names = Array.from({ length: L }, (_, l) => [`${l}.key`, `${l}.value`]).flat();
      const emptyPast = () => Object.fromEntries(names.map((n) => [`past_key_values.${n}`, new o.Tensor('float32', new Float32Array(0), [1, Hkv, 0, d])]));
      const run = (input: number[], past: Record<string, OrtTensor>) => session.run({ input_ids: ids(input), ...past });
      const presents = (out: Record<string, OrtTensor>) => Object.fromEntries(names.map((n) => [`past_key_values.${n}`, out[`present.${n}`]]));
      return {
        async prefill(input) {
          return (await run(input, emptyPast())).logits.data as Float32Array;
        },
        async startDecode(prompt) {
          let past = presents(await run(prompt, emptyPast()));
          return {
            async step(token) {
              const out = await run([token], past);
              past = presents(out);
              return out.logits.data as Float32Array;
            },
            end: () => (past = {}),
          };
        },
        dispose: () => session.release(),
      };
    },
  };
}

async function importOrtNode(): Promise<OrtModule> {
  const mod = (await import('onnxruntime-node')) as unknown as { default?: OrtModule } & OrtModule;
  return mod.default ?? mod;
}

async function importOrtWeb(): Promise<OrtModule> {
  const ort = (await import('onnxruntime-web')) as unknown as OrtModule;
  ort.env.wasm.numThreads = THREADS;
  ort.env.wasm.simd = true;
  return ort;
}

const ortNode = ortRuntime(
  'ort-node',
  `onnxruntime-node, CPU EP, ${THREADS} intra-op threads, graph optimizations "all": model.onnx, the decoder-with-past export of the same weights`,
  importOrtNode,
  (o, path) => o.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all' }),
);

const ortWeb = ortRuntime(
  'ort-web',
  `onnxruntime-web in Node, wasm EP, env.wasm.numThreads = ${THREADS}, SIMD, graph optimizations "all": the same model.onnx (its bytes passed to InferenceSession.create)`,
  importOrtWeb,
  (o, path) => o.InferenceSession.create(readFileSync(path), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }),
);

export const RUNTIMES: Runtime[] = [qkvRuntime, ortNode, ortWeb];

// ---- building the models ----

/** Runs tools/make_bench_models.py (quick when the models are up to date); null when they are ready, else why not. */
function ensureModels(log: (line: string) => void): string | null {
  const run = spawnSync('/usr/bin/python3', [join(root, 'tools', 'make_bench_models.py')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (run.error) return `cannot run /usr/bin/python3 tools/make_bench_models.py (${run.error.message}); it needs Debian's python3 with torch: \`npm run fixtures\` installs it (tools/install-torch.sh)`;
  for (const line of run.stdout.trim().split('\n')) if (line) log(`  ${line}`);
  if (run.status !== 0) {
    const lines = run.stderr.trim().split('\n').filter((l) => l.trim() !== '');
    const why = lines.filter((l) => l.startsWith('make_bench_models.py')).pop() ?? lines.pop() ?? `exit ${run.status}`;
    return `tools/make_bench_models.py failed: ${why.trim()}`;
  }
  return null;
}

// ---- timing ----

interface Entry {
  row: ModelRow;
  /** One repetition; resolves to its timed part in ms. */
  once: () => Promise<number>;
  samples: number[];
}

/**
 * The rows of one workload take turns: warm-up, then `rounds` rounds in which each gets `roundMs` (at least one
 * repetition), the first turn moving on by one row every round.
 */
async function rotate(entries: Entry[], plan: ModelsPlan, roundMs: number, fail: (row: ModelRow, e: unknown) => void): Promise<void> {
  const live = () => entries.filter((e) => e.row.status === 'skipped');
  const guarded = async (e: Entry, body: () => Promise<void>) => {
    try {
      await body();
    } catch (err) {
      fail(e.row, err);
    }
  };
  for (const e of live()) {
    await guarded(e, async () => {
      const end = performance.now() + plan.warmupMs;
      while (performance.now() < end) await e.once();
    });
  }
  for (let round = 0; round < plan.rounds; round++) {
    const turn = live();
    for (let i = 0; i < turn.length; i++) {
      const e = turn[(i + round) % turn.length];
      await guarded(e, async () => {
        const end = performance.now() + roundMs;
        do e.samples.push(await e.once());
        while (performance.now() < end);
      });
    }
  }
}

// ---- the section ----

export interface ModelsOptions {
  quick: boolean;
  /** Words of runtime ids to run (empty: all); qkv always runs. */
  impl: string[];
  args: string[];
  log: (line: string) => void;
}

export async function modelsSection(options: ModelsOptions): Promise<ModelsResults> {
  const { log } = options;
  const plan = modelsPlan(options.quick);
  const started = new Date();
  const loadStart = os.loadavg();
  const t0 = performance.now();
  const runtimes = RUNTIMES.filter((r) => r.family === 'qkv' || options.impl.length === 0 || options.impl.some((w) => r.id.includes(w)));
  const results: ModelsResults = {
    date: started.toISOString(),
    args: options.args,
    elapsedS: 0,
    loadAvg: { start: loadStart, end: loadStart },
    plan,
    models: [],
    impls: runtimes.map((r) => ({ id: r.id, how: r.how })),
    rows: [],
    memory: [],
  };
  log(`\n## Real models (random weights): prefill N = ${plan.prompt} and decode ${plan.decodeTokens} tokens after it; batch 1, ${THREADS} threads`);
  const missing = ensureModels(log);
  setNumThreads(THREADS);
  for (const { name, title } of MODELS) {
    const folder = join(MODELS_DIR, name);
    const rows = (workload: 'prefill' | 'decode') =>
      runtimes.map((r): ModelRow => ({
        model: name,
        workload,
        label: workload === 'prefill' ? `prefill N=${plan.prompt}` : `decode ${plan.decodeTokens} after ${plan.prompt}`,
        tokens: workload === 'prefill' ? plan.prompt : plan.decodeTokens,
        impl: r.id,
        family: r.family,
        status: 'skipped',
      }));
    const prefillRows = rows('prefill');
    const decodeRows = rows('decode');
    results.rows.push(...prefillRows, ...decodeRows);
    if (missing !== null) {
      for (const r of [...prefillRows, ...decodeRows]) r.note = missing;
      log(`${title}: skipped: ${missing}`);
      continue;
    }
    await benchModel(name, title, folder, runtimes, plan, prefillRows, decodeRows, results, log);
  }
  results.memory = await memoryRows(plan, options, missing, log);
  results.loadAvg.end = os.loadavg();
  results.elapsedS = Math.round((performance.now() - t0) / 1000);
  if (getNumThreads() !== THREADS) log(`note: qkv ran with ${getNumThreads()} threads, not ${THREADS}`);
  return results;
}

const fmt = (x: number, digits = 1) => (x >= 100 ? x.toFixed(0) : x.toFixed(digits));

function printRow(r: ModelRow, title: string, log: (line: string) => void): void {
  const what = `${title.slice(0, 28).padEnd(28)} ${r.label.padEnd(20)} ${r.impl.padEnd(9)}`;
  if (r.status !== 'ok' || !r.timing) {
    log(`${what} ${r.status}: ${r.note ?? ''}`);
    return;
  }
  const t = r.timing;
  const check = r.relError === undefined ? r.validatedAgainst : `err ${r.relError.toExponential(1)}`;
  log(`${what} ${fmt(t.medianMs, 2).padStart(8)} ms [${fmt(t.minMs, 2)}–${fmt(t.maxMs, 2)}, ${t.reps} reps]  ${fmt(r.tokensPerS!).padStart(6)} tokens/s  ` +
    `vs qkv ${r.vsQkv?.toPrecision(3) ?? '—'}  ${check}`);
}

async function benchModel(
  name: string,
  title: string,
  folder: string,
  runtimes: Runtime[],
  plan: ModelsPlan,
  prefillRows: ModelRow[],
  decodeRows: ModelRow[],
  results: ModelsResults,
  log: (line: string) => void,
): Promise<void> {
  const model = await loadPretrained(folder, { tokenizer: false });
  const c = model.config;
  const parameters = model.weights.namedParameters().reduce((s, [, p]) => s + p.data.length, 0);
  const info: ModelInfo = {
    name,
    title,
    parameters,
    fp32WeightBytes: 4 * parameters,
    config:
      c.family === 'gpt2'
        ? `GPT-2: D = ${c.hiddenSize}, H = ${c.numAttentionHeads}, L = ${c.numHiddenLayers}, F = ${c.intermediateSize}, V = ${c.vocabSize}, tied head`
        : `Llama: D = ${c.hiddenSize}, H = ${c.numAttentionHeads}, Hkv = ${c.numKeyValueHeads}, d = ${c.headDim}, L = ${c.numHiddenLayers}, F = ${c.intermediateSize}, V = ${c.vocabSize}, rope_theta ${c.ropeTheta}, tied head`,
  };
  results.models.push(info);
  const ids = tokenIds(plan.prompt + plan.decodeTokens, c.vocabSize);
  const prompt = ids.slice(0, plan.prompt);
  const decoded = ids.slice(plan.prompt);
  const V = c.vocabSize;
  const sampler = new RssSampler();
  const fail = (row: ModelRow, e: unknown) => {
    row.status = 'failed';
    row.note = message(e);
  };

  // Open every runtime; qkv first: its logits are what the others are checked against.
  const runners: (ModelRunner | null)[] = [];
  for (let i = 0; i < runtimes.length; i++) {
    try {
      const r = await runtimes[i].open(folder, model);
      if (typeof r === 'string') {
        prefillRows[i].note = decodeRows[i].note = r;
        runners.push(null);
      } else runners.push(r);
    } catch (e) {
      fail(prefillRows[i], e);
      fail(decodeRows[i], e);
      runners.push(null);
    }
  }
  const decodeAll = async (runner: ModelRunner): Promise<Float32Array> => {
    const out = new Float32Array(plan.decodeTokens * V); // [steps, V]
    const dec = await runner.startDecode(prompt);
    for (let i = 0; i < decoded.length; i++) out.set(await dec.step(decoded[i]), i * V);
    dec.end();
    return out;
  };

  // Validation, before anything is timed.
  let qkvPrefill: Float32Array | null = null;
  let qkvDecode: Float32Array | null = null;
  for (let i = 0; i < runtimes.length; i++) {
    const runner = runners[i];
    if (runner === null) continue;
    const pre = prefillRows[i];
    const dec = decodeRows[i];
    try {
      const logits = (await runner.prefill(prompt)).slice();
      const steps = await decodeAll(runner);
      if (runtimes[i].family === 'qkv') {
        qkvPrefill = logits;
        qkvDecode = steps;
        pre.validatedAgainst = 'oracle';
        // The cached path against one forward of prompt and decoded tokens together: rows N.. of its logits.
        const full = model.forward([ids], { backend: 'wasm' }).logits!.data; // [1, N + steps, V]
        dec.relError = relativeError(steps, full.subarray(plan.prompt * V));
        dec.validatedAgainst = `qkv's forward of all ${ids.length} tokens`;
      } else {
        if (qkvPrefill === null || qkvDecode === null) throw new Error('qkv did not run, so there is nothing to check against');
        pre.relError = relativeError(logits, qkvPrefill);
        pre.validatedAgainst = 'qkv';
        dec.relError = relativeError(steps, qkvDecode);
        dec.validatedAgainst = 'qkv';
      }
      for (const row of [pre, dec]) {
        if (row.relError !== undefined && !(row.relError <= TOLERANCE)) {
          row.status = 'invalid';
          row.note = `relative error ${row.relError.toExponential(2)} > ${TOLERANCE} against ${row.validatedAgainst}; not timed`;
        }
      }
    } catch (e) {
      fail(pre, e);
      fail(dec, e);
    }
  }

  const time = async (workload: 'prefill' | 'decode', rows: ModelRow[]) => {
    const entries: Entry[] = [];
    runners.forEach((runner, i) => {
      if (runner === null || rows[i].status !== 'skipped') return;
      const once =
        workload === 'prefill'
          ? async () => {
              const t = performance.now();
              await runner.prefill(prompt);
              return performance.now() - t;
            }
          : async () => {
              const dec = await runner.startDecode(prompt); // untimed
              const t = performance.now();
              for (const id of decoded) await dec.step(id);
              const ms = performance.now() - t;
              dec.end();
              return ms;
            };
      entries.push({ row: rows[i], once, samples: [] });
    });
    sampler.reset();
    await rotate(entries, plan, workload === 'prefill' ? plan.prefillRoundMs : plan.decodeRoundMs, fail);
    const peak = sampler.read() / MiB;
    for (const e of entries) {
      if (e.row.status !== 'skipped' || e.samples.length === 0) continue;
      const t = summarize(e.samples);
      e.row.status = 'ok';
      e.row.timing = { medianMs: t.medianMs, minMs: t.minMs, maxMs: t.maxMs, q1Ms: t.q1Ms, q3Ms: t.q3Ms, reps: e.samples.length };
      e.row.tokensPerS = (e.row.tokens * 1000) / t.medianMs;
      e.row.peakRssMiB = peak;
    }
    const qkv = rows.find((r) => r.family === 'qkv' && r.status === 'ok');
    for (const r of rows) if (qkv && r.status === 'ok') r.vsQkv = r.timing!.medianMs / qkv.timing!.medianMs;
    for (const r of rows) printRow(r, title, log);
  };
  await time('prefill', prefillRows);
  await time('decode', decodeRows);
  for (const runner of runners) await runner?.dispose();
  await sampler.stop();
}

// ---- peak memory, each in a fresh process ----

export interface ModelMemorySpec {
  /** Folder under bench/models/. */
  model: string;
  impl: string;
  N: number;
}

async function memoryRows(plan: ModelsPlan, options: ModelsOptions, missing: string | null, log: (line: string) => void): Promise<ModelMemoryRow[]> {
  log('\n## Real models: peak RSS of loading a model and running one forward (a fresh process each)');
  const specs: { model: string; checkpoint: string; impl: string; skip?: string }[] = [
    { model: 'gpt2', checkpoint: 'F32', impl: 'qkv wasm' },
    { model: 'gpt2-bf16', checkpoint: 'BF16', impl: 'qkv wasm' },
    { model: 'llama-135m', checkpoint: 'F32', impl: 'qkv wasm' },
    { model: 'gpt2', checkpoint: 'F32', impl: 'ort-node' },
    { model: 'gpt2', checkpoint: 'F32', impl: 'ort-web' },
  ];
  const out: ModelMemoryRow[] = [];
  for (const s of specs) {
    if (s.impl !== 'qkv wasm' && options.impl.length > 0 && !options.impl.some((w) => s.impl.includes(w))) continue;
    // The report names the BF16 copy by the model it copies.
    const row: ModelMemoryRow = { model: s.model.replace(/-bf16$/, ''), checkpoint: s.checkpoint, impl: s.impl, status: 'skipped' };
    if (missing !== null) row.note = missing;
    else if (options.quick && s.impl !== 'qkv wasm') row.note = 'not run with --quick';
    else {
      const r = await memoryInChild({ model: s.model, impl: s.impl, N: plan.prompt }, 8);
      Object.assign(row, r);
    }
    const r = row.result;
    log(`${`${row.model} ${row.checkpoint}`.padEnd(16)} ${row.impl.padEnd(9)} ` +
      (r ? `peak RSS ${fmt(r.peakKiB / 1024, 0)} MiB (before load ${fmt(r.baselineKiB / 1024, 0)}, after load ${fmt(r.afterLoadKiB / 1024, 0)}); load ${fmt(r.loadMs, 0)} ms, forward ${fmt(r.forwardMs, 0)} ms`
        : `${row.status}: ${row.note ?? ''}`));
    out.push(row);
  }
  return out;
}

/**
 * bench/model-memory.ts in a fresh node, through a shell that forks (Linux carries maxRSS across exec, so a child
 * exec'd straight from this large process would start from its high-water mark). A watchdog kills it past capGiB.
 */
async function memoryInChild(spec: ModelMemorySpec, capGiB: number): Promise<Pick<ModelMemoryRow, 'status' | 'note' | 'result'>> {
  const args = [process.execPath, '--import', 'tsx', join(root, 'bench', 'model-memory.ts'), JSON.stringify(spec)];
  const child = spawn('/bin/sh', ['-c', '"$@"; exit $?', 'sh', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  let killedFor: string | null = null;
  const started = performance.now();
  const watchdog = setInterval(() => {
    try {
      const pids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        const kib = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
        if (kib > capGiB * 1024 * 1024) killedFor = `killed by the benchmark's watchdog at ${(kib / 1024 ** 2).toFixed(1)} GiB RSS (cap ${capGiB} GiB)`;
        else if (performance.now() - started > 300_000) killedFor = 'killed after 300 s';
        if (killedFor !== null) process.kill(Number(pid), 'SIGKILL');
      }
    } catch {
      // the child has exited
    }
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(watchdog);
  const line = stdout.trim().split('\n').pop() ?? '';
  if (code === 0 && line.startsWith('{')) return { status: 'ok', result: JSON.parse(line) as ModelMemoryResult };
  const errorLine = `${stderr}\n${stdout}`.split('\n').filter((l) => l.length < 2000 && /error/i.test(l) && !/^\s+at /.test(l)).pop();
  return { status: 'failed', note: killedFor ?? message(errorLine?.trim() ?? `exit ${code}`) };
}
