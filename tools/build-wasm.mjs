// Builds the "wasm" backend's kernels: compiles asm/index.ts (one module: the attention forward and backward and the
// GEMM) with the AssemblyScript compiler (asc, a pinned devDependency; no network) twice, once importing a shared
// memory (for the thread pool, where SharedArrayBuffer exists) and once importing a plain memory, and writes
// src/kernels/wasm/module.generated.ts (gitignored): both binaries as base64, so that the same code loads them in Node
// and in browsers without file access, and the ABI that asm/abi.ts declares (the context block's slots, the job kinds
// and codes, the tile sizes), so that the wrapper reads its numbers from the one declaration.
//
// The ABI is checked here: two slots of one block or two codes of one group with the same number, or a slot outside
// the block, fail the build. A hash of the whole ABI is compiled into the module (asc --use ABI_SIGNATURE=…) and
// written beside the binaries; the loader (src/kernels/wasm/runtime.ts) refuses a module whose hash differs.
//
// The generated file is written to a temporary name and renamed, so that a failed build leaves the previous one in
// place. Run by `npm run build` before tsc. `node tools/build-wasm.mjs --wat` also writes the text format to dist/wasm/
// for reading. The ABI reader is exported (parseAbi, abiSignature) for tests/backends/abi.test.ts.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = 'asm/index.ts';
const abiFile = 'asm/abi.ts';
const target = join(root, 'src/kernels/wasm/module.generated.ts');

// The module declares a 2 GiB maximum (32768 pages, as src/kernels/wasm/runtime.ts plans); the wrapper creates a
// memory with the same or a smaller maximum (an imported memory may have a smaller maximum than the import declares).
const MAX_PAGES = 32768;

/**
 * Reads asm/abi.ts (its format is described in its header): the groups in order, each with its kind, description and
 * constants ({ key, value, doc }). Throws on a constant outside a group, a value that is neither an integer nor an
 * earlier constant, and the rule of a group's kind broken (distinct slots below CTX_SLOTS, distinct codes).
 */
export function parseAbi(text) {
  const groups = [];
  const values = new Map(); // constant name → value, for references
  let group = null;
  let doc = [];
  let inDoc = false;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `${abiFile}:${i + 1}`;
    const marker = /^\/\/ @abi (slots|codes|sizes) ([A-Z][A-Z0-9_]*)(?: ([A-Z][A-Z0-9]*_))?: (.+)$/.exec(line);
    if (marker) {
      const [, kind, name, prefix = '', description] = marker;
      if (groups.some((g) => g.name === name)) throw new Error(`${where}: group ${name} is declared twice`);
      group = { kind, name, prefix, description, constants: [] };
      groups.push(group);
      return;
    }
    if (/^\/\/ @abi/.test(line)) throw new Error(`${where}: malformed @abi marker: ${line}`);
    const trimmed = line.trim();
    if (trimmed.startsWith('/**')) {
      doc = [];
      inDoc = true;
    }
    if (inDoc) {
      doc.push(trimmed.replace(/^\/\*\*\s?|^\*\/$|^\*\s?/g, '').replace(/\s*\*\/$/, ''));
      if (trimmed.endsWith('*/')) inDoc = false;
      return;
    }
    const constant = /^export const ([A-Z][A-Z0-9_]*): i32 = (-?\d+|[A-Z][A-Z0-9_]*);\s*(?:\/\/.*)?$/.exec(line);
    if (/^export const /.test(line) && !constant) {
      throw new Error(`${where}: an ABI constant must read \`export const NAME: i32 = integer-or-NAME;\`: ${line}`);
    }
    if (constant) {
      const [, name, raw] = constant;
      if (!group) throw new Error(`${where}: ${name} lies outside any @abi group`);
      if (!name.startsWith(group.prefix)) {
        throw new Error(`${where}: ${name} is in group ${group.name}, whose names start with ${group.prefix}`);
      }
      const value = /^-?\d+$/.test(raw) ? Number(raw) : values.get(raw);
      if (value === undefined) throw new Error(`${where}: ${name} = ${raw}, which is not an earlier constant`);
      if (values.has(name)) throw new Error(`${where}: ${name} is declared twice`);
      values.set(name, value);
      group.constants.push({ key: name.slice(group.prefix.length), value, doc: doc.filter((l) => l !== '').join(' ') });
    }
    if (trimmed !== '' && !inDoc) doc = [];
  });
  const ctxSlots = values.get('CTX_SLOTS');
  if (ctxSlots === undefined) throw new Error(`${abiFile}: CTX_SLOTS is not declared`);
  for (const g of groups) {
    if (g.constants.length === 0) throw new Error(`${abiFile}: group ${g.name} has no constants`);
    if (g.kind === 'sizes') continue;
    const seen = new Map();
    for (const c of g.constants) {
      if (seen.has(c.value)) {
        throw new Error(`${abiFile}: ${g.name}.${c.key} and ${g.name}.${seen.get(c.value)} are both ${c.value}`);
      }
      seen.set(c.value, c.key);
      if (g.kind === 'slots' && !(Number.isInteger(c.value) && c.value >= 0 && c.value < ctxSlots)) {
        throw new Error(`${abiFile}: slot ${g.name}.${c.key} = ${c.value} lies outside the block (0 .. ${ctxSlots - 1})`);
      }
    }
  }
  return groups;
}

