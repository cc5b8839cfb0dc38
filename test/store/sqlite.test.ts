import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { dueDeliveriesSql, openSqliteStore } from '../../src/store/sqlite/index.js';
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
    ]);
    db.close();
  });

  it('serves the claim query from the due index, without a table scan', async () => {
    const path = dir.path('plan.db');
    await openSqliteStore({ path })[Symbol.asyncDispose]();
    const db = new Database(path, { readonly: true });
    for (const [skip, params] of [
      [false, [1, 10]],
      [true, [1, '["ep_x"]', 10]],
    ] as const) {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${dueDeliveriesSql(skip)}`).all(...params) as {
        detail: string;
      }[];
      const details = plan.map((p) => p.detail).join('\n');
      expect(details).toContain('USING INDEX deliveries_due');
      expect(details).not.toMatch(/SCAN d\b(?! USING)/);
    }
    db.close();
  });
});
