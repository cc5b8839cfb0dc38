import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import {
  DUE_DELIVERIES_SQL,
  DUE_ENDPOINTS_SQL,
  DUE_OF_ENDPOINT_SQL,
  openSqliteStore,
} from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers.js';
import { storeContract } from './contract.js';

const dir = tempDir();
afterAll(() => dir.remove());
let n = 0;

storeContract('sqlite', async (clock) => {
  const path = dir.path(`contract-${n++}.db`);
  return { store: openSqliteStore({ path, clock }), reopen: async () => openSqliteStore({ path, clock }) };
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
      { version: 6, name: '006_forget_stored_tokens.sql' },
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
    ] as const) {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
      const details = plan.map((p) => p.detail).join('\n');
      expect(details).toContain(`USING INDEX ${index}`);
      expect(details).not.toMatch(/SCAN d\b/);
    }
    db.close();
  });
});
