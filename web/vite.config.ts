// Builds the viewer into web/dist. The page imports qkv's TypeScript sources directly (../src); Vite bundles them
// into the page and its worker. base './' lets the page live under any path. A second page, selftest.html, is the
// wasm backend's browser self-test (tests/browser/wasm-threads.test.ts); it shares no code chunk with the viewer.

import { resolve } from 'node:path';

import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
    rolldownOptions: {
      input: {
        index: resolve(import.meta.dirname, 'index.html'),
        selftest: resolve(import.meta.dirname, 'selftest.html'),
      },
    },
  },
  worker: { format: 'es' },
  server: {
    headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
  },
});
