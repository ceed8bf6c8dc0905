// The web viewer in Debian's Chromium, driven by playwright-core, against the built page (web/dist) served by
// startServer. What the page shows is checked against the same model run here in Node: the browser computes in its
// worker, Node computes with the same bytes, and the numbers must agree.
//
// Needs: `npm run build:web` (the page) and /usr/bin/chromium (tools/install-chromium.sh installs it; in CI, as
// root). Without either the tests fail with a message that says what to do; they never skip.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { type Browser, type Page, chromium } from 'playwright-core';

import { DEFAULT_MODEL, DEFAULT_ROOT, type RunningServer, startServer } from '../../src/cli/serve.js';
import { type ExplainJson } from '../../src/explain/trace-json.js';
import { CorefModel, explainSentence } from '../../src/tasks/coref/model.js';
import { longTrace } from './fixtures.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = join(REPO, 'test-artifacts');
const CHROMIUM = process.env.QKV_CHROMIUM ?? '/usr/bin/chromium';
/** The model the page gets; QKV_WEB_MODEL points elsewhere (for a model being trained). */
const MODEL = process.env.QKV_WEB_MODEL ?? DEFAULT_MODEL;
const SENTENCE = 'The cat sat on the mat because it was tired.';

/** Flags of the machine's probe: headless, no sandbox as root, and no background traffic to a closed network. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

let server: RunningServer;
let browser: Browser;
let page: Page;
/** What Node computes for the default sentence with the served model. */
let expected: ExplainJson;
const consoleErrors: string[] = [];

/** Saves a screenshot under test-artifacts/ and returns its bytes. */
async function snap(name: string, fullPage = false): Promise<Buffer> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return page.screenshot({ path: join(ARTIFACTS, name), fullPage });
}

function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  try {
    execFileSync('bash', [join(REPO, 'tools/install-chromium.sh')], { stdio: 'inherit' });
  } catch {
    // reported below
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`browser tests: ${CHROMIUM} is missing and tools/install-chromium.sh could not install it; run it as root (apt-get install chromium)`);
  }
}

before(async () => {
  if (!existsSync(join(DEFAULT_ROOT, 'index.html'))) {
    throw new Error(`browser tests: the page is not built (${DEFAULT_ROOT}index.html is missing); run \`npm run build:web\``);
  }
  if (!existsSync(MODEL)) throw new Error(`browser tests: the model ${MODEL} is missing`);
  ensureChromium();
  expected = explainSentence(CorefModel.fromBytes(new Uint8Array(readFileSync(MODEL))), SENTENCE);
  server = await startServer({ port: 0, model: MODEL });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && consoleErrors.push(`worker: ${m.text()}`)));
  await page.goto(server.url);
  await page.getByTestId('answer').waitFor({ timeout: 20_000 });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('the page loads with no console errors and shows the tokens and the answer', async () => {
  assert.deepEqual(consoleErrors, []);
  const tokens = await page.getByTestId('tokens').locator('button').allTextContents();
  assert.deepEqual(tokens, expected.tokens);
  const p = expected.prediction!;
  const referent = expected.tokens[p.referent];
  const probability = p.probabilities[p.candidates.indexOf(p.referent)];
  assert.equal(await page.getByTestId('answer').textContent(), `"it" → "${referent}" ${probability.toFixed(2)}`);
  assert.equal(referent, 'cat', 'the model should read "it" as "cat"');
  // Cross-origin isolation, so threads can share memory later.
  assert.equal(await page.evaluate('crossOriginIsolated'), true);
});

/**
 * The files under assets/ that the viewer (index.html) loads, directly or through another of them (its worker's
 * script is named in the page's script). The build has a second page, selftest.html, the wasm backend's browser
 * self-test (tests/browser/wasm-threads.test.ts), whose scripts carry the wasm kernel and its thread pool: they are
 * not the viewer's, so its size budget and Node check leave them out.
 */
