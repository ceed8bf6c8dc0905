// The one place the web code imports qkv: its public API (src/index.ts).

export { isQkvError, CorefModel, explainSentence, parseExplainJson, type ExplainJson, type HeadTraceJson } from '../../src/index.js';
