// PretrainedTokenizer: the tokenizer of a Hugging Face model folder (tokenizer.json, and tokenizer_config.json when
// present), for GPT-2, BERT, Llama 2/3, Mistral and Qwen2/3. It mirrors HF tokenizers (the Rust crate behind
// transformers' fast tokenizers): `Tokenizer::encode` (normalizer → pre-tokenizer → model, each text of a pair on its
// own, then the post-processor), the post-processors of tokenizers/src/processors (TemplateProcessing, BertProcessing,
// RobertaProcessing, ByteLevel, Sequence) with their token type ids, and `Tokenizer::decode`; plus transformers'
// `clean_up_tokenization_spaces` step of PreTrainedTokenizerBase.decode.
//
// The normalizer, pre-tokenizer, model and decoder run in the npm package @huggingface/tokenizers (pure JS, no Node
// imports, so it also bundles for the browser). qkv does three things around it:
//   - it runs the post-processor itself. The package drops the second text of a pair under a ByteLevel post-processor
//     (GPT-2, Llama 3.0, Qwen), gives no type ids without one, gives RoBERTa pairs type id 1 where HF gives 0, and
//     takes TemplateProcessing's special tokens by name instead of by their listed ids.
//   - it refuses, as a ModelError, the components that the package reads differently from HF tokenizers (so that no
//     model silently gets other ids): a Punctuation pre-tokenizer other than "Contiguous", Whitespace (ASCII-only \w
//     there), Split with a behavior other than Isolated / Removed (or Isolated inverted, or Removed on a string
//     pattern), Metaspace with `split` true, and the types the package lacks (WordLevel, CharDelimiterSplit, ...).
//   - it decodes a Metaspace decoder's output itself, as HF does (every "▁" of the first token dropped), and reads
//     lone surrogates in a text as U+FFFD, as TextEncoder and HF's Node binding do.
// None of this touches the components of the five families above, which give HF's ids on every case tested.

import { Tokenizer as HfTokenizerClass } from '@huggingface/tokenizers';
import { ArgumentError, FormatError, ModelError, QkvError } from '../core/errors.js';
import { describe } from '../core/tensor.js';

type Json = Record<string, unknown>;

/**
 * The part of @huggingface/tokenizers 0.2.0's Tokenizer that qkv calls. Declared here because the package's own .d.ts
 * files re-export with extensionless relative paths, which TypeScript's NodeNext resolution rejects (the import is
 * then `any`).
 */
interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[] };
  decode(ids: number[], options: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string;
  id_to_token(id: number): string | undefined;
  token_to_id(token: string): number | undefined;
  model: { vocab: ArrayLike<string | undefined> } | null;
}
const Tokenizer = HfTokenizerClass as unknown as new (tokenizerJson: Json, tokenizerConfig: Json) => HfTokenizer;

/** Options of {@link PretrainedTokenizer.encode} and {@link PretrainedTokenizer.encodeWithTypes}. */
export interface EncodeOptions {
  /**
   * Run the post-processor's special tokens in: BOS for Llama, `[CLS] … [SEP]` for BERT. Type ids are set either way.
   * @default true
   */
  addSpecialTokens?: boolean;
}

/** Options of {@link PretrainedTokenizer.decode}. */
export interface DecodeOptions {
  /**
   * Leave out the added tokens marked special (`<|begin_of_text|>`, `[CLS]`, `<|im_end|>`, ...).
   * @default false
   */
  skipSpecialTokens?: boolean;
  /**
   * Remove the space before punctuation and English contractions (" ," → ",", " n't" → "n't"), as transformers does.
   * Lossy: "a , b" comes back as "a, b".
   * @default tokenizer_config.json's clean_up_tokenization_spaces, else false (transformers 5's default)
   */
  cleanUpTokenizationSpaces?: boolean;
}

/** The ids of the roles that tokenizer_config.json (or the added tokens) gives; a role the tokenizer lacks is absent. */
export interface SpecialTokenIds {
  bos?: number;
  eos?: number;
  pad?: number;
  unk?: number;
  cls?: number;
  sep?: number;
  mask?: number;
}

/** A text or a pair encoded for BERT-style models: `ids[i]` has token type `tokenTypeIds[i]` (0 for A, 1 for B). */
export interface EncodingWithTypes {
  ids: number[];
  tokenTypeIds: number[];
}

