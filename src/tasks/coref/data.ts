// The data of the coreference task: Winograd-style sentences such as "the cat sat on the mat because it was tired",
// where the model, at the "it" token, must pick which of the two nouns "it" means. It mirrors the Winograd schema
// (Levesque, Davis & Morgenstern, 2012) in miniature: the property after "it" decides the referent by meaning.
//
// Every sentence has one animate noun (an animal) and one inanimate noun (an object), and a property after "it" that
// only one of the two classes can have (vocab.ts). The property's class is drawn 50/50 independently of the word
// order, so "always the first noun", "always the nearest noun" or any other rule on positions alone is right half the
// time. Templates put the animal first or second, and optional fillers and modifiers move the nouns away from "it".
// Same-class pairs decided by a finer attribute ("the dog chased the bird because it could fly") are left out: they
// need world knowledge that a class-level lexicon cannot teach, and would make the 95 % target depend on memorising.
//
// Splits are fixed by construction, not by the seed: the held-out test set uses noun pairs and templates that never
// occur in training, and the validation set uses yet other pairs and templates. Every noun still occurs in 18 training
// pairs, so the model learns every word's class. The seed only decides which sentences are drawn.

import { ArgumentError } from '../../core/errors.js';
import { Rng } from '../../core/random.js';
import {
  ANIMATE_ADJECTIVES,
  ANIMATE_NOUNS,
  ANIMATE_VERBS,
  CONJUNCTIONS,
  DETERMINERS,
  FILLERS,
  INANIMATE_ADJECTIVES,
  INANIMATE_NOUNS,
  INANIMATE_VERBS,
  INTENSIFIERS,
  LINKING_VERBS,
  MODIFIERS,
  type NounClass,
  VOCAB,
  nounClass,
  propertyClass,
  tokenize,
} from './vocab.js';

export type Split = 'train' | 'validation' | 'test';

/**
 * A sentence frame. Slots: {A} the animate noun phrase, {I} the inanimate one ("the [modifier] noun"), {F} an
 * optional filler phrase, {C} a conjunction, {P} the property phrase after "it" ("was [very] tired", "yawned").
 */
export interface Template {
  id: string;
  text: string;
  split: Split;
}

export const TEMPLATES: readonly Template[] = [
  // training: six with the animal first, six with the object first
  { id: 'sat-on', text: '{F} {A} sat on {I} {F} {C} it {P}', split: 'train' },
  { id: 'chased', text: '{F} {A} chased {I} {F} {C} it {P}', split: 'train' },
  { id: 'pushed', text: '{F} {A} pushed {I} {F} {C} it {P}', split: 'train' },
  { id: 'looked-at', text: '{F} {A} looked at {I} {F} {C} it {P}', split: 'train' },
  { id: 'slept-under', text: '{F} {A} slept under {I} {F} {C} it {P}', split: 'train' },
  { id: 'played-with', text: '{F} {A} {F} played with {I} {C} it {P}', split: 'train' },
  { id: 'rolled-toward', text: '{F} {I} rolled toward {A} {F} {C} it {P}', split: 'train' },
  { id: 'near-slept', text: '{F} near {I} {A} slept {F} {C} it {P}', split: 'train' },
  { id: 'fell-on', text: '{F} {I} fell on {A} {F} {C} it {P}', split: 'train' },
  { id: 'was-next-to', text: '{F} {I} was next to {A} {F} {C} it {P}', split: 'train' },
  { id: 'under-waited', text: '{F} under {I} {A} waited {F} {C} it {P}', split: 'train' },
  { id: 'was-pushed-by', text: '{F} {I} was {F} pushed by {A} {C} it {P}', split: 'train' },
  // validation: new combinations of training words, one of each order
  { id: 'waited-near', text: '{F} {A} waited near {I} {F} {C} it {P}', split: 'validation' },
  { id: 'was-chased-by', text: '{F} {I} was chased by {A} {F} {C} it {P}', split: 'validation' },
  // test: new combinations of training words, two of each order
  { id: 'rolled-toward-object', text: '{F} {A} rolled toward {I} {F} {C} it {P}', split: 'test' },
  { id: 'sat-next-to', text: '{F} {A} sat next to {I} {F} {C} it {P}', split: 'test' },
  { id: 'on-slept', text: '{F} on {I} {A} slept {F} {C} it {P}', split: 'test' },
  { id: 'fell-near', text: '{F} {I} fell near {A} {F} {C} it {P}', split: 'test' },
];

/** Sentences are padded to this many tokens; the longest a template can produce is shorter (see the tests). */
export const MAX_LENGTH = 24;

/** The sentence that `qkv explain` shows by default; its template and noun pair are in the training split. */
export const DEFAULT_SENTENCE = 'The cat sat on the mat because it was tired.';

