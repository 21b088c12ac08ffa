/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// The UI is embedded into the jenky binary: one small JS and one CSS file with
// hashed names under assets/, no inline scripts (the page's CSP forbids them)
// and no request to any host but jenky's own.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev` proxies the API to a jenky started with `serve --listen 127.0.0.1:8080`.
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/ws': { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
