// Unit tests of src/core/shape.ts: PyTorch / numpy broadcasting (the examples of torch.broadcast_shapes and numpy's
// broadcasting guide), row-major strides, broadcast strides and the offset walk that kernels use for batch dims.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgumentError, ShapeError, broadcastShapes, formatShape } from '../../../src/index.js';
import {
  broadcastStrides,
  checkShape,
  normalizeDim,
  offsetsFor,
  sizeOf,
  stridesOf,
  tryBroadcastShapes,
} from '../../../src/core/shape.js';

describe('formatShape and sizeOf', () => {
  it('formats shapes as error messages show them', () => {
    assert.equal(formatShape([2, 4, 16, 64]), '[2, 4, 16, 64]');
    assert.equal(formatShape([]), '[]');
  });

  for (const [shape, n] of [[[], 1], [[5], 5], [[2, 3, 4], 24], [[2, 0, 4], 0]] as [number[], number][]) {
    it(`sizeOf([${shape.join(', ')}]) = ${n}`, () => assert.equal(sizeOf(shape), n));
  }
});

describe('broadcastShapes', () => {
  const ok: [number[][], number[]][] = [
    [[[2], [3, 1], [1, 1, 1]], [1, 3, 2]], // torch.broadcast_shapes docs
    [[[8, 1, 6, 1], [7, 1, 5]], [8, 7, 6, 5]], // numpy broadcasting guide
    [[[5, 4], [1]], [5, 4]],
    [[[5, 4], [4]], [5, 4]],
    [[[15, 3, 5], [15, 1, 5]], [15, 3, 5]],
    [[[15, 3, 5], [3, 5]], [15, 3, 5]],
    [[[15, 3, 5], [3, 1]], [15, 3, 5]],
    [[[], [2, 3]], [2, 3]],
    [[[], []], []],
    [[], []],
    [[[0], [1]], [0]],
    [[[2, 0], [1]], [2, 0]],
    [[[1, 4, 1], [3, 1, 1], [2, 1, 1, 5]], [2, 3, 4, 5]],
  ];
  for (const [shapes, expected] of ok) {
    it(`${shapes.map(formatShape).join(' & ') || '(none)'} → ${formatShape(expected)}`, () => {
      assert.deepEqual(broadcastShapes(...shapes), expected);
      assert.deepEqual(tryBroadcastShapes(...shapes), expected);
    });
  }

  const bad: number[][][] = [
    [[3], [4]],
    [[2, 1], [8, 4, 3]],
    [[0], [2]],
    [[5, 2, 4, 1], [3, 1, 1]],
  ];
  for (const shapes of bad) {
    it(`${shapes.map(formatShape).join(' & ')} do not broadcast`, () => {
      assert.equal(tryBroadcastShapes(...shapes), null);
      assert.throws(
        () => broadcastShapes(...shapes),
        (e: unknown) =>
          e instanceof ShapeError &&
          e.code === 'E_SHAPE' &&
          e.message.startsWith('broadcastShapes:') &&
          shapes.every((s) => e.message.includes(formatShape(s))),
      );
    });
  }
});

describe('stridesOf', () => {
  const cases: [number[], number[]][] = [
    [[2, 3, 4], [12, 4, 1]],
    [[5], [1]],
    [[], []],
    [[2, 0, 3], [0, 3, 1]],
    [[1, 1, 7], [7, 7, 1]],
  ];
  for (const [shape, strides] of cases) {
    it(`${formatShape(shape)} → ${formatShape(strides)}`, () => assert.deepEqual(stridesOf(shape), strides));
  }

  it('gives the row-major offset of every multi-index of [3, 2, 4]', () => {
    const [s0, s1, s2] = stridesOf([3, 2, 4]);
    let flat = 0;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 4; k++) assert.equal(i * s0 + j * s1 + k * s2, flat++);
  });
});

describe('broadcastStrides', () => {
  const cases: [number[], number[], number[]][] = [
    [[3, 1], [2, 3, 4], [0, 1, 0]],
    [[4], [2, 3, 4], [0, 0, 1]],
    [[2, 1, 4], [2, 3, 4], [4, 0, 1]],
    [[2, 3, 4], [2, 3, 4], [12, 4, 1]],
    [[], [2], [0]],
    [[1], [1], [1]],
    [[1, 1], [5, 1], [0, 1]],
  ];
  for (const [shape, target, strides] of cases) {
    it(`${formatShape(shape)} read as ${formatShape(target)} → ${formatShape(strides)}`, () => {
      assert.deepEqual(broadcastStrides(shape, target), strides);
    });
  }
});

describe('offsetsFor', () => {
  const cases: [number[], number[], number[]][] = [
    [[2, 3], [3, 1], [0, 1, 2, 3, 4, 5]],
    [[2, 3], [1, 2], [0, 2, 4, 1, 3, 5]], // a transposed [3, 2]
    [[2, 3], [0, 1], [0, 1, 2, 0, 1, 2]], // a broadcast [3]
    [[2, 2, 2], [4, 0, 1], [0, 1, 0, 1, 4, 5, 4, 5]],
    [[], [], [0]],
    [[2, 0], [0, 1], []],
  ];
  for (const [target, strides, offsets] of cases) {
    it(`walks ${formatShape(target)} with strides ${formatShape(strides)}`, () => {
      assert.deepEqual([...offsetsFor(target, strides)], offsets);
    });
  }

  it('with broadcastStrides, reads every element of a broadcast tensor at its source index', () => {
    const shape = [3, 1, 2]; // source
    const target = [2, 3, 4, 2];
    const offsets = offsetsFor(target, broadcastStrides(shape, target));
    let n = 0;
    for (let a = 0; a < 2; a++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 4; j++)
          for (let k = 0; k < 2; k++) assert.equal(offsets[n++], i * 2 + k, `at [${a}, ${i}, ${j}, ${k}]`);
  });
});

describe('checkShape and normalizeDim', () => {
  it('checkShape accepts non-negative integer arrays', () => {
    for (const s of [[], [0], [2, 3]]) assert.doesNotThrow(() => checkShape(s, 'f'));
  });

  for (const s of [[-1], [1.5], [NaN], [Infinity], 'x', null, [2 ** 53]] as unknown[]) {
    it(`checkShape rejects ${String(s)} naming the caller`, () => {
      assert.throws(() => checkShape(s, 'myFn: x'), (e: unknown) => e instanceof ShapeError && e.message.startsWith('myFn: x:'));
    });
  }

  it('normalizeDim maps negative dims and rejects out-of-range ones', () => {
    assert.equal(normalizeDim(-1, 3, 'f'), 2);
    assert.equal(normalizeDim(-3, 3, 'f'), 0);
    assert.equal(normalizeDim(2, 3, 'f'), 2);
    for (const d of [3, -4, 0.5]) {
      assert.throws(() => normalizeDim(d, 3, 'myFn'), (e: unknown) => e instanceof ArgumentError && e.message.includes(`dim ${d}`) && e.message.startsWith('myFn'));
    }
  });
});
