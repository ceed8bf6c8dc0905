// Reading and writing tensors in the safetensors format of Hugging Face (github.com/huggingface/safetensors), so that
// weights move between qkv and PyTorch without pickle. The layout of a file:
//
//   bytes 0..8         N, the header length, an unsigned 64-bit little-endian integer
//   bytes 8..8+N       UTF-8 JSON: { name: { dtype, shape, data_offsets: [begin, end] }, ..., "__metadata__"?: {..} }
//   bytes 8+N..end     the data section; each tensor's bytes lie at [begin, end) relative to its start, row-major,
//                      little-endian
//
// The reader follows the validation of the reference implementation: the header is at most 100 MB, every tensor's
// byte size matches its dtype and shape, and the tensors cover the data section exactly, with no gap and no overlap.
// It also rejects duplicate keys in the header JSON (JSON.parse would silently keep the last one). F32, F16, BF16 and
// F64 are read, all as float32 (F16 and BF16 exactly, F64 rounded to nearest). The writer writes F32, F16 or BF16.
//
// Model folders are read piecewise (src/models/weights.ts): `parseSafetensorsHeader` validates the header from the
// file's first bytes and its length, listing tensors of every dtype the format defines (a checkpoint may carry
// integer buffers that a model ignores), and `decodeSafetensorsTensor` decodes one float tensor from its own bytes, so
// a large checkpoint is never held twice in memory.
// Every read goes through a DataView, so neither the header length nor the view's byteOffset need be aligned.

import { ArgumentError, FormatError } from '../core/errors.js';
import { formatShape, sizeOf } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';

/** The free-form string → string map a safetensors file may carry under `"__metadata__"`. */
export type SafetensorsMetadata = Record<string, string>;

/** The reference implementation's limit on the header, checked before anything is allocated or decoded. */
const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

/** Bytes per element of the dtypes the reader decodes. */
const ITEM_SIZE: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** Bytes per element of every dtype the format defines; a header may list them all, only floats are decoded. */
const ANY_ITEM_SIZE: Readonly<Record<string, number>> = {
  ...ITEM_SIZE,
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  I16: 2,
  U32: 4,
  I32: 4,
  U64: 8,
  I64: 8,
};

/** The float dtypes the writer can store. */
export type SafetensorsFloatDType = 'F32' | 'F16' | 'BF16';

const HINT_NOT_SAFETENSORS = 'is this a safetensors file?';
const HINT_CORRUPT = 'the file is corrupt or was written by a faulty writer';

/** Throws the FormatError of one reader function; the message ends with a short hint. */
type Fail = (message: string, hint: string) => never;

/** One tensor of a safetensors header. */
export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range relative to the start of the data section. */
  begin: number;
  end: number;
}

/** A validated safetensors header. */
export interface ParsedHeader {
  entries: TensorEntry[];
  metadata: SafetensorsMetadata;
  /** Absolute byte offset of the data section in the file. */
  dataStart: number;
}

/**
 * Reads every tensor of a safetensors file. F32, F16, BF16 and F64 tensors all come back as float32 Tensors (F16 and
 * BF16 exactly, F64 rounded to the nearest float32); the shapes are those of the file, including scalars [] and
 * zero-size tensors. The bytes may be any Uint8Array view, e.g. a Node Buffer from a pool.
 * @throws FormatError when the bytes do not follow the format; the message names the tensor and the absolute byte
 *   offset in the file, with a hint.
 * @throws ArgumentError when `bytes` is not a Uint8Array.
 * @example
 * const weights = readSafetensors(new Uint8Array(await readFile('model.safetensors')));
 * weights['attn.q_proj.weight'].shape // [D, D]
 */
export function readSafetensors(bytes: Uint8Array): Record<string, Tensor> {
  const fn = 'readSafetensors';
  const { entries, dataStart } = parseHeader(bytes, fn);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Object.fromEntries defines own properties, so even a tensor named "__proto__" comes back as an ordinary entry.
  return Object.fromEntries(entries.map((e) => [e.name, decode(view, dataStart + e.begin, e)]));
}

/**
 * The `"__metadata__"` map of a safetensors file (empty when the file has none). The whole header is validated as in
 * {@link readSafetensors}, but no tensor data is decoded.
 * @throws FormatError when the bytes do not follow the format.
 * @example
 * readSafetensorsMetadata(bytes) // { format: 'pt' }
 */
