// Downloads a model from the Hugging Face Hub (or a mirror) into qkv's own cache, for loadPretrained(source). It
// mirrors huggingface_hub's hf_hub_download (file_download.py): the `resolve` URL layout, a HEAD for each file's
// metadata (X-Linked-Etag and X-Linked-Size on the Hub's 302 for LFS files), downloads into `<file>.incomplete` that
// resume with Range, the sha256 check of LFS files, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE, and one lock per file.
//
// The cache is qkv's own, not huggingface_hub's blobs/snapshots layout: one plain folder per repo and revision,
//
//   <cacheDir>/models--<owner>--<name>/<revision>/config.json, model.safetensors, ...   (the HF folder layout)
//                                                 .qkv-download.json                    what a complete download holds
//
// so the folder it returns is one that loadPretrained also accepts as a local path. A file under its final name is
// always complete: bytes arrive in `<file>.incomplete`, are checked (byte count, and sha256 where the Hub names one),
// and only then renamed. The manifest `.qkv-download.json` is written last; while it lists files that are all
// present, a call makes no request at all. A branch revision such as "main" is therefore not re-validated until the
// caller asks with `refresh: true` (a commit sha never changes, so refresh does nothing for one).
//
// Request flow for one file: HEAD `${endpoint}/${repoId}/resolve/${revision}/${file}` (redirects followed by hand,
// up to 10, so that the Hub's headers on its 302 can be read and the token never goes to another origin), then GET
// the same URL. Every request has a watchdog of `timeoutMs` without progress; a cut connection, a timeout, 429 and
// 5xx are retried at most 3 times (a GET resumes where it stopped; backoff 0.1-0.4 s after a cut, 1-4 s or the
// Retry-After after a 429/5xx), everything else fails at once.

import { createHash, randomBytes, type Hash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';

import { ArgumentError, FormatError, ModelError, NetworkError, QkvError } from '../core/errors.js';

// ---- public API ----------------------------------------------------------------------------------------------------

/** Options of {@link downloadModel}. Every field may be left out (or `undefined`) to get its default. */
export interface HubOptions {
  /**
   * The root of qkv's download cache (qkv's own layout, not huggingface_hub's, see {@link downloadModel}). An empty
   * QKV_CACHE counts as unset.
   * @default process.env.QKV_CACHE ?? ~/.cache/qkv
   * @example { cacheDir: '/data/qkv-cache' }
   */
  cacheDir?: string;
  /**
   * Forbid the network: return the cached folder, or fail with a NetworkError that names the missing file. The
   * variable is read like huggingface_hub reads it: "1", "true", "yes" or "on", in any case.
   * @default process.env.HF_HUB_OFFLINE === '1'
   */
  offline?: boolean;
  /**
   * A branch, a tag, a 40-hex commit sha, or a ref such as "refs/pr/1". It is URL-encoded in requests and in the name
   * of its cache folder ("refs%2Fpr%2F1").
   * @default 'main'
   */
  revision?: string;
  /**
   * Check a cached branch or tag against the Hub: HEAD every file and download again those whose ETag changed (files
   * that were removed upstream are removed from the cache). Without it a complete cached folder is returned with no
   * request. Ignored offline, and for a commit-sha revision, which cannot change.
   * @default false
   */
  refresh?: boolean;
  /**
   * The Hub, or a mirror of it with the same URL layout. A path after the host is kept (`https://mirror/hf`).
   * @default process.env.HF_ENDPOINT ?? 'https://huggingface.co'
   * @example { endpoint: 'https://hf-mirror.com' }
   */
  endpoint?: string;
  /**
   * Bearer token for gated and private repos. It is sent only to the endpoint's origin, never to the CDN that the
   * Hub redirects to.
   * @default process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN
   */
  token?: string;
  /**
   * Milliseconds a request may go without progress (no headers yet, or no bytes of the body) before it is abandoned
   * and retried; a slow but steady download never times out.
   * @default 30000
   */
  timeoutMs?: number;
  /**
   * Called as bytes arrive, and once per file with `done: true` when it is complete under its final name. Files found
   * in the cache send no events. An exception thrown here ends the download (the partial file stays, to resume).
   * @example { onProgress: progressBar(process.stderr) }
   */
  onProgress?: (progress: DownloadProgress) => void;
  /**
   * Cancels the download: the call rejects with `signal.reason`, and a partial file stays to be resumed by the next
   * call.
   */
  signal?: AbortSignal;
}

/** One progress event of {@link downloadModel}. */
export interface DownloadProgress {
  /** The file's path in the repo, e.g. "model.safetensors". */
  file: string;
  /**
   * Bytes of the file on disk so far, including a part resumed from an earlier call. It only grows, except when a
   * server ignores a resume request and the file starts again from 0.
   */
  receivedBytes: number;
  /** The file's size, when the Hub or the response says it. */
  totalBytes: number | null;
  /** True in the last event of the file: it is complete and checked under its final name. */
  done: boolean;
  /** 0-based position of the file among the files this call transfers. */
  fileIndex: number;
  /**
   * How many files this call transfers. It is final from the first `done` event on; before that, while a sharded
   * checkpoint's index (always the first file) is being downloaded, it does not count the shards yet.
   */
  fileCount: number;
}

/**
 * True for a Hub repo id, "owner/name" or a bare legacy "name" (letters, digits, "_", "-", "."; no "--" or ".."; at
 * most 96 characters), that is not an existing local path. `loadPretrained` uses it to tell ids from folders.
 * @example isHubId('openai-community/gpt2') // true, unless ./openai-community/gpt2 exists
 * @example isHubId('./models/gpt2') // false
 */
export function isHubId(source: string): boolean {
  return typeof source === 'string' && isRepoId(source) && !existsSync(source);
}

/**
 * Downloads (or finds in the cache) the files qkv needs from a Hub repo and returns the local folder that holds them,
 * `<cacheDir>/models--<owner>--<name>/<revision>` (an absolute path). This is qkv's own cache, not
 * huggingface_hub's: files that the `huggingface-cli` downloaded are not reused.
 *
 * The files: `config.json` (required); the weights, `model.safetensors` or else `model.safetensors.index.json` and
 * every shard its `weight_map` names (qkv reads safetensors only: a repo with only `pytorch_model.bin` fails); and,
 * when the repo has them, `tokenizer.json`, `tokenizer_config.json`, `generation_config.json` and
 * `special_tokens_map.json`. Files are transferred one after another; a complete cached file is never fetched again.
 * Once a download is complete the folder is returned with no request, also for a branch such as "main": pass
 * `refresh: true` to check the branch for new commits. Offline (`offline`, HF_HUB_OFFLINE) only the cache is read.
 * Aborting `signal` rejects with its reason and keeps the partial file for the next call to resume.
 * @throws ArgumentError for a malformed repo id, an unknown option (with a "did you mean") or a value of the wrong
 *   type.
 * @throws NetworkError when the endpoint cannot be reached, offline with a file missing from the cache (it names the
 *   file and the folder), for 401/403 (a gated or private repo: set HF_TOKEN), 5xx and cut connections after 3
 *   retries, too many redirects, and a size or sha256 mismatch (the bad bytes are deleted).
 * @throws ModelError (with `file`, and `key` for a shard) when config.json, the weights or a shard is not in the repo.
 * @throws FormatError when model.safetensors.index.json is not a valid index.
 * @example
 * const folder = await downloadModel('openai-community/gpt2', { onProgress: progressBar(process.stderr) });
 * // folder: ~/.cache/qkv/models--openai-community--gpt2/main
 */
export async function downloadModel(repoId: string, options?: HubOptions): Promise<string> {
  const s = settings(repoId, options);
  const dir = join(s.cacheDir, `models--${repoId.replace('/', '--')}`, encodeURIComponent(s.revision));
  s.signal?.throwIfAborted();
  if (s.offline) return fromCache(s, dir);
  if (!s.refresh && (await manifestHit(s, dir))) return dir;
  await mkdir(dir, { recursive: true });
  try {
    await new Download(s, dir).run();
  } catch (e) {
    throw e instanceof CallbackFailure ? e.error : e;
  }
  return dir;
}

// ---- constants -----------------------------------------------------------------------------------------------------

const FN = 'downloadModel';
const CONFIG = 'config.json';
const WEIGHTS = 'model.safetensors';
const WEIGHTS_INDEX = 'model.safetensors.index.json';
const PICKLE_WEIGHTS = 'pytorch_model.bin';
const OPTIONAL_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'generation_config.json',
  'special_tokens_map.json',
] as const;
const MANIFEST = '.qkv-download.json';
const MANIFEST_FORMAT = 'qkv-download/1';

