/**
 * The progress of `herald recover` and `replay-missing` while their background task runs:
 * plain lines on stderr when it is not a terminal (the bar, on a terminal, is in
 * tail-tty.test.ts), and stdout unchanged. The line renderer is also driven directly with the
 * task states a long task goes through, which a real task of a few records passes too fast
 * for the command's polling to see.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fractionOf, taskProgress } from '../../src/cli/progress.js';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { cliEnv, eventually, herald } from './run.js';

vi.setConfig({ testTimeout: 60_000 });

/** A non-terminal stream that keeps what is written. */
function collector() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('progress lines when stderr is not a terminal', () => {
  it('prints a line when the count changes or a second has passed, and one at the end', () => {
    let now = Date.parse('2026-12-03T08:00:00Z');
    const out = collector();
    const progress = taskProgress('recover', 'deliveries', out.stream, () => now);
    const data = (deliveries: number, through: string | null) => ({
      since: '2026-12-03T06:00:00.000Z',
      until: null,
      deliveries,
      through,
    });
    const id = 'qtask_1';
    progress.update({ id, status: 'running', data: data(0, null) });
    now += 100;
    progress.update({ id, status: 'running', data: data(0, null) }); // unchanged, within a second: no line
    progress.update({ id, status: 'running', data: data(500, '2026-12-03T07:00:00.000Z') });
    now += 1_500;
    progress.update({ id, status: 'running', data: data(500, '2026-12-03T07:30:00.000Z') }); // a second later: a line
    progress.stop({ id, status: 'finished', data: data(700, '2026-12-03T07:30:00.000Z') });
    expect(out.text()).toBe(
      [
        'recover qtask_1: 0% through the window, 0 deliveries',
        'recover qtask_1: 50% through the window, 500 deliveries',
        'recover qtask_1: 75% through the window, 500 deliveries',
        'recover qtask_1: finished, 700 deliveries',
        '',
      ].join('\n'),
    );
  });

  it('measures a window with an end by its end, and is never done before the task says so', () => {
    const task = (through: string, status: 'running' | 'finished' = 'running') => ({
      id: 'qtask_2',
      status,
      data: { since: '2026-12-01T00:00:00Z', until: '2026-12-02T00:00:00Z', through },
    });
    expect(fractionOf(task('2026-12-01T06:00:00Z'), 0)).toBe(0.25);
    expect(fractionOf(task('2026-12-02T00:00:00Z'), 0)).toBe(0.99);
    expect(fractionOf(task('2026-12-02T00:00:00Z', 'finished'), 0)).toBe(1);
  });
});

describe('herald replay-missing, bulk-replay and recover, not on a terminal', () => {
  let server: HeraldProcess;
  let receiver: Receiver;
  beforeAll(async () => {
    [server, receiver] = await Promise.all([startHerald(), startReceiver()]);
  });
  afterAll(async () => {
    await receiver.close();
    await server.stop();
  });

  it('print progress lines on stderr and their result on stdout', async () => {
    const since = new Date(Date.now() - 60_000).toISOString();
    await server.post('/app', { name: 'Progress', uid: 'progress' });
    // Sent before the endpoint exists: three messages it never got.
    for (let n = 0; n < 3; n++)
      await server.post('/app/progress/msg', { eventType: 'order.paid', payload: { n } });
    await server.post('/app/progress/endpoint', { url: receiver.url, uid: 'late' });
    const args = ['--app', 'progress', '--endpoint', 'late', '--since', since];

    const replay = await herald(['replay-missing', ...args], cliEnv(server));
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toBe(
      `3 messages since ${since} that late never got are queued for it now. Follow them with: herald attempts --app progress --endpoint late\n`,
    );
    const lines = replay.stderr.trimEnd().split('\n');
    expect(replay.stderr).not.toContain('\x1b');
    for (const line of lines.slice(0, -1))
      expect(line).toMatch(/^replay-missing qtask_\S+: \d+% through the window, [0-3] deliveries$/);
    expect(lines.at(-1)).toMatch(/^replay-missing qtask_\S+: finished, 3 deliveries$/);
    await eventually(
      async () => receiver.received.length,
      (n) => n === 3,
    );

    // bulk-replay: the delivered ones again, filtered; the same progress lines.
    await eventually(
      async () =>
        (await herald(['attempts', '--app', 'progress', '--endpoint', 'late', '--json'], cliEnv(server)))
          .stdout,
      (out) => JSON.parse(out).data.length === 3,
    );
    const bulk = await herald(
      ['bulk-replay', ...args, '--status', 'success', '--events', 'order.paid,order.refunded'],
      cliEnv(server),
    );
    expect(bulk.code, bulk.stderr).toBe(0);
    expect(bulk.stdout).toBe(
      `3 deliveries to late created since ${since} are due again now. Follow them with: herald attempts --app progress --endpoint late\n`,
    );
    expect(bulk.stderr.trimEnd().split('\n').at(-1)).toMatch(
      /^bulk-replay qtask_\S+: finished, 3 deliveries$/,
    );
    const none = await herald(['bulk-replay', ...args, '--events', 'order.refunded'], cliEnv(server));
    expect(none.stdout).toMatch(/^0 deliveries to late created since/);
    expect((await herald(['bulk-replay', ...args, '--status', 'done'], cliEnv(server))).stderr).toContain(
      "argument 'done' is invalid",
    );

    const recover = await herald(['recover', ...args, '--json'], cliEnv(server));
    expect(recover.code, recover.stderr).toBe(0);
    expect(JSON.parse(recover.stdout)).toMatchObject({ status: 'finished', deliveries: 0 });
    expect(recover.stderr.trimEnd().split('\n').at(-1)).toMatch(
      /^recover qtask_\S+: finished, 0 deliveries$/,
    );
  });
});
