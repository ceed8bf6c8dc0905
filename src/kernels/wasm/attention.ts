// The "wasm" backend's attention: lays a validated AttentionProblem out in the kernel's memory, runs the flash
// kernel (asm/attention.ts) on the calling thread, or on it and the thread pool (pool.ts) for large problems, and
// copies the results out. Same contract as the reference (src/reference/attention.ts), computed in float32; the
// N×S matrix is never materialised unless weights are asked. Results are bitwise the same for any thread count.
//
// Arena layout per call, from the kernel's arenaBase, each region 16-byte aligned; the arena is rewritten by every
// call, so nothing from one call is visible to the next (the memory keeps its high-water size):
//
//   ctx [CTX_SLOTS i32] | query | key | value | query/key/value offsets [batch] i32 each |
//   mask data, mask offsets | bias data, bias offsets | output [batch, N, dv] | weights [batch, N, S] |
//   scratch × threads (the caller's, then one per pool worker)
//
// Declines (returns null, so the reference runs) when a trace is requested (a trace is for small inputs) or when
// the problem does not fit the memory's maximum.

import type {
  AttentionProblem,
  AttentionRequest,
  AttentionResult,
  BroadcastOperand,
} from '../../reference/attention.js';
import { CAUSAL_CODE, CTX_SLOTS, JOB, SLOT } from './abi.js';
import { type Pool, armPool, poolFor, runOnPool } from './pool.js';
import { ArenaCursor, type WasmKernel, getKernel, reserveArena } from './runtime.js';

/** Query rows per work unit: BR in asm/attention.ts. */
const QUERY_TILE = 64;

/** Byte-address plan of one call. */
interface Layout {
  ctx: number;
  q: number;
  k: number;
  v: number;
  qOffsets: number;
  kOffsets: number;
  vOffsets: number;
  mask: number;
  maskOffsets: number;
  bias: number;
  biasOffsets: number;
  out: number;
  weights: number;
  scratch: number;
  /** bytes of one thread's scratch region */
  scratchStride: number;
  end: number;
}

function plan(k: WasmKernel, p: AttentionProblem, wantWeights: boolean, threads: number): Layout {
  const arena = new ArenaCursor(k);
  const take = (bytes: number): number => arena.take(bytes);
  const ctx = take(CTX_SLOTS * 4);
  const q = take(p.query.length * 4);
  const key = take(p.key.length * 4);
  const v = take(p.value.length * 4);
  const qOffsets = take(p.batch * 4);
  const kOffsets = take(p.batch * 4);
  const vOffsets = take(p.batch * 4);
  const mask = p.mask ? take(p.mask.data.length * 4) : 0;
  const maskOffsets = p.mask ? take(p.batch * 4) : 0;
  const bias = p.bias ? take(p.bias.data.length * 4) : 0;
  const biasOffsets = p.bias ? take(p.batch * 4) : 0;
  const out = take(p.batch * p.N * p.dv * 4);
  const weights = wantWeights ? take(p.batch * p.N * p.S * 4) : 0;
  const scratchStride = k.exports.attn_scratch_bytes(p.d, p.dv); // 16-byte aligned
  const scratch = take(scratchStride * threads);
  return {
    ctx,
    q,
    k: key,
    v,
    qOffsets,
    kOffsets,
    vOffsets,
    mask,
    maskOffsets,
    bias,
    biasOffsets,
    out,
    weights,
    scratch,
    scratchStride,
    end: arena.end,
  };
}

/** Copies a mask or bias and its per-batch offsets, and fills its four slots (data, offsets, row, column). */
export function writeOperand(
  buffer: ArrayBufferLike,
  ctx: Int32Array,
  op: BroadcastOperand,
  data: number,
  offsets: number,
  slots: readonly [number, number, number, number],
): void {
  new Float32Array(buffer, data, op.data.length).set(op.data);
  new Int32Array(buffer, offsets, op.offsets.length).set(op.offsets);
  ctx[slots[0]] = data;
  ctx[slots[1]] = offsets;
  ctx[slots[2]] = op.rowStride;
  ctx[slots[3]] = op.colStride;
}

/** Where the inputs that the forward and the backward share lie in the arena. */
export interface InputLayout {
  ctx: number;
  q: number;
  k: number;
  v: number;
  qOffsets: number;
  kOffsets: number;
  vOffsets: number;
  mask: number;
  maskOffsets: number;
}

/**
 * Copies the inputs that the forward and the backward share (q, k, v, their per-batch offsets, the mask) into the
 * arena, and fills their context slots with the sizes, the causal rule and the scale. Returns the context slots, zeroed
 * first, for the caller to fill its own.
 */
