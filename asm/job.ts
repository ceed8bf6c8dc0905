// A job: one kernel's work on one context block, split into units that any thread may take. The wrapper calls
// job_prepare once, then job_run on the calling thread and on every pool worker that joins (src/kernels/wasm/worker.ts);
// which kernel runs is the job's kind (asm/abi.ts JOB), a number in the pool's control block, so that a worker needs
// no knowledge of the kernels. Each thread takes the next unit from the atomic counter in the context block until none
// is left (OpenMP's dynamic schedule); a unit is computed by one thread in a fixed order, so results do not depend on
// which thread takes which unit, or on how many threads there are.

import { JOB_BACKWARD, JOB_FORWARD, SLOT_NEXT_UNIT, SLOT_UNITS, slot } from './abi';
import { backwardPrepare, backwardUnit, loadBackward } from './attention-backward';
import { forwardPrepare, forwardUnit, loadContext } from './attention';
import { gemmPrepare, gemmUnit, loadGemm } from './gemm';

/** Once per job, before any thread runs it: the kernel's prepare (units, scratch, flags), and the counter reset. */
export function job_prepare(kind: i32, ctx: usize): void {
  if (kind == JOB_FORWARD) forwardPrepare(ctx);
  else if (kind == JOB_BACKWARD) backwardPrepare(ctx);
  else gemmPrepare(ctx);
  atomic.store<i32>(ctx + (<usize>SLOT_NEXT_UNIT << 2), 0);
}

/** Takes units of a prepared job until none is left, with this thread's scratch; returns how many this thread ran. */
export function job_run(kind: i32, ctx: usize, scratch: usize): i32 {
  if (kind == JOB_FORWARD) loadContext(ctx, scratch);
  else if (kind == JOB_BACKWARD) loadBackward(ctx, scratch);
  else loadGemm(ctx, scratch);
  const units = slot(ctx, SLOT_UNITS);
  let ran = 0;
  for (;;) {
    const u = atomic.add<i32>(ctx + (<usize>SLOT_NEXT_UNIT << 2), 1);
    if (u >= units) break;
    if (kind == JOB_FORWARD) forwardUnit(u);
    else if (kind == JOB_BACKWARD) backwardUnit(u);
    else gemmUnit(u);
    ran++;
  }
  return ran;
}
