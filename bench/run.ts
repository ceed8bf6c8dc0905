// `npm run bench`: the Speed issue's benchmark. It times qkv's backends against onnxruntime-node, onnxruntime-web and
// TensorFlow.js (wasm) on the same fp32 inputs, after validating every result against qkv's reference; measures peak
// memory in fresh child processes; prints a table; and writes bench/results/latest.json and docs/BENCHMARKS.md.
// It follows llm.c's dev/ benchmarks: check against the reference first, then warm up, then time.
//
// Usage: npm run bench [-- --quick] [-- --only sdpa,mha,backward,memory,models] [-- --impl qkv,ort-node] [-- --no-write]
//        npm run bench -- --from-json bench/results/latest.json [--no-write]
//   --quick      fewer sizes and a shorter time box (about a minute)
//   --only       run only these sections
//   --impl       run only implementations whose id contains one of these words
//   --no-write   print only; do not write the results JSON or the doc
//   --from-json  run nothing: regenerate docs/BENCHMARKS.md from a results file (with --no-write: print it instead)
// Filtered or quick runs write bench/results/partial.json (gitignored) and leave the doc alone, except a plain
// `--only models` run, which also replaces the models part of latest.json (it carries its own date) and of the doc.
// The doc is rendered by bench/report.ts, which keeps the hand-written text between its notes markers.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as qkv from '../src/index.js';
import { Tensor, availableBackends, getNumThreads } from '../src/index.js';
import { TOL, relativeError } from '../tests/tolerances.js';
import { type Oracle, forwardFlops, mhaCase, oracleError, sampledOracle, sdpaCase } from './cases.js';
import { type Case, type Impl, type Runner, allImpls } from './impls.js';
import { RssSampler, type Timing, type TimingBox, collect, summarize, timeOnce, timeRuns, warmUp } from './measure.js';
import { type MemoryResult, type MemorySpec } from './memory.js';
import { modelsSection } from './models.js';
import { type MemoryRow, type Results, type Row, SECTIONS, type Section, notesOf, planFor, renderDoc } from './report.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// ---- options ----

