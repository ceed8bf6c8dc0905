// Flash-attention backward kernel of the "wasm" backend, in AssemblyScript with f32x4 SIMD. It computes what
// src/reference/attention-backward.ts specifies (dq, dk, dv in the inputs' layouts), in float32 and tile by tile,
// after FlashAttention-2's backward (Dao, 2023, Algorithm 2) and llm.c's attention_backward, with one change: the
// caller has neither the forward's output nor its log-sum-exp, so a first pass over the key tiles recomputes the row
// statistics, and it computes D_i = Σ_j w_ij · dw_ij online from dP = dO·Vᵀ instead of from dO · O (the same number;
// it needs no P·V product). Per work unit = (batch index b, a chunk of consecutive query tiles):
//
//   for each query tile i of BR rows (in increasing order):
//     pass 1, key tiles j up to the causal edge:                              (the forward's statistics)
//       S_ij  = (Q_i·scale)·K_jᵀ, blocked → -Inf       kept in a strip [BR, S]   (scoreTile, as the forward)
//       dP_ij = dO_i·V_jᵀ                              kept in a strip [BR, S]
//       m' = max(m, rowmax S);  α = exp(m − m');  l = l·α + Σ_j exp(S − m');  Dacc = Dacc·α + Σ_j exp(S − m')·dP
//     D_i = Dacc / l;  a row with no allowed key gets m = +Inf, so that its P (and gradient) is 0
//     pass 2, the same key tiles:
//       P   = exp(S − m) / l                        (the weights, exactly as the forward's writeWeights)
//       dS  = P ∘ (dP − D_i)                        (softmax backward; 0 wherever P is 0: blocked keys)
//       dV_j += Pᵀ·dO_i     dK_j += dSᵀ·(Q_i·scale)     dQ_i += dS·K_j        (register tile 4 × 8, gemm.ts)
//     dQ_i ·= scale, written to the unit's rows of dQ [batch, N, d]
//
// Never materialised: the N×S matrix. Each thread keeps two strips of one query tile's scores, BR × S floats each.
// Five tile products per (i, j), as FlashAttention-2's backward; the forward does two.
//
// Reduction order (results do not depend on the thread count): a unit owns its dQ rows, and accumulates dK and dV of
// its query tiles, in increasing order, into its own partial buffers [chunk, batch, S, d]. attn_backward_reduce then
// sums, on one thread, for b = 0 .. batch−1 and chunk = 0 .. chunks−1 in that order, the partials into the inputs'
// layouts through the per-batch offsets (so grouped-query heads and broadcast batch dims are summed, as the
// reference does), and dQ likewise. The chunk count is chosen by the wrapper from the problem's shape only.
//
// NaN and ±Inf (backwardPrepare scans query, key, value and dO): the tile products multiply blocked entries by
// 0, which is exact only for finite numbers. With a non-finite input the unit runs "careful": it keeps which keys the
// mask and causality allow (a byte strip beside the score strip), forces P, dP and dS to 0 at blocked entries, and
// its products skip blocked terms instead of adding 0 · x, in the same order as the fast products. So a blocked key
// is never read, as in the reference, and an allowed NaN score makes its row NaN (caught through the row sum, as
// the forward does).
//
// Declined by the wrapper (the reference runs): a bias (its gradient is N×S-shaped and would need a reduction over
// broadcast dims) and a softcap.

import {
  BC,
  BR,
  SLOT_BATCH,
  SLOT_CHUNKS,
  SLOT_D,
  SLOT_DK_PART,
  SLOT_DQ_BATCH,
  SLOT_DV,
  SLOT_DV_PART,
  SLOT_GRAD_K,
  SLOT_GRAD_OUT,
  SLOT_GRAD_Q,
  SLOT_GRAD_V,
  SLOT_K,
  SLOT_K_LENGTH,
  SLOT_K_OFFSETS,
  SLOT_N,
  SLOT_NONFINITE,
  SLOT_Q,
  SLOT_Q_LENGTH,
  SLOT_Q_OFFSETS,
  SLOT_S,
  SLOT_SCRATCH_BYTES,
  SLOT_UNITS,
  SLOT_V,
  SLOT_V_LENGTH_B,
  SLOT_V_OFFSETS,
  setSlot,
  slot,
} from './abi';
import { INIT_C, INIT_ZERO, mmTiles } from './gemm';
import {
  NEG_INF,
  allFinite,
  attn_scratch_bytes,
  gCausal,
  gCausalShift,
  gD,
  gDV,
  gK,
  gKOffsets,
  gN,
  gS,
  gScale,
  gV,
  gVOffsets,
  i32At,
  loadContext,
  packQ,
  sAllowed,
  sQ,
  sS,
  scoreTile,
  vexp,
} from './attention';

