// The wasm backend's thread pool (src/kernels/wasm/pool.ts, worker.ts): results bitwise identical for 1 to 4
// threads over awkward shapes, the one-thread fallback without SharedArrayBuffer, a worker killed inside a call
// (the call fails with a clear error, the next one succeeds and the pool recovers), long runs of calls, calls from
// two worker_threads at once, and a process that exits on its own while the pool is idle.
//
// Small problems normally skip the pool; a test hook (setPoolTestHooks({ minFlops: 0 })) forces it, and the pool's
// counters check that workers really ran units.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { Tensor, WorkerError, isQkvError } from '../../src/index.js';
import { getNumThreads, setNumThreads, wasmBackend } from '../../src/kernels/wasm/index.js';
import { poolStats } from '../../src/kernels/wasm/pool.js';
import { getKernel } from '../../src/kernels/wasm/runtime.js';
import { type AttentionOptions, prepareAttention } from '../../src/ops/attention.js';
import { attentionReference } from '../../src/reference/attention.js';
import { TOL, assertBitwiseEqual, assertRelClose } from '../tolerances.js';
import { assertUnitsAccounted, waitForWorkers } from './pool-helpers.js';
import { DEFAULT_POOL_MIN_FLOPS, installPoolFaults, setPoolTestHooks } from './pool-hooks/index.js';

installPoolFaults(); // before any pool starts: its threads fail on request

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Case {
  name: string;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  options: AttentionOptions;
}

function mask01(shape: number[], seed: number, keep = 0.7): Tensor {
  return new Tensor(Tensor.rand(shape, seed).data.map((x) => (x < keep ? 1 : 0)), shape);
}

/** Shapes chosen so that units (batch·heads·ceil(N/64)) are fewer than, equal to and more than the threads. */
function cases(): Case[] {
  const nanValues = Tensor.randn([1, 2, 90, 8], 33); // [B, H, S, dv]
  nanValues.data[5 * 8 + 3] = NaN; // key 5 of head 0: the kernel's careful P·V path
  return [
    {
      name: 'one head, N not a multiple of the tile (3 units)',
      q: Tensor.randn([1, 1, 130, 16], 1), // [B, H, N, d]
      k: Tensor.randn([1, 1, 70, 16], 2), // [B, H, S, d]
      v: Tensor.randn([1, 1, 70, 16], 3), // [B, H, S, dv]
      options: {},
    },
    {
      name: 'B·H = 6, causal, weights',
      q: Tensor.randn([2, 3, 65, 8], 4),
      k: Tensor.randn([2, 3, 129, 8], 5),
      v: Tensor.randn([2, 3, 129, 8], 6),
      options: { causal: true, returnWeights: true },
    },
    {
      name: 'grouped-query heads with a mask and a bias, weights',
      q: Tensor.randn([1, 4, 100, 16], 7), // [B, H, N, d]
      k: Tensor.randn([1, 2, 90, 16], 8), // [B, Hkv, S, d]
      v: Tensor.randn([1, 2, 90, 12], 9), // [B, Hkv, S, dv]
      options: { mask: mask01([1, 1, 100, 90], 10), bias: Tensor.randn([1, 4, 100, 90], 11), returnWeights: true },
    },
    {
      name: 'bottom-right causal, S > N, dv ≠ d, softcap',
      q: Tensor.randn([3, 70, 20], 12), // [B, N, d]
      k: Tensor.randn([3, 200, 20], 13), // [B, S, d]
      v: Tensor.randn([3, 200, 9], 14), // [B, S, dv]
      options: { causal: 'bottom-right', softcap: 5 },
    },
    {
      name: 'N = 1 per head, key-padding mask with fully masked rows',
      q: Tensor.randn([2, 4, 1, 32], 15),
      k: Tensor.randn([2, 4, 50, 32], 16),
      v: Tensor.randn([2, 4, 50, 32], 17),
      options: { mask: new Tensor(new Float32Array(100).map((_, i) => (i < 50 ? 0 : i % 3 === 0 ? 0 : 1)), [2, 1, 1, 50]) },
    },
    {
      name: 'NaN in an allowed value row, 2 heads of 2 tiles',
      q: Tensor.randn([1, 2, 128, 8], 18),
      k: Tensor.randn([1, 2, 90, 8], 19),
      v: nanValues,
      options: { causal: true },
    },
  ];
}