/**
 * The split of an (animate, inanimate) pair. Pair (i, j) of the noun lists goes to test when (5i + 7j) mod 8 = 0 and
 * to validation when it is 1: since 5 and 7 are odd, each noun gets exactly 3 test, 3 validation and 18 training
 * pairs (24 nouns per class), and the rule does not depend on the seed.
 */
export function pairSplit(animate: string, inanimate: string): Split {
  const i = ANIMATE_NOUNS.indexOf(animate);
  const j = INANIMATE_NOUNS.indexOf(inanimate);
  if (i < 0 || j < 0) {
    throw new ArgumentError(
      `pairSplit: pair must be (animate noun, inanimate noun); got ("${animate}" ${nounClass(animate) ?? 'not a noun'}, ` +
        `"${inanimate}" ${nounClass(inanimate) ?? 'not a noun'})`,
    );
  }
  const bucket = (5 * i + 7 * j) % 8;
  return bucket === 0 ? 'test' : bucket === 1 ? 'validation' : 'train';
}

/** Every (animate, inanimate) pair of each split. */
export function pairsOf(split: Split): [string, string][] {
  const out: [string, string][] = [];
  for (const a of ANIMATE_NOUNS) for (const b of INANIMATE_NOUNS) if (pairSplit(a, b) === split) out.push([a, b]);
  return out;
}

/** The templates of a split. */
export function templatesOf(split: Split): Template[] {
  return TEMPLATES.filter((t) => t.split === split);
}

/** One sentence with its answer, ready for the trainer. Token indices count from 0. */
export interface CorefExample {
  /** Lowercase tokens [N], no padding, no punctuation. */
  tokens: string[];
  /** Vocabulary ids [N] of the tokens. */
  ids: number[];
  /** Index of the "it" token. */
  pronoun: number;
  /** Indices of the two candidate nouns, in sentence order. */
  candidates: [number, number];
  /** Index of the correct noun: candidates[answer]. */
  referent: number;
  /** 0 when the first candidate is correct, 1 when the second is. */
  answer: 0 | 1;
  /** The nouns as (animate, inanimate), whatever their order in the sentence. */
  pair: [string, string];
  /** The word after "it" that decides, and the class it requires. */
  property: string;
  referentClass: NounClass;
  /** Template id, or null for a free sentence that matches no template. */
  template: string | null;
}

/** Options of {@link generateSplits}. */
export interface GenerateOptions {
  /** Seed of the draws; equal seeds give equal splits. */
  seed: number;
  /** @default 4000 */
  trainSize?: number;
  /** @default 500 */
  validationSize?: number;
  /** @default 1000 */
  testSize?: number;
}

export interface CorefSplits {
  train: CorefExample[];
  validation: CorefExample[];
  test: CorefExample[];
}

/**
 * Draws the three splits. Each split only uses its own templates and noun pairs; pairs are cycled in a shuffled order
 * so that every pair of the split occurs once before any occurs twice.
 * @example const { train, validation, test } = generateSplits({ seed: 1 })
 */
export function generateSplits(options: GenerateOptions): CorefSplits {
  const { seed, trainSize = 4000, validationSize = 500, testSize = 1000 } = options ?? ({} as GenerateOptions);
  if (!Number.isSafeInteger(seed)) throw new ArgumentError(`generateSplits: seed must be a safe integer; got ${seed}`);
  for (const [name, n] of [['trainSize', trainSize], ['validationSize', validationSize], ['testSize', testSize]] as const) {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new ArgumentError(`generateSplits: ${name} must be a non-negative integer; got ${n}`);
    }
  }
  // one independent stream per split, so the size of one split never changes the sentences of another
  const root = new Rng(seed);
  const seeds = [root.nextUint32(), root.nextUint32(), root.nextUint32()];
  return {
    train: generateSplit('train', trainSize, new Rng(seeds[0])),
    validation: generateSplit('validation', validationSize, new Rng(seeds[1])),
    test: generateSplit('test', testSize, new Rng(seeds[2])),
  };
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}

function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function generateSplit(split: Split, count: number, rng: Rng): CorefExample[] {
  const templates = templatesOf(split);
  const pairs = pairsOf(split);
  const out: CorefExample[] = [];
  let order: [string, string][] = [];
  for (let n = 0; n < count; n++) {
    if (order.length === 0) order = shuffle(rng, pairs.slice());
    const pair = order.pop()!;
    const template = pick(rng, templates);
    const cls: NounClass = rng.uniform() < 0.5 ? 'animate' : 'inanimate';
    out.push(render(template, pair, cls, rng));
  }
  return out;
}

/** "the [modifier] noun" */
function nounPhrase(noun: string, rng: Rng): string[] {
  const det = rng.uniform() < 0.8 ? 'the' : 'a';
  return rng.uniform() < 0.3 ? [det, pick(rng, MODIFIERS), noun] : [det, noun];
}

