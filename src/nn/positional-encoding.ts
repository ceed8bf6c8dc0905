// Sinusoidal positional encoding (Vaswani et al. 2017, §3.5), fixed rather than learned:
//
//   PE[pos, 2i]     = sin(pos / 10000^(2i / D))
//   PE[pos, 2i + 1] = cos(pos / 10000^(2i / D))
//
// Learned positions need no class of their own: an Embedding over positions 0..L−1 is one.

import { ArgumentError, ShapeError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';
import { type VarLike, add } from '../autograd/tensor-ops.js';
import { type Var, asVar } from '../autograd/var.js';
import { type Seed, rngOf } from './init.js';
import { Dropout } from './layers.js';
import { Module } from './module.js';

/**
 * The table PE [L, D] of the file header, computed in float64 and rounded once. D may be odd (the last column is a
 * sine).
 * @example sinusoidalPositionalEncoding(50, 16).shape // [50, 16]
 */
export function sinusoidalPositionalEncoding(length: number, dim: number): Tensor {
  const fn = 'sinusoidalPositionalEncoding';
  for (const [name, v] of [['length', length], ['dim', dim]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new ArgumentError(`${fn}: ${name} must be a positive integer; got ${describe(v)}`);
  }
  const pe = new Float32Array(length * dim); // [L, D]
  for (let pos = 0; pos < length; pos++) {
    for (let c = 0; c < dim; c++) {
      const i2 = c - (c % 2); // 2i
      const angle = pos / Math.pow(10000, i2 / dim);
      pe[pos * dim + c] = c % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return new Tensor(pe, [length, dim]);
}

/** x + PE[:N], then dropout: x [B, N, D] or [N, D], N ≤ maxLength. No parameters. */
export class PositionalEncoding extends Module {
  readonly dModel: number;
  readonly maxLength: number;
  /** PE [maxLength, D] */
  readonly table: Tensor;
  readonly dropout: Dropout;

  constructor(dModel: number, options: { maxLength?: number; dropout?: number; seed?: Seed } = {}) {
    super('PositionalEncoding');
    this.dModel = dModel;
    this.maxLength = options.maxLength ?? 512;
    this.table = sinusoidalPositionalEncoding(this.maxLength, dModel);
    this.dropout = this.addModule('dropout', new Dropout(options.dropout ?? 0, { seed: rngOf(options.seed, 'PositionalEncoding') }));
  }

  /** x [B, N, D] or [N, D] → the same shape. */
  forward(x: VarLike): Var {
    const fn = 'PositionalEncoding.forward';
    const v = asVar(x, fn, 'x');
    const [N, D] = v.shape.slice(-2);
    if (v.rank < 2 || D !== this.dModel || N > this.maxLength) {
      throw new ShapeError(`${fn}: x must be [..., N, D] with D = ${this.dModel} and N ≤ ${this.maxLength}; got ${formatShape(v.shape)}`);
    }
    const pe = new Tensor(this.table.data.subarray(0, N * D), [N, D]); // [N, D], broadcast over B
    return this.dropout.forward(add(v, pe));
  }
}