const DEFAULT_ENDPOINT = 'https://huggingface.co';
const DEFAULT_TIMEOUT_MS = 30_000;
/** setTimeout's limit. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** Retries after the first attempt, for a cut connection, a timeout, 429 or 5xx. */
const MAX_RETRIES = 3;
const MAX_REDIRECTS = 10;
/**
 * Backoff before retry n (1-based): base · 2^(n-1). A cut or stalled connection is retried soon (it resumes, and the
 * watchdog has already waited); a 429 or 5xx waits longer, or as long as its Retry-After says, up to a cap.
 */
const NETWORK_BACKOFF_MS = 100;
const STATUS_BACKOFF_MS = 1_000;
const RETRY_AFTER_MAX_MS = 10_000;
/** An index of a sharded checkpoint is a few hundred KB even for the largest models. */
const MAX_INDEX_BYTES = 100_000_000;
/** A lock's holder touches it this often; a lock untouched for LOCK_STALE_MS belongs to a dead or frozen process. */
const LOCK_HEARTBEAT_MS = 2_000;
const LOCK_STALE_MS = 15_000;
const LOCK_POLL_MS = 100;
const MAX_LOCK_STEALS = 3;

const USER_AGENT = `qkv; node/${process.versions.node}`;
const OPTION_KEYS = [
  'cacheDir',
  'offline',
  'revision',
  'refresh',
  'endpoint',
  'token',
  'timeoutMs',
  'onProgress',
  'signal',
] as const satisfies readonly (keyof HubOptions)[];

/**
 * Socket errors under fetch's TypeError that a retry may heal (a reset or cut connection). Any other error before an
 * answer (refused, DNS, TLS) means the endpoint is not reachable from here, and fails at once.
 */
const TRANSIENT_SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

// ---- options -------------------------------------------------------------------------------------------------------

interface Settings {
  repoId: string;
  revision: string;
  /** Without a trailing slash. */
  endpoint: string;
  origin: string;
  token: string | undefined;
  cacheDir: string;
  offline: boolean;
  /** Why offline, for messages: "offline: true" or "HF_HUB_OFFLINE=1". */
  offlineWhy: string;
  /** Already false for a commit-sha revision. */
  refresh: boolean;
  timeoutMs: number;
  onProgress: ((progress: DownloadProgress) => void) | undefined;
  signal: AbortSignal | undefined;
}

