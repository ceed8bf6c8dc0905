// Choosing a backend: globally with setBackend, per call with `backend`, and the checks on both.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import {
  Tensor,
  availableBackends,
  getBackend,
  isQkvError,
  scaledDotProductAttention,
  scaledDotProductAttentionBackward,
  setBackend,
} from '../../../src/index.js';
import { TOL, assertBitwiseEqual, assertRelClose } from '../../tolerances.js';

afterEach(() => setBackend('auto'));

test('the wasm backend is registered and preferred; the reference is always available and last', () => {
  const names = availableBackends();
  assert.deepEqual(names, ['wasm', 'reference']);
  assert.equal(getBackend(), 'auto');
});

test('setBackend changes the default; a per-call backend overrides it', () => {
  const q = Tensor.randn([1, 2, 9, 8], 1);
  const k = Tensor.randn([1, 2, 11, 8], 2);
  const reference = scaledDotProductAttention(q, k, k, { backend: 'reference' }).output;
  const wasm = scaledDotProductAttention(q, k, k, { backend: 'wasm' }).output;
  assertRelClose(wasm.data, reference.data, TOL.wasmF32, 'wasm vs reference');

  setBackend('reference');
  assert.equal(getBackend(), 'reference');
  assertBitwiseEqual(scaledDotProductAttention(q, k, k).output.data, reference.data, 'global reference');
  assertBitwiseEqual(scaledDotProductAttention(q, k, k, { backend: 'wasm' }).output.data, wasm.data, 'per-call wasm');
  setBackend('wasm');
  assertBitwiseEqual(scaledDotProductAttention(q, k, k).output.data, wasm.data, 'global wasm');
});

test('bad choices name the function, the argument and what was given', () => {
  const x = Tensor.randn([2, 4], 1);
  const cases: [() => unknown, RegExp][] = [
    [() => setBackend('gpu' as never), /^setBackend: backend must be "auto" or one of "wasm", "reference"; got string gpu$/],
    [() => scaledDotProductAttention(x, x, x, { backend: 'cuda' as never }), /^scaledDotProductAttention: backend must be/],
    [
      () => scaledDotProductAttentionBackward(x, x, x, x, { backend: 1 as never }),
      /^scaledDotProductAttentionBackward: backend must be .*; got number 1$/,
    ],
  ];
  for (const [call, message] of cases) {
    assert.throws(call, (e: unknown) => isQkvError(e, 'E_ARGUMENT') && message.test(e.message));
  }
  assert.equal(getBackend(), 'auto');
});
