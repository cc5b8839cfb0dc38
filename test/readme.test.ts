/**
 * The README cannot rot: this runs every command of its walkthrough, as written, against a
 * real `herald serve` and `herald receive`. Each sh block is a terminal with a shell of its
 * own, started without the Herald variables a developer may have set, so a command that
 * needs what another terminal did (the token) fails here as it would for a reader. Only the
 * ports, the database file and the token the reader pastes are substituted.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const walkthrough = readme.slice(
  readme.indexOf('<!-- walkthrough:start'),
  readme.indexOf('<!-- walkthrough:end -->'),
);
/** The commands of each terminal (sh block), comments dropped. */
const terminals = [...walkthrough.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
  m[1]!
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter(Boolean),
);
const TOKEN_PLACEHOLDER = 'herald_admin_...';
const run = promisify(execFile);
const children: ChildProcess[] = [];
const dir = tempDir();
/** A new terminal's environment: none of the Herald variables this process may have. */
const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HERALD_')));

afterAll(async () => {
  // Each command ran in its own process group: stop bash, npm and node together.
  for (const child of children) if (child.pid) process.kill(-child.pid, 'SIGTERM');
  dir.remove();
});

/** Starts a long-running README command and resolves once `ready` matches its output. */
function start(command: string, ready: RegExp): Promise<{ match: RegExpExecArray; output: () => string }> {
  const child = spawn('bash', ['-c', command], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    // `npx herald` links the checkout into npm's cache on its first run: a few seconds more.
    const timer = setTimeout(() => reject(new Error(`not ready: ${command}\n${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const match = ready.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ match, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
}

/** Runs `commands` one after the other in one shell, as typed into one terminal; their outputs. */
async function terminal(commands: string[]): Promise<string[]> {
  const mark = '--- readme.test: next command ---';
  const script = ['set -e', ...commands.flatMap((c) => [c, `printf '\\n%s\\n' '${mark}'`])].join('\n');
  const { stdout } = await run('bash', ['-c', script], { env, cwd: ROOT });
  return stdout.split(`\n${mark}\n`).slice(0, commands.length);
}

describe('README walkthrough', () => {
  it('has the terminals this test expects', () => {
    expect(terminals.map((t) => t.length)).toEqual([1, 1, 5]);
    const [[serve], [receive], [setToken, ...curls]] = terminals as [[string], [string], string[]];
    expect(serve).toBe('npm start -- --allow-network 127.0.0.0/8');
    expect(receive).toMatch(/^npx herald receive --port 8072 --secret whsec_/);
    // The token is set in the terminal whose commands use it.
    expect(setToken).toBe(`export HERALD_TOKEN=${TOKEN_PLACEHOLDER}`);
    expect(curls.every((c) => c.startsWith('curl ') && c.includes('$HERALD_TOKEN'))).toBe(true);
  });

  it('works as written', { timeout: 120_000 }, async () => {
    const [[serve], [receive], third] = terminals as [[string], [string], string[]];
    // Same commands; ports 0 (free ports) and a fresh database instead of ./herald.db.
    const herald = await start(
      `${serve} --port 0 --db ${dir.path('readme.db')}`,
      /created admin token[^:]*: (\S+)[\s\S]*API listening on http:\/\/127\.0\.0\.1:(\d+)/,
    );
    const [, token, apiPort] = herald.match;
    const receiver = await start(
      receive.replace('--port 8072', '--port 0'),
      /listening on http:\/\/127\.0\.0\.1:(\d+)/,
    );
    const receiverPort = receiver.match[1]!;
    const typed = third.map((command) =>
      command
        .replace(TOKEN_PLACEHOLDER, token!)
        .replaceAll('127.0.0.1:8071', `127.0.0.1:${apiPort}`)
        .replaceAll('127.0.0.1:8072', `127.0.0.1:${receiverPort}`),
    );
    const outputs = (await terminal(typed)).slice(1);
    expect(JSON.parse(outputs[0]!)).toMatchObject({ name: 'My shop', uid: 'my-shop' });
    expect(JSON.parse(outputs[1]!)).toMatchObject({ uid: 'local' });
    expect(JSON.parse(outputs[2]!)).toMatchObject({ eventType: 'order.paid', eventId: 'order-1001' });
    // Delivery is asynchronous: the last command is typed again until the attempt is recorded.
    let attempts = outputs[3]!;
    for (let i = 0; i < 100 && !attempts.includes('"responseStatusCode":200'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      attempts = (await terminal([typed[0]!, typed.at(-1)!]))[1]!;
    }
    expect(attempts).toContain('"responseStatusCode":200');
    expect(receiver.output()).toContain('signature: verified');
    expect(receiver.output()).toContain('event type: order.paid');
  });
});
