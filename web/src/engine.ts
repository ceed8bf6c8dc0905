// The page's handle on its worker: one promise per request, so the page can `await engine.explain(sentence)`.
// A newer explain supersedes an older one still in flight (typing fast), so stale results never draw.

import type { ModelInfo, Request, Response, Result } from './protocol.js';

/** A request without its id, which the engine adds. */
type Outgoing = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

type Pending = { resolve: (r: Result) => void; reject: (e: Error) => void };

/** An error passed back by the worker, with its qkv code when it has one. */
export class WorkerError extends Error {
  readonly code: string | undefined;
  constructor(name: string, message: string, code?: string) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

export class Engine {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 1;

  constructor() {
    this.#worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'qkv' });
    this.#worker.onmessage = (event: MessageEvent<Response>) => {
      const message = event.data;
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new WorkerError(message.error.name, message.error.message, message.error.code));
    };
    this.#worker.onerror = (event) => {
      const error = new WorkerError('WorkerError', `the worker failed: ${event.message || 'could not start'}`);
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    };
  }

  #send(request: Outgoing, transfer: Transferable[] = []): Promise<Result> {
    const id = this.#next++;
    return new Promise<Result>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id }, transfer);
    });
  }

  async init(url: string): Promise<ModelInfo> {
    const r = await this.#send({ kind: 'init', url });
    if (r.kind !== 'model') throw new Error(`init: unexpected ${r.kind}`);
    return r.model;
  }

  explain(sentence: string): Promise<Result> {
    return this.#send({ kind: 'explain', sentence });
  }

  open(name: string, bytes: ArrayBuffer): Promise<Result> {
    return this.#send({ kind: 'open', name, bytes }, [bytes]);
  }
}
