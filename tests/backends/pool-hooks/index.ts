// Fault injection for the wasm thread pool's tests (threads.test.ts, supervisor.test.ts), and the pool settings that
// every backends test turns. None of it ships: the pool has two seams (poolInternals.threadScript and onJobOpen in
// src/kernels/wasm/pool.ts), and the threads that fail on request are this folder's thread.ts, which runs the
// library's own supervisor and worker loops.
//
// installPoolFaults() must run before the pool starts (at the top of a test file); the threads of every pool started
// after it run thread.ts. They share a fault block with this thread, which names the worker that fails inside the next
// job and how (protocol.ts).

import { setEnvironmentData } from 'node:worker_threads';

import { disposePool, poolInternals, poolStats } from '../../../src/kernels/wasm/pool.js';
import { CTL } from '../../../src/kernels/wasm/worker.js';
import { FAULT, FAULT_BLOCK_KEY, KILL_MODE } from './protocol.js';

export { DEFAULT_POOL_MIN_FLOPS, DEFAULT_SUPERVISOR_SILENCE_MS } from '../../../src/kernels/wasm/pool.js';
export { HOOK_STALL_MS, KILL_MODE } from './protocol.js';

/** How long the caller waits for the worker named by a kill to join the job (as the pool waits for its workers). */
const VICTIM_TIMEOUT_MS = 10_000;

let block: Int32Array | null = null;

/**
 * From now on, the pool's threads are thread.ts, and a job's caller lets the worker named by a kill join the job
 * before it takes units. Ends the current pool, if any, so that the next call starts one of those threads.
 */
export function installPoolFaults(): void {
  if (block) return;
  block = new Int32Array(new SharedArrayBuffer(FAULT.LENGTH * 4));
  setEnvironmentData(FAULT_BLOCK_KEY, block); // every later worker_thread, and its nested ones, gets the same block
  poolInternals.threadScript = new URL('./thread.ts', import.meta.url).href;
  poolInternals.onJobOpen = waitForVictim;
  disposePool();
}

/**
 * The worker named by the kill must take one unit of the job and fail in it before the caller takes every unit: it
 * has joined once it has taken the kill (KILL back to 0). BUSY alone does not say so, since a worker woken by
 * armPool is BUSY while it waits for the job to open. The kill is for one job: it is cleared after it.
 */
function waitForVictim(control: Int32Array): void {
  const b = block!;
  const victim = Atomics.load(b, FAULT.KILL);
  if (victim === 0) return;
  const deaths = Atomics.load(control, CTL.DEATHS);
  const deadline = performance.now() + VICTIM_TIMEOUT_MS;
  while (Atomics.load(b, FAULT.KILL) === victim && Atomics.load(control, CTL.DEATHS) === deaths) {
    if (performance.now() > deadline) break; // the victim may never come (a silent supervisor): waitIdle reports it
    Atomics.wait(control, CTL.PULSE, Atomics.load(control, CTL.PULSE), 5);
  }
  Atomics.store(b, FAULT.KILL, 0);
}

/**
 * The pool's test settings: `minFlops` forces small problems onto the pool (0) or restores the default;
 * `supervisorSilenceMs` sets how long the supervisor's heartbeat may stay still during a call; `kill` makes pool
 * worker `kill.worker` (1-based) take one unit of the next pooled call and fail in it in the given way (KILL_MODE);
 * `endSupervisor` ends the current pool's supervisor thread now, between calls. The last two need installPoolFaults().
 */
export function setPoolTestHooks(options: {
  minFlops?: number;
  kill?: { worker: number; mode: keyof typeof KILL_MODE };
  supervisorSilenceMs?: number;
  endSupervisor?: boolean;
}): void {
  if (options.minFlops !== undefined) poolInternals.minFlops = options.minFlops;
  if (options.supervisorSilenceMs !== undefined) poolInternals.supervisorSilenceMs = options.supervisorSilenceMs;
  if (!options.kill && !options.endSupervisor) return;
  if (!block) throw new Error('setPoolTestHooks: kill and endSupervisor need installPoolFaults() before the pool starts');
  if (options.endSupervisor && poolStats().workers > 0) Atomics.store(block, FAULT.END_SUPERVISOR, 1);
  if (options.kill) {
    Atomics.store(block, FAULT.MODE, KILL_MODE[options.kill.mode]);
    Atomics.store(block, FAULT.KILL, options.kill.worker);
  }
}
