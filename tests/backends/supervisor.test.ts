// The wasm thread pool's supervisor (src/kernels/wasm/pool.ts, worker.ts): when the supervisor thread itself dies in
// the middle of a call, its workers end with it and nobody can report the death, so the caller watches the
// supervisor's heartbeat. The call fails with a WorkerError within the (test-lowered) silence window instead of
// hanging, the next call starts a new pool and gives the one-thread result, and a long call during which the
// supervisor lives is never given up.
//
// Small problems normally skip the pool; setPoolTestHooks({ minFlops: 0 }) forces it (as in threads.test.ts).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Tensor, WorkerError, isQkvError } from '../../src/index.js';
import { getNumThreads, setNumThreads, wasmBackend } from '../../src/kernels/wasm/index.js';
import { poolStats } from '../../src/kernels/wasm/pool.js';
import { getKernel } from '../../src/kernels/wasm/runtime.js';
import { prepareAttention } from '../../src/ops/attention.js';
import { assertBitwiseEqual } from '../tolerances.js';
import { assertUnitsAccounted, waitForWorkers } from './pool-helpers.js';
import {
  DEFAULT_POOL_MIN_FLOPS,
  DEFAULT_SUPERVISOR_SILENCE_MS,
  HOOK_STALL_MS,
  installPoolFaults,
  setPoolTestHooks,
} from './pool-hooks/index.js';

installPoolFaults(); // before any pool starts: its threads fail on request

const query = Tensor.randn([2, 3, 65, 8], 4); // [B, H, N, d]: 2·3·2 = 12 units
const key = Tensor.randn([2, 3, 129, 8], 5); // [B, H, S, d]
const value = Tensor.randn([2, 3, 129, 8], 6); // [B, H, S, dv]

interface Result {
  output: Float32Array;
  weights?: Float32Array;
}

/**
 * Causal attention with weights on the wasm backend (declining fails the test). The arena is poisoned with NaN
 * bytes first, so that rows of a unit that no thread ran cannot keep an earlier call's (equal) values.
 */
function run(): Result {
  const k = getKernel()!;
  new Uint8Array(k.memory.buffer, k.arenaBase).fill(0xff);
  const { problem } = prepareAttention('supervisor.test', query, key, value, { causal: true });
  const result = wasmBackend.attention(problem, { weights: true, trace: false });
  assert.ok(result, 'the wasm backend declined');
  return result;
}

/** Bit patterns, so that -0 vs 0 and NaN payloads count too. */
const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

function assertSameBits(got: Result, want: Result, what: string): void {
  assertBitwiseEqual(bits(got.output), bits(want.output), `${what}: output`);
  assertBitwiseEqual(bits(got.weights!), bits(want.weights!), `${what}: weights`);
}

