// The threads of the wasm backend's pool (protocol in pool.ts): what each role does, and how a pool thread is started.
// This module has no effect when imported; the script that a pool thread runs is worker-entry.ts, which reads the init
// record that the spawning thread passes (Node: workerData; browsers: the first message) and calls one of:
//
//   runSupervisor  spawns the pool workers and watches them. Its event loop stays free while the caller blocks in
//                  Atomics.wait, so it is the thread that sees a worker's 'exit' or 'error'. It then reports the
//                  death through the control block (and why, through a MessagePort), and spawns a replacement.
//                  It also bumps CTL.HEARTBEAT every HEARTBEAT_MS: nobody sees the supervisor's own death during a
//                  call (its nested workers end with it, their BUSY stays set), so the caller watches the heartbeat
//                  and gives the call up when it stops (pool.ts, "Deaths").
//   runWorker      instantiates the kernel on the shared memory and, for each job, takes work units from the
//                  kernel's atomic counter (job_run, for the job's kind: attention forward, backward or GEMM) with
//                  its own scratch region, until none is left.
//
// The worker never touches the problem's data from JavaScript: it only calls the kernel. This module imports nothing
// from the rest of the library, so that a pool thread starts fast. Tests start pool threads on a script of their own
// (tests/backends/pool-hooks/), which calls the same two functions with a kernel and a supervisor that fail on
// request; nothing of that ships here.
//
// Mirrors: Emscripten's pthread pool (workers instantiate one module on one shared memory) and OpenMP's dynamic
// schedule (threads take the next unit from a shared counter).

/** Word indices of the Int32 control block shared by the caller, the supervisor and the workers. */
export const CTL = {
  /** Job generation; bumped for every job. Workers Atomics.wait on it. */
  GEN: 0,
  /** Generation of the job that workers may still join; 0 once the caller has taken the last unit. */
  OPEN: 1,
  /** Byte address of the job's context block. */
  CTX: 2,
  /** Byte address of the caller's scratch; worker i uses SCRATCH + i · STRIDE. */
  SCRATCH: 3,
  STRIDE: 4,
  /** Bumped and notified whenever a worker leaves a job, becomes ready, or dies. The caller waits on it. */
  PULSE: 5,
  /** Workers that died while inside a job. A call fails when this moves while it runs. */
  DEATHS: 6,
  /** 1: workers leave their loop and the supervisor stops respawning. */
  STOP: 7,
  /** 1: a worker died before it became ready (it could not start); it is not respawned. */
  BROKEN: 8,
  /** Units the workers ran, summed over all jobs (a check that none is lost or run twice). */
  WORKER_UNITS: 9,
  /** 1 once the supervisor runs. */
  SUPERVISOR: 10,
  /** Which kernel the job runs (abi.ts JOB: forward, backward, gemm). */
  KIND: 11,
  /**
   * Generation of an armed job: the caller has woken the workers early, while it still writes the problem into the
   * memory, and opens the job under a later generation. Workers woken by it spin (briefly) instead of sleeping.
   */
  ARMED: 12,
  /** Bumped by the supervisor every HEARTBEAT_MS while it runs; a caller waiting for workers checks that it moves. */
  HEARTBEAT: 13,
  /** READY + i: 1 once worker i has instantiated the kernel. */
  READY: 16,
  /** BUSY + i: 1 while worker i is inside a job (from the moment it looks at OPEN until it leaves). */
  BUSY: 16 + 64,
  /** Words in the control block. */
  LENGTH: 16 + 128,
} as const;

/** Worker indices run from 1 to MAX_WORKERS; 0 is the caller. */
export const MAX_WORKERS = 63;

/** How often the supervisor bumps CTL.HEARTBEAT. */
export const HEARTBEAT_MS = 50;

/** The Web Worker name that marks a pool thread in browsers (Node uses the workerData marker instead). */
export const WEB_NAME = 'qkv-wasm-pool';

interface WasmInstance {
  exports: unknown;
}
interface WasmApi {
  Instance: new (module: object, imports: object) => WasmInstance;
}
/** What a pool worker calls of the kernel (abi.ts KernelExports). */
export interface PoolKernel {
  job_run(kind: number, ctx: number, scratch: number): number;
}
interface SharedMemory {
  readonly buffer: ArrayBufferLike;
}

