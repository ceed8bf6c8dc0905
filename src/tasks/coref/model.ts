// The coreference model: a small pre-norm transformer encoder that reads a sentence and, at the "it" token, names the
// noun that "it" stands for. It mirrors a BERT-style masked-word readout (Devlin et al. 2019): the final hidden state
// of "it" goes through a linear layer over the whole vocabulary, and the target is the referent's own word ("cat").
//
//   x = embed(ids) + PE                        [B, N, D]    token embedding, sinusoidal positions
//   x = layer_l(x, key padding mask)           [B, N, D]    L pre-norm encoder layers, H heads each
//   h = norm(x[b, pronoun_b])                  [B, D]       the "it" position only
//   logits = head(h)                           [B, V]       one score per word of the vocabulary
//
// Why a word readout and not a pointer: "it" can only name the referent's word if the word's identity travels into
// the "it" position, and in this model only attention moves information between positions. A pointer over the two
// candidates would be solvable from class features alone, without any head looking from "it" at the referent.
// The answer between the two candidates is the larger of their two logits; their probabilities are the softmax over
// those two logits (the vocabulary softmax renormalised over the candidates).
//
// Training also puts a loss on one head's weights (corefHead: head 0 of the last layer, −log weight from "it" to the
// referent, as LISA does for syntax). forward() returns that row's scores for it. Without that loss the readout is
// just as accurate but the copy is split across heads by class; docs/LEARNING.md has the numbers, and measures the
// other heads, which no loss touches.