// ---- this thread's backward state ------------------------------------------------------------------------------
let bDP: i32 = 0; //     d rounded up to 8
let bDVP: i32 = 0; //    dv rounded up to 8
let bKTiles: i32 = 0; // key tiles: ceil(S / BC)
let bChunks: i32 = 0;
let bBatch: i32 = 0;
let bGradOut: usize = 0;
let bDQBatch: usize = 0;
let bDKPart: usize = 0;
let bDVPart: usize = 0;

// Scratch past the forward's (whose sQ, sKT, sS and sAllowed scoreTile uses):
let bQ: usize = 0; //    [BR, dp]   the query tile times scale, zero-padded
let bDO: usize = 0; //   [BR, dvp]  the tile's rows of dO, zero-padded
let bVT: usize = 0; //   [dv, BC]   the value tile, transposed, zero-padded past S
let bKR: usize = 0; //   [BC, dp]   the key tile's rows, zero-padded
let bDQ: usize = 0; //   [BR, dp]   dQ accumulators of the tile
let bM: usize = 0; //    [BR]       row max (then +Inf for rows without an allowed key)
let bL: usize = 0; //    [BR]       row sum
let bD: usize = 0; //    [BR]       D_i (accumulated online, then divided by l)
let bStripS: usize = 0; //  [kTiles, BR, BC] scores, then P
let bStripP: usize = 0; //  [kTiles, BR, BC] dP, then dS
let bStripA: usize = 0; //  u8 [kTiles, BR, BC] 1 where mask and causality allow the key (careful mode only)
let bCareful: bool = false;

function backwardScratchBytes(d: i32, dv: i32, S: i32): i32 {
  const dp = (d + 7) & ~7;
  const dvp = (dv + 7) & ~7;
  const kTiles = (S + BC - 1) / BC;
  const extra = (BR * dp + BR * dvp + dv * BC + BC * dp + BR * dp + 3 * BR + 2 * kTiles * BR * BC) * 4 + kTiles * BR * BC;
  return (attn_scratch_bytes(d, dv) + extra + 15) & ~15;
}

/** Loads a backward context into this thread's globals and carves its scratch (job_run). */
export function loadBackward(ctx: usize, scratch: usize): void {
  loadContext(ctx, scratch);
  bDP = (gD + 7) & ~7;
  bDVP = (gDV + 7) & ~7;
  bKTiles = (gS + BC - 1) / BC;
  bChunks = slot(ctx, SLOT_CHUNKS);
  bBatch = slot(ctx, SLOT_BATCH);
  bGradOut = <usize>slot(ctx, SLOT_GRAD_OUT);
  bDQBatch = <usize>slot(ctx, SLOT_DQ_BATCH);
  bDKPart = <usize>slot(ctx, SLOT_DK_PART);
  bDVPart = <usize>slot(ctx, SLOT_DV_PART);
  bQ = scratch + <usize>attn_scratch_bytes(gD, gDV);
  bDO = bQ + ((<usize>BR * <usize>bDP) << 2);
  bVT = bDO + ((<usize>BR * <usize>bDVP) << 2);
  bKR = bVT + ((<usize>gDV * <usize>BC) << 2);
  bDQ = bKR + ((<usize>BC * <usize>bDP) << 2);
  bM = bDQ + ((<usize>BR * <usize>bDP) << 2);
  bL = bM + (<usize>BR << 2);
  bD = bL + (<usize>BR << 2);
  bStripS = bD + (<usize>BR << 2);
  bStripP = bStripS + ((<usize>bKTiles * <usize>BR * <usize>BC) << 2);
  bStripA = bStripP + ((<usize>bKTiles * <usize>BR * <usize>BC) << 2);
  bCareful = slot(ctx, SLOT_NONFINITE) != 0;
}

/**
 * {@link mmTiles} with INIT_C for careful mode: C[m, n] += A[m, k] · B[k, n] only where the byte at
 * allowed + m·alr + k·alc is nonzero, over k in increasing order (the fast product's order, minus the skipped terms).
 */
