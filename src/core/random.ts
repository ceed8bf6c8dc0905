// Seeded pseudo-random numbers, so that initialisation, data and tests are reproducible on every platform.
// The generator is sfc32 (Chris Doty-Humphrey's Small Fast Chaotic PRNG, as in PractRand), seeded through splitmix32.
// Normals use the Box–Muller transform. Not cryptographic.

import { ArgumentError } from './errors.js';

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  /** @param seed any safe integer; equal seeds give equal streams. */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new ArgumentError(`Rng: seed must be a safe integer; got ${seed}`);
    // splitmix32 spreads the seed over the four state words: the low 32 bits seed a and b, the high bits c and d,
    // so distinct safe-integer seeds (negative ones included) give distinct states.
    const splitmix = (start: number): (() => number) => {
      let s = start;
      return () => {
        s = (s + 0x9e3779b9) | 0;
        let z = s;
        z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
        z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
        return (z ^ (z >>> 15)) >>> 0;
      };
    };
    const low = splitmix(seed | 0);
    const high = splitmix(Math.floor(seed / 2 ** 32) ^ 0x5bd1e995);
    this.a = low();
    this.b = low();
    this.c = high();
    this.d = high();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal sample (mean 0, variance 1). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}
