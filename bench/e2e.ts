/**
 * End-to-end scenarios through Herald's HTTP API (issue 6): a real `herald serve` on SQLite,
 * clients POSTing messages, receivers in their own processes.
 */
import { type Proc, startCost } from './cost.js';
import {
  type HeraldServer,
  lanes,
  measureHeraldCpu,
  type ReceiverProcess,
  startHerald,
  startPeer,
  startRelay,
  startWorker,
  stopAll,
  until,
} from './harness.js';

export const PAYLOAD = {
  type: 'content.published',
  data: { id: 'post_123', title: 'Hello, world', author: 'ada', tags: ['news', 'launch'] },
};

async function withHerald<T>(fn: (herald: HeraldServer) => Promise<T>): Promise<T> {
  const herald = await startHerald();
  try {
    return await fn(herald);
  } finally {
    await herald.stop();
  }
}

/** Creates an application with `count` endpoints on `url`; returns its id. */
async function appWith(herald: HeraldServer, urls: string[]): Promise<string> {
  const app = await herald.post('/app', { name: 'bench' });
  for (const [i, url] of urls.entries())
    await herald.post(`/app/${app.id}/endpoint`, { url: `${url}?ep=${i}` });
  return app.id;
}

/** What a timed window measures besides the rate: the processes, and the PostgreSQL database. */
interface Meter {
  /** Every process the scenario involves but this one (the receiver is added). */
  procs: Proc[];
  /** A `herald serve` whose threads' shares are summarised too. */
  heraldPid?: number;
  /** The scenario's PostgreSQL database: its backends counted, their waits sampled. */
  pgUrl?: string;
}

/**
 * Sends `n` messages through `post` from `clients` concurrent lanes and waits until the
 * receiver has counted `expected` deliveries; deliveries/s over the whole span. The CPU
 * cost of the span is kept for `takeCost` (bench/cost.ts).
 */
async function timed(
  receiver: ReceiverProcess,
  n: number,
  expected: number,
  clients: number,
  post: () => Promise<unknown>,
  meter: Meter,
): Promise<number> {
  await receiver.reset();
  const costDone = await startCost([...meter.procs, { role: 'receiver', pid: receiver.pid }], meter.pgUrl);
  const cpuDone = meter.heraldPid === undefined ? () => undefined : measureHeraldCpu(meter.heraldPid);
  const started = performance.now();
  await lanes(n, clients, async () => {
    await post();
  });
  await until(receiver.count, expected);
  const rate = expected / ((performance.now() - started) / 1000);
  cpuDone();
  await costDone(expected);
  return rate;
}

/** The meter of a `herald serve` doing everything. */
const serve = (herald: HeraldServer): Meter => ({
  procs: [{ role: 'herald serve', pid: herald.pid }],
  heraldPid: herald.pid,
});

const message = { eventType: 'content.published', payload: PAYLOAD };

/** Scenario 2: `n` messages through the API (64 concurrent clients), one endpoint. Deliveries/s. */
export function oneToOne(receiver: ReceiverProcess, n: number): Promise<number> {
  return withHerald(async (herald) => {
    const app = await appWith(herald, [receiver.url]);
    return timed(receiver, n, n, 64, () => herald.send(`/app/${app}/msg`, message), serve(herald));
  });
}

/**
 * The relay ceiling of scenario 2 (issue 22): the same `n` POSTs from 64 clients to
 * `bench/relay.mjs`, which forwards each to the receiver and answers. Deliveries/s.
 */
export async function relayOneToOne(receiver: ReceiverProcess, n: number): Promise<number> {
  const relay = await startRelay(`${receiver.url}?ep=0`);
  try {
    return await timed(receiver, n, n, 64, () => relay.send('/app/app_relay/msg', message), {
      procs: [{ role: 'relay', pid: relay.pid }],
    });
  } finally {
    await relay.stop();
  }
}

/** Scenario 3: `messages` × `endpoints` deliveries. Deliveries/s. */
export function fanOut(receiver: ReceiverProcess, messages: number, endpoints: number): Promise<number> {
  return withHerald((herald) => fanOutOn(herald, serve(herald), receiver, messages, endpoints));
}

/** Fan-out's window on a running Herald: `messages` to `endpoints` endpoints, 16 clients. */
async function fanOutOn(
  herald: HeraldServer,
  meter: Meter,
  receiver: ReceiverProcess,
  messages: number,
  endpoints: number,
): Promise<number> {
  const app = await appWith(
    herald,
    Array.from({ length: endpoints }, () => receiver.url),
  );
  return timed(
    receiver,
    messages,
    messages * endpoints,
    16,
    () => herald.send(`/app/${app}/msg`, message),
    meter,
  );
}

/** Latency percentiles in ms. */
export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

/**
 * Scenario 4's figures: from the client's POST to the receiver's arrival (ingest included),
 * and `from202`, from the API's 202 to the arrival, as issue 6 defines it (absent from runs
 * before the fifth session).
 */
export interface Latency extends Percentiles {
  sent: number;
  from202?: Percentiles;
}

