// Parity of qkv's gradients, nn blocks and optimizer with PyTorch autograd (tests/parity/fixtures/autograd.json,
// written by tools/make_autograd_fixtures.py with Debian's torch in float64). Each module case loads PyTorch's own
// state dict by name, so the parameter names are checked too; the loss and every parameter's gradient must be within
// TOL.grad, computed in float32 (the training path, fused attention) and again in float64 (Module.double(),
// attention from primitives).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Tensor } from '../../src/core/tensor.js';
import { attention } from '../../src/autograd/attention.js';
import { crossEntropy, gelu } from '../../src/autograd/nn-ops.js';
import { add, mul, sum } from '../../src/autograd/tensor-ops.js';
import { Var, backward } from '../../src/autograd/var.js';
import { TransformerEncoderLayer } from '../../src/nn/encoder-layer.js';
import { Embedding, LayerNorm, Linear } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import { MultiHeadAttention } from '../../src/nn/multihead-attention.js';
import { sinusoidalPositionalEncoding } from '../../src/nn/positional-encoding.js';
import { AdamW } from '../../src/optim/adamw.js';
import { clipGradNorm } from '../../src/optim/clip.js';
import { TOL, assertRelClose } from '../tolerances.js';
import { type EncodedTensor, readFixture, toExpected, toTensor } from './fixtures.js';

interface ModuleCase {
  name: string;
  config: Record<string, number>;
  stateDict: Record<string, EncodedTensor>;
  inputs: Record<string, EncodedTensor>;
  options: Record<string, unknown>;
  expected: {
    loss: number;
    output?: EncodedTensor;
    grads: Record<string, EncodedTensor>;
    inputGrads?: Record<string, EncodedTensor>;
  };
}

interface AdamWCase {
  name: string;
  options: { lr?: number; betas?: [number, number]; eps?: number; weightDecay?: number };
  params: EncodedTensor[];
  grads: EncodedTensor[][];
  expected: EncodedTensor[][];
}

interface ClipCase {
  name: string;
  maxNorm: number;
  normType: number | 'inf';
  grads: EncodedTensor[];
  expected: { norm: number; grads: EncodedTensor[] };
}

const fixture = readFixture<{ torch: string; modules: ModuleCase[]; adamw: AdamWCase[]; clip: ClipCase[] }>('autograd.json');

/** A module under test with the inputs it was given, run once in a dtype. */
interface Run {
  module: Module;
  loss: Var;
  output?: Var;
  inputs: Record<string, Var>;
}

class MhaStack extends Module {
  readonly mha: MultiHeadAttention;
  readonly norm: LayerNorm;
  readonly head: Linear;
  constructor(c: Record<string, number>) {
    super('MhaStack');
    this.mha = this.addModule('mha', new MultiHeadAttention({
      embedDim: c.embedDim, numHeads: c.numHeads, kdim: c.kdim, vdim: c.vdim, addBiasKv: true, addZeroAttn: true,
    }));
    this.norm = this.addModule('norm', new LayerNorm(c.embedDim));
    this.head = this.addModule('head', new Linear(c.embedDim, c.vocab));
  }
}

class TinyLm extends Module {
  readonly embed: Embedding;
  readonly layer: TransformerEncoderLayer;
  readonly norm: LayerNorm;
  readonly head: Linear;
  constructor(c: Record<string, number>) {
    super('TinyLm');
    this.embed = this.addModule('embed', new Embedding(c.vocab, c.dModel));
    this.layer = this.addModule('layer', new TransformerEncoderLayer({ hiddenSize: c.dModel, numAttentionHeads: c.nHead, intermediateSize: c.dimFeedforward, dropout: 0 }));
    this.norm = this.addModule('norm', new LayerNorm(c.dModel));
    this.head = this.addModule('head', new Linear(c.dModel, c.vocab));
  }
}

/** A fixture input as a leaf of the dtype, requiring a gradient. */
function input(t: EncodedTensor, dtype: 'float32' | 'float64'): Var {
  const x = toTensor(t);
  return new Var(dtype === 'float32' ? x.clone() : Float64Array.from(x.data), { shape: x.shape, requiresGrad: true });
}

function run(c: ModuleCase, dtype: 'float32' | 'float64'): Run {
  const dict = Object.fromEntries(Object.entries(c.stateDict).map(([k, t]) => [k, toTensor(t)]));
  const at = (name: string) => toTensor(c.inputs[name]);
  if (c.name === 'encoder_layer') {
    const module = new TransformerEncoderLayer({ hiddenSize: c.config.dModel, numAttentionHeads: c.config.nHead, intermediateSize: c.config.dimFeedforward, dropout: 0, seed: 9 });
    module.loadStateDict(dict);
    if (dtype === 'float64') module.double();
    const x = input(c.inputs.x, dtype);
    const output = module.forward(x, { mask: at('mask'), causal: true });
    return { module, output, loss: sum(mul(output, at('w'))), inputs: { x } };
  }
  if (c.name === 'mha_ln_gelu_ce') {
    const module = new MhaStack(c.config);
    module.loadStateDict(dict);
    if (dtype === 'float64') module.double();
    const [query, key, value] = ['query', 'key', 'value'].map((n) => input(c.inputs[n], dtype));
    const attended = module.mha.forwardVar(query, key, value, { mask: at('mask') });
    const logits = module.head.forward(gelu(module.norm.forward(attended)));
    const loss = crossEntropy(logits, at('targets'), { ignoreIndex: -100, labelSmoothing: 0.1 });
    return { module, loss, inputs: { query, key, value } };
  }
  assert.equal(c.name, 'tiny_lm');
  const module = new TinyLm(c.config);
  module.loadStateDict(dict);
  if (dtype === 'float64') module.double();
  const tokens = at('tokens');
  const [, N] = tokens.shape;
  const x = add(module.embed.forward(tokens), sinusoidalPositionalEncoding(N, c.config.dModel)); // [B, N, D]
  const logits = module.head.forward(module.norm.forward(module.layer.forward(x, { causal: true })));
  return { module, loss: crossEntropy(logits, at('targets')), inputs: {} };
}

