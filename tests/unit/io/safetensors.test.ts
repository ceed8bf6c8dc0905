// Tests of safetensors reading and writing. Test files are built by hand here (header length, JSON, little-endian
// bytes), never by the writer under test, and expected float32 values come from known bit patterns.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ArgumentError, FormatError, Tensor, isQkvError } from '../../../src/index.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../../../src/index.js';
import { assertBitwiseEqual } from '../../tolerances.js';

// ---- hand-built files ----------------------------------------------------------------------------------------------

/** A safetensors file: u64 header length, the header text (JSON plus `pad` spaces), then `data`. */
function file(header: unknown, data: ArrayLike<number> = [], pad = 0): Uint8Array {
  const json = typeof header === 'string' ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(json + ' '.repeat(pad));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** 8 bytes of header length (low and high u32 words) followed by `rest`. */
function rawLength(low: number, high: number, rest: ArrayLike<number> = []): Uint8Array {
  const out = new Uint8Array(8 + rest.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, low, true);
  view.setUint32(4, high, true);
  out.set(rest, 8);
  return out;
}

function u16le(...values: number[]): Uint8Array {
  const out = new Uint8Array(2 * values.length);
  values.forEach((v, i) => new DataView(out.buffer).setUint16(2 * i, v, true));
  return out;
}

function f32le(...values: number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  values.forEach((v, i) => new DataView(out.buffer).setFloat32(4 * i, v, true));
  return out;
}

function f64le(...values: number[]): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  values.forEach((v, i) => new DataView(out.buffer).setFloat64(8 * i, v, true));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The header a writer produced, parsed independently of the reader. */
function headerOf(bytes: Uint8Array): { length: number; text: string; json: Record<string, any> } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(view.getUint32(4, true), 0, 'high word of the header length');
  const length = view.getUint32(0, true);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + length));
  return { length, text, json: JSON.parse(text) };
}

function assertTensorsEqual(actual: Record<string, Tensor>, expected: Record<string, Tensor>): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const name of Object.keys(expected)) {
    assert.ok(actual[name] instanceof Tensor, `${name} is a Tensor`);
    assert.deepEqual([...actual[name].shape], [...expected[name].shape], `shape of ${name}`);
    assertBitwiseEqual(actual[name].data, expected[name].data, `data of ${name}`);
  }
}

const F32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

// ---- round trip ----------------------------------------------------------------------------------------------------

