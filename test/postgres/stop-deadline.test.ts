/**
 * A stop that cannot finish does not keep `herald serve` alive: here PostgreSQL never grants
 * the lock that the dispatcher's last statements need, and after its 30 s deadline the
 * process says so and exits 1, so that a supervisor can restart it (its leases expire and
 * another worker takes its deliveries).
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../helpers.js';
import { freshDatabase } from '../pg.js';
import { startHerald } from '../serve.js';

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('herald serve stop deadline', () => {
  it('exits 1, saying why, when a stop still hangs after 30 s', async () => {
    const db = await freshDatabase('stopdeadline');
    cleanups.push(db.drop);
    const herald = await startHerald([], {}, { db: db.url });
    cleanups.push(() => herald.stop());
    // An attempt in flight that never gets an answer: the stop aborts it and must give its
    // delivery back, a write to deliveries. (An idle dispatcher has nothing to write: its stop
    // needs no lock and finishes at once.)
    const hanging = await startReceiver(() => undefined);
    cleanups.push(() => hanging.close());
    const app = await herald.post('/app', { name: 'stop' });
    await herald.post(`/app/${app.id}/endpoint`, { url: hanging.url });
    await herald.post(`/app/${app.id}/msg`, { eventType: 'e', payload: {} });
    await hanging.arrived(1);
    const locker = new pg.Client(db.url);
    await locker.connect();
    cleanups.push(() => locker.end());
    await locker.query('BEGIN');
    // Every read and write of deliveries now waits, for as long as this transaction lasts.
    await locker.query('LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE');

    const signalled = Date.now();
    const exited = new Promise<number | null>((resolve) => herald.child.once('exit', resolve));
    herald.child.kill('SIGTERM');
    const bound = new Promise<'still running'>((resolve) =>
      setTimeout(() => resolve('still running'), 60_000),
    );
    const code = await Promise.race([exited, bound]);
    const waited = Date.now() - signalled;
    await locker.query('ROLLBACK');

    expect(code).toBe(1);
    expect(herald.output()).toMatch(/not stopped after 30 s, exiting/);
    // Not before the deadline: a stop that can finish gets its 30 s.
    expect(waited).toBeGreaterThanOrEqual(29_000);
  }, 90_000);
});
