// Flash-attention forward kernel of the "wasm" backend, in AssemblyScript with 128-bit SIMD (f32x4).
// It computes exactly what src/reference/attention.ts specifies (the specification; see its header for the math and
// the NaN and fully-masked-row rules), but in float32 and tile by tile, after FlashAttention-2 (Dao, 2023,
// Algorithm 1) and llm.c's attention_forward:
//
//   for each work unit = (batch index b, query tile of BR rows):          the unit of parallelism
//     m = -Inf, l = 0, acc = 0                                            per row: running max, sum, output [BR, dv]
//     for each key tile of BC keys, in increasing order, up to the causal edge:
//       s   = (Q·scale)·Kᵀ (register tile 4 rows × 8 keys)   [BR, BC]
//       s   = softcap(s) + bias; blocked → -Inf
//       m'  = max(m, rowmax(s));  p = exp(s − m');  α = exp(m − m')
//       l   = l·α + rowsum(p);    acc = acc·α + p·V (register tile 4 rows × 8 value columns)
//       m   = m'
//     out = acc / l    (0 for a row whose m stayed -Inf: no allowed key)
//
// Never materialised: the N×S score or weight matrix. Only one [BR, BC] tile of scores exists at a time, in the
// caller's scratch. When weights are requested, the unit then recomputes each score tile and writes
// w = exp(s − m) / l from the saved row max m and sum l (the log-sum-exp): exact weights without a second softmax.
//
// Reduction order: every unit visits its key tiles in increasing order and reduces each tile in a fixed order, so a
// unit's result does not depend on which thread runs it or how many threads there are. It runs as a job (asm/job.ts):
// forwardPrepare once, then on every thread loadContext and forwardUnit for each unit taken from the job's counter.
//
// ABI (asm/abi.ts, the one declaration): the context block's SLOT_* words, written by the wrapper; pointers are byte
// addresses in linear memory, offsets are element (float) indices.

import {
  BC,
  BR,
  SLOT_BATCH,
  SLOT_BATCH_STATE,
  SLOT_BIAS,
  SLOT_BIAS_COL,
  SLOT_BIAS_OFFSETS,
  SLOT_BIAS_ROW,
  SLOT_CAREFUL,
  SLOT_CAUSAL,
  SLOT_D,
  SLOT_DV,
  SLOT_K,
  SLOT_K_OFFSETS,
  SLOT_K_ROW,
  SLOT_MASK,
  SLOT_MASK_COL,
  SLOT_MASK_OFFSETS,
  SLOT_MASK_ROW,
  SLOT_N,
  SLOT_OUT,
  SLOT_OUT_OFFSETS,
  SLOT_OUT_ROW,
  SLOT_Q,
  SLOT_Q_OFFSETS,
  SLOT_Q_ROW,
  SLOT_S,
  SLOT_SCALE,
  SLOT_SCRATCH_BYTES,
  SLOT_SOFTCAP,
  SLOT_UNITS,
  SLOT_V,
  SLOT_V_LENGTH,
  SLOT_V_OFFSETS,
  SLOT_V_ROW,
  SLOT_WEIGHTS,
  setSlot,
  slot,
  slotF,
} from './abi';

// ---- tiles ---------------------------------------------------------------------------------------------------
// BR query rows × BC keys per tile (asm/abi.ts TILE). With d = dv = 64 a unit's working set (Q 16 KB, Kᵀ 16 KB,
// scores 16 KB, acc 16 KB, V 16 KB) stays in L2.
export const NEG_INF: f32 = -Infinity;

// ---- the problem, loaded from the context block into this instance's globals (one instance per thread) -------
export let gN: i32 = 0;
export let gS: i32 = 0;
export let gD: i32 = 0;
export let gDV: i32 = 0;
export let gDVP: i32 = 0; // dv rounded up to 8: the padded width of packed values and accumulators
export let gQTiles: i32 = 0;
let gQ: usize = 0;
export let gK: usize = 0;
export let gV: usize = 0;
let gQOffsets: usize = 0;
export let gKOffsets: usize = 0;
export let gVOffsets: usize = 0;
let gMask: usize = 0;
let gMaskOffsets: usize = 0;
let gMaskRow: i32 = 0;
let gMaskCol: i32 = 0;
let gBias: usize = 0;
let gBiasOffsets: usize = 0;
let gBiasRow: i32 = 0;
let gBiasCol: i32 = 0;
export let gCausal: i32 = 0;
export let gCausalShift: i32 = 0; // key j is causally allowed for row i when j ≤ i + gCausalShift
export let gScale: f32 = 0;
let gSoftcap: f32 = 0;
let gOut: usize = 0;
let gOutOffsets: usize = 0;
let gQStride: i32 = 0; // row strides in floats (SLOT_Q_ROW ..)
let gKStride: i32 = 0;
let gVStride: i32 = 0;
let gOutStride: i32 = 0;
let gWeights: usize = 0;
let gCareful: bool = false;
let gBatchState: usize = 0;

