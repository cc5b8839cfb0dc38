/**
 * `npm run bench`: Herald against the raw HTTP limit of this machine, in one run.
 *
 *   npm run bench -- --runs 3                   # everything, full size
 *   npm run bench -- --runs 1 --quick           # every scenario at a tenth of the size
 *   npm run bench -- --only e2e,fanout          # some scenarios (raw always runs)
 *
 * Scenarios (issue numbers in BENCHMARKS.md):
 * - raw: undici POSTs straight to the local receiver (64 in flight), nothing stored: the ceiling.
 * - engine (SQLite): messages accepted by the store (64 producers, group commit) and
 *   delivered by the dispatcher in one process; until every delivery is recorded.
 * - postgres, 1 and 2 workers: the same, accepted into a fresh PostgreSQL database by this
 *   process and delivered by `herald serve --role worker` processes (`--skip-pg` to omit).
 * - relay: the e2e ceiling (issue 22): the same POSTs to `bench/relay.mjs`, which forwards
 *   each to the receiver and answers, storing nothing: the two HTTP exchanges alone.
 * - e2e one-to-one: messages POSTed to a real `herald serve` (64 clients), one endpoint.
 * - PostgreSQL e2e, 1 to 4 workers (`pge2e1`-`pge2e4`): one `--role api` process and that
 *   many `--role worker` processes on a fresh database; the worker scaling of issue 22.
 * - peers: the same work by a BullMQ and a pg-boss sender (`bench/peers/`), behind the
 *   same kind of ingest route (`--skip-peers` to omit).
 * - fan-out: messages × 50 endpoints through the API, on SQLite (`fanout`) and on PostgreSQL
 *   (`pgfanout`: 1 API + 1 worker process on a fresh database); raw is their ceiling (one
 *   HTTP exchange per delivery), not the relay.
 * - isolation: 20 healthy endpoints and one that never answers; healthy rate vs fan-out
 *   (the same number of healthy deliveries as fan-out's deliveries).
 * - latency: a steady rate for some seconds; from the API's 202, and from the POST, to arrival.
 * - backlog: `--backlog` deliveries (default 1,000,000) stored with nothing sending, then
 *   drained; once per bench, after the runs (`--skip-backlog` to omit).
 * Each figure is the median of the runs [min-max], beside the raw limit of the same run.
 *
 * Each throughput scenario also reports its cost (bench/cost.ts, issue 22): CPU µs per
 * delivery of every process involved, from /proc/<pid>/stat (Herald's API and each worker,
 * the sum of the PostgreSQL backends on the scenario's database, the receiver, this process
 * as the load generator) and the machine's idle time from /proc/stat; on PostgreSQL, the
 * backends' wait events sampled every 25 ms. Sender + PostgreSQL CPU per delivery is the
 * figure a busy machine moves least; the report judges issue 22's targets with it. Sustained
 * load is apart (10 min per store): `npx tsx bench/sustained.ts`.
 *
 * Every `herald serve` here runs as shipped: metrics counted (nothing scrapes /metrics),
 * tracing off, the retention sweeps started (with nothing expired to sweep). What metrics and
 * tracing cost is measured apart, against a server counting nothing, by
 * `npx tsx bench/metrics-cost.ts`; what an expunging sweep costs the throughput, by
 * `npx tsx bench/retention-cost.ts` (both print it; figures in BENCHMARKS.md).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Agent } from 'undici';
import { Dispatcher } from '../src/delivery/dispatcher.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { type BacklogResult, backlog } from './backlog.js';
import { type Bar, barChart } from './chart.js';
import { type Cost, startCost, takeCost } from './cost.js';
import { reportCosts } from './cost-report.js';
import {
  fanOut,
  isolation,
  type Latency,
  latency,
  oneToOne,
  type Percentiles,
  peerOneToOne,
  pgFanOut,
  pgOneToOne,
  relayOneToOne,
} from './e2e.js';
import {
  type ReceiverProcess,
  startReceiver,
  startWorker,
  stopAll,
  takeHeraldCpu,
  takeHeraldPeakRssMb,
} from './harness.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    'latency-seconds': { type: 'string', default: '30' },
    pg: {
      type: 'string',
      default: process.env.HERALD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    },
    'skip-pg': { type: 'boolean', default: false },
    'skip-peers': { type: 'boolean', default: false },
    backlog: { type: 'string', default: '1000000' },
    only: { type: 'string' },
    'skip-backlog': { type: 'boolean', default: false },
    from: { type: 'string' },
  },
});
const scale = values.quick ? 0.1 : 1;
const MESSAGES = Math.round(Number(values.messages) * scale);
const RUNS = Number(values.runs);
const LATENCY_SECONDS = Math.max(1, Math.round(Number(values['latency-seconds']) * scale));
const FANOUT_MESSAGES = Math.max(1, Math.round(MESSAGES / 10));
/**
 * Isolation sends as many healthy deliveries as fan-out sends in all (20 endpoints instead
 * of 50, so 2.5 times the messages): the two rates then cover the same work, start-up and
 * warm-up included, and their ratio compares like with like.
 */
