/**
 * `herald serve --log-format`: JSON lines on stderr for a log collector, pretty lines for a
 * person, never a mix, from every thread (the dispatcher thread's lines go through the same
 * path as the API's). The start-up banner stays on stdout. Without the flag a terminal gets
 * pretty coloured lines and anything else JSON.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver, tempDir } from '../helpers.js';
import { herald } from './run.js';

const BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));
const TOKEN = 'log-format-admin';
const dir = tempDir();
let gone: Receiver;
const running: ChildProcess[] = [];

beforeAll(async () => {
  // 410 Gone: the dispatcher thread disables the endpoint and logs it (warn).
  gone = await startReceiver((_req, res) => res.writeHead(410).end());
});

afterEach(async () => {
  for (const child of running.splice(0)) {
    if (child.exitCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

afterAll(async () => {
  await gone.close();
  dir.remove();
});

/** This process's environment less `names` (commander takes a variable set to '' as set). */
function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of names) delete env[name];
  return env;
}

/** Starts `herald serve` with `args`, stdout and stderr kept apart; resolves once it listens. */
async function serve(args: string[], env: Record<string, string> = {}) {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--db', dir.path(`${running.length}-${Date.now()}.db`), ...args],
    {
      env: { ...envWithout('HERALD_LOG_FORMAT'), HERALD_ADMIN_TOKEN: TOKEN, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => {
    out.stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out.stderr += d.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`herald did not start:\n${out.stdout}${out.stderr}`)),
      15_000,
    );
    child.stdout!.on('data', () => {
      const m = /API listening on (http:\/\/\S+)/.exec(out.stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`herald exited ${code}:\n${out.stdout}${out.stderr}`)));
  });
  return { url, out };
}

/** An application and an endpoint that answers 410, and one message to it. */
async function sendToGone(url: string): Promise<void> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}/api/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    return (await res.json()) as { id: string };
  };
  const app = await post('/app', { name: 'Logs' });
  await post(`/app/${app.id}/endpoint`, { url: gone.url });
  await post(`/app/${app.id}/msg`, { eventType: 'a.b', payload: {} });
}

/** Waits (polling the output, not the clock) until stderr holds `text`. */
async function stderrHas(out: { stderr: string }, text: string): Promise<void> {
  for (let i = 0; i < 400 && !out.stderr.includes(text); i++) await new Promise((r) => setTimeout(r, 25));
  expect(out.stderr).toContain(text);
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');
const isJson = (line: string) => {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};
// biome-ignore lint/suspicious/noControlCharactersInRegex: an ANSI colour escape is what is looked for
const ANSI = /\u001b\[/;

describe('herald serve --log-format', () => {
  it('json: every line on stderr is a JSON object, from the API and from the dispatcher thread', async () => {
    const { url, out } = await serve(['--log-format', 'json', '--allow-network', '127.0.0.0/8']);
    await sendToGone(url);
    await stderrHas(out, 'endpoint disabled');
    const logged = lines(out.stderr);
    expect(logged.filter((l) => !isJson(l))).toEqual([]);
    const records = logged.map((l) => JSON.parse(l) as { level: number; msg: string });
    // Fastify's, in the main thread; the dispatcher's, in its own thread.
    expect(records.some((r) => r.msg.startsWith('Server listening at'))).toBe(true);
    expect(records.some((r) => r.level === 40 && r.msg.startsWith('endpoint disabled'))).toBe(true);
    // The banner is on stdout, as before, and is not part of the log.
    expect(out.stdout).toContain('herald: API listening on');
    expect(out.stderr).not.toContain('herald: API listening on');
  });

  it('pretty: lines a person reads, with no JSON among them and no colour off a terminal', async () => {
    const { url, out } = await serve(['--log-format', 'pretty', '--allow-network', '127.0.0.0/8']);
    await sendToGone(url);
    await stderrHas(out, 'endpoint disabled');
    const logged = lines(out.stderr);
    expect(logged.filter(isJson)).toEqual([]);
    expect(logged.some((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: Server listening at http:/.test(l))).toBe(
      true,
    );
    // The thread's line, with its scope fields on the same line.
    expect(logged.some((l) => /\] WARN: endpoint disabled.*"endpointId":"ep_/.test(l))).toBe(true);
    expect(out.stderr).not.toMatch(ANSI);
    expect(out.stdout).toContain('herald: API listening on');
  });

  it('HERALD_LOG_FORMAT chooses it too; without either, a pipe gets JSON', async () => {
    const chosen = await serve([], { HERALD_LOG_FORMAT: 'pretty' });
    await stderrHas(chosen.out, 'Server listening at');
    expect(lines(chosen.out.stderr).some((l) => l.includes('INFO: Server listening at'))).toBe(true);
    const piped = await serve([]);
    await stderrHas(piped.out, 'Server listening at');
    expect(lines(piped.out.stderr).every(isJson)).toBe(true);
  });

  it('a terminal gets pretty, coloured lines by default', async (context) => {
    // `script` (util-linux) runs the command on a pseudo-terminal, as a person's shell does.
    try {
      execFileSync('script', ['--version'], { stdio: 'ignore' });
    } catch {
      context.skip('`script` is not installed, so no terminal can be made here');
    }
    const db = dir.path('tty.db');
    // exec: the shell's pid becomes Herald's, printed first so that the test can stop it.
    const command = `echo "pid $$"; exec ${process.execPath} ${BIN} serve --port 0 --db ${db}`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      // A colour terminal, as Node judges one (CI=true alone would make it a 2-colour one).
      env: {
        ...envWithout('HERALD_LOG_FORMAT', 'NO_COLOR', 'NODE_DISABLE_COLORS', 'FORCE_COLOR', 'CI'),
        TERM: 'xterm-256color',
        HERALD_ADMIN_TOKEN: TOKEN,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    running.push(child);
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const seen = async (what: string) => {
      for (let i = 0; i < 600 && !text.includes(what); i++) await new Promise((r) => setTimeout(r, 25));
      expect(text).toContain(what);
    };
    await seen('API listening on');
    // stdout and stderr share the terminal: the log line is coloured and not JSON.
    const logLine = lines(text.replaceAll('\r', '')).find((l) => l.includes('Server listening at'))!;
    expect(logLine).toMatch(ANSI);
    expect(logLine).toMatch(/INFO/);
    expect(isJson(logLine)).toBe(false);
    process.kill(Number(/pid (\d+)/.exec(text)![1]), 'SIGTERM');
    await seen('herald: stopped');
  });

  it.each([
    [['--log-format', 'xml'], {}, /option '--log-format <format>' argument 'xml' is invalid/],
    [
      [],
      { HERALD_LOG_FORMAT: 'logfmt' },
      /--log-format <format>' value 'logfmt' from env 'HERALD_LOG_FORMAT' is invalid/,
    ],
  ])(
    '%j %j: an unknown format is an error naming the flag, and nothing starts',
    async (args, env, message) => {
      const r = await herald(['serve', '--port', '0', '--db', dir.path('never.db'), ...args], env);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/Allowed choices are pretty, json/);
      expect(r.stdout).not.toContain('listening');
    },
  );
});
