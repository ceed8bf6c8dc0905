// The benchmark's report: the shape of its results JSON (bench/results/latest.json) and docs/BENCHMARKS.md rendered
// from it. Rendering is a pure function of the results (plus the hand-written notes of the previous doc), so that
// `npm run bench -- --from-json <file>` can regenerate the doc without timing anything. The Targets section checks
// the Speed issue's targets against the measured rows; nothing in it is written by hand.

import type { TimingBox } from './measure.js';
import type { MemoryResult, MemorySpec } from './memory.js';
import { type ModelsResults, modelTargets, renderModels } from './models-report.js';

export const SECTIONS = ['sdpa', 'mha', 'backward', 'memory', 'models'] as const;
export type Section = (typeof SECTIONS)[number];

/** One implementation on one timed workload. */
export interface Row {
  section: Section;
  workload: string;
  N: number;
  causal: boolean;
  impl: string;
  family: 'qkv' | 'peer';
  status: 'ok' | 'skipped' | 'failed' | 'invalid';
  note?: string;
  timing?: { medianMs: number; minMs: number; maxMs: number; q1Ms: number; q3Ms: number; reps: number };
  gflops?: number;
  /** This row's median / the best qkv backend's median at the same workload; > 1 means qkv is faster. */
  vsQkvBest?: number;
  /** Largest RSS sampled while this row ran (MiB): an upper bound, since memory the process kept is counted. */
  peakRssMiB?: number;
  /** That peak minus the RSS when the row started (MiB): what this row added, unless it reused retained memory. */
  rssGrowthMiB?: number;
  relError?: number;
  validatedAgainst?: string;
}

/** One peak-memory measurement (one call in a fresh process). */
export interface MemoryRow extends MemorySpec {
  status: 'ok' | 'skipped' | 'failed';
  note?: string;
  result?: MemoryResult;
}

/** Sizes and time boxes of a run. */
export interface Plan {
  sdpaN: number[];
  mhaN: number[];
  backwardN: number;
  box: TimingBox;
  /** A row whose projected time per call exceeds this is skipped (ms). */
  maxRunMs: number;
  /** A row whose first call takes longer than this (ms) is timed over at least 2 repetitions instead of minReps. */
  slowMs: number;
  /** Rows whose validation call took less than this (ms) are timed together, in rounds; slower ones on their own. */
  interleaveMs: number;
  /** Rounds of the rows timed together. */
  rounds: number;
  /** Heads and head size of the SDPA rows; model width of the MHA rows (D = H·d). */
  H: number;
  d: number;
  D: number;
  /** The reference runs (and is timed) only up to this N: it is the float64 specification, about 1 GFLOP/s. */
  referenceMaxN: number;
  /** Query rows in a sampled oracle (see bench/cases.ts). */
  sampledRows: number;
}

/** The plan of a full run, or of a `--quick` one. */
export function planFor(quick: boolean): Plan {
  const shape = { H: 12, d: 64, D: 768, referenceMaxN: 512, sampledRows: 48 };
  return quick
    ? { sdpaN: [128, 1024], mhaN: [128, 512], backwardN: 128, box: { budgetMs: 500, minReps: 3, maxReps: 250, warmupMs: 150 }, maxRunMs: 2500, slowMs: 2000, interleaveMs: 100, rounds: 5, ...shape }
    : { sdpaN: [128, 512, 1024, 2048, 4096], mhaN: [128, 512, 2048], backwardN: 1024, box: { budgetMs: 2000, minReps: 5, maxReps: 1000, warmupMs: 500 }, maxRunMs: 20000, slowMs: 2000, interleaveMs: 100, rounds: 5, ...shape };
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  packages: Record<string, string>;
  qkvBackends: string[];
  /** getNumThreads(): the threads of one large "wasm" call (absent in runs before it was recorded). */
  qkvThreads?: number;
}

