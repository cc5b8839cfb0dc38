/** Processes the benchmarks drive: receivers and `herald serve`, each in its own process. */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';

/** A receiver process. */
export interface ReceiverProcess {
  url: string;
  pid: number;
  count(): Promise<number>;
  /** Arrival time (ms, comparable across processes) of each webhook-id, first arrival only. */
  arrivals(): Promise<Map<string, number>>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

function ask<T>(child: ChildProcess, message: string, key: string): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (m: Record<string, unknown>) => {
      if (!(key in m)) return;
      child.off('message', onMessage);
      resolve(m[key] as T);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

/**
 * Starts a receiver that answers 200, or with `hang` never answers; with `latency`, it
 * reads each body's `sentAt` instead of keeping arrivals: `latencies()` hands over the ms
 * from each `sentAt` to its arrival since the last call.
 */
export async function startReceiver(
  mode: 'ok' | 'hang' | 'latency' = 'ok',
): Promise<ReceiverProcess & { latencies(): Promise<number[]> }> {
  const child = fork(new URL('./receiver.mjs', import.meta.url), mode === 'ok' ? [] : [mode]);
  const port = await ask<number>(child, 'noop', 'port');
  return {
    url: `http://127.0.0.1:${port}/hook`,
    pid: child.pid!,
    latencies: () => ask<number[]>(child, 'latencies', 'latencies'),
    count: () => ask<number>(child, 'count', 'count'),
    arrivals: async () => new Map(await ask<[string, number][]>(child, 'arrivals', 'arrivals')),
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

let servePeakRss = 0;

/**
 * Peak RSS (MB) of any `herald serve` process started here (API or worker) since the last
 * call, 0 if unknown; starts the next measurement.
 */
export function takeHeraldPeakRssMb(): number {
  const peak = servePeakRss / 2 ** 20;
  servePeakRss = 0;
  return peak;
}

/** Samples a child's RSS from /proc every 100 ms until it exits (Linux; elsewhere a no-op). */
function sampleRss(child: ChildProcess): void {
  const timer = setInterval(() => {
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      if (kb) servePeakRss = Math.max(servePeakRss, Number(kb) * 1024);
    } catch {
      clearInterval(timer);
    }
  }, 100);
  timer.unref();
  child.once('exit', () => clearInterval(timer));
}

/** CPU time in clock ticks of each thread of process `pid`, by thread id; empty off Linux. */
function threadTicks(pid: number): Map<number, number> {
  const ticks = new Map<number, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      // Fields after the command name: state is the first, utime the 12th, stime the 13th.
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(Number(tid), Number(fields[11]) + Number(fields[12]));
    }
  } catch {
    // Not Linux, or the process ended: nothing to report.
  }
  return ticks;
}

/** Busy and total clock ticks of the whole machine, from /proc/stat; zeros off Linux. */
function machineTicks(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const t = line.trim().split(/\s+/).slice(1).map(Number);
    const total = t.reduce((a, b) => a + b, 0);
    // idle and iowait are the 4th and 5th numbers.
    return { busy: total - (t[3] ?? 0) - (t[4] ?? 0), total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

let serveCpu = '';

/**
 * Starts measuring the CPU that each thread of `herald serve` process `pid` uses; the
 * returned function ends the window and keeps its summary for {@link takeHeraldCpu}: the
 * main thread's and the busiest other thread's share of one core, and how busy the whole
 * machine was (every core, every process).
 */
export function measureHeraldCpu(pid: number): () => void {
  const before = threadTicks(pid);
  const machineBefore = machineTicks();
  const started = performance.now();
  return () => {
    const machine = machineTicks();
    const busy = (machine.busy - machineBefore.busy) / (machine.total - machineBefore.total || 1);
    const seconds = (performance.now() - started) / 1000;
    const used = [...threadTicks(pid)].map(([tid, t]) => ({
      tid,
      share: (t - (before.get(tid) ?? 0)) / TICKS_PER_SECOND / seconds,
    }));
    const main = used.find((u) => u.tid === pid);
    const other = used.filter((u) => u.tid !== pid).sort((a, b) => b.share - a.share)[0];
    if (!main) return;
    const pct = (x: number) => `${Math.round(100 * x)} %`;
    serveCpu = `main thread ${pct(main.share)}${other ? `, busiest other thread ${pct(other.share)}` : ''} of a core; machine ${pct(busy)} busy`;
  };
}

/** The summary of the last {@link measureHeraldCpu} window since the last call, or ''. */
export function takeHeraldCpu(): string {
  const cpu = serveCpu;
  serveCpu = '';
  return cpu;
}

/** A running `herald serve` on a fresh SQLite file, with a client for its API. */
export interface HeraldServer {
  url: string;
  pid: number;
  /** POSTs JSON to `/api/v1{path}`; resolves with the parsed answer, throws on non-2xx. */
  post(path: string, body: unknown): Promise<{ id: string }>;
  /**
   * POSTs JSON and reads the answer without parsing it, throwing on non-2xx: the client
   * work the peers' clients do, for the timed throughput scenarios.
   */
  send(path: string, body: unknown): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `herald serve` (API and dispatcher) on a fresh SQLite file, or on `--db` in `extraArgs`. */
export async function startHerald(extraArgs: string[] = []): Promise<HeraldServer> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const db = extraArgs.includes('--db') ? [] : ['--db', join(dir, 'herald.db')];
  const token = 'bench-token';
  const child = fork(
    new URL('../bin/herald.js', import.meta.url),
    ['serve', '--port', '0', ...db, '--allow-network', '127.0.0.0/8', '--log-level', 'error', ...extraArgs],
    {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      env: { ...process.env, HERALD_ADMIN_TOKEN: token },
      // e.g. HERALD_BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles each herald serve.
      execArgv: process.env.HERALD_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
    },
  );
  sampleRss(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /API listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`herald exited with ${code}: ${out}`)));
  });
  const agent = new Agent({ connections: 64, keepAliveTimeout: 60_000 });
  const origin = new URL(url).origin;
  const request = (path: string, body: unknown) =>
    agent.request({
      origin,
      path: `/api/v1${path}`,
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  return {
    url,
    pid: child.pid!,
    async post(path, body) {
      const res = await request(path, body);
      const text = await res.body.text();
      if (res.statusCode >= 300) throw new Error(`POST ${path}: ${res.statusCode} ${text}`);
      return JSON.parse(text) as { id: string };
    },
    async send(path, body) {
      const res = await request(path, body);
      if (res.statusCode < 300) return res.body.dump();
      throw new Error(`POST ${path}: ${res.statusCode} ${await res.body.text()}`);
    },
    async stop() {
      await agent.close();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The relay ceiling (`bench/relay.mjs`): Herald's ingest route, forwarded, nothing stored. */
export type RelayServer = Pick<HeraldServer, 'url' | 'pid' | 'send' | 'stop'>;

/** Starts `bench/relay.mjs` forwarding to `target`. */
export async function startRelay(target: string): Promise<RelayServer> {
  const child = fork(new URL('./relay.mjs', import.meta.url), [target], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  const agent = new Agent({ connections: 64, keepAliveTimeout: 60_000 });
  return {
    url,
    pid: child.pid!,
    async send(path, body) {
      const res = await agent.request({
        origin: url,
        path: `/api/v1${path}`,
        method: 'POST',
        headers: { authorization: 'Bearer bench-token', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.statusCode < 300) return res.body.dump();
      throw new Error(`relay POST ${path}: ${res.statusCode} ${await res.body.text()}`);
    },
    async stop() {
      await agent.close();
      await stopAll([child]);
    },
  };
}

/** Runs `task` with `lanes` concurrent lanes until `n` items are done. */
export async function lanes(
  n: number,
  lanesCount: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanesCount }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

/** Polls `count` until it reaches `n`. */
export async function until(count: () => Promise<number>, n: number, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await count()) < n) {
    if (Date.now() > deadline) throw new Error(`timed out at ${await count()} of ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A peer sender (BullMQ or pg-boss) behind the same kind of ingest route as Herald's. */
export interface PeerServer {
  pid: number;
  post(body: unknown): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `bench/peers/<kind>.ts` in its own process with these arguments. */
export async function startPeer(kind: 'bullmq' | 'pgboss', args: string[]): Promise<PeerServer> {
  const child = fork(new URL(`./peers/${kind}.ts`, import.meta.url), args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`${kind} peer exited with ${code}`)));
  });
  const agent = new Agent({ connections: 64, keepAliveTimeout: 60_000 });
  const origin = new URL(url).origin;
  return {
    pid: child.pid!,
    async post(body) {
      const res = await agent.request({
        origin,
        path: '/msg',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      await res.body.dump();
      if (res.statusCode !== 202) throw new Error(`${kind} peer answered ${res.statusCode}`);
    },
    async stop() {
      await agent.close();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts `herald serve --role worker` on `db`; resolves once its dispatcher runs. */
export async function startWorker(db: string): Promise<ChildProcess> {
  const child = fork(
    new URL('../bin/herald.js', import.meta.url),
    ['serve', '--role', 'worker', '--db', db, '--allow-network', '127.0.0.0/8', '--log-level', 'error'],
    {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      // HERALD_BENCH_NODE_ARGS as in startHerald: profiles each worker too.
      execArgv: process.env.HERALD_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
    },
  );
  sampleRss(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('dispatcher running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
  return child;
}

/** Stops child processes with SIGTERM and waits for them. */
export async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map((child) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      return exited;
    }),
  );
}