function settings(repoId: unknown, options: unknown): Settings {
  if (typeof repoId !== 'string' || !isRepoId(repoId)) {
    throw new ArgumentError(
      `${FN}: repoId must be a Hub id "owner/name" or "name" (letters, digits, "_", "-", "."; no "--" or ".."; at ` +
        `most 96 characters); got ${show(repoId)}. For a local folder, pass its path to loadPretrained`,
    );
  }
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ArgumentError(`${FN}: options must be an object; got ${show(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if ((OPTION_KEYS as readonly string[]).includes(key)) continue;
    const near = nearest(key, OPTION_KEYS);
    throw new ArgumentError(
      `${FN}: unknown option ${JSON.stringify(key)}${near ? ` (did you mean "${near}"?)` : ''}; the options are ` +
        OPTION_KEYS.join(', '),
    );
  }
  const env = process.env;
  const str = (key: string): string | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') {
      throw new ArgumentError(`${FN}: options.${key} must be a non-empty string; got ${show(v)}`);
    }
    return v;
  };
  const bool = (key: string): boolean | undefined => {
    const v = o[key];
    if (v === undefined || typeof v === 'boolean') return v;
    throw new ArgumentError(`${FN}: options.${key} must be true or false; got ${show(v)}`);
  };
  const nonEmpty = (v: string | undefined): string | undefined => (v === '' ? undefined : v);

  const revision = str('revision') ?? 'main';
  if (/[\u0000-\u001f\u007f]/.test(revision) || revision.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new ArgumentError(
      `${FN}: options.revision must be a branch, tag or commit sha (no empty, "." or ".." parts, no control ` +
        `characters); got ${show(revision)}`,
    );
  }

  const endpointText = str('endpoint') ?? nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT;
  const from = o.endpoint === undefined && nonEmpty(env.HF_ENDPOINT) !== undefined ? 'HF_ENDPOINT' : 'options.endpoint';
  let url: URL;
  try {
    url = new URL(endpointText);
  } catch {
    throw new ArgumentError(
      `${FN}: ${from} must be an http(s) URL such as ${DEFAULT_ENDPOINT}; got ${show(endpointText)}`,
    );
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    throw new ArgumentError(
      `${FN}: ${from} must be an http(s) URL without query or fragment, such as ${DEFAULT_ENDPOINT}; got ` +
        show(endpointText),
    );
  }

  const token = str('token') ?? nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN);
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
    throw new ArgumentError(`${FN}: the token (options.token or HF_TOKEN) must be printable ASCII without spaces`);
  }

  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new ArgumentError(
      `${FN}: options.timeoutMs must be a number of milliseconds in (0, ${MAX_TIMEOUT_MS}]; got ${show(timeoutMs)}`,
    );
  }
  const onProgress = o.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new ArgumentError(`${FN}: options.onProgress must be a function; got ${show(onProgress)}`);
  }
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new ArgumentError(`${FN}: options.signal must be an AbortSignal; got ${show(signal)}`);
  }

  const offlineOption = bool('offline');
  const offlineEnv = /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? '');
  const offline = offlineOption ?? offlineEnv;
  const cacheDir = resolve(str('cacheDir') ?? nonEmpty(env.QKV_CACHE) ?? join(homedir(), '.cache', 'qkv'));

  return {
    repoId,
    revision,
    endpoint: url.href.replace(/\/+$/, ''),
    origin: url.origin,
    token,
    cacheDir,
    offline,
    offlineWhy: offlineOption === undefined ? `HF_HUB_OFFLINE=${env.HF_HUB_OFFLINE}` : 'offline: true',
    refresh: (bool('refresh') ?? false) && !/^[0-9a-f]{40}$/.test(revision),
    timeoutMs,
    onProgress: onProgress as Settings['onProgress'],
    signal,
  };
}

/** huggingface_hub's validate_repo_id: `^(\b[\w\-.]+\b/)?\b[\w\-.]+\b$`, no "--" or "..", at most 96 characters. */
function isRepoId(id: string): boolean {
  if (id.length === 0 || id.length > 96 || id.includes('--') || id.includes('..')) return false;
  const parts = id.split('/');
  return parts.length <= 2 && parts.every((p) => /^\w(?:[\w.-]*\w)?$/.test(p));
}

/** The option name closest to `key` within 3 edits (or equal up to case), if any. */
function nearest(key: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 4;
  for (const name of names) {
    const d = name.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, name);
    if (d < bestD) [best, bestD] = [name, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** A value as a message shows it: strings quoted, short values as written, others by type. */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 120 ? `${v.slice(0, 120)}…` : v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'undefined') return String(v);
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? `an object (${Object.prototype.toString.call(v)})` : typeof v;
}

// ---- the cache -----------------------------------------------------------------------------------------------------

interface FileRecord {
  size: number;
  /** The file's ETag on the endpoint, without quotes (a sha256 for LFS files), when known. */
  etag: string | null;
}

interface Manifest {
  format: typeof MANIFEST_FORMAT;
  repoId: string;
  revision: string;
  /** X-Repo-Commit of the download, when the endpoint sent it. */
  commit: string | null;
  files: Record<string, FileRecord>;
  /** Optional files the repo did not have. */
  missing: string[];
  downloadedAt: string;
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : null;
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return null;
    throw e;
  }
}

async function readManifest(s: Settings, dir: string): Promise<Manifest | null> {
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Partial<Manifest>;
  } catch {
    return null; // absent or damaged: the download simply runs again
  }
  const ok =
    m.format === MANIFEST_FORMAT &&
    m.repoId === s.repoId &&
    m.revision === s.revision &&
    typeof m.files === 'object' &&
    m.files !== null &&
    Object.values(m.files).every((r) => typeof r?.size === 'number');
  return ok ? (m as Manifest) : null;
}

/** True when the manifest of a complete download lists files that are all present with their sizes. */
async function manifestHit(s: Settings, dir: string): Promise<boolean> {
  const m = await readManifest(s, dir);
  if (m === null || !(CONFIG in m.files)) return false;
  for (const [file, record] of Object.entries(m.files)) {
    if ((await sizeOf(join(dir, file))) !== record.size) return false;
  }
  return true;
}

/** Offline: the cached folder if it holds config.json and the weights, else a NetworkError naming what is missing. */
async function fromCache(s: Settings, dir: string): Promise<string> {
  const missing = (file: string): never => {
    throw new NetworkError(
      `${FN}: offline (${s.offlineWhy}) and ${file} of ${s.repoId} (revision ${s.revision}) is not in the cache ` +
        `folder ${dir}; run once online to download it, or pass the path of a local model folder`,
    );
  };
  if ((await sizeOf(join(dir, CONFIG))) === null) missing(CONFIG);
  if ((await sizeOf(join(dir, WEIGHTS))) !== null) return dir;
  if ((await sizeOf(join(dir, WEIGHTS_INDEX))) === null) missing(WEIGHTS);
  for (const { file } of await readIndex(join(dir, WEIGHTS_INDEX))) {
    if ((await sizeOf(join(dir, file))) === null) missing(file);
  }
  return dir;
}

/** The shards of a sharded checkpoint's index, sorted, each with one tensor stored in it (for messages). */
async function readIndex(path: string): Promise<{ file: string; key: string }[]> {
  const bad = (what: string): never => {
    throw new FormatError(`${FN}: ${path} is not a valid safetensors index: ${what}; delete it to download it again`);
  };
  const size = await sizeOf(path);
  if (size === null || size > MAX_INDEX_BYTES) bad(`it is larger than ${MAX_INDEX_BYTES} bytes`);
  let index: unknown;
  try {
    index = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    bad(`it is not JSON (${(e as Error).message})`);
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) bad('it has no "weight_map" object');
  const shards = new Map<string, string>();
  for (const [key, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string' || !isSafeRelative(file)) {
      bad(`weight_map[${JSON.stringify(key)}] must be a file path inside the repo; got ${show(file)}`);
    }
    if (!shards.has(file as string)) shards.set(file as string, key);
  }
  if (shards.size === 0) bad('its weight_map is empty');
  return [...shards].map(([file, key]) => ({ file, key })).sort((a, b) => (a.file < b.file ? -1 : 1));
}

/** A path that stays inside the repo folder: relative, "/"-separated, no dot-files or "..", no "\\" or ":". */
function isSafeRelative(file: string): boolean {
  if (file.length === 0 || file.length > 255 || /[\\:\u0000-\u001f\u007f]/.test(file)) return false;
  return file.split('/').every((p) => p.length > 0 && !p.startsWith('.'));
}

// ---- one download --------------------------------------------------------------------------------------------------

/** What a HEAD learned about a file the endpoint has. */
interface Remote {
  size: number | null;
  etag: string | null;
  commit: string | null;
}

/** A HEAD's answer: the file, or a 404 with the Hub's X-Error-Code (RepoNotFound, RevisionNotFound, ...). */
type Probe = { found: true; remote: Remote } | { found: false; errorCode: string | null };

class Download {
  private readonly records: Record<string, FileRecord> = {};
  private readonly missing: string[] = [];
  /** model.safetensors or the shards, transferred last. */
  private readonly weightFiles: { file: string; remote: Remote; key?: string }[] = [];
  private commit: string | null = null;
  private previous: Manifest | null = null;
  /** Progress numbering: files transferred so far, and files planned. */
  private next = 0;
  private count = 0;

  constructor(
    private readonly s: Settings,
    private readonly dir: string,
  ) {}

  async run(): Promise<void> {
    const { s, dir } = this;
    this.previous = await readManifest(s, dir);
    const cached = async (file: string): Promise<number | null> => (s.refresh ? null : sizeOf(join(dir, file)));

    // 1. HEAD, all at once, the files not already cached: config, the single-file weights and the optional files.
    // A cached model.safetensors, or else a cached index, decides the form of the weights without a request.
    const indexCached = (await cached(WEIGHTS)) === null && (await cached(WEIGHTS_INDEX)) !== null;
    const wanted = [CONFIG, indexCached ? WEIGHTS_INDEX : WEIGHTS, ...OPTIONAL_FILES];
    const toProbe: string[] = [];
    for (const file of wanted) {
      const size = await cached(file);
      if (size === null) toProbe.push(file);
      else this.keep(file, size);
    }
    const probes = await this.probeAll(toProbe);

    // 2. config.json is required; then the weights: model.safetensors, else the index, else say why not.
    const config = probes.get(CONFIG);
    if (config !== undefined && !config.found) throw this.notFound(CONFIG, config.errorCode);
    const transfers: { file: string; remote: Remote; required: boolean }[] = [];
    for (const file of [CONFIG, ...OPTIONAL_FILES]) {
      const p = probes.get(file);
      if (p === undefined) continue;
      if (p.found) {
        if (this.unchanged(file, p.remote)) await this.keepCached(file);
        else transfers.push({ file, remote: p.remote, required: file === CONFIG });
      } else {
        this.missing.push(file);
        if (s.refresh) await rm(join(dir, file), { force: true }); // removed upstream
      }
    }
    let indexTransfer: Remote | null = null;
    const w = probes.get(WEIGHTS);
    if (w?.found) {
      if (this.unchanged(WEIGHTS, w.remote)) await this.keepCached(WEIGHTS);
      else this.weightFiles.push({ file: WEIGHTS, remote: w.remote });
    } else if (w !== undefined) {
      const index = (await this.probeAll([WEIGHTS_INDEX])).get(WEIGHTS_INDEX) as Probe;
      if (!index.found) throw await this.noSafetensors(index.errorCode);
      if (s.refresh) await rm(join(dir, WEIGHTS), { force: true }); // the repo went from one file to shards
      if (this.unchanged(WEIGHTS_INDEX, index.remote)) await this.keepCached(WEIGHTS_INDEX);
      else indexTransfer = index.remote;
    }

    // 3. Transfer the index, then the other small files, then the weights. A cached index names its shards now, a
    // downloaded one before its `done` event: so fileCount is final in every done event, and a progress bar knows
    // which file is the last.
    if ((indexCached || w?.found === false) && indexTransfer === null) await this.planShards();
    this.count = (indexTransfer === null ? 0 : 1) + transfers.length + this.weightFiles.length;
    if (indexTransfer !== null) {
      await this.transfer(WEIGHTS_INDEX, indexTransfer, true, undefined, async () => {
        this.count += await this.planShards();
      });
    }
    for (const t of transfers) await this.transfer(t.file, t.remote, t.required);
    for (const t of this.weightFiles) await this.transfer(t.file, t.remote, true, t.key);

    // 4. The manifest, last: from now on this folder is a cache hit.
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      repoId: s.repoId,
      revision: s.revision,
      commit: this.commit,
      files: this.records,
      missing: this.missing,
      downloadedAt: new Date().toISOString(),
    };
    const tmp = join(dir, `${MANIFEST}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
    await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
    await rename(tmp, join(dir, MANIFEST));
  }

  /**
   * Reads the cached index, and HEADs the shards that are not cached (or all, for refresh); the missing ones fail
   * here, before any weight file is transferred. Returns how many shards were added to the transfers.
   */
  private async planShards(): Promise<number> {
    const { s, dir } = this;
    const shards = await readIndex(join(dir, WEIGHTS_INDEX));
    const toProbe: string[] = [];
    for (const { file } of shards) {
      const size = s.refresh ? null : await sizeOf(join(dir, file));
      if (size === null) toProbe.push(file);
      else this.keep(file, size);
    }
    const probes = await this.probeAll(toProbe);
    const before = this.weightFiles.length;
    for (const { file, key } of shards) {
      const p = probes.get(file);
      if (p === undefined) continue;
      if (!p.found) {
        throw new ModelError(
          `${FN}: ${s.repoId} (revision ${s.revision}) has no ${file}, the shard that ${WEIGHTS_INDEX} names for ` +
            `${key} (404 from ${this.url(file)})`,
          { file, key },
        );
      }
      if (this.unchanged(file, p.remote)) await this.keepCached(file);
      else this.weightFiles.push({ file, remote: p.remote, key });
    }
    return this.weightFiles.length - before;
  }

  private keep(file: string, size: number): void {
    this.records[file] = { size, etag: this.previous?.files[file]?.etag ?? null };
  }

  private async keepCached(file: string): Promise<void> {
    this.keep(file, (await sizeOf(join(this.dir, file))) ?? 0);
  }

  /** Refresh: a cached file whose recorded ETag equals the endpoint's is kept (without refresh none is probed). */
  private unchanged(file: string, remote: Remote): boolean {
    const before = this.previous?.files[file]?.etag;
    return this.s.refresh && before != null && before === remote.etag && existsSync(join(this.dir, file));
  }

  private url(file: string): string {
    const path = file.split('/').map(encodeURIComponent).join('/');
    return `${this.s.endpoint}/${this.s.repoId}/resolve/${encodeURIComponent(this.s.revision)}/${path}`;
  }

  /** HEADs the files in parallel; the first failure (in list order) cancels the others and is thrown. */
  private async probeAll(files: readonly string[]): Promise<Map<string, Probe>> {
    const group = linked(this.s.signal);
    try {
      const settled = await Promise.allSettled(
        files.map((file) =>
          this.probe(file, group.signal).catch((e: unknown) => {
            group.abort();
            throw e;
          }),
        ),
      );
      this.s.signal?.throwIfAborted();
      const found = new Map<string, Probe>();
      const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      if (failures.length > 0) throw failures.find((e) => !group.isOwnAbort(e)) ?? failures[0];
      settled.forEach((r, i) => found.set(files[i], (r as PromiseFulfilledResult<Probe>).value));
      return found;
    } finally {
      group.dispose();
    }
  }

  private async probe(file: string, parent: AbortSignal): Promise<Probe> {
    const url = this.url(file);
    for (let attempt = 0; ; attempt++) {
      const dog = new Watchdog(this.s.timeoutMs, parent);
      try {
        const { res, meta } = await this.request(url, 'HEAD', null, dog);
        await res.body?.cancel();
        if (res.status === 404) return { found: false, errorCode: res.headers.get('x-error-code') };
        if (res.ok || (res.status >= 300 && res.status < 400)) {
          this.commit ??= meta.commit;
          const length = res.ok ? contentLength(res) : null;
          const remote = { size: meta.linkedSize ?? length, etag: meta.linkedEtag ?? meta.etag, commit: meta.commit };
          return { found: true, remote };
        }
        throw this.statusError(file, url, res);
      } catch (e) {
        const retry = this.retryable(e, dog, parent, attempt);
        if (retry === null) throw e;
        if (attempt >= MAX_RETRIES) throw this.gaveUp(file, url, e);
        await sleep(retry, parent);
      } finally {
        dog.stop();
      }
    }
  }

  /**
   * Downloads one file into `<file>.incomplete`, resuming a partial one when it can be checked by sha256, and renames
   * it when the byte count and hash are right. Holds the file's lock meanwhile.
   */
  private async transfer(
    file: string,
    probed: Remote,
    required: boolean,
    key?: string,
    beforeDone?: () => Promise<void>,
  ): Promise<void> {
    const { s } = this;
    const final = join(this.dir, file);
    const partial = `${final}.incomplete`;
    const fileIndex = this.next++;
    await mkdir(dirname(final), { recursive: true });
    await withLock(`${final}.lock`, s.signal, async () => {
      if (!s.refresh) {
        const size = await sizeOf(final); // another call finished it while this one waited for the lock
        if (size !== null) {
          await beforeDone?.();
          return this.finish(file, size, probed.etag, fileIndex);
        }
      }
      const url = this.url(file);
      // Without a sha256 a partial file's bytes cannot be trusted (the file may have changed since), so start over.
      if (sha256Of(probed.etag) === null) await rm(partial, { force: true });
      let freshAfterMismatch = false;
      for (let attempt = 0; ; attempt++) {
        const offset = (await sizeOf(partial)) ?? 0;
        const dog = new Watchdog(s.timeoutMs, s.signal);
        let outcome: Outcome;
        try {
          outcome = await this.attempt(file, url, partial, offset, probed, required, key, dog, fileIndex);
        } catch (e) {
          const retry = this.retryable(e, dog, s.signal, attempt);
          if (retry === null) throw e;
          outcome = { kind: 'retry', detail: describe(e), delayMs: retry };
        } finally {
          dog.stop();
        }
        if (outcome.kind === 'done') {
          await rename(partial, final);
          await beforeDone?.();
          return this.finish(file, outcome.size, outcome.etag, fileIndex);
        }
        if (outcome.kind === 'gone') {
          this.missing.push(file);
          return;
        }
        if (outcome.kind === 'mismatch') {
          // A partial from an earlier call may belong to an older version of the file: try once from byte 0.
          await rm(partial, { force: true });
          if (!outcome.resumed || freshAfterMismatch || attempt >= MAX_RETRIES) {
            throw new NetworkError(`${FN}: ${outcome.detail}; the bad download was deleted, run again to retry`);
          }
          freshAfterMismatch = true;
          continue;
        }
        if (outcome.kind === 'restart') await rm(partial, { force: true });
        if (attempt >= MAX_RETRIES) {
          const have = (await sizeOf(partial)) ?? 0;
          const next =
            have > 0 && sha256Of(probed.etag) !== null
              ? `${have} bytes are kept in ${partial} and the next call resumes from there`
              : 'run again to retry';
          throw new NetworkError(
            `${FN}: the download of ${file} from ${url} failed after ${MAX_RETRIES} retries ` +
              `(${outcome.detail}); ${next}`,
          );
        }
        await sleep(outcome.delayMs ?? backoff(attempt + 1), s.signal);
      }
    });
  }

  private finish(file: string, size: number, etag: string | null, fileIndex: number): void {
    this.records[file] = { size, etag };
    this.emit({ file, receivedBytes: size, totalBytes: size, done: true, fileIndex, fileCount: this.count });
  }

  /** The caller's onProgress; what it throws ends the download as it is, never taken for a network failure. */
  private emit(p: DownloadProgress): void {
    try {
      this.s.onProgress?.(p);
    } catch (e) {
      throw new CallbackFailure(e);
    }
  }

  /** One GET. Network failures throw (the caller classifies them); answers come back as an Outcome. */
  private async attempt(
    file: string,
    url: string,
    partial: string,
    offset: number,
    probed: Remote,
    required: boolean,
    key: string | undefined,
    dog: Watchdog,
    fileIndex: number,
  ): Promise<Outcome> {
    const { res, meta } = await this.request(url, 'GET', offset > 0 ? offset : null, dog);
    const body = res.body;
    let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
    let finished = false;
    try {
      const etag = meta.linkedEtag ?? meta.etag ?? probed.etag;
      const sha = sha256Of(etag);
      this.commit ??= meta.commit;
      if (res.status === 404) {
        if (!required) return { kind: 'gone' };
        throw this.notFound(file, res.headers.get('x-error-code'), key);
      }
      if (res.status === 416 && offset > 0) {
        // The partial file may already hold every byte (a crash between the last byte and the rename).
        const total = parseContentRange(res.headers.get('content-range'))?.total ?? meta.linkedSize ?? probed.size;
        if (total !== offset) {
          return { kind: 'restart', detail: `416 for a resume at byte ${offset} of ${total ?? '?'}` };
        }
        const hash = sha === null ? null : await hashFile(partial);
        return this.verify(file, url, offset, total, sha, hash, true, etag);
      }
      if (res.status !== 200 && res.status !== 206) throw this.statusError(file, url, res);

      let start = 0;
      if (res.status === 206) {
        const range = parseContentRange(res.headers.get('content-range'));
        if (range === null || range.start !== offset) {
          const got = res.headers.get('content-range');
          return { kind: 'restart', detail: `206 with Content-Range ${got} for a resume at byte ${offset}` };
        }
        // The ETag changed since the partial was written: its bytes belong to another version of the file.
        if (sha !== null && sha !== sha256Of(probed.etag)) {
          return { kind: 'restart', detail: 'the file changed on the Hub since its HEAD' };
        }
        start = offset;
      }
      const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
      const length = encoded ? null : contentLength(res);
      const range = parseContentRange(res.headers.get('content-range'));
      const total = meta.linkedSize ?? range?.total ?? (length === null ? null : start + length);
      const hash = sha === null ? null : start > 0 ? await hashFile(partial) : createHash('sha256');

      const fh = await open(partial, start > 0 ? 'a' : 'w');
      let received = start;
      try {
        const totalBytes = total ?? probed.size;
        const progress = (): void =>
          this.emit({ file, receivedBytes: received, totalBytes, done: false, fileIndex, fileCount: this.count });
        progress();
        if (body !== null) {
          reader = body.getReader();
          for (;;) {
            const { done, value } = await reader.read(); // a cut connection or the watchdog rejects here
            if (done) break;
            dog.touch();
            hash?.update(value);
            for (let at = 0; at < value.length; ) at += (await fh.write(value, at, value.length - at)).bytesWritten;
            received += value.length;
            progress();
          }
        }
        finished = true;
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (length !== null && received - start < length) {
        return { kind: 'retry', detail: `the connection closed after ${received - start} of ${length} bytes` };
      }
      return this.verify(file, url, received, total, sha, hash, start > 0, etag);
    } finally {
      // Release the connection of an answer that was not read to its end (an error status, a disk error, ...).
      if (!finished) await (reader ?? body)?.cancel().catch(() => undefined);
    }
  }

  /** The last checks before the rename: the byte count, then the sha256 of LFS files. */
  private verify(
    file: string,
    url: string,
    size: number,
    total: number | null,
    sha: string | null,
    hash: Hash | null,
    resumed: boolean,
    etag: string | null,
  ): Outcome {
    if (total !== null && size !== total) {
      const detail = `${file} from ${url} has ${size} bytes where the endpoint said ${total}`;
      return { kind: 'mismatch', resumed, detail };
    }
    if (sha !== null && hash !== null) {
      const got = hash.digest('hex');
      if (got !== sha) {
        return {
          kind: 'mismatch',
          resumed,
          detail:
            `${file} from ${url} has sha256 ${got} where the endpoint's ETag says ${sha} (corrupted in transit ` +
            'or on the CDN)',
        };
      }
    }
    return { kind: 'done', size, etag };
  }

  /**
   * One request, following redirects by hand: the Hub's own headers (X-Linked-Etag, X-Linked-Size, X-Repo-Commit) are
   * read on its hops, and the token goes only to the endpoint's origin. A HEAD stops at a redirect to another origin
   * (the CDN), as huggingface_hub's metadata request does.
   */
  private async request(
    url: string,
    method: 'GET' | 'HEAD',
    rangeStart: number | null,
    dog: Watchdog,
  ): Promise<{ res: Response; meta: Meta }> {
    const meta: Meta = { linkedEtag: null, linkedSize: null, etag: null, commit: null };
    let current = new URL(url);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const own = current.origin === this.s.origin;
      const headers: Record<string, string> = { 'user-agent': USER_AGENT, 'accept-encoding': 'identity' };
      if (own && this.s.token !== undefined) headers.authorization = `Bearer ${this.s.token}`;
      if (rangeStart !== null) headers.range = `bytes=${rangeStart}-`;
      const res = await fetch(current, { method, headers, redirect: 'manual', signal: dog.signal });
      dog.touch();
      if (own) {
        const h = res.headers;
        meta.linkedEtag ??= normalizeEtag(h.get('x-linked-etag'));
        meta.linkedSize ??= toSize(h.get('x-linked-size'));
        meta.commit ??= h.get('x-repo-commit');
      }
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location !== null) {
        const next = new URL(location, current);
        if (method === 'HEAD' && next.origin !== this.s.origin) return { res, meta };
        await res.body?.cancel();
        current = next;
        continue;
      }
      if (own) meta.etag = normalizeEtag(res.headers.get('etag'));
      return { res, meta };
    }
    throw new NetworkError(`${FN}: more than ${MAX_REDIRECTS} redirects for ${url}`);
  }

  /**
   * Null when `e` must be thrown as it is; else the delay before the next attempt. The user's abort and qkv errors
   * are final; so is a connection refused, a DNS failure or a TLS error before any answer (the endpoint is not
   * reachable: a NetworkError says so). A watchdog timeout, a reset or cut socket, 429 and 5xx are retried.
   */
  private retryable(e: unknown, dog: Watchdog, parent: AbortSignal | undefined, attempt: number): number | null {
    if (parent?.aborted) return null;
    if (e instanceof Transient) return e.retryAfterMs ?? backoff(attempt + 1, STATUS_BACKOFF_MS);
    if (e instanceof QkvError || e instanceof CallbackFailure) return null;
    if (dog.fired) return backoff(attempt + 1);
    // fetch reports every network failure as a TypeError: "fetch failed" before an answer, "terminated" after.
    if (!(e instanceof TypeError)) return null; // a disk error, say: not for retrying
    const code = causeCode(e);
    if (e.message === 'fetch failed' && (code === null || !TRANSIENT_SOCKET_CODES.has(code))) {
      throw this.unreachable(null, describe(e));
    }
    return e.message === 'fetch failed' || e.message === 'terminated' || code !== null ? backoff(attempt + 1) : null;
  }

  /** The NetworkError after the last retry of a HEAD. */
  private gaveUp(file: string, url: string, e: unknown): NetworkError {
    if (e instanceof Transient) {
      return new NetworkError(
        `${FN}: ${url} answered ${e.status} for ${this.s.repoId}/${file}, also after ${MAX_RETRIES} retries; the ` +
          `endpoint has trouble, try again later`,
      );
    }
    return this.unreachable(file, `${describe(e)}, also after ${MAX_RETRIES} retries`);
  }

  private unreachable(file: string | null, cause: string): NetworkError {
    const what = file === null ? this.s.repoId : `${this.s.repoId}/${file}`;
    return new NetworkError(
      `${FN}: could not reach ${this.s.endpoint} for ${what} (${cause}); download the folder another way and pass ` +
        `its path, or set HF_ENDPOINT`,
    );
  }

  /** An answer that is neither the file nor a 404: 401/403 (gated or private), 429/5xx (retried), other 4xx. */
  private statusError(file: string, url: string, res: Response): Error {
    const status = `${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    const hubSays = res.headers.get('x-error-message');
    const said = hubSays ? `: "${hubSays}"` : '';
    if (res.status === 401 || res.status === 403) {
      const token =
        this.s.token === undefined
          ? 'set HF_TOKEN (or pass token) to a token of an account that has access'
          : 'the token was refused or its account has no access; check HF_TOKEN';
      return new NetworkError(
        `${FN}: ${this.s.endpoint} refused ${this.s.repoId}/${file} (${status}${said}): the repo is gated or ` +
          `private, or does not exist. Accept its terms at ${this.s.endpoint}/${this.s.repoId} if it is gated, ` +
          `and ${token}`,
      );
    }
    if (res.status === 429 || res.status >= 500) {
      const after = toSize(res.headers.get('retry-after'));
      const delay = after === null ? undefined : Math.min(after * 1000, RETRY_AFTER_MAX_MS);
      return new Transient(`${url} answered ${status}`, delay, status);
    }
    return new NetworkError(`${FN}: ${url} answered ${status}${said} for ${this.s.repoId}/${file}`);
  }

  private notFound(file: string, errorCode: string | null, key?: string): ModelError {
    const { repoId, revision } = this.s;
    const why =
      errorCode === 'RepoNotFound'
        ? `there is no repo ${repoId} on ${this.s.endpoint} (is the id right? a private repo needs HF_TOKEN)`
        : errorCode === 'RevisionNotFound'
          ? `${repoId} has no revision ${JSON.stringify(revision)}`
          : `${repoId} (revision ${revision}) has no ${file}`;
    const where = key === undefined ? { file } : { file, key };
    return new ModelError(`${FN}: ${why}; qkv needs ${file} (404 from ${this.url(file)})`, where);
  }

  /** Neither model.safetensors nor its index: say whether the repo has pickle weights, which qkv does not read. */
  private async noSafetensors(errorCode: string | null): Promise<ModelError> {
    if (errorCode === 'RepoNotFound' || errorCode === 'RevisionNotFound') return this.notFound(WEIGHTS, errorCode);
    const pickle = (await this.probeAll([PICKLE_WEIGHTS])).get(PICKLE_WEIGHTS) as Probe;
    const where = `${this.s.repoId} (revision ${this.s.revision})`;
    const message = pickle.found
      ? `${FN}: ${where} has its weights only as ${PICKLE_WEIGHTS}, and qkv reads safetensors only (pickle ` +
        `checkpoints are not supported). Convert it (safetensors.torch.save_file, or the Hub's "convert to ` +
        `safetensors" Space) or use a repo that has ${WEIGHTS}`
      : `${FN}: ${where} has neither ${WEIGHTS} nor ${WEIGHTS_INDEX}; qkv reads safetensors weights only`;
    return new ModelError(message, { file: WEIGHTS });
  }
}