function mmCareful(
  a: usize, ars: usize, acs: usize, b: usize, ldb: usize, K: i32, c: usize, ldc: usize, M: i32, N: i32,
  allowed: usize, alr: usize, alc: usize,
): void {
  for (let m = 0; m < M; m++) {
    const cm = c + <usize>m * ldc;
    for (let n = 0; n < N; n += 4) {
      const at = cm + (<usize>n << 2);
      let acc = v128.load(at);
      for (let k = 0; k < K; k++) {
        if (load<u8>(allowed + <usize>m * alr + <usize>k * alc) == 0) continue;
        const x = v128.load32_splat(a + <usize>m * ars + <usize>k * acs);
        acc = f32x4.add(acc, f32x4.mul(x, v128.load(b + <usize>k * ldb + (<usize>n << 2))));
      }
      v128.store(at, acc);
    }
  }
}

// ---- packing ---------------------------------------------------------------------------------------------------
/** dst [rows, width padded to dstStride] = src rows (srcStride floats apart), zeros past `count` rows and `width`. */
function packRows(src: usize, srcStride: i32, count: i32, width: i32, dst: usize, dstStride: i32, rows: i32): void {
  for (let r = 0; r < rows; r++) {
    const to = dst + ((<usize>r * <usize>dstStride) << 2);
    if (r < count) {
      memory.copy(to, src + ((<usize>r * <usize>srcStride) << 2), <usize>width << 2);
      if (dstStride > width) memory.fill(to + (<usize>width << 2), 0, <usize>(dstStride - width) << 2);
    } else {
      memory.fill(to, 0, <usize>dstStride << 2);
    }
  }
}

/** bVT [dv, BC] = values [j0, j0 + cols) of batch b, transposed; zeros past S. */
function packVT(b: i32, j0: i32, cols: i32): void {
  const dv = gDV;
  const base = gV + ((<usize>i32At(gVOffsets, b) + <usize>j0 * <usize>dv) << 2);
  for (let j = 0; j < BC; j++) {
    const row = base + ((<usize>j * <usize>dv) << 2);
    for (let c = 0; c < dv; c++) {
      const v: f32 = j < cols ? load<f32>(row + (<usize>c << 2)) : 0;
      store<f32>(bVT + ((<usize>c * <usize>BC + <usize>j) << 2), v);
    }
  }
}

// ---- one query tile --------------------------------------------------------------------------------------------
/**
 * Pass 1 for rows [i0, i0 + rows) of batch b over key tiles [0, kEnd): fills both strips and each row's m, l and D.
 */
