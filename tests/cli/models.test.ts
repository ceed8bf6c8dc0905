// `qkv explain --model` and `qkv generate --model` on the tiny Hugging Face fixtures, called as run(argv, io) with
// in-memory streams: the head grid, one head's heatmap, one token's keys and the JSON agree with the model's own
// forward; generation streams exactly what model.generate gives; every bad argument is one line and a nonzero code.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { run } from '../../src/cli/run.js';
import { loadPretrained } from '../../src/index.js';
import { stripAnsi } from '../../src/explain/heatmap.js';
import { buildAttentionJson, parseAttentionJson, runAttention, summarizeHead } from '../../src/explain/model-trace.js';

const GPT2 = 'tests/models/fixtures/gpt2';
const LLAMA = 'tests/models/fixtures/llama';
const BERT = 'tests/models/fixtures/bert-mlm';
const TEXT = 'Hello world, the cat sat';

function memoryIO(options: { tty?: boolean; columns?: number } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (s: string) => out.push(s), isTTY: options.tty, columns: options.columns },
      stderr: { write: (s: string) => err.push(s) },
      env: {},
    },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
    chunks: out,
  };
}

test('explain --model draws the head grid: one cell per layer × head, the summary of the forward', async () => {
  const m = memoryIO();
  assert.equal(await run(['explain', '--model', GPT2, TEXT], m.io), 0, m.stderr());
  const text = m.stdout();
  const model = await loadPretrained(GPT2);
  const { tokens, attentions } = runAttention(model, TEXT);
  assert.match(text, /Model: gpt2 from tests\/models\/fixtures\/gpt2: 2 layers × 4 heads, D = 32, d = 8/);
  assert.match(text, new RegExp(`Tokens \\(${tokens.length}\\):`));
  const grid = text.split('\n').filter((line) => /^L\d /.test(line));
  assert.equal(grid.length, 2);
  const N = tokens.length;
  grid.forEach((line, l) => {
    const cells = line.trim().split(/\s+/).slice(1).map(Number);
    assert.equal(cells.length, 4);
    cells.forEach((x, h) => assert.equal(x.toFixed(2), summarizeHead(attentions[l].data, h * N * N, N, N).max.toFixed(2)));
  });
  for (const line of text.split('\n')) assert.ok(line.length <= 80, `too wide: ${line}`);
  assert.equal(m.stderr(), '');
});

test('explain --model --layer --head draws one heatmap; --token lists the heaviest keys; colour stays within the width', async () => {
  const one = memoryIO();
  assert.equal(await run(['explain', '--model', GPT2, TEXT, '--layer', '1', '--head', '2'], one.io), 0, one.stderr());
  assert.match(one.stdout(), /layer 1 head 2/);
  assert.doesNotMatch(one.stdout(), /layer 0 head/);

  const model = await loadPretrained(GPT2);
  const { attentions, tokens } = runAttention(model, TEXT);
  const N = tokens.length;
  const cat = tokens.findIndex((t) => t.trim() === 'cat');
  const m = memoryIO({ tty: true, columns: 60 });
  assert.equal(await run(['explain', '--model', GPT2, TEXT, '--token', 'cat', '--top', '2'], m.io), 0, m.stderr());
  const lines = stripAnsi(m.stdout()).split('\n');
  assert.ok(m.stdout().includes('\x1b['), 'a terminal gets colours');
  for (const line of lines) assert.ok(line.length <= 60, `too wide: ${line}`);
  const l0h2 = lines.find((line) => line.startsWith('L0 H2'))!;
  const row = Array.from(attentions[0].data.subarray((2 * N + cat) * N, (2 * N + cat + 1) * N));
  const best = row.indexOf(Math.max(...row));
  assert.match(l0h2, new RegExp(`^L0 H2\\s+${best} \\S+ ${row[best].toFixed(3)}`));
  assert.equal(lines.filter((line) => /^L\d H\d/.test(line)).length, 8);
});