// Scratch of the running thread, carved from the pointer it passes in (see scratchBytes for the sizes).
export let sQ: usize = 0; //      [BR, d]   the unit's query rows, zero-padded past N
export let sKT: usize = 0; //     [d, BC]   the key tile, transposed, zero-padded past S
let sV: usize = 0; //      [BC, dvp] the value tile, zero-padded past dv (or a direct pointer into V, see packV)
let sVScratch: usize = 0; // where sV's own region is (sV points into V while a tile is read in place)
export let sS: usize = 0; //      [BR, BC]  scores, then probabilities
let sAcc: usize = 0; //    [BR, dvp] output accumulators
let sM: usize = 0; //      [BR]      running max
let sL: usize = 0; //      [BR]      running sum
let sAlpha: usize = 0; //  [BR]      rescale factor of the current tile
let sBase: usize = 0; //   [BR]      exponent base of the current tile (the new max, or 0 while it is -Inf)
export let sAllowed: usize = 0; // u8 [BR, BC] 1 where (mask, causal) allow the key; filled only when needed
let gVRow: i32 = 0; //     row stride (floats) of the current value tile: dvp when packed, dv when direct

@inline export function f32At(base: usize, index: i32): f32 {
  return load<f32>(base + (<usize>index << 2));
}
@inline export function i32At(base: usize, index: i32): i32 {
  return load<i32>(base + (<usize>index << 2));
}

function scratchBytes(d: i32, dvp: i32): i32 {
  return (BR * d + d * BC + BC * dvp + BR * BC + BR * dvp + 4 * BR) * 4 + BR * BC;
}

/** Loads a forward (or backward) context into this thread's globals and carves its scratch (job_run). */
export function loadContext(ctx: usize, scratch: usize): void {
  gN = slot(ctx, SLOT_N);
  gS = slot(ctx, SLOT_S);
  gD = slot(ctx, SLOT_D);
  gDV = slot(ctx, SLOT_DV);
  gDVP = (gDV + 7) & ~7;
  gQTiles = (gN + BR - 1) / BR;
  gQ = <usize>slot(ctx, SLOT_Q);
  gK = <usize>slot(ctx, SLOT_K);
  gV = <usize>slot(ctx, SLOT_V);
  gQOffsets = <usize>slot(ctx, SLOT_Q_OFFSETS);
  gKOffsets = <usize>slot(ctx, SLOT_K_OFFSETS);
  gVOffsets = <usize>slot(ctx, SLOT_V_OFFSETS);
  gMask = <usize>slot(ctx, SLOT_MASK);
  gMaskOffsets = <usize>slot(ctx, SLOT_MASK_OFFSETS);
  gMaskRow = slot(ctx, SLOT_MASK_ROW);
  gMaskCol = slot(ctx, SLOT_MASK_COL);
  gBias = <usize>slot(ctx, SLOT_BIAS);
  gBiasOffsets = <usize>slot(ctx, SLOT_BIAS_OFFSETS);
  gBiasRow = slot(ctx, SLOT_BIAS_ROW);
  gBiasCol = slot(ctx, SLOT_BIAS_COL);
  gCausal = slot(ctx, SLOT_CAUSAL);
  gCausalShift = gCausal == 2 ? gS - gN : 0;
  gScale = slotF(ctx, SLOT_SCALE);
  gSoftcap = slotF(ctx, SLOT_SOFTCAP);
  gOut = <usize>slot(ctx, SLOT_OUT);
  gOutOffsets = <usize>slot(ctx, SLOT_OUT_OFFSETS);
  gQStride = slot(ctx, SLOT_Q_ROW);
  gKStride = slot(ctx, SLOT_K_ROW);
  gVStride = slot(ctx, SLOT_V_ROW);
  gOutStride = slot(ctx, SLOT_OUT_ROW);
  gWeights = <usize>slot(ctx, SLOT_WEIGHTS);
  gCareful = slot(ctx, SLOT_CAREFUL) != 0;
  gBatchState = <usize>slot(ctx, SLOT_BATCH_STATE);

  const d = <usize>gD;
  const dvp = <usize>gDVP;
  sQ = scratch;
  sKT = sQ + ((<usize>BR * d) << 2);
  sV = sKT + ((d * <usize>BC) << 2);
  sVScratch = sV;
  sS = sV + ((<usize>BC * dvp) << 2);
  sAcc = sS + (<usize>(BR * BC) << 2);
  sM = sAcc + ((<usize>BR * dvp) << 2);
  sL = sM + (<usize>BR << 2);
  sAlpha = sL + (<usize>BR << 2);
  sBase = sAlpha + (<usize>BR << 2);
  sAllowed = sBase + (<usize>BR << 2);
}

