// Builds the viewer into web/dist, which the package publishes. The page imports qkv's TypeScript sources directly
// (../src); Vite bundles them into the page and its worker. base './' lets the page live under any path.
//
// `--mode selftest` builds the wasm backend's browser self-test instead (selftest.html, web/src/selftest*.ts) into
// test-artifacts/selftest/ (gitignored, never published), with an index.html that links to it so that the CLI's
// server serves the folder. tests/browser/wasm-threads.test.ts runs this build itself.

import { resolve } from 'node:path';

import { type Plugin, defineConfig } from 'vite';

const here = import.meta.dirname;

/** The self-test build's index.html: the server (src/cli/serve.ts) serves a folder only when it has one. */
function selftestIndex(): Plugin {
  return {
    name: 'qkv-selftest-index',
    generateBundle() {
      this.emitFile({
        type: 'asset',
        fileName: 'index.html',
        source: '<!doctype html>\n<meta charset="utf-8" />\n<title>qkv tests</title>\n<a href="selftest.html">self-test</a>\n',
      });
    },
  };
}

export default defineConfig(({ mode }) => {
  const selftest = mode === 'selftest';
  const input: Record<string, string> = selftest
    ? { selftest: resolve(here, 'selftest.html') }
    : { index: resolve(here, 'index.html') };
  return {
    root: here,
    base: './',
    plugins: selftest ? [selftestIndex()] : [],
    build: {
      outDir: selftest ? resolve(here, '../test-artifacts/selftest') : 'dist',
      emptyOutDir: true,
      target: 'es2022',
      reportCompressedSize: !selftest,
      rolldownOptions: { input },
    },
    worker: { format: 'es' },
    server: {
      headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    },
  };
});
