// The web viewer on real Hugging Face models, in Debian's Chromium driven by playwright-core: `startServer` serves the
// tiny GPT-2 fixture folder under /model/ (as `qkv serve --model <folder>` does), the page opens it in its model
// worker, and what it shows is checked against the same model run here in Node. A folder picked with the folder
// input (the tiny Llama) replaces it, and a 1024-token text stays usable: top-k links, a pooled heatmap, and no long
// task on the page's thread.
//
// Needs: `npm run build:web` and /usr/bin/chromium (tools/install-chromium.sh). Without either the tests fail with a
// message that says what to do; they never skip.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { type Browser, type Page, chromium } from 'playwright-core';

import { DEFAULT_ROOT, type RunningServer, startServer } from '../../src/cli/serve.js';
import { type PretrainedModel, loadPretrained } from '../../src/index.js';
import { runAttention, summarizeHead } from '../../src/explain/model-trace.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(REPO, 'test-artifacts');
const CHROMIUM = process.env.QKV_CHROMIUM ?? '/usr/bin/chromium';
const GPT2 = join(REPO, 'tests/models/fixtures/gpt2');
const LLAMA = join(REPO, 'tests/models/fixtures/llama');
const TEXT = 'The cat sat on the mat because it was tired.';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

let server: RunningServer;
let browser: Browser;
let page: Page;
let gpt2: PretrainedModel;
const consoleErrors: string[] = [];

const shown = (t: string) => t.replaceAll(' ', '␣');

before(async () => {
  if (!existsSync(join(DEFAULT_ROOT, 'index.html'))) {
    throw new Error(`browser tests: the page is not built (${DEFAULT_ROOT}index.html is missing); run \`npm run build:web\``);
  }
  if (!existsSync(CHROMIUM)) {
    try {
      execFileSync('bash', [join(REPO, 'tools/install-chromium.sh')], { stdio: 'inherit' });
    } catch {
      // reported below
    }
    if (!existsSync(CHROMIUM)) throw new Error(`browser tests: ${CHROMIUM} is missing; run tools/install-chromium.sh as root`);
  }
  gpt2 = await loadPretrained(GPT2);
  server = await startServer({ port: 0, modelFolder: GPT2, modelName: 'tiny-gpt2' });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && consoleErrors.push(`worker: ${m.text()}`)));
  await page.goto(server.url);
  await page.getByTestId('head-grid').waitFor({ timeout: 20_000 });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('the served model opens in the head grid: L × H cells with the summaries Node computes', async () => {
  assert.equal(await page.getByTestId('real').isVisible(), true);
  assert.equal(await page.getByTestId('prediction').isVisible(), false, 'the coreference answer is hidden');
  assert.match((await page.getByTestId('real-info').textContent()) ?? '', /gpt2 from tiny-gpt2: 2 layers × 4 heads/);
  const { tokens, attentions } = runAttention(gpt2, TEXT);
  assert.deepEqual(await page.getByTestId('real-tokens').locator('button').allTextContents(), tokens.map(shown));
  const cells = page.getByTestId('head-cell');
  assert.equal(await cells.count(), 2 * 4);
  const N = tokens.length;
  const titles = await cells.evaluateAll((els) => els.map((e) => e.getAttribute('title')));
  titles.forEach((title, k) => {
    const [l, h] = [Math.floor(k / 4), k % 4];
    assert.equal(title, `Layer ${l}, head ${h}: largest weight (mean over tokens) ${summarizeHead(attentions[l].data, h * N * N, N, N).max.toFixed(3)}`);
  });
  assert.deepEqual(consoleErrors, []);
});

test('typing a text recomputes; clicking a head shows its pattern with the exact weights', async () => {
  const text = 'Hello world, the dog ran';
  await page.locator('#sentence').fill(text);
  await page.locator('#sentence').press('Enter');
  const { tokens, attentions } = runAttention(gpt2, text);
  const N = tokens.length;
  await page.getByTestId('real-tokens').locator('button').nth(N - 1).waitFor();
  assert.equal(await page.getByTestId('real-tokens').locator('button').count(), N);

  await page.locator('[data-testid="head-cell"][data-layer="0"][data-head="2"]').click();
  await page.getByTestId('pattern-title').filter({ hasText: 'Layer 0, head 2' }).waitFor();
  assert.equal(await page.locator('[data-testid="head-cell"][data-layer="0"][data-head="2"]').getAttribute('aria-pressed'), 'true');
  // Causal: token i has i + 1 keys, so min(3, i + 1) lines of its top 3.
  let expectedLines = 0;
  for (let i = 0; i < N; i++) expectedLines += Math.min(3, i + 1);
  assert.equal(await page.getByTestId('links').locator('line').count(), expectedLines);
  const matrix = page.getByTestId('head-pattern').getByTestId('matrix');
  assert.equal(await matrix.locator('rect.cell').count(), N * N);
  await matrix.locator(`rect.cell[data-row="${N - 1}"][data-col="0"]`).hover();
  const w = attentions[0].data[(2 * N + N - 1) * N + 0];
  assert.match((await page.getByTestId('head-pattern').getByTestId('readout').textContent()) ?? '', new RegExp(`weight ${w.toFixed(6)}$`));

  // A chosen token colours the grid by its heaviest key, and lists its keys in the head.
  await page.getByTestId('real-tokens').locator('button').nth(N - 1).click();
  await page.getByTestId('real-top').waitFor();
  const row = Array.from(attentions[0].data.subarray((2 * N + N - 1) * N, (2 * N + N) * N));
  const best = row.indexOf(Math.max(...row));
  assert.equal(await page.getByTestId('real-top').locator('li .tok').first().textContent(), shown(tokens[best]));
  assert.match((await page.locator('[data-testid="head-cell"][data-layer="0"][data-head="2"]').getAttribute('title')) ?? '', new RegExp(`weight ${row[best].toFixed(3)}$`));
  assert.ok(await page.getByTestId('links').locator(`line:not([data-from="${N - 1}"])`).count() === 0, 'only the chosen token\'s lines');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'web-real-model.png'), fullPage: true });
  assert.deepEqual(consoleErrors, []);
});

