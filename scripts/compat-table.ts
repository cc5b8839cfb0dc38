/**
 * Builds docs/svix-compatibility.md: every route of the OSS Svix server's OpenAPI document
 * and every method of the svix SDK, each marked `yes`, `differs (how)` or `not built (why)`,
 * from a Herald started here (its live /openapi.json, and the SDK's calls answered by it),
 * the notes of scripts/svix-compat-notes.ts and the reasons of src/api/not-built.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashToken } from '../src/api/auth.js';
import { notBuiltReason } from '../src/api/not-built.js';
import { UNSUPPORTED_KEYWORD } from '../src/api/schemas.js';
import { buildApi } from '../src/api/server.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { callEverySdkMethod, type SdkCall, sdkVersion } from './sdk-calls.js';
import { DIFFERS, OWN } from './svix-compat-notes.js';

/** Where the table is written, from the repository's root. */
export const TABLE_PATH = 'docs/svix-compatibility.md';
/** The command that writes it. */
export const GENERATE_COMMAND = 'npx tsx scripts/svix-compat.ts';
/** The marker of a route the table could not explain: the test fails on it. */
export const NO_REASON = 'no reason recorded';

const REFERENCE = new URL('../test/fixtures/svix-server-openapi.json', import.meta.url);
const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'];

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}
interface Schema {
  $ref?: string;
  properties?: Record<string, Record<string, unknown>>;
}
interface Doc {
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

/** A path with its parameters' names dropped, to compare templates that name them differently. */
const shape = (path: string) => path.replace(/\{[^}]+\}/g, '{}').replace(/\/+$/, '');
/** A template filled with a dummy value per parameter, for the not-built table's patterns. */
const filled = (path: string) => path.replace(/\{[^}]+\}/g, 'x');
/** Text for a table cell. */
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function operations(doc: Doc): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    METHODS.filter((m) => ops[m]).map((m) => ({ method: m.toUpperCase(), path, op: ops[m]! })),
  );
}

/** The Svix fields a Herald route refuses, read from its request body schema's marks. */
function refusedFields(doc: Doc, op: Operation): string[] {
  let schema = op.requestBody?.content?.['application/json']?.schema;
  if (schema?.$ref) schema = doc.components?.schemas?.[schema.$ref.split('/').at(-1)!];
  return Object.entries(schema?.properties ?? {})
    .filter(([, field]) => field[UNSUPPORTED_KEYWORD] !== undefined)
    .map(([name]) => name);
}

/**
 * How Herald stands on `METHOD path`: yes, differs (how) or not built (why). A HEAD stands as
 * its GET does: Fastify answers HEAD for every GET route (without listing it in /openapi.json).
 */
