/**
 * The operator's search and the message log's status filter read an index, whatever the size
 * of the database: a message by id, eventId or idempotency key, endpoints by a URL range, and a
 * page of the messages with a failed or pending delivery, in message-id order with no sort of
 * every match. Asserted on each backend's query plan (bench/dashboard-queries.ts times them on
 * 1,000,000 messages).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ENDPOINTS_BY_URL as PG_ENDPOINTS_BY_URL } from '../../src/store/postgres/catalog.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { FIND_MESSAGES, messageListQuery as pgMessageList } from '../../src/store/postgres/messages.js';
import { ENDPOINTS_BY_URL } from '../../src/store/sqlite/catalog.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { messageListQuery, SEARCH_SQL } from '../../src/store/sqlite/messages.js';
import type { MessageFilter } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';
import { dropSchema, PG_URL } from '../pg.js';

const dir = tempDir();
const schema = `t${process.pid}_${Date.now().toString(36)}_search_plans`;
const hour = Date.UTC(2026, 0, 1);

/** Status filters alone and with what the dashboard combines them with, each a page after a cursor or not. */
const LISTS: [string, Omit<MessageFilter, 'appId'>, string | null][] = [
  ['failed', { deliveryStatus: 'failed' }, null],
  ['pending, after a cursor', { deliveryStatus: 'pending' }, 'msg_2zz'],
  ['failed, one event type', { deliveryStatus: 'failed', eventTypes: ['order.paid'] }, null],
  ['failed, last hour', { deliveryStatus: 'failed', after: hour, before: hour + 3_600_000 }, null],
];

afterAll(async () => {
  dir.remove();
  await dropSchema(schema);
});

describe('search and status-filter plans', () => {
  it('SQLite searches an index for each lookup, and pages the status filter on deliveries_by_app_status', async () => {
    const path = dir.path('plans.db');
    await openSqliteStore({ path })[Symbol.asyncDispose]();
    const db = new Database(path, { readonly: true });
    const plan = (sql: string, params: Record<string, unknown>) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[])
        .map((p) => p.detail)
        .join('\n');
    const key = { key: 'k', limit: 21 };
    expect(plan(SEARCH_SQL.byId, key)).toMatch(
      /SEARCH messages USING INDEX sqlite_autoindex_messages_1 \(id=\?\)/,
    );
    expect(plan(SEARCH_SQL.byEventId, key)).toMatch(
      /SEARCH messages USING INDEX messages_by_event_id \(event_id=\?\)/,
    );
    expect(plan(SEARCH_SQL.byIdempotencyKey, key)).toMatch(
      /SEARCH messages USING INDEX messages_by_idempotency_key \(idempotency_key=\?\)/,
    );
    const urls = plan(ENDPOINTS_BY_URL, { from: 'https://a/', to: 'https://a/\u{10FFFF}', limit: 21 });
    expect(urls).toMatch(/SEARCH endpoints USING INDEX endpoints_by_url \(url>\? AND url<\?\)/);
    for (const [what, filter, iterator] of LISTS) {
      const { sql, params } = messageListQuery('app_x', filter, { limit: 50, iterator });
      const details = plan(sql, params);
      expect(details, what).toMatch(
        /SEARCH d USING INDEX deliveries_by_app_status \(app_id=\? AND status=\?/,
      );
      expect(details, what).not.toMatch(/SCAN (d|m|messages|deliveries)\b/);
      expect(details, what).not.toContain('TEMP B-TREE');
    }
    db.close();
  });

  it('PostgreSQL reads an index for each lookup, and the status filter on deliveries_by_app_status with no Sort', async () => {
    await (await openPostgresStore({ url: PG_URL, schema }))[Symbol.asyncDispose]();
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await client.connect();
    try {
      await client.query('SET enable_seqscan = off');
      const cases: [string, string, unknown[], RegExp[]][] = [
        [
          'messages by id, eventId, idempotency key',
          FIND_MESSAGES,
          ['k', 21],
          [
            /Index (Only )?Scan using messages_pkey on messages/,
            /Index (Only )?Scan using messages_by_event_id on messages/,
            /Index (Only )?Scan using messages_by_idempotency_key on messages/,
          ],
        ],
        [
          'endpoints by URL',
          PG_ENDPOINTS_BY_URL,
          ['https://a/', 'https://a/\u{10FFFF}', 21],
          [/Index (Only )?Scan using endpoints_by_url on endpoints/],
        ],
        ...LISTS.map(([what, filter, iterator]): [string, string, unknown[], RegExp[]] => {
          const { sql, params } = pgMessageList('app_x', filter, { limit: 50, iterator });
          return [
            what,
            sql,
            params,
            [/Index (Only )?Scan (Backward )?using deliveries_by_app_status on deliveries d/],
          ];
        }),
      ];
      for (const [what, sql, args, expected] of cases) {
        // The custom plan of these values, then the generic plan a prepared statement settles on.
        for (const mode of ['force_custom_plan', 'force_generic_plan']) {
          await client.query(`SET plan_cache_mode = ${mode}`);
          await client.query(`PREPARE q AS ${sql}`);
          const literals = args.map((a) =>
            typeof a === 'number'
              ? a
              : Array.isArray(a)
                ? `ARRAY[${a.map((x) => `'${x}'`).join(',')}]`
                : `'${a}'`,
          );
          const { rows } = await client.query(`EXPLAIN EXECUTE q(${literals.join(', ')})`);
          await client.query('DEALLOCATE q');
          const text = rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
          for (const re of expected) expect(text, `${what} (${mode})`).toMatch(re);
          expect(text, `${what} (${mode})`).not.toMatch(/Seq Scan/);
          expect(text, `${what} (${mode})`).not.toMatch(/\bSort\b/);
        }
      }
    } finally {
      await client.end();
    }
  });
});