/** One encoded sequence inside the post-processor, as in HF's `Encoding`: ids and their type ids. */
interface Segment {
  ids: number[];
  types: number[];
}

const MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram'];
const NORMALIZERS = ['BertNormalizer', 'Precompiled', 'Sequence', 'Replace', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Strip', 'StripAccents', 'Lowercase', 'Prepend'];
const PRE_TOKENIZERS = ['BertPreTokenizer', 'Sequence', 'Whitespace', 'WhitespaceSplit', 'Metaspace', 'ByteLevel', 'Split', 'Punctuation', 'Digits', 'Replace', 'FixedLength'];
const POST_PROCESSORS = ['TemplateProcessing', 'BertProcessing', 'RobertaProcessing', 'ByteLevel', 'Sequence'];
const DECODERS = ['ByteLevel', 'WordPiece', 'Metaspace', 'BPEDecoder', 'CTC', 'Sequence', 'Replace', 'Fuse', 'Strip', 'ByteFallback'];

/** Conventional contents of each role, looked for among the special added tokens when tokenizer_config.json is silent. */
const CONVENTIONAL: Record<keyof SpecialTokenIds, readonly string[]> = {
  bos: ['<s>', '<|begin_of_text|>', '<bos>', '<|startoftext|>'],
  eos: ['</s>', '<|end_of_text|>', '<eos>', '<|endoftext|>'],
  pad: ['<pad>', '[PAD]'],
  unk: ['<unk>', '[UNK]'],
  cls: ['[CLS]', '<cls>'],
  sep: ['[SEP]', '<sep>'],
  mask: ['[MASK]', '<mask>'],
};

/** describe(), which calls undefined "undefined undefined", with undefined called undefined. */
const given = (v: unknown): string => (v === undefined ? 'undefined' : describe(v));
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/**
 * A Hugging Face tokenizer read from tokenizer.json (+ tokenizer_config.json): encode and decode with special tokens,
 * the post-processor and token type ids, and printable pieces per id.
 * @example
 * const tok = PretrainedTokenizer.fromJson(JSON.parse(json), JSON.parse(configJson), './Llama-3.1-8B');
 * tok.encode('Hello world'); // [128000, 9906, 1917]
 * tok.decode([128000, 9906, 1917], { skipSpecialTokens: true }); // 'Hello world'
 */
export class PretrainedTokenizer {
  /** The number of ids: one more than the largest (added tokens included), so every id is in [0, vocabSize). */
  readonly vocabSize: number;
  /** The ids of bos, eos, pad, unk, cls, sep and mask, where the tokenizer defines them. */
  readonly specialIds: Readonly<SpecialTokenIds>;
  /** The tokenizer model: 'BPE', 'WordPiece' or 'Unigram'. */
  readonly modelType: string;

  readonly #inner: HfTokenizer;
  readonly #postProcessor: Json | null;
  readonly #cleanUp: boolean;
  readonly #added: ReadonlyMap<number, { content: string; special: boolean }>;
  readonly #pieces: PieceRules;
  readonly #metaspaceDecoder: { replacement: string; prependScheme: string } | null;
  /** The tokenizer.json path, for errors. */
  readonly #file: string;

  private constructor(inner: HfTokenizer, json: Json, config: Json, modelType: string, file: string) {
    this.#inner = inner;
    this.#file = file;
    this.modelType = modelType;
    this.#postProcessor = isObject(json.post_processor) ? json.post_processor : null;
    this.#cleanUp = config.clean_up_tokenization_spaces === true;
    const added = new Map<number, { content: string; special: boolean }>();
    for (const t of json.added_tokens as Json[]) added.set(t.id as number, { content: t.content as string, special: t.special === true });
    this.#added = added;
    this.vocabSize = inner.model?.vocab.length ?? 0;
    this.#pieces = pieceRules(json);
    const decoder = isObject(json.decoder) && json.decoder.type === 'Metaspace' ? json.decoder : null;
    this.#metaspaceDecoder = decoder && {
      replacement: typeof decoder.replacement === 'string' ? decoder.replacement : '▁',
      prependScheme: typeof decoder.prepend_scheme === 'string' ? decoder.prepend_scheme : decoder.add_prefix_space === false ? 'never' : 'always',
    };
    this.specialIds = this.#findSpecialIds(json, config);
  }

  /**
   * Reads a tokenizer from its parsed files.
   * @param tokenizerJson the parsed tokenizer.json
   * @param tokenizerConfig the parsed tokenizer_config.json, or undefined when the folder has none
   * @param where the folder, to name the files in errors (without it they are named "tokenizer.json")
   * @throws ArgumentError when an argument is not an object; FormatError for a malformed tokenizer.json; ModelError
   *   (with `file` and `key`) for a model type or component that qkv does not support.
   * @example PretrainedTokenizer.fromJson(JSON.parse(readFileSync('gpt2/tokenizer.json', 'utf8')), undefined, 'gpt2')
   */
  static fromJson(tokenizerJson: unknown, tokenizerConfig?: unknown, where?: string): PretrainedTokenizer {
    const fn = 'PretrainedTokenizer.fromJson';
    if (where !== undefined && typeof where !== 'string') throw new ArgumentError(`${fn}: where must be a string naming the folder; got ${given(where)}`);
    if (!isObject(tokenizerJson)) {
      throw new ArgumentError(`${fn}: tokenizerJson must be the parsed tokenizer.json, an object; got ${given(tokenizerJson)}`);
    }
    if (tokenizerConfig !== undefined && tokenizerConfig !== null && !isObject(tokenizerConfig)) {
      throw new ArgumentError(`${fn}: tokenizerConfig must be the parsed tokenizer_config.json (an object) or undefined; got ${given(tokenizerConfig)}`);
    }
    const config: Json = tokenizerConfig ?? {};
    const file = where === undefined ? 'tokenizer.json' : `${where.replace(/\/+$/, '')}/tokenizer.json`;
    const json = checkTokenizerJson(tokenizerJson, file);
    const modelType = (json.model as Json).type as string;
    let inner: HfTokenizer;
    try {
      // The post-processor runs in qkv (see the file header), so the package gets none.
      inner = new Tokenizer({ ...json, post_processor: null }, config);
    } catch (e) {
      const message = (e as Error).message;
      if (e instanceof SyntaxError) {
        throw new ModelError(`${file}: a regular expression in it is invalid or cannot be translated to JavaScript by @huggingface/tokenizers (${message})`, { file: 'tokenizer.json' });
      }
      throw new FormatError(`${file}: @huggingface/tokenizers cannot read it (${message})`);
    }
    return new PretrainedTokenizer(inner, json, config, modelType, file);
  }

  /**
   * The ids of a text, with the post-processor's special tokens (BOS for Llama, `[CLS] … [SEP]` for BERT) unless
   * `addSpecialTokens` is false. Special tokens written in the text (`<|eot_id|>`) are read as those tokens.
   * @example tok.encode('Hello world', { addSpecialTokens: false }) // [9906, 1917] for Llama 3
   */
  encode(text: string, options?: EncodeOptions): number[] {
    return this.#encode('PretrainedTokenizer.encode', text, undefined, options).ids;
  }

  /**
   * The ids and token type ids of one text or a pair, as BERT takes them: `[CLS] A [SEP] B [SEP]` with types
   * `0 0… 0 1… 1`. Without a post-processor the types are 0 for A and 1 for B, as in HF tokenizers.
   * @example tok.encodeWithTypes('hello', 'world') // { ids: [101, 7592, 102, 2088, 102], tokenTypeIds: [0, 0, 0, 1, 1] }
   */
  encodeWithTypes(text: string, pair?: string, options?: EncodeOptions): EncodingWithTypes {
    const { ids, types } = this.#encode('PretrainedTokenizer.encodeWithTypes', text, pair, options);
    return { ids, tokenTypeIds: types };
  }

  /**
   * The text of some ids. Byte-level and byte-fallback pieces are joined before UTF-8 decoding, so a character split
   * over several ids comes back whole; an incomplete one decodes as U+FFFD.
   * @param ids token ids, each an integer in [0, vocabSize)
   * @example tok.decode(tok.encode('Hello world'), { skipSpecialTokens: true }) // 'Hello world'
   */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string {
    const fn = 'PretrainedTokenizer.decode';
    const list = this.#checkIds(fn, ids);
    const skip = optionalBoolean(fn, options, 'skipSpecialTokens') ?? false;
    const cleanUp = optionalBoolean(fn, options, 'cleanUpTokenizationSpaces') ?? this.#cleanUp;
    if (list.length === 0) return '';
    return this.#wrap(fn, () => {
      if (this.#metaspaceDecoder === null) return this.#inner.decode(list, { skip_special_tokens: skip, clean_up_tokenization_spaces: cleanUp });
      // HF's Metaspace decoder: "▁" → " ", except in the first token, where every "▁" goes (unless the scheme is never).
      const { replacement, prependScheme } = this.#metaspaceDecoder;
      const tokens = list.filter((id) => !(skip && this.#added.get(id)?.special)).map((id) => this.#inner.id_to_token(id) as string);
      const text = tokens.map((t, i) => t.replaceAll(replacement, i === 0 && prependScheme !== 'never' ? '' : ' ')).join('');
      return cleanUp ? cleanUpTokenization(text) : text;
    });
  }

  /**
   * One printable piece per id, for heatmaps and the viewer: byte-level pieces decoded ("Ġcat" → " cat", "Ċ" → "\n"),
   * "▁" shown as a space, WordPiece's "##" kept, special tokens as written. Bytes that do not make a whole UTF-8
   * character on their own (a piece of an emoji) are shown as `<0xF0>`; control characters are escaped (`\n`, `\t`,
   * `\r`, `\x00`), so every piece fits on one line.
   * @example tok.tokenStrings(tok.encode('Hi\n😀', { addSpecialTokens: false })) // ['Hi', '\\n', '<0xF0><0x9F><0x98>', '<0x80>']
   */
  tokenStrings(ids: ArrayLike<number>): string[] {
    const list = this.#checkIds('PretrainedTokenizer.tokenStrings', ids);
    return list.map((id) => {
      const added = this.#added.get(id);
      return escapeControls(added ? added.content : piece(this.#inner.id_to_token(id) as string, this.#pieces));
    });
  }

  /**
   * The token string of an id as the vocabulary spells it ("Ġcat", "##ing", "<|eot_id|>"), or undefined when no token
   * has that id.
   * @example tok.idToToken(9906) // 'Hello'
   */
  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id)) throw new ArgumentError(`PretrainedTokenizer.idToToken: id must be an integer; got ${given(id)}`);
    return this.#inner.id_to_token(id) ?? undefined;
  }

  /**
   * The id of a token string as the vocabulary spells it, or undefined when the vocabulary lacks it.
   * @example tok.tokenToId('<|begin_of_text|>') // 128000
   */
  tokenToId(token: string): number | undefined {
    if (typeof token !== 'string') throw new ArgumentError(`PretrainedTokenizer.tokenToId: token must be a string; got ${given(token)}`);
    return this.#inner.token_to_id(token);
  }

  #encode(fn: string, text: string, pair: string | undefined, options: EncodeOptions | undefined): { ids: number[]; types: number[] } {
    if (typeof text !== 'string') throw new ArgumentError(`${fn}: text must be a string; got ${given(text)}`);
    if (pair !== undefined && typeof pair !== 'string') throw new ArgumentError(`${fn}: pair must be a string or undefined; got ${given(pair)}`);
    const add = optionalBoolean(fn, options, 'addSpecialTokens') ?? true;
    return this.#wrap(fn, () => {
      // As HF's Tokenizer::encode: each text on its own, A with type id 0 and B with 1, then the post-processor.
      const segments: Segment[] = [this.#raw(text, 0)];
      if (pair !== undefined) segments.push(this.#raw(pair, 1));
      const out = postProcess(this.#postProcessor, segments, add);
      return { ids: out.flatMap((s) => s.ids), types: out.flatMap((s) => s.types) };
    });
  }

  /** The ids of one text, before the post-processor. */
  #raw(text: string, type: number): Segment {
    const ids = this.#inner.encode(wellFormed(text), { add_special_tokens: false }).ids;
    return { ids, types: ids.map(() => type) };
  }

  #checkIds(fn: string, ids: ArrayLike<number>): number[] {
    if (!Array.isArray(ids) && !(ArrayBuffer.isView(ids) && !(ids instanceof DataView))) {
      throw new ArgumentError(`${fn}: ids must be an array of token ids; got ${given(ids)}`);
    }
    const list = Array.from(ids as ArrayLike<number>);
    for (let i = 0; i < list.length; i++) {
      const id = list[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.#inner.id_to_token(id) === undefined) {
        throw new ArgumentError(`${fn}: ids[${i}] must be a token id, an integer in [0, ${this.vocabSize}); got ${given(id)}`);
      }
    }
    return list;
  }

  /** Runs a call into the package; anything it throws on a file it has accepted comes back as a FormatError. */
  #wrap<T>(fn: string, body: () => T): T {
    try {
      return body();
    } catch (e) {
      if (e instanceof QkvError) throw e;
      throw new FormatError(`${fn}: @huggingface/tokenizers failed on ${this.#file} (${(e as Error).message})`);
    }
  }

  #findSpecialIds(json: Json, config: Json): SpecialTokenIds {
    const out: SpecialTokenIds = {};
    const model = json.model as Json;
    const post = this.#postProcessor;
    for (const role of Object.keys(CONVENTIONAL) as (keyof SpecialTokenIds)[]) {
      const key = `${role}_token`;
      let id: number | undefined;
      if (key in config) {
        // tokenizer_config.json decides, even when it says null (Qwen has no BOS). Older files hold an AddedToken object.
        const v = config[key];
        const content = typeof v === 'string' ? v : isObject(v) && typeof v.content === 'string' ? v.content : undefined;
        id = content === undefined ? undefined : this.#inner.token_to_id(content);
      } else {
        if (role === 'unk' && typeof model.unk_token === 'string') id = this.#inner.token_to_id(model.unk_token);
        if (role === 'unk' && isId(model.unk_id)) id = model.unk_id;
        if ((role === 'cls' || role === 'sep') && post && (post.type === 'BertProcessing' || post.type === 'RobertaProcessing')) {
          const pairOf = post[role];
          if (Array.isArray(pairOf) && isId(pairOf[1])) id = pairOf[1];
        }
        if (id === undefined) {
          for (const [tokenId, t] of this.#added) if (t.special && CONVENTIONAL[role].includes(t.content)) id = id ?? tokenId;
        }
      }
      if (id !== undefined) out[role] = id;
    }
    return Object.freeze(out);
  }
}

