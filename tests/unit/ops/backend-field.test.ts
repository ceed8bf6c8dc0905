// Each result names the backend that computed it (issue #13): scaledDotProductAttention and MultiHeadAttention.forward.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MultiHeadAttention, Tensor, availableBackends, scaledDotProductAttention } from '../../../src/index.js';

const wasm = availableBackends().includes('wasm');
const q = Tensor.randn([1, 2, 5, 8], 1); // [B, H, N, d]
const x = Tensor.randn([1, 5, 8], 2); // [B, N, D]
const mha = new MultiHeadAttention({ embedDim: 8, numHeads: 2, seed: 1 });

describe('the backend field', () => {
  it('names the reference when it is chosen, and when "auto" falls back to it for a trace', () => {
    assert.equal(scaledDotProductAttention(q, q, q, { backend: 'reference' }).backend, 'reference');
    assert.equal(scaledDotProductAttention(q, q, q, { trace: true }).backend, 'reference');
    assert.equal(mha.forward(x, x, x, { backend: 'reference' }).backend, 'reference');
    assert.equal(mha.forward(x, x, x, { trace: true }).backend, 'reference');
  });

  it('names wasm when "auto" runs it', { skip: wasm ? undefined : 'the wasm backend is not available here' }, () => {
    assert.equal(scaledDotProductAttention(q, q, q, { causal: true }).backend, 'wasm');
    assert.equal(mha.forward(x).backend, 'wasm'); // fused self-attention
    assert.equal(mha.forward(x, Tensor.randn([1, 3, 8], 3)).backend, 'wasm'); // composed cross-attention
  });
});
