// Tests of the Hub download (src/models/hub.ts) against a fake Hub on 127.0.0.1: a "hub" server in the Hub's
// `resolve` URL layout (small files answered directly with a git-sha1 ETag, LFS files with a 302 that carries
// X-Linked-Etag and X-Linked-Size) and a "cdn" server on another port (so another origin) that serves the blobs with
// Range support. Faults (a cut connection, a stall, a corrupted byte, 401, 5xx, a server that ignores Range) are
// switched on per test. Every cache is a fresh temp folder; no request leaves 127.0.0.1.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';

import { ArgumentError, FormatError, ModelError, NetworkError } from '../../../src/core/errors.js';
import { type DownloadProgress, type HubOptions, downloadModel, isHubId } from '../../../src/models/hub.js';

for (const name of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_HUB_OFFLINE', 'HF_ENDPOINT', 'QKV_CACHE']) {
  delete process.env[name];
}

// ---- the fake Hub --------------------------------------------------------------------------------------------------

interface Logged {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range: string | undefined;
  auth: string | undefined;
  status?: number;
}

interface Faults {
  /** Status the hub answers for a file, every time (401, 500). */
  hubStatus?: Map<string, number>;
  /** Status the hub answers for a file, once (503). */
  hubStatusOnce?: Map<string, number>;
  /** Retry-After (seconds) of the forced statuses. */
  retryAfter?: number;
  /** Repos whose hub requests are never answered. */
  hubStall?: Set<string>;
  /** sha → bytes after which the cdn cuts the connection of the first GET. */
  cutOnce?: Map<string, number>;
  /** sha → bytes after which the cdn stops sending (without closing) in the first GET. */
  stallOnce?: Map<string, number>;
  /** shas whose cdn bytes have one byte flipped. */
  corrupt?: Set<string>;
  /** The cdn answers 200 with the whole file to a Range request. */
  ignoreRange?: boolean;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/** Deterministic bytes (a xorshift stream), so that a misplaced chunk changes the hash. */
function bytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

class FakeHub {
  /** `${repo}@${revision}` → file → bytes; `lfs` files are redirected to the cdn. */
  readonly repos = new Map<string, Map<string, { data: Buffer; lfs: boolean }>>();
  /** Every blob ever added, by sha256, so that old versions stay downloadable. */
  readonly blobs = new Map<string, Buffer>();
  /** Old repo name → new one: answered with a relative 307, as the Hub does for renamed repos. */
  readonly renamed = new Map<string, string>();
  log: Logged[] = [];
  faults: Faults = {};
  endpoint = '';
  private cdnBase = '';
  private readonly servers: http.Server[] = [];
  private readonly hung: http.ServerResponse[] = [];

  /** Files ending in .safetensors or .bin are LFS files unless `lfs` says otherwise. */
  setFile(repo: string, file: string, data: Buffer, lfs = /\.(safetensors|bin)$/.test(file), revision = 'main'): void {
    const key = `${repo}@${revision}`;
    if (!this.repos.has(key)) this.repos.set(key, new Map());
    this.repos.get(key)!.set(file, { data, lfs });
    if (lfs) this.blobs.set(sha256(data), data);
  }

  async start(): Promise<void> {
    const hub = http.createServer((req, res) => this.hub(req, res));
    const cdn = http.createServer((req, res) => this.cdn(req, res));
    this.servers.push(hub, cdn);
    this.endpoint = `http://127.0.0.1:${await listen(hub)}`;
    this.cdnBase = `http://127.0.0.1:${await listen(cdn)}`;
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    for (const server of this.servers) {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  }

  requests(server?: 'hub' | 'cdn', method?: string): Logged[] {
    return this.log.filter(
      (l) => (server === undefined || l.server === server) && (method === undefined || l.method === method),
    );
  }

  private entry(server: 'hub' | 'cdn', req: http.IncomingMessage, path: string): Logged {
    const { range, authorization: auth } = req.headers;
    const e: Logged = { server, method: req.method ?? '', path, range, auth };
    this.log.push(e);
    return e;
  }

  private hub(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.endpoint);
    const e = this.entry('hub', req, url.pathname);
    const reply = (status: number, headers: http.OutgoingHttpHeaders = {}, body?: Buffer): void => {
      e.status = status;
      res.writeHead(status, headers);
      res.end(req.method === 'GET' ? body : undefined);
    };
    const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m === null) return reply(404);
    const [, repo, rev, filePath] = m;
    const file = filePath.split('/').map(decodeURIComponent).join('/');
    if (this.faults.hubStall?.has(repo)) return void this.hung.push(res);
    const forced = this.faults.hubStatus?.get(file) ?? this.faults.hubStatusOnce?.get(file);
    if (forced !== undefined) {
      this.faults.hubStatusOnce?.delete(file);
      const headers: http.OutgoingHttpHeaders = { 'x-error-message': forced === 401 ? 'Access is restricted' : 'oops' };
      if (this.faults.retryAfter !== undefined) headers['retry-after'] = String(this.faults.retryAfter);
      return reply(forced, headers);
    }
    const moved = this.renamed.get(repo);
    if (moved !== undefined) return reply(307, { location: `/${moved}/resolve/${rev}/${filePath}` });
    const files = this.repos.get(`${repo}@${decodeURIComponent(rev)}`);
    if (files === undefined) return reply(404, { 'x-error-code': 'RepoNotFound' });
    const f = files.get(file);
    if (f === undefined) return reply(404, { 'x-error-code': 'EntryNotFound' });
    const common = { 'x-repo-commit': 'c'.repeat(40) };
    if (f.lfs) {
      const sha = sha256(f.data);
      return reply(302, {
        ...common,
        location: `${this.cdnBase}/blobs/${sha}`,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(f.data.length),
        etag: `"${sha}"`,
      });
    }
    reply(200, { ...common, etag: `"${gitSha1(f.data)}"`, 'content-length': f.data.length }, f.data);
  }

