// The "models" section of the benchmark's report: the shape of its results (the `models` field of
// bench/results/*.json), the Real models issue's targets checked against them, and its part of docs/BENCHMARKS.md.
// Pure functions of the results, like bench/report.ts, which calls them; the measuring is in bench/models.ts.

import type { Target } from './report.js';

/** One runtime on one timed workload of one model. */
export interface ModelRow {
  /** The folder under bench/models/: "gpt2" or "llama-135m". */
  model: string;
  workload: 'prefill' | 'decode';
  /** e.g. "prefill N=128", "decode 32 after 128" */
  label: string;
  /** Tokens per timed call: the prompt's N for prefill, the decoded tokens for decode. */
  tokens: number;
  impl: string;
  family: 'qkv' | 'peer';
  status: 'ok' | 'skipped' | 'failed' | 'invalid';
  note?: string;
  /** Of one timed call (a whole prefill, or all the decode steps of one repetition), in ms. */
  timing?: { medianMs: number; minMs: number; maxMs: number; q1Ms: number; q3Ms: number; reps: number };
  /** tokens / median */
  tokensPerS?: number;
  /** This row's median / qkv's median on the same workload: above 1, qkv is faster. */
  vsQkv?: number;
  /** Relative L2 error of this runtime's logits against qkv's (qkv's own row: against its full forward). */
  relError?: number;
  validatedAgainst?: string;
  /** Largest RSS sampled while the workload's rows ran (MiB), all three runtimes' models loaded: context only. */
  peakRssMiB?: number;
}

/** One peak-memory measurement: load a checkpoint and run one forward, in a fresh process. */
export interface ModelMemoryRow {
  model: string;
  /** The checkpoint's stored dtype: "F32" or "BF16". */
  checkpoint: string;
  impl: string;
  status: 'ok' | 'skipped' | 'failed';
  note?: string;
  result?: ModelMemoryResult;
}

export interface ModelMemoryResult {
  /** process.resourceUsage().maxRSS after the modules are imported, before the model is loaded (KiB). */
  baselineKiB: number;
  /** maxRSS after loading (KiB). */
  afterLoadKiB: number;
  /** maxRSS after the forward: the peak of the whole process (KiB). */
  peakKiB: number;
  /** VmHWM from /proc/self/status at the end (KiB): the kernel's peak, as a cross-check of maxRSS. */
  vmHwmKiB: number;
  loadMs: number;
  forwardMs: number;
  /** The forward's prompt length. */
  N: number;
  /** What the weights are held as after loading (qkv: the parameters' array types and bytes). */
  inMemory?: { arrays: string; bytes: number };
}

export interface ModelInfo {
  name: string;
  /** For the report, e.g. "GPT-2 small (124M)". */
  title: string;
  parameters: number;
  /** 4 bytes per parameter. */
  fp32WeightBytes: number;
  config: string;
}

export interface ModelsPlan {
  prompt: number;
  decodeTokens: number;
  /** Rounds of the rotation, and the time each runtime gets per round (ms). */
  rounds: number;
  prefillRoundMs: number;
  decodeRoundMs: number;
  warmupMs: number;
  tolerance: number;
  threads: number;
}

/** The `models` field of a results file. It carries its own date and load, since a `--only models` run merges it
 * into bench/results/latest.json beside the rows of an earlier full run. */
export interface ModelsResults {
  date: string;
  args: string[];
  elapsedS: number;
  loadAvg: { start: number[]; end: number[] };
  plan: ModelsPlan;
  models: ModelInfo[];
  impls: { id: string; how: string }[];
  rows: ModelRow[];
  memory: ModelMemoryRow[];
}

// ---- targets ----

const GOAL = { prefillVsOrtWeb: 1.5, decodeVsOrtWeb: 1.2, rssOverFp32: 1.3, rssModel: 'gpt2' };

const ratio = (x: number): string => `${x.toPrecision(3)}×`;
const MiB = 1024 * 1024;
const tps = (x: number): string => `${x >= 100 ? x.toFixed(0) : x.toPrecision(3)} tokens/s`;

