/**
 * Scale-out across hosts: 2 API processes and 3 workers, each in a network namespace of its
 * own (`ip netns` + a veth pair), reaching PostgreSQL and the receiver over its veth. Every
 * message is delivered; a worker host whose link is cut mid-run loses nothing, and only what
 * it held when cut comes twice. The namespaces, veths and addresses are made here and removed
 * in afterAll; every address is in a private /24 that only exists on this machine.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { Agent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { IDLE_IN_TRANSACTION_MS } from '../../src/store/postgres/connection.js';
import { freshDatabase, PG_URL } from '../pg.js';
import { pooledPoster, startHerald } from '../serve.js';

const MESSAGES = 3_000;
const LEASE_MS = 10_000; // Herald's shortest
const HOSTS = 5; // 2 API hosts, then 3 worker hosts
/** Names of this run's namespaces and links: the prefix, the pid, a role letter, the index. */
const PREFIX = 'hrldns';
const TAG = `${PREFIX}${process.pid}`;
/** A /24 of our own, picked from the pid so that two runs at once do not collide. */
const NET = `10.${200 + (process.pid % 50)}.${Math.floor(process.pid / 50) % 250}`;
const SERVICE = `${NET}.254`; // the root namespace's address for PostgreSQL and the receiver
const cleanups: (() => Promise<unknown>)[] = [];

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const ns = (i: number) => `${TAG}-${i}`;
const rootLink = (i: number) => `${TAG}r${i}`;
const hostAddress = (i: number) => `${NET}.${4 * i + 2}`;

/** True while process `pid` runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes this run's namespaces and links, or with `dead` also those of any run whose process
 * is gone (a crashed one leaves them); a run going on beside this one keeps its own.
 */
function removeLeftovers(dead: boolean): void {
  const mine = (name: string) => {
    const pid = new RegExp(`^${PREFIX}(\\d+)`).exec(name)?.[1];
    if (pid === undefined) return false;
    return Number(pid) === process.pid || (dead && !alive(Number(pid)));
  };
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0]!;
    if (name && mine(name)) ip('netns', 'delete', name);
  }
  for (const line of ip('-o', 'link', 'show').split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
    // Deleting one end of a veth pair deletes the other: it may be gone already.
    if (name && mine(name) && ip('-o', 'link', 'show').includes(`: ${name}@`)) ip('link', 'delete', name);
  }
}

/** Why network namespaces cannot be made here, or null when they can. */
function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root';
  try {
    ip('-V');
  } catch {
    return "the 'ip' command (iproute2) is not installed";
  }
  try {
    // Leftovers of an earlier run of this test that crashed.
    removeLeftovers(true);
    ip('netns', 'add', `${TAG}-probe`);
    ip('netns', 'delete', `${TAG}-probe`);
  } catch (error) {
    return `'ip netns add' failed: ${(error as { stderr?: Buffer }).stderr?.toString().trim() ?? error}`;
  }
  return null;
}

/** Host i: a namespace, a veth pair (a /30 in our /24), and a route to the service address. */
function makeHosts(): void {
  // The service address sits on a veth pair of the root namespace's own (no dummy module here).
  ip('link', 'add', `${TAG}s`, 'type', 'veth', 'peer', 'name', `${TAG}t`);
  ip('addr', 'add', `${SERVICE}/32`, 'dev', `${TAG}s`);
  ip('link', 'set', `${TAG}s`, 'up');
  ip('link', 'set', `${TAG}t`, 'up');
  for (let i = 0; i < HOSTS; i++) {
    ip('netns', 'add', ns(i));
    ip('link', 'add', rootLink(i), 'type', 'veth', 'peer', 'name', `${TAG}n${i}`, 'netns', ns(i));
    ip('addr', 'add', `${NET}.${4 * i + 1}/30`, 'dev', rootLink(i));
    ip('link', 'set', rootLink(i), 'up');
    ip('-n', ns(i), 'addr', 'add', `${hostAddress(i)}/30`, 'dev', `${TAG}n${i}`);
    ip('-n', ns(i), 'link', 'set', `${TAG}n${i}`, 'up');
    ip('-n', ns(i), 'link', 'set', 'lo', 'up');
    // Only our /24 is routed, and only to the root namespace: nothing can leave the machine.
    ip('-n', ns(i), 'route', 'add', `${NET}.0/24`, 'via', `${NET}.${4 * i + 1}`);
  }
}

async function listen(server: Server | ReturnType<typeof createServer>, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(resolve);
      }),
  );
  return (server.address() as { port: number }).port;
}

/** A TCP forwarder on the service address to PostgreSQL, which listens on 127.0.0.1 only. */
async function forwarder(): Promise<number> {
  const target = new URL(PG_URL);
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
  });
  return listen(server, SERVICE);
}

const reason = unavailable();
if (reason) console.log(`Skipping the network-namespace scale-out test: ${reason}.`);

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  if (!reason) removeLeftovers(false);
});