export function readSafetensorsMetadata(bytes: Uint8Array): SafetensorsMetadata {
  return parseHeader(bytes, 'readSafetensorsMetadata').metadata;
}

/**
 * Serialises tensors to safetensors bytes, all as F32 (or all as F16 or BF16 with `options.dtype`, rounding to
 * nearest, ties to even, as PyTorch's .half() and .bfloat16() do). Names are written in sorted order and the data in that order,
 * so the same record always gives the same bytes. The header is padded with spaces so the data section starts 8-byte
 * aligned, as the reference implementation does.
 * @param record a plain object mapping each tensor name to a Tensor
 * @param metadata optional string → string map stored under `"__metadata__"`
 * @throws ArgumentError when `record` is not a plain object of Tensors, a name is "__metadata__", or `metadata` is not
 *   a plain object of strings.
 * @example
 * const bytes = writeSafetensors({ 'q_proj.weight': Tensor.randn([64, 64], 1) }, { format: 'pt' });
 * await writeFile('model.safetensors', bytes);
 */
export function writeSafetensors(
  record: Record<string, Tensor>,
  metadata?: SafetensorsMetadata,
  options: { dtype?: SafetensorsFloatDType } = {},
): Uint8Array {
  const fn = 'writeSafetensors';
  if (typeof options !== 'object' || options === null) {
    throw new ArgumentError(`${fn}: options must be an object; got ${describe(options)}`);
  }
  const dtype = options.dtype ?? 'F32';
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
    throw new ArgumentError(`${fn}: options.dtype must be "F32", "F16" or "BF16"; got ${describe(options.dtype)}`);
  }
  const itemSize = ITEM_SIZE[dtype];
  const names = plainObjectKeys(record, fn, 'record', 'an object mapping tensor names to Tensors').sort();
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = plainObjectKeys(metadata, fn, 'metadata', 'an object mapping strings to strings').sort();
    for (const key of keys) {
      const value = metadata[key];
      if (typeof value !== 'string') {
        throw new ArgumentError(`${fn}: metadata[${JSON.stringify(key)}] must be a string; got ${describe(value)}`);
      }
    }
    // Built by hand, like the tensor entries below, so the order is exactly the sorted order.
    const map = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',');
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${map}}`);
  }
  const tensors: Tensor[] = [];
  let offset = 0;
  for (const name of names) {
    const tensor = record[name];
    if (name === METADATA_KEY) {
      throw new ArgumentError(`${fn}: record may not hold a tensor named "${METADATA_KEY}"; the format reserves it`);
    }
    if (!(tensor instanceof Tensor)) {
      throw new ArgumentError(`${fn}: record[${JSON.stringify(name)}] must be a Tensor; got ${describe(tensor)}`);
    }
    const end = offset + tensor.size * itemSize;
    const info = { dtype, shape: tensor.shape, data_offsets: [offset, end] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    tensors.push(tensor);
    offset = end;
  }

  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8; // so the data starts at 8 + headerLength, a multiple of 8
  if (headerLength > MAX_HEADER_BYTES) {
    throw new ArgumentError(
      `${fn}: the header would be ${headerLength} bytes, over the ${MAX_HEADER_BYTES}-byte limit that readers ` +
        'enforce; store less metadata or fewer tensors per file',
    );
  }
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength, true); // the high word of the u64 stays 0: headerLength < 2^32
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // spaces: JSON ignores trailing whitespace
  let pos = 8 + headerLength;
  for (const tensor of tensors) {
    // Copy the bits, not the numbers, so NaN payloads survive; setUint32 makes it little-endian on any host.
    const bits = new Uint32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.size);
    if (dtype === 'F32') for (let i = 0; i < bits.length; i++, pos += 4) view.setUint32(pos, bits[i], true);
    else if (dtype === 'BF16') for (let i = 0; i < bits.length; i++, pos += 2) view.setUint16(pos, bitsToBf16(bits[i]), true);
    else for (let i = 0; i < bits.length; i++, pos += 2) view.setUint16(pos, numberToHalf(tensor.data[i]), true);
  }
  return out;
}

/** The bfloat16 nearest to a float32 given by its bits (ties to even, as torch's .to(torch.bfloat16)); NaN stays NaN. */
function bitsToBf16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // NaN: keep it quiet and a NaN
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** The binary16 nearest to x (ties to even), with overflow to ±Infinity and gradual underflow, as torch's .half(). */
function numberToHalf(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (Number.isNaN(x)) return 0x7e00;
  if (a >= 65520) return sign | 0x7c00; // 65520 = the midpoint above the largest half, 65504: rounds to Infinity
  if (a < 2 ** -14) return sign | roundHalfEven(a / 2 ** -24); // subnormal (and zero): units of 2^-24
  const exponent = Math.floor(Math.log2(a));
  const e = a >= 2 ** (exponent + 1) ? exponent + 1 : a < 2 ** exponent ? exponent - 1 : exponent; // guard log2 rounding
  const mantissa = roundHalfEven((a / 2 ** e - 1) * 1024); // 0..1024; 1024 carries into the exponent
  return sign | ((((e + 15) << 10) + mantissa) & 0x7fff);
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const r = v - f;
  return r > 0.5 || (r === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/**
 * Validates a safetensors header: its length, JSON, entries, and how the entries tile the data of a file of
 * `fileLength` bytes. `bytes` must hold at least the file's first 8 + N bytes (the whole file, or just its header);
 * every dtype of the format is accepted, and {@link decodeSafetensorsTensor} decodes the float ones.
 * @throws FormatError naming `fn`, the tensor and the byte offset.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, fileLength: number, fn = 'parseSafetensorsHeader'): ParsedHeader {
  return parseHeader(bytes, fn, fileLength, ANY_ITEM_SIZE);
}

/**
 * The length 8 + N of a safetensors file's header, from its first 8 bytes, so that a reader knows how much to read.
 * @throws FormatError when the length is impossible for a file of `fileLength` bytes.
 */
export function safetensorsHeaderLength(first8: Uint8Array, fileLength: number, fn = 'safetensorsHeaderLength'): number {
  return readHeaderLength(first8, fileLength, (message, hint) => {
    throw new FormatError(`${fn}: ${message}; ${hint}`);
  });
}

/**
 * Decodes one float tensor (F32, F16, BF16 or F64) to float32 from `bytes`, which hold exactly its data (the file's
 * bytes entry.begin..entry.end relative to the data section). `out` receives the values when given.
 * @throws FormatError for another dtype or a byte count that does not fit the entry.
 */
export function decodeSafetensorsTensor(bytes: Uint8Array, entry: TensorEntry, fn = 'decodeSafetensorsTensor', out?: Float32Array): Float32Array {
  const what = `tensor ${JSON.stringify(entry.name)}`;
  if (!Object.hasOwn(ITEM_SIZE, entry.dtype)) {
    throw new FormatError(
      `${fn}: ${what} has dtype ${entry.dtype}; only ${Object.keys(ITEM_SIZE).join(', ')} are decoded as floats`,
    );
  }
  const size = sizeOf(entry.shape);
  if (bytes.byteLength !== size * ITEM_SIZE[entry.dtype] || (out !== undefined && out.length !== size)) {
    throw new FormatError(`${fn}: ${what} needs ${size * ITEM_SIZE[entry.dtype]} bytes; got ${bytes.byteLength}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeInto(view, 0, entry, out ?? new Float32Array(size));
}