/** Everything a pool thread needs; structured-cloneable (module, shared memory and control block are shared). */
export interface ThreadInit {
  /** The marker and the role. */
  qkvWasmPool: 'supervisor' | 'worker';
  /** 1..workers for a worker; 0 for the supervisor. */
  index: number;
  workers: number;
  /** The compiled shared-memory kernel (WebAssembly.Module). */
  module: object;
  /** The shared WebAssembly.Memory. */
  memory: SharedMemory;
  /** Int32Array over a SharedArrayBuffer, CTL.LENGTH words. */
  control: Int32Array;
  /** URL of the script pool threads run (worker-entry.js, or a test's). */
  script: string;
  /** URL of tsx's ESM API when the script is TypeScript source (tests run from src/); null when it is built. */
  tsx: string | null;
  /** Supervisor only: where it posts why a worker died ({ index, reason }). */
  report?: PortLike;
}

export interface PortLike {
  postMessage(message: unknown): void;
}

/** The parts of a Node Worker and of a Web Worker that the pool uses. */
export interface ThreadHandle {
  terminate(): unknown;
}

interface NodeWorker extends ThreadHandle {
  on(event: 'exit', listener: (code: number) => void): void;
  on(event: 'error', listener: (error: unknown) => void): void;
  on(event: 'message', listener: (message: unknown) => void): void;
  unref(): void;
}
interface NodeWorkerThreads {
  Worker: new (script: string | URL, options: object) => NodeWorker;
  workerData: unknown;
  parentPort: PortLike | null;
  isMainThread: boolean;
}
export interface WebWorker extends ThreadHandle {
  postMessage(message: unknown, transfer?: unknown[]): void;
  addEventListener(type: string, listener: (event: { data?: unknown; message?: string }) => void): void;
}
export type WebWorkerConstructor = new (url: string | URL, options: { type: 'module'; name: string }) => WebWorker;

interface NodeProcess {
  getBuiltinModule?(id: string): unknown;
  versions?: { node?: string };
}

/** Node's process, when this is Node (and new enough to load built-ins synchronously: 20.16 and later). */
function nodeProcess(): NodeProcess | null {
  const p = (globalThis as { process?: NodeProcess }).process;
  return p?.versions?.node !== undefined && typeof p.getBuiltinModule === 'function' ? p : null;
}

/** node:worker_threads, loaded without a static import so that browser bundles do not need it. */
export function nodeWorkerThreads(): NodeWorkerThreads | null {
  return (nodeProcess()?.getBuiltinModule?.('node:worker_threads') as NodeWorkerThreads | undefined) ?? null;
}

/** Bumps PULSE and wakes a caller waiting on it. */
function pulse(ctl: Int32Array): void {
  Atomics.add(ctl, CTL.PULSE, 1);
  Atomics.notify(ctl, CTL.PULSE);
}

/** Events of a spawned pool thread, the same in Node and browsers. */
export interface ThreadEvents {
  /** The thread is gone, with an exit code or the error that ended it. */
  onGone(why: string): void;
  onMessage(message: unknown): void;
}

/**
 * Starts a pool thread running this script with `init`. Node: a worker_threads Worker (the supervisor unref'd: an
 * idle pool never keeps the process alive); from TypeScript source, a small bootstrap registers tsx in the new thread first,
 * because tsx's hooks do not reach worker threads by themselves. Browsers: a module Web Worker on `init.script`
 * (the supervisor's own URL: pool.ts starts the supervisor itself, see startWebSupervisor there), init posted.
 */
export function spawnThread(init: ThreadInit, events: ThreadEvents, transfer: unknown[] = []): ThreadHandle {
  const threads = nodeWorkerThreads();
  if (threads) {
    const options = { workerData: init, transferList: transfer };
    const worker = init.tsx
      ? new threads.Worker(
          `import(${JSON.stringify(init.tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(init.script)}); });`,
          { ...options, eval: true },
        )
      : new threads.Worker(new URL(init.script), options);
    let error = '';
    worker.on('error', (e) => {
      error = e instanceof Error ? e.message : String(e);
    });
    worker.on('exit', (code) => events.onGone(error || `exit code ${code}`));
    worker.on('message', (m) => events.onMessage(m));
    // The supervisor must not keep the caller's process alive (unref, after the listeners, which would otherwise
    // ref its message port again); the workers must keep the supervisor's event loop alive, so they stay ref'd.
    if (init.qkvWasmPool === 'supervisor') worker.unref();
    return worker;
  }
  const WebWorkerClass = webWorkerConstructor();
  if (!WebWorkerClass) throw new Error('no Worker constructor here');
  return watchWebThread(new WebWorkerClass(init.script, { type: 'module', name: WEB_NAME }), init, events, transfer);
}

