// Matrix products of the "wasm" backend, in AssemblyScript with 128-bit SIMD (f32x4): the three products of a linear
// layer and its backward (src/reference/linear.ts is the specification of the first), and the register tile that the
// attention backward (asm/attention-backward.ts) multiplies its small tiles with.
//
//   NT   C[M, N] = A[M, K] · B[N, K]ᵀ + bias    y  = x · Wᵀ + b       x [M, K], W [O, K]      (F.linear)
//   NN   C[M, N] = A[M, K] · B[K, N] + bias     dX = dY · W           dY [M, O], W [O, K]
//                                              dW = dYᵀ · X          A read through strides: A[o, m] = dY[m, o]
//
// Both read their operands in place (no packing): NT takes four k at a time from rows of A and of B (register tile
// 4 rows × 2 outputs, eight f32x4 lane sums), NN splats one A value per row and multiplies it with eight consecutive
// B values (register tile 4 rows × 8 columns).
//
// Reduction order, and why results depend neither on M, nor on the tiling, nor on the thread count: every output
// element is computed by one thread, in its own accumulator, over k in increasing order, one product at a time (plain
// SIMD has no FMA), by every tile and tail path alike:
//   NN  acc = bias[n] (or 0);  for k = 0 .. K−1: acc = acc + A[m, k] · B[k, n]
//   NT  lane sums acc_l = Σ A[m, k] · B[n, k] over k ≡ l (mod 4), k < K4 = K rounded down to 4, in increasing k;
//       s = (acc_0 + acc_1) + (acc_2 + acc_3);  for k = K4 .. K−1: s = s + A[m, k] · B[n, k];  C = s + bias[n]
// So row r of a call with M rows equals row r computed in a call of its own, bit for bit (a key/value cache feeds one
// token at a time and must equal the full pass).
//
// Work units: blocks of GM rows × GN_NT (or GN_NN) columns of C, each written by exactly one thread. It runs as a job
// (asm/job.ts): gemmPrepare once, then on every thread loadGemm and gemmUnit for each unit taken from the counter.

import {
  GEMM_SCRATCH_BYTES,
  GM,
  GN_NN,
  GN_NT,
  G_A,
  G_A_COL,
  G_A_ROW,
  G_B,
  G_B_ROW,
  G_BIAS,
  G_C,
  G_C_ROW,
  G_K,
  G_KIND,
  G_M,
  G_N,
  G_SCRATCH_BYTES,
  G_UNITS,
  setSlot,
  slot,
} from './abi';

// The tile sizes (GM, GN_NT, GN_NN) and the context block (GEMM_SLOT: G_*) are declared in asm/abi.ts.

/** Reduction block of NN (see nnBlock). */
const NN_KB: i32 = 256;

/** How a register tile starts: from zero, from C (accumulate), or from the bias. */
export const INIT_ZERO: i32 = 0;
export const INIT_C: i32 = 1;
export const INIT_BIAS: i32 = 2;

// ---- NN register tiles -----------------------------------------------------------------------------------------
/**
 * C[4, 8] = init + Σ_k A[0..3, k] · B[k, 0..7]: A[r, k] at a + r·ars + k·acs, B row k at b + k·ldb, C row r at
 * c + r·ldc (all strides in bytes). init: INIT_ZERO, INIT_C (the tile's current values) or INIT_BIAS (8 floats at
 * bias, the same for every row).
 */
@inline
export function nn4x8(
  a: usize, ars: usize, acs: usize, b: usize, ldb: usize, K: i32, c: usize, ldc: usize, init: i32, bias: usize,
): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  if (init == INIT_C) {
    c00 = v128.load(c);
    c01 = v128.load(c, 16);
    c10 = v128.load(c + ldc);
    c11 = v128.load(c + ldc, 16);
    c20 = v128.load(c + 2 * ldc);
    c21 = v128.load(c + 2 * ldc, 16);
    c30 = v128.load(c + 3 * ldc);
    c31 = v128.load(c + 3 * ldc, 16);
  } else if (init == INIT_BIAS) {
    c00 = v128.load(bias);
    c01 = v128.load(bias, 16);
    c10 = c00;
    c11 = c01;
    c20 = c00;
    c21 = c01;
    c30 = c00;
    c31 = c01;
  }
  let a0 = a;
  let bp = b;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let x = v128.load32_splat(a0);
    c00 = f32x4.add(c00, f32x4.mul(x, b0));
    c01 = f32x4.add(c01, f32x4.mul(x, b1));
    x = v128.load32_splat(a0 + ars);
    c10 = f32x4.add(c10, f32x4.mul(x, b0));
    c11 = f32x4.add(c11, f32x4.mul(x, b1));
    x = v128.load32_splat(a0 + 2 * ars);
    c20 = f32x4.add(c20, f32x4.mul(x, b0));
    c21 = f32x4.add(c21, f32x4.mul(x, b1));
    x = v128.load32_splat(a0 + 3 * ars);
    c30 = f32x4.add(c30, f32x4.mul(x, b0));
    c31 = f32x4.add(c31, f32x4.mul(x, b1));
    a0 += acs;
    bp += ldb;
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c + ldc, c10);
  v128.store(c + ldc, c11, 16);
  v128.store(c + 2 * ldc, c20);
  v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 3 * ldc, c30);
  v128.store(c + 3 * ldc, c31, 16);
}