// ---- vectorised exp ------------------------------------------------------------------------------------------
// exp(x) = 2^n · e^r with n = round(x · log2 e) and r = x − n·ln 2 (Cody–Waite: ln 2 split into LN2_HI, exact in
// a few bits, and the remainder LN2_LO, so n·LN2_HI is exact). Adding SHIFT = 1.5·2^23 + 127 to x · log2 e rounds it
// to an integer (ties to even) and leaves n + 127 in the low mantissa bits, so that shifting those bits left by 23
// gives the float 2^n directly (cheaper than f32x4.nearest plus a saturating conversion). On |r| ≤ ln2/2, e^r is
// 1 + r·q(r) with q of degree 5, fitted for least maximum relative error (≈ 2.3e-9, far below float32 resolution) and
// evaluated by Horner's rule; 1 + r·q keeps the last rounding relative to 1.
// Register budget: x64 has 16 vector registers, and every constant here lives in one during the softmax loop. The
// earlier version (a degree-7 Taylor polynomial, and a compare and select that flushed subnormal results to 0) needed
// 14 and spilled them on every iteration; this one needs 11.
// Accuracy, measured against Math.exp rounded to float32 on every float32 in [-87.33, 0]: max error 1 ulp
// (tests/backends/wasm-forward.test.ts checks a sample). x is clamped at -88, where n = -127 makes 2^n = 0: so
// -Inf and anything below about -87.68 give 0 exactly (a blocked key's p is 0), and results between that and
// ln(2^-126) ≈ -87.3365 are subnormal. NaN stays NaN. Arguments here are ≤ 0 (scores minus their row max).
const LOG2E: f32 = 1.4426950408889634;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440054690583e-4;
const SHIFT: f32 = 12582912.0 + 127.0;
const EXP_CLAMP: f32 = -88.0;
// q(r) = 1 + C1·r + C2·r² + C3·r³ + C4·r⁴ + C5·r⁵, fitted (iteratively reweighted least squares towards the least
// maximum relative error of 1 + r·q against e^r) on |r| ≤ 1.02 · ln2/2, and rounded to float32.
const EXP_C1: f32 = 0.4999999403953552;
const EXP_C2: f32 = 0.16666412353515625;
const EXP_C3: f32 = 0.0416681133210659;
const EXP_C4: f32 = 0.008375782519578934;
const EXP_C5: f32 = 0.0013841759646311402;

@inline export function vexp(x: v128): v128 {
  const xc = f32x4.pmax(x, f32x4.splat(EXP_CLAMP)); // -Inf and anything below → n = -127, scale 0; NaN passes
  const t = f32x4.add(f32x4.mul(xc, f32x4.splat(LOG2E)), f32x4.splat(SHIFT));
  const n = f32x4.sub(t, f32x4.splat(SHIFT));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let q = f32x4.add(f32x4.mul(f32x4.splat(EXP_C5), r), f32x4.splat(EXP_C4));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(EXP_C3));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(EXP_C2));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(EXP_C1));
  q = f32x4.add(f32x4.mul(q, r), f32x4.splat(<f32>1.0));
  const p = f32x4.add(f32x4.splat(<f32>1.0), f32x4.mul(r, q));
  return f32x4.mul(p, i32x4.shl(t, 23));
}

@inline function expScalar(x: f32): f32 {
  return f32x4.extract_lane(vexp(f32x4.splat(x)), 0);
}

/** Applies the kernel's exp to n floats (for measuring its accuracy). src and dst may be equal. */
export function vexp_array(src: usize, dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(dst + (<usize>i << 2), vexp(v128.load(src + (<usize>i << 2))));
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), expScalar(f32At(src, i)));
}

// ---- packing ---------------------------------------------------------------------------------------------------
/**
 * Copies the unit's query rows [i0, i0 + rows) of batch b into sQ [BR, d], multiplied by the scale, zeros past N.
 * Scaling q instead of q·k saves a pass over every score tile, and cannot overflow where the reference's float64
 * q·k would not (with a small scale, q·k may exceed the float32 range while (q · scale)·k does not).
 */
export function packQ(b: i32, i0: i32, rows: i32): void {
  const d = <usize>gD;
  const stride = <usize>gQStride << 2;
  const src = gQ + ((<usize>i32At(gQOffsets, b) + <usize>i0 * <usize>gQStride) << 2);
  const scale = gScale;
  const scaleV = f32x4.splat(scale);
  for (let r = 0; r < rows; r++) {
    const from = src + <usize>r * stride;
    const to = sQ + ((<usize>r * d) << 2);
    let c: usize = 0;
    for (; c + 4 <= d; c += 4) v128.store(to + (c << 2), f32x4.mul(v128.load(from + (c << 2)), scaleV));
    for (; c < d; c++) store<f32>(to + (c << 2), load<f32>(from + (c << 2)) * scale);
  }
  if (rows < BR) memory.fill(sQ + ((<usize>rows * d) << 2), 0, (<usize>(BR - rows) * d) << 2);
}

/**
 * Transposes keys [j0, j0 + cols) of batch b into sKT [d, BC], 4×4 blocks at a time, with zeros up to the next
 * multiple of 8 keys (qk's block); qk reads no further.
 */