/** The contents of bench/results/*.json. Fields marked optional are absent in results written by older versions. */
export interface Results {
  date: string;
  args: string[];
  elapsedS: number;
  machine: Machine;
  tolerance: number;
  plan?: Plan;
  /** os.loadavg() (1, 5 and 15 minutes) before the first workload and after the last. */
  loadAvg?: { start: number[]; end: number[] };
  impls: { id: string; how: string; loaded: boolean; note?: string }[];
  rows: Row[];
  memory: MemoryRow[];
  /** The Real models issue's rows (bench/models.ts), with their own date: a `--only models` run merges them in. */
  models?: ModelsResults;
}

/** The plan a results file was run with: recorded, or (for older files) the one its arguments select. */
export function planOf(results: Results): Plan {
  return results.plan ?? planFor(results.args.includes('--quick'));
}

// ---- targets ----

export interface Target {
  /** The issue's target, in words. */
  goal: string;
  /** 'reported' for a target that asks for a figure without a threshold. */
  verdict: 'met' | 'missed' | 'not measured' | 'reported';
  /** What this run measured. */
  measured: string;
  /** False for a target that asks for a figure, not a threshold (it is never met or missed). */
  threshold: boolean;
}

/** The Speed issue's thresholds. */
const GOAL = {
  gflopsN: 2048,
  gflops: 60,
  causalN: 2048,
  causalSpeedup: 1.8,
  vsOrtWeb: 1.5,
  vsTfjs: 20,
  longN: 65536,
  longH: 1,
  longD: 64,
  longPeakMB: 300,
  backwardN: 1024,
  backwardOverForward: 3,
};

const isOk = (r: Row): boolean => r.status === 'ok' && r.timing !== undefined;
const median = (r: Row): number => r.timing!.medianMs;

/** The fastest row that ran among `rows`, or null. */
function fastest(rows: Row[]): Row | null {
  return rows.filter(isOk).reduce<Row | null>((a, r) => (a === null || median(r) < median(a) ? r : a), null);
}

const ratio = (x: number): string => `${x.toPrecision(3)}×`;
const ms = (x: number): string => `${x >= 100 ? x.toFixed(0) : x.toPrecision(3)} ms`;

/** Why a peer has no timing on a workload: its rows' statuses and notes, shortened. */
function whyMissing(rows: Row[]): string {
  if (rows.length === 0) return 'not in this run';
  return rows.map((r) => `${r.impl} ${r.status}${r.note && r.note.length <= 90 ? `: ${r.note}` : ''}`).join('; ');
}

/** The forward SDPA and MHA workloads of a run, in order, with the fastest qkv row and each peer group's rows. */
function forwardWorkloads(results: Results) {
  const names = [...new Set(results.rows.filter((r) => r.section === 'sdpa' || r.section === 'mha').map((r) => r.workload))];
  return names.map((workload) => {
    const rows = results.rows.filter((r) => r.workload === workload && (r.section === 'sdpa' || r.section === 'mha'));
    const peer = (prefix: string) => rows.filter((r) => r.impl.startsWith(prefix));
    return {
      workload,
      section: rows[0].section,
      N: rows[0].N,
      causal: rows[0].causal,
      qkv: fastest(rows.filter((r) => r.family === 'qkv')),
      ortWeb: peer('ort-web'),
      ortNode: peer('ort-node'),
      tfjs: peer('tfjs'),
    };
  });
}

function threadsOf(results: Results, impl: string): string {
  if (impl !== 'qkv wasm') return '';
  const t = results.machine.qkvThreads;
  return t === undefined ? ', thread count not recorded in this run' : `, ${t} thread${t === 1 ? '' : 's'}`;
}