describe('writeSafetensors then readSafetensors', () => {
  const special = new Float32Array([NaN, -0, 0, Infinity, -Infinity, 1e-45, -3.4028234663852886e38, 0.1]);
  const payloadNaN = new Float32Array(2);
  new Uint32Array(payloadNaN.buffer).set([0x7fc00001, 0xffa00000]); // a quiet NaN with payload, a negative signalling one
  const record: Record<string, Tensor> = {
    'layers.0.attn.q_proj.weight': Tensor.randn([4, 6], 1), // [D, D]
    bias: Tensor.randn([6], 2),
    scale: Tensor.from(3.5), // []
    empty: Tensor.zeros([0, 4]),
    empty2: Tensor.zeros([3, 0, 2]),
    special: new Tensor(special, [2, 4]),
    nan: new Tensor(payloadNaN, [2]),
    ['__proto__']: Tensor.from([7]), // an own property, not the prototype
  };
  const metadata = { format: 'pt', 'ünï': 'côde ✓', tricky: '{"a": [1, 2]}\\"', empty: '' };

  test('gives bitwise-equal data and the same shapes and metadata', () => {
    const bytes = writeSafetensors(record, metadata);
    const back = readSafetensors(bytes);
    assertTensorsEqual(back, record);
    assert.deepEqual(readSafetensorsMetadata(bytes), metadata);
    // NaN payloads survive: compare the bit patterns, not the numbers.
    assert.deepEqual([...new Uint32Array(back.nan.data.buffer)], [0x7fc00001, 0xffa00000]);
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.ok(Object.hasOwn(back, '__proto__'));
  });

  test('an empty record and no metadata', () => {
    const bytes = writeSafetensors({});
    assert.deepEqual(readSafetensors(bytes), {});
    assert.deepEqual(readSafetensorsMetadata(bytes), {});
    assert.equal(headerOf(bytes).json.__metadata__, undefined);
  });

  test('writes F32 with names sorted, offsets contiguous and the data 8-byte aligned', () => {
    const bytes = writeSafetensors({ b: Tensor.from([1, 2]), a: Tensor.from([[-1.5]]), c: Tensor.zeros([0]) }, { k: 'v' });
    const { length, text, json } = headerOf(bytes);
    assert.equal((8 + length) % 8, 0);
    assert.match(text, /^\{"__metadata__":\{"k":"v"\},"a":.*\} *$/);
    assert.deepEqual(Object.keys(json), ['__metadata__', 'a', 'b', 'c']);
    assert.deepEqual(json.a, { dtype: 'F32', shape: [1, 1], data_offsets: [0, 4] });
    assert.deepEqual(json.b, { dtype: 'F32', shape: [2], data_offsets: [4, 12] });
    assert.deepEqual(json.c, { dtype: 'F32', shape: [0], data_offsets: [12, 12] });
    assert.equal(bytes.length, 8 + length + 12);
    assert.deepEqual([...bytes.subarray(8 + length)], [...f32le(-1.5, 1, 2)]); // little-endian float32
  });

  test('sorts names by code unit, also names that look like integers', () => {
    const bytes = writeSafetensors({ '10': Tensor.from([1]), '2': Tensor.from([2]), B: Tensor.from([3]), a: Tensor.from([4]) });
    const names = [...headerOf(bytes).text.matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]);
    assert.deepEqual(names, ['10', '2', 'B', 'a']);
    assert.deepEqual(headerOf(bytes).json['2'].data_offsets, [4, 8]);
  });

  test('the same record in another insertion order gives the same bytes', () => {
    const a = Tensor.randn([3, 2], 5);
    const b = Tensor.randn([2], 6);
    assert.deepEqual(writeSafetensors({ a, b }, { x: '1', y: '2' }), writeSafetensors({ b, a }, { y: '2', x: '1' }));
  });

  test('a tensor view into a larger buffer writes only its own elements', () => {
    const big = new Float32Array([9, 1, 2, 3, 9]);
    const t = new Tensor(big.subarray(1, 4), [3]);
    assertBitwiseEqual(readSafetensors(writeSafetensors({ t })).t.data, [1, 2, 3]);
  });
});

// ---- dtypes --------------------------------------------------------------------------------------------------------

