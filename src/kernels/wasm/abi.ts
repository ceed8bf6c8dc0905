// The ABI between the TypeScript wrapper and the AssemblyScript kernels (asm/, one module). The numbers (the context
// block's slots, the job kinds, the causal codes, the tile and block sizes) are declared once, in asm/abi.ts; the
// build (tools/build-wasm.mjs) generates them into module.generated.ts beside the binaries, and this file passes them
// on. What is written here is only what TypeScript needs besides: the names of the causal rules, and the types of the
// module's exports. The loader (runtime.ts) checks the module's abi_signature() against the generated ABI_SIGNATURE.

import type { CausalAlignment } from '../../reference/attention.js';
import { CAUSAL, JOB } from './module.generated.js';

export { ABI_SIGNATURE, CAUSAL, GEMM_SLOT, JOB, LAYOUT, SLOT, TILE } from './module.generated.js';

/** A job's kind: the kernel it runs. */
export type JobKind = (typeof JOB)[keyof typeof JOB];

/** The code of each causal rule in SLOT.CAUSAL. */
export const CAUSAL_CODE: Readonly<Record<CausalAlignment, number>> = {
  none: CAUSAL.NONE,
  'top-left': CAUSAL.TOP_LEFT,
  'bottom-right': CAUSAL.BOTTOM_RIGHT,
};

/** The kernel's exports (all numbers are i32; pointers are byte addresses). */
export interface KernelExports {
  /** Once per job: the kernel's unit count, scratch size and flags in the context block; resets the work counter. */
  job_prepare(kind: JobKind, ctx: number): void;
  /** Takes units of a prepared job until none is left, with one thread's scratch; returns how many it ran. */
  job_run(kind: JobKind, ctx: number, scratch: number): number;
  /** Scratch bytes one forward thread needs for head sizes d and dv. */
  attn_scratch_bytes(d: number, dv: number): number;
  /** Scratch bytes one backward thread needs for head sizes d, dv and S keys. */
  attn_backward_scratch_bytes(d: number, dv: number, S: number): number;
  /** Sums dq and the dk, dv partials of a backward job into the inputs' layouts, in a fixed order (one thread). */
  attn_backward_reduce(ctx: number): void;
  /** 1 when all n floats at p are finite, else 0. */
  values_finite(p: number, n: number): number;
  /** The kernel's vectorised exp over n floats (for accuracy checks). */
  vexp_array(src: number, dst: number, n: number): void;
  /** First byte past the module's static data. */
  heap_base(): number;
  /** The hash of the ABI the module was built with (ABI_SIGNATURE). */
  abi_signature(): number;
}
