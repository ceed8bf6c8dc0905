// The "wasm" backend's WebAssembly module: one module, one memory, one thread pool for every kernel. This entry file
// only chooses the exports; the kernels live in attention.ts (flash-attention forward), attention-backward.ts (its
// backward) and gemm.ts (the matrix products of linear layers), and run as jobs (job.ts). The ABI is declared once,
// in abi.ts; the wrapper's typing of these exports is src/kernels/wasm/abi.ts.

export { abi_signature } from './abi';
export { attn_scratch_bytes, heap_base, values_finite, vexp_array } from './attention';
export { attn_backward_reduce, attn_backward_scratch_bytes } from './attention-backward';
export { job_prepare, job_run } from './job';