type Outcome =
  | { kind: 'done'; size: number; etag: string | null }
  | { kind: 'retry'; detail: string; delayMs?: number }
  /** Delete the partial file and try again from byte 0. */
  | { kind: 'restart'; detail: string; delayMs?: number }
  /** A size or sha256 mismatch; `resumed` when the bytes began with a partial file. */
  | { kind: 'mismatch'; detail: string; resumed: boolean }
  /** An optional file that vanished between the HEAD and the GET. */
  | { kind: 'gone' };

interface Meta {
  linkedEtag: string | null;
  linkedSize: number | null;
  etag: string | null;
  commit: string | null;
}

/** Wraps what onProgress threw, on its way out of the retry loops; downloadModel rethrows the original. */
class CallbackFailure {
  constructor(readonly error: unknown) {}
}

/** A 429 or 5xx: retried, and after the last retry reported with its status. */
class Transient extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
    readonly status: string,
  ) {
    super(message);
  }
}

// ---- HTTP helpers --------------------------------------------------------------------------------------------------

/** `"abc"` or `W/"abc"` → `abc`. */
function normalizeEtag(value: string | null): string | null {
  if (value === null) return null;
  const v = value.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
  return v === '' ? null : v;
}

/** The sha256 an ETag names (LFS files on the Hub), or null for any other ETag (a git blob sha1, a CDN's own). */
function sha256Of(etag: string | null): string | null {
  return etag !== null && /^[0-9a-f]{64}$/i.test(etag) ? etag.toLowerCase() : null;
}