  private cdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.cdnBase);
    const e = this.entry('cdn', req, url.pathname);
    const sha = url.pathname.replace('/blobs/', '');
    const blob = this.blobs.get(sha);
    if (blob === undefined) {
      e.status = 404;
      return void res.writeHead(404).end();
    }
    let data = blob;
    if (this.faults.corrupt?.has(sha)) {
      data = Buffer.from(blob);
      data[data.length >> 1] ^= 0x40;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range !== null && !this.faults.ignoreRange) {
      start = Number(range[1]);
      if (start >= data.length) {
        e.status = 416;
        return void res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
      }
    }
    const headers: http.OutgoingHttpHeaders = { etag: `"${sha}"`, 'content-length': data.length - start };
    if (start > 0) headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    e.status = start > 0 ? 206 : 200;
    res.writeHead(e.status, headers);
    if (req.method === 'HEAD') return void res.end();
    const body = data.subarray(start);
    const cut = this.faults.cutOnce?.get(sha);
    const stall = this.faults.stallOnce?.get(sha);
    if (cut !== undefined && cut < body.length) {
      this.faults.cutOnce!.delete(sha);
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 10));
      return;
    }
    if (stall !== undefined && stall < body.length) {
      this.faults.stallOnce!.delete(sha);
      res.write(body.subarray(0, stall));
      this.hung.push(res);
      return;
    }
    res.end(body);
  }
}

function listen(server: http.Server): Promise<number> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done((server.address() as AddressInfo).port));
  });
}

// ---- fixtures ------------------------------------------------------------------------------------------------------

const CONFIG = Buffer.from(JSON.stringify({ model_type: 'gpt2', n_embd: 8, n_layer: 1, n_head: 2, vocab_size: 16 }));
const WEIGHTS = bytes(48_000, 7);
const TOKENIZER = Buffer.from(JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: { a: 0 } } }));
const TOKENIZER_CONFIG = Buffer.from(JSON.stringify({ model_max_length: 64 }));
const SHARD_1 = bytes(20_000, 11);
const SHARD_2 = bytes(30_000, 13);
const SHARD_1_NAME = 'model-00001-of-00002.safetensors';
const SHARD_2_NAME = 'model-00002-of-00002.safetensors';
const INDEX = Buffer.from(
  JSON.stringify({
    metadata: { total_size: SHARD_1.length + SHARD_2.length },
    weight_map: { 'wte.weight': SHARD_1_NAME, 'h.0.attn.c_attn.weight': SHARD_2_NAME, 'ln_f.weight': SHARD_1_NAME },
  }),
);

const hub = new FakeHub();
let root = '';
let caches = 0;

/** A fresh, empty cache folder. */
async function newCache(): Promise<string> {
  const dir = join(root, `cache-${++caches}`);
  await mkdir(dir);
  return dir;
}

function opts(cacheDir: string, extra: HubOptions = {}): HubOptions {
  return { cacheDir, endpoint: hub.endpoint, timeoutMs: 2_000, ...extra };
}