const ISOLATION_MESSAGES = Math.round((FANOUT_MESSAGES * 50) / 20);
const BACKLOG = Math.round(Number(values.backlog) * scale);
const SCENARIOS = [
  'engine',
  'pg1',
  'pg2',
  'relay',
  'e2e',
  'bullmq',
  'pge2e1',
  'pge2e2',
  'pge2e3',
  'pge2e4',
  'pgboss',
  'fanout',
  'pgfanout',
  'isolation',
  'latency',
  'backlog',
];
const only = values.only === undefined ? null : new Set(values.only.split(','));
for (const name of only ?? []) {
  if (!SCENARIOS.includes(name))
    throw new Error(`--only: unknown scenario ${name}; one of ${SCENARIOS.join(', ')}`);
}
const PG = ['pg1', 'pg2', 'pge2e1', 'pge2e2', 'pge2e3', 'pge2e4', 'pgboss', 'pgfanout'];
const PEERS = ['bullmq', 'pgboss', 'pge2e1', 'pge2e2'];
/** Whether a scenario runs: named by --only (or no --only), and not left out by --skip-*. */
const want = (name: string) =>
  (only === null || only.has(name)) &&
  !(values['skip-pg'] && PG.includes(name)) &&
  !(values['skip-peers'] && PEERS.includes(name)) &&
  !(values['skip-backlog'] && name === 'backlog');
if (!Number.isInteger(MESSAGES) || MESSAGES < 10) throw new Error('--messages must be a whole number >= 100');
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a whole number >= 1');

const PAYLOAD = JSON.stringify({
  type: 'content.published',
  data: { id: 'post_123', title: 'Hello, world', author: 'ada', tags: ['news', 'launch'] },
});

async function raw(receiver: ReceiverProcess, n: number): Promise<number> {
  const agent = new Agent({ connections: 64 });
  const url = new URL(receiver.url);
  let next = 0;
  const costDone = await startCost([{ role: 'receiver', pid: receiver.pid }]);
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
  await costDone(n);
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
  const costDone = await startCost([
    { role: 'herald store + dispatcher + load generator (this process)', pid: process.pid },
    { role: 'receiver', pid: receiver.pid },
  ]);
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
  await costDone(n);
  clearInterval(sampler);
  await dispatcher.stop();
  await store[Symbol.asyncDispose]();
  const dbBytes = statSync(join(dir, 'bench.db')).size;
  rmSync(dir, { recursive: true, force: true });
  return { rate: n / seconds, dbBytes, rssMb: peakRss / 2 ** 20 };
}

async function postgres(
  receiver: ReceiverProcess,
  n: number,
  workers: number,
  baseUrl: string,
): Promise<number> {
  const db = await freshDatabase(baseUrl);
  const url = new URL(db.url);
  const store = await openPostgresStore({ url: db.url, poolSize: 16 });
  const children: ChildProcess[] = [];
  try {
    const app = await store.createApplication({ name: 'bench' });
    await store.createEndpoint(app.id, { url: receiver.url });
    for (let i = 0; i < workers; i++) children.push(await startWorker(url.toString()));
    await receiver.reset();
    const costDone = await startCost(
      [
        { role: 'herald ingest store + load generator (this process)', pid: process.pid },
        ...children.map((c, i) => ({ role: `herald worker ${i + 1}`, pid: c.pid! })),
        { role: 'receiver', pid: receiver.pid },
      ],
      db.url,
    );
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
    const rate = n / ((performance.now() - started) / 1000);
    await costDone(n);
    return rate;
  } finally {
    await stopAll(children);
    await store[Symbol.asyncDispose]();
    await db.drop();
  }
}

