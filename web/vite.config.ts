/**
 * Builds the consumer portal (web/portal, with web/shared) into dist/web/portal, which
 * `herald serve` serves at /portal (src/api/routes/portal.ts). Everything is bundled: the
 * servers it runs on may have no internet, so no font, icon or script comes from a CDN.
 */
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('./portal'),
  base: '/portal/',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    outDir: here('../dist/web/portal'),
    // Not emptied: a build while tests run (npm pack's prepack, a global install's prepare)
    // would leave a moment with no page for a running server; the hashed names of a new build
    // sit beside the old ones instead.
    emptyOutDir: false,
    // Fonts are small files of their own, not data: URLs the CSP would have to allow.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 400,
  },
});
