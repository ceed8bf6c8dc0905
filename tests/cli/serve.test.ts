// `qkv serve`: it hands out the files under its root and the model, nothing else. Path traversal in every spelling
// (raw, percent-encoded, backslashes, NUL, symbolic links) is refused; it binds loopback unless told otherwise; the
// headers make the page cross-origin isolated.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { MODEL_URL, safeRelativePath, serveCommand, startServer, type RunningServer } from '../../src/cli/serve.js';

const SECRET = 'top secret: this file lies outside the served root';

let dir: string;
let root: string;
let server: RunningServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'qkv-serve-'));
  root = join(dir, 'root');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>viewer</title>');
  writeFileSync(join(root, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(root, 'assets', 'style.css'), 'body{}');
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  writeFileSync(join(dir, 'model.safetensors'), 'MODEL BYTES');
  symlinkSync(join(dir, 'secret.txt'), join(root, 'assets', 'link.txt'));
  server = await startServer({ root, model: join(dir, 'model.safetensors'), port: 0 });
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A raw GET: the path goes on the wire exactly as written (no URL normalisation on the client side). */
function get(path: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port: server.address.port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

test('binds 127.0.0.1 by default and reports its URL', () => {
  assert.equal(server.address.address, '127.0.0.1');
  assert.equal(server.url, `http://127.0.0.1:${server.address.port}/`);
});

test('serves the page with its content type and cross-origin isolation headers', async () => {
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<title>viewer<\/title>/);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(page.headers['cross-origin-embedder-policy'], 'require-corp');
  const table: [string, string][] = [
    ['/index.html', 'text/html; charset=utf-8'],
    ['/assets/app.js', 'text/javascript; charset=utf-8'],
    ['/assets/style.css?v=1', 'text/css; charset=utf-8'],
    [MODEL_URL, 'application/octet-stream'],
  ];
  for (const [path, type] of table) {
    const r = await get(path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['content-type'], type, path);
  }
});

test('serves the model file at the fixed URL', async () => {
  const r = await get(MODEL_URL);
  assert.equal(r.body, 'MODEL BYTES');
  assert.equal(r.headers['content-length'], '11');
});

test('refuses every spelling of a path outside the root', async () => {
  const attempts = [
    '/../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E/secret.txt',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/..%2fsecret.txt',
    '/%2e%2e%2fsecret.txt',
    '/..%5csecret.txt',
    '/assets\\..\\..\\secret.txt',
    '/%00',
    '/index.html%00.js',
    '/%E0%A4%A',
    '/assets/link.txt', // a symbolic link that points outside
  ];
  for (const path of attempts) {
    const r = await get(path);
    assert.ok(r.status === 403 || r.status === 400, `${path} gave ${r.status}`);
    assert.ok(!r.body.includes(SECRET), `${path} leaked the secret`);
  }
  // A request target that is not a path at all.
  const absolute = await get(`http://127.0.0.1:${server.address.port}/../secret.txt`);
  assert.ok(!absolute.body.includes(SECRET));
  assert.notEqual(absolute.status, 200);
});

test('answers 404 for a missing file and 405 for anything but GET and HEAD', async () => {
  assert.equal((await get('/nope.js')).status, 404);
  assert.equal((await get('/assets')).status, 404); // a folder without index.html
  const post = await get('/', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  const head = await get('/', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
});

test('safeRelativePath normalises and refuses', () => {
  const cases: [string, string | null][] = [
    ['/', ''],
    ['/index.html', 'index.html'],
    ['/a/./b//c.js', 'a/b/c.js'],
    ['/a%20b.txt', 'a b.txt'],
    ['/../x', null],
    ['/a/%2e%2e/x', null],
    ['/a%2f..%2fx', null],
    ['/a\\b', null],
    ['/a%5cb', null],
    ['/a%00b', null],
    ['/%zz', null],
    ['x', null],
  ];
  for (const [input, expected] of cases) assert.equal(safeRelativePath(input), expected, input);
});

test('a missing root says how to build the page', async () => {
  await assert.rejects(startServer({ root: join(dir, 'nope'), port: 0 }), /build the page first with `npm run build:web`/);
});

test('serveCommand prints a loopback URL, serves, and stops on its signal', async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) } };
  const controller = new AbortController();
  const running = serveCommand(['--port', '0', '--model', join(dir, 'model.safetensors')], io, { signal: controller.signal, root });
  for (let i = 0; i < 100 && out.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const url = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out.join(''));
  assert.ok(url, `no loopback URL in ${JSON.stringify(out)}`);
  const page = await fetch(url[0]);
  assert.equal(page.status, 200);
  controller.abort();
  assert.equal(await running, 0);
  assert.deepEqual(err, []);
});

test('serveCommand rejects bad arguments with a usage error', async () => {
  const table: [string[], number, RegExp][] = [
    [['--port', 'eighty'], 2, /--port must be an integer/],
    [['--port', '70000'], 2, /--port must be an integer/],
    [['--port'], 2, /--port needs a value/],
    [['--wat'], 2, /unknown argument "--wat"/],
    [['--model', join(dir, 'missing.safetensors'), '--port', '0'], 1, /is not a readable file/],
  ];
  for (const [args, code, message] of table) {
    const err: string[] = [];
    const io = { stdout: { write: () => undefined }, stderr: { write: (t: string) => err.push(t) } };
    assert.equal(await serveCommand(args, io, { root, signal: AbortSignal.abort() }), code, args.join(' '));
    assert.match(err.join(''), message);
  }
});
