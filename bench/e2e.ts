/**
 * End-to-end scenarios through Herald's HTTP API (issue 6): a real `herald serve` on SQLite,
 * clients POSTing messages, receivers in their own processes.
 */
import {
  type HeraldServer,
  lanes,
  measureHeraldCpu,
  type ReceiverProcess,
  startHerald,
  startPeer,
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

/**
 * Sends `n` messages through `post` from `clients` concurrent lanes and waits until the
 * receiver has counted `expected` deliveries; deliveries/s over the whole span.
 */
async function timed(
  receiver: ReceiverProcess,
  n: number,
  expected: number,
  clients: number,
  post: () => Promise<unknown>,
  heraldPid?: number,
): Promise<number> {
  await receiver.reset();
  const cpuDone = heraldPid === undefined ? () => undefined : measureHeraldCpu(heraldPid);
  const started = performance.now();
  await lanes(n, clients, async () => {
    await post();
  });
  await until(receiver.count, expected);
  const rate = expected / ((performance.now() - started) / 1000);
  cpuDone();
  return rate;
}

const message = { eventType: 'content.published', payload: PAYLOAD };

/** Scenario 2: `n` messages through the API (64 concurrent clients), one endpoint. Deliveries/s. */
export function oneToOne(receiver: ReceiverProcess, n: number): Promise<number> {
  return withHerald(async (herald) => {
    const app = await appWith(herald, [receiver.url]);
    return timed(receiver, n, n, 64, () => herald.send(`/app/${app}/msg`, message), herald.pid);
  });
}

/** Scenario 3: `messages` × `endpoints` deliveries. Deliveries/s. */
export function fanOut(receiver: ReceiverProcess, messages: number, endpoints: number): Promise<number> {
  return withHerald(async (herald) => {
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
      herald.pid,
    );
  });
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
    return timed(
      healthy,
      messages,
      messages * 20,
      16,
      () => herald.send(`/app/${app}/msg`, message),
      herald.pid,
    );
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
    return await timed(receiver, n, n, 64, () => peer.post(message));
  } finally {
    await peer.stop();
  }
}

/**
 * Scenario 7: scenario 2 on PostgreSQL: one `--role api` process and `workers` worker
 * processes on the database `db`. Deliveries/s.
 */
export async function pgOneToOne(
  receiver: ReceiverProcess,
  n: number,
  workers: number,
  db: string,
): Promise<number> {
  const herald = await startHerald(['--role', 'api', '--db', db]);
  const children = await Promise.all(Array.from({ length: workers }, () => startWorker(db)));
  try {
    const app = await appWith(herald, [receiver.url]);
    return await timed(receiver, n, n, 64, () => herald.send(`/app/${app}/msg`, message));
  } finally {
    await stopAll(children);
    await herald.stop();
  }
}
