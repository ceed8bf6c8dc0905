// The page's handle on the real-model worker: one promise per request. The worker starts on the first use, so a
// page that never opens a real model never loads it.

import type { ModelRequest, ModelResponse, ModelResult, RealModelInfo } from './protocol.js';

type Outgoing = ModelRequest extends infer R ? (R extends ModelRequest ? Omit<R, 'id'> : never) : never;
type Pending = { resolve: (r: ModelResult) => void; reject: (e: Error) => void; progress?: (text: string) => void };

/** An error passed back by the worker, with its qkv code when it has one. */
export class ModelWorkerError extends Error {
  readonly code: string | undefined;
  constructor(name: string, message: string, code?: string) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

export class ModelEngine {
  #worker: Worker | null = null;
  readonly #pending = new Map<number, Pending>();
  #next = 1;

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'qkv-models' });
    worker.onmessage = (event: MessageEvent<ModelResponse>) => {
      const message = event.data;
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      if ('progress' in message) return pending.progress?.(message.progress);
      this.#pending.delete(message.id);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new ModelWorkerError(message.error.name, message.error.message, message.error.code));
    };
    worker.onerror = (event) => {
      const error = new ModelWorkerError('WorkerError', `the model worker failed: ${event.message || 'could not start'}`);
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    };
    this.#worker = worker;
    return worker;
  }

  send(request: Outgoing, progress?: (text: string) => void): Promise<ModelResult> {
    const worker = this.#start();
    const id = this.#next++;
    return new Promise<ModelResult>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, progress });
      worker.postMessage({ ...request, id });
    });
  }

  async load(request: Extract<Outgoing, { kind: 'load-url' | 'load-files' }>, progress?: (text: string) => void): Promise<RealModelInfo> {
    const r = await this.send(request, progress);
    if (r.kind !== 'loaded') throw new Error(`load: unexpected ${r.kind}`);
    return r.info;
  }
}
