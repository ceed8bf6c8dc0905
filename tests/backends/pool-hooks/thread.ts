// The script the pool's threads run once index.ts's installPoolFaults() has been called: the library's own supervisor
// and worker loops (src/kernels/wasm/worker.ts), around a kernel whose job_run fails when the fault block says so,
// and a supervisor that acts on its failing workers' requests (terminate me, end yourself) and ends itself when
// the block asks. Node only.

import { getEnvironmentData } from 'node:worker_threads';

import { SLOT } from '../../../src/kernels/wasm/abi.js';
import {
  CTL,
  type PoolKernel,
  type PortLike,
  type ThreadInit,
  instantiateKernel,
  runSupervisor,
  runWorker,
  whenPoolThread,
} from '../../../src/kernels/wasm/worker.js';
import { FAULT, FAULT_BLOCK_KEY, HOOK_STALL_MS, KILL_MODE } from './protocol.js';

const block = getEnvironmentData(FAULT_BLOCK_KEY) as Int32Array;

/** Takes one unit from the job's counter, so that its rows are lost, then fails in the given way. */
function die(init: ThreadInit, parent: PortLike | null, ctx: number, mode: number): never {
  Atomics.add(new Int32Array(init.memory.buffer), (ctx >> 2) + SLOT.NEXT_UNIT, 1);
  const ctl = init.control;
  if (mode === KILL_MODE.TERMINATE && parent) {
    parent.postMessage({ terminateMe: init.index });
    for (;;) Atomics.wait(ctl, CTL.STOP, 0); // blocks until the supervisor terminates this thread
  }
  if (mode === KILL_MODE.SUPERVISOR && parent) {
    parent.postMessage({ exitSupervisor: init.index });
    // Blocks, BUSY, until this thread ends with its supervisor (nobody notifies STOP; the loop only guards against
    // a spurious wake-up).
    while (Atomics.load(ctl, CTL.STOP) === 0) Atomics.wait(ctl, CTL.STOP, 0);
  }
  if (mode === KILL_MODE.EXIT) process.exit(3);
  throw new Error(`test hook: pool worker ${init.index} failed inside a job`);
}

/** The kernel of worker init.index, which fails inside the first job it joins while KILL names it. */
function failingKernel(init: ThreadInit, parent: PortLike | null): PoolKernel {
  const kernel = instantiateKernel(init);
  const i = init.index;
  return {
    job_run(kind, ctx, scratch) {
      if (Atomics.load(block, FAULT.KILL) === i && Atomics.compareExchange(block, FAULT.KILL, i, 0) === i) {
        const mode = Atomics.load(block, FAULT.MODE);
        if (mode === KILL_MODE.STALL) Atomics.wait(init.control, CTL.STOP, 0, HOOK_STALL_MS);
        else die(init, parent, ctx, mode);
      }
      return kernel.job_run(kind, ctx, scratch);
    },
  };
}

function superviseWithFaults(init: ThreadInit): void {
  runSupervisor(init, (i, message, child) => {
    const m = message as { terminateMe?: number; exitSupervisor?: number } | null;
    if (m?.terminateMe === i) void child?.terminate(); // TERMINATE: the worker is killed while it blocks in a job
    if (m?.exitSupervisor === i) process.exit(4); // SUPERVISOR: this thread ends, and its workers with it
  });
  // END_SUPERVISOR: this supervisor stops between calls (the caller sees its 'exit' on its event loop).
  // A stopped pool's supervisor (given up, or ending) leaves the request to the current one.
  const poll = setInterval(() => {
    if (Atomics.load(init.control, CTL.STOP) === 1) return;
    if (Atomics.compareExchange(block, FAULT.END_SUPERVISOR, 1, 0) === 1) process.exit(4);
  }, 5);
  poll.unref();
}

whenPoolThread((init, parent) => {
  if (init.qkvWasmPool === 'supervisor') superviseWithFaults(init);
  else runWorker(init, failingKernel(init, parent));
});
