/**
 * `herald receive` as a person runs it: `node bin/herald.js receive` on a free port of
 * 127.0.0.1, sent requests signed with the `standardwebhooks` package; what it prints and
 * what it answers, with `--strict`, `--fail-rate` and `--status`, and the options it refuses.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  generateEd25519Secret,
  generateHmacSecret,
  parseSecret,
  signatureHeader,
} from '../../src/core/signing.js';
import { type HeraldProcess, startHerald } from '../serve.js';

const BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));
const exec = promisify(execFile);
const secret = generateHmacSecret();

/** A running `herald receive`. */
interface Receiver {
  url: string;
  /** Resolves with the first match of `pattern` in its output, once it is printed. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  /** Sends SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

async function startReceive(args: string[]): Promise<Receiver> {
  const child = spawn(process.execPath, [BIN, 'receive', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  // Pending waits: each checks the output so far; all fail if the process exits first.
  const waits = new Set<{ check: () => void; fail: (error: Error) => void }>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const wait of waits) wait.check();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.once('exit', (code) => {
    for (const wait of waits) wait.fail(new Error(`herald receive exited with ${code}:\n${out}`));
  });
  const waitFor = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const wait = {
        check: () => {
          const match = pattern.exec(out);
          if (!match) return;
          waits.delete(wait);
          resolve(match);
        },
        fail: reject,
      };
      waits.add(wait);
      wait.check();
    });
  const [, port] = await waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)\//);
  return {
    url: `http://127.0.0.1:${port}`,
    waitFor,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', (code) => {
          running.delete(child);
          resolve(code);
        });
        child.kill('SIGTERM');
      }),
  };
}

let ids = 0;

/** POSTs `payload` to `path`, signed with `signWith` (none: no signature headers). */
async function post(
  receiver: Receiver,
  payload: string,
  { path = '/webhook', signWith = secret as string | null } = {},
) {
  const id = `msg_receive_${++ids}`;
  const now = new Date();
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (signWith !== null) {
    headers['webhook-id'] = id;
    headers['webhook-timestamp'] = String(Math.floor(now.getTime() / 1000));
    headers['webhook-signature'] = new Webhook(signWith).sign(id, now, payload);
  }
  const res = await fetch(`${receiver.url}${path}`, { method: 'POST', headers, body: payload });
  return { id, status: res.status, body: await res.text() };
}

/** The block printed for the request with webhook id `id`, once it is complete. */
async function block(receiver: Receiver, id: string): Promise<string> {
  return (await receiver.waitFor(new RegExp(`  id: ${id}\\n[\\s\\S]*?  answered: [^\\n]*\\n`)))[0];
}

describe('herald receive', () => {
  it('prints the event type, the signature check and what it answered; stops with 0 on SIGTERM', async () => {
    const receiver = await startReceive(['--secret', secret]);
    const typed = await post(receiver, '{"type":"order.paid","total":42.5}');
    expect(typed.status).toBe(200);
    const printed = await block(receiver, typed.id);
    expect(printed).toContain('event type: order.paid\n');
    expect(printed).toContain('signature: verified\n');
    expect(printed).toContain('body: {"type":"order.paid","total":42.5}\n');
    expect(printed).toMatch(/answered: 200\n$/);

    const named = await post(receiver, '{"eventType":"invoice.created"}');
    expect(await block(receiver, named.id)).toContain('event type: invoice.created\n');
    const untyped = await post(receiver, '{"total":5}', { path: '/hooks/order.refunded?x=1' });
    expect(await block(receiver, untyped.id)).toContain('event type: order.refunded (from the URL path)\n');

    const forged = await post(receiver, '{"type":"order.paid"}', { signWith: generateHmacSecret() });
    expect(forged.status).toBe(200);
    const unverified = await block(receiver, forged.id);
    expect(unverified).toContain('signature: NOT VERIFIED (no_matching_signature');
    expect(unverified).toContain('answered: 200 (signature not verified; --strict answers 401)\n');
    expect(await receiver.stop()).toBe(0);
  });

  it('without --secret says the signature was not checked', async () => {
    const receiver = await startReceive([]);
    const sent = await post(receiver, '{"type":"a.b"}');
    expect(sent.status).toBe(200);
    expect(await block(receiver, sent.id)).toContain('signature: not checked (no --secret)\n');
  });

  it('an ed25519 secret (whsk_) verifies v1a signatures with its public key', async () => {
    const key = generateEd25519Secret();
    const receiver = await startReceive(['--secret', key, '--strict']);
    const [id, ts, payload] = ['msg_receive_ed25519', Math.floor(Date.now() / 1000), '{"type":"a.b"}'];
    const res = await fetch(`${receiver.url}/webhook`, {
      method: 'POST',
      headers: {
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': signatureHeader([parseSecret(key)], id, ts, payload),
      },
      body: payload,
    });
    expect(res.status).toBe(200);
    expect(await block(receiver, id)).toContain('signature: verified\n');
  });

  it('--strict answers 401 with the reason to a bad or missing signature, 200 to a good one', async () => {
    const receiver = await startReceive(['--secret', secret, '--strict']);
    const good = await post(receiver, '{"type":"order.paid"}');
    expect(good.status).toBe(200);
    expect(await block(receiver, good.id)).toMatch(/answered: 200\n$/);

    const forged = await post(receiver, '{"type":"order.paid"}', { signWith: generateHmacSecret() });
    expect([forged.status, JSON.parse(forged.body).code]).toEqual([401, 'no_matching_signature']);
    expect(await block(receiver, forged.id)).toMatch(/answered: 401 \(--strict\)\n$/);

    const unsigned = await post(receiver, '{"type":"order.paid"}', { signWith: null });
    expect([unsigned.status, JSON.parse(unsigned.body).code]).toEqual([401, 'missing_header']);
    expect(await block(receiver, '\\(none\\)')).toContain('signature: NOT VERIFIED (missing_header');
  });

  it('--fail-rate 1 answers --fail-status (default 500) to every request, --fail-rate 0 to none', async () => {
    const always = await startReceive(['--fail-rate', '1', '--fail-status', '503']);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(always, '{"type":"a.b"}')).status);
    expect(statuses).toEqual([503, 503, 503]);
    expect(await block(always, `msg_receive_${ids}`)).toMatch(/answered: 503 \(--fail-rate 1\)\n$/);

    const defaulted = await startReceive(['--fail-rate', '1']);
    expect((await post(defaulted, '{}')).status).toBe(500);

    const never = await startReceive(['--fail-rate', '0', '--status', '202']);
    statuses.length = 0;
    for (let i = 0; i < 3; i++) statuses.push((await post(never, '{"type":"a.b"}')).status);
    expect(statuses).toEqual([202, 202, 202]);
  });

