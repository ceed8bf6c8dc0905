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
import { ArenaCursor, getKernel, reserveArena } from './runtime.js';

/** Output rows and columns per work unit (GM × GN_NT or GN_NN in asm/gemm.ts). */
const ROWS_PER_UNIT = 64;
const COLS_PER_UNIT = { nt: 32, nn: 64 } as const;
const SLACK = 64;

/** C [M, N] = op(A)·op(B) + bias on the wasm kernel, or null to decline. */
export function wasmGemm(p: GemmProblem): Float32Array | null {
  const { a, b, M, K, N, transA, transB, bias } = p;
  if (transA && transB) return null;
  const k = getKernel();
  if (!k) return null;
  if (M === 0 || N === 0) return new Float32Array(M * N); // [M, N]

  const nt = transB; // C = A·Bᵀ with A's rows contiguous: the NT kernel; otherwise NN with A read through strides
  const units = Math.ceil(M / ROWS_PER_UNIT) * Math.ceil(N / (nt ? COLS_PER_UNIT.nt : COLS_PER_UNIT.nn));
  const scratchStride = 128; // gemm_prepare's GEMM_SCRATCH (one 4 × 8 tile), 16-byte aligned
  let pool: Pool | null = poolFor(k, units, 2 * M * N * K);
  const plan = (threads: number) => {
    const arena = new ArenaCursor(k);
    const take = (bytes: number): number => arena.take(bytes);
    const ctx = take(CTX_SLOTS * 4);
    const pa = take(a.length * 4);
    const pb = take(b.length * 4);
    const pbias = bias ? take(N * 4) : 0;
    const pc = take(M * N * 4);
    const scratch = take(scratchStride * threads);
    take(SLACK);
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
  const ctx = new Int32Array(buffer, layout.ctx, CTX_SLOTS);
  ctx.fill(0);
  ctx[GEMM_SLOT.KIND] = nt ? 0 : 1;
  ctx[GEMM_SLOT.M] = M;
  ctx[GEMM_SLOT.N] = N;
  ctx[GEMM_SLOT.K] = K;
  ctx[GEMM_SLOT.A] = layout.pa;
  ctx[GEMM_SLOT.A_ROW] = transA ? 1 : K; // A stored [K, M] when transposed: A[m, k] at k·M + m
  ctx[GEMM_SLOT.A_COL] = transA ? M : 1;
  ctx[GEMM_SLOT.B] = layout.pb;
  ctx[GEMM_SLOT.B_ROW] = nt ? K : N; // NT: B stored [N, K]; NN: B stored [K, N]
  ctx[GEMM_SLOT.BIAS] = bias ? layout.pbias : 0;
  ctx[GEMM_SLOT.C] = layout.pc;

  k.exports.gemm_prepare(layout.ctx);
  if (pool) runOnPool(pool, layout.ctx, layout.scratch, scratchStride, ctx[SLOT.UNITS], JOB.gemm);
  else k.exports.gemm_units(layout.ctx, layout.scratch, 0, ctx[SLOT.UNITS]);
  return new Float32Array(buffer, layout.pc, M * N).slice(); // [M, N]
}
