// Loading the "wasm" backend's kernel: decodes the generated module bytes, creates its memory in JavaScript (shared
// when SharedArrayBuffer exists, so that a thread pool can later run units on the same memory), instantiates it,
// and hands out a per-call arena at the start of that memory.
//
// Node and Web Workers compile synchronously on first use (`new WebAssembly.Module`). A browser's main thread limits
// synchronous compilation, so there the backend is unavailable until `initWasm()` has resolved.
//
// The typings of WebAssembly are not part of this project's TypeScript libs (ES2023 plus Node's types), so the few
// members used are declared here and looked up on globalThis.

import { ABI_SIGNATURE, type KernelExports } from './abi.js';
import { WASM_PLAIN_BASE64, WASM_SHARED_BASE64 } from './module.generated.js';

interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<{ exports: unknown }>;
}

/** A loaded kernel and its memory. */
export interface WasmKernel {
  exports: KernelExports;
  memory: WasmMemory;
  /** Whether the memory is a SharedArrayBuffer (the thread pool needs it). */
  shared: boolean;
  /** First byte of the per-call arena (16-byte aligned, past the module's static data). */
  arenaBase: number;
  /** The most bytes the memory can grow to. */
  maxBytes: number;
}

const PAGE = 65536;
/**
 * Memory maxima to try, largest first: 2 GiB, then less where the host cannot reserve that much. 2 GiB holds the
 * largest planned single calls (N = 65536, H = 1, d = 64 needs 64 MiB; B = 1, H = 12, N = 4096, d = 64 needs 48 MiB,
 * 853 MiB with weights) and keeps every byte address a positive int32, as the context block stores them.
 */
const MAX_PAGES_TRIED = [32768, 16384, 4096];
const INITIAL_PAGES = 16;

const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
const sharedAvailable = typeof SharedArrayBuffer === 'function';

let kernel: WasmKernel | null = null;
let loadError: unknown = null;
let pending: Promise<void> | null = null;

/** Whether this thread may compile synchronously: not a browser's main thread (which has a document). */
function syncCompileAllowed(): boolean {
  return !('document' in globalThis);
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function createMemory(wasm: WasmApi): { memory: WasmMemory; maxPages: number } {
  let lastError: unknown = null;
  for (const maximum of MAX_PAGES_TRIED) {
    try {
      const memory = new wasm.Memory({ initial: INITIAL_PAGES, maximum, shared: sharedAvailable });
      return { memory, maxPages: maximum };
    } catch (e) {
      lastError = e; // RangeError: the host cannot reserve this much; try a smaller maximum
    }
  }
  throw lastError;
}

function moduleBytes(): Uint8Array {
  return decodeBase64(sharedAvailable ? WASM_SHARED_BASE64 : WASM_PLAIN_BASE64);
}

/**
 * Throws unless a module's exports were built with the ABI the wrapper was generated with (asm/abi.ts: a slot
 * renumbered in one and not the other, or a module from another build).
 */
export function assertAbi(k: Pick<KernelExports, 'abi_signature'>): void {
  const built = typeof k.abi_signature === 'function' ? k.abi_signature() : 'none';
  if (built !== ABI_SIGNATURE) {
    throw new Error(
      `wasm kernel: the module was built for ABI ${built}, the wrapper for ABI ${ABI_SIGNATURE} (asm/abi.ts); ` +
        'rebuild both with `npm run build`',
    );
  }
}

function finish(exports: unknown, memory: WasmMemory, maxPages: number): WasmKernel {
  const k = exports as KernelExports;
  assertAbi(k);
  const arenaBase = (k.heap_base() + 15) & ~15;
  return { exports: k, memory, shared: sharedAvailable, arenaBase, maxBytes: maxPages * PAGE };
}

/** The kernel, compiling it synchronously on first use where that is allowed; null when it cannot run here. */
export function getKernel(): WasmKernel | null {
  if (kernel || loadError || !api || !syncCompileAllowed()) return kernel;
  try {
    const { memory, maxPages } = createMemory(api);
    const instance = new api.Instance(new api.Module(moduleBytes()), { env: { memory } });
    kernel = finish(instance.exports, memory, maxPages);
  } catch (e) {
    loadError = e;
  }
  return kernel;
}

/**
 * Compiles and instantiates the kernel asynchronously: required before the "wasm" backend is available on a
 * browser's main thread; harmless elsewhere. Rejects when WebAssembly SIMD is not supported here.
 * @example await initWasm(); setBackend('wasm');
 */
export function initWasm(): Promise<void> {
  if (kernel) return Promise.resolve();
  if (loadError) return Promise.reject(loadError);
  if (!api) return Promise.reject(new Error('initWasm: WebAssembly is not available here'));
  const wasm = api;
  pending ??= (async () => {
    try {
      const { memory, maxPages } = createMemory(wasm);
      const module = await wasm.compile(moduleBytes());
      const instance = await wasm.instantiate(module, { env: { memory } });
      kernel = finish(instance.exports, memory, maxPages);
    } catch (e) {
      loadError = e;
      throw e;
    }
  })();
  return pending;
}

/** Why the kernel could not be loaded, or null. */
export function kernelLoadError(): unknown {
  return loadError;
}

/** Makes the memory at least arenaBase + bytes long; false when that exceeds its maximum. */
export function reserveArena(k: WasmKernel, bytes: number): boolean {
  const needed = k.arenaBase + bytes;
  if (needed > k.maxBytes) return false;
  const have = k.memory.buffer.byteLength;
  if (needed <= have) return true;
  try {
    k.memory.grow(Math.ceil((needed - have) / PAGE));
    return true;
  } catch {
    return false; // the host refused the memory: the caller declines and the reference runs
  }
}

/** A bump allocator over the arena: `take(bytes)` returns the next 16-byte-aligned offset; `end` is the first free one. */
export class ArenaCursor {
  end: number;
  constructor(k: WasmKernel) {
    this.end = k.arenaBase;
  }
  take(bytes: number): number {
    const start = this.end;
    this.end = Math.ceil((start + bytes) / 16) * 16;
    return start;
  }
}

/**
 * A new Float32Array whose every 4 KiB page has been written (with zero), so that the OS maps its pages now rather
 * than in a later copy: a caller allocates its results this way while pool workers compute.
 */
export function touchedArray(length: number): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i += 1024) a[i] = 0;
  return a;
}
