// The piecewise reader (header from a prefix, one tensor at a time, every dtype listed) and the F16 / BF16 writer.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Tensor, isQkvError, readSafetensors, writeSafetensors } from '../../../src/index.js';
import {
  decodeSafetensorsTensor,
  parseSafetensorsHeader,
  safetensorsHeaderLength,
} from '../../../src/io/safetensors.js';

/** A safetensors file with the given header entries and raw data. */
function file(header: object, data: Uint8Array): Uint8Array {
  const json = JSON.stringify(header);
  const padded = new TextEncoder().encode(json.padEnd(Math.ceil(json.length / 8) * 8));
  const out = new Uint8Array(8 + padded.length + data.length);
  new DataView(out.buffer).setUint32(0, padded.length, true);
  out.set(padded, 8);
  out.set(data, 8 + padded.length);
  return out;
}

describe('writeSafetensors dtypes', () => {
  test('every F16 bit pattern survives decode → encode', () => {
    const data = new Uint8Array(2 * 65536);
    const dv = new DataView(data.buffer);
    for (let h = 0; h < 65536; h++) dv.setUint16(2 * h, h, true);
    const x = readSafetensors(file({ x: { dtype: 'F16', shape: [65536], data_offsets: [0, data.length] } }, data)).x;
    const y = readSafetensors(writeSafetensors({ x }, undefined, { dtype: 'F16' })).x;
    for (let h = 0; h < 65536; h++) {
      const a = x.data[h];
      const b = y.data[h];
      assert.ok(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)), `half 0x${h.toString(16)}: ${a} → ${b}`);
    }
  });

  test('F16 rounds to nearest, ties to even, with overflow and subnormals', () => {
    const t = new Tensor(new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 65520, 2 ** -25, 3 * 2 ** -25, -0]), [7]);
    const back = Array.from(readSafetensors(writeSafetensors({ t }, undefined, { dtype: 'F16' })).t.data);
    assert.deepEqual(back, [1, 1 + 2 ** -9, 65504, Infinity, 0, 2 ** -23, -0]);
  });

  test('BF16 rounds to nearest, ties to even, and keeps NaN', () => {
    const t = new Tensor(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.14159, NaN]), [4]);
    const bytes = writeSafetensors({ t }, undefined, { dtype: 'BF16' });
    const back = Array.from(readSafetensors(bytes).t.data);
    assert.deepEqual(back.slice(0, 3), [1, 1 + 2 ** -6, 3.140625]);
    assert.ok(Number.isNaN(back[3]));
    assert.equal(bytes.length % 2, 0);
  });

  test('an unknown dtype or options that are not an object are refused', () => {
    const t = Tensor.zeros([1]);
    assert.throws(() => writeSafetensors({ t }, undefined, { dtype: 'I8' as 'F16' }), (e) => isQkvError(e, 'E_ARGUMENT') && /options.dtype/.test(e.message));
    assert.throws(() => writeSafetensors({ t }, undefined, null as never), (e) => isQkvError(e, 'E_ARGUMENT'));
  });
});

describe('parseSafetensorsHeader and decodeSafetensorsTensor', () => {
  const data = new Uint8Array(4 * 3 + 8);
  new DataView(data.buffer).setFloat32(0, 1.5, true);
  new DataView(data.buffer).setFloat32(4, -2, true);
  new DataView(data.buffer).setFloat32(8, 7, true);
  const bytes = file(
    {
      w: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
      ids: { dtype: 'I64', shape: [1], data_offsets: [12, 20] },
    },
    data,
  );

  test('the header from a prefix lists every dtype; floats decode from their own bytes', () => {
    const headerLength = safetensorsHeaderLength(bytes.subarray(0, 8), bytes.length);
    const header = parseSafetensorsHeader(bytes.subarray(0, headerLength), bytes.length);
    assert.equal(header.dataStart, headerLength);
    const byName = Object.fromEntries(header.entries.map((e) => [e.name, e]));
    assert.equal(byName.ids.dtype, 'I64');
    const w = byName.w;
    const values = decodeSafetensorsTensor(bytes.subarray(header.dataStart + w.begin, header.dataStart + w.end), w);
    assert.deepEqual(Array.from(values), [1.5, -2, 7]);
    assert.throws(
      () => decodeSafetensorsTensor(bytes.subarray(header.dataStart + 12, header.dataStart + 20), byName.ids),
      (e) => isQkvError(e, 'E_FORMAT') && /"ids" has dtype I64/.test(e.message),
    );
    assert.throws(() => decodeSafetensorsTensor(new Uint8Array(8), w), (e) => isQkvError(e, 'E_FORMAT') && /needs 12 bytes/.test(e.message));
  });

  test('readSafetensors still refuses the integer tensor', () => {
    assert.throws(() => readSafetensors(bytes), (e) => isQkvError(e, 'E_FORMAT') && /I64/.test(e.message));
  });

  test('a header that claims more bytes than the file has is a FormatError', () => {
    assert.throws(() => safetensorsHeaderLength(bytes.subarray(0, 8), 20), (e) => isQkvError(e, 'E_FORMAT') && /beyond the end/.test(e.message));
    assert.throws(() => parseSafetensorsHeader(bytes, bytes.length - 1), (e) => isQkvError(e, 'E_FORMAT'));
  });
});
