// The wasm backend's thread pool: more cores for one synchronous call. Every kernel's work units (attention forward:
// a flattened batch index and a query tile of 64 rows; backward: a batch index and a chunk of query tiles; GEMM: a
// block of the output) are independent and each is computed by one thread in a fixed order (asm/), so the results
// are bitwise the same for any thread count. A job names its kernel in the control block (CTL.KIND).
//
// Threads: the caller (thread 0), a supervisor, and W workers (worker.ts; the script they run is worker-entry.ts), all
// on one shared WebAssembly.Memory.
// One call (a "job"), as the caller runs it:
//   0. optionally arms the pool (armPool: ARMED = GEN = a new generation, notifies GEN), so that the workers wake
//      while it copies its inputs and spin until the job opens instead of being woken then;
//   1. writes the problem into the memory (attention.ts, attention-backward.ts, gemm.ts) and prepares the job
//      (job.ts: the kernel's prepare, which resets the unit counter);
//   2. writes ctx, scratch and the kind into the control block, sets OPEN = GEN = next generation, notifies GEN;
//   3. does its side work (allocating its results) while the workers start, then takes units itself from the
//      kernel's atomic counter (job_run) until none is left;
//   4. closes the job (OPEN = 0), spins briefly, then blocks in Atomics.wait(PULSE) until no worker is BUSY, or
//      until the supervisor's heartbeat has been still for SUPERVISOR_SILENCE_MS;
//   5. fails the call if a worker died inside it (DEATHS moved) or the supervisor stopped (the heartbeat did).
// A worker sets BUSY before it reads OPEN, and the caller clears OPEN before it reads BUSY, so a worker either
// joins the job and is waited for, or sees it closed and touches nothing. A slow worker therefore never delays a
// call and never runs with a stale context; no unit is run twice (the counter) or skipped (the caller waits for
// every worker that took one).
//
// Deaths: while the caller blocks, its own event loop is stopped, so it cannot see a Worker's 'exit' event. The
// supervisor, whose loop is free, sees it, counts the death in DEATHS if the worker was BUSY, clears its BUSY,
// wakes the caller, and spawns a replacement. The call then fails with a WorkerError naming the worker and why it died;
// the next call runs normally (the replacement joins when it is ready, and jobs do not wait for it).
// The supervisor's own death has no witness: its workers end with it (nested workers), their BUSY stays set and
// nobody pulses. So the supervisor bumps HEARTBEAT every HEARTBEAT_MS (worker.ts), and a caller that waits for
// BUSY workers gives up once the heartbeat has been still for SUPERVISOR_SILENCE_MS (seen at two checks in a row,
// one wait slice apart). It then stops that pool (STOP; its control block is never used again) and fails the
// call with a WorkerError; the next call starts a new pool, with a new supervisor and control block. A supervisor
// that stops between calls is seen on the caller's event loop (its 'exit'), and the next call starts a new pool too;
// after MAX_SUPERVISOR_LOSSES such losses, or when the supervisor never ran, calls use one thread.
//
// Survivors: a worker outlives a silent supervisor only if the supervisor was not dead but starved of CPU for
// SUPERVISOR_SILENCE_MS (hence the generous default); a dead supervisor's workers end with it (Node joins a
// worker's nested workers as it exits; a closed Web Worker's workers are terminated). A survivor cannot join a
// later job: OPEN is 0 and STOP is 1 in the given-up control block, which no later job uses. But it may still be
// inside job_run of the job given up: it would finish its current unit, writing that job's rows and its
// scratch into the arena, then read the context's counter, which the next call's prepare resets when its context
// block lands at the same address, and run a unit of the next job with the old job's pointers. So the pool given
// up is stopped (STOP) but not terminated, and the next call, before it writes to the memory, waits in poolFor
// (settleRetired) until that pool's BUSY workers have left, for as long as its supervisor's heartbeat says it is
// alive; then it ends the pool's threads. Only a supervisor that stays silent through both waits while its worker
// runs could leave a survivor writing into a later call.
//
// Where threads cannot run, calls use one thread: no SharedArrayBuffer (a page without cross-origin isolation, so
// the runtime loaded the plain-memory build), a browser's main thread (it may not block in Atomics.wait), or no
// worker support. In Node the caller blocks until the workers are ready when it creates the pool (they start on
// their own threads and need nothing from the caller's event loop); in a browser worker it does not wait, and
// workers join the jobs that start after they are ready.
//
// One pool per JavaScript realm (each worker_thread that calls the library has its own kernel, memory and pool),
// so calls from different threads never share a pool. Within a realm the API is synchronous and calls cannot
// overlap; a guard turns a re-entrant call into an error instead of a corrupted arena.