function titleOf(m: ModelsResults, name: string): string {
  return m.models.find((x) => x.name === name)?.title ?? name;
}

/** The Real models issue's targets, checked against a models run; `runDate` is the date of the report's run. */
export function modelTargets(m: ModelsResults | undefined, runDate: string): Target[] {
  if (m === undefined) return [];
  const when = m.date.slice(0, 16) === runDate.slice(0, 16) ? '' : ` (models run of ${m.date.slice(0, 16).replace('T', ' ')} UTC)`;
  const targets: Target[] = [];
  const versus = (workload: 'prefill' | 'decode', bar: number, what: string) => {
    const goal = `Real models: ${what} ≥ ${bar}× onnxruntime-web in tokens/s (qkv wasm and both peers on 2 threads, same weights), on GPT-2 small and on SmolLM2-135M's shape`;
    const parts: string[] = [];
    let missed = false;
    let unmeasured = false;
    for (const info of m.models) {
      const rows = m.rows.filter((r) => r.model === info.name && r.workload === workload);
      const qkv = rows.find((r) => r.family === 'qkv' && r.status === 'ok');
      const web = rows.find((r) => r.impl === 'ort-web' && r.status === 'ok');
      if (!qkv || !web) {
        unmeasured = true;
        parts.push(`${info.title}: not measured (${rows.filter((r) => r.status !== 'ok').map((r) => `${r.impl} ${r.status}`).join(', ') || 'no rows'})`);
        continue;
      }
      const x = web.timing!.medianMs / qkv.timing!.medianMs;
      if (x < bar) missed = true;
      parts.push(`${info.title} ${ratio(x)} (qkv ${tps(qkv.tokensPerS!)}, ort-web ${tps(web.tokensPerS!)})`);
    }
    targets.push({ goal, threshold: true, verdict: missed ? 'missed' : unmeasured ? 'not measured' : 'met', measured: parts.join('; ') + when });
  };
  versus('prefill', GOAL.prefillVsOrtWeb, `prefill (${m.plan.prompt} prompt tokens, batch 1)`);
  versus('decode', GOAL.decodeVsOrtWeb, `decode (${m.plan.decodeTokens} tokens one at a time after a ${m.plan.prompt}-token prompt, with the cache)`);

  {
    const goal = "Real models: gap to onnxruntime-node (native): qkv's median / onnxruntime-node's, per model and workload";
    const parts: string[] = [];
    for (const info of m.models) {
      for (const workload of ['prefill', 'decode'] as const) {
        const rows = m.rows.filter((r) => r.model === info.name && r.workload === workload);
        const qkv = rows.find((r) => r.family === 'qkv' && r.status === 'ok');
        const node = rows.find((r) => r.impl === 'ort-node' && r.status === 'ok');
        if (qkv && node) parts.push(`${info.title} ${workload} ${ratio(qkv.timing!.medianMs / node.timing!.medianMs)}`);
      }
    }
    targets.push(parts.length === 0
      ? { goal, threshold: false, verdict: 'not measured', measured: 'no workload has both qkv and onnxruntime-node' }
      : { goal, threshold: false, verdict: 'reported', measured: parts.join('; ') + when });
  }

  {
    const info = m.models.find((x) => x.name === GOAL.rssModel);
    const goal = `Real models: peak RSS of loading GPT-2 small and running one forward (${m.plan.prompt} tokens; a fresh process, qkv wasm) ≤ ${GOAL.rssOverFp32}× its fp32 weight bytes`;
    const row = m.memory.find((r) => r.model === GOAL.rssModel && r.checkpoint === 'F32' && r.impl.startsWith('qkv'));
    if (!info || !row || row.status !== 'ok' || !row.result) {
      targets.push({ goal, threshold: true, verdict: row?.status === 'failed' ? 'missed' : 'not measured', measured: row?.note ?? 'not in this run' });
    } else {
      const r = row.result;
      const x = (r.peakKiB * 1024) / info.fp32WeightBytes;
      targets.push({
        goal,
        threshold: true,
        verdict: x <= GOAL.rssOverFp32 ? 'met' : 'missed',
        measured:
          `${ratio(x)}: peak RSS ${(r.peakKiB / 1024).toFixed(0)} MiB of the whole process for ${(info.fp32WeightBytes / MiB).toFixed(0)} MiB of fp32 weights ` +
          `(${(r.baselineKiB / 1024).toFixed(0)} MiB before loading, ${(r.afterLoadKiB / 1024).toFixed(0)} MiB after; ` +
          `peak minus the before-loading figure: ${(((r.peakKiB - r.baselineKiB) * 1024) / info.fp32WeightBytes).toFixed(2)}×)` + when,
      });
    }
  }

  {
    const goal = 'Real models: what a BF16 checkpoint of GPT-2 small costs, and whether its weights stay BF16 in memory';
    const f32 = m.memory.find((r) => r.model === GOAL.rssModel && r.checkpoint === 'F32' && r.impl.startsWith('qkv'))?.result;
    const bf16 = m.memory.find((r) => r.model === GOAL.rssModel && r.checkpoint === 'BF16' && r.impl.startsWith('qkv'))?.result;
    if (!f32 || !bf16) targets.push({ goal, threshold: false, verdict: 'not measured', measured: 'the F32 and BF16 rows did not both run' });
    else {
      const held = bf16.inMemory ? `held as ${bf16.inMemory.arrays}, ${(bf16.inMemory.bytes / MiB).toFixed(0)} MiB` : 'in-memory type not recorded';
      targets.push({
        goal,
        threshold: false,
        verdict: 'reported',
        measured:
          `the BF16 file is half the size, but qkv decodes it to float32 (${held}): peak RSS ${(bf16.peakKiB / 1024).toFixed(0)} MiB ` +
          `against ${(f32.peakKiB / 1024).toFixed(0)} MiB for F32; loading takes ${bf16.loadMs.toFixed(0)} ms against ${f32.loadMs.toFixed(0)} ms` + when,
      });
    }
  }
  return targets;
}