function packK(b: i32, j0: i32, cols: i32): void {
  const d = gD;
  const rowBytes = <usize>gKStride << 2;
  const base = gK + ((<usize>i32At(gKOffsets, b) + <usize>j0 * <usize>gKStride) << 2);
  const colStride = <usize>BC << 2; // bytes between dims c and c + 1 in sKT
  const full4 = cols & ~3;
  const d4 = d & ~3;
  for (let j = 0; j < full4; j += 4) {
    const k0 = base + <usize>j * rowBytes;
    const k1 = k0 + rowBytes;
    const k2 = k1 + rowBytes;
    const k3 = k2 + rowBytes;
    let dst = sKT + (<usize>j << 2);
    let c = 0;
    for (; c < d4; c += 4) {
      const off = <usize>c << 2;
      const r0 = v128.load(k0 + off);
      const r1 = v128.load(k1 + off);
      const r2 = v128.load(k2 + off);
      const r3 = v128.load(k3 + off);
      const t0 = f32x4.shuffle(r0, r1, 0, 4, 1, 5);
      const t1 = f32x4.shuffle(r0, r1, 2, 6, 3, 7);
      const t2 = f32x4.shuffle(r2, r3, 0, 4, 1, 5);
      const t3 = f32x4.shuffle(r2, r3, 2, 6, 3, 7);
      v128.store(dst, f32x4.shuffle(t0, t2, 0, 1, 4, 5));
      v128.store(dst + colStride, f32x4.shuffle(t0, t2, 2, 3, 6, 7));
      v128.store(dst + 2 * colStride, f32x4.shuffle(t1, t3, 0, 1, 4, 5));
      v128.store(dst + 3 * colStride, f32x4.shuffle(t1, t3, 2, 3, 6, 7));
      dst += 4 * colStride;
    }
    for (; c < d; c++) {
      const off = <usize>c << 2;
      const at = sKT + ((<usize>c * <usize>BC + <usize>j) << 2);
      store<f32>(at, load<f32>(k0 + off));
      store<f32>(at, load<f32>(k1 + off), 4);
      store<f32>(at, load<f32>(k2 + off), 8);
      store<f32>(at, load<f32>(k3 + off), 12);
    }
  }
  for (let j = full4; j < ((cols + 7) & ~7); j++) {
    const krow = base + <usize>j * rowBytes;
    for (let c = 0; c < d; c++) {
      const v: f32 = j < cols ? load<f32>(krow + (<usize>c << 2)) : 0;
      store<f32>(sKT + ((<usize>c * <usize>BC + <usize>j) << 2), v);
    }
  }
}

/**
 * Makes sV point at keys [j0, j0 + cols) of batch b's values as [cols, gVRow] (pv and pvCareful read no key past
 * cols). Values whose dv is a multiple of 8 are read in place; otherwise the tile is copied into [cols, dvp] with
 * zeros past dv, so that the register tile never reads outside it.
 */
function packV(b: i32, j0: i32, cols: i32): void {
  const dv = <usize>gDV;
  const dvp = <usize>gDVP;
  const stride = <usize>gVStride;
  const src = gV + ((<usize>i32At(gVOffsets, b) + <usize>j0 * stride) << 2);
  if (dv == dvp) {
    sV = src;
    gVRow = gVStride;
    return;
  }
  sV = sVScratch;
  gVRow = gDVP;
  for (let j = 0; j < cols; j++) {
    const dst = sVScratch + ((<usize>j * dvp) << 2);
    memory.copy(dst, src + ((<usize>j * stride) << 2), dv << 2);
    memory.fill(dst + (dv << 2), 0, (dvp - dv) << 2);
  }
}

// ---- scores ----------------------------------------------------------------------------------------------------
/**
 * sS[BR, 0..cols) = sQ[BR, d] · sKT[d, BC] (q already scaled) for the row blocks that hold real rows, in blocks of 8
 * keys (scoreTile then blocks every key from cols on, so the columns this leaves unwritten are never read).
 * Register tile: 4 rows × 8 keys in eight f32x4 accumulators; each step over c loads 8 keys of Kᵀ (two vectors) and
 * splats 4 query values.
 * The sum over c runs in increasing c, one product at a time (no FMA in plain SIMD).
 */
function qk(rows: i32, cols: i32): void {
  const d = <usize>gD;
  const qRow = d << 2;
  const kStep = <usize>BC << 2;
  for (let r0 = 0; r0 < rows; r0 += 4) {
    const q0 = sQ + <usize>r0 * qRow;
    const q1 = q0 + qRow;
    const q2 = q1 + qRow;
    const q3 = q2 + qRow;
    const out = sS + (<usize>(r0 * BC) << 2);
    for (let j = 0; j < cols; j += 8) {
      let a00 = f32x4.splat(0);
      let a01 = f32x4.splat(0);
      let a10 = f32x4.splat(0);
      let a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0);
      let a21 = f32x4.splat(0);
      let a30 = f32x4.splat(0);
      let a31 = f32x4.splat(0);
      let kp = sKT + (<usize>j << 2);
      for (let c: usize = 0; c < qRow; c += 4) {
        const k0 = v128.load(kp);
        const k1 = v128.load(kp, 16);
        let q = v128.load32_splat(q0 + c);
        a00 = f32x4.add(a00, f32x4.mul(q, k0));
        a01 = f32x4.add(a01, f32x4.mul(q, k1));
        q = v128.load32_splat(q1 + c);
        a10 = f32x4.add(a10, f32x4.mul(q, k0));
        a11 = f32x4.add(a11, f32x4.mul(q, k1));
        q = v128.load32_splat(q2 + c);
        a20 = f32x4.add(a20, f32x4.mul(q, k0));
        a21 = f32x4.add(a21, f32x4.mul(q, k1));
        q = v128.load32_splat(q3 + c);
        a30 = f32x4.add(a30, f32x4.mul(q, k0));
        a31 = f32x4.add(a31, f32x4.mul(q, k1));
        kp += kStep;
      }
      const o = out + (<usize>j << 2);
      const rowB = <usize>BC << 2;
      v128.store(o, a00);
      v128.store(o, a01, 16);
      v128.store(o + rowB, a10);
      v128.store(o + rowB, a11, 16);
      v128.store(o + 2 * rowB, a20);
      v128.store(o + 2 * rowB, a21, 16);
      v128.store(o + 3 * rowB, a30);
      v128.store(o + 3 * rowB, a31, 16);
    }
  }
}