function statistics(b: i32, i0: i32, rows: i32, kEnd: i32): void {
  for (let r = 0; r < BR; r++) {
    store<f32>(bM + (<usize>r << 2), NEG_INF);
    store<f32>(bL + (<usize>r << 2), 0);
    store<f32>(bD + (<usize>r << 2), 0);
  }
  const tileBytes = (<usize>BR * <usize>BC) << 2;
  for (let j0 = 0, t = 0; j0 < kEnd; j0 += BC, t++) {
    const cols = min(BC, gS - j0);
    const s = bStripS + <usize>t * tileBytes;
    const p = bStripP + <usize>t * tileBytes;
    sS = s;
    scoreTile(b, i0, rows, j0, cols, bCareful); // [BR, BC]; -Inf where blocked, 0 in rows past N
    packVT(b, j0, cols);
    // dP [BR, BC] = dO [BR, dv] · Vᵀ [dv, BC]; rows past N are 0 (dO is zero-padded)
    mmTiles(bDO, <usize>bDVP << 2, 4, bVT, <usize>BC << 2, gDV, p, <usize>BC << 2, BR, BC, INIT_ZERO);
    if (bCareful) {
      // Keep the allowed keys (none in rows past N), and make dP 0 where a blocked key's value could be NaN.
      const allowed = bStripA + <usize>t * <usize>(BR * BC);
      memory.copy(allowed, sAllowed, <usize>(rows * BC));
      memory.fill(allowed + <usize>(rows * BC), 0, <usize>((BR - rows) * BC));
      for (let e = 0; e < BR * BC; e++) {
        if (load<u8>(allowed + <usize>e) == 0) store<f32>(p + (<usize>e << 2), 0);
      }
    }
    for (let r = 0; r < rows; r++) {
      const sr = s + (<usize>(r * BC) << 2);
      const pr = p + (<usize>(r * BC) << 2);
      let vmax = f32x4.splat(NEG_INF);
      for (let jj = 0; jj < BC; jj += 4) vmax = f32x4.pmax(vmax, v128.load(sr + (<usize>jj << 2)));
      const tileMax = max(
        max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)),
        max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)),
      );
      const mOld = load<f32>(bM + (<usize>r << 2));
      let mNew = max(mOld, tileMax);
      const base: f32 = mNew == NEG_INF ? 0 : mNew;
      const baseV = f32x4.splat(base);
      let vsum = f32x4.splat(0);
      let vdot = f32x4.splat(0);
      for (let jj = 0; jj < BC; jj += 4) {
        const e = vexp(f32x4.sub(v128.load(sr + (<usize>jj << 2)), baseV));
        vsum = f32x4.add(vsum, e);
        vdot = f32x4.add(vdot, f32x4.mul(e, v128.load(pr + (<usize>jj << 2))));
      }
      const tileSum =
        f32x4.extract_lane(vsum, 0) + f32x4.extract_lane(vsum, 1) + (f32x4.extract_lane(vsum, 2) + f32x4.extract_lane(vsum, 3));
      const tileDot =
        f32x4.extract_lane(vdot, 0) + f32x4.extract_lane(vdot, 1) + (f32x4.extract_lane(vdot, 2) + f32x4.extract_lane(vdot, 3));
      const alpha = f32x4.extract_lane(vexp(f32x4.splat(mOld - base)), 0);
      // pmax may drop a NaN score; the sum does not: an allowed NaN score makes the whole row NaN, as in the forward.
      if (isNaN(tileSum)) mNew = NaN;
      store<f32>(bM + (<usize>r << 2), mNew);
      store<f32>(bL + (<usize>r << 2), load<f32>(bL + (<usize>r << 2)) * alpha + tileSum);
      store<f32>(bD + (<usize>r << 2), load<f32>(bD + (<usize>r << 2)) * alpha + tileDot);
    }
  }
  // D = Dacc / l. Rows without an allowed key, and rows past N: m = +Inf makes every P of the row exp(-Inf) = 0.
  for (let r = 0; r < BR; r++) {
    const m = load<f32>(bM + (<usize>r << 2));
    if (r >= rows || m == NEG_INF) {
      store<f32>(bM + (<usize>r << 2), Infinity);
      store<f32>(bL + (<usize>r << 2), 1);
      store<f32>(bD + (<usize>r << 2), 0);
      if (bCareful) {
        // No allowed key with a score above -Inf: the output row is 0 whatever the inputs, so nothing flows back.
        for (let t = 0; t * BC < kEnd; t++) memory.fill(bStripA + <usize>(t * BR * BC + r * BC), 0, <usize>BC);
      }
    } else {
      store<f32>(bD + (<usize>r << 2), load<f32>(bD + (<usize>r << 2)) / load<f32>(bL + (<usize>r << 2)));
    }
  }
}