/** The Speed issue's targets, each checked against this run's rows. */
export function evaluateTargets(results: Results): Target[] {
  const targets: Target[] = [];
  const workloads = forwardWorkloads(results);
  const sdpaAt = (N: number, causal: boolean) => workloads.find((w) => w.section === 'sdpa' && w.N === N && w.causal === causal);

  // 1. Throughput of the fastest qkv backend, non-causal SDPA.
  {
    const goal = `SDPA forward at N = ${GOAL.gflopsN}, non-causal: ≥ ${GOAL.gflops} GFLOP/s (qkv's fastest backend, 2 threads)`;
    const best = sdpaAt(GOAL.gflopsN, false)?.qkv;
    if (!best) targets.push({ goal, threshold: true, verdict: 'not measured', measured: `no qkv row ran at sdpa N=${GOAL.gflopsN}` });
    else {
      targets.push({
        goal,
        threshold: true,
        verdict: best.gflops! >= GOAL.gflops ? 'met' : 'missed',
        measured: `${best.gflops!.toFixed(1)} GFLOP/s (${best.impl}${threadsOf(results, best.impl)}; median ${ms(median(best))})`,
      });
    }
  }

  // 2. Causal wall time against non-causal at the same N.
  {
    const goal = `Causal SDPA at N = ${GOAL.causalN}: ≥ ${GOAL.causalSpeedup}× faster in wall time than non-causal`;
    const full = sdpaAt(GOAL.causalN, false)?.qkv;
    const causal = sdpaAt(GOAL.causalN, true)?.qkv;
    if (!full || !causal) targets.push({ goal, threshold: true, verdict: 'not measured', measured: `qkv did not run both sdpa N=${GOAL.causalN} rows` });
    else {
      const speedup = median(full) / median(causal);
      const impls = full.impl === causal.impl ? full.impl : `${full.impl} non-causal, ${causal.impl} causal`;
      targets.push({
        goal,
        threshold: true,
        verdict: speedup >= GOAL.causalSpeedup ? 'met' : 'missed',
        measured: `${ratio(speedup)} (${ms(median(full))} non-causal, ${ms(median(causal))} causal; ${impls})`,
      });
    }
  }

  // 3 and 4. qkv against the wasm peers on every forward row: the peer's median / qkv's, the faster graph per row.
  const versus = (peer: 'ortWeb' | 'tfjs', name: string, bar: number, graphs: string): Target => {
    const goal = `≥ ${bar}× faster than ${name} on every SDPA and MHA row${graphs}`;
    const ratios: { workload: string; x: number }[] = [];
    const unmeasured: string[] = [];
    for (const w of workloads) {
      const other = fastest(w[peer]);
      if (w.qkv && other) ratios.push({ workload: w.workload, x: median(other) / median(w.qkv) });
      else unmeasured.push(`${w.workload} (${w.qkv ? whyMissing(w[peer]) : 'no qkv row ran'})`);
    }
    if (ratios.length === 0) return { goal, threshold: true, verdict: 'not measured', measured: `no row has both qkv and ${name}` };
    const worst = ratios.reduce((a, r) => (r.x < a.x ? r : a));
    const misses = ratios.filter((r) => r.x < bar);
    const parts = [`worst ${ratio(worst.x)} at ${worst.workload}${worst.x < 1 ? ` (below 1×: ${name} is faster there)` : ''}`];
    parts.push(
      misses.length === 0
        ? `all ${ratios.length} measured rows ≥ ${bar}×`
        : `${misses.length} of ${ratios.length} measured rows below ${bar}×: ${misses.map((m) => `${m.workload} ${ratio(m.x)}`).join(', ')}`,
    );
    if (unmeasured.length > 0) parts.push(`Not measured: ${unmeasured.join('; ')}`);
    return { goal, threshold: true, verdict: misses.length > 0 ? 'missed' : unmeasured.length > 0 ? 'not measured' : 'met', measured: parts.join('. ') };
  };
  targets.push(versus('ortWeb', 'onnxruntime-web', GOAL.vsOrtWeb, " (per row, the faster of ort-web's two graphs)"));
  targets.push(versus('tfjs', 'tfjs-wasm', GOAL.vsTfjs, ''));

  // 5. The gap to native onnxruntime-node: qkv's median / ort-node's, per workload family.
  {
    const goal = "Gap to onnxruntime-node (native; per row the faster of its two graphs): qkv's median / onnxruntime-node's, range per workload family";
    const families: [string, (w: (typeof workloads)[number]) => boolean][] = [
      ['SDPA non-causal', (w) => w.section === 'sdpa' && !w.causal],
      ['SDPA causal', (w) => w.section === 'sdpa' && w.causal],
      ['MHA', (w) => w.section === 'mha'],
    ];
    const parts: string[] = [];
    for (const [family, member] of families) {
      const gaps = workloads
        .filter(member)
        .flatMap((w) => {
          const other = fastest(w.ortNode);
          return w.qkv && other ? [{ N: w.N, x: median(w.qkv) / median(other) }] : [];
        });
      if (gaps.length === 0) continue;
      const lo = gaps.reduce((a, g) => (g.x < a.x ? g : a));
      const hi = gaps.reduce((a, g) => (g.x > a.x ? g : a));
      parts.push(
        gaps.length === 1
          ? `${family} ${ratio(lo.x)} (N = ${lo.N})`
          : `${family} ${ratio(lo.x)} (N = ${lo.N}) to ${ratio(hi.x)} (N = ${hi.N})`,
      );
    }
    targets.push(
      parts.length === 0
        ? { goal, threshold: false, verdict: 'not measured', measured: 'no row has both qkv and onnxruntime-node' }
        : { goal, threshold: false, verdict: 'reported', measured: parts.join('; ') },
    );
  }

  // 6. Peak memory of a long causal sequence, one call in a fresh process.
  {
    const goal = `SDPA forward at N = ${GOAL.longN}, H = ${GOAL.longH}, d = ${GOAL.longD}, causal: peak RSS ≤ ${GOAL.longPeakMB} MB`;
    const m = results.memory.find(
      (r) => r.impl.startsWith('qkv ') && r.N === GOAL.longN && r.H === GOAL.longH && r.d === GOAL.longD && r.causal,
    );
    if (!m || m.status === 'skipped') {
      targets.push({ goal, threshold: true, verdict: 'not measured', measured: m?.note ?? 'not in this run' });
    } else if (m.status !== 'ok' || !m.result) {
      targets.push({ goal, threshold: true, verdict: 'missed', measured: `${m.impl} ${m.status}: ${m.note ?? ''}` });
    } else {
      const mb = (m.result.maxRssKiB * 1024) / 1e6;
      targets.push({
        goal,
        threshold: true,
        verdict: mb <= GOAL.longPeakMB ? 'met' : 'missed',
        measured:
          `${mb.toFixed(0)} MB = ${(m.result.maxRssKiB / 1024).toFixed(0)} MiB peak RSS of the whole process ` +
          `(${(m.result.baselineKiB / 1024).toFixed(0)} MiB before the call; ${m.impl}, one call ${(m.result.ms / 1000).toFixed(1)} s)`,
      });
    }
  }

  // 7. Backward against forward of the same workload and backend.
  {
    const N = GOAL.backwardN;
    const goal = `SDPA backward at N = ${N}, non-causal: ≤ ${GOAL.backwardOverForward}× the forward time`;
    const backward = fastest(results.rows.filter((r) => r.section === 'backward' && r.N === N && r.family === 'qkv'));
    const forward = backward ? forwardOf(results, backward) : null;
    if (!backward) targets.push({ goal, threshold: true, verdict: 'not measured', measured: `no qkv backward row ran at N = ${N}` });
    else if (!forward) targets.push({ goal, threshold: true, verdict: 'not measured', measured: `no ${backward.impl} forward row (sdpa N=${N}) in this run` });
    else {
      const x = median(backward) / median(forward);
      targets.push({
        goal,
        threshold: true,
        verdict: x <= GOAL.backwardOverForward ? 'met' : 'missed',
        measured: `${ratio(x)} (${backward.impl}: backward ${ms(median(backward))}, forward ${ms(median(forward))})`,
      });
    }
  }
  targets.push(...modelTargets(results.models, results.date));
  return targets;
}

