/**
 * A PostgreSQL server of the bench's own, for runs that need settings the machine's server
 * does not have (this machine's runs with autovacuum off, and a bench should not change a
 * shared server's configuration): `initdb` into a temporary directory, the server started on
 * 127.0.0.1 at a free port with PostgreSQL's defaults (autovacuum on) plus `settings`, and
 * removed again by `stop()`. It uses the Debian binaries (/usr/lib/postgresql/<version>/bin)
 * and runs them as the `postgres` user when the bench runs as root (initdb refuses root).
 *
 *   const pgServer = await startOwnPostgres({ autovacuum: 'on' });
 *   … pgServer.url …
 *   await pgServer.stop();
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface OwnPostgres {
  /** A URL of its `postgres` database, as superuser `postgres`. */
  url: string;
  stop(): Promise<void>;
}

/** The newest PostgreSQL binaries of the machine. */
function binaries(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(`no initdb under ${root}: install the postgresql package`);
  return join(root, versions[0]!, 'bin');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs `command` as the `postgres` user when this process is root, else as itself. */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

export async function startOwnPostgres(settings: Record<string, string> = {}): Promise<OwnPostgres> {
  const bin = binaries();
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const [initdb, initArgs] = asPostgres(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '--no-sync',
  ]);
  execFileSync(initdb, initArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await freePort();
  const options = Object.entries({
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    ...settings,
  });
  const [postgres, args] = asPostgres(join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    ...options.flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ]);
  const server = spawn(postgres, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  server.stderr.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-4000);
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = new pg.Client(url);
    try {
      await client.connect();
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (server.exitCode !== null || Date.now() > deadline)
        throw new Error(`the bench's PostgreSQL did not start: ${(error as Error).message}\n${log}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return {
    url,
    stop: async () => {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      // Through pg_ctl: under runuser, a signal to the child process would reach runuser only.
      const [pgCtl, ctlArgs] = asPostgres(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'fast', '-w']);
      execFileSync(pgCtl, ctlArgs, { stdio: 'ignore' });
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
