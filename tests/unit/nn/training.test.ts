// A tiny end-to-end training run: a one-layer pre-norm encoder learns to output the previous token (an induction
// step that needs attention and positions), with AdamW, warmup + cosine decay and gradient clipping. The loss must
// fall from chance (log V) to a small fraction of it, and the trained model must get the task right.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../../src/core/random.js';
import { Tensor } from '../../../src/core/tensor.js';
import { crossEntropy } from '../../../src/autograd/nn-ops.js';
import { add } from '../../../src/autograd/tensor-ops.js';
import { type Var, backward, noGrad } from '../../../src/autograd/var.js';
import { TransformerEncoderLayer } from '../../../src/nn/encoder-layer.js';
import { Embedding, LayerNorm, Linear } from '../../../src/nn/layers.js';
import { Module } from '../../../src/nn/module.js';
import { sinusoidalPositionalEncoding } from '../../../src/nn/positional-encoding.js';
import { AdamW } from '../../../src/optim/adamw.js';
import { clipGradNorm } from '../../../src/optim/clip.js';
import { cosineWithWarmup } from '../../../src/optim/schedule.js';

const V = 6;
const N = 8;
const D = 16;

class TinyModel extends Module {
  readonly embed: Embedding;
  readonly layer: TransformerEncoderLayer;
  readonly norm: LayerNorm;
  readonly head: Linear;
  constructor(seed: number) {
    super('TinyModel');
    const rng = new Rng(seed);
    this.embed = this.addModule('embed', new Embedding(V, D, { seed: rng }));
    this.layer = this.addModule('layer', new TransformerEncoderLayer({ hiddenSize: D, numAttentionHeads: 2, intermediateSize: 32, dropout: 0, seed: rng }));
    this.norm = this.addModule('norm', new LayerNorm(D));
    this.head = this.addModule('head', new Linear(D, V, { seed: rng }));
  }
  forward(tokens: Tensor): Var {
    const x = add(this.embed.forward(tokens), sinusoidalPositionalEncoding(N, D)); // [B, N, D]
    return this.head.forward(this.norm.forward(this.layer.forward(x, { causal: true }))); // [B, N, V]
  }
}

/** Random tokens [B, N] and targets: the previous token (the first position is ignored). */
function batch(rng: Rng, B: number): { tokens: Tensor; targets: Tensor } {
  const tokens = new Float32Array(B * N);
  const targets = new Float32Array(B * N);
  for (let i = 0; i < B * N; i++) tokens[i] = rng.int(V);
  for (let i = 0; i < B * N; i++) targets[i] = i % N === 0 ? -100 : tokens[i - 1];
  return { tokens: new Tensor(tokens, [B, N]), targets: new Tensor(targets, [B, N]) };
}

test('a one-layer encoder learns to copy the previous token', () => {
  const model = new TinyModel(1);
  const opt = new AdamW(model.parameters(), { lr: 0, weightDecay: 0.01 });
  const data = new Rng(2);
  const steps = 150;
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const { tokens, targets } = batch(data, 16);
    const loss = crossEntropy(model.forward(tokens), targets);
    opt.zeroGrad();
    backward(loss);
    clipGradNorm(model.parameters(), 1);
    opt.lr = cosineWithWarmup(step, { baseLr: 2e-2, warmupSteps: 10, totalSteps: steps, minLr: 1e-3 });
    opt.step();
    losses.push(loss.item());
  }
  const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10;
  const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
  assert.ok(Math.abs(first - Math.log(V)) < 0.5, `starts near chance log V = ${Math.log(V).toFixed(3)}; got ${first}`);
  assert.ok(last < 0.1 * first, `loss falls by a clear margin: first ${first.toFixed(3)}, last ${last.toFixed(3)}`);

  // Held-out accuracy with the trained model.
  const { tokens, targets } = batch(new Rng(3), 32);
  const logits = noGrad(() => model.eval().forward(tokens)); // [B, N, V]
  let right = 0;
  let total = 0;
  for (let r = 0; r < 32 * N; r++) {
    if (targets.data[r] === -100) continue;
    const row = logits.data.subarray(r * V, (r + 1) * V);
    right += row.indexOf(Math.max(...row)) === targets.data[r] ? 1 : 0;
    total++;
  }
  assert.ok(right / total > 0.9, `accuracy ${right}/${total}`);
});
