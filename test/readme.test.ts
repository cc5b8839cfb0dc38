/**
 * The README cannot rot: this runs every command of its walkthrough, as written, against a
 * real `herald serve` and `herald receive`, substituting only the ports.
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
const commands = [...walkthrough.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
  m[1]!
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter(Boolean),
);
const run = promisify(execFile);
const children: ChildProcess[] = [];
const dir = tempDir();

afterAll(async () => {
  // Each command ran in its own process group: stop bash, npm and node together.
  for (const child of children) if (child.pid) process.kill(-child.pid, 'SIGTERM');
  dir.remove();
});

/** Starts a long-running README command and resolves once `ready` matches its output. */
function start(command: string, ready: RegExp): Promise<{ match: RegExpExecArray; output: () => string }> {
  const child = spawn('bash', ['-c', command], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${command}\n${out}`)), 20_000);
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

describe('README walkthrough', () => {
  it('has the commands this test expects', () => {
    expect(commands[0]).toBe('npm start -- --allow-network 127.0.0.0/8');
    expect(commands[1]).toMatch(/^export HERALD_TOKEN=/);
    expect(commands[2]).toMatch(/^node bin\/herald\.js receive --port 8072 --secret whsec_/);
    expect(commands.slice(3).every((c) => c.startsWith('curl '))).toBe(true);
    expect(commands.length).toBe(7);
  });

  it('works as written', async () => {
    // Same commands; ports 0 (free ports) and a fresh database instead of ./herald.db.
    const herald = await start(
      `${commands[0]!} --port 0 --db ${dir.path('readme.db')}`,
      /created admin token[^:]*: (\S+)[\s\S]*API listening on http:\/\/127\.0\.0\.1:(\d+)/,
    );
    const [, token, apiPort] = herald.match;
    const receiver = await start(
      commands[2]!.replace('--port 8072', '--port 0'),
      /listening on http:\/\/127\.0\.0\.1:(\d+)/,
    );
    const receiverPort = receiver.match[1]!;
    const env = { ...process.env, HERALD_TOKEN: token! };
    const outputs: string[] = [];
    for (const command of commands.slice(3)) {
      const line = command
        .replaceAll('127.0.0.1:8071', `127.0.0.1:${apiPort}`)
        .replaceAll('127.0.0.1:8072', `127.0.0.1:${receiverPort}`);
      const { stdout } = await run('bash', ['-c', line], { env, cwd: ROOT });
      outputs.push(stdout);
    }
    expect(JSON.parse(outputs[0]!)).toMatchObject({ name: 'My shop', uid: 'my-shop' });
    expect(JSON.parse(outputs[1]!)).toMatchObject({ uid: 'local' });
    expect(JSON.parse(outputs[2]!)).toMatchObject({ eventType: 'order.paid', eventId: 'order-1001' });
    // Delivery is asynchronous: the last command is repeated until the attempt is recorded.
    let attempts = outputs[3]!;
    const last = commands.at(-1)!.replaceAll('127.0.0.1:8071', `127.0.0.1:${apiPort}`);
    for (let i = 0; i < 100 && !attempts.includes('"responseStatusCode":200'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      attempts = (await run('bash', ['-c', last], { env, cwd: ROOT })).stdout;
    }
    expect(attempts).toContain('"responseStatusCode":200');
    expect(receiver.output()).toContain('signature: verified');
    expect(receiver.output()).toContain('event type: order.paid');
  });
});