/** The Web Worker constructor of this realm (a page or a worker), or undefined (Node, or a worker without one). */
export function webWorkerConstructor(): WebWorkerConstructor | undefined {
  return (globalThis as { Worker?: WebWorkerConstructor }).Worker;
}

/** Listens to a just-created pool Web Worker and posts it `init`. */
export function watchWebThread(
  worker: WebWorker,
  init: ThreadInit,
  events: ThreadEvents,
  transfer: unknown[] = [],
): ThreadHandle {
  // A Web Worker survives an uncaught error, but the pool cannot trust it any more: end it and treat it as dead.
  // A script that cannot be fetched or parsed fires a plain Event, without a message.
  worker.addEventListener('error', (e) => {
    worker.terminate();
    events.onGone(e.message ?? `its script ${init.script || 'worker.js'} could not be loaded or failed`);
  });
  worker.addEventListener('message', (e) => events.onMessage(e.data));
  worker.postMessage(init, transfer);
  return worker;
}

// ---- supervisor ------------------------------------------------------------------------------------------------

/**
 * The supervisor's loop (on its own event loop). `onChildMessage` receives what worker i posts; the library's workers
 * post nothing, a test's workers (tests/backends/pool-hooks/) ask to be terminated or to end the supervisor.
 */
export function runSupervisor(
  init: ThreadInit,
  onChildMessage: (i: number, message: unknown, child: ThreadHandle | null) => void = () => {},
): void {
  const ctl = init.control;
  const children: (ThreadHandle | null)[] = [];

  // The heartbeat. Unref'd: the supervisor's event loop lives as long as its (ref'd) workers, never because of it.
  Atomics.add(ctl, CTL.HEARTBEAT, 1);
  const heartbeat: unknown = setInterval(() => Atomics.add(ctl, CTL.HEARTBEAT, 1), HEARTBEAT_MS);
  (heartbeat as { unref?(): void }).unref?.();

  const start = (i: number): void => {
    const childInit: ThreadInit = { ...init, qkvWasmPool: 'worker', index: i, report: undefined };
    try {
      children[i] = spawnThread(childInit, {
        onGone: (why) => gone(i, why),
        onMessage: (m) => onChildMessage(i, m, children[i] ?? null),
      });
    } catch (e) {
      children[i] = null;
      Atomics.store(ctl, CTL.BROKEN, 1);
      init.report?.postMessage({ index: i, reason: `could not start: ${e instanceof Error ? e.message : e}` });
      pulse(ctl);
    }
  };

  const gone = (i: number, why: string): void => {
    children[i] = null;
    if (Atomics.load(ctl, CTL.STOP) === 1) {
      // A stopped pool: nothing to report or respawn, but a caller may wait for a pool it gave up to empty
      // (pool.ts settleRetired), and this worker has left it.
      Atomics.store(ctl, CTL.BUSY + i, 0);
      pulse(ctl);
      return;
    }
    const wasReady = Atomics.load(ctl, CTL.READY + i) === 1;
    const wasBusy = Atomics.load(ctl, CTL.BUSY + i) === 1;
    init.report?.postMessage({ index: i, reason: why, busy: wasBusy });
    Atomics.store(ctl, CTL.READY + i, 0);
    if (wasBusy) {
      // DEATHS first, then BUSY: a caller that sees every worker idle also sees the death.
      Atomics.add(ctl, CTL.DEATHS, 1);
      Atomics.store(ctl, CTL.BUSY + i, 0);
    }
    if (!wasReady) {
      Atomics.store(ctl, CTL.BROKEN, 1); // it could not even start: respawning would fail the same way
      pulse(ctl);
      return;
    }
    pulse(ctl);
    start(i);
  };

  for (let i = 1; i <= init.workers; i++) start(i);
  Atomics.store(ctl, CTL.SUPERVISOR, 1);
  pulse(ctl);
}

// ---- worker ----------------------------------------------------------------------------------------------------

