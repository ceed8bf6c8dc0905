// The README's examples really run. Each ```ts block that is followed by a ```text block is written into the repo
// (so that `import ... from 'qkv'` resolves to this package's built dist/ through its own `exports`), run with
// tsx, and its output must equal the text block.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
// A ts block without an output block (it needs files or the network) is shown, not run: the code may not span blocks.
const examples = [...readme.matchAll(/```ts\n((?:(?!```)[\s\S])*?)```\s*```text\n([\s\S]*?)```/g)].map((m) => ({
  code: m[1],
  expected: m[2].trimEnd(),
}));

test('the README has examples with their output', () => {
  assert.ok(examples.length >= 5, `found ${examples.length} examples`);
});

const dir = join(root, 'test-artifacts', 'readme');
mkdirSync(dir, { recursive: true });
examples.forEach(({ code, expected }, i) => {
  const firstLine = code.split('\n').find((l) => l.trim() && !l.startsWith('import')) ?? '';
  test(`README example ${i + 1}: ${firstLine.slice(0, 60)}`, () => {
    const file = join(dir, `example-${i + 1}.ts`);
    writeFileSync(file, code);
    const out = execFileSync(process.execPath, ['--import', 'tsx', file], { cwd: root, encoding: 'utf8' });
    assert.equal(out.trimEnd(), expected);
  });
});
