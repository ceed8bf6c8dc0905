// Helpers shared by the thread pool's test files (threads.test.ts, supervisor.test.ts).

import assert from 'node:assert/strict';
import { poolStats } from '../../src/kernels/wasm/pool.js';

/** Every unit of the pooled calls between two snapshots was run exactly once, by the caller or by a worker. */
export function assertUnitsAccounted(before: ReturnType<typeof poolStats>, now: ReturnType<typeof poolStats>): void {
  const units = now.units - before.units;
  const ran = now.callerUnits - before.callerUnits + (now.workerUnits - before.workerUnits);
  assert.equal(ran, units, `units run (caller and workers) ${ran} != units of the calls ${units}`);
}

/** Waits until the pool's `workers` workers are all ready (new workers start asynchronously). */
export async function waitForWorkers(workers: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (poolStats().ready < workers) {
    assert.equal(poolStats().workers, workers);
    assert.ok(Date.now() < deadline, `only ${poolStats().ready} of ${workers} pool workers became ready`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
