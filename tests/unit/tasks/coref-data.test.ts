// The coreference task's data: vocabulary and classes, tokenisation, unknown-word errors, seeded generation, the
// held-out split (pairs and templates never seen in training), labels, and position-only baselines at chance.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { isQkvError } from '../../../src/core/errors.js';
import {
  type CorefExample,
  DEFAULT_SENTENCE,
  HELD_OUT_SENTENCES,
  MAX_LENGTH,
  TEMPLATES,
  generateSplits,
  labelSentence,
  matchTemplate,
  pairSplit,
  pairsOf,
  templatesOf,
  toBatch,
} from '../../../src/tasks/coref/data.js';
import {
  ANIMATE_ADJECTIVES,
  ANIMATE_NOUNS,
  ANIMATE_VERBS,
  CONJUNCTIONS,
  FILLERS,
  INANIMATE_ADJECTIVES,
  INANIMATE_NOUNS,
  INANIMATE_VERBS,
  INTENSIFIERS,
  LINKING_VERBS,
  MODIFIERS,
  PAD_ID,
  UnknownWordError,
  VOCAB,
  editDistance,
  nounClass,
  propertyClass,
  tokenize,
} from '../../../src/tasks/coref/vocab.js';

const splits = generateSplits({ seed: 7 });
const key = (p: readonly [string, string]): string => `${p[0]}+${p[1]}`;
const fraction = (xs: readonly CorefExample[], f: (e: CorefExample) => boolean): number => xs.filter(f).length / xs.length;