/** Validates what qkv and the package read from tokenizer.json, and returns it with the defaults HF tokenizers fills. */
function checkTokenizerJson(raw: Json, file: string): Json {
  const bad = (key: string, message: string): never => {
    throw new FormatError(`${file}: ${key} ${message}`);
  };
  const unsupported = (key: string, message: string): never => {
    throw new ModelError(`${file}: ${key} ${message}`, { file: 'tokenizer.json', key });
  };
  const model = raw.model;
  if (!isObject(model)) return bad('model', `must be an object (the tokenizer model); got ${given(model)}`);
  let type = model.type;
  if (type === undefined) {
    // Old files name no type; HF tokenizers tells the models apart by their fields.
    type = Array.isArray(model.vocab) ? 'Unigram' : 'merges' in model ? 'BPE' : 'continuing_subword_prefix' in model ? 'WordPiece' : undefined;
    if (type === undefined) return unsupported('model.type', `is missing and the model's fields match none of ${MODEL_TYPES.join(', ')}`);
  }
  if (typeof type !== 'string' || !MODEL_TYPES.includes(type)) {
    return unsupported('model.type', `must be one of ${MODEL_TYPES.join(', ')}; got ${JSON.stringify(type)}`);
  }
  const checked: Json = { ...model, type };
  if (type === 'Unigram') {
    if (!Array.isArray(model.vocab)) return bad('model.vocab', `must be an array of [piece, score] for a Unigram model; got ${given(model.vocab)}`);
    model.vocab.forEach((entry, i) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') bad(`model.vocab[${i}]`, `must be [piece, score]; got ${JSON.stringify(entry)}`);
    });
  } else {
    if (!isObject(model.vocab)) return bad('model.vocab', `must be an object of token → id; got ${given(model.vocab)}`);
    for (const [token, id] of Object.entries(model.vocab)) if (!isId(id)) bad(`model.vocab[${JSON.stringify(token)}]`, `must be an integer id ≥ 0; got ${given(id)}`);
    if (type === 'WordPiece') {
      checked.continuing_subword_prefix = typeof model.continuing_subword_prefix === 'string' ? model.continuing_subword_prefix : '##';
      checked.max_input_chars_per_word = isId(model.max_input_chars_per_word) ? model.max_input_chars_per_word : 100;
    } else {
      if (!Array.isArray(model.merges)) return bad('model.merges', `must be an array of merges; got ${given(model.merges)}`);
      model.merges.forEach((m, i) => {
        const ok = typeof m === 'string' ? m.includes(' ') : Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string';
        if (!ok) bad(`model.merges[${i}]`, `must be "a b" or ["a", "b"]; got ${JSON.stringify(m)}`);
      });
    }
  }
  const added = raw.added_tokens ?? [];
  if (!Array.isArray(added)) return bad('added_tokens', `must be an array; got ${given(added)}`);
  added.forEach((t, i) => {
    if (!isObject(t) || !isId(t.id) || typeof t.content !== 'string') bad(`added_tokens[${i}]`, `must be { id, content, ... } with an integer id and a string content; got ${JSON.stringify(t)}`);
  });
  const component = (key: string, value: unknown, known: readonly string[], check?: (c: Json, key: string) => void) => {
    if (value === null || value === undefined) return;
    if (!isObject(value) || typeof value.type !== 'string') return bad(key, `must be null or an object with a type; got ${given(value)}`);
    if (!known.includes(value.type)) return unsupported(`${key}.type`, `is ${JSON.stringify(value.type)}, which qkv does not support (it supports ${known.join(', ')})`);
    if (value.type === 'Sequence') {
      const field = { normalizer: 'normalizers', pre_tokenizer: 'pretokenizers', post_processor: 'processors', decoder: 'decoders' }[key.replace(/\..*/, '') as 'decoder'];
      const children = value[field];
      if (!Array.isArray(children)) return bad(`${key}.${field}`, `must be an array; got ${given(children)}`);
      children.forEach((child, i) => component(`${key}.${field}[${i}]`, child, known, check));
    } else {
      check?.(value, key);
    }
  };
  const divergent = (key: string, what: string) =>
    unsupported(key, `${what}, which @huggingface/tokenizers would split otherwise than HF tokenizers, so qkv refuses it rather than give other ids`);
  const pattern = (c: Json, key: string) => {
    if ((c.type === 'Replace' || c.type === 'Split') && !(isObject(c.pattern) && (typeof c.pattern.String === 'string' || typeof c.pattern.Regex === 'string'))) {
      bad(`${key}.pattern`, `must be { "String": ... } or { "Regex": ... }; got ${JSON.stringify(c.pattern)}`);
    }
  };
  component('normalizer', raw.normalizer, NORMALIZERS, pattern);
  component('pre_tokenizer', raw.pre_tokenizer, PRE_TOKENIZERS, (c, key) => {
    pattern(c, key);
    if (c.type === 'Whitespace') divergent(`${key}.type`, 'is "Whitespace" (whose \\w the package reads as ASCII only)');
    if (c.type === 'Punctuation' && c.behavior !== 'Contiguous') divergent(`${key}.behavior`, `is ${JSON.stringify(c.behavior ?? 'Isolated')} for a Punctuation pre-tokenizer`);
    if (c.type === 'Metaspace' && c.split !== false) divergent(`${key}.split`, 'is true (or missing) for a Metaspace pre-tokenizer');
    if (c.type === 'Metaspace' && c.prepend_scheme === undefined && c.add_prefix_space === false) divergent(`${key}.add_prefix_space`, 'is false with no prepend_scheme');
    if (c.type === 'Split') {
      const stringPattern = isObject(c.pattern) && typeof c.pattern.String === 'string';
      const ok = (c.behavior === 'Isolated' && c.invert !== true) || (c.behavior === 'Removed' && (c.invert === true || !stringPattern));
      if (!ok) divergent(`${key}.behavior`, `is ${JSON.stringify(c.behavior)} with invert ${c.invert === true} on a ${stringPattern ? 'string' : 'regex'} pattern for a Split pre-tokenizer`);
    }
  });
  component('post_processor', raw.post_processor, POST_PROCESSORS, (c, key) => {
    if (c.type === 'TemplateProcessing') checkTemplate(c, key, bad);
    if (c.type === 'BertProcessing' || c.type === 'RobertaProcessing') {
      for (const role of ['cls', 'sep']) {
        const v = c[role];
        if (!Array.isArray(v) || typeof v[0] !== 'string' || !isId(v[1])) bad(`${key}.${role}`, `must be [token, id]; got ${JSON.stringify(v)}`);
      }
    }
  });
  component('decoder', raw.decoder, DECODERS, pattern);
  return {
    ...raw,
    model: checked,
    added_tokens: added,
    normalizer: raw.normalizer ?? null,
    pre_tokenizer: raw.pre_tokenizer ?? null,
    post_processor: raw.post_processor ?? null,
    decoder: raw.decoder ?? null,
  };
}

