// The CLI, called as run(argv, io) with in-memory streams.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { run } from '../../src/cli/run.js';

function memoryIO() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

test('the default command is the tour, which walks the seed steps for "it"', async () => {
  const m = memoryIO();
  assert.equal(await run([], m.io), 0);
  const text = m.stdout();
  for (const step of ['1.1 Scoring', '1.2 Weighting', '1.3 Aggregating']) assert.match(text, new RegExp(step));
  // The weights of "it" sum to 1 and the largest goes to "cat".
  assert.match(text, /sum\s+1\.000000/);
  const weighting = text.slice(text.indexOf('1.2 Weighting'), text.indexOf('1.3 Aggregating'));
  const rows = [...weighting.matchAll(/^ {4}(\S+)\s+([\d.]+)/gm)].map((m) => [m[1], Number(m[2])] as const);
  const best = rows.filter(([t]) => t !== 'sum').sort((a, b) => b[1] - a[1])[0];
  assert.equal(best[0], 'cat');
  assert.ok(best[1] > 0.85, `weight of cat ${best[1]}`);
  assert.equal(m.stderr(), '');
});

test('help and version', async () => {
  const m = memoryIO();
  assert.equal(await run(['help'], m.io), 0);
  assert.match(m.stdout(), /Usage:/);
  const v = memoryIO();
  assert.equal(await run(['--version'], v.io), 0);
  assert.match(v.stdout(), /^\d+\.\d+\.\d+\n$/);
});

test('an unknown command is a usage error with exit code 2', async () => {
  const m = memoryIO();
  assert.equal(await run(['fly'], m.io), 2);
  assert.match(m.stderr(), /unknown command "fly"/);
  assert.match(m.stderr(), /Usage:/);
  assert.equal(m.stdout(), '');
});