function readHeaderLength(bytes: Uint8Array, fileLength: number, fail: Fail): number {
  if (fileLength < 8 || bytes.byteLength < 8) {
    fail(`the file is ${fileLength} bytes, too short for the 8-byte header length at byte 0`, HINT_NOT_SAFETENSORS);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  if (high !== 0) {
    fail(`the header length at byte 0 is at least 2^32 (high word ${high})`, HINT_NOT_SAFETENSORS);
  }
  if (low > MAX_HEADER_BYTES) {
    fail(`the header length at byte 0 is ${low} bytes, over the ${MAX_HEADER_BYTES}-byte limit`, HINT_NOT_SAFETENSORS);
  }
  const dataStart = 8 + low;
  if (dataStart > fileLength) {
    fail(
      `the header length at byte 0 is ${low} bytes, so the header would end at byte ${dataStart}, beyond the end of ` +
        `the ${fileLength}-byte file`,
      'the file is truncated or not a safetensors file',
    );
  }
  return dataStart;
}

/** Validates everything but the tensor values: header length, JSON, entries, and how the entries tile the data. */
function parseHeader(
  bytes: Uint8Array,
  fn: string,
  fileLength = bytes?.byteLength,
  itemSizes: Readonly<Record<string, number>> = ITEM_SIZE,
): ParsedHeader {
  if (!(bytes instanceof Uint8Array)) {
    throw new ArgumentError(
      `${fn}: bytes must be a Uint8Array (wrap an ArrayBuffer in new Uint8Array(...)); got ${describe(bytes)}`,
    );
  }
  const fail: Fail = (message, hint) => {
    throw new FormatError(`${fn}: ${message}; ${hint}`);
  };
  const dataStart = readHeaderLength(bytes, fileLength, fail);
  if (bytes.byteLength < dataStart) {
    throw new ArgumentError(`${fn}: bytes must hold the whole header (${dataStart} bytes); got ${bytes.byteLength}`);
  }

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    fail(`the header at bytes 8..${dataStart} is not valid UTF-8`, HINT_NOT_SAFETENSORS);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`the header at bytes 8..${dataStart} is not valid JSON (${(e as Error).message})`, HINT_NOT_SAFETENSORS);
  }
  if (!isRecord(header)) {
    fail(`the header at bytes 8..${dataStart} is JSON ${describe(header)}, not an object`, HINT_NOT_SAFETENSORS);
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    const at = 8 + new TextEncoder().encode(text.slice(0, duplicate.index)).length;
    fail(`the header repeats the key ${JSON.stringify(duplicate.key)} at byte ${at}`, HINT_CORRUPT);
  }

  let metadata: SafetensorsMetadata = {};
  const entries: TensorEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      metadata = checkMetadata(value, fail);
    } else {
      entries.push(checkEntry(name, value, dataStart, fileLength, fail, itemSizes));
    }
  }

  // The tensors must tile the data section: sorted by offset, each starts where the previous one ended, the first at
  // 0 and the last at the end of the file. Zero-size tensors sort before a tensor starting at the same offset.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: TensorEntry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor) {
      fail(
        `tensor ${JSON.stringify(e.name)} at bytes ${dataStart + e.begin}..${dataStart + e.end} overlaps tensor ` +
          `${JSON.stringify(previous!.name)} at bytes ${dataStart + previous!.begin}..${dataStart + previous!.end}`,
        HINT_CORRUPT,
      );
    }
    if (e.begin > cursor) {
      fail(
        `the data section has a gap at bytes ${dataStart + cursor}..${dataStart + e.begin}, before tensor ` +
          `${JSON.stringify(e.name)}; tensors must cover the data section without gaps`,
        HINT_CORRUPT,
      );
    }
    cursor = e.end;
    previous = e;
  }
  if (dataStart + cursor !== fileLength) {
    const after = previous ? `after tensor ${JSON.stringify(previous.name)}` : 'and no tensor uses them';
    fail(
      `the file has ${fileLength - dataStart - cursor} unused bytes at bytes ${dataStart + cursor}..${fileLength} ${after}`,
      'the file was padded or concatenated; the format forbids data no tensor uses',
    );
  }
  return { entries, metadata, dataStart };
}

