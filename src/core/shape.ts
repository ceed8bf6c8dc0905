// Shapes, strides and PyTorch-style broadcasting. Shape letters are defined once in docs/SHAPES.md.
//
// Broadcasting (numpy / torch.broadcast_shapes): align shapes at the right; two sizes are compatible when they are
// equal or one of them is 1; the result takes the larger. A missing leading dim counts as 1.

import { ArgumentError, ShapeError } from './errors.js';

export type Shape = readonly number[];

/** "[2, 4, 16, 64]" — the form every error message uses. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Number of elements of a shape (1 for a scalar shape []). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Row-major strides in elements, e.g. [2, 3, 4] → [12, 4, 1]. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

/** Throws unless every entry is a non-negative safe integer. `where` names the caller and argument. */
export function checkShape(shape: unknown, where: string): asserts shape is Shape {
  if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
    throw new ShapeError(`${where}: shape must be an array of non-negative integers; got ${JSON.stringify(shape)}`);
  }
}

/** Normalises a possibly negative dim index against a rank, or throws naming `where`. */
export function normalizeDim(dim: number, rank: number, where: string): number {
  if (!Number.isInteger(dim) || dim < -rank || dim >= rank) {
    throw new ArgumentError(`${where}: dim ${dim} is out of range for a tensor of rank ${rank}`);
  }
  return dim < 0 ? dim + rank : dim;
}

/**
 * The broadcast shape of several shapes, following PyTorch. Returns null when they do not broadcast, so each caller
 * can raise an error that names its own arguments.
 * @example broadcastShapes([2, 1, 4], [3, 1]) // [2, 3, 4]
 */
export function tryBroadcastShapes(...shapes: Shape[]): number[] | null {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const shape of shapes) {
    for (let i = 0; i < shape.length; i++) {
      const o = rank - shape.length + i;
      const size = shape[i];
      if (size === out[o] || size === 1) continue;
      if (out[o] !== 1) return null;
      out[o] = size;
    }
  }
  return out;
}

/** Like {@link tryBroadcastShapes}, but throws a ShapeError that lists the shapes. */
export function broadcastShapes(...shapes: Shape[]): number[] {
  const out = tryBroadcastShapes(...shapes);
  if (out === null) {
    throw new ShapeError(`broadcastShapes: shapes ${shapes.map(formatShape).join(', ')} do not broadcast`);
  }
  return out;
}

/**
 * Element strides that read a tensor of `shape` as if it had the (broadcast) shape `target`: 0 on every dim that is
 * broadcast, including the missing leading dims. Assumes `shape` broadcasts to `target`.
 */
export function broadcastStrides(shape: Shape, target: Shape): number[] {
  const own = stridesOf(shape);
  const out = new Array<number>(target.length).fill(0);
  for (let i = 0; i < shape.length; i++) {
    const o = target.length - shape.length + i;
    out[o] = shape[i] === 1 && target[o] !== 1 ? 0 : own[i];
  }
  return out;
}

/**
 * Element offsets of every position of `target` (in row-major order) into a tensor whose strides are `strides`.
 * Used to walk broadcast batch dims once instead of recomputing multi-indices in inner loops.
 */
export function offsetsFor(target: Shape, strides: readonly number[]): Int32Array {
  const n = sizeOf(target);
  const offsets = new Int32Array(n);
  const index = new Array<number>(target.length).fill(0);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    offsets[i] = offset;
    for (let d = target.length - 1; d >= 0; d--) {
      index[d]++;
      offset += strides[d];
      if (index[d] < target[d]) break;
      offset -= strides[d] * index[d];
      index[d] = 0;
    }
  }
  return offsets;
}
