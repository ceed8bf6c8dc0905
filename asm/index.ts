// The "wasm" backend's WebAssembly module: one module, one memory, one thread pool for every kernel. This entry file
// only chooses the exports; the kernels live in attention.ts (flash-attention forward), attention-backward.ts (its
// backward) and gemm.ts (the matrix products of linear layers). The wrapper's mirror of the ABI is
// src/kernels/wasm/abi.ts.

export {
  attn_prepare,
  attn_scratch_bytes,
  attn_forward_units,
  attn_forward_shared,
  values_finite,
  vexp_array,
  heap_base,
  ctx_slots,
} from './attention';
export {
  attn_backward_prepare,
  attn_backward_scratch_bytes,
  attn_backward_units,
  attn_backward_shared,
  attn_backward_reduce,
} from './attention-backward';
export { gemm_prepare, gemm_units, gemm_shared } from './gemm';
export { kernel_shared } from './shared';
