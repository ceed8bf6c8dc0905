// One path through the kernel for every call of the "wasm" backend (attention.ts, attention-backward.ts, gemm.ts,
// self-attention.ts): reserve the call's arena for the threads that will run it, then prepare and run its jobs on the
// pool or on the calling thread.
//
// A call's arena, from the kernel's arenaBase, each region 16-byte aligned: the regions the call plans (context blocks,
// inputs, outputs), then one scratch region per thread (the caller's, then one per pool worker), then a slack that a
// SIMD tail may read past the last region (LAYOUT.TAIL_SLACK_BYTES). Every call rewrites it, so nothing from one call
// is visible to the next; the memory keeps its high-water size.

import { type JobKind, LAYOUT, SLOT } from './abi.js';
import { type Pool, runOnPool } from './pool.js';
import { ArenaCursor, type WasmKernel, reserveArena } from './runtime.js';

/** A call whose arena is reserved: its planned regions, and the threads that will run its jobs. */
export interface Call<L> {
  kernel: WasmKernel;
  /** The regions the call planned. */
  layout: L;
  /** The pool its jobs may use; null: the calling thread alone. */
  pool: Pool | null;
  /** The first thread's scratch region; thread t's is at scratch + t · stride. */
  scratch: number;
  stride: number;
  /** The memory, as it is after the reservation (growing it replaces the buffer). */
  buffer: ArrayBufferLike;
}

/**
 * Plans a call's regions (`plan` takes them from the cursor it is given) and reserves them with a scratch region of
 * `stride` bytes for each thread of `pool` and for the caller. When the workers' scratch does not fit the memory, it
 * plans again for the calling thread alone, without the pool. Null when even that does not fit: the caller declines
 * and the reference runs.
 */
export function reserveCall<L>(
  k: WasmKernel,
  pool: Pool | null,
  stride: number,
  plan: (arena: ArenaCursor) => L,
): Call<L> | null {
  const attempt = (pooled: Pool | null): Call<L> | null => {
    const arena = new ArenaCursor(k);
    const layout = plan(arena);
    const scratch = arena.take(stride * (1 + (pooled?.workers ?? 0)));
    arena.take(LAYOUT.TAIL_SLACK_BYTES);
    if (!reserveArena(k, arena.end - k.arenaBase)) return null;
    return { kernel: k, layout, pool: pooled, scratch, stride, buffer: k.memory.buffer };
  };
  return (pool && attempt(pool)) || attempt(null);
}

/** A job of a call: the kernel it runs and its context block. */
export interface Job {
  kind: JobKind;
  /** Byte address of its context block, written by the caller. */
  ctx: number;
}

/** Runs the kernel's prepare for a written job (units, scratch size, flags, the work counter); returns its slots. */
export function prepareJob(call: Call<unknown>, job: Job): Int32Array {
  call.kernel.exports.job_prepare(job.kind, job.ctx);
  return new Int32Array(call.buffer, job.ctx, LAYOUT.CTX_SLOTS);
}

/**
 * Runs every unit of a prepared job: on `pool` (the call's, unless given) and the calling thread, or on the calling
 * thread alone. `meanwhile` runs on the calling thread first: with a pool, once the workers have been told to start,
 * so that work which does not touch the job's memory (allocating the results, copying the next step's inputs) costs
 * the call its time divided by the threads (see runOnPool).
 */
export function runJob(call: Call<unknown>, job: Job, meanwhile?: () => void, pool: Pool | null = call.pool): void {
  const units = new Int32Array(call.buffer, job.ctx, LAYOUT.CTX_SLOTS)[SLOT.UNITS];
  if (pool) runOnPool(pool, job.kind, job.ctx, call.scratch, call.stride, units, meanwhile);
  else {
    meanwhile?.();
    call.kernel.exports.job_run(job.kind, job.ctx, call.scratch);
  }
}
