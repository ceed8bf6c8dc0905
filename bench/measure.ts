// Timing and memory measurement for the benchmark: a time-boxed repetition loop with warm-up, order statistics of
// the samples, and a peak-RSS sampler that runs in a worker thread (the measured calls block the main thread, so
// only another thread can watch the resident set while they run). Mirrors the spirit of llm.c's dev/ benchmarks:
// validate first, then warm up, then time many repetitions and report a robust centre.

import { Worker } from 'node:worker_threads';

export interface TimingBox {
  /** Wall-clock budget for the timed repetitions of one row, in ms. */
  budgetMs: number;
  /** Fewest timed repetitions, even past the budget. */
  minReps: number;
  /** Most timed repetitions. */
  maxReps: number;
  /**
   * Untimed warm-up before the repetitions, in ms, for rows whose first call took less than this: enough calls for
   * the JIT, WebAssembly tier-up and the allocator to settle (a sub-millisecond call needs tens to hundreds of calls).
   */
  warmupMs: number;
}

export interface Timing {
  /** Every timed repetition, in ms, in the order run. */
  samples: number[];
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Interquartile range: the first and third quartiles, in ms. */
  q1Ms: number;
  q3Ms: number;
}

/** The q-quantile of sorted samples, linearly interpolated (numpy's default). */
function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

export function summarize(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples,
    medianMs: quantile(sorted, 0.5),
    minMs: sorted[0],
    maxMs: sorted[sorted.length - 1],
    q1Ms: quantile(sorted, 0.25),
    q3Ms: quantile(sorted, 0.75),
  };
}

/** Untimed calls of `run` for `ms` milliseconds (at least one): JIT, WebAssembly tier-up and the allocator settle. */
export async function warmUp(run: () => unknown, ms: number): Promise<void> {
  const end = performance.now() + ms;
  do await run();
  while (performance.now() < end);
}

/** Timed calls of `run` for `budgetMs` (at least minReps, at most maxReps calls); their durations in ms. */
export async function collect(run: () => unknown, budgetMs: number, minReps: number, maxReps: number): Promise<number[]> {
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxReps && (samples.length < minReps || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  return samples;
}

/**
 * Warms `run` up and times it. The caller has already run it once (to validate its result), so warm-up calls are made
 * only when that first call was fast: slow rows are dominated by arithmetic, not by JIT or allocation.
 */
export async function timeRuns(run: () => unknown, box: TimingBox, firstRunMs: number): Promise<Timing> {
  if (firstRunMs < box.warmupMs) await warmUp(run, box.warmupMs);
  return summarize(await collect(run, box.budgetMs, box.minReps, box.maxReps));
}

/** Times one call, returning its result and its duration in ms. */
export async function timeOnce<T>(run: () => T | Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await run();
  return { value, ms: performance.now() - t0 };
}

/**
 * Samples the process's resident set size every few milliseconds from a worker thread and keeps the maximum in
 * shared memory, so that the peak during a blocking call can be read afterwards. Sampling can miss a spike shorter
 * than the interval; process.resourceUsage().maxRSS in a fresh process (bench/memory.ts) is the exact figure.
 */
export class RssSampler {
  private readonly peak = new Float64Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;
  /** The RSS at the last reset, in bytes. */
  start = 0;

  constructor(intervalMs = 5) {
    const source = `
      const { workerData } = require('node:worker_threads');
      const peak = new Float64Array(workerData.buffer);
      setInterval(() => { const rss = process.memoryUsage.rss(); if (rss > peak[0]) peak[0] = rss; }, ${intervalMs});
    `;
    this.worker = new Worker(source, { eval: true, workerData: { buffer: this.peak.buffer } });
    this.worker.unref();
  }

  /** Starts a new window: the peak becomes the current RSS. */
  reset(): void {
    this.start = process.memoryUsage.rss();
    this.peak[0] = this.start;
  }

  /** The largest RSS seen since the last reset, in bytes (including the current value). */
  read(): number {
    return Math.max(this.peak[0], process.memoryUsage.rss());
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}
