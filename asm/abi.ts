// The ABI between the kernels (asm/) and the TypeScript wrapper (src/kernels/wasm/), declared once, here: the slots
// of the context block through which the wrapper hands a job to a kernel, the job kinds and codes, and the tile and
// block sizes that both sides count units and bytes with.
//
// tools/build-wasm.mjs reads this file and writes every group below into src/kernels/wasm/module.generated.ts, beside
// the compiled module, as TypeScript objects with the same numbers and these comments as their TSDoc (the wrapper
// imports them through src/kernels/wasm/abi.ts). The build fails when two slots of a block, or two codes of a group,
// share a number, or a slot lies outside the block. It also compiles a hash of every group, name and number here into
// the module (abi_signature) and writes the same hash beside the binaries; the loader refuses a module whose hash is
// not the wrapper's.
//
// Format, as the build reads it: `// @abi <slots|codes|sizes> GROUP [PREFIX]: what it is` opens a group (slots are
// distinct and below LAYOUT.CTX_SLOTS; codes are distinct; sizes are free); each `export const PREFIX_KEY: i32 = v;`
// that follows is GROUP.KEY, where v is an integer or the name of an earlier constant; the `/** … */` comment just
// above a constant is its TSDoc. Every exported constant of this file belongs to a group.
//
// Pointers are byte addresses in linear memory, offsets are element (float) indices, all slots are little-endian
// 32-bit words at ctx + 4·slot (f32 where a slot says so).

// @abi sizes LAYOUT: The sizes of the context block and of the scratch and slack regions that the kernels expect
/** 32-bit slots in a context block. */
export const CTX_SLOTS: i32 = 48;
/** Scratch bytes of one GEMM thread: one 4 × 8 tile for NN's last, partial strip of columns (16-byte aligned). */
export const GEMM_SCRATCH_BYTES: i32 = 128;
/**
 * Bytes past a call's last region that a SIMD tail may read (and drop): NN's tail strip reads up to 7 floats past a
 * row of B or the bias.
 */
export const TAIL_SLACK_BYTES: i32 = 64;

// @abi sizes TILE: The tiles of the kernels, which make up their work units
/**
 * Query rows per tile of the attention kernels (FlashAttention's B_r); a forward unit is one batch index and one
 * such tile. A multiple of 4 (the register tile's rows).
 */
export const BR: i32 = 64;
/** Keys per tile of the attention kernels (B_c). A multiple of 8 (the register tile's keys). */
export const BC: i32 = 64;
/** Rows of C per GEMM unit. */
export const GM: i32 = 64;
/** Columns of C per GEMM unit, NT (B's rows stay in L2 while 4 rows of A stay in L1). */
export const GN_NT: i32 = 32;
/** Columns of C per GEMM unit, NN (eight 8-wide strips). */
export const GN_NN: i32 = 64;

// @abi codes JOB JOB_: The kernel that a job runs: the kind of job_prepare and job_run
/** Flash-attention forward (asm/attention.ts). */
export const JOB_FORWARD: i32 = 0;
/** Its backward (asm/attention-backward.ts). */
export const JOB_BACKWARD: i32 = 1;
/** A matrix product (asm/gemm.ts). */
export const JOB_GEMM: i32 = 2;

// @abi codes CAUSAL CAUSAL_: The causal rules of SLOT.CAUSAL
/** No causal mask. */
export const CAUSAL_NONE: i32 = 0;
/** Key j is allowed for query row i when j ≤ i (PyTorch SDPA, Keras). */
export const CAUSAL_TOP_LEFT: i32 = 1;
/** Key j is allowed for query row i when j ≤ i + S − N (FlashAttention ≥ 2.1, ONNX with a past). */
export const CAUSAL_BOTTOM_RIGHT: i32 = 2;