describe('wasm thread pool supervisor', () => {
  let want: Result;

  before(() => {
    setPoolTestHooks({ minFlops: 0 });
    setNumThreads(1);
    want = run();
  });
  after(() => {
    setPoolTestHooks({ minFlops: DEFAULT_POOL_MIN_FLOPS, supervisorSilenceMs: DEFAULT_SUPERVISOR_SILENCE_MS });
    setNumThreads(1);
  });

  it('fails the call when the supervisor dies inside it, and the next call starts a new pool', async () => {
    setNumThreads(2);
    assertSameBits(run(), want, 'before the death'); // the pool is up ...
    await waitForWorkers(1); // ... and its worker is ready, so that it joins the next job
    const silenceMs = 200;
    setPoolTestHooks({ supervisorSilenceMs: silenceMs, kill: { worker: 1, mode: 'SUPERVISOR' } });
    try {
      const started = performance.now();
      assert.throws(
        () => run(),
        (e: unknown) => {
          assert.ok(e instanceof WorkerError && isQkvError(e, 'E_WORKER'), `not a WorkerError: ${e}`);
          assert.match(e.message, /^wasm backend: the thread pool's supervisor thread stopped/);
          assert.match(e.message, /\(no heartbeat for \d+ ms\) during this call/);
          assert.match(e.message, /the call's results are lost/);
          assert.match(e.message, /The next call starts a new pool/);
          assert.match(e.message, /setNumThreads\(1\)/);
          const ms = Number(/no heartbeat for (\d+) ms/.exec(e.message)![1]);
          assert.ok(ms >= silenceMs, `gave up after ${ms} ms of silence, before the ${silenceMs} ms window`);
          return true;
        },
      );
      const took = performance.now() - started;
      assert.ok(took < 10_000, `the call took ${Math.round(took)} ms to fail`);

      // Threads stay on (a fresh supervisor is tried), and the next call runs on a new pool.
      assert.equal(getNumThreads(), 2);
      const before = poolStats();
      assertSameBits(run(), want, 'the call after the death');
      let now = poolStats();
      assert.equal(now.jobs, before.jobs + 1, 'the call after the death did not run on the pool');
      assert.equal(now.workers, 1);

      // The new pool's worker runs units (on a busy machine the caller may take every unit of a small call before
      // the worker wakes, so take calls until it has run one).
      await waitForWorkers(1);
      let calls = 1;
      for (; calls < 200 && poolStats().workerUnits === before.workerUnits; calls++) {
        assertSameBits(run(), want, `new pool, call ${calls}`);
      }
      now = poolStats();
      assert.equal(now.jobs, before.jobs + calls);
      assertUnitsAccounted(before, now);
      assert.ok(now.workerUnits > before.workerUnits, `the new pool's worker ran no unit in ${calls} calls`);
    } finally {
      setPoolTestHooks({ supervisorSilenceMs: DEFAULT_SUPERVISOR_SILENCE_MS });
    }
  });

  it('does not give up a call that waits for a slow worker while the supervisor beats', async () => {
    setNumThreads(2);
    run();
    await waitForWorkers(1);
    // The worker sleeps inside the job (BUSY) for HOOK_STALL_MS, four times the silence window: the caller waits
    // for it that long, and only the heartbeat tells it that the supervisor lives.
    const silenceMs = 150;
    assert.ok(HOOK_STALL_MS >= 4 * silenceMs);
    setPoolTestHooks({ supervisorSilenceMs: silenceMs, kill: { worker: 1, mode: 'STALL' } });
    try {
      const before = poolStats();
      const started = performance.now();
      assertSameBits(run(), want, 'a call with a slow worker');
      const took = performance.now() - started;
      assert.ok(took >= 2 * silenceMs, `the call took ${Math.round(took)} ms: the caller did not wait for the worker`);
      const now = poolStats();
      assert.equal(now.jobs, before.jobs + 1, 'the call did not run on the pool');
      assertUnitsAccounted(before, now);
      assertSameBits(run(), want, 'the call after it, on the same pool');
      assert.equal(poolStats().jobs, before.jobs + 2);
    } finally {
      setPoolTestHooks({ supervisorSilenceMs: DEFAULT_SUPERVISOR_SILENCE_MS });
    }
  });

  it('lets a live worker of a pool given up leave before the next call writes to the memory', async () => {
    setNumThreads(2);
    run();
    await waitForWorkers(1);
    // A supervisor wrongly taken for dead (a silence window shorter than its beat), while its worker sleeps inside
    // the job: the worker is alive, and would take units of the next job from the counter its prepare resets.
    setPoolTestHooks({ supervisorSilenceMs: 5, kill: { worker: 1, mode: 'STALL' } });
    const started = performance.now();
    try {
      assert.throws(
        () => run(),
        (e: unknown) => isQkvError(e, 'E_WORKER') && /supervisor thread stopped/.test(e.message),
      );
    } finally {
      setPoolTestHooks({ supervisorSilenceMs: DEFAULT_SUPERVISOR_SILENCE_MS });
    }
    // The supervisor beats on, so the next call waits for the sleeping worker to leave the old job first.
    assertSameBits(run(), want, 'the call after the pool was given up');
    const took = performance.now() - started;
    assert.ok(took >= HOOK_STALL_MS, `the next call ran ${Math.round(took)} ms after the stall began, before it ended`);
    for (let r = 0; r < 20; r++) assertSameBits(run(), want, `new pool, call ${r}`);
  });

  it('replaces a supervisor that stops between calls, and keeps threads on', async () => {
    setNumThreads(2);
    run();
    await waitForWorkers(1);
    setPoolTestHooks({ endSupervisor: true });
    // Its 'exit' reaches this thread's event loop; the next call then starts a new pool.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = poolStats();
    assertSameBits(run(), want, 'the call after the supervisor stopped');
    assert.equal(getNumThreads(), 2, 'threads stay on');
    assert.equal(poolStats().jobs, before.jobs + 1, 'the call ran on a new pool');
    await waitForWorkers(1);
    for (let r = 0; r < 5; r++) assertSameBits(run(), want, `new pool, call ${r}`);
  });
});
