#!/usr/bin/env node
// The installed `herald` command: runs the compiled CLI, which `npm ci` builds into dist/ in a
// checkout (the postprepare script) and `npm pack` into the tarball (prepack).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('herald: dist/ is not built; run `npm run build` in the checkout (npm ci does)\n');
  process.exit(1);
}
await import(main.href);
