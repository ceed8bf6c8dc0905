// loadPretrained with a Hub id, end to end: a loopback server serves the tiny GPT-2 fixture in the Hub's URL layout
// (/{owner}/{name}/resolve/{revision}/{file}, a 404 for files the folder lacks); the model that comes back equals
// the one loaded from the folder, a second load uses the cache offline, and an unreachable Hub is a NetworkError.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { isQkvError, loadPretrained } from '../../src/index.js';

const FOLDER = new URL('./fixtures/gpt2/', import.meta.url).pathname;
let server: http.Server;
let endpoint = '';
let requests = 0;
const cacheDir = mkdtempSync(join(tmpdir(), 'qkv-hub-e2e-'));

before(async () => {
  server = http.createServer((req, res) => {
    requests++;
    const m = /^\/test\/tiny-gpt2\/resolve\/main\/([\w.-]+)$/.exec(req.url ?? '');
    const file = m && join(FOLDER, m[1]);
    if (!file || m![1].startsWith('expected') || !existsSync(file)) {
      res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
      return;
    }
    const data = readFileSync(file);
    res.writeHead(200, { 'content-length': data.length });
    res.end(req.method === 'HEAD' ? undefined : data);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => {
  server.close();
  rmSync(cacheDir, { recursive: true, force: true });
});

it('a Hub id downloads into the cache and gives the folder\'s model; the cache then serves it offline', async () => {
  const fromHub = await loadPretrained('test/tiny-gpt2', { endpoint, cacheDir });
  const fromFolder = await loadPretrained(FOLDER);
  const ids = fromFolder.tokenizer!.encode('The cat sat');
  assert.deepEqual(fromHub.tokenizer!.encode('The cat sat'), ids);
  assert.deepEqual(Array.from(fromHub.forward([ids]).logits!.data), Array.from(fromFolder.forward([ids]).logits!.data));
  const before = requests;
  const again = await loadPretrained('test/tiny-gpt2', { endpoint, cacheDir, offline: true });
  assert.equal(requests, before, 'offline makes no request');
  assert.equal(again.config.hiddenSize, fromFolder.config.hiddenSize);
});

it('offline with a cold cache, and an unreachable Hub, are NetworkErrors', async () => {
  const cold = mkdtempSync(join(tmpdir(), 'qkv-hub-cold-'));
  try {
    await assert.rejects(loadPretrained('test/tiny-gpt2', { endpoint, cacheDir: cold, offline: true }), (e: unknown) => isQkvError(e, 'E_NETWORK'));
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await assert.rejects(
      loadPretrained('test/tiny-gpt2', { endpoint: `http://127.0.0.1:${port}`, cacheDir: cold }),
      (e: unknown) => isQkvError(e, 'E_NETWORK') && /could not reach/.test((e as Error).message),
    );
  } finally {
    rmSync(cold, { recursive: true, force: true });
  }
});
