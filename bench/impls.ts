// The implementations the benchmark compares: qkv's own backends and the peers (onnxruntime-node, onnxruntime-web,
// TensorFlow.js with its WebAssembly backend). Each one turns a workload into a Runner whose run() is what is timed
// and whose output() gives the result in qkv's layout for validation. Peers are imported dynamically, so a missing or
// failing package becomes a clear "skipped" line instead of a crash.

import { MultiHeadAttention, Tensor, availableBackends, scaledDotProductAttention } from '../src/index.js';
import type { BackendName } from '../src/index.js';
import { type MhaWeights, causalBias, mhaGraph, sdpaContribGraph, sdpaPlainGraph } from './onnx.js';

/** Self-attention SDPA: q, k, v [B, H, N, d] (S = N). */
export interface SdpaCase {
  kind: 'sdpa';
  B: number;
  H: number;
  N: number;
  d: number;
  causal: boolean;
  query: Tensor; // [B, H, N, d]
  key: Tensor; // [B, H, S, d]
  value: Tensor; // [B, H, S, d]
}

/** Self-attention through torch.nn.MultiheadAttention's math: x [B, N, D] → [B, N, D]. */
export interface MhaCase {
  kind: 'mha';
  B: number;
  N: number;
  D: number;
  H: number;
  x: Tensor; // [B, N, D]
  module: MultiHeadAttention;
  weights: MhaWeights;
}

export type Case = SdpaCase | MhaCase;

/** A prepared implementation of one workload. */
export interface Runner {
  /** The work that is timed: inputs are already in the implementation's own format. */
  run(): unknown;
  /** The last run's result in qkv's layout ([B, H, N, d] for SDPA, [B, N, D] for MHA); not timed. */
  output(): Float32Array;
  dispose(): void | Promise<void>;
}

export interface Impl {
  id: string;
  family: 'qkv' | 'peer';
  /** How it is driven, for the report. */
  how: string;
  /** Loads the implementation; returns a reason to skip it, or null when it is ready. */
  load(): Promise<string | null>;
  /** Prepares a workload, or returns why this implementation does not run it. */
  prepare(c: Case): Promise<Runner | string>;
}

/** An error's first line, shortened from the middle (native runtimes put a source path before the reason). */
function message(e: unknown): string {
  const line = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  return line.length <= 160 ? line : `${line.slice(0, 60)} … ${line.slice(-95)}`;
}

/** [B, H, N, d] → [B, N, H·d], the packed layout of onnxruntime's MultiHeadAttention op. */
function toPacked(t: Tensor): Float32Array {
  return t.permute([0, 2, 1, 3]).clone().data; // [B, N, H, d]
}

/** [B, N, H·d] → [B, H, N, d] */
function fromPacked(data: Float32Array, B: number, N: number, H: number, d: number): Float32Array {
  return new Tensor(data, [B, N, H, d]).permute([0, 2, 1, 3]).clone().data; // [B, H, N, d]
}

// ---- qkv ----

/** One qkv backend, called through the public API exactly as a user calls it. */
export function qkvImpl(backend: BackendName): Impl {
  return {
    id: `qkv ${backend}`,
    family: 'qkv',
    how: `scaledDotProductAttention / MultiHeadAttention.forward with { backend: "${backend}" }`,
    async load() {
      return availableBackends().includes(backend) ? null : `backend "${backend}" is not available here`;
    },
    async prepare(c) {
      let last: Tensor | null = null;
      const run =
        c.kind === 'sdpa'
          ? () => (last = scaledDotProductAttention(c.query, c.key, c.value, { causal: c.causal, backend }).output)
          : () => (last = c.module.forward(c.x, c.x, c.x, { backend }).output);
      return { run, output: () => last!.data, dispose() {} };
    },
  };
}

// ---- onnxruntime (node and web share the InferenceSession API) ----

type OrtModule = typeof import('onnxruntime-common');

interface OrtFlavour {
  id: string;
  how: string;
  graph: 'plain' | 'contrib';
  importOrt(): Promise<OrtModule>;
  sessionOptions: Record<string, unknown>;
}

