// The ABI between the TypeScript wrapper and the AssemblyScript kernels (asm/index.ts: attention.ts,
// attention-backward.ts, gemm.ts, one module): the context block's slot numbers and the module's exports. The kernels
// declare the same numbers; `ctx_slots()` lets the loader check that both sides were built together.
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
  /** atomic work counter of every kernel's *_shared entry, reset by its prepare */
  NEXT_UNIT: 28,

  // The backward (asm/attention-backward.ts) reads the forward's slots 0..21 and these:
  /** f32 dL/d(output) [batch, N, dv] */
  GRAD_OUT: 29,
  /** f32 dq per flattened batch index [batch, N, d] */
  DQ_BATCH: 30,
  /** f32 dk and dv partials [chunks, batch, Spad, dp] and [chunks, batch, Spad, dvp]: Spad = S rounded up to 64,
   *  dp and dvp = d and dv rounded up to 8 */
  DK_PART: 31,
  DV_PART: 32,
  /** query-tile chunks per batch index: units = batch · chunks */
  CHUNKS: 33,
  /** f32 results in the layouts of query, key and value (written by attn_backward_reduce) */
  GRAD_Q: 34,
  GRAD_K: 35,
  GRAD_V: 36,
  /** elements of query, key and value data */
  Q_LENGTH: 37,
  K_LENGTH: 38,
  V_LENGTH_B: 39,
  /** written by attn_backward_prepare: 1 when query, key, value or dL/d(output) holds NaN or ±Inf (careful mode) */
  NONFINITE: 40,

  // The forward's row strides (floats between rows i and i + 1), so that it can read q, k and v inside a packed
  // projection and write its output with the heads merged (self-attention.ts). The backward needs contiguous rows.
  Q_ROW: 41,
  K_ROW: 42,
  V_ROW: 43,
  /** i32[batch]: element offset of batch b's output row 0 */
  OUT_OFFSETS: 44,
  OUT_ROW: 45,
  /**
   * i32[batch] or 0: inputs streamed in one batch index at a time while the units run; state[b] 0 = not yet,
   * 1 = in place with finite values, 2 = in place with NaN or ±Inf values
   */
  BATCH_STATE: 46,
} as const;

/**
 * The GEMM's own use of a context block (asm/gemm.ts); UNITS, SCRATCH_BYTES and NEXT_UNIT keep the slots of
 * {@link SLOT}.
 */
export const GEMM_SLOT = {
  /** 0: NT, C = A·Bᵀ + bias (B stored [N, K]); 1: NN, C = A·B + bias (B stored [K, N]) */
  KIND: 0,
  M: 1,
  N: 2,
  K: 3,
  /** f32 A; A[m, k] at A + 4·(m·A_ROW + k·A_COL) (NT needs A_COL = 1) */
  A: 4,
  A_ROW: 5,
  A_COL: 6,
  /** f32 B and its row stride in floats */
  B: 7,
  B_ROW: 8,
  /** f32 bias [N], 0 = none */
  BIAS: 9,
  /** f32 C [M, N] */
  C: 10,
  /** row stride of C in floats (0: N), for writing a band of columns of a wider matrix */
  C_ROW: 11,
} as const;

export const CTX_SLOTS = 48;

/** The kernel a pooled job runs (asm/shared.ts kernel_shared). */
export const JOB = { forward: 0, backward: 1, gemm: 2 } as const;
export type JobKind = (typeof JOB)[keyof typeof JOB];

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
  /** 1 when all n floats at p are finite, else 0. */
  values_finite(p: number, n: number): number;
  /** Backward: units, scratch size, non-finite flag; resets the work counter. */
  attn_backward_prepare(ctx: number): void;
  /** Scratch bytes one backward thread needs for head sizes d, dv and S keys. */
  attn_backward_scratch_bytes(d: number, dv: number, S: number): number;
  /** Runs backward units [first, last) with one thread's scratch. */
  attn_backward_units(ctx: number, scratch: number, first: number, last: number): void;
  /** Sums dq and the dk, dv partials into the inputs' layouts, in a fixed order (one thread). */
  attn_backward_reduce(ctx: number): void;
  /** GEMM: units and scratch size; resets the work counter. */
  gemm_prepare(ctx: number): void;
  /** Runs GEMM units [first, last). */
  gemm_units(ctx: number, scratch: number, first: number, last: number): void;
  /** A pooled job's share on one thread, for any kernel (kind: {@link JOB}); returns the units it ran. */
  kernel_shared(kind: number, ctx: number, scratch: number): number;
  /** The kernel's vectorised exp over n floats (for accuracy checks). */
  vexp_array(src: number, dst: number, n: number): void;
  /** First byte past the module's static data. */
  heap_base(): number;
  ctx_slots(): number;
}
