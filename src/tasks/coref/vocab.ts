// The lexicon and vocabulary of the coreference task: which words exist, which class each noun and each property
// belongs to, how a sentence becomes tokens, and how tokens become ids (with a helpful error for unknown words).
// It mirrors the token ↔ id tables of a word-level tokenizer (torchtext's Vocab), kept small enough to read whole.
//
// The world has two classes of noun. Animate nouns are animals only: English refers to people as "he" or "she",
// so "it" could never pick them. Properties are class-specific: an animate property (tired, yawned) can only describe
// an animal and an inanimate one (round, cracked) only an object, so the property after "it" decides the referent.
// Adjectives such as "soft", "wet" or "small" describe both classes and are left out of the properties on purpose.
//
// Tokenisation: lowercase, punctuation (. , ! ? ; : and quotes) dropped, split on whitespace. The model never sees
// punctuation, so "The cat sat on the mat because it was tired." is ten tokens.
// Special tokens: only <pad> (id 0). There is no <cls> or <unk>: the model reads its answer at the "it" token, and
// unknown words are an error, never silently mapped.

import { ArgumentError } from '../../core/errors.js';

export type NounClass = 'animate' | 'inanimate';

/** 24 animals. "it" may refer to any of them. */
export const ANIMATE_NOUNS: readonly string[] = [
  'cat', 'dog', 'bird', 'horse', 'cow', 'rabbit', 'mouse', 'fox', 'bear', 'lion', 'tiger', 'wolf',
  'duck', 'goat', 'sheep', 'pig', 'monkey', 'frog', 'owl', 'puppy', 'kitten', 'hamster', 'parrot', 'donkey',
];

/** 24 objects. */
export const INANIMATE_NOUNS: readonly string[] = [
  'ball', 'mat', 'table', 'chair', 'box', 'cup', 'bottle', 'book', 'rock', 'car', 'bike', 'lamp',
  'pillow', 'blanket', 'bucket', 'plate', 'bowl', 'hat', 'shoe', 'toy', 'basket', 'kettle', 'clock', 'drum',
];

/** Adjectives that only an animal can have: "it was tired" picks the animal. */
export const ANIMATE_ADJECTIVES: readonly string[] = [
  'tired', 'hungry', 'playful', 'sleepy', 'angry', 'happy', 'scared', 'thirsty', 'lazy', 'curious', 'excited',
  'lonely', 'nervous', 'bored',
];

/** Adjectives that only an object can have: "it was round" picks the object. */
export const INANIMATE_ADJECTIVES: readonly string[] = [
  'round', 'heavy', 'broken', 'shiny', 'empty', 'wooden', 'rusty', 'hollow', 'square', 'flat', 'plastic', 'metal',
];

/** Verbs that only an animal does: "it yawned". */
export const ANIMATE_VERBS: readonly string[] = ['yawned', 'sneezed', 'shivered', 'sighed'];

/** Verbs that only happen to an object: "it cracked". */
export const INANIMATE_VERBS: readonly string[] = ['broke', 'cracked', 'leaked', 'rattled'];

/** Verbs that link "it" to an adjective: "it seemed tired". */
export const LINKING_VERBS: readonly string[] = ['was', 'seemed', 'looked', 'felt'];

/** Optional intensifiers between the linking verb and the adjective: "it was very tired". */
export const INTENSIFIERS: readonly string[] = ['very', 'too', 'really'];

/** Adjectives that fit both classes, placed before a noun ("the old cat", "the old table"): they never decide. */
export const MODIFIERS: readonly string[] = ['old', 'little', 'big', 'small', 'red', 'brown', 'black', 'white'];

/** Words that join the two clauses. */
export const CONJUNCTIONS: readonly string[] = ['because', 'since', 'and', 'so', 'until'];

/** Determiners of a noun phrase. */
export const DETERMINERS: readonly string[] = ['the', 'a'];

/** Filler phrases that move the nouns away from "it" without naming a candidate noun. */
export const FILLERS: readonly string[] = [
  'yesterday', 'today', 'in the morning', 'at night', 'all day long', 'for a while', 'after lunch', 'once again',
  'this morning', 'quietly', 'slowly', 'for a long time',
];

/** The words of the template frames in data.ts (verbs and prepositions between the nouns), plus the pronoun. */
export const FRAME_WORDS: readonly string[] = [
  'it', 'sat', 'on', 'chased', 'pushed', 'looked', 'at', 'slept', 'under', 'played', 'with', 'rolled', 'toward',
  'near', 'fell', 'was', 'next', 'to', 'waited', 'by',
];

export const PAD = '<pad>';
export const PAD_ID = 0;

/** Class of a noun, or undefined for any other word. */
export function nounClass(word: string): NounClass | undefined {
  if (ANIMATE_NOUNS.includes(word)) return 'animate';
  if (INANIMATE_NOUNS.includes(word)) return 'inanimate';
  return undefined;
}

/** Class that a property word (adjective or verb after "it") requires of its referent, or undefined. */
export function propertyClass(word: string): NounClass | undefined {
  if (ANIMATE_ADJECTIVES.includes(word) || ANIMATE_VERBS.includes(word)) return 'animate';
  if (INANIMATE_ADJECTIVES.includes(word) || INANIMATE_VERBS.includes(word)) return 'inanimate';
  return undefined;
}