function ortImpl(flavour: OrtFlavour): Impl {
  let ort: OrtModule | null = null;
  return {
    id: flavour.id,
    family: 'peer',
    how: flavour.how,
    async load() {
      try {
        ort = await flavour.importOrt();
        return null;
      } catch (e) {
        return `cannot load: ${message(e)}`;
      }
    },
    async prepare(c) {
      const o = ort!;
      let model: Uint8Array;
      let feeds: Record<string, InstanceType<OrtModule['Tensor']>>;
      let toQkv: (data: Float32Array) => Float32Array;
      if (c.kind === 'sdpa') {
        const { B, H, N, d } = c;
        if (flavour.graph === 'contrib') {
          model = sdpaContribGraph(c);
          const dims = [B, N, H * d];
          feeds = {
            q: new o.Tensor('float32', toPacked(c.query), dims),
            k: new o.Tensor('float32', toPacked(c.key), dims),
            v: new o.Tensor('float32', toPacked(c.value), dims),
          };
          toQkv = (data) => fromPacked(data, B, N, H, d);
        } else {
          model = sdpaPlainGraph(c);
          const dims = [B, H, N, d];
          feeds = {
            q: new o.Tensor('float32', c.query.data, dims),
            k: new o.Tensor('float32', c.key.data, dims),
            v: new o.Tensor('float32', c.value.data, dims),
          };
          toQkv = (data) => data;
        }
      } else {
        model = mhaGraph(c.B, c.N, c.D, c.H, c.weights, flavour.graph);
        feeds = { x: new o.Tensor('float32', c.x.data, [c.B, c.N, c.D]) };
        toQkv = (data) => data;
      }
      let session: Awaited<ReturnType<OrtModule['InferenceSession']['create']>>;
      try {
        session = await o.InferenceSession.create(model, flavour.sessionOptions);
      } catch (e) {
        return `session creation failed: ${message(e)}`;
      }
      let last: Float32Array | null = null;
      return {
        run: async () => {
          const result = await session.run(feeds);
          last = result.out.data as Float32Array;
          result.out.dispose();
        },
        output: () => toQkv(last!),
        dispose: () => session.release(),
      };
    },
  };
}

const nodeOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 2,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
};

async function importOrtNode(): Promise<OrtModule> {
  const mod = (await import('onnxruntime-node')) as unknown as { default?: OrtModule } & OrtModule;
  return mod.default ?? mod;
}

async function importOrtWeb(): Promise<OrtModule> {
  const ort = (await import('onnxruntime-web')) as unknown as OrtModule;
  ort.env.wasm.numThreads = 2;
  ort.env.wasm.simd = true;
  return ort;
}

export const ortNodeContrib = ortImpl({
  id: 'ort-node MHA op',
  how:
    'onnxruntime-node, CPU EP, 2 intra-op threads: one com.microsoft.MultiHeadAttention node (num_heads; causal = ' +
    'unidirectional 1) over q, k, v [B, N, H·d]',
  graph: 'contrib',
  importOrt: importOrtNode,
  sessionOptions: nodeOptions,
});

export const ortNodePlain = ortImpl({
  id: 'ort-node plain',
  how:
    'onnxruntime-node, CPU EP, 2 intra-op threads: Transpose → MatMul → Mul(scale) → (Add causal mask) → Softmax → ' +
    'MatMul over [B, H, N, d]',
  graph: 'plain',
  importOrt: importOrtNode,
  sessionOptions: nodeOptions,
});

export const ortWebPlain = ortImpl({
  id: 'ort-web plain',
  how: 'onnxruntime-web in Node, wasm EP, env.wasm.numThreads = 2, SIMD: the same plain graph',
  graph: 'plain',
  importOrt: importOrtWeb,
  sessionOptions: { executionProviders: ['wasm'], graphOptimizationLevel: 'all' },
});

export const ortWebContrib = ortImpl({
  id: 'ort-web MHA op',
  how: 'onnxruntime-web in Node, wasm EP, env.wasm.numThreads = 2, SIMD: the com.microsoft.MultiHeadAttention graph',
  graph: 'contrib',
  importOrt: importOrtWeb,
  sessionOptions: { executionProviders: ['wasm'], graphOptimizationLevel: 'all' },
});

