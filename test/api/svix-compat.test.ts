/**
 * docs/svix-compatibility.md cannot drift: it is generated again here (a Herald started on a
 * throwaway SQLite file, its live /openapi.json, every svix SDK method called against it) and
 * must equal the committed file.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATE_COMMAND, generateTable, NO_REASON, TABLE_PATH } from '../../scripts/compat-table.js';

describe('the Svix compatibility table', () => {
  it(`is what \`${GENERATE_COMMAND}\` writes`, async () => {
    const generated = await generateTable();
    const committed = readFileSync(new URL(`../../${TABLE_PATH}`, import.meta.url), 'utf8');
    expect(
      committed === generated,
      `${TABLE_PATH} is out of date: run \`${GENERATE_COMMAND}\` and commit the result`,
    ).toBe(true);
  });

  it('gives a reason for every route it marks not built, and lists every SDK method', async () => {
    const generated = await generateTable();
    expect(generated).not.toContain(NO_REASON);
    const row = (method: string) => generated.split('\n').find((l) => l.startsWith(`| \`${method}\` `));
    expect(row('authentication.expireAll')).toMatch(
      /^\| `authentication\.expireAll` +\| `POST \/api\/v1\/auth\/app\/\{app_id\}\/expire-all` +\| yes +\|$/,
    );
    expect(row('operationalWebhookEndpoint.list')).toMatch(
      /^\| `operationalWebhookEndpoint\.list` +\| `GET \/api\/v1\/operational-webhook\/endpoint` +\| yes +\|$/,
    );
    expect(row('environment.export')).toMatch(
      /\| not built \(environment export and import; not planned\) +\|$/,
    );
  });
});
