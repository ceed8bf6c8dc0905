// The error hierarchy of qkv. Every error that qkv throws on purpose is a QkvError with a stable `code`, so callers
// (and code that receives an error passed back from a worker as a plain object) can branch on the code, not on text.
//
//   QkvError            E_QKV        base class, never thrown directly
//   ├─ ShapeError       E_SHAPE      a tensor has the wrong rank or sizes, or shapes do not broadcast
//   ├─ ArgumentError    E_ARGUMENT   an option or scalar argument is out of its domain
//   ├─ FormatError      E_FORMAT     bytes (safetensors, JSON) do not follow their format
//   ├─ StateDictError   E_STATE_DICT a state dict has missing, unknown or wrongly shaped entries
//   ├─ WorkerError      E_WORKER     a pool thread died during a call; that call's results are lost
//   ├─ ModelError       E_MODEL      a model folder cannot be run as asked: an unsupported config value, a missing
//   │                                or misshapen tensor (it names the file and the key)
//   └─ NetworkError     E_NETWORK    a download failed, or the network was needed while offline

export type QkvErrorCode =
  | 'E_QKV'
  | 'E_SHAPE'
  | 'E_ARGUMENT'
  | 'E_FORMAT'
  | 'E_STATE_DICT'
  | 'E_WORKER'
  | 'E_MODEL'
  | 'E_NETWORK';

export class QkvError extends Error {
  readonly code: QkvErrorCode = 'E_QKV';
  override name = 'QkvError';
}

export class ShapeError extends QkvError {
  override readonly code = 'E_SHAPE';
  override name = 'ShapeError';
}

export class ArgumentError extends QkvError {
  override readonly code = 'E_ARGUMENT';
  override name = 'ArgumentError';
}

export class FormatError extends QkvError {
  override readonly code = 'E_FORMAT';
  override name = 'FormatError';
}

export class StateDictError extends QkvError {
  override readonly code = 'E_STATE_DICT';
  override name = 'StateDictError';
  /** Every problem found, one line each, so a caller can show them all at once. */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[]) {
    super(message);
    this.problems = problems;
  }
}

export class WorkerError extends QkvError {
  override readonly code = 'E_WORKER';
  override name = 'WorkerError';
}

export class ModelError extends QkvError {
  override readonly code = 'E_MODEL';
  override name = 'ModelError';
  /** The file of the model folder at fault (config.json, model.safetensors, ...), when one is. */
  readonly file: string | undefined;
  /** The config field or tensor name at fault, when one is. */
  readonly key: string | undefined;
  constructor(message: string, where: { file?: string; key?: string } = {}) {
    super(message);
    this.file = where.file;
    this.key = where.key;
  }
}

export class NetworkError extends QkvError {
  override readonly code = 'E_NETWORK';
  override name = 'NetworkError';
}

const codes: ReadonlySet<string> = new Set<QkvErrorCode>([
  'E_QKV',
  'E_SHAPE',
  'E_ARGUMENT',
  'E_FORMAT',
  'E_STATE_DICT',
  'E_WORKER',
  'E_MODEL',
  'E_NETWORK',
]);

/**
 * True for any qkv error, including one that crossed a worker boundary as a plain `{ name, message, code }` object.
 * With `code`, true only for errors of that code.
 * @example if (isQkvError(e, 'E_SHAPE')) console.error(e.message)
 */
export function isQkvError(value: unknown, code?: QkvErrorCode): value is QkvError {
  if (typeof value !== 'object' || value === null) return false;
  const c = (value as { code?: unknown }).code;
  if (typeof c !== 'string' || !codes.has(c)) return false;
  if (typeof (value as { message?: unknown }).message !== 'string') return false;
  return code === undefined || c === code;
}
