// The "wasm" backend: WebAssembly SIMD flash attention (asm/attention.ts). Importing this module registers it with
// the backend registry (kernels/backend.ts); src/index.ts imports it for that side effect.

import { type Backend, registerBackend } from '../backend.js';
import { wasmAttention } from './attention.js';
import { getKernel } from './runtime.js';

export { initWasm } from './runtime.js';

export const wasmBackend: Backend = {
  name: 'wasm',
  available: () => getKernel() !== null,
  attention: wasmAttention,
};

registerBackend(wasmBackend);
