// Unit tests of src/core/errors.ts: the QkvError hierarchy, its stable codes, and the isQkvError guard on thrown
// errors, on plain { name, message, code } objects such as a worker posts back, and on values that are not errors.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ArgumentError,
  FormatError,
  QkvError,
  ShapeError,
  StateDictError,
  Tensor,
  isQkvError,
  type QkvErrorCode,
} from '../../../src/index.js';

const classes: [string, () => QkvError, QkvErrorCode][] = [
  ['QkvError', () => new QkvError('m'), 'E_QKV'],
  ['ShapeError', () => new ShapeError('m'), 'E_SHAPE'],
  ['ArgumentError', () => new ArgumentError('m'), 'E_ARGUMENT'],
  ['FormatError', () => new FormatError('m'), 'E_FORMAT'],
  ['StateDictError', () => new StateDictError('m', ['a']), 'E_STATE_DICT'],
];

describe('error hierarchy', () => {
  for (const [name, make, code] of classes) {
    it(`${name} is an Error and a QkvError with name ${name} and code ${code}`, () => {
      const e = make();
      assert.ok(e instanceof Error);
      assert.ok(e instanceof QkvError);
      assert.equal(e.name, name);
      assert.equal(e.code, code);
      assert.equal(e.message, 'm');
      assert.ok(e.stack?.includes(name), 'the stack starts with the class name');
      assert.ok(String(e).startsWith(`${name}: m`));
    });
  }

  it('the subclasses are distinct', () => {
    assert.ok(!(new ShapeError('m') instanceof ArgumentError));
    assert.ok(!(new ArgumentError('m') instanceof ShapeError));
    assert.ok(!(new FormatError('m') instanceof StateDictError));
  });

  it('StateDictError keeps every problem', () => {
    const e = new StateDictError('2 problems', ['missing wq', 'unexpected bias']);
    assert.deepEqual(e.problems, ['missing wq', 'unexpected bias']);
  });
});

describe('isQkvError', () => {
  it('is true for errors that qkv throws, with and without a matching code', () => {
    let caught: unknown;
    try {
      new Tensor(new Float32Array(3), [2, 2]);
    } catch (e) {
      caught = e;
    }
    assert.ok(isQkvError(caught));
    assert.ok(isQkvError(caught, 'E_SHAPE'));
    assert.ok(!isQkvError(caught, 'E_ARGUMENT'));
  });

  for (const [name, make, code] of classes) {
    it(`is true for a ${name} and for its code only`, () => {
      const e = make();
      assert.ok(isQkvError(e));
      for (const [, , other] of classes) assert.equal(isQkvError(e, other), other === code);
    });
  }

  it('is true for a plain { name, message, code } object, as a worker posts back', () => {
    const posted = { name: 'ShapeError', message: 'scaledDotProductAttention: …', code: 'E_SHAPE' };
    assert.ok(isQkvError(posted));
    assert.ok(isQkvError(posted, 'E_SHAPE'));
    assert.ok(!isQkvError(posted, 'E_FORMAT'));
    // The same after a JSON round trip of the fields a worker copies.
    const e = new ArgumentError('bad scale');
    const copy: unknown = JSON.parse(JSON.stringify({ name: e.name, message: e.message, code: e.code }));
    assert.ok(isQkvError(copy, 'E_ARGUMENT'));
  });

  const notErrors: [string, unknown][] = [
    ['undefined', undefined],
    ['null', null],
    ['a code string', 'E_SHAPE'],
    ['a number', 42],
    ['a plain Error', new Error('x')],
    ['a Node error with a foreign code', Object.assign(new Error('no such file'), { code: 'ENOENT' })],
    ['an object with an unknown E_ code', { message: 'm', code: 'E_NOPE' }],
    ['an object with a numeric code', { message: 'm', code: 1 }],
    ['an object without a message', { name: 'ShapeError', code: 'E_SHAPE' }],
    ['an object with a non-string message', { message: 3, code: 'E_SHAPE' }],
    ['an array', ['E_SHAPE']],
  ];
  for (const [what, value] of notErrors) {
    it(`is false for ${what}`, () => {
      assert.equal(isQkvError(value), false);
      assert.equal(isQkvError(value, 'E_SHAPE'), false);
    });
  }
});