describe(`gradients match PyTorch ${fixture.torch} autograd`, () => {
  for (const c of fixture.modules) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${c.name} (${dtype})`, () => {
        const r = run(c, dtype);
        assert.equal(r.loss.dtype, dtype);
        backward(r.loss);
        assertRelClose([r.loss.item()], [c.expected.loss], TOL.grad, `${c.name}: loss`);
        if (c.expected.output && r.output) assertRelClose(r.output.data, toExpected(c.expected.output).data, TOL.grad, `${c.name}: output`);
        const named = new Map(r.module.namedParameters());
        assert.deepEqual([...named.keys()].sort(), Object.keys(c.expected.grads).sort(), `${c.name}: parameter names`);
        for (const [name, g] of Object.entries(c.expected.grads)) {
          const p = named.get(name)!;
          assert.ok(p.gradData, `${c.name}: ${name} has a gradient`);
          assertRelClose(p.gradData, toExpected(g).data, TOL.grad, `${c.name}: d loss / d ${name}`);
        }
        for (const [name, g] of Object.entries(c.expected.inputGrads ?? {})) {
          assertRelClose(r.inputs[name].gradData!, toExpected(g).data, TOL.grad, `${c.name}: d loss / d ${name}`);
        }
      });
    }
  }

  it('the fused attention gives the same gradients as attention from primitives (float32)', () => {
    const c = fixture.modules.find((m) => m.name === 'encoder_layer')!;
    const x = toTensor(c.inputs.x);
    const q = new Var(x.reshape([2, 5, 2, 4]).permute([0, 2, 1, 3]), { requiresGrad: true }); // [B, H, N, d]
    const fused = sum(mul(attention(q, q, q, { causal: true, mask: toTensor(c.inputs.mask) }), 0.5));
    backward(fused);
    const gFused = q.gradData!.slice();
    q.zeroGrad();
    backward(sum(mul(attention(q, q, q, { causal: true, mask: toTensor(c.inputs.mask), fromPrimitives: true }), 0.5)));
    assertRelClose(gFused, q.gradData!, TOL.grad, 'fused vs primitives');
  });
});

describe('AdamW matches torch.optim.AdamW', () => {
  for (const c of fixture.adamw) {
    it(c.name, () => {
      // float64 parameters, so the comparison sees the optimizer's arithmetic, not float32 rounding of θ.
      const params = c.params.map((t) => input(t, 'float64'));
      const start = params.map((p) => p.data.slice());
      const opt = new AdamW(params, c.options);
      c.grads.forEach((gs, step) => {
        gs.forEach((g, i) => (params[i].gradData = Float64Array.from(toTensor(g).data)));
        opt.step();
        params.forEach((p, i) => {
          const want = toExpected(c.expected[step][i]).data;
          // The update θ_t − θ_0 is what the optimizer computes; compare it, not θ_t, whose size hides it.
          const got = p.data.map((x, j) => x - start[i][j]);
          const ref = want.map((x, j) => x - start[i][j]);
          assertRelClose(got, ref, TOL.grad, `${c.name}: step ${step + 1}, parameter ${i}`);
        });
      });
      assert.equal(opt.stepCount(params[0]), c.grads.length);
    });
  }
});

describe('clipGradNorm matches torch.nn.utils.clip_grad_norm_', () => {
  for (const c of fixture.clip) {
    it(c.name, () => {
      const params = c.grads.map((g) => {
        const t = toTensor(g);
        const p = new Var(new Float64Array(t.size), { shape: t.shape, requiresGrad: true });
        p.gradData = Float64Array.from(t.data);
        return p;
      });
      const norm = clipGradNorm(params, c.maxNorm, c.normType === 'inf' ? Infinity : c.normType);
      assertRelClose([norm], [c.expected.norm], TOL.grad, `${c.name}: norm`);
      params.forEach((p, i) => assertRelClose(p.gradData!, toExpected(c.expected.grads[i]).data, TOL.grad, `${c.name}: grad ${i}`));
    });
  }
});

describe('autograd fixtures', () => {
  it('cover every parameter kind of MultiHeadAttention and the blocks', () => {
    const names = fixture.modules.flatMap((c) => Object.keys(c.expected.grads));
    for (const suffix of ['in_proj_weight', 'q_proj_weight', 'k_proj_weight', 'v_proj_weight', 'in_proj_bias', 'bias_k', 'bias_v',
      'out_proj.weight', 'out_proj.bias', 'linear1.weight', 'linear2.bias', 'norm1.weight', 'norm2.bias', 'embed.weight', 'head.weight']) {
      assert.ok(names.some((n) => n.endsWith(suffix)), `a gradient for *${suffix}`);
    }
    assert.ok(Tensor, 'fixtures decode into qkv tensors');
  });
});