/**
 * Fills sS [BR, BC] with the final scores of query rows [i0, i0 + rows) against keys [j0, j0 + cols) of batch b:
 * softcap((q · scale)·k) + bias, and -Inf where mask, causality or the end of the keys block the key. Rows past N
 * are set to 0 (they are never output). With wantAllowed, sAllowed [BR, BC] records which keys mask and causality
 * allow: a key allowed with a -Inf bias still counts for NaN propagation, a blocked key never does.
 */
export function scoreTile(b: i32, i0: i32, rows: i32, j0: i32, cols: i32, wantAllowed: bool): void {
  packK(b, j0, cols);
  qk(rows, cols);
  const negInf = f32x4.splat(NEG_INF);
  const iota = i32x4(0, 1, 2, 3);
  for (let r = 0; r < BR; r++) {
    const sp = sS + (<usize>(r * BC) << 2);
    if (r >= rows) {
      memory.fill(sp, 0, <usize>BC << 2);
      continue;
    }
    const i = i0 + r;
    // Keys jj ≤ last are allowed by causality and lie inside the key range.
    let last = cols - 1;
    if (gCausal != 0) last = min(last, i + gCausalShift - j0);

    if (gSoftcap > 0) {
      // softcap · tanh(s / softcap) in float64, as the reference does; rare, so one scalar tanh per score.
      const cap = <f64>gSoftcap;
      for (let jj = 0; jj < cols; jj++) {
        const at = sp + (<usize>jj << 2);
        store<f32>(at, <f32>(cap * Math.tanh(<f64>load<f32>(at) / cap)));
      }
    }
    if (gBias != 0) {
      const row = i32At(gBiasOffsets, b) + i * gBiasRow + j0 * gBiasCol;
      let jj = 0;
      if (gBiasCol == 1) {
        for (; jj + 4 <= cols; jj += 4) {
          const at = sp + (<usize>jj << 2);
          v128.store(at, f32x4.add(v128.load(at), v128.load(gBias + (<usize>(row + jj) << 2))));
        }
      }
      for (; jj < cols; jj++) {
        const at = sp + (<usize>jj << 2);
        store<f32>(at, load<f32>(at) + f32At(gBias, row + jj * gBiasCol));
      }
    }
    const allowedRow = sAllowed + <usize>(r * BC);
    if (gMask != 0) {
      const row = i32At(gMaskOffsets, b) + i * gMaskRow + j0 * gMaskCol;
      let jj = 0;
      if (gMaskCol == 1 && !wantAllowed) {
        // Contiguous mask row (the common [.., N, S] and key-padding masks): 4 keys at a time.
        const lastV = i32x4.splat(last);
        const zero = f32x4.splat(0);
        for (; jj + 4 <= cols; jj += 4) {
          const at = sp + (<usize>jj << 2);
          const closed = v128.or(
            f32x4.eq(v128.load(gMask + (<usize>(row + jj) << 2)), zero),
            i32x4.gt_s(i32x4.add(iota, i32x4.splat(jj)), lastV),
          );
          v128.store(at, v128.bitselect(negInf, v128.load(at), closed));
        }
      }
      for (; jj < BC; jj++) {
        const open = jj <= last && f32At(gMask, row + jj * gMaskCol) != 0;
        if (!open) store<f32>(sp + (<usize>jj << 2), NEG_INF);
        if (wantAllowed) store<u8>(allowedRow + <usize>jj, open ? 1 : 0);
      }
    } else {
      if (last < BC - 1) {
        const lastV = i32x4.splat(last);
        for (let jj = 0; jj < BC; jj += 4) {
          const at = sp + (<usize>jj << 2);
          const blocked = i32x4.gt_s(i32x4.add(iota, i32x4.splat(jj)), lastV);
          v128.store(at, v128.bitselect(negInf, v128.load(at), blocked));
        }
      }
      if (wantAllowed) {
        for (let jj = 0; jj < BC; jj++) store<u8>(allowedRow + <usize>jj, jj <= last ? 1 : 0);
      }
    }
  }
}

// ---- online softmax --------------------------------------------------------------------------------------------
/**
 * Turns the score tile into probabilities relative to the updated running max and records each row's rescale factor
 * α = exp(m_old − m_new). Three passes, so that the exponential's loop holds nothing but its constants: row maxima,
 * bases and α four rows at a time (one vector per four rows); p = exp(s − base) over the tile; row sums four rows at
 * a time. The max uses f32x4.pmax (one instruction; it may drop a NaN), so NaN is caught through the tile's sum
 * instead: an allowed NaN score, or +Inf − +Inf, makes its p and the sum NaN, and the row's max is then set to NaN,
 * which makes the whole row NaN, as in the reference (even when every other key of the row is blocked). While a
 * row's max is still -Inf (no allowed finite score yet), exponents are taken relative to 0: every p is then
 * exp(-Inf) = 0, but a value multiplied by it is still read, as the reference reads allowed keys whose score is -Inf.
 */