// ---- the doc ----

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? '' : x >= 100 ? x.toFixed(0) : x.toFixed(digits));

/** The models section of docs/BENCHMARKS.md, as lines; none when the results have no models run. */
export function renderModels(m: ModelsResults | undefined): string[] {
  if (m === undefined) return [];
  const out: string[] = [];
  const p = (line = '') => out.push(line);
  const la = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
  p('## Real models: prefill and decode (random weights, batch 1)');
  p();
  p(`Run of ${m.date.slice(0, 16).replace('T', ' ')} UTC (\`npm run bench${m.args.length ? ` -- ${m.args.join(' ')}` : ''}\`; this section took ${Math.round(m.elapsedS)} s). ` +
    `Load average (1, 5, 15 min) before: ${la(m.loadAvg.start)}; after: ${la(m.loadAvg.end)}.`);
  p();
  for (const info of m.models) p(`- **${info.title}**: ${info.config}; ${(info.parameters / 1e6).toFixed(1)}M parameters, ${(info.fp32WeightBytes / MiB).toFixed(0)} MiB in fp32.`);
  p();
  p('How each runtime is driven (all on the same weights, written by tools/make_bench_models.py into bench/models/):');
  p();
  for (const i of m.impls) p(`- **${i.id}**: ${i.how}.`);
  p();
  p(`- **prefill N=${m.plan.prompt}**: one call on ${m.plan.prompt} prompt tokens with an empty cache, returning the logits of every token [1, N, V] ` +
    'and the keys and values of every layer. tokens/s = N / median.');
  p(`- **decode ${m.plan.decodeTokens} after ${m.plan.prompt}**: ${m.plan.decodeTokens} calls of one token each, every call reading the cache the previous one ` +
    `returned; the ${m.plan.prompt}-token prefill before them is untimed. The token ids are fixed (seeded), not chosen by argmax, so that ` +
    `every runtime computes the same steps. tokens/s = ${m.plan.decodeTokens} / median of the ${m.plan.decodeTokens} steps.`);
  p(`- Before timing, each runtime's logits (every prefill row; every decode step) are checked against qkv's: relative L2 error ≤ ${m.plan.tolerance.toExponential(0)}. ` +
    `qkv's decode logits are checked against its own forward of all ${m.plan.prompt + m.plan.decodeTokens} tokens at once. qkv's prefill is the oracle here; ` +
    'it is checked in turn by the peers agreeing with it, since tools/make_bench_models.py checked their ONNX graph against the PyTorch module ' +
    'it was exported from, and that module against tools/hf_reference.py (float64, transformers\' modelling code re-implemented).');
  p(`- Then a warm-up of ${m.plan.warmupMs / 1000} s each, and ${m.plan.rounds} rounds in which the runtimes take turns (${m.plan.prefillRoundMs / 1000} s each per round for prefill, ` +
    `${m.plan.decodeRoundMs / 1000} s for decode; at least one call per turn), the first turn moving on by one runtime every round. ` +
    '"vs qkv" = the row\'s median / qkv\'s: above 1, qkv is faster. "peak RSS" is the process\'s, sampled while the workload ran with all three runtimes\' copies of the model loaded (context only; the table after it is exact).');
  p();
  p('| model | workload | implementation | median ms | IQR ms | min–max ms | tokens/s | ms per token | vs qkv | peak RSS MiB | check |');
  p('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of m.rows) {
    const title = titleOf(m, r.model);
    const check = r.relError === undefined ? (r.validatedAgainst ?? '') : `${r.relError.toExponential(1)} (${r.validatedAgainst})`;
    if (r.status !== 'ok' || !r.timing) {
      p(`| ${title} | ${r.label} | ${r.impl} | ${r.status} | | | | | | | ${r.note ?? check} |`);
      continue;
    }
    const t = r.timing;
    p(`| ${title} | ${r.label} | ${r.impl} | ${fmt(t.medianMs, 2)} | ${fmt(t.q1Ms, 2)}–${fmt(t.q3Ms, 2)} | ${fmt(t.minMs, 2)}–${fmt(t.maxMs, 2)} | ` +
      `${fmt(r.tokensPerS)} | ${fmt(t.medianMs / r.tokens, 2)} | ${r.vsQkv === undefined ? '—' : r.vsQkv.toPrecision(3)} | ${fmt(r.peakRssMiB, 0)} | ${check} |`);
  }
  p();
  if (m.memory.length > 0) {
    p('### Peak memory of loading a model and running one forward (a fresh process each)');
    p();
    p(`maxRSS from process.resourceUsage() (VmHWM of /proc/self/status agrees), whole process: Node, tsx and the runtime included. ` +
      `"before load" is after importing the modules; the forward is a prefill of ${m.plan.prompt} tokens with a cache. ` +
      '"× fp32 weights" = peak / the model\'s fp32 weight bytes.');
    p();
    p('| model | checkpoint | implementation | peak RSS MiB | before load MiB | after load MiB | × fp32 weights | load ms | forward ms | weights in memory |');
    p('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const row of m.memory) {
      const r = row.result;
      const info = m.models.find((x) => x.name === row.model);
      if (!r || row.status !== 'ok') {
        p(`| ${titleOf(m, row.model)} | ${row.checkpoint} | ${row.impl} | ${row.status} | | | | | | ${row.note ?? ''} |`);
        continue;
      }
      const x = info ? ((r.peakKiB * 1024) / info.fp32WeightBytes).toFixed(2) : '';
      const held = r.inMemory ? `${r.inMemory.arrays}, ${(r.inMemory.bytes / MiB).toFixed(0)} MiB` : '';
      p(`| ${titleOf(m, row.model)} | ${row.checkpoint} | ${row.impl} | ${fmt(r.peakKiB / 1024, 0)} | ${fmt(r.baselineKiB / 1024, 0)} | ${fmt(r.afterLoadKiB / 1024, 0)} | ${x} | ${fmt(r.loadMs, 0)} | ${fmt(r.forwardMs, 0)} | ${held} |`);
    }
    p();
  }
  return out;
}