describe.skipIf(reason !== null)('PostgreSQL scale-out across network namespaces', () => {
  it('delivers every message from 5 hosts, and a worker host cut off loses nothing', {
    timeout: 180_000,
  }, async () => {
    makeHosts();
    const counts = new Map<string, number>();
    const receiver = createServer((req: IncomingMessage, res: ServerResponse) => {
      // The cut worker's requests end mid-way: that is no error of the receiver's.
      req.on('error', () => undefined);
      req.resume();
      req.on('end', () => {
        const id = String(req.headers['webhook-id']);
        counts.set(id, (counts.get(id) ?? 0) + 1);
        // A little delay, so that each worker holds requests in flight when its link is cut.
        setTimeout(() => res.end(), 10);
      });
    });
    receiver.keepAliveTimeout = 60_000;
    const receiverPort = await listen(receiver, SERVICE);
    const pgPort = await forwarder();
    const db = await freshDatabase('netns');
    cleanups.push(db.drop);
    const dbUrl = new URL(db.url);
    dbUrl.host = `${SERVICE}:${pgPort}`;
    const token = `netns_${Date.now()}`;
    const start = async (i: number, role: 'api' | 'worker') => {
      const args = ['--role', role, '--lease-ms', String(LEASE_MS), '--allow-network', `${NET}.0/24`];
      const p = await startHerald(
        [...args, '--host', hostAddress(i), '--log-level', 'error'],
        {},
        // Five processes start on a machine busy with the rest of the suite: room to do so.
        { db: dbUrl.toString(), token, allowLoopback: false, netns: ns(i), startTimeoutMs: 60_000 },
      );
      cleanups.push(async () => {
        p.child.kill('SIGKILL');
      });
      return p;
    };
    // The first process migrates; the others find the schema in place.
    const apis = [await start(0, 'api')];
    apis.push(await start(1, 'api'));
    const workers = await Promise.all([start(2, 'worker'), start(3, 'worker'), start(4, 'worker')]);
    expect(apis.map((a) => new URL(a.url).hostname)).toEqual([hostAddress(0), hostAddress(1)]);

    const check = new pg.Client(db.url);
    await check.connect();
    cleanups.push(() => check.end());
    const agent = new Agent({ connections: 16 });
    cleanups.push(() => agent.close());
    const call = pooledPoster(agent, token);
    await call(apis[0]!, '/app', { name: 'netns', uid: 'netns' });
    await call(apis[1]!, '/app/netns/endpoint', { url: `http://${SERVICE}:${receiverPort}/hook` });
    const accepted = new Set<string>();
    let next = 0;
    const sending = Promise.all(
      Array.from({ length: 32 }, async (_, lane) => {
        while (next < MESSAGES) {
          next++;
          accepted.add(
            (await call(apis[lane % 2]!, '/app/netns/msg', { eventType: 'order.paid', payload: { lane } }))
              .id,
          );
        }
      }),
    );
    const until = async (done: () => boolean | Promise<boolean>, ms: number) => {
      const deadline = Date.now() + ms;
      while (!(await done())) {
        if (Date.now() > deadline) throw new Error(`timed out: ${counts.size} of ${MESSAGES} delivered`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    // Cut the first worker's link once it holds leases, a quarter of the way in.
    const victim = workers[0]!;
    const victimId = /dispatcher running as (\S+?)(,|\s|$)/.exec(victim.output())![1]!;
    const leasedBy = async (owner: string) =>
      (
        await check.query<{ msg_id: string }>(
          `SELECT msg_id FROM deliveries WHERE lease_owner = $1 AND status = 'sending'`,
          [owner],
        )
      ).rows.map((r) => r.msg_id);
    await until(() => counts.size >= MESSAGES / 4, 60_000);
    // Cut off, it can no longer change the database: what it holds then is all it ever held.
    // (It may have committed the last of its leases between the look and the cut: then the
    // link comes back up at once, and it is cut again once it holds some.)
    let held = new Set<string>();
    for (let cuts = 0; held.size === 0; cuts++) {
      if (cuts === 5) throw new Error('the worker never held a lease when its link was cut');
      if (cuts > 0) ip('link', 'set', rootLink(2), 'up');
      await until(async () => (await leasedBy(victimId)).length > 0, 10_000);
      ip('link', 'set', rootLink(2), 'down');
      held = new Set(await leasedBy(victimId));
    }
    await sending;
    expect(accepted.size).toBe(MESSAGES);
    await until(() => counts.size === MESSAGES, 60_000);
    expect([...counts.keys()].every((id) => accepted.has(id))).toBe(true);
    // Its leases expired and the two other workers took them over. A transaction it was in
    // the middle of when cut holds its rows locked until PostgreSQL ends the idle session.
    await until(async () => (await leasedBy(victimId)).length === 0, IDLE_IN_TRANSACTION_MS + 3 * LEASE_MS);
    // And PostgreSQL ends the cut worker's session if it was left in a transaction.
    const noneIdleInTransaction = async () =>
      (
        await check.query(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database()
             AND state = 'idle in transaction' AND state_change < now() - interval '1 second'`,
        )
      ).rowCount === 0;
    await until(noneIdleInTransaction, IDLE_IN_TRANSACTION_MS + 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
    console.log(
      `netns run: ${MESSAGES} delivered by 3 worker hosts, one cut holding ${held.size} leases, ${twice.length} delivered twice`,
    );
    expect(held.size).toBeGreaterThan(0);
    expect(twice.filter((id) => !held.has(id))).toEqual([]);
    expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);
  });
});