function softmaxUpdate(rows: i32): void {
  const rows4 = (rows + 3) & ~3; // row groups of 4; rows past N in the last group have scores 0 and are left at p = 0
  // 1. Per group of four rows: the tile's row maxima as one vector, the new running max, the exponent base and the
  //    rescale factor α = exp(m_old − base), four rows at a time.
  for (let r0 = 0; r0 < rows4; r0 += 4) {
    const s0 = sS + (<usize>(r0 * BC) << 2);
    let x0 = f32x4.splat(NEG_INF);
    let x1 = x0;
    let x2 = x0;
    let x3 = x0;
    for (let off: usize = 0; off < (<usize>BC << 2); off += 16) {
      x0 = f32x4.pmax(x0, v128.load(s0 + off));
      x1 = f32x4.pmax(x1, v128.load(s0 + off, BC * 4));
      x2 = f32x4.pmax(x2, v128.load(s0 + off, 2 * BC * 4));
      x3 = f32x4.pmax(x3, v128.load(s0 + off, 3 * BC * 4));
    }
    const tileMax = reduce4(x0, x1, x2, x3, false); // [4] one lane per row
    const at = <usize>r0 << 2;
    const mOld = v128.load(sM + at);
    const mNew = f32x4.max(mOld, tileMax); // f32x4.max keeps a NaN max NaN
    // While a row's max is -Inf (no allowed finite score yet), exponents are taken relative to 0.
    const base = v128.bitselect(f32x4.splat(0), mNew, f32x4.eq(mNew, f32x4.splat(NEG_INF)));
    v128.store(sM + at, mNew);
    v128.store(sBase + at, base);
    v128.store(sAlpha + at, vexp(f32x4.sub(mOld, base)));
  }
  // 2. p = exp(s − base) over the real rows, one flat loop (the exponential's constants stay in registers).
  const n = rows * (BC / 4);
  for (let e = 0; e < n; e++) {
    const at = sS + (<usize>e << 4);
    const base = v128.load32_splat(sBase + ((<usize>e >> 2) & ~3)); // row e / (BC / 4)
    v128.store(at, vexp(f32x4.sub(v128.load(at), base)));
  }
  // 3. Row sums, four rows at a time; l = l·α + Σp; a NaN sum (an allowed NaN score, or +Inf − +Inf) makes the row's
  //    max NaN, and so the whole row, as in the reference.
  for (let r0 = 0; r0 < rows4; r0 += 4) {
    const s0 = sS + (<usize>(r0 * BC) << 2);
    let y0 = f32x4.splat(0);
    let y1 = y0;
    let y2 = y0;
    let y3 = y0;
    for (let off: usize = 0; off < (<usize>BC << 2); off += 16) {
      y0 = f32x4.add(y0, v128.load(s0 + off));
      y1 = f32x4.add(y1, v128.load(s0 + off, BC * 4));
      y2 = f32x4.add(y2, v128.load(s0 + off, 2 * BC * 4));
      y3 = f32x4.add(y3, v128.load(s0 + off, 3 * BC * 4));
    }
    const tileSum = reduce4(y0, y1, y2, y3, true);
    const at = <usize>r0 << 2;
    const nan = f32x4.ne(tileSum, tileSum);
    v128.store(sM + at, v128.bitselect(tileSum, v128.load(sM + at), nan));
    v128.store(sL + at, f32x4.add(f32x4.mul(v128.load(sL + at), v128.load(sAlpha + at)), tileSum));
  }
}

/** Horizontal max (pmax) or sum of four vectors at once: lane i of the result reduces vector i. */
@inline function reduce4(v0: v128, v1: v128, v2: v128, v3: v128, sum: bool): v128 {
  const a = f32x4.shuffle(v0, v1, 0, 4, 1, 5);
  const b = f32x4.shuffle(v0, v1, 2, 6, 3, 7);
  const c = f32x4.shuffle(v2, v3, 0, 4, 1, 5);
  const d = f32x4.shuffle(v2, v3, 2, 6, 3, 7);
  const x = sum ? f32x4.add(a, b) : f32x4.pmax(a, b); // [v0 (0+2), v1 (0+2), v0 (1+3), v1 (1+3)]
  const y = sum ? f32x4.add(c, d) : f32x4.pmax(c, d);
  const u = f32x4.shuffle(x, y, 0, 1, 4, 5);
  const w = f32x4.shuffle(x, y, 2, 3, 6, 7);
  return sum ? f32x4.add(u, w) : f32x4.pmax(u, w);
}

// ---- P·V -------------------------------------------------------------------------------------------------------
/**
 * acc[r, :] = acc[r, :] · α[r] + Σ_jj p[r, jj] · V[jj, :] over the tile's keys jj < cols, for the row blocks that
 * hold real rows. Register tile: 4 rows × 8 value columns in eight f32x4 accumulators, summed over the keys in
 * increasing order. Every key below cols is read, blocked ones with p = 0, which is exact only because V is finite
 * here (see pvCareful); the keys from cols on, all blocked, are skipped.
 */