function percentiles(values: number[]): Percentiles {
  const sorted = values.sort((a, b) => a - b);
  const pick = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: pick(0.5), p99: pick(0.99), max: sorted.at(-1)! };
}

/**
 * Scenario 4: a steady `perSecond` messages/s for `seconds`; latency to the receiver's
 * arrival from the API's 202 (issue 6's measure; negative when the delivery beats the
 * answer back to the client), and from the moment the client sends the POST (ingest and
 * its queueing included).
 */
export function latency(receiver: ReceiverProcess, perSecond: number, seconds: number): Promise<Latency> {
  return withHerald(async (herald) => {
    const app = await appWith(herald, [receiver.url]);
    await receiver.reset();
    const sentAt = new Map<string, { posted: number; answered: number }>();
    const now = () => performance.timeOrigin + performance.now();
    const inflight: Promise<void>[] = [];
    const tickMs = 10;
    const perTick = perSecond / (1000 / tickMs);
    const start = performance.now();
    let due = 0;
    let sent = 0;
    while (performance.now() - start < seconds * 1000) {
      due += perTick;
      while (sent < Math.floor(due)) {
        sent++;
        const posted = now();
        inflight.push(
          herald.post(`/app/${app}/msg`, message).then((m) => {
            sentAt.set(m.id, { posted, answered: now() });
          }),
        );
      }
      // Pace by wall time, so a slow tick is caught up rather than stretching the run.
      const next = start + ((sent / perSecond) * 1000 + tickMs);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
    }
    await Promise.all(inflight);
    await until(receiver.count, sent);
    const arrivals = await receiver.arrivals();
    const arrived = [...sentAt].map(([id, t]) => ({ at: arrivals.get(id) ?? Number.NaN, ...t }));
    return {
      ...percentiles(arrived.map((a) => a.at - a.posted)),
      sent,
      from202: percentiles(arrived.map((a) => a.at - a.answered)),
    };
  });
}

/**
 * Scenario 5: `messages` to 20 healthy endpoints and one that never answers (held until
 * its 15 s timeout). Healthy deliveries/s, to compare with scenario 3's rate.
 */
export function isolation(
  healthy: ReceiverProcess,
  hanging: ReceiverProcess,
  messages: number,
): Promise<number> {
  return withHerald(async (herald) => {
    const app = await appWith(herald, [hanging.url, ...Array.from({ length: 20 }, () => healthy.url)]);
    return timed(healthy, messages, messages * 20, 16, () => herald.send(`/app/${app}/msg`, message), {
      ...serve(herald),
      procs: [...serve(herald).procs, { role: 'hanging receiver', pid: hanging.pid }],
    });
  });
}

/**
 * Scenario 8: scenario 2's work done by a peer sender (the same ingest route, payloads,
 * signatures and receiver). Deliveries/s.
 */
export async function peerOneToOne(
  receiver: ReceiverProcess,
  n: number,
  kind: 'bullmq' | 'pgboss',
  args: string[],
) {
  const peer = await startPeer(kind, [...args, receiver.url]);
  try {
    return await timed(receiver, n, n, 64, () => peer.post(message), {
      procs: [{ role: `peer sender (${kind})`, pid: peer.pid }],
      pgUrl: kind === 'pgboss' ? args[0] : undefined,
    });
  } finally {
    await peer.stop();
  }
}

/**
 * Scenario 7: scenario 2 on PostgreSQL: one `--role api` process and `workers` worker
 * processes on the database `db`. Deliveries/s.
 */
export function pgOneToOne(
  receiver: ReceiverProcess,
  n: number,
  workers: number,
  db: string,
): Promise<number> {
  return onPostgres(db, workers, async (herald, meter) => {
    const app = await appWith(herald, [receiver.url]);
    return timed(receiver, n, n, 64, () => herald.send(`/app/${app}/msg`, message), meter);
  });
}

/**
 * Scenario 3 on PostgreSQL (issue 22): `messages` × `endpoints` deliveries through one
 * `--role api` process and `workers` worker processes on the database `db`. Deliveries/s.
 */
export function pgFanOut(
  receiver: ReceiverProcess,
  messages: number,
  endpoints: number,
  workers: number,
  db: string,
): Promise<number> {
  return onPostgres(db, workers, (herald, meter) => fanOutOn(herald, meter, receiver, messages, endpoints));
}

/**
 * Runs `fn` against one `--role api` process and `workers` worker processes on the
 * PostgreSQL database `db`, with the meter of them all; stops them after.
 */
async function onPostgres<T>(
  db: string,
  workers: number,
  fn: (herald: HeraldServer, meter: Meter) => Promise<T>,
): Promise<T> {
  const herald = await startHerald(['--role', 'api', '--db', db]);
  const children = await Promise.all(Array.from({ length: workers }, () => startWorker(db)));
  try {
    return await fn(herald, {
      procs: [
        { role: 'herald api', pid: herald.pid },
        ...children.map((c, i) => ({ role: `herald worker ${i + 1}`, pid: c.pid! })),
      ],
      pgUrl: db,
    });
  } finally {
    await stopAll(children);
    await herald.stop();
  }
}