/** A TemplateProcessing must list every special token that its templates name, with ids. */
function checkTemplate(c: Json, key: string, bad: (key: string, message: string) => never): void {
  const special = isObject(c.special_tokens) ? c.special_tokens : {};
  for (const which of ['single', 'pair']) {
    const template = c[which];
    if (which === 'pair' && (template === null || template === undefined)) continue;
    if (!Array.isArray(template)) bad(`${key}.${which}`, `must be an array of pieces; got ${given(template)}`);
    (template as unknown[]).forEach((p, i) => {
      const where = `${key}.${which}[${i}]`;
      if (isObject(p) && isObject(p.Sequence)) {
        if (p.Sequence.id !== 'A' && p.Sequence.id !== 'B') bad(`${where}.Sequence.id`, `must be "A" or "B"; got ${JSON.stringify(p.Sequence.id)}`);
      } else if (isObject(p) && isObject(p.SpecialToken)) {
        const name = p.SpecialToken.id;
        const entry = typeof name === 'string' && Object.hasOwn(special, name) ? special[name] : undefined;
        if (!isObject(entry) || !Array.isArray(entry.ids) || !entry.ids.every(isId)) {
          bad(`${key}.special_tokens`, `must list the special token ${JSON.stringify(name)} that ${where} names, with its ids`);
        }
      } else {
        bad(where, `must be { Sequence } or { SpecialToken }; got ${JSON.stringify(p)}`);
      }
    });
  }
}