function pv(rows: i32, cols: i32): void {
  const dvp = gDVP;
  const accRow = <usize>dvp << 2;
  const vRow = <usize>gVRow << 2;
  const sRow = <usize>BC << 2;
  for (let r0 = 0; r0 < rows; r0 += 4) {
    const alpha0 = v128.load32_splat(sAlpha + (<usize>r0 << 2));
    const alpha1 = v128.load32_splat(sAlpha + (<usize>r0 << 2), 4);
    const alpha2 = v128.load32_splat(sAlpha + (<usize>r0 << 2), 8);
    const alpha3 = v128.load32_splat(sAlpha + (<usize>r0 << 2), 12);
    const p0 = sS + <usize>r0 * sRow;
    for (let c = 0; c < dvp; c += 8) {
      const a = sAcc + <usize>r0 * accRow + (<usize>c << 2);
      let a00 = f32x4.mul(v128.load(a), alpha0);
      let a01 = f32x4.mul(v128.load(a, 16), alpha0);
      let a10 = f32x4.mul(v128.load(a + accRow), alpha1);
      let a11 = f32x4.mul(v128.load(a + accRow, 16), alpha1);
      let a20 = f32x4.mul(v128.load(a + 2 * accRow), alpha2);
      let a21 = f32x4.mul(v128.load(a + 2 * accRow, 16), alpha2);
      let a30 = f32x4.mul(v128.load(a + 3 * accRow), alpha3);
      let a31 = f32x4.mul(v128.load(a + 3 * accRow, 16), alpha3);
      let vp = sV + (<usize>c << 2);
      // The four rows' probabilities of key jj are BC floats apart: immediate offsets, one address per key.
      const pEnd = p0 + (<usize>cols << 2);
      for (let pp = p0; pp < pEnd; pp += 4) {
        const v0 = v128.load(vp);
        const v1 = v128.load(vp, 16);
        let p = v128.load32_splat(pp);
        a00 = f32x4.add(a00, f32x4.mul(p, v0));
        a01 = f32x4.add(a01, f32x4.mul(p, v1));
        p = v128.load32_splat(pp, BC * 4);
        a10 = f32x4.add(a10, f32x4.mul(p, v0));
        a11 = f32x4.add(a11, f32x4.mul(p, v1));
        p = v128.load32_splat(pp, 2 * BC * 4);
        a20 = f32x4.add(a20, f32x4.mul(p, v0));
        a21 = f32x4.add(a21, f32x4.mul(p, v1));
        p = v128.load32_splat(pp, 3 * BC * 4);
        a30 = f32x4.add(a30, f32x4.mul(p, v0));
        a31 = f32x4.add(a31, f32x4.mul(p, v1));
        vp += vRow;
      }
      v128.store(a, a00);
      v128.store(a, a01, 16);
      v128.store(a + accRow, a10);
      v128.store(a + accRow, a11, 16);
      v128.store(a + 2 * accRow, a20);
      v128.store(a + 2 * accRow, a21, 16);
      v128.store(a + 3 * accRow, a30);
      v128.store(a + 3 * accRow, a31, 16);
    }
  }
}

/**
 * P·V when the values hold NaN or ±Inf: 0 · NaN is NaN, so blocked keys must be skipped, not multiplied by 0.
 * Reads exactly the values of the keys that mask and causality allow (sAllowed), in the same order as pv.
 */
function pvCareful(rows: i32, cols: i32): void {
  const dvp = gDVP;
  for (let r = 0; r < rows; r++) {
    const a = sAcc + ((<usize>r * <usize>dvp) << 2);
    const alpha = v128.load32_splat(sAlpha + (<usize>r << 2));
    for (let c = 0; c < dvp; c += 4) {
      const at = a + (<usize>c << 2);
      v128.store(at, f32x4.mul(v128.load(at), alpha));
    }
    for (let jj = 0; jj < cols; jj++) {
      if (load<u8>(sAllowed + <usize>(r * BC + jj)) == 0) continue;
      const p = v128.load32_splat(sS + (<usize>(r * BC + jj) << 2));
      const vrow = sV + ((<usize>jj * <usize>gVRow) << 2);
      for (let c = 0; c < dvp; c += 4) {
        const at = a + (<usize>c << 2);
        v128.store(at, f32x4.add(v128.load(at), f32x4.mul(p, v128.load(vrow + (<usize>c << 2)))));
      }
    }
  }
}

// ---- one work unit -----------------------------------------------------------------------------------------------
/** Computes output rows [i0, i0 + rows) of batch b (and their weights when requested). */
/** One forward unit: batch index b and its query tile of BR rows (see the header). */
export function forwardUnit(u: i32): void {
  const b = u / gQTiles;
  const i0 = (u - b * gQTiles) * BR;
  const rows = min(BR, gN - i0);
  const dv = gDV;
  const dvp = gDVP;
  let careful = gCareful;
  if (gBatchState != 0) {
    // Wait for batch b's inputs (a few µs: the caller copies them in batch order, and units are taken in that order).
    const at = gBatchState + (<usize>b << 2);
    let state = atomic.load<i32>(at);
    while (state == 0) state = atomic.load<i32>(at);
    careful = state == 2;
  }

  packQ(b, i0, rows);
  for (let r = 0; r < BR; r++) {
    store<f32>(sM + (<usize>r << 2), NEG_INF);
    store<f32>(sL + (<usize>r << 2), 0);
    store<f32>(sAlpha + (<usize>r << 2), 1); // rows past N keep α = 1 (their p is 0, so acc stays 0)
  }
  memory.fill(sAcc, 0, (<usize>((rows + 3) & ~3) * <usize>dvp) << 2); // the row blocks pv reads

  // Causal: the tile's last row allows keys j < kEnd; tiles from kEnd on are blocked for every row and skipped.
  let kEnd = gS;
  if (gCausal != 0) kEnd = max(0, min(gS, i0 + rows + gCausalShift));

  for (let j0 = 0; j0 < kEnd; j0 += BC) {
    const cols = min(BC, gS - j0);
    scoreTile(b, i0, rows, j0, cols, careful);
    softmaxUpdate(rows);
    packV(b, j0, cols);
    if (careful) pvCareful(rows, cols);
    else pv(rows, cols);
  }

  // out = acc / l; a row whose max stayed -Inf had no allowed key: 0.
  for (let r = 0; r < rows; r++) {
    const out = gOut + ((<usize>i32At(gOutOffsets, b) + <usize>(i0 + r) * <usize>gOutStride) << 2);
    const a = sAcc + ((<usize>r * <usize>dvp) << 2);
    if (load<f32>(sM + (<usize>r << 2)) == NEG_INF) {
      memory.fill(out, 0, <usize>dv << 2);
      continue;
    }
    const l = load<f32>(sL + (<usize>r << 2));
    const lv = f32x4.splat(l);
    let c = 0;
    for (; c + 4 <= dv; c += 4) {
      v128.store(out + (<usize>c << 2), f32x4.div(v128.load(a + (<usize>c << 2)), lv));
    }
    for (; c < dv; c++) store<f32>(out + (<usize>c << 2), load<f32>(a + (<usize>c << 2)) / l);
  }

  if (gWeights != 0) writeWeights(b, i0, rows, kEnd);
}

