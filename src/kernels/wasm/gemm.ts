// The "wasm" backend's matrix product: lays a GemmProblem (reference/linear.ts) out in the kernel's memory, runs the
// SIMD GEMM (asm/gemm.ts) on the calling thread, or on it and the thread pool for large products, and copies C out.
// Same contract as gemmReference, accumulated in float32. Each element of C is computed by one thread over k in a
// fixed order, so results are bitwise the same for any thread count, and a row of C does not depend on M.
//
// Arena layout per call (job.ts: each region 16-byte aligned, rewritten by every call):
//   ctx [CTX_SLOTS i32] | A | B | bias [N] | C [M, N] | scratch × threads | slack
// The slack keeps the tail strip's extra SIMD lanes (which read up to 7 floats past a row of B or the bias and are
// then dropped) inside the memory.
//
// Declines (returns null, so the reference runs) a product with both operands transposed (no caller needs it) and a
// problem that does not fit the memory's maximum.

import type { GemmProblem } from '../../reference/linear.js';
import { GEMM_SLOT, JOB, LAYOUT, TILE } from './abi.js';
import { type Call, prepareJob, reserveCall, runJob } from './job.js';
import { poolFor } from './pool.js';
import { getKernel } from './runtime.js';

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

/** Fills a GEMM's context block (zeroed first). */
export function writeGemm(buffer: ArrayBufferLike, g: GemmPlacement): void {
  const ctx = new Int32Array(buffer, g.ctx, LAYOUT.CTX_SLOTS);
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
 * Prepares and runs a written GEMM context as a job of `call`, on `pool` (the call's, unless given) and the calling
 * thread. `meanwhile` runs on the calling thread while the workers start (see runJob).
 */
export function runGemmJob(call: Call<unknown>, ctx: number, meanwhile?: () => void, pool = call.pool): void {
  const job = { kind: JOB.GEMM, ctx };
  prepareJob(call, job);
  runJob(call, job, meanwhile, pool);
}

/** Work units of a GEMM (as gemm_prepare counts them), for choosing whether to wake the pool. */
export function gemmUnits(M: number, N: number, nt: boolean): number {
  return Math.ceil(M / TILE.GM) * Math.ceil(N / (nt ? TILE.GN_NT : TILE.GN_NN));
}

/** C [M, N] = op(A)·op(B) + bias on the wasm kernel, or null to decline. */
export function wasmGemm(p: GemmProblem): Float32Array | null {
  const { a, b, M, K, N, transA, transB, bias } = p;
  if (transA && transB) return null;
  const k = getKernel();
  if (!k) return null;
  if (M === 0 || N === 0) return new Float32Array(M * N); // [M, N]

  const nt = transB; // C = A·Bᵀ with A's rows contiguous: the NT kernel; otherwise NN with A read through strides
  const pool = poolFor(k, gemmUnits(M, N, nt), 2 * M * N * K);
  const call = reserveCall(k, pool, LAYOUT.GEMM_SCRATCH_BYTES, (arena) => ({
    ctx: arena.take(LAYOUT.CTX_SLOTS * 4),
    pa: arena.take(a.length * 4),
    pb: arena.take(b.length * 4),
    pbias: bias ? arena.take(N * 4) : 0,
    pc: arena.take(M * N * 4),
  }));
  if (!call) return null;
  const { layout, buffer } = call;
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
  runGemmJob(call, layout.ctx);
  return new Float32Array(buffer, layout.pc, M * N).slice(); // [M, N]
}
