/**
 * Sustained load (issue 22): what the tenth minute looks like, not the first. For each store,
 * a `herald serve` (SQLite: one process; PostgreSQL: one `--role api` and one `--role
 * worker` on a fresh database), one endpoint on a receiver process; first its capacity,
 * from 64 lanes for `--capacity-seconds`; then messages at `--load` (0.7) of it, paced,
 * for `--duration`; per interval (a minute by default): deliveries, the p99 and max latency
 * from the POST sent to the receiver's arrival (each payload carries its `sentAt`), the
 * backlog (sent, not yet arrived), CPU µs per delivery of Herald (+ PostgreSQL's serving
 * backends), and the store's size: on PostgreSQL, the queue tables' total size, dead
 * tuples and autovacuum runs (`pg_stat_user_tables`), the WAL written, checkpoints and
 * vacuums running at the interval's end (`pg_stat_bgwriter`, `pg_stat_progress_vacuum`); on SQLite, the file's pages and free
 * pages (and the WAL's size). Loopback only; every loop ends by itself.
 *
 *   npm run build && npx tsx bench/sustained.ts                       # 10 min per store
 *   npm run build && DURATION=120 npx tsx bench/sustained.ts --stores sqlite
 *   npx tsx bench/sustained.ts --duration 300 --interval 30 --load 0.7
 *   npx tsx bench/sustained.ts --stores postgres --own-postgres   # a server of its own, autovacuum on
 *
 * Verdicts: the last interval's deliveries ≥ 0.9 × the first's, and its p99 ≤ 1.5 × the
 * first's (the first interval includes the warm-up, so both are measured from the second
 * interval when there are at least four). On PostgreSQL it says whether the server runs
 * autovacuum at all: Herald's per-table settings act only where it does.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { type Cost, startCost } from './cost.js';
import { PAYLOAD } from './e2e.js';
import { type HeraldServer, lanes, startHerald, startReceiver, startWorker, stopAll } from './harness.js';
import { startOwnPostgres } from './own-postgres.js';
import { quantile } from './proc.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: process.env.DURATION ?? '600' },
    interval: { type: 'string', default: process.env.INTERVAL ?? '60' },
    'capacity-seconds': { type: 'string', default: '20' },
    load: { type: 'string', default: '0.7' },
    stores: { type: 'string', default: 'postgres,sqlite' },
    /** PostgreSQL on a server the bench starts itself (bench/own-postgres.ts), with autovacuum. */
    'own-postgres': { type: 'boolean', default: false },
    pg: {
      type: 'string',
      default: process.env.HERALD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
  },
});
const DURATION = Number(values.duration);
const INTERVAL = Number(values.interval);
const CAPACITY_SECONDS = Number(values['capacity-seconds']);
const LOAD = Number(values.load);
const STORES = values.stores.split(',');
if (!(DURATION > 0 && INTERVAL > 0 && CAPACITY_SECONDS > 0 && LOAD > 0 && LOAD <= 1))
  throw new Error('--duration, --interval, --capacity-seconds must be positive, --load in (0, 1]');
for (const s of STORES)
  if (s !== 'postgres' && s !== 'sqlite') throw new Error(`--stores: unknown store ${s}`);

/** The queue tables whose size and dead tuples are followed on PostgreSQL. */
const QUEUE_TABLES = ['messages', 'deliveries', 'attempts'];
const now = () => performance.timeOrigin + performance.now();
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One interval's figures. */
interface Row {
  minute: number;
  sent: number;
  deliveries: number;
  p99: number;
  max: number;
  backlog: number;
  cpu: Cost;
  store: string;
}

/** The store's size now, as one line. */
type Sizer = () => Promise<string>;

function pgSizer(client: pg.Client): Sizer {
  /** The WAL position and checkpoint count at the end of the interval before. */
  let before: { lsn: string; checkpoints: number } | null = null;
  return async () => {
    const server = (
      await client.query<{ lsn: string; checkpoints: string; vacuums: string }>(
        `SELECT pg_current_wal_lsn()::text AS lsn, checkpoints_timed + checkpoints_req AS checkpoints,
                (SELECT count(*) FROM pg_stat_progress_vacuum) AS vacuums
           FROM pg_stat_bgwriter`,
      )
    ).rows[0]!;
    const wal = before
      ? Number(
          (await client.query<{ d: string }>('SELECT pg_wal_lsn_diff($1, $2) AS d', [server.lsn, before.lsn]))
            .rows[0]!.d,
        )
      : null;
    const checkpoints = before ? Number(server.checkpoints) - before.checkpoints : null;
    before = { lsn: server.lsn, checkpoints: Number(server.checkpoints) };
    const serverLine =
      wal === null
        ? ''
        : `; WAL +${(wal / 2 ** 20).toFixed(0)} MiB, ${checkpoints} checkpoint(s), ${server.vacuums} vacuum(s) running`;
    const { rows } = await client.query<{
      relname: string;
      bytes: string;
      dead: string;
      autovacuums: string;
      last: Date | null;
    }>(
      `SELECT relname, pg_total_relation_size(relid) AS bytes, n_dead_tup AS dead,
              autovacuum_count AS autovacuums, last_autovacuum AS last
         FROM pg_stat_user_tables WHERE relname = ANY($1) ORDER BY relname`,
      [QUEUE_TABLES],
    );
    const total = rows.reduce((a, r) => a + Number(r.bytes), 0);
    return `${(total / 2 ** 20).toFixed(1)} MiB; ${rows
      .map(
        (r) =>
          `${r.relname} ${(Number(r.bytes) / 2 ** 20).toFixed(1)} MiB, ${fmt(Number(r.dead))} dead, ` +
          `${r.autovacuums} autovacuum(s)${r.last ? ` (last ${r.last.toISOString().slice(11, 19)})` : ''}`,
      )
      .join('; ')}${serverLine}`;
  };
}

