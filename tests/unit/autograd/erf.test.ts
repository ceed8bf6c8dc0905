// erf and erfc against Python's math.erf / math.erfc (values below printed by CPython 3, which uses the C library).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { erf, erfc } from '../../../src/autograd/erf.js';

// [x, erf(x), erfc(x)]
const table: [number, number, number][] = [
  [-6, -1.0, 2.0],
  [-3.5, -0.9999992569016276, 1.9999992569016276],
  [-3, -0.9999779095030014, 1.9999779095030015],
  [-2.9, -0.9999589021219005, 1.9999589021219006],
  [-1, -0.8427007929497149, 1.842700792949715],
  [-0.25, -0.2763263901682369, 1.276326390168237],
  [0, 0.0, 1.0],
  [1e-9, 1.1283791670955127e-9, 0.9999999988716208],
  [0.3, 0.3286267594591274, 0.6713732405408726],
  [1, 0.8427007929497149, 0.15729920705028513],
  [2.5, 0.999593047982555, 0.0004069520174449589],
  [2.999, 0.9999777698314002, 2.2230168599834058e-5],
  [3, 0.9999779095030014, 2.2090496998585438e-5],
  [3.001, 0.9999780483390822, 2.19516609177373e-5],
  [4, 0.9999999845827421, 1.541725790028002e-8],
  [5.5, 0.9999999999999927, 7.357847917974398e-15],
  [8, 1.0, 1.1224297172982928e-29],
];

test('erf is exact to a few ulps, erfc to 1e-10 relative even in the far tail', () => {
  for (const [x, e, c] of table) {
    assert.ok(Math.abs(erf(x) - e) <= 1e-15 * Math.max(Math.abs(e), 1e-300) + 1e-300, `erf(${x}) = ${erf(x)}, want ${e}`);
    assert.ok(Math.abs(erfc(x) - c) <= 1e-10 * c, `erfc(${x}) = ${erfc(x)}, want ${c}`);
  }
  assert.ok(Number.isNaN(erf(NaN)) && Number.isNaN(erfc(NaN)));
  assert.equal(erf(Infinity), 1);
  assert.equal(erfc(Infinity), 0);
});