/** HF tokenizers' post-processors (tokenizers/src/processors), on the encodings of A (and B), each with its type ids. */
function postProcess(config: Json | null, segments: Segment[], add: boolean): Segment[] {
  if (config === null) return segments;
  const typeId = (v: unknown) => (isId(v) ? v : 0);
  switch (config.type) {
    case 'ByteLevel': // only trims offsets
      return segments;
    case 'Sequence':
      return (config.processors as Json[]).reduce((s, p) => postProcess(p, s, add), segments);
    case 'BertProcessing': {
      if (!add) return segments;
      const cls = (config.cls as [string, number])[1];
      const sep = (config.sep as [string, number])[1];
      return segments.map((s, i) =>
        i === 0 ? { ids: [cls, ...s.ids, sep], types: [0, ...s.types, 0] } : { ids: [...s.ids, sep], types: [...s.types, 1] },
      );
    }
    case 'RobertaProcessing': {
      // "Roberta is weird, and every encoding is type_id=0" (processors/roberta.rs), with or without special tokens.
      const zero = segments.map((s) => ({ ids: s.ids, types: s.ids.map(() => 0) }));
      if (!add) return zero;
      const cls = (config.cls as [string, number])[1];
      const sep = (config.sep as [string, number])[1];
      return zero.map((s, i) => ({ ids: i === 0 ? [cls, ...s.ids, sep] : [sep, ...s.ids, sep], types: [0, ...s.types, 0] }));
    }
    case 'TemplateProcessing': {
      const template = (segments.length > 1 ? config.pair : config.single) as Json[] | null | undefined;
      // single is checked on reading; pair may be absent, and then a pair cannot be encoded.
      if (!Array.isArray(template)) throw new ArgumentError('PretrainedTokenizer.encodeWithTypes: pair must be undefined for this tokenizer, whose template has no pair form');
      const special = config.special_tokens as Record<string, { ids: number[] }>;
      const out: Segment = { ids: [], types: [] };
      for (const piece of template) {
        if (isObject(piece.Sequence)) {
          const s = segments[piece.Sequence.id === 'A' ? 0 : 1];
          if (s === undefined) continue;
          out.ids.push(...s.ids);
          out.types.push(...s.ids.map(() => typeId((piece.Sequence as Json).type_id)));
        } else if (add) {
          const token = piece.SpecialToken as Json;
          const ids = special[token.id as string].ids;
          out.ids.push(...ids);
          out.types.push(...ids.map(() => typeId(token.type_id)));
        }
      }
      return [out];
    }
    default:
      return segments;
  }
}

