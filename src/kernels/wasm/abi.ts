// The ABI between the TypeScript wrapper and the AssemblyScript kernel (asm/attention.ts): the context block's slot
// numbers and the kernel's exports. The kernel declares the same numbers; `ctx_slots()` lets the loader check that
// both sides were built together.
//
// The context block is CTX_SLOTS little-endian 32-bit slots in linear memory. Pointers are byte addresses, offsets
// are element (float) indices into the data they belong to, exactly as in AttentionProblem.

export const SLOT = {
  BATCH: 0,
  N: 1,
  S: 2,
  D: 3,
  DV: 4,
  /** f32 data: query [.., N, d], key [.., S, d], value [.., S, dv] */
  Q: 5,
  K: 6,
  V: 7,
  /** i32[batch]: element offset of batch b's matrix */
  Q_OFFSETS: 8,
  K_OFFSETS: 9,
  V_OFFSETS: 10,
  /** f32 mask data (0 = no mask), its per-batch offsets and row/column strides (0 = broadcast) */
  MASK: 11,
  MASK_OFFSETS: 12,
  MASK_ROW: 13,
  MASK_COL: 14,
  /** f32 bias data (0 = no bias), as the mask */
  BIAS: 15,
  BIAS_OFFSETS: 16,
  BIAS_ROW: 17,
  BIAS_COL: 18,
  /** 0 none, 1 top-left, 2 bottom-right */
  CAUSAL: 19,
  /** f32 */
  SCALE: 20,
  /** f32, 0 = off */
  SOFTCAP: 21,
  /** f32 output [batch, N, dv] */
  OUT: 22,
  /** f32 weights [batch, N, S], 0 = not requested */
  WEIGHTS: 23,
  /** elements of value data, scanned for NaN and ±Inf */
  V_LENGTH: 24,
  /** written by attn_prepare: work units = batch · ceil(N / BR) */
  UNITS: 25,
  /** written by attn_prepare: scratch bytes per thread */
  SCRATCH_BYTES: 26,
  /** written by attn_prepare: 1 when value data holds NaN or ±Inf */
  CAREFUL: 27,
  /** atomic work counter of attn_forward_shared, reset by attn_prepare */
  NEXT_UNIT: 28,
} as const;

export const CTX_SLOTS = 32;

export const CAUSAL_CODE = { none: 0, 'top-left': 1, 'bottom-right': 2 } as const;

/** The kernel's exports (all numbers are i32; pointers are byte addresses). */
export interface KernelExports {
  /** Once per call: unit count, scratch size, careful flag; resets the work counter. */
  attn_prepare(ctx: number): void;
  /** Scratch bytes one thread needs for head sizes d and dv. */
  attn_scratch_bytes(d: number, dv: number): number;
  /** Runs units [first, last) with one thread's scratch. */
  attn_forward_units(ctx: number, scratch: number, first: number, last: number): void;
  /** Takes units from the atomic counter until none is left; returns how many it ran. */
  attn_forward_shared(ctx: number, scratch: number): number;
  /** The kernel's vectorised exp over n floats (for accuracy checks). */
  vexp_array(src: number, dst: number, n: number): void;
  /** First byte past the module's static data. */
  heap_base(): number;
  ctx_slots(): number;
}
