// Seeded initialisation, after torch.nn.init. Every module takes a seed (or a shared Rng, so a model's parameters
// are drawn from one stream in construction order) and draws its parameters the way PyTorch's reset_parameters does.

import { ArgumentError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { type Shape } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';

/** A seed or a shared generator, as modules accept it. */
export type Seed = number | Rng;

/** The generator for a seed (a number starts a new stream; an Rng is shared). */
export function rngOf(seed: Seed | undefined, fn: string): Rng {
  if (seed === undefined) return new Rng(0);
  if (seed instanceof Rng) return seed;
  if (!Number.isSafeInteger(seed)) throw new ArgumentError(`${fn}: seed must be a safe integer or an Rng; got ${describe(seed)}`);
  return new Rng(seed);
}

/** U(−bound, bound). */
export function uniform(shape: Shape, bound: number, rng: Rng): Tensor {
  return Tensor.rand(shape, rng, -bound, bound);
}

/**
 * kaiming_uniform_(a = √5) of a [fanOut, fanIn] weight, nn.Linear's default: gain √(2 / (1 + a²)) = √(1/3), so the
 * bound is gain · √(3 / fanIn) = 1 / √fanIn.
 */
export function kaimingUniformLinear(shape: Shape, rng: Rng): Tensor {
  const fanIn = shape[shape.length - 1];
  return uniform(shape, fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0, rng);
}

/** N(0, std²). */
export function normal(shape: Shape, std: number, rng: Rng): Tensor {
  const t = Tensor.randn(shape, rng);
  for (let i = 0; i < t.size; i++) t.data[i] *= std;
  return t;
}