/** How one vocabulary entry is shown, from the decoder (or, without one, the pre-tokenizer). */
interface PieceRules {
  byteLevel: boolean;
  byteFallback: boolean;
  /** [from, to] string replacements, in decoder order. */
  replace: [string, string][];
}

function pieceRules(json: Json): PieceRules {
  const rules: PieceRules = { byteLevel: false, byteFallback: (json.model as Json).byte_fallback === true, replace: [] };
  const walk = (c: unknown, children: string) => {
    if (!isObject(c)) return;
    if (c.type === 'Sequence' && Array.isArray(c[children])) return (c[children] as unknown[]).forEach((x) => walk(x, children));
    if (c.type === 'ByteLevel') rules.byteLevel = true;
    if (c.type === 'ByteFallback') rules.byteFallback = true;
    if (c.type === 'Metaspace') rules.replace.push([typeof c.replacement === 'string' ? c.replacement : '▁', ' ']);
    if (c.type === 'BPEDecoder') rules.replace.push([typeof c.suffix === 'string' ? c.suffix : '</w>', ' ']);
    if (c.type === 'Replace' && isObject(c.pattern) && typeof c.pattern.String === 'string' && typeof c.content === 'string') {
      rules.replace.push([c.pattern.String, c.content]);
    }
  };
  if (isObject(json.decoder)) walk(json.decoder, 'decoders');
  else walk(json.pre_tokenizer, 'pretokenizers');
  return rules;
}

