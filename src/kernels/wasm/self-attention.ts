// The "wasm" backend's fused self-attention (kernels/backend.ts SelfAttentionProblem): MultiHeadAttention.forward
// with packed input weights in one call, so that the projections and the heads never leave the kernel's memory.
// Unfused, every forward copies the projection [q | k | v] out of the memory, splits it into heads in JavaScript,
// copies the heads back in for the attention, copies the attention's output out, merges the heads and copies them in
// again for the output projection; here the attention reads q, k and v in place (row stride 3D, one column offset per
// head) and writes its output with the heads already merged (row stride D).
//
// Three steps (four pool jobs) on one arena, each the kernel that the unfused path runs, on the same values, so the
// result equals the composition bit for bit (every element of a GEMM is computed on its own, so a band of columns of
// a product is the same as in the whole product):
//   1. GEMM NT  qkv [B·N, 3D] = x [B·N, D] · inWeightᵀ + inBias, as two bands of columns: q, then k and v, so that
//               the caller copies the key and value weights in while the pool computes q
//   2. flash attention per (b, h): q, k, v at qkv + b·N·3D + {0, D, 2D} + h·d, row stride 3D → heads [B·N, D]
//               (the caller copies the output weights in meanwhile)
//   3. GEMM NT  out [B·N, D] = heads · outWeightᵀ + outBias (the caller allocates the result meanwhile)
//
// Arena layout (job.ts: each region 16-byte aligned, rewritten by every call):
//   ctx × 3 | x | inWeight | inBias | qkv | q/k/v/output offsets [B·H] i32 each | mask, its offsets | bias, its
//   offsets | heads | weights [B·H, N, N] | outWeight | outBias | out | scratch × threads | slack
//
// Declines (returns null, so that MultiHeadAttention composes the steps) when the problem does not fit the memory,
// and when the projection holds NaN or ±Inf: the attention kernel then takes its careful path for the whole call,
// which the composition takes only when the values do, so declining keeps the two paths equal in every bit.

import type { SelfAttentionProblem, SelfAttentionResult } from '../backend.js';
import { LAYOUT, TILE } from './abi.js';
import { prepareForward, writeAttentionSlots, writeScoreOperands } from './attention.js';
import { gemmUnits, runGemmJob, writeGemm } from './gemm.js';
import { runJob, reserveCall } from './job.js';
import { poolFor } from './pool.js';
import { type ArenaCursor, getKernel, touchedArray } from './runtime.js';

function plan(arena: ArenaCursor, p: SelfAttentionProblem, weights: boolean) {
  const { B, N, D, H, scores } = p;
  const M = B * N;
  const batch = B * H;
  const take = (bytes: number): number => arena.take(bytes);
  return {
    inCtx: take(LAYOUT.CTX_SLOTS * 4),
    attnCtx: take(LAYOUT.CTX_SLOTS * 4),
    outCtx: take(LAYOUT.CTX_SLOTS * 4),
    x: take(M * D * 4),
    inWeight: take(3 * D * D * 4),
    inBias: p.inBias ? take(3 * D * 4) : 0,
    qkv: take(M * 3 * D * 4),
    qOffsets: take(batch * 4),
    kOffsets: take(batch * 4),
    vOffsets: take(batch * 4),
    outOffsets: take(batch * 4),
    mask: scores.mask ? take(scores.mask.data.length * 4) : 0,
    maskOffsets: scores.mask ? take(batch * 4) : 0,
    bias: scores.bias ? take(scores.bias.data.length * 4) : 0,
    biasOffsets: scores.bias ? take(batch * 4) : 0,
    heads: take(M * D * 4),
    weights: weights ? take(batch * N * N * 4) : 0,
    outWeight: take(D * D * 4),
    outBias: p.outBias ? take(D * 4) : 0,
    out: take(M * D * 4),
  };
}