function toSize(value: string | null): number | null {
  if (value === null || !/^\d+$/.test(value.trim())) return null;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : null;
}

function contentLength(res: Response): number | null {
  return toSize(res.headers.get('content-length'));
}

/** `bytes a-b/N`, `bytes a-b/*` or `bytes *\/N`. */
function parseContentRange(value: string | null): { start: number | null; total: number | null } | null {
  const m = /^bytes (?:(\d+)-\d+|\*)\/(\d+|\*)$/.exec(value?.trim() ?? '');
  if (m === null) return null;
  return { start: m[1] === undefined ? null : Number(m[1]), total: m[2] === '*' ? null : Number(m[2]) };
}

function backoff(retry: number, base = NETWORK_BACKOFF_MS): number {
  return base * 2 ** (retry - 1);
}

async function hashFile(path: string): Promise<Hash> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/** The system or undici error code under fetch's "fetch failed" / "terminated" TypeError. */
function causeCode(e: unknown): string | null {
  const cause = (e as { cause?: { code?: unknown; errors?: { code?: unknown }[] } } | null)?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === 'string' ? code : null;
}

/** A short text for a failure: "connect ECONNREFUSED 127.0.0.1:9", "terminated: other side closed", "503 ...". */
function describe(e: unknown): string {
  if (e instanceof Transient) return e.status;
  if (e instanceof TimeoutReason) return e.message;
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? e.cause.message || (causeCode(e) ?? '') : '';
  if (e.message === 'fetch failed' && cause) return cause;
  return cause ? `${e.message}: ${cause}` : e.message;
}

