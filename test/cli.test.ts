/** The `herald` command: help, flag errors, an unreachable server, and the management commands. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from './helpers.js';
import { type HeraldProcess, startHerald } from './serve.js';

const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));
const exec = promisify(execFile);

async function herald(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('herald CLI', () => {
  it.each([
    [[]],
    [['serve']],
    [['receive']],
    [['app', 'create']],
    [['app', 'list']],
    [['endpoint', 'create']],
    [['send']],
    [['attempts']],
    [['resend']],
  ])('%j --help explains the command', async (args) => {
    const r = await herald([...args, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: herald/);
  });

  it.each([
    [['serve', '--port', 'abc'], /--port.*must be a port number/],
    [['serve', '--role', 'boss'], /--role.*boss.*invalid/i],
    [['serve', '--allow-network', '10.0.0.0/99', '--port', '0'], /allowNetwork.*not a CIDR range/],
    [
      ['serve', '--db', 'mysql://localhost/herald', '--port', '0'],
      /--db: must be a SQLite file path or a postgres:\/\/ URL/,
    ],
    [['send', '--app', 'a', '--type', 't', '--payload', '{nope', '--token', 'x'], /--payload.*valid JSON/],
    [['send', '--app', 'a', '--type', 't'], /required option '--payload/],
    [['frobnicate'], /unknown command/],
  ])('%j fails with a clear error', async (args, message) => {
    const r = await herald(args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  it('says when the server cannot be reached or no token is given', async () => {
    const unreachable = await herald(['app', 'list', '--server', 'http://127.0.0.1:9', '--token', 't']);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/cannot reach Herald at http:\/\/127\.0\.0\.1:9/);
    const noToken = await herald(['app', 'list', '--server', 'http://127.0.0.1:9'], { HERALD_TOKEN: '' });
    expect(noToken.stderr).toMatch(/no API token/);
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
        (await herald(['app', 'create', '--name', 'CLI shop', '--uid', 'cli-shop'], env)).stdout,
      );
      expect(app.uid).toBe('cli-shop');
      const ep = JSON.parse(
        (
          await herald(
            ['endpoint', 'create', '--app', 'cli-shop', '--url', receiver.url, '--event-type', 'order.paid'],
            env,
          )
        ).stdout,
      );
      expect(ep.secret).toMatch(/^whsec_/);
      expect(ep.filterTypes).toEqual(['order.paid']);
      const msg = JSON.parse(
        (
          await herald(
            ['send', '--app', 'cli-shop', '--type', 'order.paid', '--payload', '{"total": 5}'],
            env,
          )
        ).stdout,
      );
      let attempts = { data: [] as unknown[] };
      for (let i = 0; i < 100 && attempts.data.length === 0; i++) {
        attempts = JSON.parse((await herald(['attempts', '--app', 'cli-shop', '--msg', msg.id], env)).stdout);
      }
      expect(attempts.data[0]).toMatchObject({ msgId: msg.id, responseStatusCode: 200 });
      const resent = await herald(['resend', '--app', 'cli-shop', '--msg', msg.id, '--endpoint', ep.id], env);
      expect(JSON.parse(resent.stdout)).toEqual({ resent: true });
      const missing = await herald(['send', '--app', 'no-such-app', '--type', 'x', '--payload', '{}'], env);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/failed with 404/);
    });

    it('prints where it listens and the database, and stops cleanly on SIGTERM', async () => {
      const other = await startHerald();
      expect(other.output()).toMatch(/API listening on http:\/\/127\.0\.0\.1:\d+/);
      expect(other.output()).toContain(`database ${other.dbPath} (sqlite)`);
      expect(await other.stop()).toBe(0);
      expect(other.output()).toContain('herald: stopped');
    });
  });
});
