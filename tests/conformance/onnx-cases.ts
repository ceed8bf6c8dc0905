// Loads ONNX's own `Attention` backend test vectors (opsets 23 and 24, converted to JSON; they live outside the
// project, in the steering repo's shared/ folder) and maps each case onto scaledDotProductAttention.
// The mapping mirrors onnx/reference/ops/op_attention.py (`_compute_attention`):
//   3-D layout [B, L, H·d] → [B, H, L, d]; past_key/past_value concatenated in front of K/V (present_*);
//   attn_mask bool → qkv `mask`, float → qkv `bias`, padded to the total key length as blocked;
//   is_causal: j ≤ i + offset with offset 0 (no cache), P (past length) or nonpad_kv_seqlen[b] − N;
//   nonpad_kv_seqlen also blocks keys j ≥ nonpad_kv_seqlen[b];
//   qk_matmul_output modes 0..2 read from qkv's trace, mode 3 (softmax) from returnWeights.
// Y and the mode-3 weights come from an untraced call, so that a backend which declines traces (wasm) computes them.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AttentionOptions,
  type BackendChoice,
  Tensor,
  broadcastShapes,
  scaledDotProductAttention,
} from '../../src/index.js';

/** `<repo root>/../shared/conformance/onnx-attention`; the repo root is two levels above tests/conformance. */
export const ONNX_ATTENTION_DIR = fileURLToPath(
  new URL('../../../shared/conformance/onnx-attention/', import.meta.url),
);
export const ONNX_CASES_DIR = join(ONNX_ATTENTION_DIR, 'cases');

/** One tensor as stored in a case file (README.md of the vectors folder). */
interface JsonTensor {
  shape: number[];
  onnxType: string;
  dtype: string;
  b64?: string;
  values?: number[];
}

export interface OnnxCase {
  name: string;
  opset: number;
  source: string;
  attributes: Record<string, number>;
  nodeInputs: string[];
  nodeOutputs: string[];
  inputs: Record<string, JsonTensor>;
  outputs: Record<string, JsonTensor>;
}

/** A decoded tensor: floats and bools as float32 (BOOL as 0/1), plus the ONNX element type it came from. */
export interface OnnxTensor {
  tensor: Tensor;
  onnxType: string;
}

/** The case files, sorted, or null when the folder is absent (a user's clone). */
export function listCaseFiles(): string[] | null {
  if (!existsSync(ONNX_CASES_DIR)) return null;
  return readdirSync(ONNX_CASES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(ONNX_CASES_DIR, f));
}

export function loadCase(file: string): OnnxCase {
  return JSON.parse(readFileSync(file, 'utf8')) as OnnxCase;
}

/** Decodes a float or bool tensor to float32 (FLOAT16 data is already exact float32 in the files). */
export function decodeTensor(t: JsonTensor): OnnxTensor {
  const size = t.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  if (t.b64 !== undefined) {
    const bytes = Buffer.from(t.b64, 'base64');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const width = { f32: 4, f64: 8, u8: 1, i8: 1 }[t.dtype];
    if (width === undefined || bytes.byteLength !== size * width) {
      throw new Error(`decodeTensor: dtype ${t.dtype} with ${bytes.byteLength} bytes does not fit shape [${t.shape}]`);
    }
    for (let i = 0; i < size; i++) {
      if (t.dtype === 'f32') data[i] = view.getFloat32(4 * i, true);
      else if (t.dtype === 'f64') data[i] = view.getFloat64(8 * i, true);
      else if (t.dtype === 'u8') data[i] = view.getUint8(i);
      else data[i] = view.getInt8(i);
    }
  } else if (t.values !== undefined && t.values.length === size) {
    data.set(t.values);
  } else {
    throw new Error(`decodeTensor: no data for shape [${t.shape}]`);
  }
  return { tensor: new Tensor(data, t.shape), onnxType: t.onnxType };
}

