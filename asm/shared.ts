// The one entry point that the thread pool's workers call (src/kernels/wasm/worker.ts): which kernel a job runs is a
// number in the pool's control block, so that a worker needs no knowledge of the kernels themselves.

import { attn_forward_shared } from './attention';
import { attn_backward_shared } from './attention-backward';
import { gemm_shared } from './gemm';

/** Job kinds (abi.ts JOB). */
const JOB_FORWARD: i32 = 0;
const JOB_BACKWARD: i32 = 1;
const JOB_GEMM: i32 = 2;

/** Runs this thread's share of a job of the given kind; returns how many units it ran. */
export function kernel_shared(kind: i32, ctx: usize, scratch: usize): i32 {
  if (kind == JOB_FORWARD) return attn_forward_shared(ctx, scratch);
  if (kind == JOB_BACKWARD) return attn_backward_shared(ctx, scratch);
  if (kind == JOB_GEMM) return gemm_shared(ctx, scratch);
  return 0;
}
