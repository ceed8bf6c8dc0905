// The "wasm" backend's attention: lays a validated AttentionProblem out in the kernel's memory, runs the flash
// kernel (asm/attention.ts) on the calling thread, or on it and the thread pool (pool.ts) for large problems, and
// copies the results out. Same contract as the reference (src/reference/attention.ts), computed in float32; the
// N×S matrix is never materialised unless weights are asked. Results are bitwise the same for any thread count.
//
// Arena layout per call (job.ts: each region 16-byte aligned, rewritten by every call, scratch and slack last):
//
//   ctx [CTX_SLOTS i32] | query | key | value | query/key/value offsets [batch] i32 each |
//   mask data, mask offsets | bias data, bias offsets | output [batch, N, dv], its offsets | batch states |
//   weights [batch, N, S] | scratch × threads | slack
//
// Declines (returns null, so the reference runs) when a trace is requested (a trace is for small inputs) or when
// the problem does not fit the memory's maximum.

import type {
  AttentionProblem,
  AttentionRequest,
  AttentionResult,
  BroadcastOperand,
} from '../../reference/attention.js';
import { CAUSAL_CODE, JOB, LAYOUT, SLOT, TILE } from './abi.js';
import { type Call, type Job, prepareJob, reserveCall, runJob } from './job.js';
import { armPool, poolFor } from './pool.js';
import { type ArenaCursor, getKernel, touchedArray } from './runtime.js';

/** Byte-address plan of one call: the inputs that the backward shares, then the forward's own regions. */
interface Layout extends InputLayout {
  bias: number;
  biasOffsets: number;
  out: number;
  outOffsets: number;
  /** i32[batch]: how far the streamed inputs have arrived (SLOT.BATCH_STATE) */
  batchState: number;
  weights: number;
}