/** One tensor's entry of the header, checked on its own (its place among the others is checked by the caller). */
function checkEntry(
  name: string,
  value: unknown,
  dataStart: number,
  fileLength: number,
  fail: Fail,
  itemSizes: Readonly<Record<string, number>>,
): TensorEntry {
  const what = `tensor ${JSON.stringify(name)}`;
  if (!isRecord(value)) {
    fail(`${what}: the header entry must be an object { dtype, shape, data_offsets }; got ${describe(value)}`,
      HINT_CORRUPT);
  }
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    if (!Object.hasOwn(value, field)) fail(`${what}: the header entry has no "${field}"`, HINT_CORRUPT);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string') fail(`${what}: dtype must be a string; got ${describe(dtype)}`, HINT_CORRUPT);
  if (!Object.hasOwn(itemSizes, dtype as string)) {
    fail(
      `${what}: dtype ${JSON.stringify(dtype)} is not supported (supported: ${Object.keys(itemSizes).join(', ')})`,
      'convert the tensor to float32 before saving, e.g. tensor.float() in PyTorch',
    );
  }
  if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
    fail(`${what}: shape must be an array of non-negative integers; got ${JSON.stringify(shape)}`, HINT_CORRUPT);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  ) {
    fail(`${what}: data_offsets must be two non-negative integers [begin, end]; got ${JSON.stringify(offsets)}`,
      HINT_CORRUPT);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) {
    fail(
      `${what}: data_offsets [${begin}, ${end}] are reversed (absolute bytes ${dataStart + begin}..${dataStart + end})`,
      HINT_CORRUPT,
    );
  }
  if (dataStart + end > fileLength) {
    fail(
      `${what}: data_offsets [${begin}, ${end}] end at absolute byte ${dataStart + end}, beyond the end of the ` +
        `${fileLength}-byte file (the data section is bytes ${dataStart}..${fileLength})`,
      'the file is truncated',
    );
  }
  const expected = sizeOf(shape as number[]) * itemSizes[dtype as string];
  if (end - begin !== expected) {
    fail(
      `${what}: data_offsets [${begin}, ${end}] span ${end - begin} bytes (absolute bytes ${dataStart + begin}..` +
        `${dataStart + end}) but dtype ${dtype} and shape ${formatShape(shape as number[])} need ${expected}`,
      HINT_CORRUPT,
    );
  }
  return { name, dtype: dtype as string, shape: shape as number[], begin, end };
}

