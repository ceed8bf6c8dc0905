// PretrainedModel's forward, cache and generation contracts on the tiny fixtures: atomic calls, checked arguments,
// padded batches of generation, seeded sampling, and a stream that releases its cache however it ends.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { isQkvError } from '../../src/index.js';
import { type ModelCache, type PretrainedModel } from '../../src/models/model.js';
import { loadPretrained } from '../../src/models/pretrained.js';
import { pick } from '../../src/models/generate.js';
import { Rng } from '../../src/core/random.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const argumentError = (pattern: RegExp) => (e: unknown) => isQkvError(e, 'E_ARGUMENT') && pattern.test((e as Error).message);

let llama: PretrainedModel;
let bert: PretrainedModel;
before(async () => {
  llama = await loadPretrained(join(FIXTURES, 'llama'), { tokenizer: false });
  bert = await loadPretrained(join(FIXTURES, 'bert-base'), { tokenizer: false });
});

describe('forward checks its arguments', () => {
  it('ids: ragged rows, out-of-range and non-integer ids, an empty batch', () => {
    assert.throws(() => llama.forward([[1, 2], [3]]), argumentError(/equal lengths \(pad them\); row 0 has 2, row 1 has 1/));
    assert.throws(() => llama.forward([[1, 300]]), argumentError(/inputIds\[0\]\[1\] must be an integer in \[0, 300\); got number 300/));
    assert.throws(() => llama.forward([[1.5]]), argumentError(/inputIds\[0\]\[0\]/));
    assert.throws(() => llama.forward([]), argumentError(/non-empty array of rows/));
    assert.throws(() => llama.forward([[]]), argumentError(/at least one id/));
  });

  it('options: unknown keys, a mask of the wrong width or values, token types on a decoder', () => {
    assert.throws(() => llama.forward([[1]], { attentionMaks: [[1]] } as never), argumentError(/unknown option "attentionMaks"/));
    assert.throws(() => llama.forward([[1, 2]], { attentionMask: [[1]] }), argumentError(/attentionMask must be \[B, N\] = \[1, 2\]/));
    assert.throws(() => llama.forward([[1, 2]], { attentionMask: [[1, 2]] }), argumentError(/must be 0 or 1; got number 2/));
    assert.throws(() => llama.forward([[1]], { tokenTypeIds: [[0]] }), argumentError(/tokenTypeIds are for BERT/));
    assert.throws(() => bert.forward([[1, 2]], { tokenTypeIds: [[0, 2]] }), argumentError(/tokenTypeIds\[0\]\[1\] must be an integer in \[0, 2\)/));
    assert.throws(() => llama.forward([[1]], { backend: 'gpu' as never }), argumentError(/backend must be/));
    assert.throws(() => bert.forward([Array.from({ length: 65 }, () => 1)]), argumentError(/65 tokens exceed max_position_embeddings = 64/));
  });

  it('a cache: only for decoders, of this model and batch size, not after release', () => {
    assert.throws(() => bert.createCache(), argumentError(/a cache is for decoders/));
    const cache = llama.createCache(2);
    assert.throws(() => llama.forward([[1]], { cache }), argumentError(/holds 2 sequence\(s\) but inputIds has B = 1/));
    assert.throws(() => llama.forward([[1]], { cache: {} as ModelCache }), argumentError(/cache must come from this model/));
    cache.release();
    assert.throws(() => llama.forward([[1], [2]], { cache }), argumentError(/cache was released/));
  });
});

describe('a failed call changes nothing', () => {
  it('a cache is unchanged by a call that throws, at validation or halfway through the layers', () => {
    const cache = llama.createCache(1);
    llama.forward([[5, 6, 7]], { cache });
    assert.equal(cache.length, 3);
    assert.throws(() => llama.forward([[8]], { cache, attentionMask: [[1, 1, 0, 1]] }), argumentError(/disagrees with the cached mask/));
    assert.throws(() =>
      llama.forwardVar([[8]], { cache }, (name) => {
        if (name === 'blocks.1.attn.hook_q') throw new Error('stop here');
        return undefined;
      }),
    );
    assert.equal(cache.length, 3);
    const stepped = llama.forward([[8]], { cache }).logits!.data;
    const full = llama.forward([[5, 6, 7, 8]]).logits!.data;
    const V = llama.config.vocabSize;
    assert.deepEqual(Array.from(stepped), Array.from(full.slice(3 * V)));
    assert.equal(cache.length, 4);
  });

  it('a mask over the past and the new tokens is taken as transformers takes it', () => {
    const cache = llama.createCache(1);
    llama.forward([[5, 6]], { cache });
    const a = llama.forward([[7]], { cache, attentionMask: [[1, 1, 1]] }).logits!.data;
    const b = llama.forward([[5, 6, 7]]).logits!.data;
    assert.deepEqual(Array.from(a), Array.from(b.slice(2 * llama.config.vocabSize)));
  });
});

