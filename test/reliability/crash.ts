/**
 * The crash scenario shared by `npm test` (short) and `npm run chaos` (long): a real
 * `herald serve` takes messages from 8 concurrent clients while it is stopped with a signal
 * at seeded moments and started again on the same database, `kills` times. Returns what the
 * receiver saw against what the database stored.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import pg from 'pg';
import { apiClient, type HeraldProcess, startHerald } from '../serve.js';

export interface CrashOptions {
  /** A SQLite file path or a postgres:// URL. */
  db: string;
  signal: 'SIGKILL' | 'SIGTERM';
  messages: number;
  kills: number;
  seed: number;
}

export interface CrashReport {
  stored: number;
  accepted: number;
  delivered: number;
  /** Stored (accepted) messages the receiver never saw: must be 0. */
  lost: number;
  /** Deliveries the receiver saw more than once, summed. */
  duplicates: number;
  /** Requests the receiver saw for messages the database does not hold: must be 0. */
  unknown: number;
  /** Exit codes of the stopped processes. */
  exitCodes: (number | null)[];
  /** Per restart: ms from the signal to the first delivery after the new process was up. */
  recoveryMs: number[];
  /** ms from the signal to the process's exit. */
  stopMs: number[];
  /** The last lines a process printed, for each stop that did not exit 0 after SIGTERM. */
  failedStops: string[];
}

/** mulberry32: a small seeded generator, so that a run's kill schedule can be replayed. */
export function seeded(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function storedIds(db: string): Promise<string[]> {
  if (db.startsWith('postgres')) {
    const client = new pg.Client(db);
    await client.connect();
    try {
      return (await client.query<{ id: string }>('SELECT id FROM messages')).rows.map((r) => r.id);
    } finally {
      await client.end();
    }
  }
  const conn = new Database(db, { readonly: true });
  try {
    return (conn.prepare('SELECT id FROM messages').all() as { id: string }[]).map((r) => r.id);
  } finally {
    conn.close();
  }
}

/** `PRAGMA integrity_check` of a SQLite file. */
export function sqliteIntegrity(path: string): string {
  const conn = new Database(path, { readonly: true });
  try {
    return String(conn.pragma('integrity_check', { simple: true }));
  } finally {
    conn.close();
  }
}

export async function crashRun(options: CrashOptions): Promise<CrashReport> {
  const random = seeded(options.seed);
  const cleanups: (() => Promise<unknown>)[] = [];
  const counts = new Map<string, number>();
  let lastDeliveryAt = 0;
  const receiver = createServer((req, res) => {
    const id = String(req.headers['webhook-id']);
    req.resume();
    req.on('end', () => {
      counts.set(id, (counts.get(id) ?? 0) + 1);
      lastDeliveryAt = Date.now();
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        receiver.closeAllConnections();
        receiver.close(resolve);
      }),
  );
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const token = `crash-${options.seed}`;
  const start = () =>
    startHerald(
      ['--lease-ms', '10000', '--log-level', process.env.CHAOS_LOG ?? 'error'],
      {},
      { db: options.db, token },
    );

  try {
    let herald: HeraldProcess = await start();
    cleanups.push(() => herald.stop());
    const client = apiClient(() => herald);
    cleanups.push(() => client.close());
    const post = client.post;
    await post('/app', { name: 'crash', uid: 'crash' });
    await post('/app/crash/endpoint', { url: receiverUrl });

    const accepted = new Set<string>();
    let next = 0;
    let restarting: Promise<void> | null = null;
    const send = async () => {
      while (next < options.messages) {
        const n = next++;
        for (let tries = 0; ; tries++) {
          if (restarting) await restarting;
          const r = await post('/app/crash/msg', { eventType: 'e', eventId: `m${n}`, payload: { n } }).catch(
            () => null,
          );
          if (r?.status === 202) {
            accepted.add((JSON.parse(r.body) as { id: string }).id);
            break;
          }
          // 409: an earlier try was stored, and the signal swallowed its answer. It is checked
          // below through the database, like every stored message.
          if (r?.status === 409) break;
          if (tries > 2_000) throw new Error(`message ${n} never accepted: last answer ${r?.status}`);
          await sleep(20);
        }
      }
    };
    const senders = Promise.all(Array.from({ length: 8 }, send));

    const exitCodes: (number | null)[] = [];
    const recoveryMs: number[] = [];
    const stopMs: number[] = [];
    const failedStops: string[] = [];
    for (let k = 0; k < options.kills; k++) {
      // Kill k lands somewhere in the k-th slice of the run, at a seeded point.
      const at = Math.floor(((k + 0.2 + random() * 0.6) / options.kills) * options.messages * 0.9);
      while (accepted.size < at && next < options.messages) await sleep(5);
      await sleep(Math.floor(random() * 50));
      let unblock: () => void = () => undefined;
      restarting = new Promise((resolve) => {
        unblock = resolve;
      });
      const signalledAt = Date.now();
      const exited = new Promise<number | null>((resolve) =>
        herald.child.once('exit', (code) => resolve(code)),
      );
      herald.child.kill(options.signal);
      const code = await exited;
      exitCodes.push(code);
      stopMs.push(Date.now() - signalledAt);
      if (options.signal === 'SIGTERM' && code !== 0)
        failedStops.push(herald.output().split('\n').slice(-40).join('\n'));
      herald = await start();
      restarting = null;
      unblock();
      const upAt = Date.now();
      while (lastDeliveryAt < upAt && Date.now() - upAt < 30_000) await sleep(5);
      recoveryMs.push(lastDeliveryAt - signalledAt);
    }
    await senders;

    // Wait (bounded) until every stored message has reached the receiver.
    const deadline = Date.now() + 90_000;
    let ids: string[] = [];
    for (;;) {
      ids = await storedIds(options.db);
      if ((ids.length === options.messages && ids.every((id) => counts.has(id))) || Date.now() > deadline)
        break;
      await sleep(200);
    }
    const stored = new Set(ids);
    return {
      stored: ids.length,
      accepted: accepted.size,
      delivered: ids.filter((id) => counts.has(id)).length,
      lost: ids.filter((id) => !counts.has(id)).length + [...accepted].filter((id) => !stored.has(id)).length,
      duplicates: [...counts.values()].reduce((sum, n) => sum + n - 1, 0),
      unknown: [...counts.keys()].filter((id) => !stored.has(id)).length,
      exitCodes,
      recoveryMs,
      stopMs,
      failedStops,
    };
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

/** One line for the test log and RELIABILITY.md. */
export function describeReport(label: string, options: CrashOptions, r: CrashReport): string {
  const range = (xs: number[]) => (xs.length === 0 ? '-' : `${Math.min(...xs)}-${Math.max(...xs)}`);
  const codes = r.exitCodes.map((c) => (c === null ? 'killed' : String(c)));
  return (
    `${label}: ${options.kills} x ${options.signal} (seed ${options.seed}), ${options.messages} messages: ` +
    `stored ${r.stored}, answered 202 ${r.accepted}, delivered ${r.delivered}, lost ${r.lost}, ` +
    `duplicates ${r.duplicates}, unknown ${r.unknown}; exits ${codes.join(',')}; ` +
    `signal to exit ${range(r.stopMs)} ms; signal to first delivery of the new process ${range(r.recoveryMs)} ms`
  );
}
