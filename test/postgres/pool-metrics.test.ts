/**
 * `herald_db_pool_connections` of `GET /metrics` on PostgreSQL: a pool of two connections
 * held on purpose (two queries waiting for a table lock this test's own session holds) makes
 * the next query wait for a connection, and the gauge says so (`waiting`, `idle` 0), in a
 * scrape that answers while the pool is still exhausted (its queue gauges, which need a
 * connection, give up after QUEUE_READ_MS of the injected clock and read NaN); once the
 * lock goes, the queries run and it reads 0 again. An idle Herald reads 0 waiting: the
 * scrape's own query is not counted.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { apiMetrics, QUEUE_READ_MS } from '../../src/metrics/api.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.js';
import { freshDatabase } from '../pg.js';

/** The value of `name{state="…"}` in Prometheus text. */
function sample(text: string, state: string, name = 'herald_db_pool_connections'): number {
  const m = new RegExp(`^${name}\\{state="${state}"\\} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${name}{state="${state}"} in:\n${text}`);
  return Number(m[1]);
}
const pool = (text: string, state: string) => sample(text, state);

let database: Awaited<ReturnType<typeof freshDatabase>>;
let store: PostgresStore;
let api: Awaited<ReturnType<typeof buildApi>>;
let url: string;
/** The metrics' clock: the queue read's deadline passes only when the test says. */
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  database = await freshDatabase('pool_metrics');
  store = await openPostgresStore({ url: database.url, poolSize: 2 });
  const metrics = apiMetrics(store, clock);
  api = await buildApi({
    store,
    metrics: { render: () => metrics.registry.metrics(), accepted: metrics.accepted, public: true },
  });
  url = `${await api.listen({ port: 0, host: '127.0.0.1' })}/metrics`;
});

afterAll(async () => {
  await api?.close();
  await store?.[Symbol.asyncDispose]();
  await database?.drop();
});

/** Resolves once `check` holds of the pool (read in this process: no query, no sleep-based guess). */
async function poolReaches(check: (s: { total: number; idle: number; waiting: number }) => boolean) {
  while (!check(store.poolStats())) await new Promise((resolve) => setImmediate(resolve));
}

describe('herald_db_pool_connections', () => {
  it('counts the queries waiting for a connection while the pool is exhausted, and 0 once it is not', async () => {
    const app = await store.createApplication({ name: 'pool' });
    // Both connections opened (a query also counts as waiting while its connection opens).
    await Promise.all([store.getApplication(app.id), store.getApplication(app.id)]);
    await poolReaches((s) => s.total === 2 && s.idle === 2);
    const idle = await (await fetch(url)).text();
    expect(pool(idle, 'waiting')).toBe(0);
    expect(pool(idle, 'open')).toBe(2);

    const locker = new pg.Client(database.url);
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE applications IN ACCESS EXCLUSIVE MODE');
      // Both connections of the pool taken, each by a read that waits for the lock.
      const holding = [store.getApplication(app.id), store.getApplication(app.id)];
      for (;;) {
        const { rows } = await locker.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'applications'::regclass",
        );
        if (Number(rows[0]!.n) === 2) break;
      }
      // A third finds no connection: it waits in the pool, not in the database.
      const queued = store.getApplication(app.id);
      await poolReaches((s) => s.waiting === 1);
      // The scrape reads the pool at once; its queue gauges wait for a connection too, until
      // their deadline: then it answers, the pool still exhausted.
      const scraped = fetch(url).then((res) => res.text());
      await poolReaches((s) => s.waiting === 2);
      clock.advance(QUEUE_READ_MS);
      const exhausted = await scraped;
      // The one queued (the scrape's own query is not counted: the pool is read before it).
      expect(pool(exhausted, 'waiting')).toBe(1);
      expect(pool(exhausted, 'open')).toBe(2);
      expect(pool(exhausted, 'idle')).toBe(0);
      // No reading of the queue, said as NaN (not 0, which would say nothing is late;
      // prom-client writes it `Nan`, which Prometheus reads, case-insensitive).
      expect(exhausted).toMatch(/^herald_deliveries_queued\{state="pending"\} nan$/im);
      expect(exhausted).toMatch(/^herald_oldest_due_delivery_age_seconds nan$/im);
      expect(store.poolStats()).toMatchObject({ total: 2, idle: 0 });
      await locker.query('COMMIT');
      expect((await Promise.all([...holding, queued])).map((a) => a?.id)).toEqual([app.id, app.id, app.id]);
    } finally {
      await locker.end();
    }

    const after = await (await fetch(url)).text();
    expect(pool(after, 'waiting')).toBe(0);
    expect(pool(after, 'open')).toBe(2);
    expect(sample(after, 'pending', 'herald_deliveries_queued')).toBe(0);
  });
});