describe('generation', () => {
  it('a batch of prompts of different lengths gives each row what it gives alone', () => {
    const prompts = [[5, 6, 7, 8, 9], [10, 11]];
    const together = llama.generate(prompts, { maxNewTokens: 6, stopTokens: [], prefillChunk: 2 });
    assert.deepEqual(together, prompts.map((p) => llama.generate([p], { maxNewTokens: 6, stopTokens: [] })[0]));
  });

  it('a stop token ends its row and is included', () => {
    const free = llama.generate([[5, 6, 7]], { maxNewTokens: 6, stopTokens: [] })[0];
    const stop = free[2];
    const stopped = llama.generate([[5, 6, 7]], { maxNewTokens: 6, stopTokens: [stop] })[0];
    assert.deepEqual(stopped, free.slice(0, free.indexOf(stop) + 1));
  });

  it('sampling is reproducible from its seed, and top-k 1 is greedy', () => {
    const options = { maxNewTokens: 8, stopTokens: [], temperature: 1.5 };
    const a = llama.generate([[5, 6, 7]], { ...options, seed: 1 });
    assert.deepEqual(llama.generate([[5, 6, 7]], { ...options, seed: 1 }), a);
    const others = [2, 3, 4, 5].map((seed) => llama.generate([[5, 6, 7]], { ...options, seed })[0].join());
    assert.ok(others.some((o) => o !== a[0].join()), 'other seeds give other samples');
    assert.deepEqual(
      llama.generate([[5, 6, 7]], { ...options, topK: 1, seed: 9 }),
      llama.generate([[5, 6, 7]], { maxNewTokens: 8, stopTokens: [] }),
    );
  });

  it('top-k and top-p keep exactly the tokens transformers keeps', () => {
    const logits = Float32Array.from([2, 1, 0.5, 3, 3, -1]);
    const seen = (plan: { topK: number; topP: number }) => {
      const rng = new Rng(7);
      const got = new Set<number>();
      for (let i = 0; i < 2000; i++) got.add(pick(logits, { temperature: 1, rng, ...plan }));
      return [...got].sort();
    };
    assert.deepEqual(seen({ topK: 2, topP: 1 }), [3, 4]);
    assert.deepEqual(seen({ topK: 3, topP: 1 }), [0, 3, 4]); // ties at the k-th value are kept
    // p(3) = p(4) ≈ 0.384, p(0) ≈ 0.141: the rest sums to 0.232, so 1 − p = 0.2 keeps token 0 and 0.25 drops it
    assert.deepEqual(seen({ topK: 0, topP: 0.8 }), [0, 3, 4]);
    assert.deepEqual(seen({ topK: 0, topP: 0.75 }), [3, 4]);
    assert.deepEqual(seen({ topK: 0, topP: 0.5 }), [3, 4]);
  });

  it('bad options are refused before any work', () => {
    assert.throws(() => llama.generate([[1]], { maxNewTokens: 0 }), argumentError(/maxNewTokens must be an integer ≥ 1/));
    assert.throws(() => llama.generate([[1]], { temperature: -1 }), argumentError(/temperature/));
    assert.throws(() => llama.generate([[1]], { topP: 0 }), argumentError(/topP must be in \(0, 1\]/));
    assert.throws(() => llama.generate([[1]], { maxTokens: 3 } as never), argumentError(/unknown option "maxTokens"/));
    assert.throws(() => llama.generate([[]]), argumentError(/non-empty arrays of token ids/));
    assert.throws(() => bert.generate([[1]]), argumentError(/encoder; generation needs a decoder/));
  });

  it('a stream gives generate\'s tokens and releases its cache, also when stopped early', async () => {
    const caches: ModelCache[] = [];
    const create = llama.createCache.bind(llama);
    llama.createCache = (b?: number) => {
      const c = create(b);
      caches.push(c);
      return c;
    };
    try {
      const streamed: number[] = [];
      for await (const id of llama.stream([5, 6, 7], { maxNewTokens: 6, stopTokens: [] })) streamed.push(id);
      assert.deepEqual(streamed, llama.generate([[5, 6, 7]], { maxNewTokens: 6, stopTokens: [] })[0]);
      for await (const id of llama.stream([5, 6, 7], { maxNewTokens: 6, stopTokens: [] })) if (id >= 0) break;
      assert.ok(caches.length >= 3 && caches.every((c) => c.released), 'every cache is released');
    } finally {
      llama.createCache = create;
    }
  });
});
