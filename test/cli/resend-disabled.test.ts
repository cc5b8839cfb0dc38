/**
 * A resend to a disabled endpoint would send nothing: the dispatcher fails what is due for a
 * disabled endpoint untried (recover and replay-missing likewise, and an example message gets
 * no delivery). It is refused with 409 `endpoint_disabled` saying how to enable it, through the
 * API and through `herald resend`, which exits non-zero; once the endpoint is enabled, the same
 * resend is sent.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { api, cliEnv, eventually, herald } from './run.js';

// Every command is a node process of its own: about 1 s each on a loaded 2-core machine, so
// a test of a dozen commands needs more than the 20 s default.
vi.setConfig({ testTimeout: 60_000 });

let server: HeraldProcess;
let receiver: Receiver;
beforeAll(async () => {
  [server, receiver] = await Promise.all([startHerald(), startReceiver()]);
});
afterAll(async () => {
  await receiver.close();
  await server.stop();
});

describe('resend to a disabled endpoint', () => {
  it('is refused with 409 saying how to enable it, in the API and the CLI; enabled, it is sent', async () => {
    await server.post('/app', { name: 'Resends', uid: 'resends' });
    await server.post('/app/resends/endpoint', { url: receiver.url, uid: 'hook' });
    const msg = await server.post('/app/resends/msg', { eventType: 'order.paid', payload: { n: 1 } });
    const attempts = () => api(server, 'GET', `/app/resends/attempt/msg/${msg.id}`);
    await eventually(attempts, (r) => r.body.data.length === 1);
    expect((await api(server, 'PATCH', '/app/resends/endpoint/hook', { disabled: true })).status).toBe(200);

    const refused = await api(server, 'POST', `/app/resends/msg/${msg.id}/endpoint/hook/resend`, {});
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({
      code: 'endpoint_disabled',
      detail:
        'endpoint hook is disabled, so a resend would send nothing; enable it first with PATCH /api/v1/app/resends/endpoint/hook {"disabled": false} (herald endpoint enable --app resends --endpoint hook), then try again',
    });
    // Refused before anything changed: the delivery still stands as it was, not due again.
    const destinations = await api(server, 'GET', `/app/resends/msg/${msg.id}/endpoint`);
    expect(destinations.body.data[0]).toMatchObject({
      uid: 'hook',
      statusText: 'success',
      nextAttempt: null,
    });

    const cli = await herald(
      ['resend', '--app', 'resends', '--msg', msg.id, '--endpoint', 'hook'],
      cliEnv(server),
    );
    expect(cli.code).toBe(2);
    expect(cli.stdout).toBe('');
    expect(cli.stderr).toBe(`herald: ${refused.body.detail}\n`);

    // recover, replay-missing and send-example would do nothing either, and say so the same way.
    await server.post('/event-type', { name: 'order.paid', description: 'paid' });
    const example = await api(server, 'POST', '/app/resends/endpoint/hook/send-example', {
      eventType: 'order.paid',
    });
    expect(example.status).toBe(409);
    expect(example.body.detail).toContain('so an example would send nothing; enable it first');
    expect((await api(server, 'GET', '/app/resends/msg')).body.data).toHaveLength(1);
    for (const task of ['recover', 'replay-missing']) {
      const r = await api(server, 'POST', `/app/resends/endpoint/hook/${task}`, {
        since: '2020-01-01T00:00:00Z',
      });
      expect(r.status).toBe(409);
      expect(r.body.detail).toContain(`so a ${task} would send nothing; enable it first`);
    }

    expect(
      (await herald(['endpoint', 'enable', '--app', 'resends', '--endpoint', 'hook'], cliEnv(server))).code,
    ).toBe(0);
    const resent = await herald(
      ['resend', '--app', 'resends', '--msg', msg.id, '--endpoint', 'hook'],
      cliEnv(server),
    );
    expect(resent).toMatchObject({ code: 0, stderr: '' });
    expect(resent.stdout).toBe(
      `resent ${msg.id} to hook: an attempt is due now. Follow it with: herald attempts --app resends --msg ${msg.id}\n`,
    );
    const after = await eventually(attempts, (r) => r.body.data.length === 2);
    expect(after.body.data[0]).toMatchObject({ triggerType: 1, responseStatusCode: 200 });
    expect(receiver.received.filter((r) => r.headers['webhook-id'] === msg.id)).toHaveLength(2);
  });
});