import { ArgumentError, QkvError, WorkerError } from '../../core/errors.js';
import { describe } from '../../core/tensor.js';
import type { JobKind } from './abi.js';
import { WASM_SHARED_BASE64 } from './module.generated.js';
import { type WasmKernel, getKernel } from './runtime.js';
import {
  CTL,
  HEARTBEAT_MS,
  MAX_WORKERS,
  type ThreadEvents,
  type ThreadHandle,
  type ThreadInit,
  WEB_NAME,
  nodeWorkerThreads,
  spawnThread,
  watchWebThread,
  webWorkerConstructor,
} from './worker.js';

/** The default thread count is the number of cores, at most this many. */
const MAX_DEFAULT_THREADS = 8;
/**
 * Below this many flops (4·batch·N·S·d) a call runs on one thread: waking the pool costs more than it saves. On 2
 * cores, 4 Mflop (about 130 µs on one thread) gained nothing from a second thread and 8 Mflop about 1.2×.
 */
const DEFAULT_MIN_FLOPS = 1 << 23;
/**
 * How long the caller waits in Node, when it creates the pool, for the supervisor to run and then for the workers
 * to be ready, before it goes on without the late ones (they join later jobs). A supervisor that cannot start at
 * all (for example a bundle without worker.js) is seen after the call, and turns the pool off.
 */
const SUPERVISOR_TIMEOUT_MS = 5_000;
const READY_TIMEOUT_MS = 10_000;
/** The caller's Atomics.wait slices (it re-checks the control block after each). */
const WAIT_SLICE_MS = 100;
/**
 * How long the caller spins for the last workers to leave a job before it blocks in Atomics.wait. A worker is then
 * at most one unit from done (tens of µs on small problems), and being woken from Atomics.wait costs about as much.
 */
const CALLER_SPIN_MS = 0.25;
/**
 * How long the supervisor's heartbeat (every HEARTBEAT_MS) may stay still, while the caller waits for BUSY workers,
 * before the caller gives the pool up. Sixty beats, so that a supervisor that is merely descheduled on an overloaded
 * machine, or slowed by a long garbage collection, is not declared dead.
 */
const SUPERVISOR_SILENCE_MS = 60 * HEARTBEAT_MS; // 3 s

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
}

/** The receiving side of the supervisor's reports; Node reads it synchronously, browsers do not. */
interface ReportPort {
  receive(): { index: number; reason: string } | undefined;
  close(): void;
}

export interface Pool {
  kernel: WasmKernel;
  workers: number;
  control: Int32Array;
  supervisor: ThreadHandle;
  report: ReportPort | null;
  /** Set when the supervisor itself has gone (seen on the caller's event loop, between calls). */
  gone: string | null;
}

let requested: number | null = null; // null: the default
let pool: Pool | null = null;
let disabled: string | null = null; // why the pool could not start here; calls then use one thread
let sharedModule: object | null = null;
let running = false;
/** Supervisors that stopped between calls (see poolFor). */
let supervisorLosses = 0;
const MAX_SUPERVISOR_LOSSES = 3;
/** A pool given up because its supervisor went silent during a call (retire), until the next call settles it. */
let retired: { pool: Pool; heartbeat: Heartbeat } | null = null;

/**
 * Settings and seams for tests, not part of the public API (src/index.ts does not export this module). The fault
 * injection that uses the seams lives with the tests (tests/backends/pool-hooks/).
 */