function sqliteSizer(path: string): Sizer {
  return async () => {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      const pages = db.pragma('page_count', { simple: true }) as number;
      const free = db.pragma('freelist_count', { simple: true }) as number;
      const size = db.pragma('page_size', { simple: true }) as number;
      let wal = 0;
      try {
        wal = statSync(`${path}-wal`).size;
      } catch {
        // no WAL file at this moment
      }
      return `${((pages * size) / 2 ** 20).toFixed(1)} MiB; ${fmt(pages)} pages, ${fmt(free)} free; WAL ${(wal / 2 ** 20).toFixed(1)} MiB`;
    } finally {
      db.close();
    }
  };
}

interface Setup {
  herald: HeraldServer;
  procs: { role: string; pid: number }[];
  pgUrl?: string;
  size: Sizer;
  close(): Promise<void>;
}

async function setUp(store: string): Promise<Setup> {
  if (store === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'herald-sustained-'));
    const path = join(dir, 'herald.db');
    const herald = await startHerald(['--db', path]);
    return {
      herald,
      procs: [{ role: 'herald serve', pid: herald.pid }],
      size: sqliteSizer(path),
      close: async () => {
        await herald.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `herald_sustained_${process.pid}_${Date.now().toString(36)}`;
  const own = values['own-postgres'] ? await startOwnPostgres({ autovacuum: 'on' }) : null;
  const base = own?.url ?? values.pg;
  const admin = new pg.Client(base);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  const herald = await startHerald(['--role', 'api', '--db', url.toString()]);
  const worker = await startWorker(url.toString());
  const stats = new pg.Client(url.toString());
  await stats.connect();
  // Herald's per-table autovacuum settings only act where the server runs autovacuum.
  const { rows } = await stats.query<{ autovacuum: string; naptime: string }>(
    "SELECT current_setting('autovacuum') AS autovacuum, current_setting('autovacuum_naptime') AS naptime",
  );
  console.error(`postgres: the server's autovacuum is ${rows[0]!.autovacuum} (naptime ${rows[0]!.naptime})`);
  return {
    herald,
    procs: [
      { role: 'herald api', pid: herald.pid },
      { role: 'herald worker 1', pid: worker.pid! },
    ],
    pgUrl: url.toString(),
    size: pgSizer(stats),
    close: async () => {
      await stats.end();
      await stopAll([worker]);
      await herald.stop();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
      await own?.stop();
    },
  };
}

async function sustained(store: string): Promise<Row[]> {
  const receiver = await startReceiver('latency');
  const setup = await setUp(store);
  const { herald } = setup;
  try {
    const app = await herald.post('/app', { name: 'sustained' });
    await herald.post(`/app/${app.id}/endpoint`, { url: `${receiver.url}?ep=0` });
    const send = () =>
      herald.send(`/app/${app.id}/msg`, {
        eventType: 'content.published',
        payload: { ...PAYLOAD, sentAt: now() },
      });
    const arrived = async () => (await receiver.latencies()).length;

    // Capacity: 64 lanes for CAPACITY_SECONDS, then until every message has arrived.
    await lanes(2_000, 64, send);
    let received = 0;
    while (received < 2_000) {
      received += await arrived();
      await sleep(50);
    }
    const started = performance.now();
    let sent = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (performance.now() - started < CAPACITY_SECONDS * 1000) {
          sent++;
          await send();
        }
      }),
    );
    received = 0;
    const drainBy = Date.now() + 120_000;
    while (received < sent && Date.now() < drainBy) {
      received += await arrived();
      await sleep(20);
    }
    const capacity = received / ((performance.now() - started) / 1000);
    const rate = LOAD * capacity;
    console.error(
      `${store}: capacity ${fmt(capacity)} deliveries/s over ${CAPACITY_SECONDS} s; sending ${fmt(rate)}/s for ${DURATION} s`,
    );

    // Paced sending, wall-clock: a slow tick is caught up, not stretched.
    const rows: Row[] = [];
    let total = 0;
    let delivered = 0;
    let failed = 0;
    let cost = await startCost(setup.procs, setup.pgUrl, 100);
    const t0 = performance.now();
    let intervalSent = 0;
    let nextReport = t0 + INTERVAL * 1000;
    const end = t0 + DURATION * 1000;
    /** Ends an interval: its latencies, CPU and the store's size, printed as it goes. */
    async function report(minute: number): Promise<Row> {
      const latencies = await receiver.latencies();
      delivered += latencies.length;
      const cpu = await cost(Math.max(1, latencies.length));
      cost = await startCost(setup.procs, setup.pgUrl, 100);
      const row: Row = {
        minute,
        sent: intervalSent,
        deliveries: latencies.length,
        p99: quantile(latencies, 0.99),
        max: latencies.at(-1) ?? Number.NaN,
        backlog: total - delivered,
        cpu,
        store: await setup.size(),
      };
      intervalSent = 0;
      console.error(
        `  ${store} interval ${minute}: ${fmt(row.sent)} sent, ${fmt(row.deliveries)} delivered, p99 ${row.p99.toFixed(0)} ms, ` +
          `max ${row.max.toFixed(0)} ms, backlog ${fmt(row.backlog)}, CPU µs per delivery ${fmt(cpu.sender)}` +
          `${cpu.pg === null ? '' : ` + PostgreSQL ${fmt(cpu.pg)}`}, other processes ${fmt(cpu.other)}, ` +
          `machine ${Math.round(100 * cpu.idle)} % idle; ${row.store}`,
      );
      return row;
    }
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - t0) / 1000) * rate);
      while (total < due) {
        total++;
        intervalSent++;
        send().catch(() => failed++);
      }
      if (performance.now() >= nextReport) {
        rows.push(await report(rows.length + 1));
        nextReport += INTERVAL * 1000;
      }
      await sleep(5);
    }
    // The last partial interval, when the duration is not a whole number of intervals.
    if (rows.length < Math.ceil(DURATION / INTERVAL)) rows.push(await report(rows.length + 1));
    await cost(1);
    // Drain what is left, bounded.
    const drainEnd = Date.now() + 120_000;
    while (delivered < total && Date.now() < drainEnd) {
      delivered += await arrived();
      await sleep(50);
    }
    console.error(
      `  ${store}: ${fmt(total)} sent, ${fmt(delivered)} delivered after the drain, ${failed} POSTs failed`,
    );
    print(store, capacity, rate, rows, total, delivered, failed);
    return rows;
  } finally {
    await setup.close();
    await receiver.stop();
  }
}