/** The files of a folder (recursively), without the manifest. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'qkv-hub-test-'));
  await hub.start();
  hub.setFile('test-org/tiny', 'config.json', CONFIG);
  hub.setFile('test-org/tiny', 'model.safetensors', WEIGHTS);
  hub.setFile('test-org/tiny', 'tokenizer.json', TOKENIZER);
  hub.setFile('test-org/tiny', 'tokenizer_config.json', TOKENIZER_CONFIG);
  hub.setFile('test-org/sharded', 'config.json', CONFIG);
  hub.setFile('test-org/sharded', 'model.safetensors.index.json', INDEX, false);
  hub.setFile('test-org/sharded', SHARD_1_NAME, SHARD_1);
  hub.setFile('test-org/sharded', SHARD_2_NAME, SHARD_2);
  hub.setFile('test-org/pickle', 'config.json', CONFIG);
  hub.setFile('test-org/pickle', 'pytorch_model.bin', bytes(1000, 3));
  hub.setFile('test-org/no-weights', 'config.json', CONFIG);
  hub.setFile('test-org/no-config', 'model.safetensors', WEIGHTS);
  hub.setFile('test-org/bad-index', 'config.json', CONFIG);
  const evil = Buffer.from('{"weight_map":{"a":"../../evil"}}');
  hub.setFile('test-org/bad-index', 'model.safetensors.index.json', evil, false);
  hub.setFile('test-org/lost-shard', 'config.json', CONFIG);
  hub.setFile('test-org/lost-shard', 'model.safetensors.index.json', INDEX, false);
  hub.setFile('test-org/lost-shard', SHARD_1_NAME, SHARD_1);
  hub.setFile('tiny-legacy', 'config.json', CONFIG);
  hub.setFile('tiny-legacy', 'model.safetensors', WEIGHTS);
});

after(async () => {
  await hub.close();
  await rm(root, { recursive: true, force: true });
});

beforeEach(() => {
  hub.log = [];
  hub.faults = {};
});

// ---- tests ---------------------------------------------------------------------------------------------------------

describe('downloadModel', () => {
  test('a first download: every file qkv needs, in qkv cache layout, the token only on the Hub origin', async () => {
    const cacheDir = await newCache();
    const dir = await downloadModel('test-org/tiny', opts(cacheDir, { token: 'hf_secret' }));
    assert.equal(dir, join(cacheDir, 'models--test-org--tiny', 'main'));
    assert.deepEqual(await listFiles(dir), [
      '.qkv-download.json',
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    assert.deepEqual(await readFile(join(dir, 'config.json')), CONFIG);
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    assert.deepEqual(await readFile(join(dir, 'tokenizer.json')), TOKENIZER);
    // generation_config.json and special_tokens_map.json answered 404, which is fine for optional files.
    const missing = hub.requests('hub', 'HEAD').filter((r) => r.status === 404).map((r) => r.path.split('/').pop());
    assert.deepEqual(missing.sort(), ['generation_config.json', 'special_tokens_map.json']);
    const manifest = JSON.parse(await readFile(join(dir, '.qkv-download.json'), 'utf8'));
    assert.deepEqual(manifest.missing.sort(), ['generation_config.json', 'special_tokens_map.json']);
    assert.equal(manifest.files['model.safetensors'].etag, sha256(WEIGHTS));
    // The big file came from the cdn, after the hub's 302; the token went to the hub only.
    const cdn = hub.requests('cdn');
    assert.deepEqual(cdn.map((r) => [r.method, r.path]), [['GET', `/blobs/${sha256(WEIGHTS)}`]]);
    assert.ok(cdn.every((r) => r.auth === undefined));
    assert.ok(hub.requests('hub').every((r) => r.auth === 'Bearer hf_secret'));
  });

  test('a cache hit makes no request at all', async () => {
    const cacheDir = await newCache();
    const first = await downloadModel('test-org/tiny', opts(cacheDir));
    hub.log = [];
    const events: DownloadProgress[] = [];
    const second = await downloadModel('test-org/tiny', opts(cacheDir, { onProgress: (p) => events.push(p) }));
    assert.equal(second, first);
    assert.deepEqual(hub.log, []);
    assert.deepEqual(events, []);
  });

  test('a sharded repo: the index and every shard it names', async () => {
    const cacheDir = await newCache();
    const dir = await downloadModel('test-org/sharded', opts(cacheDir));
    assert.deepEqual(await listFiles(dir), [
      '.qkv-download.json',
      'config.json',
      SHARD_1_NAME,
      SHARD_2_NAME,
      'model.safetensors.index.json',
    ]);
    assert.deepEqual(await readFile(join(dir, SHARD_1_NAME)), SHARD_1);
    assert.deepEqual(await readFile(join(dir, SHARD_2_NAME)), SHARD_2);
    assert.deepEqual(await readFile(join(dir, 'model.safetensors.index.json')), INDEX);
    hub.log = [];
    await downloadModel('test-org/sharded', opts(cacheDir));
    assert.deepEqual(hub.log, [], 'the sharded download is a cache hit too');
  });

  test('progress: monotone within each file, one done per file, the last event is done of the last file', async () => {
    for (const repo of ['test-org/tiny', 'test-org/sharded']) {
      const events: DownloadProgress[] = [];
      await downloadModel(repo, opts(await newCache(), { onProgress: (p) => events.push(p) }));
      const last = events.at(-1)!;
      assert.equal(last.done, true, repo);
      assert.equal(last.fileIndex, last.fileCount - 1, repo);
      const done = events.filter((e) => e.done);
      assert.deepEqual(done.map((e) => e.fileIndex), [...done.keys()], `${repo}: files in order, each done once`);
      // The count is final in every done event (the index comes first), so a bar can tell the last file.
      assert.ok(done.every((e) => e.fileCount === last.fileCount), repo);
      for (let i = 1; i < events.length; i++) {
        const [a, b] = [events[i - 1], events[i]];
        assert.ok(b.fileIndex >= a.fileIndex, `${repo}: event ${i} goes back a file`);
        if (b.fileIndex === a.fileIndex) {
          assert.ok(b.receivedBytes >= a.receivedBytes, `${repo}: event ${i} goes back in bytes`);
          assert.ok(!a.done, `${repo}: an event after done`);
        }
        assert.ok(b.totalBytes === null || b.receivedBytes <= b.totalBytes);
      }
      const weights = done.find((e) => e.file === (repo === 'test-org/tiny' ? 'model.safetensors' : SHARD_2_NAME))!;
      assert.equal(weights.receivedBytes, repo === 'test-org/tiny' ? WEIGHTS.length : SHARD_2.length);
      assert.equal(last.fileCount, 4, repo); // config, 2 optional files, weights; or index, config, 2 shards
    }
  });

  test('a connection cut mid-file resumes with Range and ends with identical bytes', async () => {
    const cacheDir = await newCache();
    hub.faults.cutOnce = new Map([[sha256(WEIGHTS), 20_000]]);
    const dir = await downloadModel('test-org/tiny', opts(cacheDir));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    const gets = hub.requests('cdn', 'GET');
    assert.equal(gets.length, 2);
    assert.equal(gets[0].range, undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 20_000, `resumed at ${gets[1].range}`);
    assert.equal(gets[1].status, 206);
    assert.ok(!existsSync(join(dir, 'model.safetensors.incomplete')));
  });

  test('a stall mid-file times out after timeoutMs without progress, and the retry resumes', async () => {
    const cacheDir = await newCache();
    hub.faults.stallOnce = new Map([[sha256(WEIGHTS), 10_000]]);
    const started = Date.now();
    const dir = await downloadModel('test-org/tiny', opts(cacheDir, { timeoutMs: 150 }));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    assert.equal(hub.requests('cdn', 'GET')[1].range, 'bytes=10000-');
    assert.ok(Date.now() - started < 1_500);
  });

  test('a corrupted byte: sha256 mismatch, a NetworkError, and no file under its final name', async () => {
    const cacheDir = await newCache();
    hub.faults.corrupt = new Set([sha256(WEIGHTS)]);
    await assert.rejects(downloadModel('test-org/tiny', opts(cacheDir)), (e: unknown) => {
      assert.ok(e instanceof NetworkError);
      assert.match(e.message, /model\.safetensors .* sha256 [0-9a-f]{64} where the endpoint's ETag says/);
      assert.ok(e.message.includes(sha256(WEIGHTS)));
      return true;
    });
    const dir = join(cacheDir, 'models--test-org--tiny', 'main');
    assert.ok(!existsSync(join(dir, 'model.safetensors')));
    assert.ok(!existsSync(join(dir, 'model.safetensors.incomplete')));
    assert.ok(!existsSync(join(dir, '.qkv-download.json')));
    assert.equal(hub.requests('cdn', 'GET').length, 1, 'a fresh download that fails its hash is not retried');
    // The next call, with the fault gone, downloads only what is missing.
    hub.faults = {};
    hub.log = [];
    await downloadModel('test-org/tiny', opts(cacheDir));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    assert.deepEqual(hub.requests('hub', 'GET').map((r) => r.path.split('/').pop()), ['model.safetensors']);
  });

  test('a partial file that is already complete: 416, then checked and renamed', async () => {
    const cacheDir = await newCache();
    const dir = join(cacheDir, 'models--test-org--tiny', 'main');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.safetensors.incomplete'), WEIGHTS);
    await downloadModel('test-org/tiny', opts(cacheDir));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    assert.deepEqual(
      hub.requests('cdn').map((r) => [r.range, r.status]),
      [[`bytes=${WEIGHTS.length}-`, 416]],
    );
  });

  test('a server that ignores Range (200): the file starts over', async () => {
    const cacheDir = await newCache();
    const dir = join(cacheDir, 'models--test-org--tiny', 'main');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.safetensors.incomplete'), bytes(5_000, 99));
    hub.faults.ignoreRange = true;
    await downloadModel('test-org/tiny', opts(cacheDir));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    assert.deepEqual(hub.requests('cdn').map((r) => [r.range, r.status]), [['bytes=5000-', 200]]);
  });

  test('a stale partial file (another version) fails its hash once, then downloads from byte 0', async () => {
    const cacheDir = await newCache();
    const dir = join(cacheDir, 'models--test-org--tiny', 'main');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.safetensors.incomplete'), bytes(5_000, 99));
    await downloadModel('test-org/tiny', opts(cacheDir));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    assert.deepEqual(hub.requests('cdn').map((r) => [r.range, r.status]), [['bytes=5000-', 206], [undefined, 200]]);
  });

  test('offline: a warm cache makes no request, a cold one names the missing file and the cache folder', async () => {
    const cacheDir = await newCache();
    await downloadModel('test-org/sharded', opts(cacheDir));
    hub.log = [];
    const dir = await downloadModel('test-org/sharded', opts(cacheDir, { offline: true }));
    assert.equal(dir, join(cacheDir, 'models--test-org--sharded', 'main'));
    // A missing manifest does not matter offline: the files are there.
    await rm(join(dir, '.qkv-download.json'));
    await downloadModel('test-org/sharded', opts(cacheDir, { offline: true }));
    assert.deepEqual(hub.log, []);

    const cold = await newCache();
    await assert.rejects(downloadModel('test-org/tiny', opts(cold, { offline: true })), (e: unknown) => {
      assert.ok(e instanceof NetworkError);
      assert.match(e.message, /offline \(offline: true\) and config\.json of test-org\/tiny/);
      assert.ok(e.message.includes(join(cold, 'models--test-org--tiny', 'main')));
      return true;
    });
    // HF_HUB_OFFLINE=1 does the same; a shard missing from a warm cache is named.
    await rm(join(dir, SHARD_2_NAME));
    process.env.HF_HUB_OFFLINE = '1';
    try {
      await assert.rejects(downloadModel('test-org/sharded', opts(cacheDir)), (e: unknown) => {
        assert.ok(e instanceof NetworkError);
        assert.match(e.message, new RegExp(`offline \\(HF_HUB_OFFLINE=1\\) and ${SHARD_2_NAME}`));
        return true;
      });
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    assert.deepEqual(hub.log, []);
  });

  test('a deleted shard is downloaded again, and only it', async () => {
    const cacheDir = await newCache();
    const dir = await downloadModel('test-org/sharded', opts(cacheDir));
    await rm(join(dir, SHARD_1_NAME));
    hub.log = [];
    await downloadModel('test-org/sharded', opts(cacheDir));
    assert.deepEqual(await readFile(join(dir, SHARD_1_NAME)), SHARD_1);
    assert.deepEqual(hub.requests('hub', 'GET').map((r) => r.path.split('/').pop()), [SHARD_1_NAME]);
  });

  test('an unreachable endpoint (a closed port) is a NetworkError that says what to do', async () => {
    const server = http.createServer();
    const port = await listen(server);
    await new Promise((done) => server.close(done));
    const endpoint = `http://127.0.0.1:${port}`;
    await assert.rejects(downloadModel('test-org/tiny', opts(await newCache(), { endpoint })), (e: unknown) => {
      assert.ok(e instanceof NetworkError);
      assert.match(e.message, new RegExp(`could not reach ${endpoint} for test-org/tiny \\(.*ECONNREFUSED.*\\)`));
      assert.match(e.message, /pass its path, or set HF_ENDPOINT/);
      return true;
    });
  });

  test('401 (a gated repo) is a NetworkError that mentions HF_TOKEN', async () => {
    hub.faults.hubStatus = new Map([['config.json', 401]]);
    await assert.rejects(downloadModel('test-org/tiny', opts(await newCache())), (e: unknown) => {
      assert.ok(e instanceof NetworkError);
      assert.match(e.message, /refused test-org\/tiny\/config\.json \(401 Unauthorized/);
      assert.match(e.message, /gated or private/);
      assert.match(e.message, /HF_TOKEN/);
      return true;
    });
  });

  test('5xx: retried after a backoff (a 503 once is fine); always 500 is a NetworkError after 3 retries', async () => {
    hub.faults.hubStatusOnce = new Map([['config.json', 503]]);
    const started = Date.now();
    const dir = await downloadModel('test-org/tiny', opts(await newCache()));
    assert.ok(Date.now() - started >= 1_000, 'a 5xx without Retry-After waits 1 s before its first retry');
    assert.deepEqual(await readFile(join(dir, 'config.json')), CONFIG);
    hub.faults.hubStatus = new Map([['model.safetensors', 500]]);
    hub.faults.retryAfter = 0; // Retry-After: 0 is honoured, which keeps this test fast
    hub.log = [];
    await assert.rejects(downloadModel('test-org/tiny', opts(await newCache())), (e: unknown) => {
      assert.ok(e instanceof NetworkError);
      assert.match(e.message, /answered 500 Internal Server Error for test-org\/tiny\/model\.safetensors/);
      assert.match(e.message, /also after 3 retries; the endpoint has trouble, try again later/);
      return true;
    });
    assert.equal(hub.requests('hub').filter((r) => r.path.endsWith('/model.safetensors')).length, 4);
  });

  test('an endpoint that never answers fails after timeoutMs and 3 retries', async () => {
    hub.faults.hubStall = new Set(['test-org/tiny']);
    const started = Date.now();
    await assert.rejects(downloadModel('test-org/tiny', opts(await newCache(), { timeoutMs: 100 })), (e: unknown) => {
      assert.ok(e instanceof NetworkError);
      assert.match(e.message, /could not reach .* \(no progress for 100 ms, also after 3 retries\)/);
      return true;
    });
    assert.ok(Date.now() - started < 3_000);
  });

  test('404 of config.json, an unknown repo, and a missing shard are ModelErrors naming the file', async () => {
    await assert.rejects(downloadModel('test-org/no-config', opts(await newCache())), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.equal(e.file, 'config.json');
      assert.match(e.message, /test-org\/no-config \(revision main\) has no config\.json; qkv needs config\.json/);
      return true;
    });
    await assert.rejects(downloadModel('test-org/nothing-here', opts(await newCache())), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.match(e.message, /there is no repo test-org\/nothing-here/);
      return true;
    });
    await assert.rejects(downloadModel('test-org/lost-shard', opts(await newCache())), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.equal(e.file, SHARD_2_NAME);
      assert.equal(e.key, 'h.0.attn.c_attn.weight');
      return true;
    });
    assert.equal(hub.requests('cdn').length, 0, 'a missing shard fails before any weight is transferred');
  });

  test('only pytorch_model.bin, or no weights at all: a ModelError that says qkv reads safetensors only', async () => {
    await assert.rejects(downloadModel('test-org/pickle', opts(await newCache())), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.equal(e.file, 'model.safetensors');
      assert.match(e.message, /only as pytorch_model\.bin, and qkv reads safetensors only/);
      return true;
    });
    assert.ok(hub.requests('hub', 'HEAD').some((r) => r.path.endsWith('/pytorch_model.bin')));
    assert.ok(!hub.requests('hub', 'GET').some((r) => r.path.endsWith('/pytorch_model.bin')));
    await assert.rejects(downloadModel('test-org/no-weights', opts(await newCache())), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.match(e.message, /has neither model\.safetensors nor model\.safetensors\.index\.json; qkv reads/);
      return true;
    });
  });

  test('an index that names a file outside the repo folder is a FormatError', async () => {
    const cacheDir = await newCache();
    await assert.rejects(downloadModel('test-org/bad-index', opts(cacheDir)), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.match(e.message, /weight_map\["a"\] must be a file path inside the repo; got "\.\.\/\.\.\/evil"/);
      return true;
    });
    assert.ok(!existsSync(join(cacheDir, 'evil')));
  });

  test('refresh: a branch is checked again only when asked, and only changed files are downloaded', async () => {
    const cacheDir = await newCache();
    hub.setFile('test-org/moving', 'config.json', CONFIG);
    hub.setFile('test-org/moving', 'model.safetensors', WEIGHTS);
    const dir = await downloadModel('test-org/moving', opts(cacheDir));
    const updated = bytes(30_000, 21);
    hub.setFile('test-org/moving', 'model.safetensors', updated);
    hub.log = [];
    await downloadModel('test-org/moving', opts(cacheDir));
    assert.deepEqual(hub.log, [], 'without refresh the cache answers');
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    await downloadModel('test-org/moving', opts(cacheDir, { refresh: true }));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), updated);
    assert.deepEqual(hub.requests('hub', 'GET').map((r) => r.path.split('/').pop()), ['model.safetensors']);
    hub.log = [];
    await downloadModel('test-org/moving', opts(cacheDir, { refresh: true }));
    assert.deepEqual(hub.requests('hub', 'GET'), [], 'nothing changed: HEADs only');
    assert.ok(hub.requests('hub', 'HEAD').length > 0);
    // A commit sha cannot move: refresh does nothing for it (here the revision does not even exist on the server).
    const sha = 'a'.repeat(40);
    const pinned = join(cacheDir, 'models--test-org--moving', sha);
    await mkdir(pinned, { recursive: true });
    for (const f of ['config.json', 'model.safetensors', '.qkv-download.json']) {
      await writeFile(join(pinned, f), await readFile(join(dir, f)));
    }
    const manifest = JSON.parse(await readFile(join(pinned, '.qkv-download.json'), 'utf8'));
    await writeFile(join(pinned, '.qkv-download.json'), JSON.stringify({ ...manifest, revision: sha }));
    hub.log = [];
    assert.equal(await downloadModel('test-org/moving', opts(cacheDir, { revision: sha, refresh: true })), pinned);
    assert.deepEqual(hub.log, []);
  });

  test('two calls at once share the work: the weights are transferred once', async () => {
    const cacheDir = await newCache();
    const [a, b] = await Promise.all([
      downloadModel('test-org/tiny', opts(cacheDir)),
      downloadModel('test-org/tiny', opts(cacheDir)),
    ]);
    assert.equal(a, b);
    assert.deepEqual(await readFile(join(a, 'model.safetensors')), WEIGHTS);
    assert.equal(hub.requests('cdn', 'GET').length, 1);
    assert.deepEqual((await listFiles(a)).filter((f) => f.endsWith('.lock') || f.endsWith('.incomplete')), []);
  });

  test('a lock left by a dead process, or untouched for long, is taken over', async () => {
    const cacheDir = await newCache();
    const dir = join(cacheDir, 'models--test-org--tiny', 'main');
    await mkdir(dir, { recursive: true });
    // A pid above Linux's PID_MAX_LIMIT (2^22) cannot be alive.
    await writeFile(join(dir, 'model.safetensors.lock'), `${2 ** 22 + 1000} ${hostname()}\n`);
    const stale = join(dir, 'config.json.lock');
    await writeFile(stale, '1234 some-other-host\n');
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(stale, longAgo, longAgo);
    const started = Date.now();
    await downloadModel('test-org/tiny', opts(cacheDir));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    assert.ok(Date.now() - started < 2_000);
    assert.deepEqual((await listFiles(dir)).filter((f) => f.endsWith('.lock')), []);
  });

  test('an abort keeps the partial file, and the next call resumes it', async () => {
    const cacheDir = await newCache();
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    hub.faults.stallOnce = new Map([[sha256(WEIGHTS), 12_000]]);
    const onProgress = (p: DownloadProgress): void => {
      if (p.file === 'model.safetensors' && p.receivedBytes >= 12_000) controller.abort(reason);
    };
    const options = opts(cacheDir, { onProgress, signal: controller.signal });
    await assert.rejects(downloadModel('test-org/tiny', options), (e: unknown) => e === reason);
    const dir = join(cacheDir, 'models--test-org--tiny', 'main');
    assert.ok(existsSync(join(dir, 'model.safetensors.incomplete')));
    assert.ok(!existsSync(join(dir, 'model.safetensors.lock')));
    hub.log = [];
    await downloadModel('test-org/tiny', opts(cacheDir));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    assert.equal(hub.requests('cdn', 'GET')[0].range, 'bytes=12000-');
    // An aborted signal fails at once.
    const aborted = opts(cacheDir, { signal: AbortSignal.abort(reason) });
    await assert.rejects(downloadModel('test-org/tiny', aborted), (e) => e === reason);
  });

  test('what onProgress throws ends the download as it is, and is not retried', async () => {
    const cacheDir = await newCache();
    const oops = new TypeError('a bug in the callback');
    const onProgress = (p: DownloadProgress): void => {
      if (p.file === 'model.safetensors') throw oops;
    };
    await assert.rejects(downloadModel('test-org/tiny', opts(cacheDir, { onProgress })), (e) => e === oops);
    assert.equal(hub.requests('cdn', 'GET').length, 1);
  });

  test('a renamed repo (a relative 307) and a bare legacy id', async () => {
    hub.renamed.set('old-org/tiny', 'test-org/tiny');
    const cacheDir = await newCache();
    const dir = await downloadModel('old-org/tiny', opts(cacheDir));
    assert.equal(dir, join(cacheDir, 'models--old-org--tiny', 'main'));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), WEIGHTS);
    const legacy = await downloadModel('tiny-legacy', opts(cacheDir));
    assert.equal(legacy, join(cacheDir, 'models--tiny-legacy', 'main'));
    assert.deepEqual(await readFile(join(legacy, 'model.safetensors')), WEIGHTS);
  });

  test('a revision such as refs/pr/1 is URL-encoded, in requests and in its cache folder', async () => {
    hub.setFile('test-org/tiny', 'config.json', CONFIG, false, 'refs/pr/1');
    hub.setFile('test-org/tiny', 'model.safetensors', SHARD_1, true, 'refs/pr/1');
    const cacheDir = await newCache();
    const dir = await downloadModel('test-org/tiny', opts(cacheDir, { revision: 'refs/pr/1' }));
    assert.equal(dir, join(cacheDir, 'models--test-org--tiny', 'refs%2Fpr%2F1'));
    assert.deepEqual(await readFile(join(dir, 'model.safetensors')), SHARD_1);
    assert.ok(hub.requests('hub').every((r) => r.path.includes('/resolve/refs%2Fpr%2F1/')));
  });

  test('QKV_CACHE and HF_ENDPOINT are the defaults of cacheDir and endpoint', async () => {
    const cacheDir = await newCache();
    process.env.QKV_CACHE = cacheDir;
    process.env.HF_ENDPOINT = `${hub.endpoint}/`;
    try {
      assert.equal(await downloadModel('test-org/tiny'), join(cacheDir, 'models--test-org--tiny', 'main'));
    } finally {
      delete process.env.QKV_CACHE;
      delete process.env.HF_ENDPOINT;
    }
  });

  test('bad repo ids and options are ArgumentErrors that name the argument and what was given', async () => {
    const cacheDir = await newCache();
    const cases: [unknown, unknown, RegExp][] = [
      ['', {}, /repoId must be a Hub id "owner\/name" or "name" .*; got ""/],
      ['a/b/c', {}, /repoId must be .*; got "a\/b\/c"/],
      ['owner/-name', {}, /got "owner\/-name"/],
      ['owner/na--me', {}, /got "owner\/na--me"/],
      ['owner/na..me', {}, /got "owner\/na\.\.me"/],
      ['./local/folder', {}, /got "\.\/local\/folder"/],
      ['owner/name with space', {}, /got "owner\/name with space"/],
      [`o/${'x'.repeat(100)}`, {}, /at most 96 characters/],
      [42, {}, /repoId must be .*; got 42/],
      ['test-org/tiny', 'fast', /options must be an object; got "fast"/],
      ['test-org/tiny', { cachedir: cacheDir }, /unknown option "cachedir" \(did you mean "cacheDir"\?\)/],
      ['test-org/tiny', { timeout: 5 }, /unknown option "timeout" \(did you mean "timeoutMs"\?\)/],
      ['test-org/tiny', { revison: 'main' }, /unknown option "revison" \(did you mean "revision"\?\); the options are/],
      ['test-org/tiny', { zzzzzzzz: 1 }, /unknown option "zzzzzzzz"; the options are cacheDir, offline/],
      ['test-org/tiny', { offline: 'yes' }, /options\.offline must be true or false; got "yes"/],
      ['test-org/tiny', { refresh: 1 }, /options\.refresh must be true or false; got 1/],
      ['test-org/tiny', { revision: '' }, /options\.revision must be a non-empty string; got ""/],
      ['test-org/tiny', { revision: '../../etc' }, /options\.revision must be a branch, tag .*; got "\.\.\/\.\.\/etc"/],
      ['test-org/tiny', { endpoint: 'ftp://example.com' }, /options\.endpoint must be an http\(s\) URL .*; got "ftp:/],
      ['test-org/tiny', { endpoint: 'not a url' }, /options\.endpoint must be an http\(s\) URL .*; got "not a url"/],
      ['test-org/tiny', { timeoutMs: -1 }, /options\.timeoutMs must be a number of milliseconds in \(0, \d+\]; got -1/],
      ['test-org/tiny', { timeoutMs: '30s' }, /options\.timeoutMs must be .*; got "30s"/],
      ['test-org/tiny', { onProgress: 'bar' }, /options\.onProgress must be a function; got "bar"/],
      ['test-org/tiny', { signal: {} }, /options\.signal must be an AbortSignal; got an object/],
      ['test-org/tiny', { token: 'has space' }, /token .* must be printable ASCII without spaces/],
      ['test-org/tiny', { cacheDir: 7 }, /options\.cacheDir must be a non-empty string; got 7/],
    ];
    for (const [repoId, options, message] of cases) {
      await assert.rejects(
        downloadModel(repoId as string, options as HubOptions),
        (e: unknown) => e instanceof ArgumentError && /^downloadModel: /.test(e.message) && message.test(e.message),
        `${String(repoId)} ${JSON.stringify(options)}`,
      );
    }
    assert.deepEqual(hub.log, []);
  });
});

describe('isHubId', () => {
  test('ids are "owner/name" or "name" and not an existing path', async () => {
    const cases: [string, boolean][] = [
      ['openai-community/gpt2', true],
      ['gpt2', true],
      ['Qwen/Qwen2.5-0.5B-Instruct', true],
      ['owner_1/model.v2', true],
      ['a/b/c', false],
      ['./gpt2', false],
      ['../gpt2', false],
      ['/abs/path', false],
      ['owner/', false],
      ['/name', false],
      ['owner/na--me', false],
      ['owner/-name', false],
      ['', false],
      ['C:\\models\\gpt2', false],
      ['~/models', false],
    ];
    for (const [source, expected] of cases) assert.equal(isHubId(source), expected, source);
    // An existing local folder is not an id, even when it looks like one.
    const folder = join(root, 'local-owner', 'local-model');
    await mkdir(folder, { recursive: true });
    const cwd = process.cwd();
    process.chdir(root);
    try {
      assert.equal(isHubId('local-owner/local-model'), false);
      assert.equal(isHubId('local-owner/other-model'), true);
    } finally {
      process.chdir(cwd);
    }
  });
});
