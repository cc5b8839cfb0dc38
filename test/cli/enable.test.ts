/**
 * Disabling an endpoint fails the deliveries waiting for it, and messages sent while it is
 * disabled are not queued for it. Re-enabling says so: the API answers how many of its
 * deliveries are failed (`herald-failed-deliveries`), and `herald endpoint enable` prints that
 * and the `recover` and `replay-missing` commands that send them, which then do. Every change
 * of state is one log line.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { api, eventually, logLines, ok } from './run.js';

// Every command is a node process of its own: about 1 s each on a loaded 2-core machine, so
// a test of a dozen commands needs more than the 20 s default.
vi.setConfig({ testTimeout: 60_000 });

let server: HeraldProcess;
let receiver: Receiver;
/** The receiver answers 500 until the endpoint is "fixed". */
let healthy = false;
beforeAll(async () => {
  [server, receiver] = await Promise.all([
    startHerald(['--log-level', 'info']),
    startReceiver((_r, res) => {
      res.statusCode = healthy ? 200 : 500;
      res.end(healthy ? 'ok' : 'down');
    }),
  ]);
});
afterAll(async () => {
  await receiver.close();
  await server.stop();
});

const target = ['--app', 'outage', '--endpoint', 'shop'];
const delivery = async (msgId: string) =>
  (await api(server, 'GET', `/app/outage/msg/${msgId}/endpoint`)).body.data[0];

describe('re-enabling an endpoint', () => {
  let endpoint: { id: string; createdAt: string };
  let first: { id: string };
  let duringOutage: { id: string };

  it('disabling fails what waited; enabling prints how many failed and the commands that send them', async () => {
    await server.post('/app', { name: 'Outage', uid: 'outage' });
    // Retried an hour later: the delivery surely waits for its retry when the endpoint is disabled.
    endpoint = (await server.post('/app/outage/endpoint', {
      url: receiver.url,
      uid: 'shop',
      retrySchedule: [3600],
    })) as never;
    first = await server.post('/app/outage/msg', { eventType: 'order.paid', payload: { n: 1 } });
    // The first try got 500: the delivery waits for its retry.
    await eventually(
      () => delivery(first.id),
      (d) => d?.statusText === 'pending' && d.nextAttempt !== null,
    );

    const disabled = await ok(server, ['endpoint', 'disable', ...target]);
    expect(disabled).toBe(
      'endpoint shop disabled: nothing is sent to it, and the deliveries that were waiting for it failed.\n' +
        'Enable it again with: herald endpoint enable --app outage --endpoint shop\n',
    );
    expect(await delivery(first.id)).toMatchObject({ statusText: 'fail', nextAttempt: null });
    duringOutage = await server.post('/app/outage/msg', { eventType: 'order.paid', payload: { n: 2 } });
    expect(await delivery(duringOutage.id)).toBeUndefined();

    healthy = true;
    const enabled = await ok(server, ['endpoint', 'enable', ...target]);
    const recover = `herald recover --app outage --endpoint shop --since ${endpoint.createdAt}`;
    const replay = `herald replay-missing --app outage --endpoint shop --since ${endpoint.createdAt}`;
    expect(enabled).toBe(
      [
        'endpoint shop enabled: Herald sends to it again.',
        'It has 1 failed delivery (those that were waiting when it was disabled among them). Send it again with:',
        `  ${recover}`,
        'Messages sent while it was disabled were not queued for it. Send any there were with:',
        `  ${replay}`,
        '',
      ].join('\n'),
    );

    // The printed commands, run as printed, send both messages.
    expect(await ok(server, recover.split(' ').slice(1))).toBe(
      `1 failed delivery to shop created since ${endpoint.createdAt} is due again now. Follow it with: herald attempts --app outage --endpoint shop\n`,
    );
    expect(await ok(server, replay.split(' ').slice(1))).toBe(
      `1 message since ${endpoint.createdAt} that shop never got is queued for it now. Follow it with: herald attempts --app outage --endpoint shop\n`,
    );
    await eventually(
      async () => receiver.received.filter((r) => r.headers['webhook-id'] === duringOutage.id).length,
      (n) => n === 1,
    );
    await eventually(
      () => delivery(first.id),
      (d) => d.statusText === 'success',
    );

    const states = logLines(server).filter(
      (l) => l.endpointId === endpoint.id && /^endpoint /.test(String(l.msg)),
    );
    expect(states).toEqual([
      expect.objectContaining({
        level: 30,
        appId: expect.stringMatching(/^app_/),
        msg: 'endpoint disabled through the API; the deliveries waiting for it failed',
      }),
      expect.objectContaining({ level: 30, failedDeliveries: 1, msg: 'endpoint enabled through the API' }),
    ]);
  });

  it('the API answers the count on the PATCH or PUT that enables, and only then; --json has it too', async () => {
    const path = '/app/outage/endpoint/shop';
    const patched = await api(server, 'PATCH', path, { disabled: true });
    expect(patched.headers.get('herald-failed-deliveries')).toBeNull();
    // PUT resets what it leaves out, `disabled` included: it enables.
    const put = await api(server, 'PUT', path, { url: receiver.url, uid: 'shop' });
    expect(put.body.disabled).toBe(false);
    expect(put.headers.get('herald-failed-deliveries')).toBe('0');
    expect(
      (await api(server, 'PATCH', path, { disabled: false })).headers.get('herald-failed-deliveries'),
    ).toBeNull();

    await ok(server, ['endpoint', 'disable', ...target]);
    const json = JSON.parse(await ok(server, ['endpoint', 'enable', ...target, '--json']));
    expect(json).toMatchObject({
      id: endpoint.id,
      disabled: false,
      failedDeliveries: 0,
      recoverSince: endpoint.createdAt,
    });
    expect(await ok(server, ['endpoint', 'enable', ...target])).toBe('endpoint shop is already enabled\n');
  });
});
