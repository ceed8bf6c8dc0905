// `qkv explain` and `qkv train`, called as run(argv, io) with in-memory streams.

import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { run, progressBar } from '../../src/cli/run.js';
import { parseExplainJson } from '../../src/explain/trace-json.js';
import { loadCorefModel } from '../../src/tasks/coref/load.js';

const ANSI = /\x1b\[/;

function memoryIO(options: { tty?: boolean; columns?: number; env?: Record<string, string> } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const stream = (sink: string[]) => ({ write: (s: string) => sink.push(s), isTTY: options.tty ?? false, columns: options.columns });
  return {
    io: { stdout: stream(out), stderr: stream(err), env: options.env ?? {} },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

test('qkv explain: the default sentence, plain text when the output is not a terminal', async () => {
  const m = memoryIO();
  assert.equal(await run(['explain'], m.io), 0, m.stderr());
  const text = m.stdout();
  assert.doesNotMatch(text, ANSI);
  assert.match(text, /The cat sat on the mat because it was tired\./);
  for (const l of [0, 1]) for (const h of [0, 1, 2, 3]) assert.match(text, new RegExp(`layer ${l} head ${h}|L${l} H${h}`));
  assert.match(text, /1\.1 Scoring/);
  assert.match(text, /1\.2 Weighting/);
  assert.match(text, /sum\s+1\.000/);
  assert.match(text, /1\.3 Aggregating/);
  assert.match(text, /Prediction: "it" → "cat" [01]\.\d\d \(the other candidate: "mat" [01]\.\d\d\)/);
  assert.match(text, /Expected: "cat", since "tired" describes an animal; the model is right\./);
  assert.ok(text.indexOf('Prediction:') < text.indexOf('Expected:'));
  // The bundled model's best head is the one its training supervised, and the text says so.
  assert.match(text.replace(/\s+/g, ' '), /in layer 1 head 0: .* Training taught this head to attend from the pronoun to the referent/);
  for (const line of text.split('\n')) assert.ok([...line].length <= 80, `line wider than 80: ${line}`);
  assert.equal(m.stderr(), '');
});

test('qkv explain: colours only on a terminal without NO_COLOR or --no-color, and the width follows the terminal', async () => {
  const tty = memoryIO({ tty: true, columns: 120 });
  assert.equal(await run(['explain'], tty.io), 0);
  assert.match(tty.stdout(), ANSI);
  const noColor = memoryIO({ tty: true, env: { NO_COLOR: '1' } });
  assert.equal(await run(['explain'], noColor.io), 0);
  assert.doesNotMatch(noColor.stdout(), ANSI);
  const flag = memoryIO({ tty: true });
  assert.equal(await run(['explain', '--no-color'], flag.io), 0);
  assert.doesNotMatch(flag.stdout(), ANSI);
  const narrow = memoryIO({ columns: 50 });
  assert.equal(await run(['explain'], narrow.io), 0);
  for (const line of narrow.stdout().split('\n')) assert.ok([...line].length <= 50, `line wider than 50: ${line}`);
});

test('qkv explain: held-out sentences get the right referent', async () => {
  const cases = [
    ['The dog sat next to the cup because it was empty.', 'cup'],
    ['On the old drum the horse slept because it was tired.', 'horse'],
  ];
  for (const [sentence, referent] of cases) {
    const m = memoryIO();
    assert.equal(await run(['explain', sentence], m.io), 0, m.stderr());
    assert.match(m.stdout(), new RegExp(`Prediction: "it" → "${referent}"`));
  }
});

test('qkv explain --token shows the steps of that token', async () => {
  const m = memoryIO();
  assert.equal(await run(['explain', '--token', 'sat'], m.io), 0, m.stderr());
  assert.match(m.stdout(), /The steps for "sat" \(token 2\)/);
  const bad = memoryIO();
  assert.equal(await run(['explain', '--token', 'dog'], bad.io), 1);
  assert.match(bad.stderr(), /token must be a token of the sentence/);
});

test('qkv explain --json prints the full trace, which parses as an explain document', async () => {
  const m = memoryIO();
  assert.equal(await run(['explain', '--json', 'The hat fell near the rabbit and it was very shiny.'], m.io), 0, m.stderr());
  const doc = parseExplainJson(m.stdout());
  assert.equal(doc.layers.length, 2);
  assert.equal(doc.tokens[doc.prediction!.referent], 'hat');
});

test('qkv explain: unknown words are named with suggestions, exit code 1', async () => {
  const m = memoryIO();
  assert.equal(await run(['explain', 'The cat sat on the sofa because it was tird.'], m.io), 1);
  assert.match(m.stderr(), /^qkv: explainSentence: /);
  assert.match(m.stderr(), /"sofa" \(did you mean/);
  assert.match(m.stderr(), /"tird" \(did you mean [^)]*"tired"/);
  assert.equal(m.stdout(), '');
});

test('qkv explain: a sentence without "it" is explained with a note instead of a prediction', async () => {
  const m = memoryIO();
  assert.equal(await run(['explain', 'The cat sat on the mat.'], m.io), 0, m.stderr());
  assert.match(m.stdout(), /layer 0 head 0|L0 H0/);
  assert.match(m.stdout(), /Note: no prediction: the sentence must contain "it" exactly once \(found 0\)\./);
  assert.doesNotMatch(m.stdout(), /Prediction: "/);
});

test('qkv explain and train: usage errors exit with 2, a missing model file with 1', async () => {
  for (const argv of [
    ['explain', '--colour'],
    ['explain', 'one', 'two'],
    ['explain', '--token'],
    ['train', '--steps', 'many'],
    ['train', '--steps', '0'],
    ['train', 'now'],
  ]) {
    const m = memoryIO();
    assert.equal(await run(argv, m.io), 2, argv.join(' '));
    assert.match(m.stderr(), /Usage:/);
  }
  const m = memoryIO();
  assert.equal(await run(['explain', '--model', '/nonexistent/model.safetensors'], m.io), 1);
  assert.match(m.stderr(), /nonexistent\/model\.safetensors/);
});

test('qkv train: a tiny run writes a model that explain can load, with a line per step when not a terminal', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'qkv-train-'));
  try {
    const out = join(dir, 'tiny.safetensors');
    const m = memoryIO();
    assert.equal(await run(['train', '--steps', '3', '--seed', '2', '--out', out], m.io), 0, m.stderr());
    assert.ok((await stat(out)).size > 0);
    const lines = m.stderr().trim().split('\n');
    assert.match(lines[0], /seed 2, 3 steps/);
    assert.equal(lines.filter((l) => /^step \d\/3 {2}loss \d+\.\d{4} {2}accuracy [\d.]+ % {2}ETA \d+s$/.test(l)).length, 3);
    assert.doesNotMatch(m.stderr(), /\r/);
    assert.match(m.stdout(), /Wrote .*tiny\.safetensors .*Held-out accuracy: [\d.]+ % of 1000 test sentences/s);
    const model = await loadCorefModel(out);
    assert.equal(model.config.numLayers, 2);
    assert.equal(model.attentionLoss, 1); // recorded in the file, so explain can say which head was supervised
    const e = memoryIO();
    assert.equal(await run(['explain', '--model', out], e.io), 0, e.stderr());
    assert.match(e.stdout(), /Prediction: "it" → /);

    const tty = memoryIO({ tty: true, columns: 100 });
    assert.equal(await run(['train', '--steps', '2', '--out', join(dir, 'b.safetensors')], tty.io), 0);
    assert.match(tty.stderr(), /\r\[█+░*\]\s+\d+%  step 2\/2 {2}loss/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('progressBar fits the width and shows loss, accuracy and ETA', () => {
  const line = progressBar({ step: 30, steps: 120, loss: 0.5, accuracy: 0.75, elapsedMs: 10_000, etaMs: 75_000 }, 80);
  assert.ok(line.length <= 79, line);
  assert.match(line, /^\[█+░+\]\s+25%  step 30\/120  loss 0\.5000  accuracy 75\.0 %  ETA 1m15s/);
});