/** The timed forward row of a backward row's workload (non-causal SDPA, same N, same implementation), or null. */
function forwardOf(results: Results, backward: Row): Row | null {
  const r = results.rows.find((f) => f.section === 'sdpa' && f.N === backward.N && !f.causal && f.impl === backward.impl);
  return r && isOk(r) ? r : null;
}

// ---- hand-written notes ----

export const NOTES_START = '<!-- notes:start -->';
export const NOTES_END = '<!-- notes:end -->';
const NO_NOTES = '_No notes yet. Text written between the two notes markers of this file is kept when it is regenerated._';

/**
 * The hand-written text between the notes markers of a previous doc, or null when it has none. Throws when the
 * markers are broken, rather than regenerate the doc and lose the text.
 */
export function notesOf(doc: string | null): string | null {
  if (doc === null) return null;
  const start = doc.indexOf(NOTES_START);
  const end = doc.indexOf(NOTES_END);
  if (start === -1 && end === -1) return null;
  if (start === -1 || end === -1 || end < start || doc.indexOf(NOTES_START, start + 1) !== -1 || doc.indexOf(NOTES_END, end + 1) !== -1) {
    throw new Error(
      `bench: docs/BENCHMARKS.md must hold exactly one ${NOTES_START} followed by one ${NOTES_END}; fix the markers so that the hand-written notes are not lost`,
    );
  }
  return doc.slice(start + NOTES_START.length, end).trim();
}

