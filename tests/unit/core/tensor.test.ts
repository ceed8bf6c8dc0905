// Unit tests of src/core/tensor.ts: construction, reading, reshaping, permuting and broadcasting of Tensor, with
// PyTorch's semantics (torch.tensor, reshape with -1, permute, transpose, expand) as the expected behaviour. Expected
// values come from index arithmetic written here, not from the code under test.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgumentError, Rng, ShapeError, Tensor, type NestedArray } from '../../../src/index.js';

/** A tensor whose element at flat index i is i, so that every value names its own position. */
function arange(shape: number[]): Tensor {
  const n = shape.reduce((p, s) => p * s, 1);
  return new Tensor(Float32Array.from({ length: n }, (_, i) => i), shape);
}

/** Every multi-index of `shape` in row-major order. */
function* indices(shape: readonly number[]): Generator<number[]> {
  const n = shape.reduce((p, s) => p * s, 1);
  for (let flat = 0; flat < n; flat++) {
    const idx = new Array<number>(shape.length);
    let rest = flat;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = rest % shape[d];
      rest = Math.floor(rest / shape[d]);
    }
    yield idx;
  }
}

function throwsWith(fn: () => unknown, cls: typeof ShapeError | typeof ArgumentError, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}; got ${String(e)}`);
    for (const p of parts) assert.ok(e.message.includes(p), `message "${e.message}" lacks "${p}"`);
    return true;
  });
}

describe('Tensor constructor', () => {
  it('wraps the data without copying and keeps its own frozen copy of the shape', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const shape = [2, 3];
    const t = new Tensor(data, shape);
    assert.equal(t.data, data);
    assert.deepEqual(t.shape, [2, 3]);
    assert.equal(t.size, 6);
    assert.equal(t.rank, 2);
    shape[0] = 99;
    assert.deepEqual(t.shape, [2, 3]);
    assert.ok(Object.isFrozen(t.shape));
  });

  it('accepts a scalar shape [] with one element and empty shapes with a 0 dim', () => {
    assert.equal(new Tensor(new Float32Array([7]), []).rank, 0);
    assert.equal(new Tensor(new Float32Array(0), [2, 0, 3]).size, 0);
  });

  const sizeCases: [number, number[]][] = [
    [5, [2, 3]],
    [0, [1]],
    [1, [0]],
    [2, []],
  ];
  for (const [n, shape] of sizeCases) {
    it(`rejects ${n} elements for shape [${shape.join(', ')}] with a ShapeError`, () => {
      throwsWith(() => new Tensor(new Float32Array(n), shape), ShapeError, 'Tensor', `${n} elements`, `[${shape.join(', ')}]`);
    });
  }

  const badData: [string, unknown, string][] = [
    ['a Float64Array', new Float64Array(2), 'Float64Array'],
    ['a plain array', [1, 2], 'array'],
    ['null', null, 'null'],
    ['an Int32Array', new Int32Array(2), 'Int32Array'],
  ];
  for (const [what, data, named] of badData) {
    it(`rejects ${what} as data with an ArgumentError`, () => {
      throwsWith(() => new Tensor(data as Float32Array, [2]), ArgumentError, 'Tensor', 'Float32Array', named);
    });
  }

  for (const shape of [[2, -1], [1.5], [NaN], 'ab'] as unknown[]) {
    it(`rejects the shape ${JSON.stringify(shape)}`, () => {
      throwsWith(() => new Tensor(new Float32Array(2), shape as number[]), ShapeError, 'Tensor', 'shape');
    });
  }
});

describe('Tensor.from', () => {
  const cases: [string, NestedArray, number[], number[]][] = [
    ['a scalar', 3.5, [], [3.5]],
    ['a vector', [1, 2, 3], [3], [1, 2, 3]],
    ['a matrix', [[1, 2, 3], [4, 5, 6]], [2, 3], [1, 2, 3, 4, 5, 6]],
    ['a rank-3 array', [[[1], [2]], [[3], [4]]], [2, 2, 1], [1, 2, 3, 4]],
    ['an empty array', [], [0], []],
    ['empty rows', [[], []], [2, 0], []],
  ];
  for (const [what, nested, shape, flat] of cases) {
    it(`reads ${what} as shape [${shape.join(', ')}] in row-major order`, () => {
      const t = Tensor.from(nested);
      assert.deepEqual(t.shape, shape);
      assert.deepEqual([...t.data], flat);
    });
  }

  it('rounds values to float32', () => {
    assert.equal(Tensor.from([0.1]).data[0], Math.fround(0.1));
  });

  const ragged: [string, unknown, string][] = [
    ['a short second row', [[1, 2], [3]], '[1]'],
    ['a number where a row belongs', [[1, 2], 3], '[1]'],
    ['a row where a number belongs', [1, [2]], '[1]'],
    ['a deep mismatch', [[[1], [2]], [[3], [4, 5]]], '[1][1]'],
    ['a row after an empty row', [[], [1]], '[1]'],
  ];
  for (const [what, nested, path] of ragged) {
    it(`rejects ${what} with a ShapeError naming the path ${path}`, () => {
      throwsWith(() => Tensor.from(nested as NestedArray), ShapeError, 'Tensor.from', 'ragged', `at ${path}`);
    });
  }
});

describe('Tensor.zeros / ones / full', () => {
  for (const shape of [[], [3], [2, 3], [2, 0, 4]]) {
    it(`fill shape [${shape.join(', ')}]`, () => {
      const n = shape.reduce((p, s) => p * s, 1);
      for (const [t, v] of [
        [Tensor.zeros(shape), 0],
        [Tensor.ones(shape), 1],
        [Tensor.full(shape, -2.5), -2.5],
      ] as const) {
        assert.deepEqual(t.shape, shape);
        assert.equal(t.size, n);
        assert.ok(t.data.every((x) => x === v));
      }
    });
  }

  it('full holds NaN and infinities', () => {
    assert.ok(Tensor.full([2], NaN).data.every(Number.isNaN));
    assert.ok(Tensor.full([2], -Infinity).data.every((x) => x === -Infinity));
  });

  it('reject bad shapes, naming the function', () => {
    throwsWith(() => Tensor.zeros([-1]), ShapeError, 'Tensor.zeros');
    throwsWith(() => Tensor.full([1.5], 0), ShapeError, 'Tensor.full');
    throwsWith(() => Tensor.ones([2, -3]), ShapeError, 'Tensor.full');
  });
});

describe('Tensor.randn and Tensor.rand', () => {
  it('randn is reproducible from a seed', () => {
    assert.deepEqual(Tensor.randn([4, 5], 42).data, Tensor.randn([4, 5], 42).data);
  });

  it('randn differs for different seeds', () => {
    for (const [a, b] of [[0, 1], [1, 2], [42, 43], [7, 7 + 2 ** 33]]) {
      const x = Tensor.randn([16], a).data;
      const y = Tensor.randn([16], b).data;
      assert.ok(x.some((v, i) => v !== y[i]), `seeds ${a} and ${b} give the same samples`);
    }
  });

  it('randn from a shared Rng continues its stream', () => {
    const rng = new Rng(9);
    const first = Tensor.randn([3], rng); // draws 3 normals, keeping the spare of the second pair
    const second = Tensor.randn([5], rng);
    assert.deepEqual([...first.data, ...second.data], [...Tensor.randn([8], 9).data]);
  });

  it('randn samples have mean ≈ 0 and variance ≈ 1 over 10k samples', () => {
    for (const seed of [0, 1, 12345]) {
      const x = Tensor.randn([10_000], seed).data;
      const mean = x.reduce((s, v) => s + v, 0) / x.length;
      const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / (x.length - 1);
      // Standard errors: 0.01 for the mean, 0.014 for the variance; these bounds are 5 and 4 of them.
      assert.ok(Math.abs(mean) < 0.05, `seed ${seed}: mean ${mean}`);
      assert.ok(Math.abs(variance - 1) < 0.06, `seed ${seed}: variance ${variance}`);
      assert.ok(x.every(Number.isFinite));
    }
  });

  it('rand is reproducible and lies in [low, high)', () => {
    const a = Tensor.rand([1000], 3, -2, 5);
    assert.deepEqual(a.data, Tensor.rand([1000], 3, -2, 5).data);
    assert.ok(a.data.every((v) => v >= -2 && v < 5));
    const mean = a.data.reduce((s, v) => s + v, 0) / a.size;
    assert.ok(Math.abs(mean - 1.5) < 0.3, `mean ${mean}`);
    assert.ok(Tensor.rand([100], 1).data.every((v) => v >= 0 && v < 1));
  });
});

describe('Tensor.at', () => {
  const t = arange([2, 3, 4]);

  it('reads by row-major index, with negative indices counting from the end', () => {
    for (const [i, j, k] of indices(t.shape)) {
      const expected = i * 12 + j * 4 + k;
      assert.equal(t.at(i, j, k), expected);
      assert.equal(t.at(i - 2, j - 3, k - 4), expected);
    }
    assert.equal(Tensor.from(5).at(), 5);
  });

  const bad: [number[], string][] = [
    [[2, 0, 0], 'index 2'],
    [[0, 3, 0], 'index 3'],
    [[0, 0, -5], 'index -5'],
    [[-3, 0, 0], 'index -3'],
    [[0.5, 0, 0], 'index 0.5'],
    [[0, 0], 'expected 3 indices'],
    [[0, 0, 0, 0], 'expected 3 indices'],
  ];
  for (const [idx, part] of bad) {
    it(`rejects at(${idx.join(', ')}) with an ArgumentError`, () => {
      throwsWith(() => t.at(...idx), ArgumentError, 'Tensor.at', part, '[2, 3, 4]');
    });
  }
});

describe('Tensor.reshape', () => {
  const cases: [number[], number[], number[]][] = [
    [[2, 3, 4], [-1, 4], [6, 4]],
    [[2, 3, 4], [4, -1], [4, 6]],
    [[2, 3, 4], [24], [24]],
    [[2, 3, 4], [-1], [24]],
    [[2, 3, 4], [2, -1, 2, 3], [2, 2, 2, 3]],
    [[6], [1, 6, 1], [1, 6, 1]],
    [[1], [], []],
    [[0, 3], [-1], [0]],
    [[0, 3], [3, 0], [3, 0]],
  ];
  for (const [from, to, shape] of cases) {
    it(`[${from.join(', ')}] → [${to.join(', ')}] gives [${shape.join(', ')}] and shares the data`, () => {
      const t = arange(from);
      const r = t.reshape(to);
      assert.deepEqual(r.shape, shape);
      assert.equal(r.data, t.data);
    });
  }

  const bad: [number[], number[]][] = [
    [[2, 3], [5, -1]],
    [[2, 3], [-1, -1]],
    [[2, 3], [7]],
    [[2, 3], [4, 2]],
    [[2, 3], [-2, -3]],
    [[0, 3], [0, -1]],
    [[2, 3], [2.5, 2]],
  ];
  for (const [from, to] of bad) {
    it(`rejects [${from.join(', ')}] → [${to.join(', ')}] with a ShapeError`, () => {
      throwsWith(() => arange(from).reshape(to), ShapeError, 'Tensor.reshape');
    });
  }

  it('names both the tensor shape and the requested shape', () => {
    throwsWith(() => arange([2, 3]).reshape([5, -1]), ShapeError, '[2, 3]', '[5, -1]');
    throwsWith(() => arange([2, 3]).reshape([4, 2]), ShapeError, '[2, 3]', '[4, 2]');
  });

  it('names the requested shape, not an inferred one, when it has other negative sizes', () => {
    throwsWith(() => arange([2, 3]).reshape([-1, -3]), ShapeError, '[-1, -3]');
  });
});

describe('Tensor.permute and Tensor.transpose', () => {
  const t = arange([2, 3, 4]);
  const value = (i: number, j: number, k: number) => i * 12 + j * 4 + k;

  const perms = [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0], [-1, 0, -2]];
  for (const dims of perms) {
    it(`permute([${dims.join(', ')}]) moves input dim dims[o] to output dim o`, () => {
      const norm = dims.map((d) => (d < 0 ? d + 3 : d));
      const p = t.permute(dims);
      assert.deepEqual(p.shape, norm.map((d) => t.shape[d]));
      for (const out of indices(p.shape)) {
        const src = [0, 0, 0];
        norm.forEach((d, o) => (src[d] = out[o]));
        assert.equal(p.at(...out), value(src[0], src[1], src[2]));
      }
      assert.notEqual(p.data, t.data);
    });
  }

  for (const dims of [[0, 0, 1], [0, 1], [0, 1, 2, 3], [0, 1, 3]]) {
    it(`rejects permute([${dims.join(', ')}]) with an ArgumentError`, () => {
      throwsWith(() => t.permute(dims), ArgumentError, 'Tensor.permute');
    });
  }

  it('transpose() swaps the last two dims', () => {
    const tt = t.transpose();
    assert.deepEqual(tt.shape, [2, 4, 3]);
    for (const [i, k, j] of indices(tt.shape)) assert.equal(tt.at(i, k, j), value(i, j, k));
  });

  it('transpose(0, 2) and transpose(-3, -1) swap the outer and inner dims', () => {
    for (const tt of [t.transpose(0, 2), t.transpose(-3, -1)]) {
      assert.deepEqual(tt.shape, [4, 3, 2]);
      for (const [k, j, i] of indices(tt.shape)) assert.equal(tt.at(k, j, i), value(i, j, k));
    }
  });

  it('transpose rejects out-of-range dims', () => {
    throwsWith(() => t.transpose(0, 3), ArgumentError, 'Tensor.transpose', 'dim 3');
  });
});

describe('Tensor.broadcastTo', () => {
  const cases: [number[], number[]][] = [
    [[3], [2, 3]],
    [[3, 1], [3, 4]],
    [[1, 3, 1], [2, 3, 4]],
    [[], [2, 2]],
    [[1], [0]],
    [[2, 3], [2, 3]],
  ];
  for (const [from, to] of cases) {
    it(`[${from.join(', ')}] → [${to.join(', ')}] repeats along the broadcast dims`, () => {
      const t = arange(from);
      const b = t.broadcastTo(to);
      assert.deepEqual(b.shape, to);
      for (const idx of indices(to)) {
        // Align at the right; a size-1 source dim is read at 0.
        const src = from.map((s, d) => (s === 1 ? 0 : idx[to.length - from.length + d]));
        assert.equal(b.at(...idx), from.length === 0 ? t.data[0] : t.at(...src));
      }
      assert.notEqual(b.data, t.data);
    });
  }

  for (const [from, to] of [[[2], [3]], [[2, 3], [3]], [[3, 2], [3, 3]], [[2], [0]]] as [number[], number[]][]) {
    it(`rejects [${from.join(', ')}] → [${to.join(', ')}] with a ShapeError naming both shapes`, () => {
      throwsWith(() => arange(from).broadcastTo(to), ShapeError, 'Tensor.broadcastTo', `[${from.join(', ')}]`, `[${to.join(', ')}]`);
    });
  }
});

describe('Tensor.toArray, clone and toString', () => {
  const nested: NestedArray[] = [7, [1, 2], [[1, 2, 3], [4, 5, 6]], [[[1], [2]], [[3], [4]]], [], [[], []]];
  for (const n of nested) {
    it(`round-trips ${JSON.stringify(n)}`, () => {
      assert.deepEqual(Tensor.from(n).toArray(), n);
    });
  }

  it('toArray nests by shape', () => {
    assert.deepEqual(arange([2, 1, 2]).toArray(), [[[0, 1]], [[2, 3]]]);
  });

  it('clone copies the data', () => {
    const t = arange([2, 2]);
    const c = t.clone();
    c.data[0] = 9;
    assert.equal(t.data[0], 0);
    assert.deepEqual(c.shape, t.shape);
  });

  it('toString shows the shape', () => {
    assert.equal(String(arange([2, 3])), 'Tensor [2, 3]');
  });
});