/** "was [very] tired" or "yawned", for a property of class `cls`. */
function propertyPhrase(cls: NounClass, rng: Rng): { words: string[]; property: string } {
  const verbs = cls === 'animate' ? ANIMATE_VERBS : INANIMATE_VERBS;
  const adjectives = cls === 'animate' ? ANIMATE_ADJECTIVES : INANIMATE_ADJECTIVES;
  if (rng.uniform() < 0.2) {
    const verb = pick(rng, verbs);
    return { words: [verb], property: verb };
  }
  const adjective = pick(rng, adjectives);
  const link = pick(rng, LINKING_VERBS);
  const words = rng.uniform() < 0.25 ? [link, pick(rng, INTENSIFIERS), adjective] : [link, adjective];
  return { words, property: adjective };
}

/** Fills a template with the pair and a property of class `cls`, drawing fillers, modifiers and words from `rng`. */
function render(template: Template, pair: [string, string], cls: NounClass, rng: Rng): CorefExample {
  const tokens: string[] = [];
  let animateAt = -1;
  let inanimateAt = -1;
  let pronoun = -1;
  let property = '';
  for (const part of template.text.split(' ')) {
    if (part === '{A}') {
      tokens.push(...nounPhrase(pair[0], rng));
      animateAt = tokens.length - 1;
    } else if (part === '{I}') {
      tokens.push(...nounPhrase(pair[1], rng));
      inanimateAt = tokens.length - 1;
    } else if (part === '{F}') {
      if (rng.uniform() < 0.3) tokens.push(...pick(rng, FILLERS).split(' '));
    } else if (part === '{C}') {
      tokens.push(pick(rng, CONJUNCTIONS));
    } else if (part === '{P}') {
      const p = propertyPhrase(cls, rng);
      tokens.push(...p.words);
      property = p.property;
    } else {
      if (part === 'it') pronoun = tokens.length;
      tokens.push(part);
    }
  }
  const candidates: [number, number] = animateAt < inanimateAt ? [animateAt, inanimateAt] : [inanimateAt, animateAt];
  const referent = cls === 'animate' ? animateAt : inanimateAt;
  return {
    tokens,
    ids: VOCAB.encode(tokens, `generateSplits (template "${template.id}")`),
    pronoun,
    candidates,
    referent,
    answer: referent === candidates[0] ? 0 : 1,
    pair: [pair[0], pair[1]],
    property,
    referentClass: cls,
    template: template.id,
  };
}

/** Alternatives of a list as a regular-expression group; every word is plain lowercase letters. */
function oneOf(words: readonly string[]): string {
  return `(?:${words.join('|')})`;
}

const templatePatterns: readonly { id: string; pattern: RegExp }[] = TEMPLATES.map((t) => {
  const np = (nouns: readonly string[]): string => `${oneOf(DETERMINERS)} (?:${oneOf(MODIFIERS)} )?${oneOf(nouns)} `;
  const adjectives = [...ANIMATE_ADJECTIVES, ...INANIMATE_ADJECTIVES];
  const slots: Record<string, string> = {
    '{A}': np(ANIMATE_NOUNS),
    '{I}': np(INANIMATE_NOUNS),
    '{F}': `(?:${oneOf(FILLERS)} )?`,
    '{C}': `${oneOf(CONJUNCTIONS)} `,
    '{P}': `(?:${oneOf(LINKING_VERBS)} (?:${oneOf(INTENSIFIERS)} )?${oneOf(adjectives)}|${oneOf([...ANIMATE_VERBS, ...INANIMATE_VERBS])}) `,
  };
  const source = t.text.split(' ').map((part) => slots[part] ?? `${part} `).join('');
  return { id: t.id, pattern: new RegExp(`^${source}$`) };
});

/** Id of the template that produced these tokens, or null when none did. */
export function matchTemplate(tokens: readonly string[]): string | null {
  const text = tokens.join(' ') + ' ';
  for (const { id, pattern } of templatePatterns) if (pattern.test(text)) return id;
  return null;
}

/**
 * Labels a free sentence by the task's rule: it must contain one "it", one animate and one inanimate noun, and after
 * "it" a property word of either class; the referent is the noun of the property's class. `qkv explain` uses this to
 * show the expected answer. Throws UnknownWordError (E_ARGUMENT) for unknown words, ArgumentError otherwise.
 * @example labelSentence('The cat sat on the mat because it was tired.').tokens[0] // 'the'; referent → "cat"
 */
