// A tiny ONNX writer for the benchmark's peer graphs: just enough protobuf to encode a ModelProto with a few nodes,
// float and int64 initializers, and float graph inputs and outputs. Field numbers follow onnx/onnx.proto3
// (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto, TensorShapeProto).
//
// The graphs mirror what a user of each peer would write:
// - sdpaPlainGraph: MatMul → Mul(scale) → (Add causal mask) → Softmax → MatMul over q, k, v [B, H, N, d];
// - sdpaContribGraph: one com.microsoft.MultiHeadAttention node over q, k, v [B, N, H·d];
// - mhaGraph: torch.nn.MultiheadAttention (in-projections, attention, out-projection) around either attention.

// ---- protobuf wire format ----

/** Appends protobuf fields to a growing byte list. Only the wire types ONNX needs: varint, 32-bit, length-delimited. */
class Writer {
  private parts: Uint8Array[] = [];
  private size = 0;

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  private push(p: Uint8Array): void {
    this.parts.push(p);
    this.size += p.length;
  }

  private varint(value: bigint): void {
    // Negative int64 values are encoded as their two's complement, ten bytes long.
    let v = BigInt.asUintN(64, value);
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(BigInt(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  raw(field: number, payload: Uint8Array): this {
    this.tag(field, 2);
    this.varint(BigInt(payload.length));
    this.push(payload);
    return this;
  }

  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.raw(field, inner.bytes());
  }
}

// ---- ONNX messages ----

const FLOAT = 1; // TensorProto.DataType.FLOAT
const INT64 = 7; // TensorProto.DataType.INT64
const ATTR_FLOAT = 1; // AttributeProto.AttributeType
const ATTR_INT = 2;
const ATTR_INTS = 7;

export type Attribute = { name: string } & ({ f: number } | { i: number } | { ints: number[] });

export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  domain?: string;
  attributes?: Attribute[];
}

export interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export interface Graph {
  nodes: Node[];
  initializers: Initializer[];
  /** Float inputs and outputs with fixed shapes. */
  inputs: { name: string; dims: number[] }[];
  outputs: { name: string; dims: number[] }[];
}

function writeValueInfo(w: Writer, name: string, dims: number[]): void {
  w.string(1, name); // ValueInfoProto.name
  w.message(2, (type) =>
    // TypeProto.tensor_type
    type.message(1, (tensor) => {
      tensor.int(1, FLOAT); // elem_type
      tensor.message(2, (shape) => {
        for (const dim of dims) shape.message(1, (d) => d.int(1, dim)); // dim { dim_value }
      });
    }),
  );
}

function writeNode(w: Writer, node: Node, index: number): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, `${node.op}_${index}`);
  w.string(4, node.op);
  for (const attr of node.attributes ?? []) {
    w.message(5, (a) => {
      a.string(1, attr.name);
      if ('f' in attr) a.float(2, attr.f).int(20, ATTR_FLOAT);
      else if ('i' in attr) a.int(3, attr.i).int(20, ATTR_INT);
      else {
        for (const v of attr.ints) a.int(8, v);
        a.int(20, ATTR_INTS);
      }
    });
  }
  if (node.domain) w.string(7, node.domain);
}

function writeInitializer(w: Writer, init: Initializer): void {
  for (const dim of init.dims) w.int(1, dim);
  w.int(2, init.data instanceof Float32Array ? FLOAT : INT64);
  w.string(8, init.name);
  // raw_data is little-endian, which is what typed arrays hold on every platform Node runs on here.
  w.raw(9, new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength));
}

