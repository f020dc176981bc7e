import { defineConfig } from 'vite';

// Relative asset paths: the app is served from any path and any port
// (scripts/devnet, the browser test).
export default defineConfig({
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
});
