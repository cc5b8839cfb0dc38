/** The `herald` command: help, flag errors, an unreachable server, a first start, and the management commands. */
import { readdirSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyStandardWebhook } from '../src/verify/index.js';
import { herald } from './cli/run.js';
import { type Receiver, startReceiver, tempDir } from './helpers.js';
import { type HeraldProcess, startHerald } from './serve.js';

describe('herald CLI', () => {
  it.each([
    [[]],
    [['serve']],
    [['receive']],
    [['app', 'create']],
    [['app', 'list']],
    [['app', 'get']],
    [['app', 'delete']],
    [['endpoint', 'create']],
    [['endpoint', 'list']],
    [['endpoint', 'get']],
    [['endpoint', 'update']],
    [['endpoint', 'disable']],
    [['endpoint', 'enable']],
    [['endpoint', 'delete']],
    [['send']],
    [['message', 'list']],
    [['message', 'get']],
    [['attempts']],
    [['resend']],
    [['recover']],
    [['replay-missing']],
    [['source', 'list']],
    [['source', 'create']],
    [['source', 'requests']],
    [['event-type', 'list']],
    [['event-type', 'create']],
  ])('%j --help explains the command', async (args) => {
    const r = await herald([...args, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: herald/);
  });

  it.each([
    [['serve', '--port', 'abc'], /--port.*must be a port number/],
    [['serve', '--role', 'boss'], /--role.*boss.*invalid/i],
    [['serve', '--wake-backoff-ms', '60000', '--port', '0'], /--wake-backoff-ms.*from 0 to 10000/],
    [['serve', '--allow-network', '10.0.0.0/99', '--port', '0'], /allowNetwork.*not a CIDR range/],
    [
      ['serve', '--db', 'mysql://localhost/herald', '--port', '0'],
      /--db: must be a SQLite file path or a postgres:\/\/ URL/,
    ],
    [['send', '--app', 'a', '--type', 't', '--payload', '{nope', '--token', 'x'], /--payload.*valid JSON/],
    [['send', '--app', 'a', '--type', 't'], /required option '--payload/],
    [['frobnicate'], /unknown command/],
    [
      ['serve', '--public-url', 'ftp://hooks.example.com', '--port', '0'],
      /--public-url.*must use http or https/,
    ],
    [['serve', '--public-url', 'hooks.example.com', '--port', '0'], /--public-url.*absolute http\(s\) URL/],
  ])('%j fails with a clear error', async (args, message) => {
    const r = await herald(args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it('says when the server cannot be reached or no token is given', async () => {
    // A port of 127.0.0.1 just closed: nothing listens there (fetch refuses port 9 itself).
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const nobody = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await herald(['app', 'list', '--server', nobody, '--token', 't']);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toBe(
      `herald: no Herald at ${nobody}: start it with \`npx herald serve\` or pass --server\n`,
    );
    const noToken = await herald(['app', 'list', '--server', 'http://127.0.0.1:9'], { HERALD_TOKEN: '' });
    expect(noToken.stderr).toMatch(/^herald: no API token: set HERALD_TOKEN or pass --token/);
  });

  describe('first start', () => {
    const printedToken = (output: string) => /created admin token[^:]*: (\S+)/.exec(output)?.[1];
    const answers = async (server: HeraldProcess, token: string) =>
      (await fetch(`${server.url}/api/v1/app`, { headers: { authorization: `Bearer ${token}` } })).status;

    it('a port in use is one line and exit 2, stores no token, and the next start prints one that works', async () => {
      const busy = createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      const port = String((busy.address() as AddressInfo).port);
      const dir = tempDir();
      const db = dir.path('herald.db');
      try {
        const failed = await herald(['serve', '--port', port, '--db', db], { HERALD_ADMIN_TOKEN: '' });
        await new Promise((resolve) => busy.close(resolve));
        expect(failed.stderr).toBe(`herald: port ${port} is in use; choose another with --port\n`);
        expect(failed.code).toBe(2);
        expect(failed.stdout).not.toMatch(/admin token/);

        // The failed start left no token behind: this start creates one, prints it, and it works.
        const second = await startHerald([], { HERALD_ADMIN_TOKEN: '' }, { db });
        const token = printedToken(second.output());
        expect(token).toMatch(/^herald_admin_/);
        expect(await answers(second, token!)).toBe(200);
        expect(await answers(second, 'herald_admin_wrong')).toBe(401);
        expect(await second.stop()).toBe(0);

        // Access lost (token not kept): a start with HERALD_ADMIN_TOKEN adds a token of one's own.
        const chosen = `herald_admin_mine_${Math.random().toString(36).slice(2)}`;
        const third = await startHerald([], { HERALD_ADMIN_TOKEN: chosen }, { db });
        expect(printedToken(third.output())).toBeUndefined();
        expect(await answers(third, chosen)).toBe(200);
        expect(await answers(third, token!)).toBe(200);
        expect(await third.stop()).toBe(0);
      } finally {
        dir.remove();
      }
    });
  });

  describe('against a running Herald', () => {
    let server: HeraldProcess;
    let receiver: Receiver;
    beforeAll(async () => {
      server = await startHerald();
      receiver = await startReceiver();
    });
    afterAll(async () => {
      await receiver.close();
      await server.stop();
    });

    it('creates an application and endpoint, sends, lists attempts and resends', async () => {
      const env = { HERALD_SERVER: server.url, HERALD_TOKEN: server.token };
      const app = JSON.parse(
        (await herald(['app', 'create', '--name', 'CLI shop', '--uid', 'cli-shop', '--json'], env)).stdout,
      );
      expect(app.uid).toBe('cli-shop');
      const ep = JSON.parse(
        (
          await herald(
            [
              ...['endpoint', 'create', '--app', 'cli-shop', '--url', receiver.url],
              ...['--event-type', 'order.paid', '--json'],
            ],
            env,
          )
        ).stdout,
      );
      expect(ep.secret).toMatch(/^whsec_/);
      expect(ep.filterTypes).toEqual(['order.paid']);
      const msg = JSON.parse(
        (
          await herald(
            ['send', '--app', 'cli-shop', '--type', 'order.paid', '--payload', '{"total": 5}', '--json'],
            env,
          )
        ).stdout,
      );
      let attempts = { data: [] as unknown[] };
      for (let i = 0; i < 100 && attempts.data.length === 0; i++) {
        attempts = JSON.parse(
          (await herald(['attempts', '--app', 'cli-shop', '--msg', msg.id, '--json'], env)).stdout,
        );
      }
      expect(attempts.data[0]).toMatchObject({ msgId: msg.id, responseStatusCode: 200 });
      const resent = await herald(
        ['resend', '--app', 'cli-shop', '--msg', msg.id, '--endpoint', ep.id, '--json'],
        env,
      );
      expect(JSON.parse(resent.stdout)).toEqual({ resent: true });
      const missing = await herald(['send', '--app', 'no-such-app', '--type', 'x', '--payload', '{}'], env);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toBe('herald: application no-such-app not found\n');
    });

    it('prints where it listens and the database, and stops cleanly on SIGTERM', async () => {
      const other = await startHerald();
      expect(other.output()).toMatch(/API listening on http:\/\/127\.0\.0\.1:\d+/);
      expect(other.output()).toContain(`database ${other.dbPath} (sqlite), secrets stored in plain text`);
      expect(await other.stop()).toBe(0);
      expect(other.output()).toContain('herald: stopped');
    });
  });

  it('key generate prints a main key that serve accepts; serve refuses a malformed one', async () => {
    const r = await herald(['key', 'generate']);
    expect(r.code).toBe(0);
    expect(Buffer.from(r.stdout.trim(), 'base64')).toHaveLength(32);
    const bad = await herald(['serve', '--port', '0', '--db', ':memory:'], { HERALD_MAIN_KEY: 'hunter2' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/HERALD_MAIN_KEY: key 1 must be 32 bytes/);
  });

  it('with HERALD_MAIN_KEY, serve signs with sealed secrets and a restart without the key is refused', async () => {
    const dir = tempDir();
    const db = dir.path('herald.db');
    const key = (await herald(['key', 'generate'])).stdout.trim();
    const receiver = await startReceiver();
    const server = await startHerald([], { HERALD_MAIN_KEY: key }, { db });
    try {
      expect(server.output()).toContain('secrets encrypted with HERALD_MAIN_KEY');
      const env = { HERALD_SERVER: server.url, HERALD_TOKEN: server.token };
      await herald(['app', 'create', '--name', 'Sealed', '--uid', 'sealed'], env);
      const ep = JSON.parse(
        (await herald(['endpoint', 'create', '--app', 'sealed', '--url', receiver.url, '--json'], env))
          .stdout,
      );
      await herald(['send', '--app', 'sealed', '--type', 'a.b', '--payload', '{"n": 1}'], env);
      for (let i = 0; i < 200 && receiver.received.length === 0; i++)
        await new Promise((r) => setTimeout(r, 25));
      const got = receiver.received[0]!;
      const headers = Object.fromEntries(Object.entries(got.headers).map(([k, v]) => [k, String(v)]));
      expect(verifyStandardWebhook(ep.secret, headers, got.body)).toBe(headers['webhook-id']);
      expect(JSON.parse(got.body)).toEqual({ n: 1 });
    } finally {
      expect(await server.stop()).toBe(0);
      await receiver.close();
    }
    const files = readdirSync(dir.dir).map((f) => readFileSync(dir.path(f)));
    expect(files.some((bytes) => bytes.includes('whsec_'))).toBe(false);
    const refused = await herald(['serve', '--port', '0', '--db', db], { HERALD_MAIN_KEY: '' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/encrypted secrets: set HERALD_MAIN_KEY/);
    dir.remove();
  });

  it('links it returns use the real port, or --public-url when given', async () => {
    const links = async (server: HeraldProcess) => {
      const app = await fetch(`${server.url}/api/v1/app`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'links' }),
      }).then((r) => r.json() as Promise<{ id: string }>);
      const portal = await fetch(`${server.url}/api/v1/auth/app-portal-access/${app.id}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
        body: '{}',
      }).then((r) => r.json() as Promise<{ url: string }>);
      return { app: app.id, url: portal.url };
    };
    const plain = await startHerald();
    try {
      const { app, url } = await links(plain);
      expect(url).toMatch(new RegExp(`^${plain.url}/portal/${app}#key=herald_app_`));
    } finally {
      await plain.stop();
    }
    const behindProxy = await startHerald(['--public-url', 'https://hooks.example.com/']);
    try {
      const { app, url } = await links(behindProxy);
      expect(url).toMatch(new RegExp(`^https://hooks\\.example\\.com/portal/${app}#key=herald_app_`));
    } finally {
      await behindProxy.stop();
    }
  });
});