export const poolInternals = {
  /** Below this many flops a call runs on one thread; 0 sends every call of two or more units to the pool. */
  minFlops: DEFAULT_MIN_FLOPS,
  /** How long the supervisor's heartbeat may stay still, while the caller waits for BUSY workers, before it gives up. */
  supervisorSilenceMs: SUPERVISOR_SILENCE_MS,
  /**
   * Node: the URL of the script that the threads of pools created from now on run, instead of worker-entry: one that
   * calls worker.ts's runSupervisor and runWorker with its own kernel and supervisor (a TypeScript file runs through
   * tsx). null: worker-entry.
   */
  threadScript: null as string | null,
  /** Called on the calling thread just after a job opens, before the caller takes units of it. */
  onJobOpen: null as ((control: Int32Array) => void) | null,
};
/** Counters for tests and benchmarks: jobs run on the pool, their units, and who ran them. */
const stats = { jobs: 0, units: 0, callerUnits: 0, workerUnits: 0 };

function defaultThreads(): number {
  const os = (globalThis as { process?: { getBuiltinModule?(id: string): unknown } }).process?.getBuiltinModule?.(
    'node:os',
  ) as { availableParallelism?(): number; cpus(): unknown[] } | undefined;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  const cores = os ? (os.availableParallelism?.() ?? os.cpus().length) : (nav?.hardwareConcurrency ?? 1);
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, cores));
}

/** Why threads cannot run here (with this kernel), or null when they can. */
function unsupported(k: WasmKernel | null): string | null {
  if (disabled) return disabled;
  if (!k) return 'the wasm kernel is not loaded';
  if (!k.shared) return 'SharedArrayBuffer is not available (a page needs cross-origin isolation)';
  if ('document' in globalThis) return "a browser's main thread may not block in Atomics.wait";
  if (!nodeWorkerThreads() && typeof (globalThis as { Worker?: unknown }).Worker !== 'function') {
    return 'no worker threads here';
  }
  return null;
}

/**
 * Sets how many threads the "wasm" backend uses for one large call: the calling thread plus n − 1 pool workers.
 * 1 runs everything on the calling thread (and ends the pool). Results do not depend on n. Where threads cannot
 * run (no SharedArrayBuffer, or a browser's main thread), calls use one thread whatever n is.
 * @param n an integer from 1 to 64
 * @default the number of cores, at most 8
 * @example setNumThreads(4)
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS + 1) {
    throw new ArgumentError(`setNumThreads: n must be an integer from 1 to ${MAX_WORKERS + 1}; got ${describe(n)}`);
  }
  requested = n;
  if (pool && pool.workers !== n - 1) disposePool();
}

/** The number of threads a large "wasm" call uses here: the {@link setNumThreads} choice, or 1 where threads cannot run. */
export function getNumThreads(): number {
  if (unsupported(getKernel())) return 1;
  return requested ?? defaultThreads();
}

/** Ends the pool's threads; the next call that needs them starts new ones. */
export function disposePool(): void {
  const p = pool;
  if (!p) return;
  pool = null;
  stopPool(p);
}

function stopPool(p: Pool): void {
  Atomics.store(p.control, CTL.STOP, 1);
  Atomics.add(p.control, CTL.GEN, 1);
  Atomics.notify(p.control, CTL.GEN);
  p.report?.close();
  void p.supervisor.terminate(); // a Worker's nested workers end with it
}

/**
 * The pool for a call of `flops` work in `units` units on kernel k, or null to run it on the calling thread
 * (threads unsupported or turned off, or a problem too small to be worth waking the pool).
 */