export function labelSentence(sentence: string | readonly string[]): CorefExample {
  const where = 'labelSentence';
  const tokens = typeof sentence === 'string' ? tokenize(sentence) : [...sentence];
  const ids = VOCAB.encode(tokens, where);
  const shown = `"${tokens.join(' ')}"`;
  const pronouns = tokens.flatMap((t, i) => (t === 'it' ? [i] : []));
  if (pronouns.length !== 1) {
    throw new ArgumentError(`${where}: sentence must contain "it" exactly once; found it ${pronouns.length} times in ${shown}`);
  }
  const pronoun = pronouns[0];
  const nouns = tokens.flatMap((t, i) => (nounClass(t) === undefined ? [] : [i]));
  const classes = nouns.map((i) => nounClass(tokens[i]));
  if (nouns.length !== 2 || classes[0] === classes[1]) {
    throw new ArgumentError(
      `${where}: sentence must name one animate and one inanimate noun; found ` +
        `[${nouns.map((i) => `${tokens[i]} (${nounClass(tokens[i])})`).join(', ')}] in ${shown}`,
    );
  }
  const at = tokens.findIndex((t, i) => i > pronoun && propertyClass(t) !== undefined);
  if (at < 0) {
    throw new ArgumentError(
      `${where}: sentence must have a property after "it" that only one class can have (e.g. "tired" or "round"); ` +
        `found none in ${shown}`,
    );
  }
  const cls = propertyClass(tokens[at])!;
  const referent = classes[0] === cls ? nouns[0] : nouns[1];
  const animate = classes[0] === 'animate' ? tokens[nouns[0]] : tokens[nouns[1]];
  const inanimate = classes[0] === 'animate' ? tokens[nouns[1]] : tokens[nouns[0]];
  return {
    tokens,
    ids,
    pronoun,
    candidates: [nouns[0], nouns[1]],
    referent,
    answer: referent === nouns[0] ? 0 : 1,
    pair: [animate, inanimate],
    property: tokens[at],
    referentClass: cls,
    template: matchTemplate(tokens),
  };
}

/** A hand-written sentence whose template and noun pair are both test-only, for the explain tests. */
export interface HeldOutSentence {
  sentence: string;
  /** The noun that "it" refers to. */
  referent: string;
}

export const HELD_OUT_SENTENCES: readonly HeldOutSentence[] = [
  { sentence: 'The cat rolled toward the ball because it was playful.', referent: 'cat' },
  { sentence: 'The dog sat next to the cup because it was empty.', referent: 'cup' },
  { sentence: 'On the old drum the horse slept because it was tired.', referent: 'horse' },
  { sentence: 'The hat fell near the rabbit and it was very shiny.', referent: 'hat' },
  { sentence: 'Yesterday the fox sat next to the lamp for a while because it seemed hungry.', referent: 'fox' },
  { sentence: 'The big car fell near the goat in the morning so it cracked.', referent: 'car' },
];

/** Padded arrays of a batch of B examples, N = `length` tokens each, row-major. */
export interface CorefBatch {
  batchSize: number;
  length: number;
  /** Token ids [B, N]; <pad> (id 0) after each sentence. */
  ids: Int32Array;
  /** [B, N]: 1 for a real token (may attend), 0 for padding; the mask convention of scaledDotProductAttention. */
  mask: Uint8Array;
  /** [B]: index of "it". */
  pronoun: Int32Array;
  /** [B, 2]: indices of the two candidate nouns. */
  candidates: Int32Array;
  /** [B]: index of the correct noun. */
  referent: Int32Array;
  /** [B]: 0 or 1, which candidate is correct. */
  answer: Int32Array;
}

/**
 * Packs examples into padded arrays for the trainer.
 * @param length N, the padded length; every example must fit.
 * @default length MAX_LENGTH
 */
export function toBatch(examples: readonly CorefExample[], length = MAX_LENGTH): CorefBatch {
  if (!Number.isSafeInteger(length) || length < 1) {
    throw new ArgumentError(`toBatch: length must be a positive integer; got ${length}`);
  }
  const B = examples.length;
  const ids = new Int32Array(B * length); // [B, N], zeros are <pad>
  const mask = new Uint8Array(B * length); // [B, N]
  const pronoun = new Int32Array(B); // [B]
  const candidates = new Int32Array(B * 2); // [B, 2]
  const referent = new Int32Array(B); // [B]
  const answer = new Int32Array(B); // [B]
  examples.forEach((e, b) => {
    if (e.ids.length > length) {
      throw new ArgumentError(
        `toBatch: examples must have at most N = ${length} tokens; examples[${b}] has ${e.ids.length}: "${e.tokens.join(' ')}"`,
      );
    }
    ids.set(e.ids, b * length);
    mask.fill(1, b * length, b * length + e.ids.length);
    pronoun[b] = e.pronoun;
    candidates[2 * b] = e.candidates[0];
    candidates[2 * b + 1] = e.candidates[1];
    referent[b] = e.referent;
    answer[b] = e.answer;
  });
  return { batchSize: B, length, ids, mask, pronoun, candidates, referent, answer };
}
