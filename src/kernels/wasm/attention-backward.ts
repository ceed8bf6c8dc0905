// The "wasm" backend's attention backward: lays a validated AttentionProblem and dL/d(output) out in the kernel's
// memory, runs the flash backward (asm/attention-backward.ts: recomputes the row statistics, never materialises the
// N×S matrix) on the calling thread or on it and the thread pool, sums the per-unit partial gradients into the
// inputs' layouts in a fixed order (attn_backward_reduce), and copies them out. Same contract as
// attentionBackwardReference (src/reference/attention-backward.ts), computed in float32; results are bitwise the same
// for any thread count.
//
// Arena layout per call (job.ts: each region 16-byte aligned, rewritten by every call, scratch and slack last):
//   ctx | query | key | value | offsets × 3 | mask, mask offsets | dL/d(output) [batch, N, dv] | dq [batch, N, d] |
//   dk partials [chunks, batch, Spad, dp] | dv partials [chunks, batch, Spad, dvp] | grad query | grad key |
//   grad value | scratch × threads | slack
//
// NaN and ±Inf follow the reference's rules: the kernel scans its inputs and, when one is not finite, runs its careful
// mode, which never reads a blocked key (see asm/attention-backward.ts).
//
// Declines (returns null, so the reference runs): a bias (the kernel does not compute its gradient), a softcap, and
// a problem that does not fit the memory.

import type { AttentionProblem } from '../../reference/attention.js';
import type { AttentionGradientsResult } from '../../reference/attention-backward.js';
import { JOB, SLOT, TILE } from './abi.js';
import { planInputs, writeInputs } from './attention.js';
import { prepareJob, reserveCall, runJob } from './job.js';
import { poolFor } from './pool.js';
import { type ArenaCursor, getKernel } from './runtime.js';
/**
 * Units wanted per call: a batch smaller than this splits each batch index's query tiles into chunks (each with its
 * own dk, dv partials), so that a single head still uses several threads. Chosen from the shape only, never from the
 * thread count, so that the summation order, and the result, is the same for any number of threads.
 */
const TARGET_UNITS = 8;
/** The partials may take at most this much memory; fewer chunks beyond. */
const MAX_PARTIAL_BYTES = 256 * 2 ** 20;

/** Query-tile chunks per batch index (see TARGET_UNITS). */
function chunksFor(p: AttentionProblem): number {
  const qTiles = Math.ceil(p.N / TILE.BR);
  const spad = Math.ceil(p.S / TILE.BC) * TILE.BC;
  const perChunk = p.batch * spad * (align8(p.d) + align8(p.dv)) * 4;
  let chunks = Math.min(qTiles, Math.max(1, Math.ceil(TARGET_UNITS / p.batch)));
  while (chunks > 1 && chunks * perChunk > MAX_PARTIAL_BYTES) chunks--;
  return chunks;
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function plan(arena: ArenaCursor, p: AttentionProblem, chunks: number) {
  const take = (bytes: number): number => arena.take(bytes);
  const spad = Math.ceil(p.S / TILE.BC) * TILE.BC;
  // The backward's own regions follow the inputs it shares with the forward. Object.assign, not a spread: with a
  // spread, V8 collected old space every few hundred calls and a small call's JavaScript took about twice as long.
  return Object.assign(planInputs(arena, p), {
    gradOut: take(p.batch * p.N * p.dv * 4),
    dqBatch: take(p.batch * p.N * p.d * 4),
    dkPart: take(chunks * p.batch * spad * align8(p.d) * 4),
    dvPart: take(chunks * p.batch * spad * align8(p.dv) * 4),
    gradQ: take(p.query.length * 4),
    gradK: take(p.key.length * 4),
    gradV: take(p.value.length * 4),
  });
}

/**
 * Gradients of attention on the wasm kernel, in the layouts of query, key and value. gradOutput [batch, N, dv].
 * Returns null to decline (see the file header).
 */
export function wasmAttentionBackward(p: AttentionProblem, gradOutput: Float32Array): AttentionGradientsResult | null {
  if (p.bias !== null || p.softcap > 0) return null;
  const k = getKernel();
  if (!k) return null;
  const { batch, N, S, d, dv } = p;
  if (batch === 0 || N === 0 || S === 0) {
    // No query rows, or no keys: every output row is 0 whatever the inputs are, so no gradient flows.
    return {
      query: new Float32Array(p.query.length),
      key: new Float32Array(p.key.length),
      value: new Float32Array(p.value.length),
    };
  }

  const chunks = chunksFor(p);
  const pool = poolFor(k, batch * chunks, 10 * batch * N * S * d);
  const stride = k.exports.attn_backward_scratch_bytes(d, dv, S);
  const call = reserveCall(k, pool, stride, (arena) => plan(arena, p, chunks));
  if (!call) return null;
  const { layout, buffer } = call;
  const ctx = writeInputs(buffer, p, layout);
  new Float32Array(buffer, layout.gradOut, batch * N * dv).set(gradOutput.subarray(0, batch * N * dv));

  ctx[SLOT.GRAD_OUT] = layout.gradOut;
  ctx[SLOT.DQ_BATCH] = layout.dqBatch;
  ctx[SLOT.DK_PART] = layout.dkPart;
  ctx[SLOT.DV_PART] = layout.dvPart;
  ctx[SLOT.CHUNKS] = chunks;
  ctx[SLOT.GRAD_Q] = layout.gradQ;
  ctx[SLOT.GRAD_K] = layout.gradK;
  ctx[SLOT.GRAD_V] = layout.gradV;
  ctx[SLOT.Q_LENGTH] = p.query.length;
  ctx[SLOT.K_LENGTH] = p.key.length;
  ctx[SLOT.V_LENGTH_B] = p.value.length;

  const job = { kind: JOB.BACKWARD, ctx: layout.ctx };
  prepareJob(call, job);
  runJob(call, job);
  k.exports.attn_backward_reduce(layout.ctx);

  return {
    query: new Float32Array(buffer, layout.gradQ, p.query.length).slice(), // like query
    key: new Float32Array(buffer, layout.gradK, p.key.length).slice(), // like key
    value: new Float32Array(buffer, layout.gradV, p.value.length).slice(), // like value
  };
}
