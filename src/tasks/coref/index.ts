// The public API of the coreference task, `qkv/coref`, curated by hand like src/index.ts: a small encoder that
// learns what "it" refers to in Winograd-style sentences ("The cat sat on the mat because it was tired." → "cat"),
// its data, training, evaluation and head analysis. It is a demo built on the library, so it lives behind its own
// subpath and the root (`qkv`) does not export it. docs/LEARNING.md tells its story.
//
// Everything here runs in browsers too, except loadCorefModel, which reads a file with Node's fs (imported when it is
// called, so a bundle that does not call it stays free of Node code); a page fetches the bytes and calls
// CorefModel.fromBytes, as web/src/worker.ts does.

// the model: shape, forward, explanation
export {
  CorefModel,
  DEFAULT_CONFIG,
  type CorefModelConfig,
  type CorefModelShape,
  type CorefTrace,
  explainSentence,
  findCandidates,
  type CandidatesResult,
} from './model.js';

// the bundled model, and model files written by `qkv train` (Node only)
export { BUNDLED_MODEL_URL, loadCorefModel } from './load.js';

// training and evaluation
export {
  trainCoref,
  trainedModelBytes,
  evaluateCoref,
  type TrainOptions,
  type TrainProgress,
  type TrainResult,
  type Evaluation,
} from './train.js';

// the data: sentences with their answers, and the splits (fixed pairs and templates per split)
export {
  DEFAULT_SENTENCE,
  HELD_OUT_SENTENCES,
  generateSplits,
  labelSentence,
  type GenerateOptions as GenerateSplitsOptions,
  type CorefExample,
  type CorefSplits,
  type HeldOutSentence,
  type Split,
} from './data.js';

// the vocabulary: tokenizing, and the error that names unknown words with their nearest known words
export { VOCAB, Vocabulary, UnknownWordError, tokenize, nounClass, type NounClass } from './vocab.js';

// what each head learned, measured on held-out sentences
export {
  analyzeHeads,
  bestCorefHead,
  headTable,
  RELATION_LABELS,
  type HeadRelations,
  type HeadStats,
} from './analysis.js';
