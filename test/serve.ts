/** Runs the real `herald serve` command as a child process for a test. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { tempDir } from './helpers.js';
import { testDatabaseUrl } from './store-under-test.js';

const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));

/** Every process started here and still running; killed if the test process exits first. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A running Herald. */
export interface HeraldProcess {
  url: string;
  token: string;
  dbPath: string;
  output: () => string;
  child: ChildProcess;
  /** POSTs JSON to `/api/v1{path}` with the admin token; throws, with the answer, unless 2xx. */
  post(path: string, body: unknown): Promise<{ id: string } & Record<string, unknown>>;
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<number | null>;
}

/** Options of {@link startHerald}. */
export interface StartOptions {
  /**
   * A database URL to share between processes; default a fresh database of the store under
   * test (`HERALD_TEST_DB`): a SQLite file, or a PostgreSQL database dropped at `stop()`.
   */
  db?: string;
  /** The admin token; default a random one. */
  token?: string;
  /** Let endpoints on 127.0.0.0/8 be reached (`--allow-network`); default true. */
  allowLoopback?: boolean;
  /** Run it inside this network namespace (`ip netns exec`); default the test's own. */
  netns?: string;
  /** How long it may take to say it listens (ms); default 15 s. */
  startTimeoutMs?: number;
}

/** Starts `herald serve` on a free port with a fresh database and a known admin token. */
export async function startHerald(
  extraArgs: string[] = [],
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<HeraldProcess> {
  const dir = tempDir();
  const own = options.db === undefined ? await testDatabaseUrl('serve', dir.path('herald.db')) : null;
  const dbPath = options.db ?? own!.url;
  const token = options.token ?? `test_admin_${Math.random().toString(36).slice(2)}`;
  // A worker has no API; its banner ends with the dispatcher line.
  const ready = extraArgs.includes('worker') ? /dispatcher running/ : /API listening on (http:\/\/\S+)/;
  const [command, ...prefix] = options.netns
    ? ['ip', 'netns', 'exec', options.netns, process.execPath]
    : [process.execPath];
  const child = spawn(
    command!,
    [
      ...prefix,
      BIN,
      'serve',
      '--port',
      '0',
      '--db',
      dbPath,
      ...(options.allowLoopback === false ? [] : ['--allow-network', '127.0.0.0/8']),
      '--log-level',
      'warn',
      ...extraArgs,
    ],
    { env: { ...process.env, HERALD_ADMIN_TOKEN: token, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.on('error', () => undefined);
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`herald did not start:\n${out}`)),
      options.startTimeoutMs ?? 15_000,
    );
    const check = () => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? '');
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`herald exited with ${code}:\n${out}`));
    });
  });
  return {
    url,
    token,
    dbPath,
    output: () => out,
    child,
    async post(path, body) {
      const res = await fetch(`${url}/api/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text}`);
      return JSON.parse(text);
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          dir.remove();
          void (own?.drop() ?? Promise.resolve()).then(() => resolve(child.exitCode));
          return;
        }
        // A process that does not stop within 15 s is killed, so no test leaves one behind.
        const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', (code) => {
          clearTimeout(killer);
          dir.remove();
          void (own?.drop() ?? Promise.resolve()).then(() => resolve(code));
        });
        child.kill('SIGTERM');
      }),
  };
}

/** A client for a Herald's API; `target` is read per call, so it follows a restarted process. */
export interface ApiClient {
  post(path: string, body: unknown): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

/** POSTs JSON to `/api/v1{path}` of `target()` over 16 keep-alive connections. */
export function apiClient(target: () => HeraldProcess): ApiClient {
  const agent = new Agent({ connections: 16 });
  return {
    async post(path, body) {
      const herald = target();
      const res = await agent.request({
        origin: herald.url,
        path: `/api/v1${path}`,
        method: 'POST',
        headers: { authorization: `Bearer ${herald.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.statusCode, body: await res.body.text() };
    },
    close: () => agent.close(),
  };
}

/**
 * POSTs JSON to `/api/v1{path}` of any of several processes through one pooled agent (the
 * load of the scale-out tests); throws, with the answer, unless 2xx.
 */
export function pooledPoster(agent: Agent, token: string) {
  return async (api: HeraldProcess, path: string, body: unknown): Promise<{ id: string }> => {
    const res = await agent.request({
      origin: api.url,
      path: `/api/v1${path}`,
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${path}: ${res.statusCode} ${text}`);
    return JSON.parse(text) as { id: string };
  };
}
