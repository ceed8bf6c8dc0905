// Checkpoints: save → load gives bitwise-equal parameters and outputs, carries metadata, restores AdamW's moments so
// that training resumes where it stopped, and refuses a checkpoint of another model.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { StateDictError, isQkvError } from '../../../src/core/errors.js';
import { Tensor } from '../../../src/core/tensor.js';
import { backward } from '../../../src/autograd/var.js';
import { readSafetensors } from '../../../src/io/safetensors.js';
import { loadCheckpoint, saveCheckpoint } from '../../../src/nn/checkpoint.js';
import { TransformerEncoderLayer } from '../../../src/nn/encoder-layer.js';
import { AdamW } from '../../../src/optim/adamw.js';
import { assertBitwiseEqual } from '../../tolerances.js';
import { weightedSum } from '../autograd/gradcheck.js';

const config = { hiddenSize: 8, numAttentionHeads: 2, intermediateSize: 16, dropout: 0 };
const x = Tensor.randn([2, 5, 8], 1);

describe('checkpoints', () => {
  test('round trip: bitwise-equal parameters and outputs, and the metadata back', () => {
    const a = new TransformerEncoderLayer({ ...config, seed: 1 });
    const bytes = saveCheckpoint(a, { metadata: { config: JSON.stringify(config) } });
    const b = new TransformerEncoderLayer({ ...config, seed: 2 });
    assert.notDeepEqual(Array.from(b.forward(x).data), Array.from(a.forward(x).data));
    const meta = loadCheckpoint(b, bytes);
    assert.deepEqual(JSON.parse(meta.config), config);
    const pa = a.stateDict();
    const pb = b.stateDict();
    assert.deepEqual(Object.keys(pb), Object.keys(pa));
    for (const name of Object.keys(pa)) assertBitwiseEqual(pb[name].data, pa[name].data, name);
    assertBitwiseEqual(b.forward(x, { causal: true }).data, a.forward(x, { causal: true }).data, 'outputs');
    assert.ok('self_attn.in_proj_weight' in readSafetensors(bytes), 'PyTorch names in the file');
  });

  test('AdamW moments are saved and restored, so a resumed run takes the same next step', () => {
    const train = (layer: TransformerEncoderLayer, opt: AdamW) => {
      opt.zeroGrad();
      backward(weightedSum(layer.forward(x)));
      opt.step();
    };
    const a = new TransformerEncoderLayer({ ...config, seed: 3 });
    const optA = new AdamW(a.parameters(), { lr: 0.01 });
    train(a, optA);
    train(a, optA);
    const bytes = saveCheckpoint(a, { optimizer: optA });

    const b = new TransformerEncoderLayer({ ...config, seed: 4 });
    const optB = new AdamW(b.parameters(), { lr: 0.01 });
    loadCheckpoint(b, bytes, { optimizer: optB });
    assert.equal(optB.stepCount(b.parameters()[0]), 2);
    train(a, optA);
    train(b, optB);
    // Moments are stored as float32, so the resumed step matches closely rather than bitwise.
    const pa = a.stateDict();
    const pb = b.stateDict();
    for (const name of Object.keys(pa)) {
      pa[name].data.forEach((v, i) => assert.ok(Math.abs(v - pb[name].data[i]) < 1e-6, `${name}[${i}]`));
    }
  });

  test('a checkpoint of another model is refused, listing the problems, and nothing loads', () => {
    const small = saveCheckpoint(new TransformerEncoderLayer({ ...config, intermediateSize: 12 }));
    const layer = new TransformerEncoderLayer({ ...config, seed: 5 });
    const before = layer.stateDict();
    assert.throws(() => loadCheckpoint(layer, small), (e: unknown) =>
      e instanceof StateDictError &&
      e.problems.includes('linear1.weight must be [16, 8]; got [12, 8]') &&
      e.message.startsWith('TransformerEncoderLayer.loadStateDict:'));
    assertBitwiseEqual(layer.stateDict()['linear1.bias'].data, before['linear1.bias'].data, 'unchanged');
    assert.throws(() => saveCheckpoint(layer, { metadata: { 'optimizer.x': '1' } }), (e: unknown) => isQkvError(e, 'E_ARGUMENT'));
  });
});