  it('--fail-rate 0.5 fails every other request, the first one included', async () => {
    const receiver = await startReceive(['--fail-rate', '0.5', '--fail-status', '503']);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(receiver, '{"type":"a.b"}')).status);
    expect(statuses).toEqual([503, 200, 503, 200, 503, 200]);
  });

  it.each([
    [['--fail-rate', '1.5'], /--fail-rate.*must be a number from 0 to 1/],
    [['--fail-rate', '-0.1'], /--fail-rate.*must be a number from 0 to 1/],
    [['--fail-rate', 'often'], /--fail-rate.*must be a number from 0 to 1/],
    [['--fail-status', '200'], /--fail-status.*must be a status code from 300 to 599/],
    [['--fail-status', '600'], /--fail-status.*must be a status code from 300 to 599/],
    [['--status', '99'], /--status.*must be a status code from 200 to 599/],
    [['--status', '70000'], /--status.*must be a status code from 200 to 599/],
    [['--strict'], /--strict needs --secret/],
    [['--secret', 'hunter2'], /--secret.*must start with whsec_/],
  ])('%j is refused with an error naming the flag', async (args, message) => {
    // A refused option exits at once; the timeout only ends a receiver that wrongly started.
    const result = await exec(process.execPath, [BIN, 'receive', '--port', '0', ...args], {
      timeout: 10_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });
});

describe('herald receive behind a real Herald', () => {
  let herald: HeraldProcess;
  beforeAll(async () => {
    herald = await startHerald();
  });
  afterAll(async () => {
    await herald.stop();
  });

  /** A message's attempts as [status code, trigger (1 manual)], newest first, once there are `count`. */
  async function attempts(appId: string, msgId: string, count: number): Promise<number[][]> {
    for (;;) {
      const res = await fetch(`${herald.url}/api/v1/app/${appId}/attempt/msg/${msgId}`, {
        headers: { authorization: `Bearer ${herald.token}` },
      });
      const { data } = (await res.json()) as { data: { responseStatusCode: number; triggerType: number }[] };
      if (data.length >= count) return data.map((a) => [a.responseStatusCode, a.triggerType]);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it('--strict --fail-rate 0.5: Herald records the failed first attempt, and the resend succeeds', async () => {
    const receiver = await startReceive(['--secret', secret, '--strict', '--fail-rate', '0.5']);
    const app = await herald.post('/app', { name: 'Receive' });
    const ep = await herald.post(`/app/${app.id}/endpoint`, { url: `${receiver.url}/webhook`, secret });
    const msg = await herald.post(`/app/${app.id}/msg`, {
      eventType: 'order.paid',
      payload: { type: 'order.paid', total: 1 },
    });
    const first = await block(receiver, msg.id);
    expect(first).toContain('event type: order.paid\n');
    expect(first).toContain('signature: verified\n');
    expect(first).toMatch(/answered: 500 \(--fail-rate 0\.5\)\n$/);
    // Resend once the failure is recorded: a delivery still being sent is not resent.
    expect(await attempts(app.id, msg.id, 1)).toEqual([[500, 0]]);
    await herald.post(`/app/${app.id}/msg/${msg.id}/endpoint/${ep.id}/resend`, {});
    await receiver.waitFor(new RegExp(`id: ${msg.id}\\n[\\s\\S]*?answered: 500[\\s\\S]*?answered: 200\\n`));
    expect(await attempts(app.id, msg.id, 2)).toEqual([
      [200, 1],
      [500, 0],
    ]);
  });
});