/** The fused self-attention on the wasm kernel, or null to decline. Shapes: output [B, N, D]; weights [B·H, N, N]. */
export function wasmSelfAttention(p: SelfAttentionProblem, weights: boolean): SelfAttentionResult | null {
  const k = getKernel();
  const { B, N, D, H } = p;
  if (!k || B * N === 0 || D % H !== 0) return null;
  const M = B * N;
  const d = D / H;
  const batch = B * H;

  // Each step uses the pool as the unfused step would choose it (null: the calling thread alone); the arena has
  // scratch for the pool's threads when any step uses it, and none of them uses it when that does not fit.
  const inProj = poolFor(k, gemmUnits(M, 3 * D, true), 2 * M * 3 * D * D); // as the whole projection would choose
  const attention = poolFor(k, batch * Math.ceil(N / TILE.BR), 4 * batch * N * N * d);
  const outProj = poolFor(k, gemmUnits(M, D, true), 2 * M * D * D);
  const stride = Math.max(k.exports.attn_scratch_bytes(d, d), LAYOUT.GEMM_SCRATCH_BYTES);
  const call = reserveCall(k, inProj ?? attention ?? outProj, stride, (arena) => plan(arena, p, weights));
  if (!call) return null;
  const pools = { inProj: call.pool && inProj, attention: call.pool && attention, outProj: call.pool && outProj };
  const { layout, buffer } = call;
  const floats = (at: number, length: number) => new Float32Array(buffer, at, length);
  const copy = (to: number, from: Float32Array, length: number) => floats(to, length).set(from.subarray(0, length));
  /** Writes the context of C [M, n] = A [M, D] · W [n, D]ᵀ + bias, rows cRow floats apart (a band of qkv, or out). */
  const project = (ctx: number, a: number, w: number, bias: number, c: number, n: number, cRow: number) => {
    writeGemm(buffer, { ctx, nt: true, M, N: n, K: D, a, aRow: D, aCol: 1, b: w, bRow: D, bias, c, cRow });
  };
  const inBias = (from: number) => (layout.inBias === 0 ? 0 : layout.inBias + 4 * from);

  // 1. qkv = x · inWeightᵀ + inBias, in two bands: q first, while the caller copies the key and value weights in.
  copy(layout.x, p.x, M * D);
  copy(layout.inWeight, p.inWeight, D * D);
  if (p.inBias) copy(layout.inBias, p.inBias, 3 * D);
  project(layout.inCtx, layout.x, layout.inWeight, inBias(0), layout.qkv, D, 3 * D);
  const copyKeyValueWeights = () => copy(layout.inWeight + 4 * D * D, p.inWeight.subarray(D * D), 2 * D * D);
  runGemmJob(call, layout.inCtx, copyKeyValueWeights, pools.inProj);
  project(layout.inCtx, layout.x, layout.inWeight + 4 * D * D, inBias(D), layout.qkv + 4 * D, 2 * D, 3 * D);
  runGemmJob(call, layout.inCtx, undefined, pools.inProj);

  // 2. attention per (b, h), reading q, k and v inside qkv and writing the heads merged; meanwhile the caller copies
  //    the output weights in.
  const qOffsets = new Int32Array(buffer, layout.qOffsets, batch);
  const kOffsets = new Int32Array(buffer, layout.kOffsets, batch);
  const vOffsets = new Int32Array(buffer, layout.vOffsets, batch);
  const outOffsets = new Int32Array(buffer, layout.outOffsets, batch);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const row0 = b * N * 3 * D + h * d; // [b, 0, h·d] of the q band of qkv
      qOffsets[b * H + h] = row0;
      kOffsets[b * H + h] = row0 + D;
      vOffsets[b * H + h] = row0 + 2 * D;
      outOffsets[b * H + h] = b * N * D + h * d;
    }
  }
  const shape = { batch, N, S: N, d, dv: d, ...p.scores };
  const place = (offsets: number) => ({ data: layout.qkv, offsets, row: 3 * D });
  const ctx = writeAttentionSlots(
    buffer,
    layout.attnCtx,
    shape,
    place(layout.qOffsets),
    place(layout.kOffsets),
    place(layout.vOffsets),
  );
  writeScoreOperands(buffer, ctx, p.scores, layout);
  const outputs = {
    out: layout.heads,
    outOffsets: layout.outOffsets,
    outRow: D,
    weights: layout.weights,
    valueLength: M * 3 * D, // the whole projection: see the header on declining
  };
  const { job, careful } = prepareForward(call, ctx, outputs);
  if (careful) return null;
  const copyOutputWeights = () => {
    copy(layout.outWeight, p.outWeight, D * D);
    if (p.outBias) copy(layout.outBias, p.outBias, D);
  };
  runJob(call, job, copyOutputWeights, pools.attention);

  // 3. out = heads · outWeightᵀ + outBias; meanwhile the caller allocates the result.
  let output: Float32Array | null = null;
  project(layout.outCtx, layout.heads, layout.outWeight, layout.outBias, layout.out, D, D);
  const allocate = () => {
    output = touchedArray(M * D);
  };
  runGemmJob(call, layout.outCtx, allocate, pools.outProj);
  output!.set(floats(layout.out, M * D));

  const result: SelfAttentionResult = { output: output! }; // [B, N, D]
  if (weights) result.weights = floats(layout.weights, batch * N * N).slice(); // [B·H, N, N]
  return result;
}