test('a model folder picked with the folder input replaces the model; 1024 tokens stay usable', async (t) => {
  await page.locator('#folder').setInputFiles(LLAMA);
  await page.getByTestId('real-info').filter({ hasText: 'llama from llama' }).waitFor({ timeout: 20_000 });
  assert.equal(await page.getByTestId('head-cell').count(), 2 * 4);

  const llama = await loadPretrained(LLAMA);
  let text = '';
  while (llama.tokenizer!.encode(text).length < 1024) text += 'the cat sat on the mat. ';
  while (llama.tokenizer!.encode(text).length > 1024) text = text.slice(0, -1);
  const N = llama.tokenizer!.encode(text).length;
  // Long tasks (over 50 ms) on the page's thread, while the worker computes and the page draws.
  // (Strings, not functions: Node has no DOM types.)
  await page.evaluate(`window.longTasks = []; new PerformanceObserver((list) => list.getEntries().forEach((e) => window.longTasks.push(e.duration))).observe({ type: 'longtask' });`);
  const started = Date.now();
  await page.locator('#sentence').fill(text);
  await page.locator('#sentence').press('Enter');
  await page.getByTestId('real-tokens').locator('button').nth(N - 1).waitFor({ timeout: 60_000 });
  await page.getByTestId('links').waitFor();
  await page.waitForFunction(`document.querySelectorAll('[data-testid="real-tokens"] button').length === ${N} && document.querySelector('[data-testid="pattern-title"]') !== null`);
  const ms = Date.now() - started;
  const longTasks = (await page.evaluate('window.longTasks')) as number[];
  t.diagnostic(`${N} tokens computed and drawn in ${ms} ms; long tasks on the page's thread: ${longTasks.map((d) => Math.round(d)).join(', ') || 'none'} ms`);
  assert.ok(Math.max(0, ...longTasks) < 1000, `the page's thread was blocked for ${Math.max(...longTasks)} ms`);
  const lines = await page.getByTestId('links').locator('line').count();
  assert.ok(lines > 0 && lines <= 3 * N, `${lines} lines`);
  assert.ok((await page.getByTestId('head-pattern').getByTestId('matrix').locator('rect.cell').count()) <= 48 * 48);
  // Still responsive: another head opens.
  await page.locator('[data-testid="head-cell"][data-layer="0"][data-head="1"]').click();
  await page.getByTestId('pattern-title').filter({ hasText: 'Layer 0, head 1' }).waitFor();
  await page.screenshot({ path: join(ARTIFACTS, 'web-real-long.png') });
  assert.deepEqual(consoleErrors, []);
});

test('the way back to the coreference model', async () => {
  await page.locator('#sentence').fill(TEXT);
  await page.getByRole('button', { name: 'Back to the coreference model' }).click();
  await page.getByTestId('answer').waitFor();
  assert.equal(await page.getByTestId('real').isVisible(), false);
  assert.match((await page.getByTestId('answer').textContent()) ?? '', /"it" → "cat"/);
});

test('without a model folder the page never loads the model worker: what it fetches stays small', async (t) => {
  const plain = await startServer({ port: 0 });
  const other = await browser.newPage();
  const fetched = new Set<string>();
  other.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.startsWith('/assets/')) fetched.add(path.slice('/assets/'.length));
  });
  try {
    await other.goto(plain.url);
    await other.getByTestId('answer').waitFor({ timeout: 20_000 });
    assert.equal(await other.getByTestId('real').isVisible(), false);
    let gzipped = 0;
    for (const name of fetched) gzipped += gzipSync(readFileSync(join(DEFAULT_ROOT, 'assets', name))).length;
    t.diagnostic(`the coreference page fetched ${[...fetched].join(', ')}: ${gzipped} bytes gzipped`);
    assert.ok(![...fetched].some((name) => name.startsWith('tokenizer-')), 'the tokenizer is fetched only with a real model');
    assert.ok(gzipped < 80_000, `${gzipped} bytes gzipped`);
  } finally {
    await other.close();
    await plain.close();
  }
});