describe('readSafetensors dtypes', () => {
  test('F16 exactly, including subnormals, ±Infinity, NaN and -0', () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xbc00, -1],
      [0xc000, -2],
      [0x3555, 0.333251953125],
      [0x7bff, 65504], // the largest finite half
      [0x0400, 2 ** -14], // the smallest normal
      [0x03ff, 1023 * 2 ** -24], // the largest subnormal
      [0x0001, 2 ** -24], // the smallest subnormal
      [0x8001, -(2 ** -24)],
      [0x0000, 0],
      [0x8000, -0],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x7e00, NaN],
    ];
    const bytes = file({ h: { dtype: 'F16', shape: [2, 7], data_offsets: [0, 28] } }, u16le(...cases.map((c) => c[0])));
    const t = readSafetensors(bytes).h;
    assert.deepEqual([...t.shape], [2, 7]);
    assertBitwiseEqual(t.data, cases.map((c) => c[1]));
  });

  test('BF16 exactly (the top 16 bits of a float32)', () => {
    const cases: [number, number][] = [
      [0x3f80, 1],
      [0xc040, -3],
      [0x4049, 3.140625],
      [0x7f7f, 3.3895313892515355e38], // the largest finite bfloat16
      [0x0001, 2 ** -133], // the smallest subnormal
      [0x8000, -0],
      [0x7f80, Infinity],
      [0xff80, -Infinity],
      [0x7fc0, NaN],
    ];
    const bytes = file({ b: { dtype: 'BF16', shape: [9], data_offsets: [0, 18] } }, u16le(...cases.map((c) => c[0])));
    assertBitwiseEqual(readSafetensors(bytes).b.data, cases.map((c) => c[1]));
  });

  test('F64 rounded to the nearest float32, ties to even', () => {
    const cases: [number, number][] = [
      [0.1, 0.10000000149011612],
      [1 + 2 ** -24, 1], // halfway between 1 and 1 + 2^-23: the even one is 1
      [1 + 3 * 2 ** -24, 1 + 2 ** -22], // halfway: the even one is 1 + 2^-22
      [1 + 2 ** -24 + 2 ** -40, 1 + 2 ** -23], // just above halfway
      [2 ** -149, 2 ** -149], // the smallest float32 subnormal, exact
      [2 ** -150, 0], // halfway to 0
      [1.5 * 2 ** -149, 2 ** -148],
      [1e300, Infinity],
      [-1e300, -Infinity],
      [-1e-50, -0],
      [NaN, NaN],
      [-Infinity, -Infinity],
    ];
    const bytes = file({ d: { dtype: 'F64', shape: [3, 4], data_offsets: [0, 96] } }, f64le(...cases.map((c) => c[0])));
    assertBitwiseEqual(readSafetensors(bytes).d.data, cases.map((c) => c[1]));
  });

  test('mixed dtypes in one file, with a scalar and a zero-size tensor', () => {
    const header = {
      __metadata__: { format: 'pt' },
      z: { dtype: 'F16', shape: [0, 3], data_offsets: [0, 0] },
      a: F32([2], 0, 8),
      s: { dtype: 'F64', shape: [], data_offsets: [8, 16] },
      h: { dtype: 'BF16', shape: [1, 1], data_offsets: [16, 18] },
    };
    const back = readSafetensors(file(header, concat(f32le(2.5, -4), f64le(-0.75), u16le(0x4000))));
    assert.deepEqual(Object.keys(back).sort(), ['a', 'h', 's', 'z']);
    assert.deepEqual([...back.z.shape], [0, 3]);
    assert.deepEqual([...back.s.shape], []);
    assertBitwiseEqual(back.a.data, [2.5, -4]);
    assertBitwiseEqual(back.s.data, [-0.75]);
    assertBitwiseEqual(back.h.data, [2]);
  });
});

// ---- alignment -----------------------------------------------------------------------------------------------------

describe('readSafetensors alignment', () => {
  const header = { d: { dtype: 'F64', shape: [2], data_offsets: [0, 16] }, f: F32([3], 16, 28) };
  const data = concat(f64le(Math.PI, -1e-310), f32le(1.5, -2.25, 7));
  const expected = { d: [Math.fround(Math.PI), -0], f: [1.5, -2.25, 7] };

  test('a header length of 5 mod 8 leaves the data unaligned and is read correctly', () => {
    const json = JSON.stringify(header);
    const pad = (5 - (json.length % 8) + 8) % 8;
    const bytes = file(json, data, pad);
    const length = new DataView(bytes.buffer).getUint32(0, true);
    assert.equal(length % 8, 5);
    assert.notEqual((8 + length) % 4, 0); // the data section is not even 4-byte aligned
    const back = readSafetensors(bytes);
    assertBitwiseEqual(back.d.data, expected.d);
    assertBitwiseEqual(back.f.data, expected.f);
  });

  test('every header padding 0..7 gives the same tensors', () => {
    for (let pad = 0; pad < 8; pad++) {
      const back = readSafetensors(file(header, data, pad));
      assertBitwiseEqual(back.d.data, expected.d, `d, pad ${pad}`);
      assertBitwiseEqual(back.f.data, expected.f, `f, pad ${pad}`);
    }
  });

  test('a Uint8Array view at byteOffset 3 into a larger ArrayBuffer', () => {
    const bytes = file({ __metadata__: { k: 'v' }, ...header }, data, 1);
    const buffer = new ArrayBuffer(bytes.length + 10);
    new Uint8Array(buffer).fill(0xff); // junk around the view must never be read
    const view = new Uint8Array(buffer, 3, bytes.length);
    view.set(bytes);
    const back = readSafetensors(view);
    assertBitwiseEqual(back.d.data, expected.d);
    assertBitwiseEqual(back.f.data, expected.f);
    assert.deepEqual(readSafetensorsMetadata(view), { k: 'v' });
  });

  test('a written file read from a view at byteOffset 3', () => {
    const record = { w: Tensor.randn([5, 3], 9), s: Tensor.from(-2) };
    const bytes = writeSafetensors(record);
    const buffer = new ArrayBuffer(bytes.length + 7);
    const view = new Uint8Array(buffer, 3, bytes.length);
    view.set(bytes);
    assertTensorsEqual(readSafetensors(view), record);
  });
});

