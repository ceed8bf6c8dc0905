// Tensor: a float32, row-major, contiguous n-dimensional array. It is deliberately small: data plus shape, and the
// helpers people reach for first (construction, reshape, permute, broadcast, toArray). Math lives in reference/ and
// kernels/, not here; the index math of reshape, permute and broadcast is core/layout.ts, shared with autograd's Var.

import { ArgumentError, ShapeError } from './errors.js';
import { Rng } from './random.js';
import { broadcastElements, broadcastsTo, inferShape, permuteElements, permutation, swapDims } from './layout.js';
import { type Shape, checkShape, formatShape, normalizeDim, sizeOf } from './shape.js';

/** Nested arrays of numbers, as `toArray` returns and `Tensor.from` accepts. */
export type NestedArray = number | NestedArray[];

export class Tensor {
  /** The elements in row-major order. Views made by `reshape` share it. */
  readonly data: Float32Array;
  /** The size of each dim, outermost first. */
  readonly shape: readonly number[];

  /**
   * Wraps `data` (not copied) with `shape`.
   * @throws ShapeError when `data.length` is not the product of `shape`.
   * @example new Tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3])
   */
  constructor(data: Float32Array, shape: Shape) {
    if (!(data instanceof Float32Array)) {
      throw new ArgumentError(`Tensor: data must be a Float32Array; got ${describe(data)}`);
    }
    checkShape(shape, 'Tensor');
    const size = sizeOf(shape);
    if (data.length !== size) {
      throw new ShapeError(
        `Tensor: data has ${data.length} elements but shape ${formatShape(shape)} needs ${size}`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
  }

  /**
   * A tensor from nested arrays; the nesting must be rectangular. A plain number gives a scalar of shape [].
   * @example Tensor.from([[1, 2], [3, 4]]).shape // [2, 2]
   */
  static from(values: NestedArray): Tensor {
    const shape: number[] = [];
    for (let v: NestedArray = values; Array.isArray(v); v = v[0]) {
      shape.push(v.length);
      if (v.length === 0) break;
    }
    const data = new Float32Array(sizeOf(shape));
    let i = 0;
    const walk = (v: NestedArray, depth: number, path: string): void => {
      if (depth === shape.length) {
        if (typeof v !== 'number') throw new ShapeError(`Tensor.from: ragged nesting at ${path || 'the top'}`);
        data[i++] = v;
        return;
      }
      if (!Array.isArray(v) || v.length !== shape[depth]) {
        throw new ShapeError(
          `Tensor.from: ragged nesting at ${path || 'the top'}: expected ${shape[depth]} entries; got ${describe(v)}`,
        );
      }
      for (let j = 0; j < v.length; j++) walk(v[j], depth + 1, `${path}[${j}]`);
    };
    walk(values, 0, '');
    return new Tensor(data, shape);
  }

  /** A tensor of zeros. */
  static zeros(shape: Shape): Tensor {
    checkShape(shape, 'Tensor.zeros');
    return new Tensor(new Float32Array(sizeOf(shape)), shape);
  }

  /** A tensor filled with `value`. */
  static full(shape: Shape, value: number): Tensor {
    checkShape(shape, 'Tensor.full');
    return new Tensor(new Float32Array(sizeOf(shape)).fill(value), shape);
  }

  /** A tensor of ones. */
  static ones(shape: Shape): Tensor {
    return Tensor.full(shape, 1);
  }

  /**
   * Standard normal samples, reproducible from `seed` (or from a shared {@link Rng}).
   * @example Tensor.randn([2, 8, 64], 42)
   */
  static randn(shape: Shape, seed: number | Rng = 0): Tensor {
    checkShape(shape, 'Tensor.randn');
    const rng = typeof seed === 'number' ? new Rng(seed) : seed;
    const data = new Float32Array(sizeOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = rng.normal();
    return new Tensor(data, shape);
  }

  /** Uniform samples in [low, high), reproducible from `seed`. */
  static rand(shape: Shape, seed: number | Rng = 0, low = 0, high = 1): Tensor {
    checkShape(shape, 'Tensor.rand');
    const rng = typeof seed === 'number' ? new Rng(seed) : seed;
    const data = new Float32Array(sizeOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = low + (high - low) * rng.uniform();
    return new Tensor(data, shape);
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of dims. */
  get rank(): number {
    return this.shape.length;
  }

  /** The element at a full multi-index; negative indices count from the end. */
  at(...index: number[]): number {
    if (index.length !== this.rank) {
      throw new ArgumentError(`Tensor.at: expected ${this.rank} indices for shape ${formatShape(this.shape)}; got ${index.length}`);
    }
    let offset = 0;
    for (let d = 0; d < index.length; d++) {
      const size = this.shape[d];
      const i = index[d] < 0 ? index[d] + size : index[d];
      if (!Number.isInteger(i) || i < 0 || i >= size) {
        throw new ArgumentError(`Tensor.at: index ${index[d]} is out of range for dim ${d} of shape ${formatShape(this.shape)}`);
      }
      offset = offset * size + i;
    }
    return this.data[offset];
  }

  /**
   * The same data seen with another shape (no copy: the result shares `data`). One dim may be -1 and is inferred.
   * @example Tensor.zeros([2, 3, 4]).reshape([-1, 4]).shape // [6, 4]
   */
  reshape(shape: Shape): Tensor {
    const inferred = inferShape(this.size, shape);
    if (inferred === null) {
      throw new ShapeError(
        `Tensor.reshape: cannot reshape ${formatShape(this.shape)} (${this.size} elements) to ${formatShape(shape)}`,
      );
    }
    return new Tensor(this.data, inferred);
  }

  /**
   * A copy with the dims reordered: output dim i is input dim `dims[i]` (torch.permute).
   * @example Tensor.zeros([2, 3, 4]).permute([2, 0, 1]).shape // [4, 2, 3]
   */
  permute(dims: readonly number[]): Tensor {
    const norm = permutation(dims, this.rank, 'Tensor.permute');
    if (norm === null) {
      throw new ArgumentError(
        `Tensor.permute: dims must be a permutation of 0..${this.rank - 1} for shape ${formatShape(this.shape)}; got [${dims.join(', ')}]`,
      );
    }
    return new Tensor(permuteElements(this.data, this.shape, norm), norm.map((d) => this.shape[d]));
  }

  /** A copy with two dims swapped (torch.transpose). Defaults to the last two. */
  transpose(dim0 = -2, dim1 = -1): Tensor {
    const a = normalizeDim(dim0, this.rank, 'Tensor.transpose');
    const b = normalizeDim(dim1, this.rank, 'Tensor.transpose');
    return this.permute(swapDims(this.rank, a, b));
  }

  /**
   * A contiguous copy broadcast to `shape` (torch.expand followed by contiguous).
   * @example Tensor.from([1, 2]).broadcastTo([3, 2]).toArray() // [[1, 2], [1, 2], [1, 2]]
   */
  broadcastTo(shape: Shape): Tensor {
    checkShape(shape, 'Tensor.broadcastTo');
    if (!broadcastsTo(this.shape, shape)) {
      throw new ShapeError(`Tensor.broadcastTo: cannot broadcast ${formatShape(this.shape)} to ${formatShape(shape)}`);
    }
    return new Tensor(broadcastElements(this.data, this.shape, shape), shape);
  }

  /** A deep copy. */
  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  /** The elements as nested arrays (a number for a scalar). */
  toArray(): NestedArray {
    const build = (depth: number, offset: number): NestedArray => {
      if (depth === this.rank) return this.data[offset];
      const size = this.shape[depth];
      const inner = sizeOf(this.shape.slice(depth + 1));
      const out: NestedArray[] = new Array(size);
      for (let i = 0; i < size; i++) out[i] = build(depth + 1, offset + i * inner);
      return out;
    };
    return build(0, 0);
  }

  /** "Tensor [2, 3]". The data is left out: print `toArray()` to see it. */
  toString(): string {
    return `Tensor ${formatShape(this.shape)}`;
  }
}

/** A short description of an unexpected value, for error messages. */
export function describe(value: unknown): string {
  if (value instanceof Tensor) return `a tensor of shape ${formatShape(value.shape)}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return typeof value === 'object' ? `a ${value.constructor?.name ?? 'object'}` : `${typeof value} ${String(value)}`;
}