/** The kernel on the pool's shared memory, in this thread. */
export function instantiateKernel(init: ThreadInit): PoolKernel {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly!;
  return new wasm.Instance(init.module, { env: { memory: init.memory } }).exports as PoolKernel;
}

/** A pool worker's loop: for each job it joins, takes units through `kernel` (instantiateKernel, or a test's wrapper). */
export function runWorker(init: ThreadInit, kernel: PoolKernel): void {
  const ctl = init.control;
  const i = init.index;

  let seen = Atomics.load(ctl, CTL.GEN); // a job already open when this worker starts is left to the others
  Atomics.store(ctl, CTL.READY + i, 1);
  pulse(ctl);
  for (;;) {
    Atomics.wait(ctl, CTL.GEN, seen);
    if (Atomics.load(ctl, CTL.STOP) === 1) return;
    // BUSY before reading OPEN, and the caller clears OPEN before reading BUSY (both sequentially consistent):
    // either the caller waits for this worker, or this worker sees the job closed and leaves it alone.
    Atomics.store(ctl, CTL.BUSY + i, 1);
    for (;;) {
      seen = Atomics.load(ctl, CTL.GEN);
      if (Atomics.load(ctl, CTL.OPEN) === seen) {
        const ctx = Atomics.load(ctl, CTL.CTX);
        const scratch = Atomics.load(ctl, CTL.SCRATCH) + i * Atomics.load(ctl, CTL.STRIDE);
        const ran = kernel.job_run(Atomics.load(ctl, CTL.KIND), ctx, scratch);
        Atomics.add(ctl, CTL.WORKER_UNITS, ran);
        break;
      }
      // An armed job opens within microseconds (the caller is copying its inputs): wait for it awake, and join it
      // under its new generation. Anything else (a job already closed, a stop, a spin that ran out) ends here.
      if (Atomics.load(ctl, CTL.ARMED) !== seen || !spinWhileArmed(ctl, seen)) break;
    }
    Atomics.store(ctl, CTL.BUSY + i, 0);
    pulse(ctl);
    if (Atomics.load(ctl, CTL.STOP) === 1) return; // a stop seen while spinning: GEN is already `seen`
  }
}

/** The longest a worker spins for an armed job to open before it goes back to sleep (it then wakes on the open). */
const ARMED_SPIN_MS = 2;

/** Spins while GEN is still the armed generation; true when it moved on (the job opened, or a stop), false on timeout. */
function spinWhileArmed(ctl: Int32Array, armed: number): boolean {
  const deadline = performance.now() + ARMED_SPIN_MS;
  for (let n = 1; ; n++) {
    if (Atomics.load(ctl, CTL.GEN) !== armed) return true;
    if ((n & 255) === 0 && performance.now() > deadline) return false;
  }
}

/** Whether a value is a pool thread's init record (the spawning thread's workerData or first message). */
export function isThreadInit(value: unknown): value is ThreadInit {
  const role = (value as { qkvWasmPool?: unknown } | null)?.qkvWasmPool;
  return role === 'supervisor' || role === 'worker';
}

/**
 * Calls `start` with this thread's init record and its parent port when this thread is a pool thread: in Node, a
 * worker_thread whose workerData is one; in a browser, the Web Worker named WEB_NAME, on its first message. The
 * entry scripts (worker-entry.ts, and the tests') are this one call.
 */
export function whenPoolThread(start: (init: ThreadInit, parent: PortLike | null) => void): void {
  const threads = nodeWorkerThreads();
  if (threads) {
    if (!threads.isMainThread && isThreadInit(threads.workerData)) start(threads.workerData, threads.parentPort);
    return;
  }
  if ((globalThis as { name?: unknown }).name !== WEB_NAME) return;
  const scope = globalThis as unknown as {
    addEventListener(type: 'message', listener: (e: { data: unknown }) => void, options: object): void;
    postMessage(message: unknown): void;
    location: { href: string };
  };
  scope.addEventListener(
    'message',
    (e) => {
      // A bundler gives the entry script a URL of its own (pool.ts cannot know it): the supervisor's workers start
      // from the supervisor's location, which is that script.
      if (!isThreadInit(e.data)) return;
      start({ ...e.data, script: scope.location.href }, { postMessage: (m) => scope.postMessage(m) });
    },
    { once: true },
  );
}
