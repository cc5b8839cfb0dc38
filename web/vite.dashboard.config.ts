/**
 * Builds the operator dashboard (web/dashboard, with web/shared) into dist/web/dashboard,
 * which `herald serve` serves at /dashboard (src/api/routes/portal.ts). Bundled like the
 * portal (web/vite.config.ts): nothing comes from a CDN.
 */
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('./dashboard'),
  base: '/dashboard/',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    outDir: here('../dist/web/dashboard'),
    // Not emptied, as the portal's: a running server keeps its page while a build runs.
    emptyOutDir: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 400,
  },
});