/**
 * Weights of rows [i0, i0 + rows): each score tile is recomputed exactly as in the forward pass and turned into
 * w = exp(s − m) / l with the row's final max m and sum l; blocked keys and rows without an allowed key get 0.
 */
function writeWeights(b: i32, i0: i32, rows: i32, kEnd: i32): void {
  const S = gS;
  for (let j0 = 0; j0 < S; j0 += BC) {
    const cols = min(BC, S - j0);
    if (j0 >= kEnd) {
      for (let r = 0; r < rows; r++) {
        memory.fill(gWeights + ((<usize>(b * gN + i0 + r) * <usize>S + <usize>j0) << 2), 0, <usize>cols << 2);
      }
      continue;
    }
    scoreTile(b, i0, rows, j0, cols, true);
    for (let r = 0; r < rows; r++) {
      const w = gWeights + ((<usize>(b * gN + i0 + r) * <usize>S + <usize>j0) << 2);
      const m = load<f32>(sM + (<usize>r << 2));
      if (m == NEG_INF) {
        memory.fill(w, 0, <usize>cols << 2);
        continue;
      }
      const sp = sS + (<usize>(r * BC) << 2);
      const mv = f32x4.splat(m);
      const lv = f32x4.splat(load<f32>(sL + (<usize>r << 2)));
      for (let jj = 0; jj < BC; jj += 4) {
        const at = sp + (<usize>jj << 2);
        v128.store(at, f32x4.div(vexp(f32x4.sub(v128.load(at), mv)), lv));
      }
      const allowedRow = sAllowed + <usize>(r * BC);
      for (let jj = 0; jj < cols; jj++) {
        const value: f32 = load<u8>(allowedRow + <usize>jj) != 0 ? load<f32>(sp + (<usize>jj << 2)) : 0;
        store<f32>(w + (<usize>jj << 2), value);
      }
    }
  }
}

// ---- entry points ----------------------------------------------------------------------------------------------
/** True when all n floats at p are finite (no NaN, no ±Inf). */
export function allFinite(p: usize, n: i32): bool {
  const expMask = i32x4.splat(0x7f800000);
  let bad = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const bits = v128.and(v128.load(p + (<usize>i << 2)), expMask);
    bad = v128.or(bad, i32x4.eq(bits, expMask));
  }
  for (; i < n; i++) {
    if ((load<i32>(p + (<usize>i << 2)) & 0x7f800000) == 0x7f800000) return false;
  }
  return !v128.any_true(bad);
}

/**
 * Once per call, before any unit runs (job_prepare): writes the unit count, the scratch size per thread, and whether
 * the values need the careful P·V.
 */
export function forwardPrepare(ctx: usize): void {
  const batch = slot(ctx, SLOT_BATCH);
  const n = slot(ctx, SLOT_N);
  const d = slot(ctx, SLOT_D);
  setSlot(ctx, SLOT_UNITS, batch * ((n + BR - 1) / BR));
  setSlot(ctx, SLOT_SCRATCH_BYTES, attn_scratch_bytes(d, slot(ctx, SLOT_DV)));
  // Streamed inputs (SLOT_BATCH_STATE) are not in place yet: their state says, batch by batch, whether to be careful.
  const streamed = slot(ctx, SLOT_BATCH_STATE) != 0;
  const finite = streamed || allFinite(<usize>slot(ctx, SLOT_V), slot(ctx, SLOT_V_LENGTH));
  setSlot(ctx, SLOT_CAREFUL, finite ? 0 : 1);
}

/** 1 when all n floats at p are finite, else 0: for a caller that streams its inputs in (SLOT_BATCH_STATE). */
export function values_finite(p: usize, n: i32): i32 {
  return allFinite(p, n) ? 1 : 0;
}

/** Scratch bytes one thread needs for head sizes d and dv (16-byte aligned). */
export function attn_scratch_bytes(d: i32, dv: i32): i32 {
  return (scratchBytes(d, (dv + 7) & ~7) + 15) & ~15;
}

/** The first byte past the module's static data: the wrapper's arena starts at or above it. */
export function heap_base(): usize {
  return __heap_base;
}
