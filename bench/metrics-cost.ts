/**
 * What metrics and tracing cost when nothing scrapes (issue 16): CPU time of `herald serve`
 * (every thread, from /proc) per end-to-end delivery, in three set-ups run in turn, round
 * after round, on SQLite and on PostgreSQL:
 *
 * - `no metrics`: `HERALD_BENCH_NO_METRICS=1`, nothing counted, no /metrics;
 * - `metrics`: the default, every message and attempt counted, no scrape during the run;
 * - `metrics+tracing`: the default plus `OTEL_EXPORTER_OTLP_ENDPOINT` at an OTLP sink in this
 *   process (it reads and drops each export; its CPU is not Herald's), every span sampled;
 * - `metrics+tracing 10%`: the same with `OTEL_TRACES_SAMPLER=parentbased_traceidratio`,
 *   `OTEL_TRACES_SAMPLER_ARG=0.1`.
 *
 *   npm run build && npx tsx bench/metrics-cost.ts
 *
 * `N` (default 10,000) messages after 2,000 to warm up, from 64 lanes to one endpoint;
 * `ROUNDS` (default 3); `STORES` (default `sqlite,postgres`); `HERALD_BENCH_PG_URL` (default
 * postgres://postgres@127.0.0.1:5432/test) for the databases it creates and drops.
 * PostgreSQL's own CPU is not counted: these set-ups change nothing in what it does.
 * Prints each run, then per store and set-up the median [min-max] and the difference of
 * the medians from `no metrics`.
 */

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { PAYLOAD } from './e2e.js';
import { lanes, startHerald, startReceiver, until } from './harness.js';

const N = Number(process.env.N ?? 10_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const STORES = (process.env.STORES ?? 'sqlite,postgres').split(',');
const PG_URL = process.env.HERALD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const WARM_UP = 2_000;
/** Clock ticks per second of /proc's CPU times (USER_HZ). */
const TICKS_PER_SECOND = 100;
const message = { eventType: 'content.published', payload: PAYLOAD };

/** CPU ticks the process has used, user and system, all threads. */
function ticks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** An OTLP/HTTP endpoint that accepts every export and counts them. */
async function startOtlpSink(): Promise<{ url: string; exports: () => number; close: () => void }> {
  let exports = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports: () => exports,
    close: () => server.close(),
  };
}

/** A new empty PostgreSQL database, and a function that drops it. */
async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `herald_cost_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client(PG_URL);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

type Setup = 'no metrics' | 'metrics' | 'metrics+tracing' | 'metrics+tracing 10%';
const SETUPS: Setup[] = ['no metrics', 'metrics', 'metrics+tracing', 'metrics+tracing 10%'];

/** The environment of `herald serve` for a set-up (the harness passes process.env on). */
function environment(setup: Setup, otlp: string): Record<string, string | undefined> {
  return {
    HERALD_BENCH_NO_METRICS: setup === 'no metrics' ? '1' : undefined,
    OTEL_EXPORTER_OTLP_ENDPOINT: setup.startsWith('metrics+tracing') ? otlp : undefined,
    // One trace in ten sampled: the others' spans are made but neither recorded nor exported.
    OTEL_TRACES_SAMPLER: setup === 'metrics+tracing 10%' ? 'parentbased_traceidratio' : undefined,
    OTEL_TRACES_SAMPLER_ARG: setup === 'metrics+tracing 10%' ? '0.1' : undefined,
  };
}

/** One run: CPU µs of herald serve per delivery, and deliveries per second. */
async function run(store: string, setup: Setup, otlp: string): Promise<{ us: number; rate: number }> {
  for (const [k, v] of Object.entries(environment(setup, otlp))) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const database = store === 'postgres' ? await freshDatabase() : null;
  const receiver = await startReceiver();
  const herald = await startHerald(database ? ['--db', database.url] : []);
  try {
    const app = await herald.post('/app', { name: 'bench' });
    await herald.post(`/app/${app.id}/endpoint`, { url: `${receiver.url}?ep=0` });
    const send = () => herald.send(`/app/${app.id}/msg`, message);
    await lanes(WARM_UP, 64, send);
    await until(receiver.count, WARM_UP);
    await receiver.reset();
    const before = ticks(herald.pid);
    const started = performance.now();
    await lanes(N, 64, send);
    await until(receiver.count, N);
    const seconds = (performance.now() - started) / 1000;
    return { us: ((ticks(herald.pid) - before) / TICKS_PER_SECOND / N) * 1e6, rate: N / seconds };
  } finally {
    await herald.stop();
    await receiver.stop();
    await database?.drop();
  }
}

async function main(): Promise<void> {
  const sink = await startOtlpSink();
  const runs = new Map<string, { us: number[]; rate: number[] }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const store of STORES) {
      // The order of the set-ups turns each round, so that none always runs first.
      for (let i = 0; i < SETUPS.length; i++) {
        const setup = SETUPS[(i + round) % SETUPS.length]!;
        const r = await run(store, setup, sink.url);
        const key = `${store} ${setup}`;
        if (!runs.has(key)) runs.set(key, { us: [], rate: [] });
        runs.get(key)!.us.push(r.us);
        runs.get(key)!.rate.push(r.rate);
        console.log(
          `round ${round + 1} ${key}: ${r.us.toFixed(0)} us CPU per delivery, ${r.rate.toFixed(0)}/s`,
        );
      }
    }
  }
  console.log(`OTLP exports received: ${sink.exports()}`);
  sink.close();
  for (const store of STORES) {
    const base = median(runs.get(`${store} no metrics`)!.us);
    for (const setup of SETUPS) {
      const r = runs.get(`${store} ${setup}`)!;
      const m = median(r.us);
      console.log(
        `${store} ${setup}: median ${m.toFixed(0)} us per delivery [${Math.min(...r.us).toFixed(0)}-${Math.max(...r.us).toFixed(0)}] (${m - base >= 0 ? '+' : ''}${(m - base).toFixed(0)} us, ${(((m - base) / base) * 100).toFixed(1)} %), median ${median(r.rate).toFixed(0)}/s`,
      );
    }
  }
}

await main();