/** Pass 2 for the tile: P, dS, and the three gradient products; dQ accumulates in bDQ. */
function gradients(b: i32, chunk: i32, kEnd: i32): void {
  const d = gD;
  const dp = bDP;
  const dvp = bDVP;
  const tileBytes = (<usize>BR * <usize>BC) << 2;
  const rowB = <usize>BC << 2;
  const part = <usize>(chunk * bBatch + b) * <usize>(bKTiles * BC);
  const dkBase = bDKPart + ((part * <usize>dp) << 2);
  const dvBase = bDVPart + ((part * <usize>dvp) << 2);
  const kBase = gK + (<usize>i32At(gKOffsets, b) << 2);
  for (let j0 = 0, t = 0; j0 < kEnd; j0 += BC, t++) {
    const cols = min(BC, gS - j0);
    const s = bStripS + <usize>t * tileBytes;
    const p = bStripP + <usize>t * tileBytes;
    for (let r = 0; r < BR; r++) {
      const mv = f32x4.splat(load<f32>(bM + (<usize>r << 2)));
      const lv = f32x4.splat(load<f32>(bL + (<usize>r << 2)));
      const dv = f32x4.splat(load<f32>(bD + (<usize>r << 2)));
      const sr = s + <usize>r * rowB;
      const pr = p + <usize>r * rowB;
      for (let jj: usize = 0; jj < rowB; jj += 16) {
        const w = f32x4.div(vexp(f32x4.sub(v128.load(sr + jj), mv)), lv); // P
        v128.store(sr + jj, w);
        v128.store(pr + jj, f32x4.mul(w, f32x4.sub(v128.load(pr + jj), dv))); // dS
      }
    }
    packRows(kBase + ((<usize>j0 * <usize>d) << 2), d, cols, d, bKR, dp, BC);
    const dvTile = dvBase + ((<usize>j0 * <usize>dvp) << 2);
    const dkTile = dkBase + ((<usize>j0 * <usize>dp) << 2);
    if (!bCareful) {
      // dV_j [BC, dvp] += Pᵀ [BC, BR] · dO_i [BR, dvp]
      mmTiles(s, 4, rowB, bDO, <usize>dvp << 2, BR, dvTile, <usize>dvp << 2, BC, dvp, INIT_C);
      // dK_j [BC, dp] += dSᵀ [BC, BR] · (Q_i·scale) [BR, dp]
      mmTiles(p, 4, rowB, bQ, <usize>dp << 2, BR, dkTile, <usize>dp << 2, BC, dp, INIT_C);
      // dQ_i [BR, dp] += dS [BR, BC] · K_j [BC, dp]
      mmTiles(p, rowB, 4, bKR, <usize>dp << 2, BC, bDQ, <usize>dp << 2, BR, dp, INIT_C);
    } else {
      // The same three products over the allowed (r, jj) only; P and dS are 0 elsewhere (NaN-safe selects).
      const allowed = bStripA + <usize>t * <usize>(BR * BC);
      for (let e = 0; e < BR * BC; e++) {
        if (load<u8>(allowed + <usize>e) != 0) continue;
        store<f32>(s + (<usize>e << 2), 0);
        store<f32>(p + (<usize>e << 2), 0);
      }
      const bcU = <usize>BC;
      mmCareful(s, 4, rowB, bDO, <usize>dvp << 2, BR, dvTile, <usize>dvp << 2, BC, dvp, allowed, 1, bcU);
      mmCareful(p, 4, rowB, bQ, <usize>dp << 2, BR, dkTile, <usize>dp << 2, BC, dp, allowed, 1, bcU);
      mmCareful(p, rowB, 4, bKR, <usize>dp << 2, BC, bDQ, <usize>dp << 2, BR, dp, allowed, bcU, 1);
    }
  }
}

/** One backward unit: batch index b and its chunk of query tiles, in increasing order (see the header). */
export function backwardUnit(u: i32): void {
  const b = u / bChunks;
  const chunk = u - b * bChunks;
  const qTiles = (gN + BR - 1) / BR;
  const first = <i32>((<i64>chunk * qTiles) / bChunks);
  const last = <i32>((<i64>(chunk + 1) * qTiles) / bChunks);
  const d = gD;
  const dp = bDP;
  const dv = gDV;
  const spad = <usize>(bKTiles * BC);
  const part = <usize>(chunk * bBatch + b) * spad;
  memory.fill(bDKPart + ((part * <usize>dp) << 2), 0, (spad * <usize>dp) << 2);
  memory.fill(bDVPart + ((part * <usize>bDVP) << 2), 0, (spad * <usize>bDVP) << 2);

  for (let tile = first; tile < last; tile++) {
    const i0 = tile * BR;
    const rows = min(BR, gN - i0);
    let kEnd = gS;
    if (gCausal != 0) kEnd = max(0, min(gS, i0 + rows + gCausalShift));

    packQ(b, i0, rows); // sQ [BR, d] = Q · scale, zeros past N
    packRows(sQ, d, BR, d, bQ, dp, BR);
    packRows(bGradOut + ((<usize>(b * gN + i0) * <usize>dv) << 2), dv, rows, dv, bDO, bDVP, BR);
    memory.fill(bDQ, 0, (<usize>BR * <usize>dp) << 2);
    statistics(b, i0, rows, kEnd);
    gradients(b, chunk, kEnd);

    // dq = scale · Σ_j dS_ij · k_j (the scores are (q · scale) · k)
    const scale = f32x4.splat(gScale);
    for (let r = 0; r < rows; r++) {
      const out = bDQBatch + ((<usize>(b * gN + i0 + r) * <usize>d) << 2);
      const acc = bDQ + ((<usize>r * <usize>dp) << 2);
      let c = 0;
      for (; c + 4 <= d; c += 4) {
        v128.store(out + (<usize>c << 2), f32x4.mul(v128.load(acc + (<usize>c << 2)), scale));
      }
      for (; c < d; c++) store<f32>(out + (<usize>c << 2), load<f32>(acc + (<usize>c << 2)) * gScale);
    }
  }
}

// ---- entry points ----------------------------------------------------------------------------------------------
/** Scratch bytes one backward thread needs for head sizes d, dv and S keys (16-byte aligned). */
export function attn_backward_scratch_bytes(d: i32, dv: i32, S: i32): i32 {
  return backwardScratchBytes(d, dv, S);
}