/** A new empty database on the server of `baseUrl`, and a function that drops it. */
async function freshDatabase(baseUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `herald_bench_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const admin = new pg.Client(baseUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Runs `fn` on a new empty database of `--pg`'s server, dropped after. */
async function onFreshDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const db = await freshDatabase(values.pg);
  try {
    return await fn(db.url);
  } finally {
    await db.drop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const spread = (xs: number[]) => `${fmt(median(xs))} [${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}]`;

/** Runs the scenarios and returns every figure. */
async function runAll(): Promise<Results> {
  const receiver = await startReceiver();
  const hanging = await startReceiver('hang');
  const rates: Record<string, number[]> = {};
  const serveRss: Record<string, number> = {};
  const serveCpu: Record<string, string[]> = {};
  const costs: Record<string, Cost[]> = {};
  const add = (key: string, value: number) => {
    rates[key] ??= [];
    rates[key].push(value);
    const cost = takeCost();
    if (cost) {
      costs[key] ??= [];
      costs[key].push(cost);
    }
    const rssMb = takeHeraldPeakRssMb();
    if (rssMb > 0) serveRss[key] = Math.max(serveRss[key] ?? 0, rssMb);
    const cpu = takeHeraldCpu();
    if (cpu) {
      serveCpu[key] ??= [];
      serveCpu[key].push(cpu);
    }
    const perDelivery = cost
      ? `, CPU µs per delivery: sender ${fmt(cost.sender)}${cost.pg === null ? '' : ` + PostgreSQL ${fmt(cost.pg)}`}, machine ${Math.round(100 * cost.idle)} % idle`
      : '';
    console.error(
      `  ${key}: ${fmt(value)}/s${rssMb > 0 ? `, herald serve peak RSS ${fmt(rssMb)} MB` : ''}${cpu ? `, ${cpu}` : ''}${perDelivery}`,
    );
  };
  const latencies: Latency[] = [];
  const rss: number[] = [];
  const dbSizes: number[] = [];
  let drained: BacklogResult | null = null;
  try {
    await raw(receiver, 2_000); // warm-up
    for (let i = 0; i < RUNS; i++) {
      console.error(`run ${i + 1}/${RUNS}`);
      add('raw', await raw(receiver, MESSAGES));
      if (want('engine')) {
        const e = await engine(receiver, MESSAGES);
        add('engine', e.rate);
        rss.push(e.rssMb);
        dbSizes.push(e.dbBytes);
      }
      if (want('pg1')) add('pg1', await postgres(receiver, MESSAGES, 1, values.pg));
      if (want('pg2')) add('pg2', await postgres(receiver, MESSAGES, 2, values.pg));
      if (want('relay')) add('relay', await relayOneToOne(receiver, MESSAGES));
      if (want('e2e')) add('e2e', await oneToOne(receiver, MESSAGES));
      if (want('bullmq')) add('bullmq', await peerOneToOne(receiver, MESSAGES, 'bullmq', []));
      for (const workers of [1, 2, 3, 4]) {
        if (!want(`pge2e${workers}`)) continue;
        add(`pge2e${workers}`, await onFreshDatabase((db) => pgOneToOne(receiver, MESSAGES, workers, db)));
      }
      if (want('pgboss'))
        add('pgboss', await onFreshDatabase((db) => peerOneToOne(receiver, MESSAGES, 'pgboss', [db])));
      if (want('fanout')) add('fanout', await fanOut(receiver, FANOUT_MESSAGES, 50));
      if (want('pgfanout'))
        add('pgfanout', await onFreshDatabase((db) => pgFanOut(receiver, FANOUT_MESSAGES, 50, 1, db)));
      if (want('isolation')) add('isolation', await isolation(receiver, hanging, ISOLATION_MESSAGES));
      if (want('latency')) {
        const l = await latency(receiver, 1_000, LATENCY_SECONDS);
        serveRss.latency = Math.max(serveRss.latency ?? 0, takeHeraldPeakRssMb());
        latencies.push(l);
        const ms = (x: Percentiles) =>
          `p50 ${x.p50.toFixed(1)} ms, p99 ${x.p99.toFixed(1)} ms, max ${x.max.toFixed(1)} ms`;
        console.error(`  latency: from the 202 ${ms(l.from202!)}; from the POST ${ms(l)}`);
      }
    }
    if (want('backlog')) drained = await backlog(receiver, BACKLOG, PAYLOAD);
  } finally {
    await receiver.stop();
    await hanging.stop();
  }
  return {
    messages: MESSAGES,
    runs: RUNS,
    fanoutMessages: FANOUT_MESSAGES,
    latencySeconds: LATENCY_SECONDS,
    rates,
    serveRss,
    serveCpu,
    costs,
    latencies,
    engineRss: rss,
    dbSizes,
    backlog: drained && { deliveries: BACKLOG, ...drained },
  };
}

/** Everything a run measured, as written to latest.json. */
interface Results {
  messages: number;
  runs: number;
  fanoutMessages: number;
  latencySeconds: number;
  rates: Record<string, number[]>;
  serveRss: Record<string, number>;
  serveCpu: Record<string, string[]>;
  /** CPU per delivery by process, and PostgreSQL's waits (absent before the tenth session). */
  costs: Record<string, Cost[]>;
  latencies: Latency[];
  engineRss: number[];
  dbSizes: number[];
  backlog: (BacklogResult & { deliveries: number }) | null;
}

/** Prints the table and the other figures, and writes the chart (and the data, if `data`). */
function report(results: Results, out: URL, data: boolean): void {
  const { rates, serveRss, serveCpu, latencies, dbSizes } = results;
  const rss = results.engineRss;
  const drained = results.backlog;
  const rawMedian = median(rates.raw!);
  const bars: Bar[] = [];
  const relayMedian = rates.relay ? median(rates.relay) : null;
  /** The end-to-end rows: two HTTP exchanges each, so the relay is their ceiling. */
  const relayed = ['e2e', 'pge2e1', 'pge2e2', 'pge2e3', 'pge2e4', 'bullmq', 'pgboss'];
  const row = (label: string, key: string, base = rawMedian, baseLabel = '') => {
    const r = rates[key];
    if (!r) return;
    const ofRelay = relayMedian !== null && relayed.includes(key) ? (median(r) / relayMedian).toFixed(2) : '';
    console.log(`| ${label} | ${spread(r)} | ${(median(r) / base).toFixed(2)}${baseLabel} | ${ofRelay} |`);
    bars.push({
      label,
      median: median(r),
      min: Math.min(...r),
      max: Math.max(...r),
      note: `(${(median(r) / rawMedian).toFixed(2)})`,
    });
  };
  console.log(
    `\nHerald bench: ${results.messages} messages (fan-out ${results.fanoutMessages} x 50), ${results.runs} run(s), median [min-max]\n`,
  );
  console.log('| scenario | deliveries per second | ratio to raw | ratio to relay |');
  console.log('| --- | --- | --- | --- |');
  row('raw undici POST to the receiver (ceiling)', 'raw');
  row('engine: SQLite store + dispatcher, one process', 'engine');
  row('PostgreSQL, 1 worker process', 'pg1');
  row('PostgreSQL, 2 worker processes', 'pg2');
  row('relay: ingest POST forwarded to the receiver, nothing stored (e2e ceiling)', 'relay');
  row('end to end through the HTTP API, one to one (SQLite)', 'e2e');
  for (const w of [1, 2, 3, 4])
    row(
      `end to end through the HTTP API, PostgreSQL, 1 API + ${w} worker process${w > 1 ? 'es' : ''}`,
      `pge2e${w}`,
    );
  row('peer: BullMQ (Redis) sender, same ingest route and work', 'bullmq');
  row('peer: pg-boss (PostgreSQL) sender, same ingest route and work', 'pgboss');
  row('fan-out through the HTTP API, x50 endpoints (SQLite)', 'fanout');
  row('fan-out through the HTTP API, x50 endpoints (PostgreSQL, 1 API + 1 worker process)', 'pgfanout');
  if (rates.fanout)
    row('isolation: 20 healthy + 1 hanging endpoint', 'isolation', median(rates.fanout), ' of fan-out');
  if (rates.fanout && rates.pgfanout)
    console.log(
      `\nFan-out x50 on PostgreSQL against SQLite in deliveries/s: ${(median(rates.pgfanout) / median(rates.fanout)).toFixed(2)}`,
    );
  reportCosts(results.costs, rates);
  // Runs saved before the fifth session measured from the POST only.
  const from202 = latencies.every((l) => l.from202) ? latencies.map((l) => l.from202!) : [];
  const latencyLine = (of: Percentiles[]) => {
    const p = (k: keyof Percentiles) => median(of.map((l) => l[k])).toFixed(1);
    return `p50 ${p('p50')} ms, p99 ${p('p99')} ms, max ${p('max')} ms`;
  };
  if (latencies.length > 0) {
    const parts = [
      ...(from202.length > 0 ? [`from the API's 202 ${latencyLine(from202)}`] : []),
      `from the POST sent ${latencyLine(latencies)}`,
    ];
    console.log(
      `\nLatency to the receiver's arrival at 1,000 messages/s for ${results.latencySeconds} s (medians over runs): ${parts.join('; ')}`,
    );
  }
  if (rss.length > 0) console.log(`Peak RSS of the SQLite engine process: ${fmt(Math.max(...rss))} MB`);
  console.log(
    `Peak RSS of the herald serve processes (API, worker) by scenario: ${Object.entries(serveRss)
      .map(([key, mb]) => `${key} ${fmt(mb)} MB`)
      .join(', ')}`,
  );
  for (const [key, runs] of Object.entries(serveCpu)) {
    console.log(`CPU of herald serve during ${key}, by run: ${runs.join('; ')}`);
  }
  if (drained) {
    console.log(
      `Backlog of ${fmt(drained.deliveries)} deliveries (one endpoint, SQLite): stored at ${fmt(drained.fillRate)}/s; ` +
        `drained at ${fmt(drained.drainRate)}/s, first tenth ${fmt(drained.startRate)}/s, last tenth ` +
        `${fmt(drained.endRate)}/s (end/start ${(drained.endRate / drained.startRate).toFixed(2)}); database ` +
        `${fmt(drained.dbMb)} MiB; peak RSS ${fmt(drained.fillRssMb)} MB filling, ${fmt(drained.drainRssMb)} MB draining`,
    );
  }
  mkdirSync(out, { recursive: true });
  const charted = from202.length > 0 ? from202 : latencies;
  const latencyBars: Bar[] = (['p50', 'p99', 'max'] as const)
    .filter(() => charted.length > 0)
    .map((k) => {
      const values = charted.map((l) => l[k]);
      return {
        label: k,
        median: median(values),
        min: Math.min(...values),
        max: Math.max(...values),
        note: '',
      };
    });
  writeFileSync(
    new URL('chart.svg', out),
    barChart(
      `Herald on this machine: ${results.runs} run(s), median and min-max`,
      [
        { title: 'Deliveries per second (ratio to the raw limit of the same run)', unit: '/s', bars },
        {
          title: `Latency at 1,000 messages/s for ${results.latencySeconds} s, ${from202.length > 0 ? "API's 202" : 'POST sent'} to receiver arrival`,
          unit: ' ms',
          bars: latencyBars,
        },
      ],
      'Every figure from npm run bench; see BENCHMARKS.md for the scenarios.',
    ),
  );
  if (data) writeFileSync(new URL('latest.json', out), `${JSON.stringify(results, null, 2)}\n`);
  const where = relative(process.cwd(), fileURLToPath(out)) || '.';
  console.log(`Chart: ${where}/chart.svg${data ? `; raw figures: ${where}/latest.json` : ''}`);
  if (dbSizes.length > 0)
    console.log(
      `SQLite file after the engine run (WAL checkpointed on close): ${(median(dbSizes) / 2 ** 20).toFixed(1)} MiB`,
    );
  console.log(
    'herald serve ran with metrics counted (not scraped) and no tracing; their cost apart: npx tsx bench/metrics-cost.ts; ' +
      "an expunging retention sweep's: npx tsx bench/retention-cost.ts",
  );
}

async function main() {
  if (values.from) {
    // Only the report, from a saved latest.json (older files lack the newer fields).
    const path = resolve(values.from);
    const saved = JSON.parse(readFileSync(path, 'utf8')) as Partial<Results> & Pick<Results, 'rates'>;
    const messages = saved.messages ?? MESSAGES;
    report(
      {
        messages,
        runs: saved.runs ?? 1,
        fanoutMessages: saved.fanoutMessages ?? Math.max(1, Math.round(messages / 10)),
        latencySeconds: saved.latencySeconds ?? 30,
        rates: saved.rates,
        serveRss: saved.serveRss ?? {},
        serveCpu: saved.serveCpu ?? {},
        costs: saved.costs ?? {},
        latencies: saved.latencies ?? [],
        engineRss: saved.engineRss ?? [],
        dbSizes: saved.dbSizes ?? [],
        backlog: saved.backlog ?? null,
      },
      pathToFileURL(join(dirname(path), '/')),
      false,
    );
    return;
  }
  // Full runs are the published figures (committed); quick and partial runs go to the
  // ignored bench/out/.
  const partial = values.quick || only !== null;
  report(await runAll(), new URL(partial ? './out/' : './results/', import.meta.url), true);
}

await main();