// ---- the doc ----

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? '' : x >= 100 ? x.toFixed(0) : x.toFixed(digits));

/** docs/BENCHMARKS.md for a run; `previousDoc` (the file being replaced) supplies the hand-written notes. */
export function renderDoc(results: Results, previousDoc: string | null): string {
  const plan = planOf(results);
  const { machine, rows } = results;
  const loadNotes = Object.fromEntries(results.impls.filter((i) => i.note !== undefined).map((i) => [i.id, i.note!]));
  const out: string[] = [];
  const p = (line = '') => out.push(line);

  p('# Benchmarks');
  p();
  p('Generated by `npm run bench` (bench/run.ts) from the raw numbers in bench/results/latest.json. Do not edit it by');
  p('hand, except between the notes markers: rerun the benchmark, or regenerate this file from a results file with');
  p('`npm run bench -- --from-json bench/results/latest.json`.');
  p();

  p('## Targets');
  p();
  p(`The Speed issue's targets, checked against this run (${results.date.slice(0, 16).replace('T', ' ')} UTC). "qkv" is`);
  p('its fastest backend on each workload; "A× faster than X" is X\'s median time / qkv\'s on the same workload.');
  p();
  const targets = evaluateTargets(results);
  for (const t of targets) p(`- **${t.verdict}**: ${t.goal}. Measured: ${t.measured}.`);
  p();
  const judged = targets.filter((t) => t.threshold);
  const count = (v: Target['verdict']) => judged.filter((t) => t.verdict === v).length;
  p(
    `Of ${judged.length} targets with a threshold: ${count('met')} met, ${count('missed')} missed` +
      (count('not measured') > 0 ? `, ${count('not measured')} not (fully) measured in this run.` : '.'),
  );
  p();
  p('### Notes (hand-written)');
  p();
  p(NOTES_START);
  p(notesOf(previousDoc) || NO_NOTES);
  p(NOTES_END);
  p();

  p('## This run');
  p();
  const args = results.args.length === 0 ? 'full run (`npm run bench`)' : `partial run (\`npm run bench -- ${results.args.join(' ')}\`)`;
  p(`- Date: ${results.date.slice(0, 16).replace('T', ' ')} UTC; ${args}; it took ${Math.round(results.elapsedS)} s.`);
  p(`- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; ${machine.platform}; Node ${machine.node}.`);
  p(`- Peers: ${Object.entries(machine.packages).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  p(
    `- qkv backends available: ${machine.qkvBackends.join(', ')}; threads of one large "wasm" call: ` +
      `${machine.qkvThreads ?? 'not recorded in this run'}.`,
  );
  p();
  p(`**Noise.** This is a shared ${machine.cores}-core virtual machine, so absolute times can be disturbed by other work`);
  p("(see each row's spread); ratios within one run are more robust. Rerun on a quiet machine before quoting numbers.");
  if (results.loadAvg) {
    const la = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    p(`Load average (1, 5, 15 min) before the first workload: ${la(results.loadAvg.start)}; after the last:`);
    p(`${la(results.loadAvg.end)}. The figures after include the benchmark itself, which keeps one or two cores busy.`);
  } else {
    p('The load average was not recorded in this run (runs record it from now on).');
  }
  p();

  p('## Method');
  p();
  p('- All tensors are fp32 and seeded; every implementation gets the same inputs, already in its own format');
  p('  (layout conversions and graph building are not timed; ONNX graphs are written by bench/onnx.ts).');
  p(`- Each result is validated before it is timed: relative L2 error ≤ ${results.tolerance.toExponential(0)} (TOL.reorder) against qkv's`);
  p(`  reference (float64 accumulation). At N ≤ ${plan.referenceMaxN} that is the full reference output. Above, the full`);
  p(`  reference is too slow, so the oracle is the reference run on ${plan.sampledRows} evenly spaced query rows (attention is`);
  p('  independent per query row, and the causal mask is written out for those rows): every row is still checked against');
  p('  the reference itself, not against another fast backend.');
  p(`- Then untimed warm-up calls for ${plan.box.warmupMs} ms (when the validation call took less than that; JIT and`);
  p('  WebAssembly tier-up need tens to hundreds of calls of a sub-millisecond row), then repetitions for');
  p(`  ${plan.box.budgetMs / 1000} s (at least ${plan.box.minReps}, or 2 for a row of more than ${plan.slowMs / 1000} s per call; at most`);
  p(`  ${plan.box.maxReps}). Reported: the median, the interquartile range and min–max in ms.`);
  p(`- Rows whose validation call took under ${plan.interleaveMs} ms are timed **together**: all the workload's fast rows are`);
  p(`  prepared and warmed up, then take turns in ${plan.rounds} rounds of ${plan.box.budgetMs / plan.rounds / 1000} s each, the first`);
  p('  turn moving on by one implementation every round. A slow or fast spell of this shared machine then falls on');
  p('  every implementation alike, which keeps the ratios between them honest. Slower rows are timed one after another.');
  p('- GFLOP/s = flops / median. SDPA forward: 4·B·H·N·S·d, **the full N×S square also for causal rows**, so a causal');
  p('  kernel that skips the masked half shows up to twice the rate. MHA adds 8·B·N·D² for the four projections.');
  p('  The backward counts 10·B·H·N·S·d (2.5× the forward).');
  p('- "vs qkv best" = this row\'s median / the fastest qkv backend\'s median on the same workload: above 1, qkv is');
  p('  faster by that factor; below 1, the peer is. "—" where no qkv backend ran at that size.');
  p('- "peak RSS" per row is the largest resident set sampled every 5 ms from a worker thread while the row ran, in a');
  p('  process that has run the earlier rows too, so it is an upper bound; "+growth" is that peak minus the RSS when the');
  p('  row started (0 when a runtime reuses memory it kept, e.g. a grown WebAssembly heap). The peak-memory table below');
  p('  is exact: one call in a fresh process, maxRSS from process.resourceUsage().');
  p(`- The reference runs only at N ≤ ${plan.referenceMaxN} (it is the readable float64 specification, about 1 GFLOP/s). A`);
  p(`  row whose projected time per call exceeds ${plan.maxRunMs / 1000} s (from its rate at a smaller N) is skipped and says so.`);
  p();
  p('How each implementation is driven:');
  p();
  for (const i of results.impls) p(`- **${i.id}**: ${i.how}.${loadNotes[i.id] ? ` Skipped in this run: ${loadNotes[i.id]}.` : ''}`);
  p();

  const check = (r: Row) =>
    r.validatedAgainst === 'is the oracle'
      ? 'oracle'
      : `${r.relError?.toExponential(1)} (${r.validatedAgainst === 'reference (full output)' ? 'full' : r.validatedAgainst?.startsWith('reference on') ? 'sampled rows' : r.validatedAgainst})`;
  const timed = (r: Row) => {
    const t = r.timing!;
    return `${fmt(t.medianMs, 2)} | ${fmt(t.q1Ms, 2)}–${fmt(t.q3Ms, 2)} | ${fmt(t.minMs, 2)}–${fmt(t.maxMs, 2)} | ${fmt(r.gflops)}`;
  };
  const rest = (r: Row) =>
    `${r.vsQkvBest === undefined ? '—' : r.vsQkvBest.toPrecision(2)} | ${fmt(r.peakRssMiB, 0)} (+${fmt(r.rssGrowthMiB, 0)}) | ${check(r)}`;

  for (const section of ['sdpa', 'mha'] as const) {
    const sectionRows = rows.filter((r) => r.section === section);
    if (sectionRows.length === 0) continue;
    p(
      section === 'sdpa'
        ? `## SDPA forward (B = 1, H = ${plan.H}, d = ${plan.d}, S = N)`
        : `## MultiHeadAttention forward (self-attention, B = 1, D = ${plan.D}, H = ${plan.H})`,
    );
    p();
    p('| workload | implementation | median ms | IQR ms | min–max ms | GFLOP/s | vs qkv best | peak RSS MiB (+growth) | check |');
    p('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of sectionRows) {
      if (isOk(r)) p(`| ${r.workload} | ${r.impl} | ${timed(r)} | ${rest(r)} |`);
      else p(`| ${r.workload} | ${r.impl} | ${r.status} | | | | | | ${r.note ?? ''} |`);
    }
    p();
  }

  const backwardRows = rows.filter((r) => r.section === 'backward');
  if (backwardRows.length > 0) {
    const N = backwardRows[0].N;
    p(`## SDPA backward (B = 1, H = ${plan.H}, d = ${plan.d}, N = S = ${N}, non-causal)`);
    p();
    p('Only qkv: the peers benchmarked here are inference runtimes. "forward ms" is the median of the same backend\'s');
    p(`\`sdpa N=${N}\` row above (same run, timed earlier, not interleaved); "bwd / fwd" is the backward median over it;`);
    p('"—" where that backend has no forward row at this N.');
    p();
    p('| workload | implementation | median ms | IQR ms | min–max ms | GFLOP/s | forward ms | bwd / fwd | vs qkv best | peak RSS MiB (+growth) | check |');
    p('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of backwardRows) {
      if (!isOk(r)) {
        p(`| ${r.workload} | ${r.impl} | ${r.status} | | | | | | | | ${r.note ?? ''} |`);
        continue;
      }
      const forward = forwardOf(results, r);
      const fwd = forward ? `${fmt(median(forward), 2)} | ${(median(r) / median(forward)).toFixed(2)}` : '— | —';
      p(`| ${r.workload} | ${r.impl} | ${timed(r)} | ${fwd} | ${rest(r)} |`);
    }
    p();
  }

  if (results.memory.length > 0) {
    p('## Peak memory (one forward call in a fresh process)');
    p();
    p('| workload | implementation | peak RSS MiB | RSS before the call MiB | call ms | note |');
    p('| --- | --- | ---: | ---: | ---: | --- |');
    for (const m of results.memory) {
      const r = m.result;
      p(`| ${m.label} | ${m.impl} | ${r ? fmt(r.maxRssKiB / 1024, 0) : m.status} | ${r ? fmt(r.baselineKiB / 1024, 0) : ''} | ${r ? fmt(r.ms, 0) : ''} | ${m.note ?? ''} |`);
    }
    p();
    p('"RSS before the call" is the process after loading its modules and building the inputs. For scale: the score');
    p('matrix of N = 4096, H = 12 is 768 MiB in fp32; that of N = 65536, H = 1 is 16 GiB.');
    p();
  }
  out.push(...renderModels(results.models));
  return out.join('\n');
}