function print(
  store: string,
  capacity: number,
  rate: number,
  rows: Row[],
  total: number,
  delivered: number,
  failed: number,
): void {
  console.log(
    `\n${store === 'sqlite' ? 'SQLite' : 'PostgreSQL (1 API + 1 worker process)'}: capacity ${fmt(capacity)} deliveries/s, ` +
      `sent at ${fmt(rate)}/s (${LOAD}) for ${DURATION} s, intervals of ${INTERVAL} s\n`,
  );
  console.log(
    '| interval | sent | delivered | p99 ms | max ms | backlog | CPU µs per delivery | other processes, µs per delivery | machine idle | store |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(
      `| ${r.minute} | ${fmt(r.sent)} | ${fmt(r.deliveries)} | ${r.p99.toFixed(0)} | ${r.max.toFixed(0)} | ${fmt(r.backlog)} | ` +
        `${fmt(r.cpu.sender)}${r.cpu.pg === null ? '' : ` + ${fmt(r.cpu.pg)}`} | ${fmt(r.cpu.other)} | ${Math.round(100 * r.cpu.idle)} % | ${r.store} |`,
    );
  // The first interval holds the warm-up; with four or more, compare from the second.
  const whole = rows.filter((r) => r.sent > 0.9 * rate * INTERVAL);
  const first = whole.length >= 4 ? whole[1]! : whole[0];
  const last = whole.at(-1);
  if (!first || !last || first === last) {
    console.log('Too few whole intervals for a verdict.');
    return;
  }
  const throughput = last.deliveries / first.deliveries;
  const p99 = last.p99 / first.p99;
  console.log(
    `\nVerdicts (interval ${first.minute} against ${last.minute}): throughput last/first ${throughput.toFixed(2)} ` +
      `(${throughput >= 0.9 ? 'met' : 'NOT met'}, target ≥ 0.9); p99 last/first ${p99.toFixed(2)} ` +
      `(${first.p99.toFixed(0)} → ${last.p99.toFixed(0)} ms; ${p99 <= 1.5 ? 'flat' : 'NOT flat'}, taken as ≤ 1.5); ` +
      `${fmt(total)} sent, ${fmt(delivered)} delivered, ${failed} POSTs failed`,
  );
  // A throughput that recovers after falling behind passes the ratio; the backlog says it.
  const worst = Math.max(...rows.map((r) => r.backlog));
  console.log(
    `Kept up: the largest backlog at an interval's end ${fmt(worst)} messages, ${(worst / rate).toFixed(1)} s of sending ` +
      `(${worst <= 5 * rate ? 'kept up' : 'fell behind'}, taken as ≤ 5 s)`,
  );
}

for (const store of STORES) await sustained(store);