/** The text a vocabulary entry stands for; bytes that are no whole character alone are written <0xNN>. */
function piece(token: string, rules: PieceRules): string {
  const fallback = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
  if (rules.byteFallback && fallback) return utf8OrBytes([parseInt(fallback[1], 16)]);
  if (rules.byteLevel) {
    const bytes: number[] = [];
    for (const ch of token) {
      const b = UNICODE_TO_BYTE.get(ch);
      if (b === undefined) bytes.push(...utf8.encode(ch));
      else bytes.push(b);
    }
    return utf8OrBytes(bytes);
  }
  let text = token;
  for (const [from, to] of rules.replace) text = text.replaceAll(from, to);
  return text;
}

/** GPT-2's bytes_to_unicode (openai/gpt-2 encoder.py), inverted: the printable character that stands for each byte. */
const UNICODE_TO_BYTE: ReadonlyMap<string, number> = (() => {
  const map = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    map.set(String.fromCodePoint(printable ? b : 256 + extra++), b);
  }
  return map;
})();

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function utf8OrBytes(bytes: number[]): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (n > 0 && i + n <= bytes.length) {
      try {
        out += strictUtf8.decode(new Uint8Array(bytes.slice(i, i + n)));
        i += n;
        continue;
      } catch {
        // not a whole character: shown byte by byte below
      }
    }
    out += `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    i++;
  }
  return out;
}

function escapeControls(text: string): string {
  return text.replace(/\p{Cc}/gu, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** A lone surrogate becomes U+FFFD, as TextEncoder and HF tokenizers' Node binding read it. */
function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** transformers' clean_up_tokenization (tokenization_utils_base.py). */
function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

function optionalBoolean<K extends string>(fn: string, options: unknown, key: K): boolean | undefined {
  if (options === undefined) return undefined;
  if (!isObject(options)) throw new ArgumentError(`${fn}: options must be an object or undefined; got ${given(options)}`);
  const v = options[key];
  if (v !== undefined && typeof v !== 'boolean') throw new ArgumentError(`${fn}: options.${key} must be a boolean; got ${given(v)}`);
  return v as boolean | undefined;
}
