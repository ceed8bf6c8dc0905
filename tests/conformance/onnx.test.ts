// Conformance against ONNX's own `Attention` operator test vectors (onnx/backend/test/data/node/test_attention_*,
// opsets 23 and 24): one test per case file. The vectors are read from <repo root>/../shared/ at test time and never
// copied into the project; onnx-cases.ts maps each case onto scaledDotProductAttention.
// Y and qk_matmul_output are compared elementwise (TOL.onnxF32, or TOL.onnxF16 where ONNX computed in float16);
// present_key / present_value are pure concatenations and must be bitwise equal.
// The cases run on every backend variant (tests/backends/variants.ts) with the variant's ONNX tolerances.

import { it, test } from 'node:test';
import { describeEachVariant } from '../backends/variants.js';
import { assertAllClose, assertBitwiseEqual } from '../tolerances.js';
import {
  ONNX_ATTENTION_DIR,
  type OnnxOutputs,
  decodeTensor,
  isFloat16,
  listCaseFiles,
  loadCase,
  runOnnxCase,
} from './onnx-cases.js';

/** Cases qkv cannot match yet, with the reason. Empty: all 76 pass. */
const TODO: Record<string, string> = {};

/** Largest |actual − expected| and largest |actual − expected| / |expected| over finite expected values. */
function largestErrors(actual: ArrayLike<number>, expected: ArrayLike<number>): { abs: number; rel: number } {
  let abs = 0;
  let rel = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!Number.isFinite(expected[i])) continue;
    const diff = Math.abs(actual[i] - expected[i]);
    abs = Math.max(abs, diff);
    if (expected[i] !== 0) rel = Math.max(rel, diff / Math.abs(expected[i]));
  }
  return { abs, rel };
}

const files = listCaseFiles();

if (files === null) {
  const skip =
    `ONNX conformance vectors not found at ${ONNX_ATTENTION_DIR}; ` + "they live in the steering repo's shared/ folder";
  test('ONNX Attention conformance', { skip }, () => {});
} else {
  test('ONNX Attention conformance: all 76 case files are present', (t) => {
    if (files.length !== 76) throw new Error(`expected 76 case files in ${ONNX_ATTENTION_DIR}; found ${files.length}`);
    t.diagnostic(`${files.length} cases`);
  });

  const loaded = files.map(loadCase);
  describeEachVariant('ONNX Attention conformance', (v) => {
    for (const c of loaded) {
      const todo = TODO[c.name];
      it(c.name, todo === undefined ? {} : { todo }, (t) => {
        const tol = isFloat16(c) ? v.tol.onnxF16 : v.tol.onnxF32;
        const actual = runOnnxCase(c, v.backend);
        const roles = ['Y', 'present_key', 'present_value', 'qk_matmul_output'] as const;
        for (const role of roles) {
          if (c.outputs[role] === undefined) continue;
          const expected = decodeTensor(c.outputs[role]).tensor;
          const got = actual[role as keyof OnnxOutputs];
          if (got === undefined) throw new Error(`${c.name}: the mapping produced no ${role}`);
          if (got.shape.join() !== expected.shape.join()) {
            throw new Error(`${c.name}: ${role} has shape [${got.shape}]; ONNX gives [${expected.shape}]`);
          }
          if (role === 'present_key' || role === 'present_value') {
            assertBitwiseEqual(got.data, expected.data, `${c.name} ${role}`);
          } else {
            assertAllClose(got.data, expected.data, tol, tol, `${c.name} ${role}`);
            const { abs, rel } = largestErrors(got.data, expected.data);
            t.diagnostic(`${role}: largest |diff| ${abs.toExponential(2)}, largest relative ${rel.toExponential(2)}`);
          }
        }
      });
    }
  });
}