export function poolFor(k: WasmKernel, units: number, flops: number): Pool | null {
  if (retired) settleRetired(); // before this call writes to the memory, pooled or not
  if (units < 2 || flops < poolInternals.minFlops) return null;
  const threads = getNumThreads();
  if (threads < 2) return null;
  if (pool && (pool.gone || pool.kernel !== k || Atomics.load(pool.control, CTL.BROKEN) === 1)) {
    if (Atomics.load(pool.control, CTL.BROKEN) === 1) disabled = `a pool worker could not start: ${lastReason(pool)}`;
    if (pool.gone) {
      // A supervisor that ran and then stopped between calls is replaced, a few times; one that never ran (its script
      // could not load) or keeps stopping turns the pool off.
      supervisorLosses++;
      const ran = Atomics.load(pool.control, CTL.SUPERVISOR) === 1;
      if (!ran || supervisorLosses >= MAX_SUPERVISOR_LOSSES) {
        disabled = `the pool's supervisor thread stopped: ${pool.gone}`;
      }
    }
    disposePool();
    if (disabled) return null;
  }
  pool ??= createPool(k, threads - 1);
  return pool;
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Node: the URL of the script pool threads run, and tsx's ESM API when it is TypeScript (run through tsx: tests).
 * Browsers: none here; the supervisor's script is the bundler's (startWebSupervisor) and its workers use its URL.
 */
function scriptUrls(): { script: string; tsx: string | null } {
  if (!nodeWorkerThreads()) return { script: '', tsx: null };
  const here = import.meta.url;
  const entry = here.endsWith('.ts') ? './worker-entry.ts' : './worker-entry.js';
  const script = poolInternals.threadScript ?? new URL(entry, here).href;
  // The ESM entry of tsx (its CommonJS twin cannot be import()ed).
  return { script, tsx: script.endsWith('.ts') ? import.meta.resolve('tsx/esm/api') : null };
}

function createPool(k: WasmKernel, workers: number): Pool | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly!;
  sharedModule ??= new wasm.Module(decodeBase64(WASM_SHARED_BASE64));
  const control = new Int32Array(new SharedArrayBuffer(CTL.LENGTH * 4));
  const threads = nodeWorkerThreads();
  const init: ThreadInit = {
    qkvWasmPool: 'supervisor',
    index: 0,
    workers,
    module: sharedModule,
    memory: k.memory,
    control,
    ...scriptUrls(),
  };
  let report: ReportPort | null = null;
  const transfer: unknown[] = [];
  if (threads) {
    const { MessageChannel, receiveMessageOnPort } = threads as unknown as typeof import('node:worker_threads');
    const channel = new MessageChannel();
    channel.port1.unref();
    init.report = channel.port2;
    transfer.push(channel.port2);
    report = {
      receive: () => receiveMessageOnPort(channel.port1)?.message as { index: number; reason: string } | undefined,
      close: () => channel.port1.close(),
    };
  }
  const p: Pool = { kernel: k, workers, control, supervisor: null!, report, gone: null };
  const events: ThreadEvents = {
    onGone: (why) => {
      p.gone = why;
    },
    onMessage: () => {},
  };
  try {
    p.supervisor = threads ? spawnThread(init, events, transfer) : startWebSupervisor(init, events);
  } catch (e) {
    disabled = `the pool could not start: ${e instanceof Error ? e.message : String(e)}`;
    return null;
  }
  if (threads && !waitReady(p)) {
    disabled = `a pool worker could not start: ${lastReason(p)}`;
    pool = p;
    disposePool();
    return null;
  }
  return p;
}

/**
 * A browser's supervisor: a module Web Worker on worker-entry.js, written as the one `new Worker(new URL('…',
 * import.meta.url), { type: 'module' })` expression that bundlers (Vite, webpack) recognise: they build
 * worker-entry.ts into a script of its own and put its URL here. Unbundled (dist/ served as is), it is
 * dist/kernels/wasm/worker-entry.js.
 */
function startWebSupervisor(init: ThreadInit, events: ThreadEvents): ThreadHandle {
  const Worker = webWorkerConstructor();
  if (!Worker) throw new Error('no Worker constructor here');
  const worker = new Worker(new URL('./worker-entry.js', import.meta.url), { type: 'module', name: WEB_NAME });
  return watchWebThread(worker, init, events);
}

/** Blocks until every worker is ready (or a timeout passes); false when a worker could not start. */
function waitReady(p: Pool): boolean {
  const ctl = p.control;
  const started = performance.now();
  for (;;) {
    const seen = Atomics.load(ctl, CTL.PULSE);
    if (Atomics.load(ctl, CTL.BROKEN) === 1) return false;
    let ready = 0;
    for (let i = 1; i <= p.workers; i++) ready += Atomics.load(ctl, CTL.READY + i);
    if (ready === p.workers) return true;
    const waited = performance.now() - started;
    if (Atomics.load(ctl, CTL.SUPERVISOR) === 0 ? waited > SUPERVISOR_TIMEOUT_MS : waited > READY_TIMEOUT_MS) {
      return true;
    }
    Atomics.wait(ctl, CTL.PULSE, seen, WAIT_SLICE_MS);
  }
}

/** The supervisor's latest report, as text. */
function lastReason(p: Pool): string {
  let last: { index: number; reason: string } | undefined;
  for (let m = p.report?.receive(); m; m = p.report?.receive()) last = m;
  return last ? `worker ${last.index}: ${last.reason}` : 'no reason was reported';
}