interface Result {
  output: Float32Array;
  weights?: Float32Array;
}

/**
 * The wasm backend on one case (declining fails the test: the reference must not stand in for it). The arena is
 * poisoned with NaN bytes first, so that output rows of a unit that no thread ran cannot keep an earlier call's
 * (equal) values.
 */
function run(c: Case): Result {
  const k = getKernel()!;
  new Uint8Array(k.memory.buffer, k.arenaBase).fill(0xff);
  const { problem } = prepareAttention('threads.test', c.q, c.k, c.v, c.options);
  const result = wasmBackend.attention(problem, { weights: c.options.returnWeights === true, trace: false });
  assert.ok(result, `${c.name}: the wasm backend declined`);
  return result;
}

/** Bit patterns, so that -0 vs 0 and NaN payloads count too. */
const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

function assertSameBits(got: Result, want: Result, what: string): void {
  assertBitwiseEqual(bits(got.output), bits(want.output), `${what}: output`);
  assert.equal(got.weights === undefined, want.weights === undefined, `${what}: weights presence`);
  if (want.weights) assertBitwiseEqual(bits(got.weights!), bits(want.weights), `${what}: weights`);
}

/** Runs every case on one thread (the baseline every pooled run must equal). */
function baseline(all: Case[]): Result[] {
  setNumThreads(1);
  return all.map(run);
}

