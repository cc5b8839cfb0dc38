/**
 * Scale-out on PostgreSQL: 2 API processes and 3 workers on one database. With nothing
 * failing, every message is delivered exactly once; with a worker killed by SIGKILL, every
 * message is still delivered, and the duplicates stay within what that worker held.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { DISPATCHER_DEFAULTS } from '../../src/delivery/config.js';
import { freshDatabase } from '../pg.js';
import { type HeraldProcess, pooledPoster, startHerald } from '../serve.js';

const MESSAGES = Number(process.env.SCALE_MESSAGES ?? 20_000);
const LEASE_MS = 10_000;
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A receiver that counts deliveries per webhook-id, answering after `delayMs`. */
async function countingReceiver(delayMs = 0) {
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const id = String(req.headers['webhook-id']);
      counts.set(id, (counts.get(id) ?? 0) + 1);
      if (delayMs === 0) res.end();
      else setTimeout(() => res.end(), delayMs);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, counts };
}

async function cluster() {
  const db = await freshDatabase('scale');
  cleanups.push(db.drop);
  const token = `scale_${Date.now()}`;
  const start = async (role: 'api' | 'worker') => {
    const p = await startHerald(
      ['--role', role, '--lease-ms', String(LEASE_MS), '--log-level', 'error'],
      {},
      { db: db.url, token },
    );
    cleanups.push(() => p.stop());
    return p;
  };
  // The first process migrates; the others find the schema in place.
  const apis = [await start('api')];
  apis.push(await start('api'));
  const workers = await Promise.all([start('worker'), start('worker'), start('worker')]);
  return { apis, workers, token, dbUrl: db.url };
}

async function sendAll(apis: HeraldProcess[], token: string, receiverUrl: string): Promise<Set<string>> {
  const agent = new Agent({ connections: 32 });
  cleanups.push(() => agent.close());
  const call = pooledPoster(agent, token);
  await call(apis[0]!, '/app', { name: 'scale', uid: 'scale' });
  await call(apis[1]!, '/app/scale/endpoint', { url: receiverUrl });
  const accepted = new Set<string>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async (_, lane) => {
      while (next < MESSAGES) {
        const n = next++;
        const msg = await call(apis[lane % 2]!, '/app/scale/msg', {
          eventType: 'order.paid',
          payload: { n },
        });
        accepted.add(msg.id);
      }
    }),
  );
  return accepted;
}

async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe(`PostgreSQL scale-out: 2 API and 3 worker processes, ${MESSAGES} messages`, () => {
  it('delivers every message exactly once', { timeout: 180_000 }, async () => {
    const receiver = await countingReceiver();
    const { apis, token } = await cluster();
    const accepted = await sendAll(apis, token, receiver.url);
    expect(accepted.size).toBe(MESSAGES);
    await until(() => receiver.counts.size === MESSAGES, 120_000);
    expect([...receiver.counts.keys()].every((id) => accepted.has(id))).toBe(true);
    const duplicated = [...receiver.counts.values()].filter((n) => n > 1).length;
    expect(duplicated).toBe(0);
  });

  it('loses nothing when a worker is killed with SIGKILL mid-run', { timeout: 180_000 }, async () => {
    // A slow receiver keeps each worker holding requests in flight when it dies: those were
    // received but never recorded, so they must be sent again once the lease expires.
    const receiver = await countingReceiver(20);
    const { apis, workers, token, dbUrl } = await cluster();
    const victim = workers[0]!;
    const victimId = /dispatcher running as (\S+?)(,|\s|$)/.exec(victim.output())![1]!;
    const db = new pg.Client(dbUrl);
    await db.connect();
    cleanups.push(() => db.end());
    const leasedBy = async (owner: string) =>
      (
        await db.query<{ msg_id: string }>(
          `SELECT msg_id FROM deliveries WHERE lease_owner = $1 AND status = 'sending'`,
          [owner],
        )
      ).rows;
    const sending = sendAll(apis, token, receiver.url);
    await until(() => receiver.counts.size >= MESSAGES / 4, 120_000);
    // Kill the worker while it holds leases, so its deliveries must be taken over.
    let held: { msg_id: string }[] = [];
    while (held.length === 0) held = await leasedBy(victimId);
    victim.child.kill('SIGKILL');
    const accepted = await sending;
    // The killed worker's leases expire after LEASE_MS; the survivors then take them over.
    await until(() => receiver.counts.size === MESSAGES, 120_000);
    expect([...receiver.counts.keys()].every((id) => accepted.has(id))).toBe(true);
    // What the dead worker held was delivered, and once its leases expire the others take
    // over whatever it had not recorded, so nothing stays leased to it.
    for (const { msg_id } of held) expect(receiver.counts.has(msg_id)).toBe(true);
    const leaseDeadline = Date.now() + 3 * LEASE_MS;
    while ((await leasedBy(victimId)).length > 0 && Date.now() < leaseDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await leasedBy(victimId)).toEqual([]);
    // Let the survivors' re-sends of what it held land before counting.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const duplicates = [...receiver.counts.values()].reduce((sum, n) => sum + (n - 1), 0);
    console.log(
      `SIGKILL run: ${MESSAGES} delivered, worker killed holding ${held.length} leases, ${duplicates} duplicates`,
    );
    // Only what it held (claimed, possibly sent, not recorded) can have come twice.
    expect(duplicates).toBeLessThanOrEqual(DISPATCHER_DEFAULTS.concurrency);
  });
});
