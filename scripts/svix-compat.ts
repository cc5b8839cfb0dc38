/**
 * Writes docs/svix-compatibility.md (see scripts/compat-table.ts). Run from the repository's
 * root after adding or changing a route: `npx tsx scripts/svix-compat.ts`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generateTable, TABLE_PATH } from './compat-table.js';

const table = await generateTable();
mkdirSync(dirname(TABLE_PATH), { recursive: true });
writeFileSync(TABLE_PATH, table);
process.stdout.write(`wrote ${TABLE_PATH}\n`);