export function writeInputs(buffer: ArrayBufferLike, p: AttentionProblem, layout: InputLayout): Int32Array {
  const ctx = new Int32Array(buffer, layout.ctx, CTX_SLOTS);
  ctx.fill(0);
  new Float32Array(buffer, layout.q, p.query.length).set(p.query);
  new Float32Array(buffer, layout.k, p.key.length).set(p.key);
  new Float32Array(buffer, layout.v, p.value.length).set(p.value);
  new Int32Array(buffer, layout.qOffsets, p.batch).set(p.queryOffsets);
  new Int32Array(buffer, layout.kOffsets, p.batch).set(p.keyOffsets);
  new Int32Array(buffer, layout.vOffsets, p.batch).set(p.valueOffsets);
  if (p.mask) {
    const slots = [SLOT.MASK, SLOT.MASK_OFFSETS, SLOT.MASK_ROW, SLOT.MASK_COL] as const;
    writeOperand(buffer, ctx, p.mask, layout.mask, layout.maskOffsets, slots);
  }
  ctx[SLOT.BATCH] = p.batch;
  ctx[SLOT.N] = p.N;
  ctx[SLOT.S] = p.S;
  ctx[SLOT.D] = p.d;
  ctx[SLOT.DV] = p.dv;
  ctx[SLOT.Q] = layout.q;
  ctx[SLOT.K] = layout.k;
  ctx[SLOT.V] = layout.v;
  ctx[SLOT.Q_OFFSETS] = layout.qOffsets;
  ctx[SLOT.K_OFFSETS] = layout.kOffsets;
  ctx[SLOT.V_OFFSETS] = layout.vOffsets;
  ctx[SLOT.CAUSAL] = CAUSAL_CODE[p.causal];
  new Float32Array(buffer, layout.ctx, CTX_SLOTS)[SLOT.SCALE] = p.scale;
  return ctx;
}

/** Writes (zero) into every 4 KiB page of a new array, so that the OS maps its pages now rather than in a later copy. */
function touched(a: Float32Array): Float32Array {
  for (let i = 0; i < a.length; i += 1024) a[i] = 0;
  return a;
}

/** A copy of a view of the memory that the caller owns: into `fresh` when it was allocated already. */
function copyOut(view: Float32Array, fresh: Float32Array | undefined): Float32Array {
  if (!fresh) return view.slice();
  fresh.set(view);
  return fresh;
}

/**
 * Attention on the wasm kernel. Shapes: output [batch, N, dv]; weights [batch, N, S]. Returns null to decline.
 */
export function wasmAttention(p: AttentionProblem, request: AttentionRequest): AttentionResult | null {
  if (request.trace) return null;
  const k = getKernel();
  if (!k) return null;
  const { batch, N, S, dv } = p;
  if (batch === 0 || N === 0 || S === 0) {
    // No query rows, or no keys: every row has no allowed key, so output and weights are 0.
    const result: AttentionResult = { output: new Float32Array(batch * N * dv) }; // [batch, N, dv]
    if (request.weights) result.weights = new Float32Array(batch * N * S); // [batch, N, S]
    return result;
  }

  // Units are (flattened batch index, 64-row query tile), as the kernel counts them in attn_prepare.
  const units = batch * Math.ceil(N / QUERY_TILE);
  let pool: Pool | null = poolFor(k, units, 4 * batch * N * S * p.d);
  let layout = plan(k, p, request.weights, 1 + (pool?.workers ?? 0));
  if (!reserveArena(k, layout.end - k.arenaBase)) {
    if (!pool) return null; // too large for the memory: the reference runs
    pool = null; // the workers' scratch does not fit: try on one thread
    layout = plan(k, p, request.weights, 1);
    if (!reserveArena(k, layout.end - k.arenaBase)) return null;
  }
  // Memory grows before the workers are woken; they see the growth of the shared memory. They are woken now, so
  // that they are awake by the time the inputs are copied and the job opens.
  if (pool) armPool(pool, units);
  const buffer = k.memory.buffer;
  const ctx = writeInputs(buffer, p, layout);
  if (p.bias) {
    const slots = [SLOT.BIAS, SLOT.BIAS_OFFSETS, SLOT.BIAS_ROW, SLOT.BIAS_COL] as const;
    writeOperand(buffer, ctx, p.bias, layout.bias, layout.biasOffsets, slots);
  }
  new Float32Array(buffer, layout.ctx, CTX_SLOTS)[SLOT.SOFTCAP] = p.softcap;
  ctx[SLOT.OUT] = layout.out;
  ctx[SLOT.WEIGHTS] = layout.weights;
  ctx[SLOT.V_LENGTH] = p.value.length;

  k.exports.attn_prepare(layout.ctx);
  // With the pool, the caller's results are allocated, and their pages touched, while the workers run units: fresh
  // pages cost about as much as the copy into them, and the workers take the units the caller has no time for.
  const fresh: { output?: Float32Array; weights?: Float32Array } = {};
  const allocate = (): void => {
    fresh.output = touched(new Float32Array(batch * N * dv));
    if (request.weights) fresh.weights = touched(new Float32Array(batch * N * S));
  };
  if (pool) runOnPool(pool, layout.ctx, layout.scratch, layout.scratchStride, ctx[SLOT.UNITS], JOB.forward, allocate);
  else k.exports.attn_forward_units(layout.ctx, layout.scratch, 0, ctx[SLOT.UNITS]);

  const result: AttentionResult = {
    output: copyOut(new Float32Array(buffer, layout.out, batch * N * dv), fresh.output), // [batch, N, dv]
  };
  if (request.weights) {
    result.weights = copyOut(new Float32Array(buffer, layout.weights, batch * N * S), fresh.weights); // [batch, N, S]
  }
  return result;
}