/** One row of {@link nn4x8}: C[1, 8], the same order per element. */
@inline
function nn1x8(a: usize, acs: usize, b: usize, ldb: usize, K: i32, c: usize, init: i32, bias: usize): void {
  let c0 = f32x4.splat(0);
  let c1 = f32x4.splat(0);
  if (init == INIT_C) {
    c0 = v128.load(c);
    c1 = v128.load(c, 16);
  } else if (init == INIT_BIAS) {
    c0 = v128.load(bias);
    c1 = v128.load(bias, 16);
  }
  let a0 = a;
  let bp = b;
  for (let k = 0; k < K; k++) {
    const x = v128.load32_splat(a0);
    c0 = f32x4.add(c0, f32x4.mul(x, v128.load(bp)));
    c1 = f32x4.add(c1, f32x4.mul(x, v128.load(bp, 16)));
    a0 += acs;
    bp += ldb;
  }
  v128.store(c, c0);
  v128.store(c, c1, 16);
}

/**
 * C[M, N] = init + A[M, K] · B[K, N] for M a multiple of 4 and N a multiple of 8 (padded tiles): the attention
 * backward's tile products. Strides in bytes, as in {@link nn4x8}.
 */
export function mmTiles(
  a: usize, ars: usize, acs: usize, b: usize, ldb: usize, K: i32, c: usize, ldc: usize, M: i32, N: i32, init: i32,
): void {
  for (let m = 0; m < M; m += 4) {
    const am = a + <usize>m * ars;
    const cm = c + <usize>m * ldc;
    for (let n = 0; n < N; n += 8) {
      nn4x8(am, ars, acs, b + (<usize>n << 2), ldb, K, cm + (<usize>n << 2), ldc, init, 0);
    }
  }
}

// ---- NT register tiles -----------------------------------------------------------------------------------------
@inline
function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** The end of one NT element: the lane sums combined, the k tail [k4, kEnd) (byte offsets) added, then the bias. */
@inline
function ntFinish(s: v128, a: usize, b: usize, k4: usize, kEnd: usize, bias: usize, n: i32): f32 {
  let t = hsum(s);
  for (let k = k4; k < kEnd; k += 4) t += load<f32>(a + k) * load<f32>(b + k);
  return bias != 0 ? t + load<f32>(bias + (<usize>n << 2)) : t;
}

/** C[m..m+3, n..n+1] of NT, A rows at a (+ lda), B rows at b (+ ldb), strides in bytes. */
@inline
function nt4x2(a: usize, lda: usize, b: usize, ldb: usize, K: i32, c: usize, ldc: usize, bias: usize, n: i32): void {
  const k4 = <usize>(K & ~3) << 2;
  const kEnd = <usize>K << 2;
  const a1 = a + lda;
  const a2 = a1 + lda;
  const a3 = a2 + lda;
  const b1 = b + ldb;
  let s00 = f32x4.splat(0);
  let s01 = f32x4.splat(0);
  let s10 = f32x4.splat(0);
  let s11 = f32x4.splat(0);
  let s20 = f32x4.splat(0);
  let s21 = f32x4.splat(0);
  let s30 = f32x4.splat(0);
  let s31 = f32x4.splat(0);
  for (let k: usize = 0; k < k4; k += 16) {
    const w0 = v128.load(b + k);
    const w1 = v128.load(b1 + k);
    let x = v128.load(a + k);
    s00 = f32x4.add(s00, f32x4.mul(x, w0));
    s01 = f32x4.add(s01, f32x4.mul(x, w1));
    x = v128.load(a1 + k);
    s10 = f32x4.add(s10, f32x4.mul(x, w0));
    s11 = f32x4.add(s11, f32x4.mul(x, w1));
    x = v128.load(a2 + k);
    s20 = f32x4.add(s20, f32x4.mul(x, w0));
    s21 = f32x4.add(s21, f32x4.mul(x, w1));
    x = v128.load(a3 + k);
    s30 = f32x4.add(s30, f32x4.mul(x, w0));
    s31 = f32x4.add(s31, f32x4.mul(x, w1));
  }
  store<f32>(c, ntFinish(s00, a, b, k4, kEnd, bias, n));
  store<f32>(c, ntFinish(s01, a, b1, k4, kEnd, bias, n + 1), 4);
  store<f32>(c + ldc, ntFinish(s10, a1, b, k4, kEnd, bias, n));
  store<f32>(c + ldc, ntFinish(s11, a1, b1, k4, kEnd, bias, n + 1), 4);
  store<f32>(c + 2 * ldc, ntFinish(s20, a2, b, k4, kEnd, bias, n));
  store<f32>(c + 2 * ldc, ntFinish(s21, a2, b1, k4, kEnd, bias, n + 1), 4);
  store<f32>(c + 3 * ldc, ntFinish(s30, a3, b, k4, kEnd, bias, n));
  store<f32>(c + 3 * ldc, ntFinish(s31, a3, b1, k4, kEnd, bias, n + 1), 4);
}

