// Explain documents computed for the browser tests: a long input (hundreds of tokens) from a real seeded
// MultiHeadAttention, in the format of `qkv explain --json`.

import { MultiHeadAttention, Tensor } from '../../src/index.js';
import { type ExplainJson, headsToJson } from '../../src/explain/trace-json.js';

/** N tokens through two seeded layers of 4 heads (D = 16): every step of every head, as the viewer reads it. */
export function longTrace(N: number): ExplainJson {
  const D = 16;
  const H = 4;
  const tokens = Array.from({ length: N }, (_, i) => `w${i}`);
  let x = Tensor.randn([N, D], 7); // [N, D], unbatched
  const layers: ExplainJson['layers'] = [];
  for (let l = 0; l < 2; l++) {
    const mha = new MultiHeadAttention({ embedDim: D, numHeads: H, seed: 10 + l });
    const { output, trace } = mha.forward(x, undefined, undefined, { trace: true });
    layers.push({ heads: headsToJson(trace!) });
    x = output; // [N, D]
  }
  return {
    format: 'qkv.explain',
    version: 1,
    sentence: tokens.join(' '),
    tokens,
    model: { layers: 2, heads: H, embedDim: D, headDim: D / H },
    layers,
  };
}
