/**
 * Why an attempt failed shows everywhere a person looks: the attempt's `errorKind` and
 * `errorMessage` in the API, the ERROR column of `herald attempts`, and one info line per
 * failed attempt in the server's log; the blocked-address message says how to allow it.
 * Endpoint state changes the dispatcher makes (410 Gone) are one log line too.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { api, eventually, logLines, ok } from './run.js';

// Every command is a node process of its own: about 1 s each on a loaded 2-core machine, so
// a test of a dozen commands needs more than the 20 s default.
vi.setConfig({ testTimeout: 60_000 });

let receiver: Receiver;
beforeAll(async () => {
  receiver = await startReceiver((req, res) => {
    res.statusCode = req.url.endsWith('gone') ? 410 : 200;
    res.end();
  });
});
afterAll(() => receiver.close());

const BLOCKED =
  'address 127.0.0.1 is in a blocked range; allow it with herald serve --allow-network 127.0.0.1/32 (or HERALD_ALLOW_NETWORK)';

describe('a server started without --allow-network', () => {
  let server: HeraldProcess;
  beforeAll(async () => {
    server = await startHerald(['--log-level', 'info'], {}, { allowLoopback: false });
  });
  afterAll(() => server.stop());

  it('records blocked_address with how to allow it, in the API, the CLI and the log', async () => {
    await server.post('/app', { name: 'Guarded', uid: 'guarded' });
    const ep = await server.post('/app/guarded/endpoint', { url: receiver.url, uid: 'local' });
    const msg = await server.post('/app/guarded/msg', { eventType: 'order.paid', payload: { n: 1 } });
    const { body } = await eventually(
      () => api(server, 'GET', `/app/guarded/attempt/msg/${msg.id}`),
      (r) => r.body.data.length === 1,
    );
    const attempt = body.data[0];
    expect(attempt).toMatchObject({
      status: 2,
      responseStatusCode: 0,
      errorKind: 'blocked_address',
      errorMessage: BLOCKED,
    });
    const one = await api(server, 'GET', `/app/guarded/msg/${msg.id}/attempt/${attempt.id}`);
    expect(one.body).toMatchObject({ errorKind: 'blocked_address', errorMessage: BLOCKED });
    expect(receiver.received).toHaveLength(0);

    const table = (await ok(server, ['attempts', '--app', 'guarded', '--msg', msg.id])).split('\n');
    expect(table[0]).toMatch(/^TIME +ENDPOINT +TRIGGER +RESULT +NEXT RETRY +ERROR$/);
    expect(table[1]).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ +local +scheduled +failed +none: failed +blocked_address: ${BLOCKED.replace(/[().*+?/]/g, '\\$&')}$`,
      ),
    );
    const json = JSON.parse(
      await ok(server, ['attempts', '--app', 'guarded', '--endpoint', 'local', '--json']),
    );
    expect(json.data).toEqual([{ ...attempt, nextAttempt: null }]);

    const line = logLines(server).find((l) => l.attemptId === attempt.id);
    expect(line).toEqual(
      expect.objectContaining({
        level: 30,
        msg: 'attempt failed: blocked_address',
        appId: expect.stringMatching(/^app_/),
        endpointId: ep.id,
        msgId: msg.id,
        errorKind: 'blocked_address',
        errorMessage: BLOCKED,
        statusCode: null,
        next: 'failed',
      }),
    );
  });
});

describe('a server that may reach 127.0.0.1', () => {
  let server: HeraldProcess;
  beforeAll(async () => {
    server = await startHerald(['--log-level', 'info']);
    await server.post('/app', { name: 'Errors', uid: 'errors' });
  });
  afterAll(() => server.stop());

  it('records connection_refused, and the retry it waits for', async () => {
    // A port just closed on 127.0.0.1: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    // Retried an hour later, so the next retry shown stays the one read here.
    await server.post('/app/errors/endpoint', {
      url: `http://127.0.0.1:${port}/hook`,
      uid: 'closed',
      retrySchedule: [3600],
    });
    const msg = await server.post('/app/errors/msg', { eventType: 'order.paid', payload: { n: 1 } });
    const { body } = await eventually(
      () => api(server, 'GET', `/app/errors/attempt/msg/${msg.id}`),
      (r) => r.body.data.length === 1,
    );
    expect(body.data[0]).toMatchObject({
      errorKind: 'connection_refused',
      errorMessage: `connect ECONNREFUSED 127.0.0.1:${port}`,
    });
    const next = (await api(server, 'GET', `/app/errors/msg/${msg.id}/endpoint`)).body.data[0].nextAttempt;
    const table = await ok(server, ['attempts', '--app', 'errors', '--endpoint', 'closed']);
    expect(table).toContain(
      `${msg.id}  scheduled  failed  ${next.slice(0, 10)} ${next.slice(11, 19)}Z  connection_refused: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    const line = logLines(server).find((l) => l.attemptId === body.data[0].id);
    expect(line).toMatchObject({ level: 30, msg: 'attempt failed: connection_refused', next });
  });

  it('a 410 disables the endpoint: the attempt shows the status, the log says why it was disabled', async () => {
    const ep = await server.post('/app/errors/endpoint', { url: `${receiver.url}/gone`, uid: 'gone' });
    const msg = await server.post('/app/errors/msg', { eventType: 'order.paid', payload: { n: 2 } });
    await eventually(
      () => api(server, 'GET', '/app/errors/endpoint/gone'),
      (r) => r.body.disabled === true,
    );
    const table = await ok(server, ['attempts', '--app', 'errors', '--msg', msg.id, '--endpoint', 'gone']);
    expect(table.split('\n')[1]).toMatch(/ gone +scheduled +failed 410 +none: failed +http_status$/);
    const logs = logLines(server).filter((l) => l.endpointId === ep.id);
    expect(logs).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'attempt failed: status 410',
        statusCode: 410,
        errorKind: 'http_status',
      }),
      expect.objectContaining({
        level: 40,
        reason: 'gone',
        msg: 'endpoint disabled: it answered 410 Gone; the deliveries waiting for it failed',
      }),
    ]);
  });
});
