/**
 * `npm run bench`: Herald's delivery engine against the raw HTTP limit of this machine.
 *
 *   npm run bench -- --messages 20000 --runs 3
 *
 * Scenarios:
 * - raw: undici POSTs straight to the local receiver (64 in flight), nothing stored: the ceiling.
 * - engine: messages accepted into a fresh SQLite store (64 concurrent producers, group
 *   commit) while the dispatcher delivers them, signed, to the same receiver; timed until
 *   every delivery is recorded as succeeded.
 * - postgres, 1 and 2 workers: the same messages accepted into a fresh PostgreSQL database
 *   by this process, delivered by `herald serve --role worker` processes; timed until the
 *   receiver has them all. `--skip-pg` leaves these out; `--pg` names the server.
 * Each figure is the median of the runs, with min and max, and the engine's ratio to raw.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Agent } from 'undici';
import { Dispatcher } from '../src/delivery/dispatcher.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
    pg: {
      type: 'string',
      default: process.env.HERALD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    'skip-pg': { type: 'boolean', default: false },
  },
});
const MESSAGES = Number(values.messages);
const RUNS = Number(values.runs);
if (!Number.isInteger(MESSAGES) || MESSAGES < 1) throw new Error('--messages must be a whole number >= 1');
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a whole number >= 1');

const PAYLOAD = JSON.stringify({
  type: 'content.published',
  data: { id: 'post_123', title: 'Hello, world', author: 'ada', tags: ['news', 'launch'] },
});

interface ReceiverProcess {
  url: string;
  count(): Promise<number>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

async function startReceiver(): Promise<ReceiverProcess> {
  const child: ChildProcess = fork(new URL('./receiver.mjs', import.meta.url));
  const port = await new Promise<number>((resolve) =>
    child.once('message', (m) => resolve((m as { port: number }).port)),
  );
  return {
    url: `http://127.0.0.1:${port}/hook`,
    count: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve((m as { count: number }).count));
        child.send('count');
      }),
    reset: async () => {
      child.send('reset');
    },
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send('exit');
      }),
  };
}

async function raw(receiver: ReceiverProcess, n: number): Promise<number> {
  const agent = new Agent({ connections: 64 });
  const url = new URL(receiver.url);
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await agent.request({
        origin: url.origin,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: PAYLOAD,
      });
      await res.body.dump();
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  return n / seconds;
}

async function engine(
  receiver: ReceiverProcess,
  n: number,
): Promise<{ rate: number; dbBytes: number; rssMb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const store = openSqliteStore({ path: join(dir, 'bench.db') });
  const app = await store.createApplication({ name: 'bench' });
  await store.createEndpoint(app.id, { url: receiver.url });
  const dispatcher = new Dispatcher({ store, allowNetworks: ['127.0.0.0/8'] });
  let succeeded = 0;
  let peakRss = 0;
  const done = new Promise<void>((resolve) => {
    dispatcher.on('attempt', (e) => {
      if (e.attempt.succeeded && ++succeeded === n) resolve();
    });
  });
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  const started = performance.now();
  dispatcher.start();
  let next = 0;
  const producer = async () => {
    while (next < n) {
      next++;
      await store.acceptMessage({ appId: app.id, eventType: 'content.published', payload: PAYLOAD });
    }
  };
  await Promise.all(Array.from({ length: 64 }, producer));
  await done;
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  await dispatcher.stop();
  await store[Symbol.asyncDispose]();
  const dbBytes = statSync(join(dir, 'bench.db')).size;
  rmSync(dir, { recursive: true, force: true });
  return { rate: n / seconds, dbBytes, rssMb: peakRss / 2 ** 20 };
}

/** Starts `herald serve --role worker` on `db`; resolves once its dispatcher runs. */
async function startWorker(db: string): Promise<ChildProcess> {
  const child = fork(
    new URL('../bin/herald.js', import.meta.url),
    ['serve', '--role', 'worker', '--db', db, '--allow-network', '127.0.0.0/8', '--log-level', 'error'],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('dispatcher running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
  return child;
}

async function postgres(
  receiver: ReceiverProcess,
  n: number,
  workers: number,
  baseUrl: string,
): Promise<number> {
  const name = `herald_bench_${process.pid}_${workers}_${Date.now().toString(36)}`;
  const admin = new pg.Client(baseUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const store = await openPostgresStore({ url: url.toString(), poolSize: 16 });
  const children: ChildProcess[] = [];
  try {
    const app = await store.createApplication({ name: 'bench' });
    await store.createEndpoint(app.id, { url: receiver.url });
    for (let i = 0; i < workers; i++) children.push(await startWorker(url.toString()));
    await receiver.reset();
    const started = performance.now();
    let next = 0;
    const producer = async () => {
      while (next < n) {
        next++;
        await store.acceptMessage({ appId: app.id, eventType: 'content.published', payload: PAYLOAD });
      }
    };
    await Promise.all(Array.from({ length: 64 }, producer));
    while ((await receiver.count()) < n) await new Promise((resolve) => setTimeout(resolve, 20));
    return n / ((performance.now() - started) / 1000);
  } finally {
    for (const child of children) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await store[Symbol.asyncDispose]();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

async function main() {
  const receiver = await startReceiver();
  try {
    // Warm up the receiver, the JIT and the connection pools.
    await raw(receiver, 2_000);
    const rawRates: number[] = [];
    const engineRates: number[] = [];
    const rss: number[] = [];
    const dbSizes: number[] = [];
    const pgRates: Record<1 | 2, number[]> = { 1: [], 2: [] };
    for (let i = 0; i < RUNS; i++) {
      rawRates.push(await raw(receiver, MESSAGES));
      const e = await engine(receiver, MESSAGES);
      engineRates.push(e.rate);
      rss.push(e.rssMb);
      dbSizes.push(e.dbBytes);
      console.error(
        `run ${i + 1}/${RUNS}: raw ${fmt(rawRates[i]!)}/s, engine ${fmt(e.rate)}/s, peak RSS ${fmt(e.rssMb)} MB`,
      );
      if (!values['skip-pg']) {
        for (const workers of [1, 2] as const) {
          pgRates[workers].push(await postgres(receiver, MESSAGES, workers, values.pg));
          console.error(`  postgres, ${workers} worker(s): ${fmt(pgRates[workers].at(-1)!)}/s`);
        }
      }
    }
    const rawMedian = median(rawRates);
    console.log(`\nHerald bench: ${MESSAGES} messages x 1 endpoint, ${RUNS} runs (median [min-max])\n`);
    console.log('| scenario | per second | ratio to raw |');
    console.log('| --- | --- | --- |');
    console.log(
      `| raw undici POST (ceiling) | ${fmt(rawMedian)} [${fmt(Math.min(...rawRates))}-${fmt(Math.max(...rawRates))}] | 1.00 |`,
    );
    console.log(
      `| engine: SQLite store + dispatcher, durable deliveries | ${fmt(median(engineRates))} [${fmt(Math.min(...engineRates))}-${fmt(Math.max(...engineRates))}] | ${(median(engineRates) / rawMedian).toFixed(2)} |`,
    );
    for (const workers of [1, 2] as const) {
      const r = pgRates[workers];
      if (r.length === 0) continue;
      console.log(
        `| PostgreSQL, ${workers} worker process${workers > 1 ? 'es' : ''}, durable deliveries | ${fmt(median(r))} [${fmt(Math.min(...r))}-${fmt(Math.max(...r))}] | ${(median(r) / rawMedian).toFixed(2)} |`,
      );
    }
    console.log(`\nPeak RSS of the engine process: ${fmt(Math.max(...rss))} MB`);
    console.log(
      `SQLite file after the run (WAL checkpointed on close): ${(median(dbSizes) / 2 ** 20).toFixed(1)} MiB`,
    );
  } finally {
    await receiver.stop();
  }
}

await main();