function viewerAssets(assets: string): string[] {
  const all = readdirSync(assets);
  const loaded = new Set<string>();
  const pending = [readFileSync(join(DEFAULT_ROOT, 'index.html'), 'utf8')];
  while (pending.length > 0) {
    const text = pending.pop()!;
    for (const name of all) {
      if (loaded.has(name) || !text.includes(name)) continue;
      loaded.add(name);
      pending.push(readFileSync(join(assets, name), 'utf8'));
    }
  }
  return [...loaded];
}

test('the bundle holds no Node module and stays small', () => {
  const assets = join(DEFAULT_ROOT, 'assets');
  // The model is served at /model.safetensors; a copy in the bundle means a `new URL(…, import.meta.url)` in code
  // a page imports (Vite emits such files as assets).
  for (const name of readdirSync(assets)) assert.ok(!name.endsWith('.safetensors'), `the bundle holds a model file, ${name}`);
  const viewer = viewerAssets(assets);
  assert.ok(viewer.some((name) => /^worker-.*\.js$/.test(name)), `the viewer's worker script is not among ${viewer.join(', ')}`);
  let raw = 0;
  let gzipped = 0;
  for (const name of viewer) {
    const bytes = readFileSync(join(assets, name));
    // The wasm backend asks for node:os / node:worker_threads through process.getBuiltinModule, only when it runs
    // in Node; an import of a node: module would break the page.
    if (name.endsWith('.js')) assert.doesNotMatch(bytes.toString('utf8'), /(?:from|import\s*\()\s*["'`]node:/, `${name} imports a node: module`);
    raw += bytes.length;
    gzipped += gzipSync(bytes).length;
  }
  // docs/WEB.md records the size; this budget catches a dependency pulled in by accident. It counts every asset,
  // the real-model view's worker and tokenizer (about 63 kB, fetched only when a model is opened) included.
  assert.ok(gzipped < 130_000, `the page's assets are ${gzipped} bytes gzipped (${raw} raw)`);
});

test('the model view renders every layer × head, each a full N×N map', async () => {
  await page.getByRole('tab', { name: 'Model' }).click();
  const thumbs = page.getByTestId('thumb');
  const L = expected.layers.length;
  const H = expected.layers[0].heads.length;
  assert.equal(await thumbs.count(), L * H);
  const N = expected.tokens.length;
  const cells = await thumbs.evaluateAll((els) => els.map((e) => e.querySelectorAll('rect').length));
  assert.deepEqual(cells, new Array(L * H).fill(N * N));
  const labels = await thumbs.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
  assert.equal(labels[L * H - 1], `Layer ${L - 1}, head ${H - 1}: open in the matrix view`);
  await snap('web-model.png');
});

test('selecting "it" shows its highest weight on "cat", with the number', async () => {
  await page.getByRole('tab', { name: 'Head view' }).click();
  const it = expected.tokens.indexOf('it');
  const cat = expected.tokens.indexOf('cat');
  await page.getByTestId('tokens').getByRole('button', { name: 'it', exact: true }).click();
  assert.equal(await page.getByTestId('tokens').getByRole('button', { name: 'it', exact: true }).getAttribute('aria-pressed'), 'true');
  await page.getByTestId('focus-list').waitFor();

  // The head that looks most from "it" to "cat", found here in Node.
  let best = { layer: 0, head: 0, weight: -1 };
  expected.layers.forEach((l, li) => l.heads.forEach((h, hi) => {
    if (h.weights[it][cat] > best.weight) best = { layer: li, head: hi, weight: h.weights[it][cat] };
  }));
  const row = expected.layers[best.layer].heads[best.head].weights[it];
  assert.equal(Math.max(...row), row[cat], 'in that head, "cat" should be the heaviest key of "it"');

  await page.getByTestId('show-link').click();
  assert.equal(await page.getByTestId('layer').inputValue(), String(best.layer));
  const top = page.getByTestId('focus-top');
  assert.equal(await top.count(), 1);
  assert.equal(await top.locator('.tok').textContent(), 'cat');
  assert.equal(await top.locator('.num').textContent(), best.weight.toFixed(3));
  // The head view draws only the lines of "it", the heaviest one to "cat".
  const lines = page.getByTestId('head-view').locator('line');
  const froms = await lines.evaluateAll((els) => els.map((e) => e.getAttribute('data-from')));
  assert.ok(froms.length > 0 && froms.every((f) => f === String(it)));
  const last = await lines.last().getAttribute('data-to'); // drawn light to heavy
  assert.equal(last, String(cat));
});

test('the matrix view shows the exact weight of a hovered or focused cell', async () => {
  await page.getByRole('tab', { name: 'Matrix' }).click();
  const layer = Number(await page.getByTestId('layer').inputValue());
  const head = Number(await page.locator('#heads input:checked').first().getAttribute('value'));
  const weights = expected.layers[layer].heads[head].weights;
  const matrix = page.getByTestId('matrix').first();
  await matrix.locator('rect.cell[data-row="7"][data-col="1"]').hover();
  const readout = page.getByTestId('readout').first();
  assert.equal(await readout.textContent(), `"it" (8) → "cat" (2): weight ${weights[7][1].toFixed(6)}`);
  await matrix.focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowDown');
  assert.equal(await readout.textContent(), `"${expected.tokens[8]}" (9) → "${expected.tokens[2]}" (3): weight ${weights[8][2].toFixed(6)}`);
  assert.equal(await page.getByTestId('legend').count(), 1);
  await snap('web-matrix.png');
});

test('the step view walks one token: weights that sum to 1 and the output', async () => {
  // Arrow keys move between tabs.
  await page.getByRole('tab', { name: 'Matrix' }).focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getByRole('tab', { name: 'Steps' }).getAttribute('aria-selected'), 'true');
  const steps = page.getByTestId('steps');
  assert.equal(await page.getByTestId('weight-sum').textContent(), '1.000000');
  await snap('web-steps.png');
  assert.equal(await steps.locator('tbody tr').count(), expected.tokens.length);
  assert.match((await steps.locator('tr.top th').textContent()) ?? '', /^cat$/);
  const layer = Number(await page.getByTestId('layer').inputValue());
  const head = Number(await page.locator('#heads input:checked').first().getAttribute('value'));
  const out = expected.layers[layer].heads[head].output[expected.tokens.indexOf('it')];
  assert.match((await steps.locator('.output').textContent()) ?? '', new RegExp(`\\[${out.map((v) => v.toFixed(2)).join(', ').replace(/[.[\]]/g, '\\$&')}\\]`));
});

test('a screenshot at 1280×800 is saved', async () => {
  // Every head of the last layer in its colour, with the lines of "it".
  await page.getByTestId('layer').selectOption(String(expected.layers.length - 1));
  await page.locator('#heads').getByRole('button', { name: 'All' }).click();
  await page.getByRole('tab', { name: 'Head view' }).click();
  assert.equal(await page.getByTestId('focus-list').locator('section').count(), expected.layers[0].heads.length);
  assert.ok((await snap('web.png')).length > 10_000);
});

test('a bad file shows a clear error on the page', async () => {
  const error = page.getByTestId('error');
  const cases: [string, string, RegExp][] = [
    ['bad.json', '{"format": "something else"}', /Could not open bad\.json: parseExplainJson: format is "something else", not "qkv\.explain"/],
    ['notes.json', '{ not json', /Could not open notes\.json: parseExplainJson: not JSON/],
    ['weights.safetensors', '\u0005\u0000\u0000\u0000\u0000\u0000\u0000\u0000xxxxx', /Could not open weights\.safetensors: .*safetensors/i],
  ];
  for (const [name, text, message] of cases) {
    await page.locator('#file').setInputFiles({ name, mimeType: 'application/octet-stream', buffer: Buffer.from(text, 'latin1') });
    await error.waitFor({ state: 'visible' });
    assert.match((await error.textContent()) ?? '', message);
    // The last good view stays.
    assert.equal(await page.getByTestId('tokens').locator('button').count(), expected.tokens.length);
    await page.locator('#sentence-form button[type=submit]').click();
    await error.waitFor({ state: 'hidden' });
  }
  // A sentence with an unknown word says which word.
  await page.locator('#sentence').fill('The cat sat on the zorblax because it was tired.');
  await page.locator('#sentence').press('Enter');
  await error.waitFor({ state: 'visible' });
  assert.match((await error.textContent()) ?? '', /zorblax/);
  await page.locator('#sentence').fill(SENTENCE);
  await page.locator('#sentence').press('Enter');
  await error.waitFor({ state: 'hidden' });
});

test('a safetensors model opened by the file input replaces the model', async () => {
  await page.locator('#file').setInputFiles({ name: 'mine.safetensors', mimeType: 'application/octet-stream', buffer: readFileSync(MODEL) });
  await page.locator('#status', { hasText: 'by the model from mine.safetensors' }).waitFor();
  assert.equal(await page.getByTestId('error').isVisible(), false);
  assert.deepEqual(await page.getByTestId('tokens').locator('button').allTextContents(), expected.tokens);
});

test('a long trace dropped on the page stays usable: top-k links and pooled maps', async (t) => {
  const doc = longTrace(300);
  // A DataTransfer made in the page, holding the file, as a real drop carries it (a string: Node has no DOM types).
  const handle = await page.evaluateHandle(
    `(() => { const t = new DataTransfer(); t.items.add(new File([${JSON.stringify(JSON.stringify(doc))}], 'long.json', { type: 'application/json' })); return t; })()`,
  );
  const started = Date.now();
  await page.dispatchEvent('body', 'drop', { dataTransfer: handle });
  await page.getByTestId('tokens').locator('button').nth(299).waitFor();
  assert.match((await page.locator('#status').textContent()) ?? '', /Showing long\.json/);
  t.diagnostic(`300 tokens opened and drawn in ${Date.now() - started} ms`);
  assert.equal(await page.getByTestId('topk').inputValue(), '3');
  const lines = await page.getByTestId('head-view').locator('line').count();
  const heads = doc.layers[0].heads.length;
  assert.ok(lines > 0 && lines <= 3 * 300 * heads, `${lines} lines`);
  await snap('web-long.png', true);

  await page.getByRole('tab', { name: 'Matrix' }).click();
  const cells = await page.getByTestId('matrix').first().locator('rect.cell').count();
  assert.ok(cells <= 48 * 48, `${cells} cells`);
  await page.getByTestId('matrix').first().locator('rect.cell').first().hover();
  assert.match((await page.getByTestId('readout').first().textContent()) ?? '', /queries 1–7 → keys 1–7: mean total weight \d\.\d{6}/);
  await page.getByRole('tab', { name: 'Model' }).click();
  assert.equal(await page.getByTestId('thumb').count(), doc.layers.length * heads);
  await page.getByRole('tab', { name: 'Steps' }).click();
  assert.equal(await page.getByTestId('weight-sum').textContent(), '1.000000');
  assert.ok(Date.now() - started < 15_000, `the long trace took ${Date.now() - started} ms`);
  assert.deepEqual(consoleErrors, []);
});

test('on a narrow screen nothing overflows sideways', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#sentence').fill(SENTENCE);
  await page.locator('#sentence').press('Enter');
  await page.getByTestId('tokens').locator('button').nth(expected.tokens.length - 1).waitFor();
  for (const tab of ['Head view', 'Matrix', 'Model', 'Steps']) {
    await page.getByRole('tab', { name: tab }).click();
    const [scroll, inner] = await page.evaluate<[number, number]>('[document.documentElement.scrollWidth, window.innerWidth]');
    assert.ok(scroll <= inner, `${tab}: the page is ${scroll} px wide in a ${inner} px window`);
  }
  await page.getByRole('tab', { name: 'Head view' }).click();
  await snap('web-narrow.png', true);
  assert.deepEqual(consoleErrors, []);
});