class TimeoutReason extends Error {}

/**
 * Aborts its signal after `ms` without a touch(), or when the parent signal aborts (with the parent's reason). One
 * per attempt; stop() releases the timer and the listener.
 */
class Watchdog {
  fired = false;
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onParentAbort: () => void;

  constructor(
    private readonly ms: number,
    private readonly parent: AbortSignal | undefined,
  ) {
    this.onParentAbort = () => this.controller.abort(parent?.reason);
    if (parent?.aborted) this.onParentAbort();
    else parent?.addEventListener('abort', this.onParentAbort, { once: true });
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    clearTimeout(this.timer);
    if (this.controller.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.fired = true;
      this.controller.abort(new TimeoutReason(`no progress for ${this.ms} ms`));
    }, this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }
}

/** A controller that also aborts with `parent`; isOwnAbort tells its own abort from other failures. */
function linked(parent: AbortSignal | undefined): {
  signal: AbortSignal;
  abort(): void;
  isOwnAbort(e: unknown): boolean;
  dispose(): void;
} {
  const controller = new AbortController();
  // Each request of the group listens here (its watchdog, its backoff): more than Node's warning threshold of 10.
  setMaxListeners(0, controller.signal);
  const own = new Error('cancelled because another request failed');
  const onAbort = (): void => controller.abort(parent?.reason);
  if (parent?.aborted) onAbort();
  else parent?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    abort: () => controller.abort(own),
    isOwnAbort: (e) => e === own,
    dispose: () => parent?.removeEventListener('abort', onAbort),
  };
}

/** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((done, fail) => {
    if (signal?.aborted) return fail(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      fail(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      done();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// ---- the per-file lock ---------------------------------------------------------------------------------------------

/**
 * Runs `fn` while holding `<file>.lock`, created exclusively, so that two calls (in this process or another) never
 * write the same partial file. The holder touches the lock every LOCK_HEARTBEAT_MS; a waiter takes over a lock that is
 * untouched for LOCK_STALE_MS or whose holder (on this host) is gone, at most MAX_LOCK_STEALS times. The wait is as
 * long as the holder's own download, which its timeouts bound; the signal ends it.
 */
async function withLock<T>(path: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const me = `${process.pid} ${hostname()}\n`;
  for (let steals = 0; ; ) {
    try {
      await writeFile(path, me, { flag: 'wx' });
      break;
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
    }
    let stale = false;
    try {
      const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
      const [pid, host] = text.trim().split(' ');
      const gone = host === hostname() && Number(pid) !== process.pid && !isAlive(Number(pid));
      stale = gone || Date.now() - st.mtimeMs > LOCK_STALE_MS;
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e; // released meanwhile: try again at once
      continue;
    }
    if (stale) {
      if (++steals > MAX_LOCK_STEALS) {
        throw new NetworkError(`${FN}: could not take over the stale lock ${path}; delete it if no download runs`);
      }
      await rm(path, { force: true });
      continue;
    }
    await sleep(LOCK_POLL_MS, signal);
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, LOCK_HEARTBEAT_MS);
  heartbeat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(heartbeat);
    await rm(path, { force: true });
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}