// ---- malformed files -----------------------------------------------------------------------------------------------

const good = { w: F32([2], 0, 8) };
const goodData = f32le(1, 2);

/** Absolute offset of the data section of `file(header, data, pad)`. */
function dataStartOf(header: unknown, pad = 0): number {
  return 8 + new TextEncoder().encode(JSON.stringify(header)).length + pad;
}

interface Bad {
  what: string;
  bytes: Uint8Array;
  /** Every pattern must match the message. */
  message: RegExp[];
}

function entry(value: unknown): Record<string, unknown> {
  return { w: value };
}

const ds = (header: unknown) => dataStartOf(header);

const badFiles: Bad[] = [
  { what: 'an empty file', bytes: new Uint8Array(0), message: [/the file is 0 bytes/, /byte 0/] },
  { what: 'a file shorter than 8 bytes', bytes: new Uint8Array(5), message: [/the file is 5 bytes/, /byte 0/] },
  {
    what: 'a header length beyond the file',
    bytes: rawLength(1000, 0, new TextEncoder().encode('{}')),
    message: [/1000 bytes/, /byte 1008/, /10-byte file/, /truncated/],
  },
  {
    what: 'a header length over 100 MB (rejected before allocating or decoding)',
    bytes: rawLength(100_000_001, 0, new TextEncoder().encode('{}')),
    message: [/100000001 bytes/, /100000000-byte limit/],
  },
  { what: 'a header length whose high word is nonzero', bytes: rawLength(2, 1, new TextEncoder().encode('{}')), message: [/2\^32/, /high word 1/] },
  { what: 'a header that is not UTF-8', bytes: rawLength(2, 0, [0xff, 0xfe]), message: [/bytes 8\.\.10/, /UTF-8/] },
  { what: 'an empty header', bytes: file(''), message: [/bytes 8\.\.8/, /not valid JSON/] },
  { what: 'invalid JSON', bytes: file('{"w": '), message: [/bytes 8\.\.14/, /not valid JSON/, /safetensors file\?/] },
  { what: 'a header that is an array', bytes: file([1, 2]), message: [/an array of length 2, not an object/] },
  { what: 'a header that is null', bytes: file(null), message: [/JSON null, not an object/] },
  { what: 'a header that is a string', bytes: file('"w"'), message: [/not an object/] },
  { what: 'an entry that is a number', bytes: file(entry(5)), message: [/tensor "w"/, /must be an object/, /number 5/] },
  { what: 'an entry that is an array', bytes: file(entry([])), message: [/tensor "w"/, /must be an object/] },
  { what: 'an entry that is null', bytes: file(entry(null)), message: [/tensor "w"/, /must be an object/] },
  { what: 'an entry without dtype', bytes: file(entry({ shape: [2], data_offsets: [0, 8] }), goodData), message: [/tensor "w"/, /no "dtype"/] },
  { what: 'an entry without shape', bytes: file(entry({ dtype: 'F32', data_offsets: [0, 8] }), goodData), message: [/tensor "w"/, /no "shape"/] },
  { what: 'an entry without data_offsets', bytes: file(entry({ dtype: 'F32', shape: [2] }), goodData), message: [/tensor "w"/, /no "data_offsets"/] },
  { what: 'a dtype that is not a string', bytes: file(entry({ dtype: 4, shape: [2], data_offsets: [0, 8] }), goodData), message: [/tensor "w"/, /dtype must be a string/] },
  {
    what: 'an unsupported dtype I64',
    bytes: file(entry({ dtype: 'I64', shape: [1], data_offsets: [0, 8] }), goodData),
    message: [/tensor "w"/, /dtype "I64" is not supported/, /F32, F16, BF16, F64/],
  },
  { what: 'an unknown dtype', bytes: file(entry({ dtype: 'constructor', shape: [2], data_offsets: [0, 8] }), goodData), message: [/dtype "constructor" is not supported/] },
  ...[2, '2', null, [-1], [1.5], ['2'], [1e300], [[2]]].map((shape) => ({
    what: `shape ${JSON.stringify(shape)}`,
    bytes: file(entry({ dtype: 'F32', shape, data_offsets: [0, 8] }), goodData),
    message: [/tensor "w"/, /shape must be an array of non-negative integers/],
  })),
  {
    what: 'a shape that does not match the byte size',
    bytes: file(entry(F32([2, 2], 0, 8)), goodData),
    message: [/tensor "w"/, /span 8 bytes/, /dtype F32 and shape \[2, 2\] need 16/, new RegExp(`absolute bytes ${ds(entry(F32([2, 2], 0, 8)))}\\.\\.`)],
  },
  {
    what: 'an F16 shape that does not match the byte size',
    bytes: file(entry({ dtype: 'F16', shape: [3], data_offsets: [0, 8] }), goodData),
    message: [/tensor "w"/, /need 6/],
  },
  ...[[0, 7.5], [0], [0, 8, 8], '0,8', null, [-8, 0], [0, '8'], [0, 2 ** 60]].map((offsets) => ({
    what: `data_offsets ${JSON.stringify(offsets)}`,
    bytes: file(entry({ dtype: 'F32', shape: [2], data_offsets: offsets }), goodData),
    message: [/tensor "w"/, /data_offsets must be two non-negative integers/],
  })),
  {
    what: 'reversed data_offsets',
    bytes: file(entry(F32([2], 8, 0)), goodData),
    message: [/tensor "w"/, /\[8, 0\] are reversed/, new RegExp(`absolute bytes ${ds(entry(F32([2], 8, 0))) + 8}\\.\\.`)],
  },
  {
    what: 'data_offsets beyond the data section',
    bytes: file(entry(F32([2], 100, 108)), goodData),
    message: [/tensor "w"/, new RegExp(`absolute byte ${ds(entry(F32([2], 100, 108))) + 108}, beyond the end`), /truncated/],
  },
  {
    what: 'overlapping tensors',
    bytes: file({ a: F32([2], 0, 8), b: F32([2], 4, 12) }, f32le(1, 2, 3)),
    message: [/tensor "b" at bytes \d+\.\.\d+ overlaps tensor "a"/, new RegExp(`"b" at bytes ${ds({ a: F32([2], 0, 8), b: F32([2], 4, 12) }) + 4}\\.\\.`)],
  },
  {
    what: 'a zero-size tensor inside another',
    bytes: file({ a: F32([2], 0, 8), z: F32([0], 4, 4) }, f32le(1, 2)),
    message: [/tensor "z" .* overlaps tensor "a"/],
  },
  {
    what: 'two tensors at the same offsets',
    bytes: file({ a: F32([2], 0, 8), b: F32([2], 0, 8) }, f32le(1, 2)),
    message: [/overlaps/],
  },
  {
    what: 'a gap between tensors',
    bytes: file({ a: F32([1], 0, 4), b: F32([1], 8, 12) }, f32le(1, 2, 3)),
    message: [new RegExp(`gap at bytes ${ds({ a: F32([1], 0, 4), b: F32([1], 8, 12) }) + 4}\\.\\.${ds({ a: F32([1], 0, 4), b: F32([1], 8, 12) }) + 8}`), /before tensor "b"/],
  },
  {
    what: 'a gap at the start of the data section',
    bytes: file(entry(F32([1], 4, 8)), goodData),
    message: [/gap at bytes/, /before tensor "w"/],
  },
  {
    what: 'unused bytes after the last tensor',
    bytes: file(entry(F32([1], 0, 4)), goodData),
    message: [/4 unused bytes/, /after tensor "w"/],
  },
  { what: 'data but no tensors', bytes: file({}, goodData), message: [/8 unused bytes/] },
  {
    what: 'truncated data',
    bytes: file({ a: F32([1], 0, 4), b: F32([2], 4, 12) }, f32le(1, 2, 3)).subarray(0, -3),
    message: [/tensor "b"/, /beyond the end of the/, /truncated/],
  },
  {
    what: 'a non-string metadata value',
    bytes: file({ __metadata__: { format: 'pt', n: 1 }, ...good }, goodData),
    message: [/"__metadata__" value for key "n" must be a string; got 1/],
  },
  { what: 'metadata that is an array', bytes: file({ __metadata__: ['pt'], ...good }, goodData), message: [/"__metadata__" must be an object/] },
  { what: 'metadata that is a string', bytes: file({ __metadata__: 'pt', ...good }, goodData), message: [/"__metadata__" must be an object/] },
  ...[
    ['a duplicate tensor name', '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}, "w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 'w'],
    ['a duplicate tensor name spelled with an escape', '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\\u0077":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 'w'],
    ['a duplicate field in an entry', '{"w":{"dtype":"F32","shape":[2],"dtype":"F16","data_offsets":[0,8]}}', 'dtype'],
    ['a duplicate metadata key after a non-ASCII key', '{"__metadata__":{"é":"a","é":"b"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 'é'],
  ].map(([what, json, key]) => {
    // The absolute byte offset of the second occurrence: 8 + UTF-8 length of the JSON before it.
    const second = json.lastIndexOf(json.includes('\\u0077') ? '"\\u0077"' : `"${key}"`);
    const at = 8 + new TextEncoder().encode(json.slice(0, second)).length;
    return { what, bytes: file(json, goodData), message: [new RegExp(`repeats the key "${key}" at byte ${at}\\b`)] };
  }),
];

describe('readSafetensors rejects malformed files with a FormatError', () => {
  for (const bad of badFiles) {
    test(bad.what, () => {
      assert.throws(
        () => readSafetensors(bad.bytes),
        (e: unknown) => {
          assert.ok(e instanceof FormatError, `expected a FormatError; got ${String(e)}`);
          assert.ok(isQkvError(e, 'E_FORMAT'));
          assert.match(e.message, /^readSafetensors: /);
          for (const pattern of bad.message) assert.match(e.message, pattern);
          assert.match(e.message, /; [^;]+$/, 'ends with a hint');
          return true;
        },
      );
      // The metadata reader validates the same header and names itself.
      assert.throws(() => readSafetensorsMetadata(bad.bytes), (e: unknown) => e instanceof FormatError && /^readSafetensorsMetadata: /.test(e.message));
    });
  }

  test('the well-formed files these cases are built from are accepted', () => {
    assertBitwiseEqual(readSafetensors(file(good, goodData)).w.data, [1, 2]);
    assertBitwiseEqual(readSafetensors(file({ a: F32([1], 0, 4), b: F32([2], 4, 12) }, f32le(1, 2, 3))).b.data, [2, 3]);
    assert.deepEqual(readSafetensorsMetadata(file({ __metadata__: null, ...good }, goodData)), {}); // null means none
    assert.deepEqual(readSafetensorsMetadata(file({ __metadata__: { 'é': 'a', e: 'b' }, ...good }, goodData)), { 'é': 'a', e: 'b' });
    // The same key in different objects is not a duplicate.
    assert.equal(Object.keys(readSafetensors(file({ a: F32([1], 0, 4), b: F32([1], 4, 8) }, goodData))).length, 2);
  });

  test('a header of exactly 100 MB is allowed by the length check (and then fails as truncated)', () => {
    assert.throws(() => readSafetensors(rawLength(100_000_000, 0, [])), /header would end at byte 100000008, beyond the end/);
  });

  test('a non-Uint8Array argument is an ArgumentError', () => {
    for (const value of [new ArrayBuffer(8), [0, 0, 0, 0, 0, 0, 0, 0], 'abc', null]) {
      assert.throws(() => readSafetensors(value as unknown as Uint8Array), (e: unknown) => e instanceof ArgumentError && /^readSafetensors: bytes must be a Uint8Array/.test(e.message));
    }
  });
});

// ---- robustness: any bytes give tensors or a FormatError -----------------------------------------------------------

describe('readSafetensors never fails with anything but a FormatError', () => {
  const valid = file(
    { __metadata__: { a: 'b' }, x: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, y: F32([1, 2], 4, 12) },
    concat(u16le(0x3c00, 0x7c00), f32le(1, 2)),
  );

  function readsOrFormatError(bytes: Uint8Array): boolean {
    try {
      readSafetensors(bytes);
      return true;
    } catch (e) {
      return e instanceof FormatError && e.message.startsWith('readSafetensors: ');
    }
  }

  test('after random byte edits and truncation of a valid file', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(valid.length),
        (edits, length) => {
          const bytes = valid.slice(0, length);
          for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
          return readsOrFormatError(bytes);
        },
      ),
      { numRuns: 2000, seed: 7 },
    );
  });

  test('with any JSON value as the header', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.uint8Array({ maxLength: 32 }), (header, data) => readsOrFormatError(file(header, data))),
      { numRuns: 500, seed: 11 },
    );
  });

  test('with random entries whose fields take awkward values', () => {
    const awkward = fc.oneof(fc.jsonValue(), fc.array(fc.integer({ min: -2, max: 20 }), { maxLength: 3 }), fc.constantFrom('F32', 'F16', 'BF16', 'F64', 'I64'));
    const anEntry = fc.record({ dtype: awkward, shape: awkward, data_offsets: awkward }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 3 }), anEntry, { maxKeys: 3 }), fc.uint8Array({ maxLength: 40 }), (header, data) =>
        readsOrFormatError(file(header, data)),
      ),
      { numRuns: 1000, seed: 13 },
    );
  });
});