/** Encodes a ModelProto (IR version 8, ONNX opset 17, com.microsoft opset 1). */
export function encodeModel(graph: Graph): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, 'qkv-bench'); // producer_name
  w.message(7, (g) => {
    graph.nodes.forEach((node, i) => g.message(1, (n) => writeNode(n, node, i)));
    g.string(2, 'bench');
    for (const init of graph.initializers) g.message(5, (t) => writeInitializer(t, init));
    for (const input of graph.inputs) g.message(11, (v) => writeValueInfo(v, input.name, input.dims));
    for (const output of graph.outputs) g.message(12, (v) => writeValueInfo(v, output.name, output.dims));
  });
  w.message(8, (o) => o.string(1, '').int(2, 17)); // opset_import: the default domain
  w.message(8, (o) => o.string(1, 'com.microsoft').int(2, 1));
  return w.bytes();
}

// ---- the benchmark's graphs ----

export interface SdpaShape {
  B: number;
  H: number;
  N: number;
  d: number;
  causal: boolean;
}

/** An additive causal mask [N, S] with S = N: 0 where key j ≤ query i, −Infinity above the diagonal. */
export function causalBias(N: number): Float32Array {
  const mask = new Float32Array(N * N); // [N, S]
  for (let i = 0; i < N; i++) mask.fill(-Infinity, i * N + i + 1, (i + 1) * N);
  return mask;
}

/**
 * Attention as a user composes it from standard ops: q, k, v [B, H, N, d] → out [B, H, N, d]. The full score
 * matrix [B, H, N, S] is materialized, as in every composition of standard ops.
 */
export function sdpaPlainGraph({ B, H, N, d, causal }: SdpaShape): Uint8Array {
  const qkv = [B, H, N, d];
  const nodes: Node[] = [
    { op: 'Transpose', inputs: ['k'], outputs: ['kT'], attributes: [{ name: 'perm', ints: [0, 1, 3, 2] }] }, // [B, H, d, S]
    { op: 'MatMul', inputs: ['q', 'kT'], outputs: ['scores'] }, // [B, H, N, S]
    { op: 'Mul', inputs: ['scores', 'scale'], outputs: ['scaled'] },
  ];
  const initializers: Initializer[] = [{ name: 'scale', dims: [], data: Float32Array.of(1 / Math.sqrt(d)) }];
  let logits = 'scaled';
  if (causal) {
    nodes.push({ op: 'Add', inputs: ['scaled', 'mask'], outputs: ['masked'] });
    initializers.push({ name: 'mask', dims: [N, N], data: causalBias(N) });
    logits = 'masked';
  }
  nodes.push(
    { op: 'Softmax', inputs: [logits], outputs: ['weights'], attributes: [{ name: 'axis', i: -1 }] }, // [B, H, N, S]
    { op: 'MatMul', inputs: ['weights', 'v'], outputs: ['out'] }, // [B, H, N, d]
  );
  return encodeModel({
    nodes,
    initializers,
    inputs: [
      { name: 'q', dims: qkv },
      { name: 'k', dims: qkv },
      { name: 'v', dims: qkv },
    ],
    outputs: [{ name: 'out', dims: qkv }],
  });
}

/**
 * onnxruntime's fused contrib op: q, k, v [B, N, H·d] → out [B, N, H·d]. `unidirectional` = 1 is its causal mask
 * (query i attends keys j ≤ i when there is no past; the top-left alignment, which equals bottom-right at S = N).
 */
export function sdpaContribGraph({ B, H, N, d, causal }: SdpaShape): Uint8Array {
  const packed = [B, N, H * d];
  const attributes: Attribute[] = [{ name: 'num_heads', i: H }];
  if (causal) attributes.push({ name: 'unidirectional', i: 1 });
  return encodeModel({
    nodes: [{ op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['q', 'k', 'v'], outputs: ['out'], attributes }],
    initializers: [],
    inputs: [
      { name: 'q', dims: packed },
      { name: 'k', dims: packed },
      { name: 'v', dims: packed },
    ],
    outputs: [{ name: 'out', dims: packed }],
  });
}

export interface MhaWeights {
  /** [D, D] each, PyTorch's layout (out_features × in_features). */
  wq: Float32Array;
  wk: Float32Array;
  wv: Float32Array;
  wo: Float32Array;
  /** [D] each */
  bq: Float32Array;
  bk: Float32Array;
  bv: Float32Array;
  bo: Float32Array;
}