/** C[m, n..n+1] of NT: one row (the rows past the last multiple of 4, and calls with M = 1). */
@inline
function nt1x2(a: usize, b: usize, ldb: usize, K: i32, c: usize, bias: usize, n: i32): void {
  const k4 = <usize>(K & ~3) << 2;
  const kEnd = <usize>K << 2;
  const b1 = b + ldb;
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  for (let k: usize = 0; k < k4; k += 16) {
    const x = v128.load(a + k);
    s0 = f32x4.add(s0, f32x4.mul(x, v128.load(b + k)));
    s1 = f32x4.add(s1, f32x4.mul(x, v128.load(b1 + k)));
  }
  store<f32>(c, ntFinish(s0, a, b, k4, kEnd, bias, n));
  store<f32>(c, ntFinish(s1, a, b1, k4, kEnd, bias, n + 1), 4);
}

/** C[m, n] of NT: one element (the last column when N is odd). */
@inline
function nt1x1(a: usize, b: usize, K: i32, c: usize, bias: usize, n: i32): void {
  const k4 = <usize>(K & ~3) << 2;
  const kEnd = <usize>K << 2;
  let s = f32x4.splat(0);
  for (let k: usize = 0; k < k4; k += 16) s = f32x4.add(s, f32x4.mul(v128.load(a + k), v128.load(b + k)));
  store<f32>(c, ntFinish(s, a, b, k4, kEnd, bias, n));
}

// ---- one unit ------------------------------------------------------------------------------------------------------
let gKind: i32 = 0;
let gGM: i32 = 0;
let gGN: i32 = 0;
let gGK: i32 = 0;
let gA: usize = 0;
let gARow: usize = 0; // bytes
let gACol: usize = 0; // bytes
let gB: usize = 0;
let gLdb: usize = 0; // bytes
let gBias: usize = 0;
let gC: usize = 0;
let gLdc: usize = 0; // bytes
let gColBlocks: i32 = 0;
let gTile: usize = 0; // this thread's 4 × 8 scratch tile

/** Loads a GEMM context into this thread's globals (job_run). */
export function loadGemm(ctx: usize, scratch: usize): void {
  gKind = slot(ctx, G_KIND);
  gGM = slot(ctx, G_M);
  gGN = slot(ctx, G_N);
  gGK = slot(ctx, G_K);
  gA = <usize>slot(ctx, G_A);
  gARow = <usize>slot(ctx, G_A_ROW) << 2;
  gACol = <usize>slot(ctx, G_A_COL) << 2;
  gB = <usize>slot(ctx, G_B);
  gLdb = <usize>slot(ctx, G_B_ROW) << 2;
  gBias = <usize>slot(ctx, G_BIAS);
  gC = <usize>slot(ctx, G_C);
  const cRow = slot(ctx, G_C_ROW);
  gLdc = <usize>(cRow != 0 ? cRow : gGN) << 2;
  gColBlocks = (gGN + (gKind == 0 ? GN_NT : GN_NN) - 1) / (gKind == 0 ? GN_NT : GN_NN);
  gTile = scratch;
}

