// Unit tests of src/core/random.ts: the seeded sfc32 generator must be deterministic, its uniforms must lie in [0, 1)
// and look uniform, its integers must cover [0, n), and its normals must have mean 0 and variance 1.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgumentError, Rng } from '../../../src/index.js';

function draws(seed: number, n: number, f: (r: Rng) => number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => f(rng));
}

describe('Rng determinism', () => {
  for (const seed of [0, 1, -7, 123456789, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
    it(`seed ${seed} gives the same stream twice`, () => {
      assert.deepEqual(draws(seed, 50, (r) => r.nextUint32()), draws(seed, 50, (r) => r.nextUint32()));
      assert.deepEqual(draws(seed, 50, (r) => r.uniform()), draws(seed, 50, (r) => r.uniform()));
      assert.deepEqual(draws(seed, 51, (r) => r.normal()), draws(seed, 51, (r) => r.normal()));
    });
  }

  it('seeds 0..999 give 1000 different first uniforms', () => {
    const firsts = new Set(Array.from({ length: 1000 }, (_, s) => new Rng(s).uniform()));
    assert.equal(firsts.size, 1000);
  });

  it('seeds that differ only above bit 32 give different streams', () => {
    assert.notDeepEqual(draws(5, 4, (r) => r.uniform()), draws(5 + 2 ** 33, 4, (r) => r.uniform()));
  });

  it(
    'small negative seeds give streams different from small non-negative seeds',
    () => {
      const seeds = [...Array(21).keys()].map((i) => i - 10).concat([2 ** 32, 2 ** 32 + 1]);
      const firsts = new Set(seeds.map((s) => new Rng(s).uniform()));
      assert.equal(firsts.size, seeds.length);
    },
  );

  for (const seed of [1.5, NaN, Infinity, 2 ** 53, '3'] as unknown[]) {
    it(`rejects the seed ${String(seed)} with an ArgumentError naming Rng`, () => {
      assert.throws(
        () => new Rng(seed as number),
        (e: unknown) => e instanceof ArgumentError && e.code === 'E_ARGUMENT' && e.message.startsWith('Rng: seed'),
      );
    });
  }
});

describe('Rng.nextUint32 and Rng.uniform', () => {
  it('nextUint32 gives integers in [0, 2^32) with both halves of the range', () => {
    const xs = draws(3, 10_000, (r) => r.nextUint32());
    assert.ok(xs.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32));
    assert.ok(xs.some((x) => x >= 2 ** 31) && xs.some((x) => x < 2 ** 31));
  });

  it('uniform lies in [0, 1) and fills ten equal buckets evenly over 10k draws', () => {
    const xs = draws(11, 10_000, (r) => r.uniform());
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    const buckets = new Array<number>(10).fill(0);
    for (const x of xs) buckets[Math.floor(x * 10)]++;
    // Each count is Binomial(10000, 0.1): standard deviation 30, so 1000 ± 150 is five of them.
    for (const [i, n] of buckets.entries()) assert.ok(Math.abs(n - 1000) < 150, `bucket ${i} has ${n}`);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.015, `mean ${mean}`);
  });

  it('uniform has more than 32 bits of resolution', () => {
    // A float built from one 32-bit word times 2^-32 would always be a multiple of 2^-32.
    const xs = draws(5, 100, (r) => r.uniform());
    assert.ok(xs.some((x) => (x * 2 ** 32) % 1 !== 0));
  });
});

describe('Rng.int', () => {
  for (const n of [1, 2, 7, 100]) {
    it(`int(${n}) gives integers in [0, ${n}) and hits each one`, () => {
      const xs = draws(n, 2000, (r) => r.int(n));
      assert.ok(xs.every((x) => Number.isInteger(x) && x >= 0 && x < n));
      if (n <= 7) assert.equal(new Set(xs).size, n);
    });
  }
});

describe('Rng.normal', () => {
  it('has mean ≈ 0, variance ≈ 1 and symmetric tails over 10k draws', () => {
    const xs = draws(2024, 10_000, (r) => r.normal());
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1);
    assert.ok(Math.abs(mean) < 0.05, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 0.06, `variance ${variance}`);
    // P(|x| > 1.96) = 5%: 500 ± 22 expected; allow five standard deviations.
    const tails = xs.filter((x) => Math.abs(x) > 1.96).length;
    assert.ok(Math.abs(tails - 500) < 110, `${tails} samples beyond ±1.96`);
    assert.ok(xs.every(Number.isFinite));
  });
});