/** [rows, cols] → [cols, rows], so that x · Wᵀ becomes one MatMul with an initializer. */
function transposed(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length); // [cols, rows]
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  return t;
}

/**
 * torch.nn.MultiheadAttention (self-attention, batch-first): x [B, N, D] → out [B, N, D]. The attention in the
 * middle is either the com.microsoft.MultiHeadAttention op or the plain composition over [B, H, N, d].
 */
export function mhaGraph(B: number, N: number, D: number, H: number, w: MhaWeights, attention: 'contrib' | 'plain'): Uint8Array {
  const d = D / H;
  const nodes: Node[] = [];
  const initializers: Initializer[] = [];
  for (const [name, weight, bias] of [
    ['q', w.wq, w.bq],
    ['k', w.wk, w.bk],
    ['v', w.wv, w.bv],
    ['o', w.wo, w.bo],
  ] as const) {
    initializers.push({ name: `W${name}T`, dims: [D, D], data: transposed(weight, D, D) });
    initializers.push({ name: `b${name}`, dims: [D], data: bias });
  }
  const project = (input: string, name: string, output: string) => {
    nodes.push({ op: 'MatMul', inputs: [input, `W${name}T`], outputs: [`${output}_mm`] }); // [B, N, D]
    nodes.push({ op: 'Add', inputs: [`${output}_mm`, `b${name}`], outputs: [output] }); // [B, N, D]
  };
  project('x', 'q', 'q');
  project('x', 'k', 'k');
  project('x', 'v', 'v');
  if (attention === 'contrib') {
    nodes.push({
      op: 'MultiHeadAttention',
      domain: 'com.microsoft',
      inputs: ['q', 'k', 'v'],
      outputs: ['heads'], // [B, N, D]
      attributes: [{ name: 'num_heads', i: H }],
    });
  } else {
    initializers.push({ name: 'split_shape', dims: [4], data: BigInt64Array.of(BigInt(B), BigInt(N), BigInt(H), BigInt(d)) });
    initializers.push({ name: 'merge_shape', dims: [3], data: BigInt64Array.of(BigInt(B), BigInt(N), BigInt(D)) });
    initializers.push({ name: 'scale', dims: [], data: Float32Array.of(1 / Math.sqrt(d)) });
    for (const name of ['q', 'k', 'v']) {
      nodes.push({ op: 'Reshape', inputs: [name, 'split_shape'], outputs: [`${name}4`] }); // [B, N, H, d]
    }
    const perm = (input: string, output: string, p: number[]) =>
      nodes.push({ op: 'Transpose', inputs: [input], outputs: [output], attributes: [{ name: 'perm', ints: p }] });
    perm('q4', 'qh', [0, 2, 1, 3]); // [B, H, N, d]
    perm('k4', 'khT', [0, 2, 3, 1]); // [B, H, d, S]
    perm('v4', 'vh', [0, 2, 1, 3]); // [B, H, S, d]
    nodes.push(
      { op: 'MatMul', inputs: ['qh', 'khT'], outputs: ['scores'] }, // [B, H, N, S]
      { op: 'Mul', inputs: ['scores', 'scale'], outputs: ['scaled'] },
      { op: 'Softmax', inputs: ['scaled'], outputs: ['weights'], attributes: [{ name: 'axis', i: -1 }] },
      { op: 'MatMul', inputs: ['weights', 'vh'], outputs: ['oh'] }, // [B, H, N, d]
    );
    perm('oh', 'o4', [0, 2, 1, 3]); // [B, N, H, d]
    nodes.push({ op: 'Reshape', inputs: ['o4', 'merge_shape'], outputs: ['heads'] }); // [B, N, D]
  }
  project('heads', 'o', 'out');
  return encodeModel({
    nodes,
    initializers,
    inputs: [{ name: 'x', dims: [B, N, D] }],
    outputs: [{ name: 'out', dims: [B, N, D] }],
  });
}
