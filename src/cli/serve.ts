// `qkv serve`: a small static file server for the web viewer (web/dist) and one model: the coreference model's file,
// or a Hugging Face model folder, whose model files only (config.json, the safetensors files and their index, the
// tokenizer and generation files) are served under /model/, with a list of them at /model/files.json. The page computes
// everything itself, in a worker; the server only hands out files. It mirrors the hardening of a static server such
// as `serve-static`: one root, paths normalised after decoding, anything outside the root refused, and Node's `http`
// module only.
//
// Headers: Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy make the page cross-origin isolated, so that
// SharedArrayBuffer and the wasm thread pool work (startServer can leave them out, to test the fallback). It binds
// 127.0.0.1 unless a host is given.

import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ArgumentError } from '../index.js';
import { BUNDLED_MODEL_URL } from '../tasks/coref/index.js';
import { isPretrainedSource } from './models.js';
import { progressBar } from './progress.js';
import type { CliIO } from './run.js';

/** The URL at which the page finds its model. */
export const MODEL_URL = '/model.safetensors';

/** The folder under which a Hugging Face model's files are served; `files.json` in it lists them. */
export const MODEL_FOLDER_URL = '/model/';

/** The files of a model folder that are served: nothing else in the folder is reachable. */
export function isServedModelFile(name: string): boolean {
  return (
    ['config.json', 'generation_config.json', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json'].includes(name) ||
    /^[\w.-]+\.safetensors$/.test(name)
  );
}

/** The built page, relative to this file: src/cli/serve.ts and dist/cli/serve.js both sit two levels down. */
export const DEFAULT_ROOT = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/** The bundled coreference model. */
export const DEFAULT_MODEL = fileURLToPath(BUNDLED_MODEL_URL);

export interface ServeOptions {
  /**
   * The folder whose files are served.
   * @default web/dist of this package
   */
  root?: string;
  /**
   * The model file served at {@link MODEL_URL}.
   * @default the bundled coreference model, models/coref/model.safetensors
   */
  model?: string;
  /**
   * A Hugging Face model folder whose model files are served under {@link MODEL_FOLDER_URL}; the page opens it.
   * @default none
   */
  modelFolder?: string;
  /**
   * Names the model folder on the page (a Hub id, say).
   * @default the folder's path
   */
  modelName?: string;
  /**
   * The port; 0 picks a free one.
   * @default 8080
   */
  port?: number;
  /**
   * The interface to bind. Anything but loopback makes the page reachable from other machines.
   * @default "127.0.0.1"
   */
  host?: string;
  /**
   * Whether responses carry Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy, which make the page
   * cross-origin isolated (SharedArrayBuffer, and with it the wasm thread pool). false serves a page without them,
   * as a host that cannot set headers would: tests use it to check the one-thread fallback.
   * @default true
   */
  isolation?: boolean;
}

export interface RunningServer {
  /** The page's address, e.g. "http://127.0.0.1:8080/". */
  url: string;
  /** The bound address and port. */
  address: AddressInfo;
  /** Stops accepting connections and closes the open ones. */
  close(): Promise<void>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  ...ISOLATION_HEADERS,
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

/**
 * Maps a request path to a path relative to the root, or null when it must be refused: undecodable escapes, NUL,
 * backslashes, and any ".." segment after decoding (so %2e%2e and %2f tricks are caught too).
 * @example safeRelativePath('/assets/app.js') // 'assets/app.js'
 * @example safeRelativePath('/%2e%2e/etc/passwd') // null
 */
export function safeRelativePath(pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\') || !decoded.startsWith('/')) return null;
  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return null;
  return segments.join('/');
}

/** The security headers, less the isolation ones when the server runs with `isolation: false`. */
function securityHeaders(isolation: boolean): Record<string, string> {
  if (isolation) return { ...SECURITY_HEADERS };
  return Object.fromEntries(Object.entries(SECURITY_HEADERS).filter(([name]) => !(name in ISOLATION_HEADERS)));
}

function send(res: ServerResponse, status: number, text: string, isolation: boolean): void {
  res.writeHead(status, { ...securityHeaders(isolation), 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

/** Whether `file` lies inside `root` (both absolute and resolved). */
function inside(root: string, file: string): boolean {
  return file === root || file.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * Starts the viewer's server.
 * @throws ArgumentError when the root has no index.html (the page was not built) or the port is not a port.
 * @example const server = await startServer({ port: 0 }); console.log(server.url); await server.close();
 */
export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  const port = options.port ?? 8080;
  const host = options.host ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ArgumentError(`startServer: port must be an integer in [0, 65535]; got ${port}`);
  }
  const rootGiven = resolve(options.root ?? DEFAULT_ROOT);
  let root: string;
  try {
    root = await realpath(rootGiven);
    await stat(resolve(root, 'index.html'));
  } catch {
    throw new ArgumentError(
      `startServer: root ${rootGiven} has no index.html; build the page first with \`npm run build:web\``,
    );
  }
  const model = resolve(options.model ?? DEFAULT_MODEL);
  const isolation = options.isolation ?? true;
  const folder = options.modelFolder === undefined ? null : { path: resolve(options.modelFolder), name: options.modelName ?? options.modelFolder };

  const server: Server = createServer((req, res) => {
    handle(req, res, root, model, folder, isolation).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error', isolation);
      else res.destroy();
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      done();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    address,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  model: string,
  folder: { path: string; name: string } | null,
  isolation: boolean,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed', isolation);
  }
  // The raw target, not a URL object's pathname: URL parsing would fold "/a/../b" before we could refuse it.
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return send(res, 400, 'bad request', isolation);
  const pathname = target.split(/[?#]/, 1)[0];
  const relative = safeRelativePath(pathname);
  if (relative === null) return send(res, 403, 'forbidden', isolation);

  let file: string;
  if (`/${relative}` === MODEL_URL) {
    file = model;
  } else if (`/${relative}/`.startsWith(MODEL_FOLDER_URL)) {
    // One segment after /model/, from the list of model files: no other file of the folder, and no way out of it.
    const name = relative.slice(MODEL_FOLDER_URL.length - 1);
    // files.json answers also without a folder ({ source: null, files: [] }), so that the page's look-up is no error.
    if (name === 'files.json') return sendManifest(req, res, folder, isolation);
    if (folder === null) return send(res, 404, 'no model folder is served (start with `qkv serve --model <folder>`)', isolation);
    if (name.includes('/') || !isServedModelFile(name)) return send(res, 404, 'not found', isolation);
    file = resolve(folder.path, name);
  } else {
    const candidate = resolve(root, relative === '' ? 'index.html' : relative);
    // Symbolic links inside the root must not lead out of it either.
    let real: string;
    try {
      real = await realpath(candidate);
    } catch {
      return send(res, 404, 'not found', isolation);
    }
    if (!inside(root, real)) return send(res, 403, 'forbidden', isolation);
    file = real;
  }
  let info;
  try {
    info = await stat(file);
  } catch {
    return send(res, 404, file === model ? `model not found: ${model}` : 'not found', isolation);
  }
  if (info.isDirectory()) {
    const index = resolve(file, 'index.html');
    try {
      info = await stat(index);
      file = index;
    } catch {
      return send(res, 404, 'not found', isolation);
    }
  }
  if (!info.isFile()) return send(res, 404, 'not found', isolation);
  res.writeHead(200, {
    ...securityHeaders(isolation),
    'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': String(info.size),
  });
  if (req.method === 'HEAD') return void res.end();
  await new Promise<void>((done, fail) => {
    const stream = createReadStream(file);
    stream.on('error', fail);
    res.on('close', () => {
      stream.destroy();
      done();
    });
    stream.pipe(res);
  });
}

/** GET /model/files.json: the folder's name and the served files with their sizes. */
async function sendManifest(req: IncomingMessage, res: ServerResponse, folder: { path: string; name: string } | null, isolation: boolean): Promise<void> {
  const { readdir } = await import('node:fs/promises');
  const files: { name: string; size: number }[] = [];
  for (const name of folder === null ? [] : (await readdir(folder.path)).sort()) {
    if (!isServedModelFile(name)) continue;
    const info = await stat(resolve(folder!.path, name)).catch(() => null);
    if (info?.isFile()) files.push({ name, size: info.size });
  }
  const body = JSON.stringify({ source: folder?.name ?? null, files });
  res.writeHead(200, { ...securityHeaders(isolation), 'Content-Type': CONTENT_TYPES['.json'], 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const SERVE_HELP = `Usage: qkv serve [--model path] [--port n] [--host address]

Serves the web viewer: type a sentence and see what every head attends to. The page computes in your browser.
  --model path     a safetensors model of the coreference architecture (default: the bundled model), or a
                   Hugging Face model folder or Hub id ("owner/name"), which the page opens
  --offline        with a Hub id: use the download cache only
  --port n         port to listen on (default 8080; 0 picks a free one)
  --host address   interface to bind (default 127.0.0.1; 0.0.0.0 exposes the page to your network)
`;

/**
 * `qkv serve [--model path] [--port n] [--host address]`: starts the server, prints its URL, and runs until `signal`
 * aborts (by default until SIGINT or SIGTERM).
 * @returns the exit code: 0 after a clean stop, 1 when the server cannot start, 2 on a usage error.
 * @example await serveCommand(['--port', '0'], { stdout: process.stdout, stderr: process.stderr })
 */
export async function serveCommand(
  args: readonly string[],
  io: CliIO,
  options: { signal?: AbortSignal; root?: string } = {},
): Promise<number> {
  const opts: ServeOptions = { root: options.root };
  let offline = false;
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    if (flag === '--help' || flag === '-h') {
      io.stdout.write(SERVE_HELP);
      return 0;
    }
    if (flag === '--offline') {
      offline = true;
      continue;
    }
    const value = args[i + 1];
    if (!['--model', '--port', '--host'].includes(flag)) return serveUsage(io, `serve: unknown argument "${flag}"`);
    if (value === undefined || value.startsWith('--')) return serveUsage(io, `serve: ${flag} needs a value`);
    i++;
    if (flag === '--model') opts.model = value;
    if (flag === '--host') opts.host = value;
    if (flag === '--port') {
      if (!/^\d+$/.test(value) || Number(value) > 65535) {
        return serveUsage(io, `serve: --port must be an integer in [0, 65535]; got "${value}"`);
      }
      opts.port = Number(value);
    }
  }
  if (opts.model !== undefined && isPretrainedSource(opts.model)) {
    const given = opts.model;
    opts.model = undefined;
    try {
      opts.modelFolder = await modelFolderOf(given, offline, io);
    } catch (e) {
      io.stderr.write(`qkv: serve: ${(e as Error).message.split('\n')[0]}\n`);
      return 1;
    }
    opts.modelName = given;
  } else if (opts.model !== undefined) {
    try {
      if (!(await stat(opts.model)).isFile()) throw new Error('not a file');
    } catch {
      io.stderr.write(`qkv: serve: --model ${opts.model} is not a readable file\n`);
      return 1;
    }
  }
  let server: RunningServer;
  try {
    server = await startServer(opts);
  } catch (e) {
    io.stderr.write(`qkv: ${(e as Error).message}\n`);
    return 1;
  }
  const on = opts.modelFolder === undefined ? '' : ` on ${opts.modelName}`;
  io.stdout.write(`qkv: serving the viewer${on} at ${server.url} (Ctrl+C stops)\n`);
  if (!['127.0.0.1', '::1', 'localhost'].includes(opts.host ?? '127.0.0.1')) {
    io.stderr.write(`qkv: serve: bound to ${opts.host}; other machines on your network can open the page\n`);
  }
  await new Promise<void>((done) => {
    if (options.signal) {
      if (options.signal.aborted) return done();
      options.signal.addEventListener('abort', () => done(), { once: true });
    } else {
      process.once('SIGINT', () => done());
      process.once('SIGTERM', () => done());
    }
  });
  await server.close();
  return 0;
}

/** The local folder of a --model folder or Hub id (downloaded into the cache, with a progress bar on stderr). */
async function modelFolderOf(source: string, offline: boolean, io: CliIO): Promise<string> {
  if ((await stat(source).catch(() => null))?.isDirectory()) {
    if ((await stat(resolve(source, 'config.json')).catch(() => null)) === null) throw new Error(`--model ${source} has no config.json; it is not a Hugging Face model folder`);
    return source;
  }
  // The one import past the public entry points: the Hub client is Node only, so the root (which the browser bundle
  // imports) leaves it out, and loadPretrained loads models rather than folders. Loaded on demand, as loadPretrained does.
  const { downloadModel } = await import('../models/hub.js');
  const bar = progressBar(io.stderr);
  try {
    return await downloadModel(source, { offline: offline || undefined, onProgress: bar });
  } finally {
    bar.end();
  }
}

function serveUsage(io: CliIO, problem: string): number {
  io.stderr.write(`qkv: ${problem}\n\n${SERVE_HELP}`);
  return 2;
}