import { ArgumentError, FormatError } from '../../core/errors.js';
import { Tensor, describe } from '../../core/tensor.js';
import { Rng } from '../../core/random.js';
import { embedding } from '../../autograd/nn-ops.js';
import { add, linear, matmul, mul, narrow, reshape, transpose } from '../../autograd/tensor-ops.js';
import { type Var, noGrad } from '../../autograd/var.js';
import { TransformerEncoderLayer } from '../../nn/encoder-layer.js';
import { Embedding, LayerNorm, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { type MultiHeadAttentionTrace } from '../../nn/multihead-attention.js';
import { sinusoidalPositionalEncoding } from '../../nn/positional-encoding.js';
import { loadCheckpoint, saveCheckpoint } from '../../nn/checkpoint.js';
import { readSafetensorsMetadata } from '../../io/safetensors.js';
import { type BackendChoice } from '../../kernels/backend.js';
import { type ExplainJson, headsToJson } from '../../explain/trace-json.js';
import { type CorefBatch } from './data.js';
import { VOCAB, nounClass, tokenize } from './vocab.js';

/**
 * The shape of a {@link CorefModel}; stored as JSON in the checkpoint's metadata. Names are the camelCase of Hugging
 * Face's config.json (vocab_size, hidden_size, num_attention_heads, num_hidden_layers, intermediate_size).
 */
export interface CorefModelConfig {
  /** V, rows of the embedding and of the readout. @default VOCAB.size */
  vocabSize: number;
  /** D. @default 64 */
  hiddenSize: number;
  /** H per layer. @default 4 */
  numAttentionHeads: number;
  /** L. @default 2 */
  numHiddenLayers: number;
  /** F, hidden width of each feed-forward block. @default 128 */
  intermediateSize: number;
}

/** The names of the first model files (dModel, numHeads, numLayers, dimFeedforward), still read by the constructor. */
interface LegacyCorefConfig {
  dModel: number;
  numHeads: number;
  numLayers: number;
  dimFeedforward: number;
}

/** {@link CorefModelConfig} with the old names numLayers and numHeads kept as read-only aliases. */
export type CorefModelShape = Readonly<CorefModelConfig> & {
  /** @deprecated numHiddenLayers */
  readonly numLayers: number;
  /** @deprecated numAttentionHeads */
  readonly numHeads: number;
};

export const DEFAULT_CONFIG: Readonly<CorefModelConfig> = {
  vocabSize: VOCAB.size,
  hiddenSize: 64,
  numAttentionHeads: 4,
  numHiddenLayers: 2,
  intermediateSize: 128,
};

/** What {@link CorefModel.trace} returns for one sentence. */
export interface CorefTrace {
  /** One MultiHeadAttention trace per layer, unbatched: per-head tensors [H, N, ...]. */
  layers: MultiHeadAttentionTrace[];
  /** Logits over the vocabulary at `position`: [V]. */
  logits: Float32Array;
}

export class CorefModel extends Module {
  readonly config: CorefModelShape;
  readonly embed: Embedding;
  readonly layers: readonly TransformerEncoderLayer[];
  readonly norm: LayerNorm;
  readonly head: Linear;
  /**
   * The attention backend of every forward ("auto": the wasm kernels where they run; the feed-forward layers follow
   * the global choice). Every backend is deterministic, so a seed gives the same model bit for bit on any machine
   * and any thread count, as long as the same backend runs.
   */
  backend: BackendChoice = 'auto';
  #pe: Tensor | null = null;

  /**
   * The head that training asks to attend from "it" to the referent (an auxiliary loss on its weights, as in LISA,
   * Strubell et al. 2018): head 0 of the last layer. docs/LEARNING.md says why, and what happens without it.
   */
  get corefHead(): { layer: number; head: number } {
    return { layer: this.config.numHiddenLayers - 1, head: 0 };
  }

  /** The weight of that loss in the training that made this model (0: no head was supervised). */
  attentionLoss = 0;

  /** Parameters are drawn from one stream seeded by `seed`, in the order the modules are built. */
  constructor(config: Partial<CorefModelConfig & LegacyCorefConfig> = {}, seed = 0) {
    super('CorefModel');
    const c: CorefModelConfig = {
      vocabSize: config.vocabSize ?? DEFAULT_CONFIG.vocabSize,
      hiddenSize: config.hiddenSize ?? config.dModel ?? DEFAULT_CONFIG.hiddenSize,
      numAttentionHeads: config.numAttentionHeads ?? config.numHeads ?? DEFAULT_CONFIG.numAttentionHeads,
      numHiddenLayers: config.numHiddenLayers ?? config.numLayers ?? DEFAULT_CONFIG.numHiddenLayers,
      intermediateSize: config.intermediateSize ?? config.dimFeedforward ?? DEFAULT_CONFIG.intermediateSize,
    };
    for (const [name, v] of Object.entries(c)) {
      if (!Number.isSafeInteger(v) || v < 1) throw new ArgumentError(`CorefModel: config.${name} must be a positive integer; got ${describe(v)}`);
    }
    const { hiddenSize: D, numAttentionHeads: H } = c;
    if (D % H !== 0) {
      throw new ArgumentError(`CorefModel: config.hiddenSize (${D}) must be divisible by config.numAttentionHeads (${H})`);
    }
    this.config = Object.freeze({ ...c, numLayers: c.numHiddenLayers, numHeads: H });
    const rng = new Rng(seed);
    this.embed = this.addModule('embed', new Embedding(c.vocabSize, D, { seed: rng }));
    const layers: TransformerEncoderLayer[] = [];
    for (let l = 0; l < c.numHiddenLayers; l++) {
      const shape = { hiddenSize: D, numAttentionHeads: H, intermediateSize: c.intermediateSize };
      layers.push(this.addModule(`layers.${l}`, new TransformerEncoderLayer({ ...shape, dropout: 0, seed: rng })));
    }
    this.layers = layers;
    this.norm = this.addModule('norm', new LayerNorm(D));
    this.head = this.addModule('head', new Linear(D, c.vocabSize, { seed: rng }));
  }

  /** PE [N, D], grown on demand (the table does not depend on its length). */
  private positions(N: number): Tensor {
    const D = this.config.hiddenSize;
    if (this.#pe === null || this.#pe.shape[0] < N) this.#pe = sinusoidalPositionalEncoding(Math.max(N, 32), D);
    return new Tensor(this.#pe.data.subarray(0, N * D), [N, D]); // [N, D]
  }

  /**
   * embed(ids) + PE: ids [B, N] → [B, N, D]. No √D scale (Vaswani et al. §3.4): the N(0, 1) rows of the embedding
   * are already as large as PE's.
   */
  private inputs(ids: Tensor): Var {
    const N = ids.shape[ids.rank - 1];
    return add(this.embed.forward(ids), this.positions(N)); // [B, N, D]
  }

  /**
   * Logits at the pronoun of each sentence of a batch, and the coreference head's scores from the pronoun:
   * ids [B, N], mask [B, N] (1 = real token) → logits [B, V], pointer [B, N]. This is the training path (recorded
   * for autograd). softmax(pointer) is the attention weight row of "it" in {@link corefHead}; padded keys get
   * -1e9 instead of -Infinity so that a cross-entropy over the row stays finite.
   */
  forward(batch: CorefBatch): { logits: Var; pointer: Var } {
    const { batchSize: B, length: N } = batch;
    const D = this.config.hiddenSize;
    const ids = new Tensor(Float32Array.from(batch.ids), [B, N]); // [B, N]
    const keyPadding = new Tensor(Float32Array.from(batch.mask), [B, 1, 1, N]); // [B, 1, 1, S]
    // The pronoun rows of a [B, N, D] state, gathered as an embedding lookup into its [B·N, D] table.
    const rows = new Tensor(Float32Array.from(batch.pronoun, (p, b) => b * N + p), [B]); // [B]
    const atPronoun = (x: Var) => embedding(reshape(x, [B * N, D]), rows); // [B, D]
    let x = this.inputs(ids); // [B, N, D]
    let pointer: Var | null = null;
    this.layers.forEach((layer, l) => {
      if (l === this.layers.length - 1) pointer = this.corefScores(layer, x, atPronoun, batch.mask, B, N);
      x = layer.forward(x, { mask: keyPadding, backend: this.backend }); // [B, N, D]
    });
    const logits = this.head.forward(this.norm.forward(atPronoun(x))); // [B, V]
    return { logits, pointer: pointer! };
  }

  /**
   * The scaled scores q_it · k_j / √d of the coreference head, recomputed from the layer's input x [B, N, D] with
   * the head's rows of the packed projection, exactly as its self-attention computes them: → [B, N].
   */
  private corefScores(
    layer: TransformerEncoderLayer,
    x: Var,
    atPronoun: (x: Var) => Var,
    mask: Uint8Array,
    B: number,
    N: number,
  ): Var {
    const { hiddenSize: D, numAttentionHeads: H } = this.config;
    const d = D / H;
    const attn = layer.selfAttn;
    const w = attn.inProjWeightParam!; // [3D, D]: q, k, v rows
    const bias = attn.inProjBiasParam!; // [3D]
    const h = layer.norm1.forward(x); // [B, N, D]
    const q = linear(atPronoun(h), narrow(w, 0, this.corefHead.head * d, d), narrow(bias, 0, this.corefHead.head * d, d)); // [B, d]
    const k = linear(h, narrow(w, 0, D + this.corefHead.head * d, d), narrow(bias, 0, D + this.corefHead.head * d, d)); // [B, N, d]
    const scores = mul(matmul(reshape(q, [B, 1, d]), transpose(k)), 1 / Math.sqrt(d)); // [B, 1, N]
    const blocked = new Tensor(Float32Array.from(mask, (m) => (m === 0 ? -1e9 : 0)), [B, N]); // [B, N]
    return add(reshape(scores, [B, N]), blocked); // [B, N]
  }

  /**
   * One sentence with every attention step kept: ids [N] → per-layer traces and the logits [V] at `position`.
   * The layers run as TransformerEncoderLayer.forward does (pre-norm, residuals), with MultiHeadAttention's
   * inference path so that its trace can be kept; the test checks that both paths agree.
   */
  trace(ids: readonly number[], position: number): CorefTrace {
    const N = ids.length;
    if (!Number.isSafeInteger(position) || position < 0 || position >= N) {
      throw new ArgumentError(`CorefModel.trace: position must be in [0, N) with N = ${N}; got ${describe(position)}`);
    }
    return noGrad(() => {
      let x = this.inputs(new Tensor(Float32Array.from(ids), [N])); // [N, D]
      const traces: MultiHeadAttentionTrace[] = [];
      for (const layer of this.layers) {
        const h = layer.norm1.forward(x).value; // [N, D]
        const { output, trace } = layer.selfAttn.forward(h, h, h, { trace: true, backend: this.backend });
        traces.push(trace!);
        const attended = add(x, output); // [N, D]
        x = add(attended, layer.ff.forward(layer.norm2.forward(attended))); // [N, D]
      }
      const D = this.config.hiddenSize;
      const h = new Tensor(x.value.data.slice(position * D, (position + 1) * D), [D]); // [D]
      const logits = this.head.forward(this.norm.forward(h)).value.data; // [V]
      return { layers: traces, logits: Float32Array.from(logits) };
    });
  }

  /** The model as safetensors bytes, with its config and vocabulary (and `metadata`) in the header. */
  toBytes(metadata: Record<string, string> = {}): Uint8Array {
    return saveCheckpoint(this, {
      metadata: { ...metadata, format: 'qkv.coref', config: JSON.stringify(configOf(this.config)), vocabulary: JSON.stringify(VOCAB.tokens) },
    });
  }

  /**
   * A model from {@link toBytes}' bytes. The stored vocabulary must equal this build's VOCAB, since ids are
   * positions in it.
   * @throws FormatError when the file is not a coreference model or its vocabulary differs.
   */
  static fromBytes(bytes: Uint8Array, where = 'CorefModel.fromBytes'): CorefModel {
    const meta = readSafetensorsMetadata(bytes);
    if (meta.format !== 'qkv.coref' || meta.config === undefined) {
      throw new FormatError(`${where}: not a qkv coreference model (metadata format is ${describe(meta.format)}); write one with \`qkv train\``);
    }
    const config = JSON.parse(meta.config) as Partial<CorefModelConfig & LegacyCorefConfig>; // old files: old names
    const vocabulary = meta.vocabulary === undefined ? null : (JSON.parse(meta.vocabulary) as string[]);
    if (vocabulary === null || vocabulary.length !== VOCAB.size || vocabulary.some((t, i) => t !== VOCAB.tokens[i])) {
      throw new FormatError(
        `${where}: the model's vocabulary (V = ${vocabulary?.length ?? 'missing'}) is not this version's (V = ${VOCAB.size}); retrain it with \`qkv train\``,
      );
    }
    const model = new CorefModel(config);
    loadCheckpoint(model, bytes);
    model.attentionLoss = Number(meta.attentionLoss ?? 0) || 0;
    return model.eval();
  }
}

/** The config as stored: the current names only. */
function configOf(c: CorefModelConfig): CorefModelConfig {
  const { vocabSize, hiddenSize, numAttentionHeads, numHiddenLayers, intermediateSize } = c;
  return { vocabSize, hiddenSize, numAttentionHeads, numHiddenLayers, intermediateSize };
}

/** Where "it" and its two candidate nouns are in a sentence, or why the model makes no prediction for it. */
export type CandidatesResult = { pronoun: number; candidates: [number, number] } | { note: string };

/**
 * The pronoun and the candidates: the sentence must have exactly one "it" and exactly two nouns of the lexicon
 * (in any order; the model picks whichever it reads as the referent).
 */
export function findCandidates(tokens: readonly string[]): CandidatesResult {
  const pronouns = tokens.flatMap((t, i) => (t === 'it' ? [i] : []));
  const nouns = tokens.flatMap((t, i) => (nounClass(t) === undefined ? [] : [i]));
  if (pronouns.length !== 1) return { note: `no prediction: the sentence must contain "it" exactly once (found ${pronouns.length})` };
  if (nouns.length !== 2) {
    const found = nouns.length === 0 ? 'none' : nouns.map((i) => `"${tokens[i]}"`).join(', ');
    return { note: `no prediction: the sentence must name exactly two nouns for "it" to choose from (found ${found})` };
  }
  return { pronoun: pronouns[0], candidates: [nouns[0], nouns[1]] };
}

/** Softmax over the two candidates' logits: the vocabulary softmax renormalised over them. */
export function candidateProbabilities(logits: ArrayLike<number>, ids: readonly number[]): number[] {
  const max = Math.max(...ids.map((id) => logits[id]));
  const e = ids.map((id) => Math.exp(logits[id] - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / total);
}

/**
 * Explains a sentence with the model: its tokens, every layer × head of attention (queries, keys, values, scores,
 * weights, outputs) and, when the sentence has one "it" and two nouns, the predicted referent.
 * @throws UnknownWordError (E_ARGUMENT) naming each unknown word and the nearest known words.
 * @example explainSentence(model, 'The cat sat on the mat because it was tired.').prediction // referent 1 ("cat")
 */
export function explainSentence(model: CorefModel, sentence: string): ExplainJson {
  const fn = 'explainSentence';
  if (!(model instanceof CorefModel)) throw new ArgumentError(`${fn}: model must be a CorefModel; got ${describe(model)}`);
  const tokens = tokenize(sentence);
  if (tokens.length === 0) throw new ArgumentError(`${fn}: sentence must have at least one word; got ${JSON.stringify(sentence)}`);
  const ids = VOCAB.encode(tokens, fn);
  const found = findCandidates(tokens);
  const position = 'pronoun' in found ? found.pronoun : 0;
  const { layers, logits } = model.trace(ids, position);
  const { hiddenSize: D, numAttentionHeads: H, numHiddenLayers: L } = model.config;
  const doc: ExplainJson = {
    format: 'qkv.explain',
    version: 1,
    sentence,
    tokens,
    model: { layers: L, heads: H, embedDim: D, headDim: D / H },
    layers: layers.map((t) => ({ heads: headsToJson(t) })),
  };
  if (model.attentionLoss > 0) doc.model.supervisedHead = model.corefHead;
  if ('pronoun' in found) {
    const probabilities = candidateProbabilities(logits, found.candidates.map((i) => ids[i]));
    doc.prediction = {
      pronoun: found.pronoun,
      candidates: [...found.candidates],
      probabilities,
      referent: found.candidates[probabilities[1] > probabilities[0] ? 1 : 0],
    };
  }
  return doc;
}

/** For each row of a batch's logits [B, V]: 1 when the referent's logit beats the other candidate's, else 0. */
export function batchCorrect(logits: Var | Tensor, batch: CorefBatch): Uint8Array {
  const V = logits.shape[1];
  const data = logits.data;
  const N = batch.length;
  const right = new Uint8Array(batch.batchSize);
  for (let b = 0; b < batch.batchSize; b++) {
    const idOf = (i: number) => batch.ids[b * N + batch.candidates[2 * b + i]];
    const correct = idOf(batch.answer[b]);
    const other = idOf(1 - batch.answer[b]);
    right[b] = data[b * V + correct] > data[b * V + other] ? 1 : 0;
  }
  return right;
}