// ---- writer validation ---------------------------------------------------------------------------------------------

describe('writeSafetensors rejects bad input with an ArgumentError', () => {
  const t = Tensor.from([1]);
  const cases: [string, () => unknown, RegExp][] = [
    ['null record', () => writeSafetensors(null as never), /record must be an object mapping tensor names to Tensors; got null/],
    ['a number', () => writeSafetensors(5 as never), /record must be .*; got number 5/],
    ['a Tensor', () => writeSafetensors(t as never), /record must be .*; got a tensor of shape \[1\]/],
    ['an array', () => writeSafetensors([t] as never), /record must be .*; got an array of length 1/],
    ['a Map', () => writeSafetensors(new Map([['w', t]]) as never), /record must be .*Object\.fromEntries/],
    ['a value that is not a Tensor', () => writeSafetensors({ w: t, v: [1, 2] } as never), /record\["v"\] must be a Tensor; got an array of length 2/],
    ['a Float32Array value', () => writeSafetensors({ w: new Float32Array(2) } as never), /record\["w"\] must be a Tensor; got a Float32Array/],
    ['a symbol key', () => writeSafetensors({ [Symbol('s')]: t } as never), /record keys must be strings/],
    ['the reserved name', () => writeSafetensors({ __metadata__: t }), /"__metadata__"; the format reserves it/],
    ['metadata that is a string', () => writeSafetensors({ w: t }, 'pt' as never), /metadata must be an object mapping strings to strings; got string pt/],
    ['metadata that is a Map', () => writeSafetensors({ w: t }, new Map() as never), /metadata must be/],
    ['a non-string metadata value', () => writeSafetensors({ w: t }, { format: 'pt', n: 1 } as never), /metadata\["n"\] must be a string; got number 1/],
    ['a header over 100 MB', () => writeSafetensors({ w: t }, { big: 'x'.repeat(100_000_000) }), /header would be \d+ bytes, over the 100000000-byte limit/],
  ];
  for (const [what, call, pattern] of cases) {
    test(what, () => {
      assert.throws(call, (e: unknown) => {
        assert.ok(e instanceof ArgumentError, `expected an ArgumentError; got ${String(e)}`);
        assert.match(e.message, /^writeSafetensors: /);
        assert.match(e.message, pattern);
        return true;
      });
    });
  }

  test('a null-prototype record is accepted', () => {
    const record = Object.assign(Object.create(null) as Record<string, Tensor>, { w: t });
    assertBitwiseEqual(readSafetensors(writeSafetensors(record)).w.data, [1]);
  });
});
