// The script a thread of the wasm backend's pool runs (pool.ts starts it: a Node worker_thread, or a module Web Worker
// that bundlers build from the `new Worker(new URL('./worker-entry.js', import.meta.url))` in pool.ts). It only
// chooses the thread's role; what each role does is worker.ts.

import { instantiateKernel, runSupervisor, runWorker, whenPoolThread } from './worker.js';

whenPoolThread((init) => {
  if (init.qkvWasmPool === 'supervisor') runSupervisor(init);
  else runWorker(init, instantiateKernel(init));
});
