// The ABI between the wrapper and the kernels (asm/abi.ts) is declared once: the build reads it, checks it and
// generates the wrapper's copy (src/kernels/wasm/module.generated.ts). A renumbered slot that collides with another,
// or leaves the block, fails the build; any renumbering changes the ABI's hash, so a module built before it (or
// after it, with a stale wrapper) fails the load.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import * as abi from '../../src/kernels/wasm/abi.js';
import { assertAbi, getKernel } from '../../src/kernels/wasm/runtime.js';

interface Group {
  kind: 'slots' | 'codes' | 'sizes';
  name: string;
  constants: { key: string; value: number; doc: string }[];
}
const build = (await import(new URL('../../tools/build-wasm.mjs', import.meta.url).href)) as {
  parseAbi(text: string): Group[];
  abiSignature(groups: Group[]): number;
};
const source = readFileSync(new URL('../../asm/abi.ts', import.meta.url), 'utf8');

describe('wasm ABI', () => {
  it('the generated copy has every group, name and number of asm/abi.ts', () => {
    const groups = build.parseAbi(source);
    assert.deepEqual(
      groups.map((g) => g.name),
      ['LAYOUT', 'TILE', 'JOB', 'CAUSAL', 'SLOT', 'GEMM_SLOT'],
    );
    for (const g of groups) {
      const generated = (abi as unknown as Record<string, Record<string, number>>)[g.name];
      assert.deepEqual(generated, Object.fromEntries(g.constants.map((c) => [c.key, c.value])), g.name);
    }
    assert.equal(abi.ABI_SIGNATURE, build.abiSignature(groups));
  });

  it('the loaded module was built with the same ABI', () => {
    const k = getKernel();
    assert.ok(k, 'the wasm kernel did not load');
    assert.equal(k.exports.abi_signature(), abi.ABI_SIGNATURE);
  });

  it('fails the build when a renumbered slot collides with another or leaves the block', () => {
    const collides = source.replace('export const SLOT_CAREFUL: i32 = 27;', 'export const SLOT_CAREFUL: i32 = 26;');
    assert.notEqual(collides, source);
    assert.throws(() => build.parseAbi(collides), /SLOT\.CAREFUL and SLOT\.SCRATCH_BYTES are both 26/);
    const outside = source.replace('export const G_C_ROW: i32 = 11;', 'export const G_C_ROW: i32 = 48;');
    assert.throws(() => build.parseAbi(outside), /slot GEMM_SLOT\.C_ROW = 48 lies outside the block/);
    // The GEMM's block shares the attention's work counter (GEMM_SLOT.NEXT_UNIT = SLOT_NEXT_UNIT): it moves with it,
    // and a GEMM slot renumbered onto it collides.
    const shared = source.replace('export const SLOT_NEXT_UNIT: i32 = 28;', 'export const SLOT_NEXT_UNIT: i32 = 47;');
    assert.equal(build.parseAbi(shared).find((g) => g.name === 'GEMM_SLOT')!.constants.at(-1)!.value, 47);
    const onCounter = source.replace('export const G_C_ROW: i32 = 11;', 'export const G_C_ROW: i32 = 28;');
    assert.throws(() => build.parseAbi(onCounter), /GEMM_SLOT\.NEXT_UNIT and GEMM_SLOT\.C_ROW are both 28/);
  });

  it('fails the load when the module and the wrapper disagree about any number', () => {
    const moved = source.replace('export const SLOT_BATCH_STATE: i32 = 46;', 'export const SLOT_BATCH_STATE: i32 = 47;');
    const signature = build.abiSignature(build.parseAbi(moved));
    assert.notEqual(signature, abi.ABI_SIGNATURE);
    assert.throws(() => assertAbi({ abi_signature: () => signature }), /built for ABI \d+, the wrapper for ABI \d+/);
    assert.doesNotThrow(() => assertAbi({ abi_signature: () => abi.ABI_SIGNATURE }));
  });

  it('rejects constants outside a group and values that name nothing', () => {
    assert.throws(() => build.parseAbi(`export const STRAY: i32 = 1;\n${source}`), /STRAY lies outside any @abi group/);
    const unknown = source.replace('export const G_UNITS: i32 = SLOT_UNITS;', 'export const G_UNITS: i32 = SLOT_UNIT;');
    assert.throws(() => build.parseAbi(unknown), /G_UNITS = SLOT_UNIT, which is not an earlier constant/);
  });
});
