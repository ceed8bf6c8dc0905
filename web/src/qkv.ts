// The one place the web code imports qkv: its public entry points, the root (src/index.ts, `qkv`) and the
// coreference task (src/tasks/coref/index.ts, `qkv/coref`). The page's thread imports types only; the workers import
// code, and Vite keeps what they use (loadCorefModel, the Node-only loader, is never used, so neither node:fs nor the
// bundled model file reach the page: tests/browser/viewer.test.ts checks).

export {
  type ExplainJson,
  type HeadTraceJson,
  type ModelFiles,
  type AttentionRun,
  PretrainedModel,
  blobFiles,
  isQkvError,
  parseExplainJson,
  traceModelAttention,
  buildAttentionJson,
  summarizeHead,
  topKeys,
  HEAD_STATS,
} from '../../src/index.js';
export { CorefModel, explainSentence } from '../../src/tasks/coref/index.js';
