/**
 * A PostgreSQL restart during a run: requests during the outage get 503 (and the client
 * retries them, as a real client would), nothing accepted is lost, and delivery resumes.
 * Runs alone (`npm test` runs it after the rest), since it restarts the machine's server;
 * only when asked to with HERALD_TEST_PG_RESTART=1 (`.ci/run` and `npm run chaos` ask), so
 * that a developer's `npm test` never restarts their own PostgreSQL.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase, PG_URL } from '../pg.js';
import { apiClient, startHerald } from '../serve.js';

const MESSAGES = Number(process.env.RESTART_MESSAGES ?? 4_000);
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
}, 60_000);

/** Restarts the server without blocking this process, so requests keep going meanwhile. */
function restartPostgres(): Promise<void> {
  const version = readdirSync('/etc/postgresql')[0]!;
  return new Promise((resolve, reject) =>
    execFile('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart'], (error) =>
      error ? reject(error) : resolve(),
    ),
  );
}

const why =
  process.env.HERALD_TEST_PG_RESTART !== '1'
    ? "it restarts this machine's PostgreSQL; HERALD_TEST_PG_RESTART=1 runs it"
    : !existsSync('/usr/bin/pg_ctlcluster') || !existsSync('/etc/postgresql')
      ? 'pg_ctlcluster is not on this machine'
      : null;
if (why) console.warn(`skipping the PostgreSQL restart test: ${why}`);

describe.skipIf(why !== null)('PostgreSQL restart', () => {
  it('loses nothing and resumes delivery', { timeout: 180_000 }, async () => {
    const firstSeen = new Map<string, number>();
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const id = String(req.headers['webhook-id']);
        if (!firstSeen.has(id)) firstSeen.set(id, Date.now());
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

    const db = await freshDatabase('restart');
    cleanups.push(db.drop);
    const herald = await startHerald(['--lease-ms', '10000', '--log-level', 'error'], {}, { db: db.url });
    cleanups.push(() => herald.stop());
    const client = apiClient(() => herald);
    cleanups.push(() => client.close());
    const post = client.post;
    expect((await post('/app', { name: 'r', uid: 'r' })).status).toBe(201);
    expect((await post('/app/r/endpoint', { url: receiverUrl })).status).toBe(201);

    const accepted = new Set<string>();
    const statuses = new Map<number, number>();
    let next = 0;
    let restarted = 0;
    const send = async () => {
      while (next < MESSAGES) {
        const n = next++;
        // Retry until accepted: a 503 means "not stored", so sending again cannot duplicate.
        for (;;) {
          const r = await post('/app/r/msg', { eventType: 'e', eventId: `m${n}`, payload: { n } }).catch(
            () => ({
              status: 0,
              body: '',
            }),
          );
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 202) {
            accepted.add((JSON.parse(r.body) as { id: string }).id);
            break;
          }
          // 409: an earlier try was stored after all (its answer was lost); it counts.
          if (r.status === 409) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };
    const senders = Promise.all(Array.from({ length: 8 }, send));
    while (accepted.size < MESSAGES / 3) await new Promise((resolve) => setTimeout(resolve, 20));
    const restartStarted = Date.now();
    await restartPostgres();
    restarted = Date.now();
    await senders;

    const deadline = Date.now() + 90_000;
    while (firstSeen.size < MESSAGES && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(firstSeen.size).toBe(MESSAGES);
    for (const id of accepted) expect(firstSeen.has(id)).toBe(true);
    const resumed = Math.min(...[...firstSeen.values()].filter((t) => t > restarted));
    console.log(
      `PostgreSQL restart: ${MESSAGES} delivered; answers ${JSON.stringify(Object.fromEntries(statuses))}; ` +
        `restart took ${restarted - restartStarted} ms; first delivery ${resumed - restarted} ms after it returned`,
    );
    // Reconnecting does not pile up connections: the pool (10) and one listener at most.
    const admin = new pg.Client(PG_URL);
    await admin.connect();
    const { rows } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
      [new URL(db.url).pathname.slice(1)],
    );
    await admin.end();
    console.log(`PostgreSQL restart: ${rows[0]!.n} connections held by herald afterwards`);
    expect(rows[0]!.n).toBeLessThanOrEqual(11);
    // The outage was seen (503s) and answered as "unavailable", never as another error.
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect([...statuses.keys()].every((s) => [202, 409, 503].includes(s))).toBe(true);
  });
});
