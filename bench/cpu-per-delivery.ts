/**
 * CPU time of `herald serve` (every thread, from /proc) per end-to-end delivery, for one or
 * more builds run in turn, round after round: a measure that a busy machine moves less than
 * a rate. Each build is a checkout with `dist/` built (`npm run build`); its own
 * `bench/harness.ts` starts its `herald serve` on a fresh SQLite file and a receiver.
 *
 *   git worktree add /tmp/before d2c51d7 && ln -s "$PWD/node_modules" /tmp/before/ \
 *     && (cd /tmp/before && npm run build)
 *   npm run build && npx tsx bench/cpu-per-delivery.ts /tmp/before "$PWD"
 *
 * `N` (default 25,000) messages after `WARM_UP` (default 2,000) to warm up, from `LANES` (default 64) lanes to one endpoint;
 * `ROUNDS` (default 3). Prints each run, then each build's median [runs].
 *
 * `STORE=postgres` runs each build on a fresh PostgreSQL database (under
 * `HERALD_BENCH_PG_URL`, default postgres://postgres@127.0.0.1:5432/test): one
 * `herald serve --role api` and `WORKERS` (default 1) `--role worker` processes, and counts
 * Herald's CPU (API + workers) and PostgreSQL's apart: the sum of the backends serving the
 * bench database (their pids from `pg_stat_activity`, CPU from `/proc/<pid>/stat`).
 * `OWN_POSTGRES=1` runs them on a server of the bench's own instead (bench/own-postgres.ts:
 * PostgreSQL's defaults, autovacuum on, no other database on it, and no checkpoint during
 * the runs).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { PAYLOAD } from './e2e.js';
import type { HeraldServer } from './harness.js';
import { startOwnPostgres } from './own-postgres.js';

const N = Number(process.env.N ?? 25_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WARM_UP = Number(process.env.WARM_UP ?? 2_000);
const STORE = process.env.STORE ?? 'sqlite';
const WORKERS = Number(process.env.WORKERS ?? 1);
/** Requests the load generator keeps in flight (`LANES`, default 64): fewer for a lighter load. */
const LANES = Number(process.env.LANES ?? 64);
/** `OWN_POSTGRES=1`: a server of the bench's own (bench/own-postgres.ts), nothing else on it. */
const ownPostgres =
  STORE === 'postgres' && process.env.OWN_POSTGRES === '1'
    ? // No checkpoint inside a run: with the defaults two rounds of one build gave PostgreSQL CPU
      // 2 x apart (checkpoints' full-page writes likely).
      await startOwnPostgres({ max_wal_size: '16GB', checkpoint_timeout: '1h' })
    : null;
const PG_URL =
  ownPostgres?.url ?? process.env.HERALD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Clock ticks per second of /proc's CPU times (USER_HZ). */
const TICKS_PER_SECOND = 100;
const message = {
  eventType: 'content.published',
  payload: PAYLOAD,
};

/** CPU ticks the process has used, user and system, all threads. */
function ticks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU ticks of the PostgreSQL backends serving `database` now (0 for a backend gone). */
async function backendTicks(admin: pg.Client, database: string): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [database],
  );
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      out.set(pid, ticks(pid));
    } catch {
      // The backend ended between the query and the read.
    }
  }
  return out;
}

/** Ticks each backend used between two readings (the pool keeps its connections open). */
function backendDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, t] of after) sum += t - (before.get(pid) ?? t);
  return sum;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const roots = process.argv.slice(2).map((r) => resolve(r));
  if (roots.length === 0)
    throw new Error('usage: npx tsx bench/cpu-per-delivery.ts <checkout> [<checkout> …]');
  const runs = new Map<string, { us: number[]; pgUs: number[]; rate: number[] }>(
    roots.map((r) => [r, { us: [], pgUs: [], rate: [] }]),
  );
  const admin = new pg.Client(PG_URL);
  if (STORE === 'postgres') await admin.connect();
  for (let round = 0; round < ROUNDS; round++) {
    for (const root of roots) {
      const h = await import(pathToFileURL(`${root}/bench/harness.ts`).href);
      const receiver = await h.startReceiver();
      const database = `herald_cpu_${process.pid}_${round}_${roots.indexOf(root)}`;
      let herald: HeraldServer;
      let workers: { pid: number }[] = [];
      if (STORE === 'postgres') {
        await admin.query(`CREATE DATABASE ${database}`);
        const url = new URL(PG_URL);
        url.pathname = `/${database}`;
        herald = await h.startHerald(['--role', 'api', '--db', url.toString()]);
        workers = await Promise.all(Array.from({ length: WORKERS }, () => h.startWorker(url.toString())));
      } else herald = await h.startHerald();
      const pids = [herald.pid, ...workers.map((w) => w.pid!)];
      const heraldTicks = () => pids.reduce((sum, pid) => sum + ticks(pid), 0);
      try {
        const app = await herald.post('/app', { name: 'bench' });
        await herald.post(`/app/${app.id}/endpoint`, { url: `${receiver.url}?ep=0` });
        const send = () => herald.send(`/app/${app.id}/msg`, message);
        await h.lanes(WARM_UP, LANES, send);
        await h.until(receiver.count, WARM_UP);
        await receiver.reset();
        const before = heraldTicks();
        const eachBefore = pids.map(ticks);
        const pgBefore = STORE === 'postgres' ? await backendTicks(admin, database) : new Map();
        const started = performance.now();
        await h.lanes(N, LANES, send);
        await h.until(receiver.count, N);
        const seconds = (performance.now() - started) / 1000;
        const us = ((heraldTicks() - before) / TICKS_PER_SECOND / N) * 1e6;
        const each = pids.map((pid, i) =>
          (((ticks(pid) - eachBefore[i]!) / TICKS_PER_SECOND / N) * 1e6).toFixed(0),
        );
        const pgAfter = STORE === 'postgres' ? await backendTicks(admin, database) : new Map();
        const pgUs = (backendDelta(pgBefore, pgAfter) / TICKS_PER_SECOND / N) * 1e6;
        const r = runs.get(root)!;
        r.us.push(us);
        r.pgUs.push(pgUs);
        r.rate.push(N / seconds);
        console.log(
          `${root}: ${us.toFixed(0)} us Herald CPU per delivery${STORE === 'postgres' ? `, ${pgUs.toFixed(0)} us PostgreSQL` : ''}, ${(N / seconds).toFixed(0)}/s` +
            (pids.length > 1 ? ` (API ${each[0]}, workers ${each.slice(1).join(' + ')})` : ''),
        );
      } finally {
        await h.stopAll(workers);
        await herald.stop();
        await receiver.stop();
        if (STORE === 'postgres') await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      }
    }
  }
  if (STORE === 'postgres') await admin.end();
  const list = (xs: number[]) => xs.map((u) => u.toFixed(0)).join(', ');
  for (const [root, r] of runs)
    console.log(
      `${root}: median ${median(r.us).toFixed(0)} us Herald per delivery [${list(r.us)}]` +
        (STORE === 'postgres' ? `, PostgreSQL ${median(r.pgUs).toFixed(0)} [${list(r.pgUs)}]` : '') +
        `, median ${median(r.rate).toFixed(0)}/s`,
    );
}

try {
  await main();
} finally {
  await ownPostgres?.stop();
}