/**
 * Splits a sentence into lowercase word tokens, dropping punctuation.
 * @example tokenize('The cat sat on the mat because it was tired.') // ['the', 'cat', ..., 'it', 'was', 'tired']
 */
export function tokenize(sentence: string): string[] {
  if (typeof sentence !== 'string') {
    throw new ArgumentError(`tokenize: sentence must be a string; got ${typeof sentence}`);
  }
  return sentence
    .toLowerCase()
    .replace(/[.,!?;:"“”]/g, ' ')
    .split(/\s+/)
    .filter((w) => w.length > 0);
}

/**
 * Edit distance with adjacent transpositions (optimal string alignment), so "teh" is one edit from "the".
 * Used to suggest the nearest known words.
 */
export function editDistance(a: string, b: string): number {
  // d[i][j]: distance between the first i letters of a and the first j letters of b; rows kept as [a.length + 1][b.length + 1]
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** An encode() error that lists each unknown word with its nearest known words. Its code is E_ARGUMENT. */
export class UnknownWordError extends ArgumentError {
  override name = 'UnknownWordError';
  /** The unknown words in order of first appearance, and for each the nearest known words. */
  readonly unknown: readonly { word: string; suggestions: readonly string[] }[];
  constructor(message: string, unknown: readonly { word: string; suggestions: readonly string[] }[]) {
    super(message);
    this.unknown = unknown;
  }
}

/** Every word of the lexicon, once, sorted; the vocabulary gives them ids 1.. after <pad>. */
function lexicon(): string[] {
  const words = new Set<string>([
    ...ANIMATE_NOUNS, ...INANIMATE_NOUNS, ...ANIMATE_ADJECTIVES, ...INANIMATE_ADJECTIVES, ...ANIMATE_VERBS,
    ...INANIMATE_VERBS, ...LINKING_VERBS, ...INTENSIFIERS, ...MODIFIERS, ...CONJUNCTIONS, ...DETERMINERS,
    ...FILLERS.flatMap((f) => f.split(' ')), ...FRAME_WORDS,
  ]);
  return [...words].sort();
}

/**
 * Token ↔ id table of the task: <pad> is id 0, then every lexicon word in alphabetical order, so ids do not depend
 * on the order in which the lists above are written.
 */
export class Vocabulary {
  /** Token of each id: tokens[id]. */
  readonly tokens: readonly string[];
  private readonly ids: ReadonlyMap<string, number>;

  constructor(words: readonly string[] = lexicon()) {
    this.tokens = [PAD, ...words];
    const ids = new Map<string, number>();
    this.tokens.forEach((t, i) => {
      if (ids.has(t)) throw new ArgumentError(`Vocabulary: words must be distinct; "${t}" appears twice`);
      ids.set(t, i);
    });
    this.ids = ids;
  }

  /** Number of tokens V, <pad> included. */
  get size(): number {
    return this.tokens.length;
  }

  get padId(): number {
    return PAD_ID;
  }

  has(word: string): boolean {
    return this.ids.has(word);
  }

  /** Id of a known word; throws UnknownWordError otherwise. */
  id(word: string): number {
    return this.encode([word], 'Vocabulary.id')[0];
  }

  /** The `count` known words nearest to `word` by edit distance, ties broken alphabetically; <pad> is never offered. */
  nearest(word: string, count = 3): string[] {
    return this.tokens
      .slice(1)
      .map((t) => ({ t, d: editDistance(word, t) }))
      .sort((x, y) => x.d - y.d || (x.t < y.t ? -1 : x.t > y.t ? 1 : 0))
      .slice(0, count)
      .map((x) => x.t);
  }

  /**
   * Ids of the words [N] → [N]. Throws UnknownWordError naming every unknown word and its nearest known words.
   * @example vocab.encode(tokenize('The cat sat.'))
   */
  encode(words: readonly string[], where = 'Vocabulary.encode'): number[] {
    if (!Array.isArray(words) || !words.every((w) => typeof w === 'string')) {
      throw new ArgumentError(`${where}: words must be an array of strings; got ${JSON.stringify(words)}`);
    }
    const out: number[] = [];
    const unknown: { word: string; suggestions: string[] }[] = [];
    for (const w of words) {
      const id = this.ids.get(w);
      if (id === undefined) {
        if (!unknown.some((u) => u.word === w)) unknown.push({ word: w, suggestions: this.nearest(w) });
      } else out.push(id);
    }
    if (unknown.length > 0) {
      const list = unknown.map((u) => `"${u.word}" (did you mean ${u.suggestions.map((s) => `"${s}"`).join(', ')}?)`);
      const s = unknown.length === 1 ? '' : 's';
      throw new UnknownWordError(
        `${where}: words must be in the coreference vocabulary (V = ${this.size}); unknown word${s}: ${list.join('; ')}`,
        unknown,
      );
    }
    return out;
  }

  /** Tokens of the ids [N] → [N]; throws for an id outside [0, V). */
  decode(ids: ArrayLike<number>): string[] {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.size) {
        throw new ArgumentError(`Vocabulary.decode: ids must be integers in [0, V) with V = ${this.size}; got ids[${i}] = ${id}`);
      }
      out.push(this.tokens[id]);
    }
    return out;
  }
}

/** The one vocabulary of the task; the model's embedding table has `VOCAB.size` rows. */
export const VOCAB = new Vocabulary();
