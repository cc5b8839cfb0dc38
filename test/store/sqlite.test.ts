import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { IDEMPOTENCY_PRUNE_SQL } from '../../src/store/sqlite/access.js';
import { INBOUND_PRUNE_SQL } from '../../src/store/sqlite/inbound.js';
import {
  DUE_DELIVERIES_SQL,
  DUE_ENDPOINTS_SQL,
  DUE_OF_ENDPOINT_SQL,
  OLDEST_DUE_SQL,
  openSqliteStore,
  QUEUE_COUNTS_SQL,
} from '../../src/store/sqlite/index.js';
import { loadMigrations } from '../../src/store/sqlite/migrate.js';
import { tempDir } from '../helpers.js';
import { storeContract } from './contract.js';
import { expectMigratedLog, OLD_LOG, oldBody } from './old-inbound-log.js';

const dir = tempDir();
afterAll(() => dir.remove());
let n = 0;

storeContract('sqlite', async (clock, options) => {
  const path = dir.path(`contract-${n++}.db`);
  return {
    store: openSqliteStore({ path, clock, ...options }),
    reopen: async (again) => openSqliteStore({ path, clock, ...again }),
  };
});

describe('SQLite specifics', () => {
  it('runs in WAL mode and records each migration once in its ledger', async () => {
    const path = dir.path('ledger.db');
    const clock = new ManualClock();
    await openSqliteStore({ path, clock })[Symbol.asyncDispose]();
    await openSqliteStore({ path, clock })[Symbol.asyncDispose]();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT version, name FROM herald_migrations').all()).toEqual([
      { version: 1, name: '001_initial.sql' },
      { version: 2, name: '002_api.sql' },
      { version: 3, name: '003_inbound.sql' },
      { version: 4, name: '004_claim_by_endpoint.sql' },
      { version: 5, name: '005_inbound_retention.sql' },
      { version: 6, name: '006_forget_stored_tokens.sql' },
      { version: 7, name: '007_deliveries_by_endpoint_msg.sql' },
      { version: 8, name: '008_message_parity.sql' },
      { version: 9, name: '009_background_tasks.sql' },
      { version: 10, name: '010_token_expiry.sql' },
      { version: 11, name: '011_deliveries_by_endpoint.sql' },
      { version: 12, name: '012_operational_webhooks.sql' },
      { version: 13, name: '013_health_probe.sql' },
      { version: 14, name: '014_trace_context.sql' },
      { version: 15, name: '015_filters_transformations.sql' },
      { version: 16, name: '016_listeners.sql' },
      { version: 17, name: '017_inbound_body_retention.sql' },
      { version: 19, name: '019_activity.sql' },
      { version: 20, name: '020_search.sql' },
      { version: 21, name: '021_failure_groups.sql' },
    ]);
    db.close();
  });

  it('serves the claim queries from the due indexes, never scanning deliveries', async () => {
    const path = dir.path('plan.db');
    await openSqliteStore({ path })[Symbol.asyncDispose]();
    const db = new Database(path, { readonly: true });
    for (const [sql, params, index] of [
      [DUE_DELIVERIES_SQL, [1, 10], 'deliveries_due'],
      [DUE_ENDPOINTS_SQL, ['["ep_x"]', 1, 10], 'deliveries_endpoint_due'],
      [DUE_OF_ENDPOINT_SQL, ['ep_x', 1, 10], 'deliveries_endpoint_due'],
      // What /metrics reads at each scrape.
      [QUEUE_COUNTS_SQL, [], 'deliveries_due'],
      [OLDEST_DUE_SQL, [1], 'deliveries_due'],
    ] as const) {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
      const details = plan.map((p) => p.detail).join('\n');
      expect(details).toContain(`USING INDEX ${index}`);
      expect(details).not.toMatch(/SCAN d\b/);
    }
    db.close();
  });

  it('finds what inbound retention deletes through indexes, never scanning the request log', async () => {
    const path = dir.path('inbound-plan.db');
    await openSqliteStore({ path })[Symbol.asyncDispose]();
    const db = new Database(path, { readonly: true });
    for (const [sql, index] of [
      [INBOUND_PRUNE_SQL.ofSource, 'inbound_by_seq'],
      [INBOUND_PRUNE_SQL.expired, 'inbound_by_time'],
      [INBOUND_PRUNE_SQL.overCap, 'inbound_by_seq'],
      [INBOUND_PRUNE_SQL.expireBodies, 'inbound_bodies_by_time'],
      [IDEMPOTENCY_PRUNE_SQL, 'idempotency_by_time'],
    ] as const) {
      const params = Array.from(sql.matchAll(/\?/g), () => 1);
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
      const details = plan.map((p) => p.detail).join('\n');
      expect(details).toMatch(new RegExp(`USING (?:COVERING )?INDEX ${index}\\b`));
      expect(details).not.toMatch(/SCAN (inbound_requests|idempotency_keys|r)\b/);
    }
    db.close();
  });

  it('migrates a request log written before retention (005_inbound_retention.sql)', async () => {
    const path = dir.path('old-inbound.db');
    const db = new Database(path);
    db.exec(`CREATE TABLE herald_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
    for (const m of loadMigrations().filter((m) => m.version < 5)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO herald_migrations VALUES (?, ?, 0)').run(m.version, m.name);
    }
    const { app, source, requests } = OLD_LOG;
    db.prepare('INSERT INTO applications (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)').run(
      app.id,
      app.name,
      app.createdAt,
      app.createdAt,
    );
    db.prepare(
      `INSERT INTO sources (id, name, provider, secrets, app_id, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 1, 1)`,
    ).run(source.id, source.name, source.provider, source.secrets, app.id);
    const insert = db.prepare(
      `INSERT INTO inbound_requests (id, source_id, status, reason, headers, body, created_at)
       VALUES (?, ?, ?, ?, '{}', ?, ?)`,
    );
    for (const [i, r] of requests.entries())
      insert.run(r.id, source.id, r.status, r.reason, oldBody(i, r.body), i + 1);
    db.close();
    const store = openSqliteStore({ path, clock: new ManualClock(), inboundRetention: { maxPerSource: 3 } });
    try {
      await expectMigratedLog(store);
    } finally {
      await store[Symbol.asyncDispose]();
    }
  });
});