describe('coref vocabulary', () => {
  test('has at least 40 nouns in two disjoint classes of at least 20', () => {
    assert.ok(ANIMATE_NOUNS.length >= 20 && INANIMATE_NOUNS.length >= 20);
    assert.ok(ANIMATE_NOUNS.length + INANIMATE_NOUNS.length >= 40);
    assert.equal(new Set([...ANIMATE_NOUNS, ...INANIMATE_NOUNS]).size, ANIMATE_NOUNS.length + INANIMATE_NOUNS.length);
    for (const n of ANIMATE_NOUNS) assert.equal(nounClass(n), 'animate', n);
    for (const n of INANIMATE_NOUNS) assert.equal(nounClass(n), 'inanimate', n);
    for (const w of ['it', 'the', 'sat', 'tired', 'old']) assert.equal(nounClass(w), undefined, w);
  });

  test('properties decide by class; modifiers, linking verbs and fillers never do', () => {
    for (const w of [...ANIMATE_ADJECTIVES, ...ANIMATE_VERBS]) assert.equal(propertyClass(w), 'animate', w);
    for (const w of [...INANIMATE_ADJECTIVES, ...INANIMATE_VERBS]) assert.equal(propertyClass(w), 'inanimate', w);
    const neutral = [...MODIFIERS, ...LINKING_VERBS, ...INTENSIFIERS, ...CONJUNCTIONS, ...FILLERS.flatMap((f) => f.split(' '))];
    for (const w of neutral) {
      assert.equal(propertyClass(w), undefined, w);
      assert.equal(nounClass(w), undefined, w);
    }
  });

  test('maps every word to one id and back, <pad> first', () => {
    assert.equal(VOCAB.tokens[PAD_ID], '<pad>');
    assert.equal(VOCAB.size, VOCAB.tokens.length);
    assert.equal(new Set(VOCAB.tokens).size, VOCAB.size);
    for (const w of [...ANIMATE_NOUNS, ...INANIMATE_NOUNS, ...ANIMATE_ADJECTIVES, ...INANIMATE_ADJECTIVES]) assert.ok(VOCAB.has(w), w);
    const words = VOCAB.tokens.slice(1);
    const ids = VOCAB.encode(words);
    assert.deepEqual(ids, words.map((_, i) => i + 1));
    assert.deepEqual(VOCAB.decode(ids), words);
    assert.throws(() => VOCAB.decode([VOCAB.size]), /Vocabulary\.decode: ids must be integers in \[0, V\)/);
  });

  test('tokenises to lowercase words without punctuation', () => {
    assert.deepEqual(tokenize(DEFAULT_SENTENCE), ['the', 'cat', 'sat', 'on', 'the', 'mat', 'because', 'it', 'was', 'tired']);
    assert.deepEqual(tokenize('  Yesterday, the DOG   barked!  '), ['yesterday', 'the', 'dog', 'barked']);
    assert.deepEqual(tokenize('...'), []);
  });

  test('edit distance counts insertions, deletions, substitutions and adjacent swaps', () => {
    const cases: [string, string, number][] = [
      ['', '', 0], ['', 'cat', 3], ['cat', 'cat', 0], ['kat', 'cat', 1], ['cats', 'cat', 1], ['teh', 'the', 1],
      ['kitten', 'sitting', 3], ['flaw', 'lawn', 2],
    ];
    for (const [a, b, d] of cases) {
      assert.equal(editDistance(a, b), d, `${a} → ${b}`);
      assert.equal(editDistance(b, a), d, `${b} → ${a}`);
    }
  });

  test('unknown words: an E_ARGUMENT error that names each one and suggests the nearest known words', () => {
    let error: unknown;
    try {
      VOCAB.encode(['the', 'kat', 'sat', 'onn', 'the', 'kat']);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof UnknownWordError);
    assert.ok(isQkvError(error, 'E_ARGUMENT'));
    assert.match(error.message, /^Vocabulary\.encode: words must be in the coreference vocabulary \(V = \d+\)/);
    assert.match(error.message, /"kat" \(did you mean [^)]*"cat"/);
    assert.match(error.message, /"onn" \(did you mean [^)]*"on"/);
    assert.deepEqual(error.unknown.map((u) => u.word), ['kat', 'onn']); // once each, in order
    for (const u of error.unknown) {
      assert.equal(u.suggestions.length, 3);
      const best = Math.min(...VOCAB.tokens.slice(1).map((t) => editDistance(u.word, t)));
      assert.equal(editDistance(u.word, u.suggestions[0]), best, `${u.word}: first suggestion is a nearest word`);
    }
    assert.ok(VOCAB.nearest('teh').includes('the'));
    assert.ok(!VOCAB.nearest('<pa').includes('<pad>'));
    assert.throws(() => labelSentence('The zebra sat on the mat because it was tired.'), (e: unknown) => {
      return e instanceof UnknownWordError && /labelSentence: .*"zebra" \(did you mean/.test(e.message);
    });
  });
});

describe('coref templates and splits', () => {
  test('has 12+ training templates, both noun orders in every split', () => {
    assert.ok(templatesOf('train').length >= 12);
    assert.ok(templatesOf('validation').length >= 1 && templatesOf('test').length >= 2);
    assert.equal(new Set(TEMPLATES.map((t) => t.id)).size, TEMPLATES.length);
    for (const split of ['train', 'validation', 'test'] as const) {
      const animalFirst = templatesOf(split).filter((t) => t.text.indexOf('{A}') < t.text.indexOf('{I}')).length;
      assert.ok(animalFirst > 0 && animalFirst < templatesOf(split).length, split);
    }
  });

  test('no sentence can exceed MAX_LENGTH', () => {
    const longest = (phrases: readonly string[]): number => Math.max(...phrases.map((p) => p.split(' ').length));
    const slot: Record<string, number> = {
      '{A}': 3, // determiner, modifier, noun
      '{I}': 3,
      '{F}': longest(FILLERS),
      '{C}': 1,
      '{P}': 3, // linking verb, intensifier, adjective
    };
    for (const t of TEMPLATES) {
      const bound = t.text.split(' ').reduce((n, part) => n + (slot[part] ?? 1), 0);
      assert.ok(bound <= MAX_LENGTH, `${t.id}: up to ${bound} tokens`);
    }
    for (const e of [...splits.train, ...splits.validation, ...splits.test]) assert.ok(e.tokens.length <= MAX_LENGTH);
  });

  test('pairs: each noun has 3 test, 3 validation and 18 training pairs', () => {
    const all = ['train', 'validation', 'test'] as const;
    assert.equal(all.reduce((n, s) => n + pairsOf(s).length, 0), ANIMATE_NOUNS.length * INANIMATE_NOUNS.length);
    for (const split of all) {
      const expected = split === 'train' ? 18 : 3;
      for (const a of ANIMATE_NOUNS) assert.equal(pairsOf(split).filter((p) => p[0] === a).length, expected, `${split} ${a}`);
      for (const b of INANIMATE_NOUNS) assert.equal(pairsOf(split).filter((p) => p[1] === b).length, expected, `${split} ${b}`);
    }
    assert.throws(() => pairSplit('ball', 'cat'), /pairSplit: pair must be \(animate noun, inanimate noun\); got \("ball" inanimate, "cat" animate\)/);
  });

  test('generation is deterministic from the seed, and the split sizes are independent', () => {
    const again = generateSplits({ seed: 7 });
    assert.deepEqual(again, splits);
    const other = generateSplits({ seed: 8 });
    assert.notDeepEqual(other.train.map((e) => e.tokens), splits.train.map((e) => e.tokens));
    const small = generateSplits({ seed: 7, trainSize: 10, validationSize: 3 });
    assert.deepEqual(small.test, splits.test);
    assert.equal(small.train.length, 10);
    assert.deepEqual(small.train, splits.train.slice(0, 10));
    assert.deepEqual([splits.train.length, splits.validation.length, splits.test.length], [4000, 500, 1000]);
  });

  test('the held-out sets share no noun pair, no template and no sentence with training', () => {
    const seen = {
      train: { pairs: new Set(splits.train.map((e) => key(e.pair))), templates: new Set(splits.train.map((e) => e.template)) },
      validation: { pairs: new Set(splits.validation.map((e) => key(e.pair))), templates: new Set(splits.validation.map((e) => e.template)) },
    };
    const trainText = new Set(splits.train.map((e) => e.tokens.join(' ')));
    for (const e of splits.test) {
      assert.ok(!seen.train.pairs.has(key(e.pair)) && !seen.validation.pairs.has(key(e.pair)), key(e.pair));
      assert.ok(!seen.train.templates.has(e.template) && !seen.validation.templates.has(e.template), e.template!);
      assert.ok(!trainText.has(e.tokens.join(' ')));
    }
    for (const e of splits.validation) {
      assert.ok(!seen.train.pairs.has(key(e.pair)) && !seen.train.templates.has(e.template));
    }
    // the template id is a property of the text: each sentence matches its own template and no other
    for (const e of [...splits.train, ...splits.validation, ...splits.test]) assert.equal(matchTemplate(e.tokens), e.template);
    // and the held-out sets do use all of their templates
    assert.equal(new Set(splits.test.map((e) => e.template)).size, templatesOf('test').length);
  });

  test('every noun, and every word of the held-out sets, occurs in training', () => {
    const trainWords = new Set(splits.train.flatMap((e) => e.tokens));
    for (const n of [...ANIMATE_NOUNS, ...INANIMATE_NOUNS]) assert.ok(trainWords.has(n), n);
    for (const e of [...splits.validation, ...splits.test]) for (const t of e.tokens) assert.ok(trainWords.has(t), t);
    // each noun is, in training, the referent of a property of its class and the other candidate of the other class
    for (const n of [...ANIMATE_NOUNS, ...INANIMATE_NOUNS]) {
      const withN = splits.train.filter((e) => e.pair.includes(n));
      assert.ok(withN.some((e) => e.tokens[e.referent] === n) && withN.some((e) => e.tokens[e.referent] !== n), n);
    }
  });

  test('labels are correct: the property after "it" has the class of the referent', () => {
    for (const e of [...splits.train, ...splits.validation, ...splits.test]) {
      const where = e.tokens.join(' ');
      assert.equal(e.tokens[e.pronoun], 'it', where);
      assert.deepEqual(e.ids, VOCAB.encode(e.tokens), where);
      const [i, j] = e.candidates;
      assert.ok(i < j, where);
      assert.notEqual(nounClass(e.tokens[i]), undefined, where);
      assert.notEqual(nounClass(e.tokens[j]), undefined, where);
      assert.notEqual(nounClass(e.tokens[i]), nounClass(e.tokens[j]), where);
      assert.equal(e.candidates[e.answer], e.referent, where);
      assert.equal(nounClass(e.tokens[e.referent]), e.referentClass, where);
      assert.equal(propertyClass(e.property), e.referentClass, where);
      assert.ok(e.tokens.indexOf(e.property, e.pronoun) > e.pronoun, where);
      assert.deepEqual(e.pair, nounClass(e.tokens[i]) === 'animate' ? [e.tokens[i], e.tokens[j]] : [e.tokens[j], e.tokens[i]]);
      // the label re-derived from the words alone agrees with the generator's
      const relabelled = labelSentence(e.tokens);
      assert.equal(relabelled.referent, e.referent, where);
      assert.equal(relabelled.template, e.template, where);
    }
    for (const s of ['train', 'validation', 'test'] as const) {
      const animate = fraction(splits[s], (e) => e.referentClass === 'animate');
      assert.ok(animate > 0.4 && animate < 0.6, `${s}: ${animate}`);
    }
  });

  test('the referent position varies: both orders, both answers, a spread of distances', () => {
    for (const s of ['train', 'validation', 'test'] as const) {
      const ex = splits[s];
      const animalFirst = fraction(ex, (e) => nounClass(e.tokens[e.candidates[0]]) === 'animate');
      assert.ok(animalFirst > 0.2 && animalFirst < 0.8, `${s}: animal first ${animalFirst}`);
      const distances = new Set(ex.map((e) => e.pronoun - e.referent));
      assert.ok(distances.size >= 6, `${s}: distances ${[...distances]}`);
      assert.ok(Math.min(...distances) <= 3 && Math.max(...distances) >= 9, `${s}: distances ${[...distances]}`);
    }
  });

  test('position-only baselines are near chance on the test set', () => {
    const test = splits.test;
    const firstNoun = fraction(test, (e) => e.answer === 0);
    const nearestNoun = fraction(test, (e) => {
      const [i, j] = e.candidates;
      const nearest = Math.abs(e.pronoun - i) < Math.abs(e.pronoun - j) ? i : j;
      return nearest === e.referent;
    });
    // the best rule on positions alone that training can teach: majority answer per (first, second, pronoun) position
    const votes = new Map<string, number>();
    const positions = (e: CorefExample): string => `${e.candidates[0]},${e.candidates[1]},${e.pronoun}`;
    for (const e of splits.train) votes.set(positions(e), (votes.get(positions(e)) ?? 0) + (e.answer === 0 ? 1 : -1));
    const learned = fraction(test, (e) => ((votes.get(positions(e)) ?? 0) >= 0 ? 0 : 1) === e.answer);
    for (const [name, acc] of [['first noun', firstNoun], ['nearest noun', nearestNoun], ['position table', learned]] as const) {
      assert.ok(acc >= 0.35 && acc <= 0.65, `${name}: ${acc}`);
    }
  });

  test('rejects bad options, naming the function and argument', () => {
    assert.throws(() => generateSplits({ seed: 1.5 }), /generateSplits: seed must be a safe integer; got 1.5/);
    assert.throws(() => generateSplits({ seed: 1, trainSize: -1 }), /generateSplits: trainSize must be a non-negative integer; got -1/);
    assert.throws(() => generateSplits({ seed: 1, testSize: 2.5 }), /generateSplits: testSize must be a non-negative integer/);
  });
});

describe('coref sentences', () => {
  test('the default sentence resolves to "cat" with a training template and pair', () => {
    const e = labelSentence(DEFAULT_SENTENCE);
    assert.equal(e.tokens[e.pronoun], 'it');
    assert.equal(e.tokens[e.referent], 'cat');
    assert.deepEqual(e.candidates.map((i) => e.tokens[i]), ['cat', 'mat']);
    assert.equal(e.template, 'sat-on');
    assert.equal(pairSplit(e.pair[0], e.pair[1]), 'train');
  });

  test('the issue examples resolve by the property', () => {
    const cases: [string, string][] = [
      ['The cat chased the ball because it was playful', 'cat'],
      ['The cat chased the ball because it was round', 'ball'],
      ['the ball rolled toward the dog and it was round', 'ball'],
      ['near the old table the cat slept because it was sleepy', 'cat'],
      ['The ball rolled toward the dog because it yawned.', 'dog'],
    ];
    for (const [sentence, referent] of cases) {
      const e = labelSentence(sentence);
      assert.equal(e.tokens[e.referent], referent, sentence);
      assert.notEqual(e.template, null, sentence);
    }
  });

  test('hand-written held-out sentences use test-only templates and pairs', () => {
    assert.ok(HELD_OUT_SENTENCES.length >= 6);
    const testTemplates = new Set(templatesOf('test').map((t) => t.id));
    let toAnimal = 0;
    for (const { sentence, referent } of HELD_OUT_SENTENCES) {
      const e = labelSentence(sentence);
      assert.equal(e.tokens[e.referent], referent, sentence);
      assert.ok(testTemplates.has(e.template!), `${sentence}: template ${e.template}`);
      assert.equal(pairSplit(e.pair[0], e.pair[1]), 'test', sentence);
      if (e.referentClass === 'animate') toAnimal++;
    }
    assert.ok(toAnimal > 0 && toAnimal < HELD_OUT_SENTENCES.length);
  });

  test('labelSentence explains what is missing', () => {
    const cases: [string, RegExp][] = [
      ['the cat sat on the mat because was tired', /labelSentence: sentence must contain "it" exactly once; found it 0 times/],
      ['it sat on the mat because it was tired', /"it" exactly once; found it 2 times/],
      ['the cat chased the dog because it was tired', /one animate and one inanimate noun; found \[cat \(animate\), dog \(animate\)\]/],
      ['the cat sat on the mat because it was old', /a property after "it" .* found none in "the cat sat on the mat because it was old"/],
    ];
    for (const [sentence, message] of cases) assert.throws(() => labelSentence(sentence), message, sentence);
  });

  test('toBatch pads to [B, N] with a mask and keeps the indices', () => {
    const examples = splits.test.slice(0, 5);
    const batch = toBatch(examples);
    assert.equal(batch.length, MAX_LENGTH);
    assert.equal(batch.ids.length, 5 * MAX_LENGTH);
    examples.forEach((e, b) => {
      const row = Array.from(batch.ids.subarray(b * MAX_LENGTH, (b + 1) * MAX_LENGTH));
      assert.deepEqual(row, [...e.ids, ...new Array<number>(MAX_LENGTH - e.ids.length).fill(PAD_ID)]);
      const mask = Array.from(batch.mask.subarray(b * MAX_LENGTH, (b + 1) * MAX_LENGTH));
      assert.deepEqual(mask, row.map((_, i) => (i < e.ids.length ? 1 : 0)));
      assert.deepEqual([batch.pronoun[b], batch.candidates[2 * b], batch.candidates[2 * b + 1], batch.referent[b], batch.answer[b]],
        [e.pronoun, e.candidates[0], e.candidates[1], e.referent, e.answer]);
    });
    const long = examples.reduce((a, e) => (e.ids.length > a.ids.length ? e : a));
    assert.throws(() => toBatch([long], long.ids.length - 1), /toBatch: examples must have at most N = \d+ tokens; examples\[0\] has \d+/);
  });
});