/** FNV-1a over every group, name and number, as a positive 31-bit integer (what asc --use takes). */
export function abiSignature(groups) {
  let h = 0x811c9dc5;
  const text = groups.map((g) => g.constants.map((c) => `${g.name}.${c.key}=${c.value};`).join('')).join('|');
  for (const ch of Buffer.from(text, 'utf8')) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
  return h & 0x7fffffff || 1;
}

/** The groups as TypeScript: one `as const` object each, its constants' comments as TSDoc. */
function renderAbi(groups, signature) {
  const out = [];
  for (const g of groups) {
    out.push(`/** ${g.description} (asm/abi.ts). */`, `export const ${g.name} = {`);
    for (const c of g.constants) {
      if (c.doc) out.push(`  /** ${c.doc} */`);
      out.push(`  ${c.key}: ${c.value},`);
    }
    out.push('} as const;', '');
  }
  out.push('/** The hash of the ABI above, also compiled into both binaries (abi_signature()). */');
  out.push(`export const ABI_SIGNATURE = ${signature};`, '');
  return out.join('\n');
}

async function compile(asc, name, extra, wantWat) {
  const files = {};
  const outputs = ['--outFile', `${name}.wasm`, ...(wantWat ? ['--textFile', `${name}.wat`] : [])];
  const { error, stderr } = await asc.main([...extra, ...outputs], {
    readFile: (file, baseDir) => {
      try {
        return readFileSync(join(baseDir, file), 'utf8');
      } catch {
        return null;
      }
    },
    writeFile: (file, contents) => {
      files[file] = contents;
    },
    listFiles: () => [],
  });
  if (error) {
    console.error(stderr.toString());
    throw new Error(`build-wasm: asc failed for ${name}: ${error.message}`);
  }
  const bytes = files[`${name}.wasm`];
  if (!bytes) throw new Error(`build-wasm: asc produced no ${name}.wasm`);
  if (wantWat) {
    mkdirSync(join(root, 'dist/wasm'), { recursive: true });
    writeFileSync(join(root, `dist/wasm/${name}.wat`), files[`${name}.wat`]);
  }
  return Buffer.from(bytes);
}

async function main() {
  const { default: asc } = await import('assemblyscript/asc');
  const wantWat = process.argv.includes('--wat');
  process.chdir(root);
  const groups = parseAbi(readFileSync(join(root, abiFile), 'utf8'));
  const signature = abiSignature(groups);
  const common = [
    entry,
    '--optimizeLevel', '3',
    '--shrinkLevel', '0',
    '--noAssert',
    '--runtime', 'stub', // the kernel never allocates: no garbage collector
    '--use', 'abort=', // no abort import and no message strings (no data segments to re-apply per thread)
    '--use', `ABI_SIGNATURE=${signature}`,
    '--enable', 'simd',
    '--enable', 'threads', // atomics for the work counter
    '--importMemory',
    '--noExportMemory',
    '--maximumMemory', String(MAX_PAGES),
  ];
  const shared = await compile(asc, 'attention-shared', [...common, '--sharedMemory'], wantWat);
  const plain = await compile(asc, 'attention-plain', common, wantWat);

  const text =
    '// GENERATED by tools/build-wasm.mjs from asm/; do not edit (gitignored, rebuilt by `npm run build`).\n' +
    '// The kernel for shared memory (thread pool) and for plain memory, as base64, and the ABI of asm/abi.ts.\n\n' +
    `export const WASM_SHARED_BASE64 =\n  '${shared.toString('base64')}';\n\n` +
    `export const WASM_PLAIN_BASE64 =\n  '${plain.toString('base64')}';\n\n` +
    renderAbi(groups, signature);
  let old = '';
  try {
    old = readFileSync(target, 'utf8');
  } catch {}
  if (old !== text) {
    const temporary = `${target}.${process.pid}.tmp`;
    writeFileSync(temporary, text);
    renameSync(temporary, target); // atomic: a reader sees the old file or the new one, never a part
  }
  console.log(`build-wasm: ${shared.length} + ${plain.length} bytes, ABI ${signature} → src/kernels/wasm/module.generated.ts`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
