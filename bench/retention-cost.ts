/**
 * What payload retention costs the delivery throughput while it runs (issue 16: "the bench's
 * throughput unchanged while it runs"). `herald serve` starts on a database holding a
 * backlog of `BACKLOG` messages 100 days old (another application, no endpoint: nothing to
 * deliver, only payloads to expunge), then delivers `N` new messages end to end (64 lanes to
 * one endpoint on 127.0.0.1, after 2,000 to warm up), in two set-ups run in turn:
 *
 * - `retention off`: `--retention-days 0`, the backlog stays as it is;
 * - `expunging`: the default `--retention-days 90`: the payload sweep, started with the
 *   server, expunges the backlog in batches of 200 while the deliveries run.
 *
 *   npm run build && npx tsx bench/retention-cost.ts
 *
 * `BACKLOG` (default 200,000), `N` (default 10,000), `ROUNDS` (default 3), `STORES` (default
 * `sqlite`; `sqlite,postgres` for both), `HERALD_BENCH_PG_URL` (default
 * postgres://postgres@127.0.0.1:5432/test) for the databases it creates and drops. Each run
 * counts the backlog payloads still held when the timed deliveries start and end: a run whose
 * sweep finished before the end says so (`swept out`), its window only partly covered.
 * Prints each run, then per store and set-up the median deliveries/s [min-max].
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { ManualClock } from '../src/core/clock.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { Store } from '../src/store/store.js';
import { PAYLOAD } from './e2e.js';
import { lanes, startHerald, startReceiver, until } from './harness.js';

const BACKLOG = Number(process.env.BACKLOG ?? 200_000);
const N = Number(process.env.N ?? 10_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const STORES = (process.env.STORES ?? 'sqlite').split(',');
const PG_URL = process.env.HERALD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const WARM_UP = 2_000;
const DAY_MS = 86_400_000;
const message = { eventType: 'content.published', payload: PAYLOAD };

type Setup = 'retention off' | 'expunging';
const SETUPS: Setup[] = ['retention off', 'expunging'];
const ARGS: Record<Setup, string[]> = { 'retention off': ['--retention-days', '0'], expunging: [] };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Writes the backlog through the store, on a clock 100 days back, in concurrent group commits. */
async function writeBacklog(store: Store): Promise<void> {
  const app = await store.createApplication({ name: 'backlog' });
  const payload = JSON.stringify(PAYLOAD);
  await lanes(BACKLOG, 256, async () => {
    await store.acceptMessage({ appId: app.id, eventType: 'content.published', payload });
  });
}

const backClock = () => new ManualClock(Date.now() - 100 * DAY_MS);

/** A database holding the backlog: `open()` gives a fresh copy of it for one run. */
interface Backlog {
  /** A copy for one run: its `--db`, the backlog payloads it still holds, and its removal. */
  open(): Promise<{ db: string; held: () => Promise<number>; drop: () => Promise<void> }>;
  drop(): Promise<void>;
}

const HELD_SQL = `SELECT count(*) AS n FROM messages m JOIN applications a ON a.id = m.app_id
  WHERE a.name = 'backlog' AND m.expunged_at IS NULL`;

async function sqliteBacklog(): Promise<Backlog> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-retention-'));
  const file = join(dir, 'backlog.db');
  const store = openSqliteStore({ path: file, clock: backClock() });
  await writeBacklog(store);
  await store[Symbol.asyncDispose](); // checkpoints: the file alone holds it
  let copies = 0;
  return {
    async open() {
      const db = join(dir, `run-${copies++}.db`);
      copyFileSync(file, db);
      const reader = new Database(db, { readonly: true, fileMustExist: true });
      return {
        db,
        held: async () => (reader.prepare(HELD_SQL).get() as { n: number }).n,
        drop: async () => {
          reader.close();
          for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
        },
      };
    },
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function postgresBacklog(): Promise<Backlog> {
  const admin = new pg.Client(PG_URL);
  await admin.connect();
  const tag = `${process.pid}_${Date.now().toString(36)}`;
  const template = `herald_retention_${tag}`;
  const urlOf = (name: string) => {
    const url = new URL(PG_URL);
    url.pathname = `/${name}`;
    return url.toString();
  };
  await admin.query(`CREATE DATABASE ${template}`);
  const store = await openPostgresStore({ url: urlOf(template), clock: backClock() });
  await writeBacklog(store);
  await store[Symbol.asyncDispose]();
  let copies = 0;
  return {
    async open() {
      const name = `${template}_run${copies++}`;
      await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      const reader = new pg.Client(urlOf(name));
      await reader.connect();
      return {
        db: urlOf(name),
        held: async () => Number((await reader.query<{ n: string }>(HELD_SQL)).rows[0]!.n),
        drop: async () => {
          await reader.end();
          await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        },
      };
    },
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
      await admin.end();
    },
  };
}

interface Run {
  rate: number;
  heldAtStart: number;
  heldAtEnd: number;
}

async function run(backlog: Backlog, setup: Setup): Promise<Run> {
  const copy = await backlog.open();
  const receiver = await startReceiver();
  const herald = await startHerald(['--db', copy.db, ...ARGS[setup]]);
  try {
    const app = await herald.post('/app', { name: 'bench' });
    await herald.post(`/app/${app.id}/endpoint`, { url: `${receiver.url}?ep=0` });
    const send = () => herald.send(`/app/${app.id}/msg`, message);
    await lanes(WARM_UP, 64, send);
    await until(receiver.count, WARM_UP);
    await receiver.reset();
    const heldAtStart = await copy.held();
    const started = performance.now();
    await lanes(N, 64, send);
    await until(receiver.count, N);
    const seconds = (performance.now() - started) / 1000;
    return { rate: N / seconds, heldAtStart, heldAtEnd: await copy.held() };
  } finally {
    await herald.stop();
    await receiver.stop();
    await copy.drop();
  }
}

async function main(): Promise<void> {
  const runs = new Map<string, number[]>();
  for (const store of STORES) {
    const started = performance.now();
    const backlog = store === 'postgres' ? await postgresBacklog() : await sqliteBacklog();
    console.log(
      `${store}: backlog of ${BACKLOG} written in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // The order turns each round, so that neither set-up always runs first.
        for (let i = 0; i < SETUPS.length; i++) {
          const setup = SETUPS[(i + round) % SETUPS.length]!;
          const r = await run(backlog, setup);
          const key = `${store} ${setup}`;
          runs.set(key, [...(runs.get(key) ?? []), r.rate]);
          const expunged = r.heldAtStart - r.heldAtEnd;
          const note = setup === 'expunging' && r.heldAtEnd === 0 ? ' (swept out before the end)' : '';
          console.log(
            `round ${round + 1} ${key}: ${r.rate.toFixed(0)} deliveries/s; backlog payloads held ${r.heldAtStart} -> ${r.heldAtEnd} (${expunged} expunged during the run)${note}`,
          );
        }
      }
    } finally {
      await backlog.drop();
    }
  }
  for (const store of STORES) {
    const base = median(runs.get(`${store} retention off`)!);
    for (const setup of SETUPS) {
      const r = runs.get(`${store} ${setup}`)!;
      const m = median(r);
      console.log(
        `${store} ${setup}: median ${m.toFixed(0)} deliveries/s [${Math.min(...r).toFixed(0)}-${Math.max(...r).toFixed(0)}] (${(((m - base) / base) * 100).toFixed(1)} % from retention off)`,
      );
    }
  }
}

await main();