/** What ONNX's node returns, in ONNX's layouts. Absent outputs are left out. */
export interface OnnxOutputs {
  Y: Tensor;
  present_key?: Tensor;
  present_value?: Tensor;
  qk_matmul_output?: Tensor;
}

/** Whether a case computes in float16 (its Q is FLOAT16). */
export function isFloat16(c: OnnxCase): boolean {
  return c.inputs.Q.onnxType === 'FLOAT16';
}

/**
 * Runs one ONNX case through scaledDotProductAttention on `backend` and returns its outputs in ONNX's layouts.
 * @default backend "auto"
 */
export function runOnnxCase(c: OnnxCase, backend: BackendChoice = 'auto'): OnnxOutputs {
  const attr = c.attributes;
  const input = (role: string): Tensor | undefined =>
    c.inputs[role] === undefined ? undefined : decodeTensor(c.inputs[role]).tensor;

  // Layout: 3-D inputs are [B, L, heads·head]; qkv wants [B, heads, L, head].
  const threeD = c.inputs.Q.shape.length === 3;
  const toHeads = (t: Tensor, heads: number): Tensor => {
    if (!threeD) return t;
    const [B, L, D] = t.shape;
    return t.reshape([B, L, heads, D / heads]).permute([0, 2, 1, 3]); // [B, heads, L, head]
  };
  const query = toHeads(input('Q')!, attr.q_num_heads); // [B, H, N, d]
  const newKey = toHeads(input('K')!, attr.kv_num_heads); // [B, Hkv, Snew, d]
  const newValue = toHeads(input('V')!, attr.kv_num_heads); // [B, Hkv, Snew, dv]

  // Cache: the past comes first along the sequence axis; present_* is that concatenation.
  const pastKey = input('past_key'); // [B, Hkv, P, d]
  const pastValue = input('past_value'); // [B, Hkv, P, dv]
  const key = pastKey ? concatSequence(pastKey, newKey) : newKey; // [B, Hkv, S, d]
  const value = pastValue ? concatSequence(pastValue, newValue) : newValue; // [B, Hkv, S, dv]
  const P = pastKey ? pastKey.shape[2] : 0;
  const [B, , N] = query.shape;
  const S = key.shape[2];

  const options: AttentionOptions = { backend };
  if (attr.scale !== undefined) options.scale = attr.scale;
  if (attr.softcap !== undefined) options.softcap = attr.softcap;

  // attn_mask: bool → mask, float → bias; a mask shorter than S blocks the missing keys.
  let mask: Tensor | undefined;
  if (c.inputs.attn_mask !== undefined) {
    const { tensor, onnxType } = decodeTensor(c.inputs.attn_mask);
    if (onnxType === 'BOOL') mask = padLastDim(tensor, S, 0);
    else options.bias = padLastDim(tensor, S, -Infinity);
  }

  // is_causal and nonpad_kv_seqlen. Query i may attend key j iff j ≤ i + offset (when causal) and
  // j < nonpad_kv_seqlen[b] (when given). qkv's own causal flags cover the two fixed offsets 0 and S − N.
  const nonpad = c.inputs.nonpad_kv_seqlen?.values;
  const causal = attr.is_causal === 1;
  if (nonpad === undefined && causal && P === 0) {
    options.causal = 'top-left';
  } else if (nonpad === undefined && causal && S - N === P) {
    options.causal = 'bottom-right';
  } else if (nonpad !== undefined || causal) {
    const offsets = Array.from({ length: B }, (_, b) => (pastKey || nonpad === undefined ? P : nonpad[b] - N));
    const limits = Array.from({ length: B }, (_, b) => (nonpad === undefined ? S : nonpad[b]));
    const structural = structuralMask(N, S, causal ? offsets : null, limits); // [B, 1, N, S]
    mask = mask ? andMasks(mask, structural) : structural;
  }
  if (mask) options.mask = mask;

  const mode = c.outputs.qk_matmul_output === undefined ? undefined : (attr.qk_matmul_output_mode ?? 0);
  const returnWeights = mode === 3;
  const { output, weights } = scaledDotProductAttention(query, key, value, { ...options, returnWeights });
  // output [B, H, N, dv]; weights [B, H, N, S] for mode 3
  const out: OnnxOutputs = {
    Y: threeD ? output.permute([0, 2, 1, 3]).reshape([B, N, -1]) : output, // [B, N, H·dv] or [B, H, N, dv]
  };
  if (pastKey) out.present_key = key;
  if (pastValue) out.present_value = value;

  if (c.outputs.qk_matmul_output !== undefined) {
    // Every mode is [B, H, N, S], query heads (grouped-query heads expanded), whatever the input layout.
    const scale = options.scale ?? 1 / Math.sqrt(query.shape[3]);
    const trace = () => scaledDotProductAttention(query, key, value, { ...options, trace: true }).trace!;
    if (mode === 0) {
      const raw = trace().scores; // [B, H, N, S]
      out.qk_matmul_output = new Tensor(raw.data.map((s) => s * scale), raw.shape);
    } else if (mode === 1) {
      // After scale and softcap only: the same call without mask, bias or causal.
      const capped = scaledDotProductAttention(query, key, value, {
        scale: options.scale,
        softcap: options.softcap,
        backend,
        trace: true,
      });
      out.qk_matmul_output = capped.trace!.logits; // [B, H, N, S]
    } else if (mode === 2) {
      out.qk_matmul_output = trace().logits; // [B, H, N, S], blocked = -Infinity as in ONNX's additive mask
    } else {
      out.qk_matmul_output = weights!; // [B, H, N, S]
    }
  }
  return out;
}