/** The next job generation: never 0, which means "closed". */
function nextGeneration(ctl: Int32Array): number {
  return (Atomics.load(ctl, CTL.GEN) + 1) | 0 || 1;
}

/**
 * Wakes the workers that a job of `units` units will use, before the caller writes the problem into the memory, so
 * that they are awake (spinning, see worker.ts) when {@link runOnPool} opens the job: being woken from Atomics.wait
 * takes tens of µs, as long as a small call's copies. Optional; a worker that stops spinning is woken by the open.
 */
export function armPool(p: Pool, units: number): void {
  if (running) return; // runOnPool reports the re-entry
  const ctl = p.control;
  const gen = nextGeneration(ctl);
  Atomics.store(ctl, CTL.ARMED, gen);
  Atomics.store(ctl, CTL.GEN, gen);
  Atomics.notify(ctl, CTL.GEN, Math.min(p.workers, units - 1));
}

function busyCount(p: Pool): number {
  let busy = 0;
  for (let i = 1; i <= p.workers; i++) busy += Atomics.load(p.control, CTL.BUSY + i);
  return busy;
}

/**
 * Runs every unit of the prepared job of kind `kind` (attention forward, backward or GEMM) whose context block is at
 * `ctx` on the pool and the calling thread (job.ts runJob is the one caller). Scratch regions of `stride` bytes start
 * at `scratch`: the caller's, then one per worker. Throws a WorkerError when a worker dies inside the job (its units
 * are lost). `meanwhile` runs on the calling thread once the workers have been told to start, before the caller takes
 * its share of units (which the workers then take instead): work that does not touch the job's memory, such as
 * allocating the caller's results, costs the call its time divided by the threads.
 */
export function runOnPool(
  p: Pool,
  kind: JobKind,
  ctx: number,
  scratch: number,
  stride: number,
  units: number,
  meanwhile?: () => void,
): void {
  if (running) throw new QkvError('wasm backend: a call re-entered the thread pool while another call was running');
  running = true;
  try {
    const ctl = p.control;
    const heartbeat = watchHeartbeat(ctl);
    const deaths = Atomics.load(ctl, CTL.DEATHS);
    const workerUnits = Atomics.load(ctl, CTL.WORKER_UNITS);
    Atomics.store(ctl, CTL.CTX, ctx);
    Atomics.store(ctl, CTL.SCRATCH, scratch);
    Atomics.store(ctl, CTL.STRIDE, stride);
    Atomics.store(ctl, CTL.KIND, kind);
    const gen = nextGeneration(ctl);
    Atomics.store(ctl, CTL.OPEN, gen);
    Atomics.store(ctl, CTL.GEN, gen);
    Atomics.notify(ctl, CTL.GEN, Math.min(p.workers, units - 1));
    poolInternals.onJobOpen?.(ctl);

    let mine = 0;
    let silence = 0;
    try {
      meanwhile?.();
      mine = p.kernel.exports.job_run(kind, ctx, scratch);
    } finally {
      Atomics.store(ctl, CTL.OPEN, 0);
      silence = waitIdle(p, heartbeat);
      if (silence > 0) retire(p, heartbeat);
    }

    if (silence > 0) {
      throw new WorkerError(
        `wasm backend: the thread pool's supervisor thread stopped (no heartbeat for ${Math.round(silence)} ms) ` +
          "during this call, so the call's results are lost. The next call starts a new pool; " +
          'setNumThreads(1) avoids threads.',
      );
    }
    if (Atomics.load(ctl, CTL.DEATHS) !== deaths) {
      throw new WorkerError(
        `wasm backend: thread pool ${lastReason(p)} (it died during this call, so the call's results are lost). ` +
          'The pool has started a replacement and the next call runs normally; setNumThreads(1) avoids threads.',
      );
    }
    stats.jobs++;
    stats.units += units;
    stats.callerUnits += mine;
    stats.workerUnits += Atomics.load(ctl, CTL.WORKER_UNITS) - workerUnits;
  } finally {
    running = false;
  }
}

/**
 * Blocks until no worker is inside a job, spinning at first (see CALLER_SPIN_MS). Returns 0, or, when the
 * supervisor stopped while workers were BUSY (they can no longer leave), how long its heartbeat had been still.
 */