// ---- TensorFlow.js ----

type Tf = typeof import('@tensorflow/tfjs-core');

export const tfjsWasm: Impl = (() => {
  let tf: Tf | null = null;
  return {
    id: 'tfjs-wasm',
    family: 'peer',
    how:
      '@tensorflow/tfjs-core + tfjs-backend-wasm (SIMD, 1 thread: its threaded build needs blob-URL workers, which ' +
      'Node lacks): matMul(q, k, transposeB) → mul(scale) → (add causal mask) → softmax → matMul(v), then dataSync()',
    async load() {
      try {
        tf = await import('@tensorflow/tfjs-core');
        await import('@tensorflow/tfjs-backend-wasm');
        if (!(await tf.setBackend('wasm'))) return 'the wasm backend did not initialise';
        await tf.ready();
        return null;
      } catch (e) {
        return `cannot load: ${message(e)}`;
      }
    },
    async prepare(c) {
      const t = tf!;
      const keep: InstanceType<Tf['Tensor']>[] = [];
      const hold = <T extends InstanceType<Tf['Tensor']>>(x: T) => (keep.push(x), x);
      let compute: () => InstanceType<Tf['Tensor']>;
      if (c.kind === 'sdpa') {
        const dims = [c.B, c.H, c.N, c.d];
        const q = hold(t.tensor(c.query.data, dims));
        const k = hold(t.tensor(c.key.data, dims));
        const v = hold(t.tensor(c.value.data, dims));
        const scale = 1 / Math.sqrt(c.d);
        const mask = c.causal ? hold(t.tensor(causalBias(c.N), [c.N, c.N])) : null; // [N, S]
        compute = () =>
          t.tidy(() => {
            let scores = t.mul(t.matMul(q, k, false, true), scale); // [B, H, N, S]
            if (mask) scores = t.add(scores, mask);
            return t.matMul(t.softmax(scores), v); // [B, H, N, d]
          });
      } else {
        const { B, N, D, H, weights: w } = c;
        const d = D / H;
        const x = hold(t.tensor(c.x.data, [B * N, D])); // [B·N, D]
        const W = (data: Float32Array) => hold(t.tensor(data, [D, D]));
        const b = (data: Float32Array) => hold(t.tensor(data, [D]));
        const [wq, wk, wv, wo] = [W(w.wq), W(w.wk), W(w.wv), W(w.wo)];
        const [bq, bk, bv, bo] = [b(w.bq), b(w.bk), b(w.bv), b(w.bo)];
        const heads = (y: InstanceType<Tf['Tensor']>) => t.transpose(t.reshape(y, [B, N, H, d]), [0, 2, 1, 3]); // [B, H, N, d]
        compute = () =>
          t.tidy(() => {
            const q = heads(t.add(t.matMul(x, wq, false, true), bq));
            const k = heads(t.add(t.matMul(x, wk, false, true), bk));
            const v = heads(t.add(t.matMul(x, wv, false, true), bv));
            const weights = t.softmax(t.mul(t.matMul(q, k, false, true), 1 / Math.sqrt(d))); // [B, H, N, S]
            const o = t.reshape(t.transpose(t.matMul(weights, v), [0, 2, 1, 3]), [B * N, D]); // [B·N, D]
            return t.add(t.matMul(o, wo, false, true), bo); // [B·N, D]
          });
      }
      let last: Float32Array | null = null;
      return {
        run: () => {
          const out = compute();
          last = out.dataSync() as Float32Array;
          out.dispose();
        },
        output: () => last!,
        dispose: () => keep.forEach((x) => x.dispose()),
      };
    },
  };
})();

/** Every implementation, qkv's backends first (fastest first, as availableBackends() lists them). */
export function allImpls(): Impl[] {
  return [...availableBackends().map(qkvImpl), ortNodeContrib, ortNodePlain, ortWebPlain, ortWebContrib, tfjsWasm];
}
