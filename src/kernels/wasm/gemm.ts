// The "wasm" backend's matrix product: lays a GemmProblem (reference/linear.ts) out in the kernel's memory, runs the
// SIMD GEMM (asm/gemm.ts) on the calling thread, or on it and the thread pool for large products, and copies C out.
// Same contract as gemmReference, accumulated in float32. Each element of C is computed by one thread over k in a
// fixed order, so results are bitwise the same for any thread count, and a row of C does not depend on M.
//
// Arena layout per call (each region 16-byte aligned, rewritten by every call):
//   ctx [CTX_SLOTS i32] | A | B | bias [N] | C [M, N] | scratch × threads | slack
// The slack keeps the tail strip's extra SIMD lanes (which read up to 7 floats past a row of B or the bias and are
// then dropped) inside the memory.
//
// Declines (returns null, so the reference runs) a product with both operands transposed (no caller needs it) and a
// problem that does not fit the memory's maximum.

import type { GemmProblem } from '../../reference/linear.js';
import { CTX_SLOTS, GEMM_SLOT, JOB, SLOT } from './abi.js';
import { type Pool, poolFor, runOnPool } from './pool.js';
import { ArenaCursor, type WasmKernel, getKernel, reserveArena } from './runtime.js';

/** Output rows and columns per work unit (GM × GN_NT or GN_NN in asm/gemm.ts). */
const ROWS_PER_UNIT = 64;
const COLS_PER_UNIT = { nt: 32, nn: 64 } as const;

/** A GEMM already in the memory: byte addresses of its context block and operands, strides in floats. */
export interface GemmPlacement {
  ctx: number;
  /** C = A·Bᵀ (B stored [N, K]), else C = A·B (B stored [K, N]) */
  nt: boolean;
  M: number;
  N: number;
  K: number;
  /** A[m, k] at a + 4·(m·aRow + k·aCol); NT needs aCol = 1 */
  a: number;
  aRow: number;
  aCol: number;
  b: number;
  bRow: number;
  /** [N], or 0 for none */
  bias: number;
  /** C [M, N], row-major */
  c: number;
  /** floats between rows of C; omitted: N */
  cRow?: number;
}

/** The bytes of one thread's GEMM scratch (gemm_prepare's GEMM_SCRATCH: one 4 × 8 tile), 16-byte aligned. */
export const GEMM_SCRATCH_BYTES = 128;
/** Bytes past the last operand that NN's tail strip may read (and drop). */
export const GEMM_SLACK_BYTES = 64;

/** Fills a GEMM's context block (zeroed first). */
export function writeGemm(buffer: ArrayBufferLike, g: GemmPlacement): void {
  const ctx = new Int32Array(buffer, g.ctx, CTX_SLOTS);
  ctx.fill(0);
  ctx[GEMM_SLOT.KIND] = g.nt ? 0 : 1;
  ctx[GEMM_SLOT.M] = g.M;
  ctx[GEMM_SLOT.N] = g.N;
  ctx[GEMM_SLOT.K] = g.K;
  ctx[GEMM_SLOT.A] = g.a;
  ctx[GEMM_SLOT.A_ROW] = g.aRow;
  ctx[GEMM_SLOT.A_COL] = g.aCol;
  ctx[GEMM_SLOT.B] = g.b;
  ctx[GEMM_SLOT.B_ROW] = g.bRow;
  ctx[GEMM_SLOT.BIAS] = g.bias;
  ctx[GEMM_SLOT.C] = g.c;
  ctx[GEMM_SLOT.C_ROW] = g.cRow ?? g.N;
}

/**
 * Runs a written GEMM context on the pool (when given) and the calling thread, with scratch regions from `scratch`.
 * `meanwhile` runs on the calling thread while the workers start (see runOnPool), or first without a pool.
 */
export function runGemmJob(k: WasmKernel, pool: Pool | null, ctx: number, scratch: number, meanwhile?: () => void): void {
  k.exports.gemm_prepare(ctx);
  const units = new Int32Array(k.memory.buffer, ctx, CTX_SLOTS)[SLOT.UNITS];
  if (pool) runOnPool(pool, ctx, scratch, GEMM_SCRATCH_BYTES, units, JOB.gemm, meanwhile);
  else {
    meanwhile?.();
    k.exports.gemm_units(ctx, scratch, 0, units);
  }
}

/** Work units of a GEMM (as gemm_prepare counts them), for choosing whether to wake the pool. */
export function gemmUnits(M: number, N: number, nt: boolean): number {
  return Math.ceil(M / ROWS_PER_UNIT) * Math.ceil(N / (nt ? COLS_PER_UNIT.nt : COLS_PER_UNIT.nn));
}

/** C [M, N] = op(A)·op(B) + bias on the wasm kernel, or null to decline. */
export function wasmGemm(p: GemmProblem): Float32Array | null {
  const { a, b, M, K, N, transA, transB, bias } = p;
  if (transA && transB) return null;
  const k = getKernel();
  if (!k) return null;
  if (M === 0 || N === 0) return new Float32Array(M * N); // [M, N]

  const nt = transB; // C = A·Bᵀ with A's rows contiguous: the NT kernel; otherwise NN with A read through strides
  let pool: Pool | null = poolFor(k, gemmUnits(M, N, nt), 2 * M * N * K);
  const plan = (threads: number) => {
    const arena = new ArenaCursor(k);
    const take = (bytes: number): number => arena.take(bytes);
    const ctx = take(CTX_SLOTS * 4);
    const pa = take(a.length * 4);
    const pb = take(b.length * 4);
    const pbias = bias ? take(N * 4) : 0;
    const pc = take(M * N * 4);
    const scratch = take(GEMM_SCRATCH_BYTES * threads);
    take(GEMM_SLACK_BYTES);
    return { ctx, pa, pb, pbias, pc, scratch, end: arena.end };
  };
  let layout = plan(1 + (pool?.workers ?? 0));
  if (!reserveArena(k, layout.end - k.arenaBase)) {
    if (!pool) return null;
    pool = null;
    layout = plan(1);
    if (!reserveArena(k, layout.end - k.arenaBase)) return null;
  }
  const buffer = k.memory.buffer;
  new Float32Array(buffer, layout.pa, a.length).set(a);
  new Float32Array(buffer, layout.pb, b.length).set(b);
  if (bias) new Float32Array(buffer, layout.pbias, N).set(bias.subarray(0, N));
  writeGemm(buffer, {
    ctx: layout.ctx,
    nt,
    M,
    N,
    K,
    a: layout.pa,
    aRow: transA ? 1 : K, // A stored [K, M] when transposed: A[m, k] at k·M + m
    aCol: transA ? M : 1,
    b: layout.pb,
    bRow: nt ? K : N, // NT: B stored [N, K]; NN: B stored [K, N]
    bias: bias ? layout.pbias : 0,
    c: layout.pc,
  });
  runGemmJob(k, pool, layout.ctx, layout.scratch);
  return new Float32Array(buffer, layout.pc, M * N).slice(); // [M, N]
}
