// Reads the PyTorch parity fixtures that tools/make_fixtures.py writes to tests/parity/fixtures/. A tensor is stored
// as { dtype, shape, data } with data the base64 of its little-endian row-major elements: inputs are float32 (what
// qkv is fed), expected values float64 (computed in float64 from those inputs). See the manifest for the torch
// version, the seed and every case's shapes and options.

import { readFileSync } from 'node:fs';
import { type AttentionOptions, Tensor } from '../../src/index.js';

export interface EncodedTensor {
  dtype: 'float32' | 'float64';
  shape: number[];
  /** base64 of the little-endian elements */
  data: string;
}

/** Expected values in float64. */
export interface Expected {
  shape: number[];
  data: Float64Array;
}

/** Attention options as a fixture stores them: masks and biases encoded. */
export interface FixtureOptions {
  mask?: EncodedTensor;
  bias?: EncodedTensor;
  causal?: boolean | 'top-left' | 'bottom-right';
  scale?: number;
  softcap?: number;
}

export interface SdpaCase {
  name: string;
  inputs: { query: EncodedTensor; key: EncodedTensor; value: EncodedTensor };
  options: FixtureOptions;
  expected: { output: EncodedTensor; weights: EncodedTensor; scores: EncodedTensor; scaledScores: EncodedTensor };
}

export interface MhaCase {
  name: string;
  config: {
    embedDim: number;
    numHeads: number;
    kdim?: number;
    vdim?: number;
    bias: boolean;
    addBiasKv: boolean;
    addZeroAttn: boolean;
  };
  /** PyTorch's state_dict(), keys and order as PyTorch names them. */
  stateDict: Record<string, EncodedTensor>;
  /** key and value are absent for self-attention. */
  inputs: { query: EncodedTensor; key?: EncodedTensor; value?: EncodedTensor };
  options: { mask?: EncodedTensor; causal?: boolean; averageWeights: boolean };
  expected: { output: EncodedTensor; weights: EncodedTensor };
}

export interface ManifestCase {
  name: string;
  note: string;
}

export interface SdpaManifestCase extends ManifestCase {
  /** Query rows whose expected weights are all 0 (no allowed key). */
  emptyRows: number;
  /** Query rows whose expected output holds a NaN. */
  nanRows: number;
  /** The largest finite |scaled score|. */
  maxAbsScaledScore: number;
  /** Whether the script also checked the reference against torch's F._scaled_dot_product_attention. */
  checkedAgainstTorchSdpa: boolean;
}

export interface Manifest {
  generator: string;
  torch: string;
  seed: number;
  encoding: Record<string, string>;
  files: {
    'sdpa.json': { bytes: number; cases: SdpaManifestCase[] };
    'mha.json': { bytes: number; cases: ManifestCase[] };
  };
}

const DIR = new URL('./fixtures/', import.meta.url);

/** Parses one JSON file of tests/parity/fixtures/. */
export function readFixture<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as T;
}

/** Decodes little-endian float32 or float64 elements, whatever the machine's byte order. */
function decode(t: EncodedTensor): Float32Array | Float64Array {
  const bytes = Buffer.from(t.data, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = t.dtype === 'float32' ? 4 : 8;
  const count = t.shape.reduce((n, s) => n * s, 1);
  if (bytes.byteLength !== count * width) {
    throw new Error(`fixture tensor ${JSON.stringify(t.shape)} ${t.dtype}: ${bytes.byteLength} bytes`);
  }
  const out = t.dtype === 'float32' ? new Float32Array(count) : new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = width === 4 ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
  return out;
}

/** A float32 fixture tensor as a qkv Tensor. */
export function toTensor(t: EncodedTensor): Tensor {
  if (t.dtype !== 'float32') throw new Error(`fixture input must be float32; got ${t.dtype}`);
  return new Tensor(decode(t) as Float32Array, t.shape);
}

/** A float64 expected value. */
export function toExpected(t: EncodedTensor): Expected {
  if (t.dtype !== 'float64') throw new Error(`fixture expected value must be float64; got ${t.dtype}`);
  return { shape: t.shape, data: decode(t) as Float64Array };
}

/** The qkv attention options of a fixture case. */
export function optionsOf(stored: FixtureOptions): AttentionOptions {
  const { mask, bias, causal, scale, softcap } = stored;
  const options: AttentionOptions = {};
  if (mask !== undefined) options.mask = toTensor(mask);
  if (bias !== undefined) options.bias = toTensor(bias);
  if (causal !== undefined) options.causal = causal;
  if (scale !== undefined) options.scale = scale;
  if (softcap !== undefined) options.softcap = softcap;
  return options;
}