/** NT over rows [m0, m1) and columns [n0, n1): 4 rows of A stay in L1 while they meet every B row of the block. */
function ntBlock(m0: i32, m1: i32, n0: i32, n1: i32): void {
  const K = gGK;
  const lda = gARow;
  const ldb = gLdb;
  const ldc = gLdc;
  const pairsEnd = n0 + ((n1 - n0) & ~1);
  let m = m0;
  for (; m + 4 <= m1; m += 4) {
    const a = gA + <usize>m * lda;
    const c = gC + <usize>m * ldc;
    for (let n = n0; n < pairsEnd; n += 2) {
      nt4x2(a, lda, gB + <usize>n * ldb, ldb, K, c + (<usize>n << 2), ldc, gBias, n);
    }
    if (pairsEnd < n1) {
      for (let r = 0; r < 4; r++) {
        nt1x1(a + <usize>r * lda, gB + <usize>pairsEnd * ldb, K, c + <usize>r * ldc + (<usize>pairsEnd << 2), gBias, pairsEnd);
      }
    }
  }
  for (; m < m1; m++) {
    const a = gA + <usize>m * lda;
    const c = gC + <usize>m * ldc;
    for (let n = n0; n < pairsEnd; n += 2) nt1x2(a, gB + <usize>n * ldb, ldb, K, c + (<usize>n << 2), gBias, n);
    if (pairsEnd < n1) nt1x1(a, gB + <usize>pairsEnd * ldb, K, c + (<usize>pairsEnd << 2), gBias, pairsEnd);
  }
}

/**
 * NN over rows [m0, m1) and columns [n0, n1). Full 8-column strips are written in place, K in blocks of NN_KB: each
 * block starts from the tile's current values (INIT_C), which continues every element's sum in the same order as one
 * pass over K would, and keeps the block's A and B in L2 (dW = dYᵀ·X reads A down its columns). The last, partial
 * strip runs over the whole K in the thread's scratch tile, and its valid columns are copied (its extra lanes read
 * past column N, in bounds of the arena, and are dropped: SIMD lanes never mix).
 */
function nnBlock(m0: i32, m1: i32, n0: i32, n1: i32): void {
  const K = gGK;
  const ars = gARow;
  const acs = gACol;
  const ldb = gLdb;
  const ldc = gLdc;
  const init = gBias != 0 ? INIT_BIAS : INIT_ZERO;
  const fullEnd = n0 + ((n1 - n0) & ~7);
  for (let k0 = 0; k0 < K || k0 == 0; k0 += NN_KB) {
    const kl = min(NN_KB, K - k0);
    const blockInit = k0 == 0 ? init : INIT_C;
    const ak = gA + <usize>k0 * acs;
    const bk = gB + <usize>k0 * ldb;
    for (let n = n0; n < fullEnd; n += 8) {
      const b = bk + (<usize>n << 2);
      const bias = gBias + (<usize>n << 2);
      let m = m0;
      for (; m + 4 <= m1; m += 4) {
        nn4x8(ak + <usize>m * ars, ars, acs, b, ldb, kl, gC + <usize>m * ldc + (<usize>n << 2), ldc, blockInit, bias);
      }
      for (; m < m1; m++) nn1x8(ak + <usize>m * ars, acs, b, ldb, kl, gC + <usize>m * ldc + (<usize>n << 2), blockInit, bias);
    }
  }
  if (fullEnd < n1) {
    const n = fullEnd;
    const width = n1 - n;
    const b = gB + (<usize>n << 2);
    const bias = gBias + (<usize>n << 2);
    let m = m0;
    for (; m + 4 <= m1; m += 4) {
      const c = gC + <usize>m * ldc + (<usize>n << 2);
      nn4x8(gA + <usize>m * ars, ars, acs, b, ldb, K, gTile, 32, init, bias);
      for (let r = 0; r < 4; r++) memory.copy(c + <usize>r * ldc, gTile + (<usize>r << 5), <usize>width << 2);
    }
    for (; m < m1; m++) {
      nn1x8(gA + <usize>m * ars, acs, b, ldb, K, gTile, init, bias);
      memory.copy(gC + <usize>m * ldc + (<usize>n << 2), gTile, <usize>width << 2);
    }
  }
}

/** One unit: a block of GM rows and GN_NT or GN_NN columns of C. */
export function gemmUnit(u: i32): void {
  const rb = u / gColBlocks;
  const cb = u - rb * gColBlocks;
  const m0 = rb * GM;
  const m1 = min(gGM, m0 + GM);
  const width = gKind == 0 ? GN_NT : GN_NN;
  const n0 = cb * width;
  const n1 = min(gGN, n0 + width);
  if (gKind == 0) ntBlock(m0, m1, n0, n1);
  else nnBlock(m0, m1, n0, n1);
}

// ---- as a job (asm/job.ts) -------------------------------------------------------------------------------------
/** Once per call (job_prepare): writes the unit count and the scratch size per thread (one 4 × 8 tile). */
export function gemmPrepare(ctx: usize): void {
  const width = slot(ctx, G_KIND) == 0 ? GN_NT : GN_NN;
  const units = ((slot(ctx, G_M) + GM - 1) / GM) * ((slot(ctx, G_N) + width - 1) / width);
  setSlot(ctx, G_UNITS, units);
  setSlot(ctx, G_SCRATCH_BYTES, GEMM_SCRATCH_BYTES);
}