// @abi slots SLOT SLOT_: The attention kernels' context block, forward and backward
/** Flattened batch count. */
export const SLOT_BATCH: i32 = 0;
/** Query rows. */
export const SLOT_N: i32 = 1;
/** Keys. */
export const SLOT_S: i32 = 2;
/** Head size of q and k. */
export const SLOT_D: i32 = 3;
/** Head size of v. */
export const SLOT_DV: i32 = 4;
/** f32 query data [.., N, d]. */
export const SLOT_Q: i32 = 5;
/** f32 key data [.., S, d]. */
export const SLOT_K: i32 = 6;
/** f32 value data [.., S, dv]. */
export const SLOT_V: i32 = 7;
/** i32[batch]: element offset of batch b's query matrix. */
export const SLOT_Q_OFFSETS: i32 = 8;
/** i32[batch]: element offset of batch b's key matrix. */
export const SLOT_K_OFFSETS: i32 = 9;
/** i32[batch]: element offset of batch b's value matrix. */
export const SLOT_V_OFFSETS: i32 = 10;
/** f32 mask data, 0 = no mask; nonzero = may attend. */
export const SLOT_MASK: i32 = 11;
/** i32[batch]: element offset of batch b's mask. */
export const SLOT_MASK_OFFSETS: i32 = 12;
/** Elements between the mask's rows i (0 = broadcast). */
export const SLOT_MASK_ROW: i32 = 13;
/** Elements between the mask's keys j (0 = broadcast). */
export const SLOT_MASK_COL: i32 = 14;
/** f32 bias data, 0 = no bias. */
export const SLOT_BIAS: i32 = 15;
/** i32[batch]: element offset of batch b's bias. */
export const SLOT_BIAS_OFFSETS: i32 = 16;
/** Elements between the bias's rows (0 = broadcast). */
export const SLOT_BIAS_ROW: i32 = 17;
/** Elements between the bias's keys (0 = broadcast). */
export const SLOT_BIAS_COL: i32 = 18;
/** The causal rule: a CAUSAL code. */
export const SLOT_CAUSAL: i32 = 19;
/** f32 scale of q·k. */
export const SLOT_SCALE: i32 = 20;
/** f32 softcap, 0 = off. */
export const SLOT_SOFTCAP: i32 = 21;
/** f32 output [batch, N, dv] (rows at OUT_OFFSETS and OUT_ROW). */
export const SLOT_OUT: i32 = 22;
/** f32 weights [batch, N, S], 0 = not requested. */
export const SLOT_WEIGHTS: i32 = 23;
/** Elements of value data, scanned for NaN and ±Inf. */
export const SLOT_V_LENGTH: i32 = 24;
/** Written by the prepare of every kernel: its work units (forward: batch · ceil(N / BR)). */
export const SLOT_UNITS: i32 = 25;
/** Written by the prepare of every kernel: scratch bytes each thread needs (16-byte aligned). */
export const SLOT_SCRATCH_BYTES: i32 = 26;
/** Written by the forward's prepare: 1 when value data holds NaN or ±Inf (the careful P·V). */
export const SLOT_CAREFUL: i32 = 27;
/** The atomic work counter of every kernel, reset by job_prepare. */
export const SLOT_NEXT_UNIT: i32 = 28;
/** Backward: f32 dL/d(output) [batch, N, dv]. */
export const SLOT_GRAD_OUT: i32 = 29;
/** Backward: f32 dq per flattened batch index [batch, N, d] (each unit writes its own rows). */
export const SLOT_DQ_BATCH: i32 = 30;
/** Backward: f32 dk partials [chunks, batch, Spad, dp] (Spad = S rounded up to BC, dp = d rounded up to 8). */
export const SLOT_DK_PART: i32 = 31;
/** Backward: f32 dv partials [chunks, batch, Spad, dvp] (dvp = dv rounded up to 8). */
export const SLOT_DV_PART: i32 = 32;
/** Backward: query-tile chunks per batch index (units = batch · chunks). */
export const SLOT_CHUNKS: i32 = 33;
/** Backward: f32 dL/d(query) in the layout of query (written by attn_backward_reduce). */
export const SLOT_GRAD_Q: i32 = 34;
/** Backward: f32 dL/d(key) in the layout of key. */
export const SLOT_GRAD_K: i32 = 35;
/** Backward: f32 dL/d(value) in the layout of value. */
export const SLOT_GRAD_V: i32 = 36;
/** Backward: elements of query data (the reduction's output size and the scan). */
export const SLOT_Q_LENGTH: i32 = 37;
/** Backward: elements of key data. */
export const SLOT_K_LENGTH: i32 = 38;
/** Backward: elements of value data. */
export const SLOT_V_LENGTH_B: i32 = 39;
/** Written by the backward's prepare: 1 when query, key, value or dL/d(output) holds NaN or ±Inf (careful mode). */
export const SLOT_NONFINITE: i32 = 40;
/**
 * Forward: floats between query rows i and i + 1 (d when contiguous; 3·H·d inside a packed projection). The
 * backward needs contiguous rows.
 */