/** A node process running `code` (an ES module) from the repository root with tsx; returns its status and output. */
function node(code: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

describe('wasm thread pool', () => {
  const all = cases();
  let want: Result[] = [];

  before(() => {
    setPoolTestHooks({ minFlops: 0 });
    want = baseline(all);
  });
  after(() => {
    setPoolTestHooks({ minFlops: DEFAULT_POOL_MIN_FLOPS });
    setNumThreads(1);
  });

  it('the one-thread baseline matches the reference', () => {
    all.forEach((c, i) => {
      const { problem } = prepareAttention('threads.test', c.q, c.k, c.v, c.options);
      const ref = attentionReference(problem, { weights: c.options.returnWeights === true, trace: false });
      assertRelClose(want[i].output, ref.output, TOL.wasmF32, `${c.name}: output`);
      if (ref.weights) assertRelClose(want[i].weights!, ref.weights, TOL.wasmF32, `${c.name}: weights`);
    });
  });

  for (const threads of [2, 3, 4]) {
    it(`gives bitwise the one-thread results with ${threads} threads, and its workers run units`, () => {
      setNumThreads(threads);
      assert.equal(getNumThreads(), threads);
      const before = poolStats();
      // Several rounds: which thread runs which unit changes from call to call.
      for (let round = 0; round < 4; round++) {
        all.forEach((c, i) => assertSameBits(run(c), want[i], `${threads} threads, round ${round}, ${c.name}`));
      }
      const now = poolStats();
      assert.equal(now.jobs - before.jobs, 4 * all.length, 'every call ran on the pool');
      assertUnitsAccounted(before, now);
      assert.ok(now.workerUnits > before.workerUnits, `the pool's workers ran no unit in ${4 * all.length} calls`);
    });
  }

  it('runs long sequences of calls without losing or repeating a unit', () => {
    setNumThreads(2);
    const before = poolStats();
    for (let r = 0; r < 150; r++) {
      const i = (r * 7) % all.length;
      assertSameBits(run(all[i]), want[i], `call ${r}, ${all[i].name}`);
    }
    assertUnitsAccounted(before, poolStats());
  });

  it('runs small problems on the calling thread unless forced', () => {
    setNumThreads(2);
    setPoolTestHooks({ minFlops: DEFAULT_POOL_MIN_FLOPS });
    try {
      const before = poolStats().jobs;
      all.forEach((c, i) => assertSameBits(run(c), want[i], c.name));
      assert.equal(poolStats().jobs, before, 'a small problem woke the pool');
    } finally {
      setPoolTestHooks({ minFlops: 0 });
    }
  });

  for (const mode of ['EXIT', 'THROW', 'TERMINATE'] as const) {
    it(`fails the call when a worker dies inside it (${mode}), and recovers`, async () => {
      setNumThreads(3);
      const c = all[1];
      run(c); // the pool is up ...
      await waitForWorkers(3 - 1); // ... and every worker is ready (a worker that is not yet ready skips a call)
      setPoolTestHooks({ kill: { worker: 2, mode } });
      assert.throws(
        () => run(c),
        (e: unknown) => {
          assert.ok(e instanceof WorkerError && isQkvError(e, 'E_WORKER'), `not a WorkerError: ${e}`);
          assert.match(e.message, /^wasm backend: thread pool worker 2: /);
          assert.match(e.message, /died during this call/);
          if (mode === 'THROW') assert.match(e.message, /test hook: pool worker 2 failed inside a job/);
          if (mode === 'EXIT') assert.match(e.message, /exit code 3/);
          return true;
        },
      );
      // The next calls succeed at once, with whatever workers are ready ...
      for (let r = 0; r < 3; r++) assertSameBits(run(c), want[1], `after the death, call ${r}`);
      // ... and the replacement worker becomes ready, then runs units again.
      await waitForWorkers(3 - 1);
      const before = poolStats();
      for (let r = 0; r < 10; r++) assertSameBits(run(all[2]), want[2], `recovered, call ${r}`);
      const now = poolStats();
      assertUnitsAccounted(before, now);
      const recovered = now.workerUnits > before.workerUnits;
      assert.ok(recovered, 'the pool did not recover');
      assert.equal(getNumThreads(), 3);
    });
  }

  it('gives the same results when two worker_threads call at once, each with its own pool', async () => {
    const tsx = import.meta.resolve('tsx/esm/api');
    const body = `
      const { parentPort } = await import('node:worker_threads');
      const { Tensor } = await import(${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)});
      const { setNumThreads, wasmBackend } = await import(${JSON.stringify(new URL('../../src/kernels/wasm/index.ts', import.meta.url).href)});
      const { poolStats } = await import(${JSON.stringify(new URL('../../src/kernels/wasm/pool.ts', import.meta.url).href)});
      const { setPoolTestHooks } = await import(${JSON.stringify(new URL('./pool-hooks/index.ts', import.meta.url).href)});
      const { prepareAttention } = await import(${JSON.stringify(new URL('../../src/ops/attention.ts', import.meta.url).href)});
      const { getKernel } = await import(${JSON.stringify(new URL('../../src/kernels/wasm/runtime.ts', import.meta.url).href)});
      setPoolTestHooks({ minFlops: 0 });
      setNumThreads(2);
      const q = Tensor.randn([2, 3, 65, 8], 4), k = Tensor.randn([2, 3, 129, 8], 5), v = Tensor.randn([2, 3, 129, 8], 6);
      const { problem } = prepareAttention('threads.test', q, k, v, { causal: true });
      const outputs = [];
      for (let r = 0; r < 40; r++) {
        const k = getKernel();
        new Uint8Array(k.memory.buffer, k.arenaBase).fill(0xff); // as run() does: a lost unit shows as NaN
        outputs.push(wasmBackend.attention(problem, { weights: true, trace: false }));
      }
      parentPort.postMessage({ outputs, stats: poolStats() });
    `;
    const code = `import(${JSON.stringify(tsx)}).then(async (tsx) => { tsx.register(); ${body} });`;
    const results = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<{ outputs: Result[]; stats: ReturnType<typeof poolStats> }>((resolve, reject) => {
            const w = new Worker(code, { eval: true });
            w.once('message', resolve);
            w.once('error', reject);
            w.once('exit', (code) => code !== 0 && reject(new Error(`caller thread exited with ${code}`)));
          }),
      ),
    );
    for (const [t, { outputs, stats }] of results.entries()) {
      assert.equal(outputs.length, 40);
      outputs.forEach((o, r) => assertSameBits(o, want[1], `thread ${t}, call ${r}`));
      assert.equal(stats.jobs, 40, `thread ${t}: calls that ran on its pool`);
    }
  });

  it('falls back to one thread without SharedArrayBuffer, with the same results', () => {
    const c = all[2];
    // As on a page without cross-origin isolation: no SharedArrayBuffer global when the library loads. (tsx needs
    // SharedArrayBuffer itself, so the child removes it instead of starting with --no-harmony-sharedarraybuffer.)
    const script = `
      delete globalThis.SharedArrayBuffer;
      const { Tensor } = await import('./src/index.ts');
      const { getNumThreads, setNumThreads, wasmBackend } = await import('./src/kernels/wasm/index.ts');
      const { poolStats } = await import('./src/kernels/wasm/pool.ts');
      const { setPoolTestHooks } = await import('./tests/backends/pool-hooks/index.ts');
      const { prepareAttention } = await import('./src/ops/attention.ts');
      setPoolTestHooks({ minFlops: 0 });
      setNumThreads(4);
      const mask = new Tensor(Tensor.rand([1, 1, 100, 90], 10).data.map((x) => (x < 0.7 ? 1 : 0)), [1, 1, 100, 90]);
      const { problem } = prepareAttention('child', Tensor.randn([1, 4, 100, 16], 7), Tensor.randn([1, 2, 90, 16], 8),
        Tensor.randn([1, 2, 90, 12], 9), { mask, bias: Tensor.randn([1, 4, 100, 90], 11), returnWeights: true });
      const r = wasmBackend.attention(problem, { weights: true, trace: false });
      const b64 = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
      console.log(JSON.stringify({ sab: typeof SharedArrayBuffer, threads: getNumThreads(), jobs: poolStats().jobs,
        output: b64(r.output), weights: b64(r.weights) }));
    `;
    const child = node(script);
    assert.equal(child.status, 0, `child failed: ${child.stderr}`);
    const got = JSON.parse(child.stdout.trim().split('\n').pop()!);
    assert.equal(got.sab, 'undefined', 'the child still had SharedArrayBuffer');
    assert.equal(got.threads, 1);
    assert.equal(got.jobs, 0);
    const decode = (s: string) => new Float32Array(new Uint8Array(Buffer.from(s, 'base64')).buffer);
    assertSameBits({ output: decode(got.output), weights: decode(got.weights) }, want[2], c.name);
  });

  it('lets the process exit on its own while the pool is idle', () => {
    const script = `
      import { Tensor, scaledDotProductAttention } from './src/index.ts';
      import { setNumThreads } from './src/kernels/wasm/index.ts';
      import { poolStats } from './src/kernels/wasm/pool.ts';
      setNumThreads(2);
      const q = Tensor.randn([1, 4, 256, 64], 1);
      scaledDotProductAttention(q, q, q, { backend: 'wasm' });
      console.log(poolStats().jobs);
    `;
    const started = Date.now();
    const child = node(script);
    assert.equal(child.status, 0, `child failed or hung: ${child.error ?? child.stderr}`);
    assert.equal(child.stdout.trim(), '1', 'the child did not use the pool');
    assert.ok(Date.now() - started < 60_000);
  });

  it('validates setNumThreads', () => {
    for (const bad of [0, -1, 1.5, 65, NaN, '2' as unknown as number]) {
      assert.throws(() => setNumThreads(bad), (e: unknown) => isQkvError(e, 'E_ARGUMENT') && /^setNumThreads: n/.test(e.message));
    }
  });
});