test('explain --model --json is a valid qkv.attention document with the forward\'s weights', async () => {
  const m = memoryIO();
  assert.equal(await run(['explain', '--model', GPT2, TEXT, '--json'], m.io), 0, m.stderr());
  const doc = parseAttentionJson(m.stdout());
  const model = await loadPretrained(GPT2);
  const { attentions, ids } = runAttention(model, TEXT);
  assert.deepEqual(doc.ids, ids);
  assert.equal(doc.layers.length, 2);
  const N = ids.length;
  for (let l = 0; l < 2; l++) {
    for (let h = 0; h < 4; h++) {
      const w = doc.layers[l].heads[h].weights!;
      for (let i = 0; i < N; i++) {
        for (let j = 0; j < N; j++) assert.ok(Math.abs(w[i][j] - attentions[l].data[(h * N + i) * N + j]) <= 5e-7);
        assert.ok(Math.abs(w[i].reduce((a, b) => a + b, 0) - 1) < 1e-5);
      }
    }
  }
});

test('a long input keeps top-k keys per token instead of full weights, and the parser checks documents', async () => {
  const model = await loadPretrained(LLAMA);
  const text = 'the cat sat on the mat '.repeat(8);
  const run1 = runAttention(model, text);
  const doc = buildAttentionJson(model, run1, { maxWeights: 100, topK: 3 });
  const head = doc.layers[1].heads[3];
  assert.equal(head.weights, undefined);
  assert.equal(head.top!.length, run1.ids.length);
  assert.ok(head.top!.every((r, i) => r.length === Math.min(3, i + 1)));
  parseAttentionJson(JSON.stringify(doc));
  assert.throws(() => parseAttentionJson('{"format":"qkv.explain","version":1}'), /parseAttentionJson: format is "qkv.explain", not "qkv.attention"/);
  const bad = structuredClone(doc);
  bad.layers[1].heads[3].top![2] = [[999, 0.5]];
  assert.throws(() => parseAttentionJson(JSON.stringify(bad)), /layer 1 head 3: top\[2\] must be/);
  assert.throws(() => parseAttentionJson('nope'), /not JSON/);
});

test('generate --model streams greedy text equal to model.generate decoded', async () => {
  for (const folder of [GPT2, LLAMA]) {
    const m = memoryIO();
    assert.equal(await run(['generate', '--model', folder, 'Hello world', '--max-new-tokens', '10'], m.io), 0, m.stderr());
    const model = await loadPretrained(folder);
    const tok = model.tokenizer!;
    const prompt = tok.encode('Hello world');
    const tokens = model.generate([prompt], { maxNewTokens: 10 })[0];
    const skip = { skipSpecialTokens: true };
    const expected = tok.decode([...prompt, ...tokens], skip).slice(tok.decode(prompt, skip).length);
    assert.equal(m.stdout(), `${expected}\n`, folder);
    assert.ok(m.chunks.length >= 2, 'the text comes in pieces, as the tokens arrive');
    assert.match(m.stderr(), /^qkv: \d+ tokens? in [\d.]+ s/);
  }
  // Seeded sampling is repeatable.
  const a = memoryIO();
  const b = memoryIO();
  const args = ['generate', '--model', GPT2, 'Hello', '--temperature', '0.9', '--top-k', '20', '--top-p', '0.9', '--seed', '4'];
  assert.equal(await run(args, a.io), 0);
  assert.equal(await run(args, b.io), 0);
  assert.equal(a.stdout(), b.stdout());
});

