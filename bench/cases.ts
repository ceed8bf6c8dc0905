// Workload inputs and validation oracles shared by the benchmark (bench/run.ts) and its peak-memory children
// (bench/memory.ts). Inputs are seeded, so every process builds the same tensors.
//
// The oracle is qkv's reference (float64 accumulation, the specification). At large N the full reference is too slow
// to run, so the oracle is the reference on a sample of query rows: attention is row-independent, so rows R of the
// output equal the reference run on query rows R alone (with the causal mask written out for those rows). This checks
// every implementation against the reference itself at every size, instead of against another fast backend.

import { MultiHeadAttention, Tensor, scaledDotProductAttention } from '../src/index.js';
import { relativeError } from '../tests/tolerances.js';
import type { MhaCase, SdpaCase } from './impls.js';
import type { MhaWeights } from './onnx.js';

export function sdpaCase(H: number, N: number, d: number, causal: boolean): SdpaCase {
  const B = 1;
  return {
    kind: 'sdpa',
    B,
    H,
    N,
    d,
    causal,
    query: Tensor.randn([B, H, N, d], 11), // [B, H, N, d]
    key: Tensor.randn([B, H, N, d], 12), // [B, H, S, d]
    value: Tensor.randn([B, H, N, d], 13), // [B, H, S, d]
  };
}

export function mhaCase(D: number, H: number, N: number): MhaCase {
  const B = 1;
  const module = new MultiHeadAttention({ embedDim: D, numHeads: H, seed: 21 });
  // PyTorch initialises the biases to zero; random ones make the peers prove they add them in the right place.
  const biases = Tensor.randn([4 * D], 22); // [4·D]: q, k, v, out
  module.inProjBias!.data.set(biases.data.subarray(0, 3 * D));
  module.outProjBias!.data.set(biases.data.subarray(3 * D));
  const weights: MhaWeights = {
    wq: module.qProjWeight.data,
    wk: module.kProjWeight.data,
    wv: module.vProjWeight.data,
    wo: module.outProjWeight.data,
    bq: biases.data.slice(0, D),
    bk: biases.data.slice(D, 2 * D),
    bv: biases.data.slice(2 * D, 3 * D),
    bo: biases.data.slice(3 * D),
  };
  return { kind: 'mha', B, N, D, H, x: Tensor.randn([B, N, D], 23), module, weights }; // x [B, N, D]
}

/** Forward flops: 4·B·H·N·S·d for SDPA (the full square, also when causal); plus 8·B·N·D² of projections for MHA. */
export function forwardFlops(c: SdpaCase | MhaCase): number {
  if (c.kind === 'sdpa') return 4 * c.B * c.H * c.N * c.N * c.d;
  return 4 * c.B * c.N * c.N * c.D + 8 * c.B * c.N * c.D * c.D;
}

/** Row indices R of a sample: `count` rows spread evenly over [0, N), always including the first and the last. */
export function sampleRows(N: number, count: number): number[] {
  if (N <= count) return Array.from({ length: N }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.round((i * (N - 1)) / (count - 1)));
}

/** Rows R of a [P, N, w] row-major array (P = the product of the leading dims) → [P, |R|, w]. */
export function gatherRows(data: Float32Array, P: number, N: number, w: number, rows: number[]): Float32Array {
  const out = new Float32Array(P * rows.length * w); // [P, |R|, w]
  for (let p = 0; p < P; p++) {
    rows.forEach((r, i) => out.set(data.subarray((p * N + r) * w, (p * N + r + 1) * w), (p * rows.length + i) * w));
  }
  return out;
}

/** What an implementation's output is compared with. */
export interface Oracle {
  /** The reference result, of the full output or of the sampled rows. */
  expected: Float32Array;
  /** Sampled rows, or null when `expected` is the full output. */
  rows: number[] | null;
  describe: string;
}

/** The reference on a sample of query rows; see the file header. */
export function sampledOracle(c: SdpaCase | MhaCase, count: number): Oracle {
  const rows = sampleRows(c.N, count);
  const m = rows.length;
  if (c.kind === 'sdpa') {
    const { B, H, N, d } = c;
    const query = new Tensor(gatherRows(c.query.data, B * H, N, d, rows), [B, H, m, d]); // [B, H, m, d]
    let mask: Tensor | undefined;
    if (c.causal) {
      mask = Tensor.zeros([m, N]); // [m, S]: sampled query i may attend key j ≤ rows[i]
      rows.forEach((r, i) => mask!.data.fill(1, i * N, i * N + r + 1));
    }
    const { output } = scaledDotProductAttention(query, c.key, c.value, { mask, backend: 'reference' }); // [B, H, m, d]
    return { expected: output.data, rows, describe: `reference on ${m} sampled query rows` };
  }
  const { B, N, D } = c;
  const query = new Tensor(gatherRows(c.x.data, B, N, D, rows), [B, m, D]); // [B, m, D]
  const { output } = c.module.forward(query, c.x, c.x, { backend: 'reference' }); // [B, m, D]
  return { expected: output.data, rows, describe: `reference on ${m} sampled query rows` };
}

/** The relative L2 error of an output (qkv layout) against the oracle, on the oracle's rows. */
export function oracleError(c: SdpaCase | MhaCase, oracle: Oracle, output: Float32Array): number {
  if (oracle.rows === null) return relativeError(output, oracle.expected);
  const picked =
    c.kind === 'sdpa'
      ? gatherRows(output, c.B * c.H, c.N, c.d, oracle.rows)
      : gatherRows(output, c.B, c.N, c.D, oracle.rows);
  return relativeError(picked, oracle.expected);
}
