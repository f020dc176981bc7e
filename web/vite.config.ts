import { defineConfig } from 'vite';

// Relative asset paths: the app is served from any path and any port
// (scripts/devnet, the browser test). Workers (roots.ts) are ES modules,
// like the app: they load the same WASM module by its URL.
export default defineConfig({
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  worker: { format: 'es' },
});