export const SLOT_Q_ROW: i32 = 41;
/** Forward: floats between key rows. */
export const SLOT_K_ROW: i32 = 42;
/** Forward: floats between value rows. */
export const SLOT_V_ROW: i32 = 43;
/** Forward: i32[batch]: element offset of batch b's output row 0. */
export const SLOT_OUT_OFFSETS: i32 = 44;
/** Forward: floats between output rows (dv when contiguous; D with the heads merged). */
export const SLOT_OUT_ROW: i32 = 45;
/**
 * Forward: i32[batch] or 0. The inputs arrive one batch index at a time while the units run (the caller copies them
 * in while the pool computes): a unit of batch b waits until state[b] is nonzero, 1 = in place with finite values,
 * 2 = in place with NaN or ±Inf values (the careful P·V). When 0, every input is in place and the prepare scans the
 * values.
 */
export const SLOT_BATCH_STATE: i32 = 46;

// @abi slots GEMM_SLOT G_: The GEMM's context block (asm/gemm.ts); UNITS, SCRATCH_BYTES, NEXT_UNIT as in SLOT
/** 0: NT, C = A·Bᵀ + bias (B stored [N, K]); 1: NN, C = A·B + bias (B stored [K, N]). */
export const G_KIND: i32 = 0;
/** Rows of C. */
export const G_M: i32 = 1;
/** Columns of C. */
export const G_N: i32 = 2;
/** The reduction length. */
export const G_K: i32 = 3;
/** f32 A; A[m, k] at A + 4·(m·A_ROW + k·A_COL). */
export const G_A: i32 = 4;
/** Row stride of A in floats. */
export const G_A_ROW: i32 = 5;
/** Column stride of A in floats (NT needs 1). */
export const G_A_COL: i32 = 6;
/** f32 B; NT: B[n, k] at B + 4·(n·B_ROW + k); NN: B[k, n] at B + 4·(k·B_ROW + n). */
export const G_B: i32 = 7;
/** Row stride of B in floats. */
export const G_B_ROW: i32 = 8;
/** f32 bias [N], 0 = none. */
export const G_BIAS: i32 = 9;
/** f32 C [M, N]. */
export const G_C: i32 = 10;
/** Row stride of C in floats (≥ N; 0 means N): C may be a band of columns of a wider matrix. */
export const G_C_ROW: i32 = 11;
/** Written by the prepare: work units. */
export const G_UNITS: i32 = SLOT_UNITS;
/** Written by the prepare: scratch bytes per thread. */
export const G_SCRATCH_BYTES: i32 = SLOT_SCRATCH_BYTES;
/** The atomic work counter. */
export const G_NEXT_UNIT: i32 = SLOT_NEXT_UNIT;

// ---- reading and writing the block -------------------------------------------------------------------------------
@inline export function slot(ctx: usize, s: i32): i32 {
  return load<i32>(ctx + (<usize>s << 2));
}
@inline export function slotF(ctx: usize, s: i32): f32 {
  return load<f32>(ctx + (<usize>s << 2));
}
@inline export function setSlot(ctx: usize, s: i32, value: i32): void {
  store<i32>(ctx + (<usize>s << 2), value);
}

/**
 * The hash of this file's groups, names and numbers, which the build computes and passes to the compiler
 * (`--use ABI_SIGNATURE=…`) and writes beside the binaries; the loader compares the two.
 */
export function abi_signature(): i32 {
  // @ts-ignore: a constant that the build defines (asc --use), not a declaration of this file
  return ABI_SIGNATURE;
}