/**
 * Once per call (job_prepare): the unit count (batch · chunks), the scratch size, and whether an input holds NaN or
 * ±Inf (careful mode).
 */
export function backwardPrepare(ctx: usize): void {
  const batch = slot(ctx, SLOT_BATCH);
  setSlot(ctx, SLOT_UNITS, batch * slot(ctx, SLOT_CHUNKS));
  setSlot(ctx, SLOT_SCRATCH_BYTES, backwardScratchBytes(slot(ctx, SLOT_D), slot(ctx, SLOT_DV), slot(ctx, SLOT_S)));
  const gradLength = batch * slot(ctx, SLOT_N) * slot(ctx, SLOT_DV);
  const finite =
    allFinite(<usize>slot(ctx, SLOT_Q), slot(ctx, SLOT_Q_LENGTH)) &&
    allFinite(<usize>slot(ctx, SLOT_K), slot(ctx, SLOT_K_LENGTH)) &&
    allFinite(<usize>slot(ctx, SLOT_V), slot(ctx, SLOT_V_LENGTH_B)) &&
    allFinite(<usize>slot(ctx, SLOT_GRAD_OUT), gradLength);
  setSlot(ctx, SLOT_NONFINITE, finite ? 0 : 1);
}

/** dst[e] += src[e] for n floats. */
function addInto(dst: usize, src: usize, n: i32): void {
  let e = 0;
  for (; e + 4 <= n; e += 4) {
    const at = <usize>e << 2;
    v128.store(dst + at, f32x4.add(v128.load(dst + at), v128.load(src + at)));
  }
  for (; e < n; e++) {
    const at = <usize>e << 2;
    store<f32>(dst + at, load<f32>(dst + at) + load<f32>(src + at));
  }
}

/**
 * After every unit has run, on one thread: zeroes the results and sums into them, for b = 0 .. batch−1 and
 * chunk = 0 .. chunks−1 in that order, dq of batch index b into query's layout and the dk, dv partials into key's and
 * value's (dropping the padding), through the per-batch offsets.
 */
export function attn_backward_reduce(ctx: usize): void {
  const batch = slot(ctx, SLOT_BATCH);
  const N = slot(ctx, SLOT_N);
  const S = slot(ctx, SLOT_S);
  const d = slot(ctx, SLOT_D);
  const dv = slot(ctx, SLOT_DV);
  const dp = (d + 7) & ~7;
  const dvp = (dv + 7) & ~7;
  const chunks = slot(ctx, SLOT_CHUNKS);
  const spad = ((S + BC - 1) / BC) * BC;
  const gradQ = <usize>slot(ctx, SLOT_GRAD_Q);
  const gradK = <usize>slot(ctx, SLOT_GRAD_K);
  const gradV = <usize>slot(ctx, SLOT_GRAD_V);
  memory.fill(gradQ, 0, <usize>slot(ctx, SLOT_Q_LENGTH) << 2);
  memory.fill(gradK, 0, <usize>slot(ctx, SLOT_K_LENGTH) << 2);
  memory.fill(gradV, 0, <usize>slot(ctx, SLOT_V_LENGTH_B) << 2);
  const qOffsets = <usize>slot(ctx, SLOT_Q_OFFSETS);
  const kOffsets = <usize>slot(ctx, SLOT_K_OFFSETS);
  const vOffsets = <usize>slot(ctx, SLOT_V_OFFSETS);
  const dq = <usize>slot(ctx, SLOT_DQ_BATCH);
  const dkPart = <usize>slot(ctx, SLOT_DK_PART);
  const dvPart = <usize>slot(ctx, SLOT_DV_PART);
  for (let b = 0; b < batch; b++) {
    addInto(gradQ + (<usize>i32At(qOffsets, b) << 2), dq + ((<usize>b * <usize>N * <usize>d) << 2), N * d);
    for (let c = 0; c < chunks; c++) {
      const part = <usize>(c * batch + b) * <usize>spad;
      const kTo = gradK + (<usize>i32At(kOffsets, b) << 2);
      const vTo = gradV + (<usize>i32At(vOffsets, b) << 2);
      for (let s = 0; s < S; s++) {
        addInto(kTo + ((<usize>s * <usize>d) << 2), dkPart + (((part + <usize>s) * <usize>dp) << 2), d);
        addInto(vTo + ((<usize>s * <usize>dv) << 2), dvPart + (((part + <usize>s) * <usize>dvp) << 2), dv);
      }
    }
  }
}
