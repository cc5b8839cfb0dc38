/**
 * A backlog drained on PostgreSQL by a worker whose plans were made on a quiet queue's
 * statistics (issue 22): `FILL` (default 100,000) messages delivered end to end (one
 * `--role api`, one `--role worker` process, a fresh database on `HERALD_BENCH_PG_URL`), then
 * `VACUUM ANALYZE` (the statistics of a queue with almost nothing due) and 2,000 more, so that
 * the worker's sessions plan their claims on them; then the worker is stopped (SIGSTOP) while
 * `BACKLOG` (default 100,000) messages are accepted, and resumed (SIGCONT). Prints the drain
 * rate every 2 s and the whole drain's time. `MODE=fresh` starts a new worker instead of
 * resuming the stopped one.
 *
 *   npm run build && npx tsx bench/pg-backlog.ts
 */
import pg from 'pg';
import { PAYLOAD } from './e2e.js';
import { lanes, startHerald, startReceiver, startWorker, stopAll, until } from './harness.js';

const BASE = process.env.HERALD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const FILL = Number(process.env.FILL ?? 100_000);
const BACKLOG = Number(process.env.BACKLOG ?? 100_000);
const mode = process.env.MODE ?? 'frozen';
const name = `herald_zz_${Date.now().toString(36)}`;
const admin = new pg.Client(BASE);
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const dbUrl = new URL(BASE);
dbUrl.pathname = `/${name}`;
const url = dbUrl.toString();
const receiver = await startReceiver();
const herald = await startHerald(['--role', 'api', '--db', url]);
let worker = await startWorker(url);
const message = { eventType: 'content.published', payload: PAYLOAD };
try {
  const app = await herald.post('/app', { name: 'b' });
  await herald.post(`/app/${app.id}/endpoint`, { url: `${receiver.url}?ep=0` });
  const send = () => herald.send(`/app/${app.id}/msg`, message);
  await lanes(FILL, 64, send);
  await until(receiver.count, FILL);
  const db = new pg.Client(url);
  await db.connect();
  await db.query('VACUUM ANALYZE');
  // Plans made on these statistics (few due rows): a little more load.
  await lanes(2_000, 64, send);
  await until(receiver.count, FILL + 2_000);
  if (mode === 'fresh') {
    await stopAll([worker]);
  } else process.kill(worker.pid!, 'SIGSTOP');
  await lanes(BACKLOG, 64, send);
  const t0 = performance.now();
  if (mode === 'fresh') worker = await startWorker(url);
  else process.kill(worker.pid!, 'SIGCONT');
  let last = FILL + 2_000;
  let lastT = t0;
  const target = FILL + 2_000 + BACKLOG;
  while (last < target) {
    await new Promise((r) => setTimeout(r, 2_000));
    const n = await receiver.count();
    const t = performance.now();
    console.log(
      `${((t - t0) / 1000).toFixed(0)} s: ${n - FILL - 2_000} drained, ${Math.round(((n - last) / (t - lastT)) * 1000)}/s`,
    );
    last = n;
    lastT = t;
  }
  console.log(`${mode}: drained ${BACKLOG} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const { rows } = await db.query(
    "SELECT relname, last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relname IN ('deliveries','messages')",
  );
  console.log(rows);
  await db.end();
} finally {
  // A worker still stopped would never hear the SIGTERM that ends it.
  if (mode !== 'fresh') process.kill(worker.pid!, 'SIGCONT');
  await stopAll([worker]);
  await herald.stop();
  await receiver.stop();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
