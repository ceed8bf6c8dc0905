// The package's public entry points, as a user meets them: `qkv` and `qkv/coref` resolve through package.json's
// `exports` to the built dist/ (a package may import itself by name, as tests/readme.test.ts relies on), the
// coreference task is in the subpath and no longer in the root, and the CLI and the web viewer import qkv only
// through those entry points (issue #13, Architecture).
//
// Needs `npm run build` (npm test runs it first).

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Imports by a name that TypeScript does not resolve, so the type check does not need dist/. */
const load = (specifier: string): Promise<Record<string, unknown>> => import(specifier);

/** The coreference names the root exported before the subpath existed. */
const COREF_NAMES = ['CorefModel', 'COREF_DEFAULT_CONFIG', 'explainSentence', 'trainCoref', 'evaluateCoref'];

test("qkv/coref resolves to dist/tasks/coref/index.js and explains the default sentence with the bundled model", async () => {
  assert.equal(relative(REPO, fileURLToPath(import.meta.resolve('qkv/coref'))), join('dist', 'tasks', 'coref', 'index.js'));
  const coref = await load('qkv/coref');
  for (const name of ['CorefModel', 'DEFAULT_CONFIG', 'explainSentence', 'trainCoref', 'evaluateCoref', 'trainedModelBytes',
    'loadCorefModel', 'BUNDLED_MODEL_URL', 'DEFAULT_SENTENCE', 'generateSplits', 'labelSentence', 'findCandidates']) {
    assert.ok(name in coref, `qkv/coref exports ${name}`);
  }
  const { loadCorefModel, explainSentence, DEFAULT_SENTENCE, CorefModel } = coref as {
    loadCorefModel: () => Promise<unknown>;
    explainSentence: (model: unknown, sentence: string) => { tokens: string[]; prediction?: { referent: number } };
    DEFAULT_SENTENCE: string;
    CorefModel: new (...args: never[]) => unknown;
  };
  const model = await loadCorefModel();
  assert.ok(model instanceof CorefModel);
  const doc = explainSentence(model, DEFAULT_SENTENCE);
  assert.equal(doc.tokens[doc.prediction!.referent], 'cat');
});

test('the root qkv resolves to dist/index.js and no longer exports the coreference task', async () => {
  assert.equal(relative(REPO, fileURLToPath(import.meta.resolve('qkv'))), join('dist', 'index.js'));
  const root = await load('qkv');
  for (const name of COREF_NAMES) assert.ok(!(name in root), `the root still exports ${name}`);
  // What the CLI and the viewer take from the root instead of internals.
  for (const name of ['renderExplain', 'wrapText', 'tour', 'traceModelAttention', 'buildAttentionJson', 'parseAttentionJson',
    'renderModelAttention', 'HEAD_STATS', 'DEFAULT_TOP_K', 'findModelToken']) {
    assert.ok(name in root, `the root exports ${name}`);
  }
  assert.ok(!('runAttention' in root), 'the real-model trace is exported as traceModelAttention, not runAttention');
});

/** Every module specifier a file imports or re-exports, statically or with import(). */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm)].map((m) => m[1]);
}

test('src/cli imports qkv only through the public entry points (and the Node-only Hub client on demand)', () => {
  const allowed = new Set(['../index.js', '../tasks/coref/index.js', '../models/hub.js']);
  for (const name of ['run.ts', 'serve.ts', 'models.ts']) {
    for (const s of specifiers(join(REPO, 'src/cli', name))) {
      const ok = s.startsWith('node:') || /^\.\/[\w-]+\.js$/.test(s) || allowed.has(s);
      assert.ok(ok, `src/cli/${name} imports ${s}, past the public entry points`);
    }
  }
  for (const name of ['run.ts', 'models.ts']) {
    assert.ok(!specifiers(join(REPO, 'src/cli', name)).includes('../models/hub.js'), `src/cli/${name} imports the Hub client`);
  }
});

test("web/src imports qkv only through web/src/qkv.ts, which imports only the two entry points", () => {
  const web = join(REPO, 'web/src');
  const files = (readdirSync(web, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => join(web, f));
  assert.ok(files.length > 10, `found ${files.length} files under web/src`);
  for (const file of files) {
    const name = relative(web, file);
    if (name.startsWith('selftest')) continue; // the wasm self-test page (tests/browser), which tests kernel internals
    for (const s of specifiers(file)) {
      if (name === 'qkv.ts') {
        assert.ok(['../../src/index.js', '../../src/tasks/coref/index.js'].includes(s), `web/src/qkv.ts imports ${s}`);
      } else {
        assert.ok(!/(?:^|\/)src\//.test(s) && !s.startsWith('../../'), `web/src/${name} imports ${s}, past web/src/qkv.ts`);
      }
    }
  }
});