function waitIdle(p: Pool, heartbeat: Heartbeat): number {
  const ctl = p.control;
  const spinUntil = performance.now() + CALLER_SPIN_MS;
  for (;;) {
    const seen = Atomics.load(ctl, CTL.PULSE);
    if (busyCount(p) === 0) return 0;
    if (performance.now() < spinUntil) continue;
    const silence = supervisorSilence(ctl, heartbeat);
    if (silence > 0) return silence;
    Atomics.wait(ctl, CTL.PULSE, seen, waitSlice());
  }
}

/** The supervisor's heartbeat as one call sees it: the last value, when it was seen to change, and a first miss. */
interface Heartbeat {
  beat: number;
  changedAt: number;
  overdue: boolean;
}

function watchHeartbeat(ctl: Int32Array): Heartbeat {
  return { beat: Atomics.load(ctl, CTL.HEARTBEAT), changedAt: performance.now(), overdue: false };
}

/**
 * 0 while the supervisor lives; once it is taken for dead, how long its heartbeat has been still. Called once per
 * wait slice. It is declared dead at the second check in a row that finds the heartbeat still for the silence
 * window: threads that were all stopped together (a paused process) resume together, and the supervisor's overdue
 * timer then beats within a slice.
 */
function supervisorSilence(ctl: Int32Array, h: Heartbeat): number {
  const beat = Atomics.load(ctl, CTL.HEARTBEAT);
  const now = performance.now();
  if (beat !== h.beat) {
    h.beat = beat;
    h.changedAt = now;
    h.overdue = false;
    return 0;
  }
  const still = now - h.changedAt;
  if (still < poolInternals.supervisorSilenceMs) return 0;
  if (!h.overdue) {
    h.overdue = true;
    return 0;
  }
  return still;
}

/** The caller's Atomics.wait slice: short enough to check a (test-lowered) silence window a few times. */
function waitSlice(): number {
  return Math.min(WAIT_SLICE_MS, poolInternals.supervisorSilenceMs / 2);
}

/**
 * Gives up a pool whose supervisor went silent during a call: STOP, so that a worker still alive leaves, and no
 * later call uses it (the next starts a new pool, with a new control block). Its threads are ended by the next
 * call's poolFor (settleRetired), once a survivor, if any, has left the job.
 */
function retire(p: Pool, heartbeat: Heartbeat): void {
  if (pool === p) pool = null;
  Atomics.store(p.control, CTL.STOP, 1);
  Atomics.add(p.control, CTL.GEN, 1);
  Atomics.notify(p.control, CTL.GEN);
  if (retired) stopPool(retired.pool); // settled by every poolFor, so only a pool that no call followed
  retired = { pool: p, heartbeat };
}

/**
 * Before a call writes to the memory: waits until the BUSY workers of a pool given up (retire) have left its job,
 * for as long as its supervisor beats (it was starved, not dead, and a worker may be finishing a unit of the job
 * given up, in the arena; see the header), at most READY_TIMEOUT_MS; then ends its threads. A dead supervisor's
 * workers ended with it, and its heartbeat is already known to be still: no wait.
 */
function settleRetired(): void {
  const { pool: p, heartbeat } = retired!;
  retired = null;
  const ctl = p.control;
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    const seen = Atomics.load(ctl, CTL.PULSE);
    if (busyCount(p) === 0 || supervisorSilence(ctl, heartbeat) > 0 || performance.now() > deadline) break;
    Atomics.wait(ctl, CTL.PULSE, seen, waitSlice());
  }
  stopPool(p);
}

/**
 * Counters of pooled calls (jobs, units, units the calling thread ran, units the workers ran), and the current pool's
 * workers and how many of them are ready, for tests and benchmarks.
 */
export function poolStats(): {
  jobs: number;
  units: number;
  callerUnits: number;
  workerUnits: number;
  workers: number;
  ready: number;
} {
  let ready = 0;
  for (let i = 1; pool && i <= pool.workers; i++) ready += Atomics.load(pool.control, CTL.READY + i);
  return { ...stats, workers: pool?.workers ?? 0, ready };
}

export const DEFAULT_POOL_MIN_FLOPS = DEFAULT_MIN_FLOPS;
export const DEFAULT_SUPERVISOR_SILENCE_MS = SUPERVISOR_SILENCE_MS;