/** [B, Hkv, P, e] and [B, Hkv, Snew, e] → [B, Hkv, P + Snew, e] (numpy.concatenate on axis 2). */
function concatSequence(past: Tensor, current: Tensor): Tensor {
  const [B, H, P, e] = past.shape;
  const Snew = current.shape[2];
  const data = new Float32Array(B * H * (P + Snew) * e);
  for (let bh = 0; bh < B * H; bh++) {
    const base = bh * (P + Snew) * e;
    data.set(past.data.subarray(bh * P * e, (bh + 1) * P * e), base);
    data.set(current.data.subarray(bh * Snew * e, (bh + 1) * Snew * e), base + P * e);
  }
  return new Tensor(data, [B, H, P + Snew, e]); // [B, Hkv, S, e]
}

/** [..., S'] → [..., S] with the new columns set to `fill` (numpy.pad on the last axis). */
function padLastDim(t: Tensor, S: number, fill: number): Tensor {
  const width = t.shape[t.rank - 1];
  if (width === S) return t;
  const rows = t.size / width;
  const data = new Float32Array(rows * S).fill(fill);
  for (let r = 0; r < rows; r++) data.set(t.data.subarray(r * width, (r + 1) * width), r * S);
  return new Tensor(data, [...t.shape.slice(0, -1), S]); // [..., S]
}

/**
 * Per-batch mask [B, 1, N, S]: 1 where j < limits[b] and, when offsets are given, j ≤ i + offsets[b].
 * A negative offset leaves early rows with no key at all (ONNX's structural empty rows).
 */
function structuralMask(N: number, S: number, offsets: number[] | null, limits: number[]): Tensor {
  const B = limits.length;
  const data = new Float32Array(B * N * S);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < S; j++) {
        const open = j < limits[b] && (offsets === null || j <= i + offsets[b]);
        data[(b * N + i) * S + j] = open ? 1 : 0;
      }
    }
  }
  return new Tensor(data, [B, 1, N, S]); // [B, 1, N, S]
}

/** Elementwise AND of two 0/1 masks under numpy broadcasting. */
function andMasks(a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(a.shape, b.shape);
  const x = a.broadcastTo(shape);
  const y = b.broadcastTo(shape);
  return new Tensor(x.data.map((v, i) => (v !== 0 && y.data[i] !== 0 ? 1 : 0)), shape); // [broadcast of a, b]
}