function verdict(herald: Doc, method: string, path: string): string {
  const lookup = method === 'HEAD' ? 'GET' : method;
  const own = operations(herald).find((o) => o.method === lookup && shape(o.path) === shape(path));
  if (!own) {
    const reason = notBuiltReason(method, filled(path.split('?')[0]!));
    return reason
      ? `not built (${reason.what}; ${reason.plan})`
      : `not built (${NO_REASON}: add it to src/api/not-built.ts)`;
  }
  const how: string[] = [];
  const note = DIFFERS[`${lookup} ${own.path}`];
  if (note) how.push(note);
  const refused = refusedFields(herald, own.op);
  if (refused.length) how.push(`refuses ${refused.map((f) => `\`${f}\``).join(', ')} with 422`);
  return how.length ? `differs (${how.join('; ')})` : 'yes';
}

/** A Markdown table with its columns aligned, as Biome formats one. */
function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, 3, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** Counts of each verdict, for the summary line. */
function tally(verdicts: string[]): string {
  const count = (prefix: string) => verdicts.filter((v) => v.startsWith(prefix)).length;
  return `${count('yes')} yes, ${count('differs')} differ, ${count('not built')} not built`;
}

/** The table's Markdown text, from a Herald's /openapi.json and the SDK calls it answered. */
export function renderTable(herald: Doc, reference: Doc, calls: SdkCall[]): string {
  const svixRoutes = operations(reference).map((o) => ({
    ...o,
    verdict: verdict(herald, o.method, o.path),
  }));
  const sdkRows = calls.map((c) => ({ ...c, verdict: verdict(herald, c.http, c.template.split('?')[0]!) }));
  const known = new Set([
    ...svixRoutes.map((r) => `${r.method === 'HEAD' ? 'GET' : r.method} ${shape(r.path)}`),
    ...calls.map((c) => `${c.http} ${shape(c.template.split('?')[0]!)}`),
  ]);
  const ownRoutes = operations(herald).filter((o) => !known.has(`${o.method} ${shape(o.path)}`));
  const lines = [
    '# Svix compatibility',
    '',
    `Generated by \`${GENERATE_COMMAND}\`; do not edit by hand (\`test/api/svix-compat.test.ts\``,
    'fails when this file differs from what the script writes). It starts a Herald, reads its',
    'live `/openapi.json`, and calls every method of the svix SDK against it. The notes on how a',
    'route differs are kept in `scripts/svix-compat-notes.ts` (the Svix fields a route refuses are',
    'read from the `x-herald-unsupported` marks of `/openapi.json`); why a route is not built, in',
    '`src/api/not-built.ts`, whose text the route answers with 501 `not_implemented`.',
    '',
    '- **yes**: Herald serves the route as Svix documents it.',
    '- **differs**: Herald serves it, with the differences given.',
    '- **not built**: Herald answers 501 `{"code": "not_implemented", "detail": …}` naming what',
    '  is missing and where it is planned.',
    '',
    `## Routes of the OSS Svix server's OpenAPI document (${reference.info.version})`,
    '',
    `${svixRoutes.length} operations: ${tally(svixRoutes.map((r) => r.verdict))}.`,
    '',
    ...table(
      ['Route', 'Operation', 'Herald'],
      svixRoutes.map((r) => [
        `\`${r.method} ${r.path}\``,
        cell(r.op.operationId ?? r.op.summary ?? '—'),
        cell(r.verdict),
      ]),
    ),
    '',
    `## Methods of the svix SDK (${sdkVersion()} for JavaScript)`,
    '',
    `${sdkRows.length} methods: ${tally(sdkRows.map((r) => r.verdict))}. The request is the one the`,
    'method sends with no options (a query it always sends is shown).',
    '',
    ...table(
      ['Method', 'Request', 'Herald'],
      sdkRows.map((r) => [`\`${r.name}\``, `\`${r.http} ${r.template}\``, cell(r.verdict)]),
    ),
    '',
    "## Herald's routes beyond Svix",
    '',
    ...table(
      ['Route', 'What it does'],
      ownRoutes.map((o) => [
        `\`${o.method} ${o.path}\``,
        cell(o.op.summary ?? OWN[`${o.method} ${o.path}`] ?? o.op.description ?? '—'),
      ]),
    ),
    '',
  ];
  return lines.join('\n');
}

/** Starts a Herald on a throwaway SQLite file, and builds the table against it. */
export async function generateTable(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-compat-'));
  const store = openSqliteStore({ path: join(dir, 'compat.db') });
  const token = 'compat-table-admin';
  try {
    await store.saveToken(hashToken(token), null);
    const api = await buildApi({ store, version: 'compat' });
    try {
      const url = await api.listen({ port: 0, host: '127.0.0.1' });
      const herald = (await (await fetch(`${url}/openapi.json`)).json()) as Doc;
      const reference = JSON.parse(readFileSync(REFERENCE, 'utf8')) as Doc;
      return renderTable(herald, reference, await callEverySdkMethod(url, token));
    } finally {
      await api.close();
    }
  } finally {
    await store[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  }
}
