/**
 * The background tasks' batches read at most their limit of rows on an index in id order,
 * whatever the size of the endpoint or application: no sort of every row it has (which, inside
 * the batch's write transaction, holds up ingest). Asserted on each backend's query plan.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DELIVERIES_AFTER, MESSAGES_AFTER, REPLAY_CANDIDATES } from '../../src/store/postgres/deliveries.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { BATCH_SQL, openSqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers.js';
import { dropSchema, PG_URL } from '../pg.js';

const dir = tempDir();
const schema = `t${process.pid}_${Date.now().toString(36)}_plans`;

afterAll(async () => {
  dir.remove();
  await dropSchema(schema);
});

describe('background-task batch plans', () => {
  it('SQLite reads each batch on an index in id order, without a temp B-tree', async () => {
    const path = dir.path('plans.db');
    await openSqliteStore({ path })[Symbol.asyncDispose]();
    const db = new Database(path, { readonly: true });
    const params = { endpointId: 'ep_x', appId: 'app_x', after: 'dlv_0', limit: 500 };
    for (const [name, index] of [
      ['deliveriesAfter', 'deliveries_by_endpoint'],
      ['messagesAfter', 'messages_by_app'],
      ['replayCandidates', 'deliveries_by_endpoint'],
    ] as const) {
      for (const before of [null, 'dlv_z']) {
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${BATCH_SQL[name]}`).all({ ...params, before }) as {
          detail: string;
        }[];
        const details = plan.map((p) => p.detail).join('\n');
        expect(details, name).toMatch(
          new RegExp(`USING (COVERING )?INDEX ${index} \\(\\w+=\\? AND id>\\?\\)`),
        );
        expect(details, name).not.toContain('TEMP B-TREE');
      }
    }
    db.close();
  });

  it('PostgreSQL reads each batch on an index scan with no Sort node', async () => {
    await (await openPostgresStore({ url: PG_URL, schema }))[Symbol.asyncDispose]();
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await client.connect();
    try {
      await client.query('SET enable_seqscan = off');
      for (const [name, sql, index, args] of [
        ['recover', DELIVERIES_AFTER, 'deliveries_by_endpoint', ['ep_x', 'dlv_0', 'dlv_z', 500]],
        ['recover, no end', DELIVERIES_AFTER, 'deliveries_by_endpoint', ['ep_x', 'dlv_0', null, 500]],
        ['replay-missing', MESSAGES_AFTER, 'messages_by_app', ['app_x', 'msg_0', 'msg_z', 500, 'ep_x']],
        ['replay-missing, no end', MESSAGES_AFTER, 'messages_by_app', ['app_x', 'msg_0', null, 500, 'ep_x']],
        ['bulk replay', REPLAY_CANDIDATES, 'deliveries_by_endpoint', ['ep_x', 'dlv_0', 500]],
      ] as const) {
        // The custom plan of these values, then the generic plan a prepared statement settles on.
        for (const mode of ['force_custom_plan', 'force_generic_plan']) {
          await client.query(`SET plan_cache_mode = ${mode}`);
          await client.query(`PREPARE batch AS ${sql}`);
          const literals = args.map((a) => (a === null ? 'NULL' : typeof a === 'number' ? a : `'${a}'`));
          const { rows } = await client.query(`EXPLAIN EXECUTE batch(${literals.join(', ')})`);
          await client.query('DEALLOCATE batch');
          const plan = rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
          expect(plan, `${name} (${mode})`).toMatch(new RegExp(`Index (Only )?Scan using ${index} on`));
          expect(plan, `${name} (${mode})`).not.toMatch(/\bSort\b/);
        }
      }
    } finally {
      await client.end();
    }
  });
});