function plan(arena: ArenaCursor, p: AttentionProblem, wantWeights: boolean): Layout {
  const take = (bytes: number): number => arena.take(bytes);
  // The forward's own regions follow the inputs it shares with the backward. Object.assign, not a spread: with a
  // spread, V8 collected old space every few hundred calls and a small call's JavaScript took about twice as long.
  return Object.assign(planInputs(arena, p), {
    bias: p.bias ? take(p.bias.data.length * 4) : 0,
    biasOffsets: p.bias ? take(p.batch * 4) : 0,
    out: take(p.batch * p.N * p.dv * 4),
    outOffsets: take(p.batch * 4),
    batchState: take(p.batch * 4),
    weights: wantWeights ? take(p.batch * p.N * p.S * 4) : 0,
  });
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

/** Takes the regions of the inputs that the forward and the backward share, in that order. */
export function planInputs(arena: ArenaCursor, p: AttentionProblem): InputLayout {
  const take = (bytes: number): number => arena.take(bytes);
  return {
    ctx: take(LAYOUT.CTX_SLOTS * 4),
    q: take(p.query.length * 4),
    k: take(p.key.length * 4),
    v: take(p.value.length * 4),
    qOffsets: take(p.batch * 4),
    kOffsets: take(p.batch * 4),
    vOffsets: take(p.batch * 4),
    mask: p.mask ? take(p.mask.data.length * 4) : 0,
    maskOffsets: p.mask ? take(p.batch * 4) : 0,
  };
}

/** Where one of q, k and v lies in the memory: its data, its per-batch offsets (an i32 array) and its row stride. */
export interface Placement {
  data: number;
  offsets: number;
  /** floats between rows i and i + 1 */
  row: number;
}

/** The numbers of an attention problem that its context block holds, besides where its operands lie. */
type AttentionShape = Pick<AttentionProblem, 'batch' | 'N' | 'S' | 'd' | 'dv' | 'causal' | 'scale' | 'softcap'>;

/**
 * Zeroes an attention context block and fills the slots of the sizes, the causal rule, the scale, the softcap and
 * where q, k and v lie. Returns the slots, for the caller to fill its own.
 */
export function writeAttentionSlots(
  buffer: ArrayBufferLike,
  at: number,
  p: AttentionShape,
  q: Placement,
  k: Placement,
  v: Placement,
): Int32Array {
  const ctx = new Int32Array(buffer, at, LAYOUT.CTX_SLOTS);
  ctx.fill(0);
  ctx[SLOT.BATCH] = p.batch;
  ctx[SLOT.N] = p.N;
  ctx[SLOT.S] = p.S;
  ctx[SLOT.D] = p.d;
  ctx[SLOT.DV] = p.dv;
  ctx[SLOT.Q] = q.data;
  ctx[SLOT.K] = k.data;
  ctx[SLOT.V] = v.data;
  ctx[SLOT.Q_OFFSETS] = q.offsets;
  ctx[SLOT.K_OFFSETS] = k.offsets;
  ctx[SLOT.V_OFFSETS] = v.offsets;
  ctx[SLOT.Q_ROW] = q.row;
  ctx[SLOT.K_ROW] = k.row;
  ctx[SLOT.V_ROW] = v.row;
  ctx[SLOT.CAUSAL] = CAUSAL_CODE[p.causal];
  const floats = new Float32Array(buffer, at, LAYOUT.CTX_SLOTS);
  floats[SLOT.SCALE] = p.scale;
  floats[SLOT.SOFTCAP] = p.softcap;
  return ctx;
}

/** Copies a problem's mask and bias (those it has) and fills their slots. */
export function writeScoreOperands(
  buffer: ArrayBufferLike,
  ctx: Int32Array,
  p: Pick<AttentionProblem, 'mask' | 'bias'>,
  at: { mask: number; maskOffsets: number; bias: number; biasOffsets: number },
): void {
  if (p.mask) {
    const slots = [SLOT.MASK, SLOT.MASK_OFFSETS, SLOT.MASK_ROW, SLOT.MASK_COL] as const;
    writeOperand(buffer, ctx, p.mask, at.mask, at.maskOffsets, slots);
  }
  if (p.bias) {
    const slots = [SLOT.BIAS, SLOT.BIAS_OFFSETS, SLOT.BIAS_ROW, SLOT.BIAS_COL] as const;
    writeOperand(buffer, ctx, p.bias, at.bias, at.biasOffsets, slots);
  }
}

/**
 * Copies the inputs that the forward and the backward share (q, k, v, their per-batch offsets, the mask) into the
 * arena, and fills their context slots with the sizes, the causal rule and the scale. Returns the context slots, zeroed
 * first, for the caller to fill its own. With `data` false, q, k and v are left for the caller to copy (streamed).
 */
export function writeInputs(buffer: ArrayBufferLike, p: AttentionProblem, layout: InputLayout, data = true): Int32Array {
  if (data) {
    new Float32Array(buffer, layout.q, p.query.length).set(p.query);
    new Float32Array(buffer, layout.k, p.key.length).set(p.key);
    new Float32Array(buffer, layout.v, p.value.length).set(p.value);
  }
  new Int32Array(buffer, layout.qOffsets, p.batch).set(p.queryOffsets);
  new Int32Array(buffer, layout.kOffsets, p.batch).set(p.keyOffsets);
  new Int32Array(buffer, layout.vOffsets, p.batch).set(p.valueOffsets);
  const ctx = writeAttentionSlots(
    buffer,
    layout.ctx,
    p,
    { data: layout.q, offsets: layout.qOffsets, row: p.d },
    { data: layout.k, offsets: layout.kOffsets, row: p.d },
    { data: layout.v, offsets: layout.vOffsets, row: p.dv },
  );
  writeScoreOperands(buffer, ctx, { mask: p.mask, bias: null }, { ...layout, bias: 0, biasOffsets: 0 });
  return ctx;
}

/** Where a forward call's results go: output row i of batch b at out + 4·(outOffsets[b] + i · outRow). */
export interface ForwardOutputs {
  out: number;
  outOffsets: number;
  outRow: number;
  /** [batch, N, S], or 0 when not asked */
  weights: number;
  /** floats from the value pointer that attn_prepare scans for NaN and ±Inf */
  valueLength: number;
}

/**
 * Fills a written forward context's output slots and prepares its job. Returns the job, and whether the scanned values
 * hold NaN or ±Inf (the kernel then takes its careful path).
 */
export function prepareForward(call: Call<unknown>, ctx: Int32Array, o: ForwardOutputs): { job: Job; careful: boolean } {
  ctx[SLOT.OUT] = o.out;
  ctx[SLOT.OUT_OFFSETS] = o.outOffsets;
  ctx[SLOT.OUT_ROW] = o.outRow;
  ctx[SLOT.WEIGHTS] = o.weights;
  ctx[SLOT.V_LENGTH] = o.valueLength;
  const job = { kind: JOB.FORWARD, ctx: ctx.byteOffset };
  return { job, careful: prepareJob(call, job)[SLOT.CAREFUL] !== 0 };
}

/** A copy of a view of the memory that the caller owns: into `fresh` when it was allocated already. */
function copyOut(view: Float32Array, fresh: Float32Array | undefined): Float32Array {
  if (!fresh) return view.slice();
  fresh.set(view);
  return fresh;
}

/** Whether batch b's q, k and v are rows of its own in their arrays (no broadcasting, no shared heads). */
function ownRows(p: AttentionProblem): boolean {
  const { batch, N, S, d, dv } = p;
  if (p.query.length !== batch * N * d || p.key.length !== batch * S * d || p.value.length !== batch * S * dv) return false;
  for (let b = 0; b < batch; b++) {
    if (p.queryOffsets[b] !== b * N * d || p.keyOffsets[b] !== b * S * d || p.valueOffsets[b] !== b * S * dv) return false;
  }
  return true;
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

  // Units are (flattened batch index, query tile of TILE.BR rows), as the kernel counts them.
  const units = batch * Math.ceil(N / TILE.BR);
  const stride = k.exports.attn_scratch_bytes(p.d, p.dv);
  const call = reserveCall(k, poolFor(k, units, 4 * batch * N * S * p.d), stride, (a) => plan(a, p, request.weights));
  if (!call) return null; // too large for the memory: the reference runs
  const { layout, pool, buffer } = call;
  // Memory grows before the workers are woken; they see the growth of the shared memory. They are woken now, so
  // that they are awake by the time the inputs are copied and the job opens.
  if (pool) armPool(pool, units);
  // With the pool, and batch b's q, k and v in rows of their own, the inputs are streamed: the caller copies them in
  // one batch index at a time once the job is open, and each unit waits for its batch (SLOT.BATCH_STATE), so the
  // workers compute while the caller copies.
  const streamed = pool !== null && ownRows(p);
  const ctx = writeInputs(buffer, p, layout, !streamed);
  writeScoreOperands(buffer, ctx, { mask: null, bias: p.bias }, layout);
  const outOffsets = new Int32Array(buffer, layout.outOffsets, batch);
  for (let b = 0; b < batch; b++) outOffsets[b] = b * N * dv; // [batch, N, dv]
  const state = new Int32Array(buffer, layout.batchState, batch);
  if (streamed) {
    state.fill(0);
    ctx[SLOT.BATCH_STATE] = layout.batchState;
  }
  const { out, weights } = layout;
  const outputs = { out, outOffsets: layout.outOffsets, outRow: dv, weights, valueLength: p.value.length };
  const { job } = prepareForward(call, ctx, outputs);

  // With the pool, the caller's results are allocated, and their pages touched, while the workers run units: fresh
  // pages cost about as much as the copy into them, and the workers take the units the caller has no time for.
  const fresh: { output?: Float32Array; weights?: Float32Array } = {};
  const allocate = (): void => {
    fresh.output = touchedArray(batch * N * dv);
    if (request.weights) fresh.weights = touchedArray(batch * N * S);
  };
  const stream = (): void => {
    const { d } = p;
    const rows = (to: number, from: Float32Array, b: number, n: number) =>
      new Float32Array(buffer, to + 4 * b * n, n).set(from.subarray(b * n, (b + 1) * n));
    try {
      for (let b = 0; b < batch; b++) {
        rows(layout.q, p.query, b, N * d);
        rows(layout.k, p.key, b, S * d);
        rows(layout.v, p.value, b, S * dv);
        Atomics.store(state, b, k.exports.values_finite(layout.v + 4 * b * S * dv, S * dv) === 1 ? 1 : 2);
      }
    } finally {
      // Never leave a worker waiting (this cannot throw, short of running out of memory).
      for (let b = 0; b < batch; b++) if (Atomics.load(state, b) === 0) Atomics.store(state, b, 2);
    }
    allocate();
  };
  runJob(call, job, pool ? (streamed ? stream : allocate) : undefined);

  const result: AttentionResult = {
    output: copyOut(new Float32Array(buffer, layout.out, batch * N * dv), fresh.output), // [batch, N, dv]
  };
  if (request.weights) {
    result.weights = copyOut(new Float32Array(buffer, layout.weights, batch * N * S), fresh.weights); // [batch, N, S]
  }
  return result;
}
