// What the pool's fault injection (index.ts, on the test's thread) and its pool threads (thread.ts) agree on: the
// words of the fault block they share, and how a worker fails.

/** The key under which index.ts hands the fault block to every later worker_thread (Node's environment data). */
export const FAULT_BLOCK_KEY = 'qkv:pool-faults';

/** Words of the fault block, an Int32Array over a SharedArrayBuffer. */
export const FAULT = {
  /** The index of the worker that fails inside the next job it joins (0 = none); it sets this back to 0 then. */
  KILL: 0,
  /** How it fails: a KILL_MODE. */
  MODE: 1,
  /** 1: the current supervisor ends itself (between calls); it sets this back to 0 then. */
  END_SUPERVISOR: 2,
  LENGTH: 4,
} as const;

/**
 * How a worker fails under KILL, after taking one unit (which is then lost); STALL is the one mode in which it lives,
 * and loses nothing.
 */
export const KILL_MODE = {
  /** process.exit inside the job. */
  EXIT: 1,
  /** An uncaught exception. */
  THROW: 2,
  /** The supervisor terminates it while it blocks. */
  TERMINATE: 3,
  /** It blocks (BUSY) and asks its supervisor to exit; it ends with the supervisor, and the heartbeat stops. */
  SUPERVISOR: 4,
  /** Not a death: it sleeps HOOK_STALL_MS inside the job before it takes units, a slow worker the caller waits for. */
  STALL: 5,
} as const;

/** How long a worker sleeps inside a job under STALL. */
export const HOOK_STALL_MS = 600;