function checkMetadata(value: unknown, fail: Fail): SafetensorsMetadata {
  // The reference reads "__metadata__" as an optional map, so null means none.
  if (value === null) return {};
  if (!isRecord(value)) fail(`"${METADATA_KEY}" must be an object of strings; got ${describe(value)}`, HINT_CORRUPT);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      fail(`"${METADATA_KEY}" value for key ${JSON.stringify(key)} must be a string; got ${JSON.stringify(v)}`,
        HINT_CORRUPT);
    }
  }
  return Object.fromEntries(Object.entries(value)) as SafetensorsMetadata;
}

/** The values of one tensor as float32; `start` is the absolute offset of its first byte in `view`. */
function decode(view: DataView, start: number, e: TensorEntry): Tensor {
  return new Tensor(decodeInto(view, start, e, new Float32Array(sizeOf(e.shape))), e.shape); // [...shape]
}

/** Writes the float32 values of a float tensor whose first byte is at `start` of `view` into `out`. */
function decodeInto(view: DataView, start: number, e: TensorEntry, out: Float32Array): Float32Array {
  const size = out.length;
  // Writing bit patterns through a Uint32Array view of `out` keeps every float32 exact (NaN payloads included).
  const bits = new Uint32Array(out.buffer);
  switch (e.dtype) {
    case 'F32':
      for (let i = 0; i < size; i++) bits[i] = view.getUint32(start + 4 * i, true);
      break;
    case 'BF16': // bfloat16 is the top half of a float32
      for (let i = 0; i < size; i++) bits[i] = view.getUint16(start + 2 * i, true) << 16;
      break;
    case 'F16':
      for (let i = 0; i < size; i++) out[i] = halfToNumber(view.getUint16(start + 2 * i, true));
      break;
    case 'F64': // storing into a Float32Array rounds to nearest, ties to even
      for (let i = 0; i < size; i++) out[i] = view.getFloat64(start + 8 * i, true);
      break;
  }
  return out;
}

/** IEEE 754 binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. Every value is exact in float32. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/**
 * The first key that an object in `json` repeats, with its character index. Assumes `json` is valid JSON (JSON.parse
 * accepted it), so a string followed by ':' is always a key. One pass, one Set per open object.
 */
function findDuplicateKey(json: string): { key: string; index: number } | null {
  const open: (Set<string> | null)[] = []; // a Set for each enclosing object, null for each enclosing array
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '{') open.push(new Set());
    else if (c === '[') open.push(null);
    else if (c === '}' || c === ']') open.pop();
    else if (c === '"') {
      const start = i;
      let escaped = false;
      for (i++; json[i] !== '"'; i++) {
        if (json[i] === '\\') {
          escaped = true;
          i++;
        }
      }
      let j = i + 1;
      while (json[j] === ' ' || json[j] === '\t' || json[j] === '\n' || json[j] === '\r') j++;
      const keys = open[open.length - 1];
      if (json[j] !== ':' || !keys) continue;
      const raw = json.slice(start + 1, i);
      const key = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
      if (keys.has(key)) return { key, index: start };
      keys.add(key);
    }
  }
  return null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The string keys of a plain object (not a Map, array, Tensor or other class instance), or an ArgumentError. */
function plainObjectKeys(value: unknown, fn: string, arg: string, expected: string): string[] {
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    const hint = value instanceof Map ? ' (convert a Map with Object.fromEntries)' : '';
    throw new ArgumentError(`${fn}: ${arg} must be ${expected}; got ${describe(value)}${hint}`);
  }
  if (Object.getOwnPropertySymbols(value).length > 0) {
    throw new ArgumentError(`${fn}: ${arg} keys must be strings; got a symbol key`);
  }
  return Object.keys(value as object);
}
