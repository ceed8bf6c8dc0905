// The "wasm" backend: WebAssembly SIMD flash attention forward and backward, the GEMM of the projections, and the
// two fused into MultiHeadAttention's self-attention (asm/, one module). Importing this module registers it with the
// backend registry (kernels/backend.ts); src/index.ts imports it for that side effect. Large calls use a thread pool
// (pool.ts) where SharedArrayBuffer and blocking waits are available; setNumThreads(1) turns it off.

import { type Backend, registerBackend } from '../backend.js';
import { wasmAttention } from './attention.js';
import { wasmAttentionBackward } from './attention-backward.js';
import { wasmGemm } from './gemm.js';
import { getKernel } from './runtime.js';
import { wasmSelfAttention } from './self-attention.js';

export { initWasm } from './runtime.js';
export { getNumThreads, setNumThreads } from './pool.js';

export const wasmBackend: Backend = {
  name: 'wasm',
  available: () => getKernel() !== null,
  attention: wasmAttention,
  attentionBackward: wasmAttentionBackward,
  gemm: wasmGemm,
  selfAttention: wasmSelfAttention,
};

registerBackend(wasmBackend);