interface Options {
  quick: boolean;
  only: Section[];
  impl: string[];
  write: boolean;
  /** A results file to render the doc from, running nothing; null for a normal run. */
  fromJson: string | null;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { quick: false, only: [...SECTIONS], impl: [], write: true, fromJson: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${arg} needs a value`);
      return v.split(',').map((s) => s.trim()).filter(Boolean);
    };
    if (arg === '--quick') options.quick = true;
    else if (arg === '--no-write') options.write = false;
    else if (arg === '--only') {
      const only = value();
      const bad = only.filter((s) => !(SECTIONS as readonly string[]).includes(s));
      if (bad.length > 0) throw new Error(`bench: --only takes ${SECTIONS.join(', ')}; got ${bad.join(', ')}`);
      options.only = only as Section[];
    } else if (arg === '--impl') options.impl = value();
    else if (arg === '--from-json') {
      options.fromJson = argv[++i] ?? null;
      if (options.fromJson === null) throw new Error('bench: --from-json needs a results file');
    }
    else throw new Error(`bench: unknown argument ${arg}; see the header of bench/run.ts`);
  }
  if (options.fromJson !== null && (options.quick || options.only.length !== SECTIONS.length || options.impl.length > 0)) {
    throw new Error('bench: --from-json runs nothing, so it takes no --quick, --only or --impl (only --no-write)');
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
const full = !options.quick && options.only.length === SECTIONS.length && options.impl.length === 0;
const modelsOnly = !options.quick && options.impl.length === 0 && options.only.length === 1 && options.only[0] === 'models';
const docPath = join(root, 'docs', 'BENCHMARKS.md');

/** The current doc, whose hand-written notes the new one keeps; null when there is none yet. */
function previousDoc(): string | null {
  try {
    return readFileSync(docPath, 'utf8');
  } catch {
    return null;
  }
}

if (options.fromJson !== null) {
  const results = JSON.parse(readFileSync(options.fromJson, 'utf8')) as Results;
  const doc = renderDoc(results, previousDoc());
  if (options.write) {
    writeFileSync(docPath, doc);
    log(`wrote ${docPath} from ${options.fromJson}`);
  } else {
    process.stdout.write(doc);
  }
  process.exit(0);
}

// Broken notes markers would make the doc unwritable at the end of the run: say so before timing anything.
if ((full || modelsOnly) && options.write) notesOf(previousDoc());

/** Sizes and time boxes; --quick shrinks both. */
const plan = planFor(options.quick);
const { H, d, D } = plan;
const REFERENCE_MAX_N = plan.referenceMaxN;
const SAMPLED_ROWS = plan.sampledRows;
/** Validation bar: relative L2 error against the reference, as for two float32 orders of the same math. */
const TOLERANCE = TOL.reorder;

// ---- rows ----

const rows: Row[] = [];
const sampler = new RssSampler();
const MiB = 1024 * 1024;

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? '' : x >= 100 ? x.toFixed(0) : x.toFixed(digits));

function log(line: string): void {
  process.stdout.write(line + '\n');
}

function printRow(r: Row): void {
  const what = `${r.workload.padEnd(22)} ${r.impl.padEnd(16)}`;
  if (r.status !== 'ok' || !r.timing) {
    log(`${what} ${r.status}: ${r.note ?? ''}`);
    return;
  }
  const check = r.validatedAgainst === 'is the oracle' ? 'oracle' : `err ${r.relError?.toExponential(1)}`;
  const t = r.timing;
  log(
    `${what} ${fmt(t.medianMs, 2).padStart(9)} ms  [${fmt(t.minMs, 2)}–${fmt(t.maxMs, 2)}]  ` +
      `${fmt(r.gflops).padStart(6)} GFLOP/s  rss ${fmt(r.peakRssMiB, 0)} MiB (+${fmt(r.rssGrowthMiB, 0)})  ${check}`,
  );
}

// ---- loading ----

const impls: Impl[] = allImpls().filter(
  (impl) => options.impl.length === 0 || options.impl.some((word) => impl.id.includes(word)),
);
const loaded: Impl[] = [];
const loadNotes: Record<string, string> = {};
for (const impl of impls) {
  const why = await impl.load();
  if (why === null) loaded.push(impl);
  else loadNotes[impl.id] = why;
}

/** Measured throughput (flops per ms) of each implementation on each workload family, for projecting slow rows. */
const rates = new Map<string, number>();

/** Why an implementation does not run a case, or null when it does. */
function skipReason(impl: Impl, c: Case, family: string, slack = 1): string | null {
  if (impl.id === 'qkv reference' && c.N > REFERENCE_MAX_N) {
    return `the reference (float64 specification, ~1 GFLOP/s) runs only at N ≤ ${REFERENCE_MAX_N}`;
  }
  const rate = rates.get(`${impl.id}|${family}`);
  if (rate !== undefined) {
    const projected = forwardFlops(c) / rate;
    if (projected > plan.maxRunMs * slack) {
      return `projected ${(projected / 1000).toFixed(1)} s per call from its rate at smaller N, over the ${(plan.maxRunMs * slack) / 1000} s limit`;
    }
  }
  return null;
}

// ---- one forward workload ----

/** The time box of a row whose first call took firstMs: rows of seconds per call are timed over fewer repetitions. */
function boxFor(firstMs: number): TimingBox {
  return firstMs > plan.slowMs ? { ...plan.box, minReps: 2 } : plan.box;
}

/** A validated implementation of the current workload, waiting to be timed together with the others. */
interface Waiting {
  row: Row;
  runner: Runner;
  samples: number[];
  /** The largest RSS seen while this row ran, in bytes, and the RSS when it started. */
  peak: number;
  start: number;
}

/**
 * One forward workload: every implementation is prepared and validated in turn. A row whose validation call took
 * less than plan.interleaveMs is then timed together with the workload's other fast rows, in rounds (timeTogether);
 * a slower row is timed at once, on its own.
 */
async function runCase(section: Section, workload: string, c: Case, family: string): Promise<void> {
  const flops = forwardFlops(c);
  const caseRows: Row[] = [];
  const waiting: Waiting[] = [];
  let oracle: Oracle | null = null;
  const base = { section, workload, N: c.N, causal: c.kind === 'sdpa' && c.causal };
  const finish = (row: Row, timing: Timing) => {
    row.status = 'ok';
    row.timing = { medianMs: timing.medianMs, minMs: timing.minMs, maxMs: timing.maxMs, q1Ms: timing.q1Ms, q3Ms: timing.q3Ms, reps: timing.samples.length };
    row.gflops = flops / timing.medianMs / 1e6;
    rates.set(`${row.impl}|${family}`, flops / timing.medianMs);
  };
  const fail = (row: Row, e: unknown) => {
    row.status = 'failed';
    row.note = shorten((e instanceof Error ? e.message : String(e)).split('\n')[0]);
  };
  const rss = (row: Row, peak: number, start: number) => {
    row.peakRssMiB = peak / MiB;
    row.rssGrowthMiB = (peak - start) / MiB;
  };
  for (const impl of impls) {
    const row: Row = { ...base, impl: impl.id, family: impl.family, status: 'skipped' };
    caseRows.push(row);
    if (!loaded.includes(impl)) {
      row.note = loadNotes[impl.id];
      continue;
    }
    const skip = skipReason(impl, c, family);
    if (skip !== null) {
      row.note = skip;
      printRow(row);
      continue;
    }
    sampler.reset();
    let runner: Runner | null = null;
    try {
      const prepared = await impl.prepare(c);
      if (typeof prepared === 'string') {
        row.note = prepared;
        printRow(row);
        continue;
      }
      runner = prepared;
      const first = await timeOnce(() => prepared.run());
      const output = prepared.output();
      if (impl.id === 'qkv reference') {
        // The full reference output is the oracle at this size; it is the specification, so it is not checked.
        oracle = { expected: output.slice(), rows: null, describe: 'reference (full output)' };
        row.validatedAgainst = 'is the oracle';
        row.relError = 0;
      } else {
        oracle ??= sampledOracle(c, SAMPLED_ROWS);
        row.relError = oracleError(c, oracle, output);
        row.validatedAgainst = oracle.describe;
        if (!(row.relError <= TOLERANCE)) {
          row.status = 'invalid';
          row.note = `relative error ${row.relError.toExponential(2)} > ${TOLERANCE} against the ${oracle.describe}; not timed`;
        }
      }
      if (row.status === 'skipped' && first.ms < plan.interleaveMs) {
        waiting.push({ row, runner, samples: [], peak: sampler.read(), start: sampler.start });
        runner = null; // timed and disposed by timeTogether
        continue;
      }
      if (row.status === 'skipped') finish(row, await timeRuns(() => prepared.run(), boxFor(first.ms), first.ms));
    } catch (e) {
      fail(row, e);
    } finally {
      await runner?.dispose();
    }
    rss(row, sampler.read(), sampler.start);
    printRow(row);
  }
  await timeTogether(waiting, fail);
  for (const w of waiting) {
    if (w.row.status === 'skipped') finish(w.row, summarize(w.samples));
    rss(w.row, w.peak, w.start);
    printRow(w.row);
  }
  finishCase(caseRows);
  rows.push(...caseRows);
}

/**
 * Times a workload's fast rows together, so that a slow or a fast spell of this shared machine falls on all of them
 * alike: each is warmed up, then they take turns in plan.rounds rounds of budgetMs / rounds each (each turn starts
 * with one untimed call), and the row that goes first moves on by one every round. Every row keeps its own samples; a row that throws is marked failed and
 * leaves the rotation. Disposes every runner.
 */
async function timeTogether(waiting: Waiting[], fail: (row: Row, e: unknown) => void): Promise<void> {
  const { box, rounds } = plan;
  const live = () => waiting.filter((w) => w.row.status === 'skipped');
  const slice = async (w: Waiting, body: () => Promise<void>) => {
    sampler.reset();
    try {
      await body();
    } catch (e) {
      fail(w.row, e);
    }
    w.peak = Math.max(w.peak, sampler.read());
  };
  for (const w of live()) await slice(w, () => warmUp(() => w.runner.run(), box.warmupMs));
  for (let round = 0; round < rounds; round++) {
    const turn = live();
    for (let i = 0; i < turn.length; i++) {
      const w = turn[(i + round) % turn.length];
      const reps = (n: number) => Math.ceil(n / rounds);
      await slice(w, async () => {
        await w.runner.run(); // untimed: the previous implementation's threads may still be winding down
        w.samples.push(...(await collect(() => w.runner.run(), box.budgetMs / rounds, reps(box.minReps), reps(box.maxReps))));
      });
    }
  }
  for (const w of waiting) await w.runner.dispose();
}

/** Fills in each row's ratio to the fastest valid qkv backend of the same workload. */
function finishCase(caseRows: Row[]): void {
  const best = caseRows
    .filter((r) => r.family === 'qkv' && r.status === 'ok')
    .reduce<Row | null>((a, r) => (a === null || r.timing!.medianMs < a.timing!.medianMs ? r : a), null);
  if (best === null) return;
  for (const r of caseRows) if (r.status === 'ok') r.vsQkvBest = r.timing!.medianMs / best.timing!.medianMs;
}

// ---- sections ----

async function sdpaSection(): Promise<void> {
  log(`\n## SDPA forward: B = 1, H = ${H}, d = ${d}, S = N, fp32; GFLOP/s count 4·B·H·N·S·d (the full square, also when causal)`);
  for (const N of plan.sdpaN) {
    for (const causal of [false, true]) {
      await runCase('sdpa', `sdpa N=${N}${causal ? ' causal' : ''}`, sdpaCase(H, N, d, causal), `sdpa${causal ? '-causal' : ''}`);
    }
  }
}

async function mhaSection(): Promise<void> {
  log(`\n## MultiHeadAttention forward (self-attention): B = 1, D = ${D}, H = ${H}; GFLOP/s count 4·N²·D + 8·N·D²`);
  for (const N of plan.mhaN) await runCase('mha', `mha N=${N}`, mhaCase(D, H, N), 'mha');
}

/** The attention backward: qkv only (the peers here are inference runtimes). */
async function backwardSection(): Promise<void> {
  const N = plan.backwardN;
  const workload = `sdpa backward N=${N}`;
  log(`\n## SDPA backward: B = 1, H = ${H}, d = ${d}, N = S = ${N}, non-causal; GFLOP/s count 10·B·H·N·S·d (2.5× the forward)`);
  const backward = (qkv as Record<string, unknown>).scaledDotProductAttentionBackward;
  const base = { section: 'backward' as const, workload, N, causal: false, family: 'qkv' as const };
  if (typeof backward !== 'function') {
    const row: Row = { ...base, impl: 'qkv', status: 'skipped', note: 'no backward yet (scaledDotProductAttentionBackward is not exported)' };
    printRow(row);
    rows.push(row);
    return;
  }
  type Grads = { gradQuery: Tensor; gradKey: Tensor; gradValue: Tensor };
  const call = backward as (q: Tensor, k: Tensor, v: Tensor, g: Tensor, o: object) => Grads;
  const c = sdpaCase(H, N, d, false);
  const gradOutput = Tensor.randn([1, H, N, d], 14); // [B, H, N, dv]
  const flops = 2.5 * forwardFlops(c);
  const caseRows: Row[] = [];
  let expected: Grads | null = null;
  // The reference goes first here: its gradients are the oracle for the other backends.
  const names = [...availableBackends()].sort((a, b) => (a === 'reference' ? -1 : b === 'reference' ? 1 : 0));
  for (const backend of names.filter((n) => options.impl.length === 0 || options.impl.some((w) => `qkv ${n}`.includes(w)))) {
    const row: Row = { ...base, impl: `qkv ${backend}`, status: 'skipped' };
    caseRows.push(row);
    sampler.reset();
    try {
      const run = () => call(c.query, c.key, c.value, gradOutput, { backend });
      const first = await timeOnce(run);
      if (expected === null) {
        expected = first.value;
        row.validatedAgainst = backend === 'reference' ? 'is the oracle' : 'none (no reference run)';
      } else {
        const err = Math.max(
          relativeError(first.value.gradQuery.data, expected.gradQuery.data),
          relativeError(first.value.gradKey.data, expected.gradKey.data),
          relativeError(first.value.gradValue.data, expected.gradValue.data),
        );
        row.relError = err;
        row.validatedAgainst = 'reference gradients (full)';
        if (!(err <= TOLERANCE)) {
          row.status = 'invalid';
          row.note = `relative error ${err.toExponential(2)} > ${TOLERANCE}; not timed`;
          printRow(row);
          continue;
        }
      }
      // The reference backward takes seconds per call: time it over fewer repetitions.
      const timing = await timeRuns(run, boxFor(first.ms), first.ms);
      row.status = 'ok';
      row.timing = { medianMs: timing.medianMs, minMs: timing.minMs, maxMs: timing.maxMs, q1Ms: timing.q1Ms, q3Ms: timing.q3Ms, reps: timing.samples.length };
      row.gflops = flops / timing.medianMs / 1e6;
    } catch (e) {
      row.status = 'failed';
      row.note = shorten((e instanceof Error ? e.message : String(e)).split('\n')[0]);
    }
    row.peakRssMiB = sampler.read() / MiB;
    row.rssGrowthMiB = row.peakRssMiB - sampler.start / MiB;
    printRow(row);
  }
  finishCase(caseRows);
  rows.push(...caseRows);
}

// ---- peak memory, each in a fresh child process ----

const memoryRows: MemoryRow[] = [];

/** The fastest qkv backend: the first available one, since availableBackends() lists the fastest first. */
function qkvBest(): string {
  return `qkv ${availableBackends()[0]}`;
}

/**
 * Runs one measurement in a fresh `node` (tsx) process, so that its maxRSS belongs to that workload alone. A watchdog
 * reads the child's resident set from /proc and kills it past `capGiB`, so that a peer which materializes a huge score
 * matrix cannot exhaust a shared machine. (An address-space limit would not do: WebAssembly reserves large virtual
 * ranges, and tsx itself instantiates WebAssembly.)
 */
async function measureInChild(spec: MemorySpec, capGiB: number): Promise<MemoryRow> {
  // Through a shell that forks (the trailing `exit` keeps it from exec-ing in place): Linux carries a process's maxRSS
  // across exec, and a child forked straight from this large process would inherit its high-water mark.
  const args = [process.execPath, '--import', 'tsx', join(root, 'bench', 'memory.ts'), JSON.stringify(spec)];
  const child = spawn('/bin/sh', ['-c', '"$@"; exit $?', 'sh', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  let killedFor: string | null = null;
  const started = performance.now();
  const watchdog = setInterval(() => {
    let rssKiB = 0;
    try {
      const pids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        rssKiB = Math.max(rssKiB, Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0));
      }
    } catch {
      return; // the child has exited
    }
    if (rssKiB > capGiB * 1024 * 1024) killedFor = `killed by the benchmark's watchdog at ${(rssKiB / 1024 ** 2).toFixed(1)} GiB RSS (cap ${capGiB} GiB)`;
    else if (performance.now() - started > 300_000) killedFor = 'killed after 300 s';
    if (killedFor !== null) {
      // The node process is the shell's child; kill it, and the shell then exits.
      const pids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
    }
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(watchdog);
  const line = stdout.trim().split('\n').pop() ?? '';
  if (code === 0 && line.startsWith('{')) return { ...spec, status: 'ok', result: JSON.parse(line) as MemoryResult };
  // The last line that names an error (minified peers print a whole bundle line first), else the exit status.
  const text = `${stderr}\n${stdout}`.split('\n').filter((l) => l.length < 2000);
  const errorLine = text.filter((l) => /error/i.test(l) && !/^\s+at /.test(l)).pop();
  const why = killedFor ?? shorten(errorLine?.trim() ?? `exit ${code}`);
  return { ...spec, status: 'failed', note: why };
}

/** A long line shortened from the middle (native runtimes put a source path before the reason). */
function shorten(line: string): string {
  return line.length <= 160 ? line : `${line.slice(0, 60)} … ${line.slice(-95)}`;
}

function printMemory(m: MemoryRow): void {
  const what = `${m.label.padEnd(30)} ${m.impl.padEnd(16)}`;
  if (m.status !== 'ok' || !m.result) log(`${what} ${m.status}: ${m.note ?? ''}`);
  else {
    const r = m.result;
    log(`${what} peak RSS ${fmt(r.maxRssKiB / 1024, 0).padStart(6)} MiB (${fmt(r.baselineKiB / 1024, 0)} MiB before the call), one call ${fmt(r.ms, 0)} ms`);
  }
}

async function memorySection(): Promise<void> {
  log('\n## Peak memory: one forward call in a fresh process; maxRSS from process.resourceUsage()');
  const best = qkvBest();
  const specs: { spec: MemorySpec; cap: number; skip?: string }[] = [];
  const big: Omit<MemorySpec, 'impl'> = { label: 'sdpa N=4096 H=12 d=64', H: 12, N: 4096, d: 64, causal: false };
  const bigCase = sdpaCase(big.H, big.N, big.d, big.causal);
  for (const impl of impls) {
    const spec = { ...big, impl: impl.id };
    if (!loaded.includes(impl)) specs.push({ spec, cap: 6, skip: loadNotes[impl.id] });
    else if (impl.family === 'qkv' && impl.id !== best) continue;
    else {
      // The same limits as in the timed sections (one call here, so four times the per-call limit).
      specs.push({ spec, cap: 6, skip: skipReason(impl, bigCase, 'sdpa', 4) ?? undefined });
    }
  }
  const long: Omit<MemorySpec, 'impl'> = { label: 'sdpa N=65536 H=1 d=64 causal', H: 1, N: 65536, d: 64, causal: true };
  if (options.quick) {
    specs.push({ spec: { ...long, impl: best }, cap: 6, skip: 'not run with --quick' });
  } else if (best === 'qkv reference') {
    specs.push({ spec: { ...long, impl: best }, cap: 6, skip: 'the reference is too slow here (about 1.1 TFLOP at ~1 GFLOP/s: ~20 minutes), and no faster qkv backend is available' });
  } else {
    specs.push({ spec: { ...long, impl: best }, cap: 6 });
  }
  // The fused onnxruntime op is the one peer that might not build the 65536 × 65536 score matrix; try it, watched.
  specs.push({ spec: { ...long, impl: 'ort-node MHA op' }, cap: 6, skip: options.quick ? 'not run with --quick' : loaded.some((i) => i.id === 'ort-node MHA op') ? undefined : loadNotes['ort-node MHA op'] });
  // For contrast: non-causal, the fused op can take its flash path, which never builds the score matrix.
  const longFull: Omit<MemorySpec, 'impl'> = { ...long, label: 'sdpa N=65536 H=1 d=64', causal: false };
  specs.push({ spec: { ...longFull, impl: 'ort-node MHA op' }, cap: 6, skip: options.quick ? 'not run with --quick' : loaded.some((i) => i.id === 'ort-node MHA op') ? undefined : loadNotes['ort-node MHA op'] });
  const tooBig: Record<string, string> = {
    'ort-node plain': 'the plain graph builds the [1, 1, 65536, 65536] score matrix: 16 GiB in fp32',
    'ort-web plain': 'the plain graph builds a 16 GiB score matrix; wasm32 memory is at most 4 GiB',
    'ort-web MHA op': 'wasm32 memory is at most 4 GiB, and its op already overflowed (integer overflow) at N = 4096, H = 12 in this benchmark',
    'tfjs-wasm': 'the composition builds a 16 GiB score matrix; wasm32 memory is at most 4 GiB',
  };
  for (const [other, why] of Object.entries(tooBig)) specs.push({ spec: { ...long, impl: other }, cap: 6, skip: why });
  for (const { spec, cap, skip } of specs) {
    if (options.impl.length > 0 && !options.impl.some((w) => spec.impl.includes(w))) continue;
    const row: MemoryRow = skip !== undefined ? { ...spec, status: 'skipped', note: skip } : await measureInChild(spec, cap);
    printMemory(row);
    memoryRows.push(row);
  }
}

// ---- run ----

const started = new Date();
const loadAtStart = os.loadavg(); // [1, 5, 15 min]
const t0 = performance.now();
log(`qkv benchmark: ${options.quick ? 'quick' : 'full'} run, sections ${options.only.join(', ')}; qkv backends: ${availableBackends().join(', ')}`);
for (const [id, why] of Object.entries(loadNotes)) log(`skipped ${id}: ${why}`);
if (options.only.includes('sdpa')) await sdpaSection();
if (options.only.includes('mha')) await mhaSection();
if (options.only.includes('backward')) await backwardSection();
if (options.only.includes('memory')) await memorySection();
const models = options.only.includes('models') ? await modelsSection({ quick: options.quick, impl: options.impl, args: process.argv.slice(2), log }) : undefined;
await sampler.stop();
const loadAtEnd = os.loadavg(); // [1, 5, 15 min]
const elapsedS = (performance.now() - t0) / 1000;
log(`\ndone in ${elapsedS.toFixed(0)} s`);

// ---- machine, JSON, doc ----

function cpuModel(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.*)$/m.exec(info)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
    const flags = /^flags\s*:\s*(.*)$/m.exec(info)?.[1].split(/\s+/) ?? [];
    const simd = ['avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512_vnni'].filter((f) => flags.includes(f));
    return `${model}${simd.length ? ` (${simd.join(', ')})` : ''}`;
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

const machine = {
  cpu: cpuModel(),
  cores: os.availableParallelism(),
  memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  packages: Object.fromEntries(
    ['onnxruntime-node', 'onnxruntime-web', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm'].map((p) => [p, packageVersion(p)]),
  ),
  qkvBackends: availableBackends(),
  qkvThreads: getNumThreads(),
};

const results: Results = {
  date: started.toISOString(),
  args: process.argv.slice(2),
  elapsedS: Math.round(elapsedS),
  machine,
  tolerance: TOLERANCE,
  plan,
  loadAvg: { start: loadAtStart, end: loadAtEnd },
  impls: impls.map((i) => ({ id: i.id, how: i.how, loaded: loaded.includes(i), note: loadNotes[i.id] })),
  rows,
  memory: memoryRows,
  models,
};

if (options.write) {
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  const jsonPath = join(root, 'bench', 'results', full ? 'latest.json' : 'partial.json');
  writeFileSync(jsonPath, JSON.stringify(results, null, 2) + '\n');
  log(`wrote ${jsonPath}`);
  if (full) {
    writeFileSync(docPath, renderDoc(results, previousDoc()));
    log(`wrote ${docPath}`);
  } else if (modelsOnly && models !== undefined) {
    const latestPath = join(root, 'bench', 'results', 'latest.json');
    const latest = { ...(JSON.parse(readFileSync(latestPath, 'utf8')) as Results), models };
    writeFileSync(latestPath, JSON.stringify(latest, null, 2) + '\n');
    writeFileSync(docPath, renderDoc(latest, previousDoc()));
    log(`wrote the models part of ${latestPath} and ${docPath}`);
  }
}