test('every bad argument is one line on stderr and a nonzero exit code', async () => {
  const cases: [string[], number, RegExp][] = [
    [['explain', '--model', GPT2, TEXT, '--layer', '2'], 2, /--layer must be below L = 2/],
    [['explain', '--model', GPT2, TEXT, '--head', '-1'], 2, /--head must be an integer ≥ 0/],
    [['explain', '--model', GPT2, TEXT, '--token', 'zebra'], 2, /--token must be a token of the text or its index/],
    [['explain', '--model', GPT2, TEXT, '--stat', 'mean'], 2, /--stat must be one of max, entropy/],
    [['explain', '--model', GPT2, TEXT, '--top', '0'], 2, /--top must be an integer ≥ 1/],
    [['explain', '--model', GPT2, 'a', 'b'], 2, /takes one text/],
    [['explain', '--model', GPT2, TEXT, '--frobnicate'], 2, /unknown option --frobnicate/],
    [['explain', '--model', 'no-such-owner/no-such-model', TEXT, '--offline'], 1, /offline/],
    [['explain', '--model', GPT2, 'x'.repeat(200)], 1, /reads at most 64/],
    [['generate', '--model', BERT, 'hello'], 2, /bert attends both ways and cannot generate/],
    [['generate', '--model', GPT2], 2, /give a text/],
    [['generate', '--model', GPT2, 'x', '--temperature', 'hot'], 2, /--temperature must be a number ≥ 0/],
    [['generate', '--model', GPT2, 'x', '--top-p', '0'], 2, /--top-p must be a number in \(0, 1\]/],
    [['generate', '--model', GPT2, 'x', '--max-new-tokens', '0'], 2, /--max-new-tokens must be an integer ≥ 1/],
    [['generate', '--model', 'tests/models/fixtures/gpt2/config.json', 'x'], 2, /neither a model folder nor a Hub id/],
    [['generate', 'x'], 2, /--model needs a model folder/],
  ];
  for (const [argv, code, message] of cases) {
    const m = memoryIO();
    assert.equal(await run(argv, m.io), code, `${argv.join(' ')}: ${m.stderr()}`);
    assert.match(m.stderr(), message, argv.join(' '));
    assert.equal(m.stderr().trimEnd().split('\n').length, 1, `one line for ${argv.join(' ')}: ${m.stderr()}`);
    assert.doesNotMatch(m.stderr(), /\n\s+at /, 'no stack trace');
  }
});

test('--model with a .safetensors file still explains with the coreference model', async () => {
  const m = memoryIO();
  assert.equal(await run(['explain', '--model', 'models/coref/model.safetensors', '--json'], m.io), 0, m.stderr());
  assert.equal(JSON.parse(m.stdout()).format, 'qkv.explain');
});

test('serve --model <folder> serves only the model files under /model/, listed in files.json', async () => {
  const { mkdtempSync, writeFileSync, mkdirSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { serveCommand } = await import('../../src/cli/serve.js');
  const dir = mkdtempSync(join(tmpdir(), 'qkv-serve-models-'));
  const root = join(dir, 'root');
  mkdirSync(root);
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>viewer</title>');
  const out: string[] = [];
  const io = { stdout: { write: (t: string) => out.push(t) }, stderr: { write: () => undefined } };
  const controller = new AbortController();
  const running = serveCommand(['--port', '0', '--model', GPT2], io, { signal: controller.signal, root });
  for (let i = 0; i < 100 && out.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(out.join(''))![0];
  assert.match(out.join(''), /serving the viewer on tests\/models\/fixtures\/gpt2 at/);
  const list = (await (await fetch(`${url}model/files.json`)).json()) as { source: string; files: { name: string }[] };
  assert.equal(list.source, GPT2);
  const names = list.files.map((f) => f.name);
  for (const name of ['config.json', 'model.safetensors', 'tokenizer.json', 'generation_config.json']) assert.ok(names.includes(name), name);
  assert.ok(!names.includes('expected.json'));
  assert.equal((await fetch(`${url}model/config.json`)).status, 200);
  for (const path of ['model/expected.json', 'model/%2e%2e/config.json', 'model/..%2fconfig.json', 'model/sub/config.json']) {
    assert.ok([403, 404].includes((await fetch(`${url}${path}`)).status), path);
  }
  controller.abort();
  assert.equal(await running, 0);

  const err: string[] = [];
  const bad = { stdout: { write: () => undefined }, stderr: { write: (t: string) => err.push(t) } };
  assert.equal(await serveCommand(['--model', root, '--port', '0'], bad, { root, signal: AbortSignal.abort() }), 1);
  assert.match(err.join(''), /has no config\.json; it is not a Hugging Face model folder/);
});
