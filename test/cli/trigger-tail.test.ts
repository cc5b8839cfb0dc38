/**
 * `herald trigger` and `herald tail` as a person runs them, against a real `herald serve` (from
 * dist): trigger sends the event type's schema example changed by --set and, with --wait,
 * prints each attempt; tail, started before, prints the attempt as a JSON line as it happens,
 * and Ctrl-C (SIGINT) ends it cleanly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { api, herald as run } from './run.js';
import { spawnHerald } from './spawned.js';

let server: HeraldProcess;
let receiver: Receiver;
beforeAll(async () => {
  server = await startHerald();
  receiver = await startReceiver();
  expect((await api(server, 'POST', '/app', { name: 'Shop', uid: 'shop' })).status).toBe(201);
  const type = await api(server, 'POST', '/event-type', {
    name: 'order.paid',
    description: 'An order was paid',
    schemas: { '1': { type: 'object', examples: [{ order: { id: 'o_1', amount: 10 }, currency: 'EUR' }] } },
  });
  expect(type.status).toBe(201);
  await api(server, 'POST', '/event-type', { name: 'bare.type', description: 'no schema' });
  expect((await api(server, 'POST', '/app/shop/endpoint', { url: receiver.url })).status).toBe(201);
});
afterAll(async () => {
  await receiver?.close();
  await server?.stop();
});

const env = () => ({ HERALD_SERVER: server.url, HERALD_TOKEN: server.token });

describe('herald trigger and herald tail', () => {
  it('trigger --wait sends the example with --set applied and prints the attempt; tail --json shows it live', async () => {
    const tail = spawnHerald(['tail', '--app', 'shop', '--json'], env());
    await tail.waitFor(/tailing shop's attempts/);
    const r = await run(
      ['trigger', 'order.paid', '--app', 'shop', '--set', 'order.amount=42', '--wait'],
      env(),
    );
    expect(r.code, r.stderr).toBe(0);
    const [, msgId] = /^sent (msg_\S+) \(order\.paid\) to shop$/m.exec(r.stdout) ?? [];
    expect(msgId).toBeDefined();
    expect(r.stdout).toMatch(new RegExp(`order\\.paid {2}${msgId} {2}ep_\\S+ {2}ok 200 {2}\\d+ ms`));
    expect(r.stdout).toMatch(/1 of 1 deliveries succeeded/);
    expect(JSON.parse(receiver.received.at(-1)!.body)).toEqual({
      order: { id: 'o_1', amount: 42 },
      currency: 'EUR',
    });

    const [line] = await tail.waitFor(new RegExp(`^\\{.*"msgId":"${msgId}".*\\}$`, 'm'));
    expect(JSON.parse(line!)).toMatchObject({
      msgId,
      eventType: 'order.paid',
      responseStatusCode: 200,
      deliveryStatus: 'succeeded',
      nextAttempt: null,
    });
    expect(await tail.stop('SIGINT')).toBe(0);
  });

  it('trigger says what to do for an event type without an example, and takes --payload', async () => {
    const none = await run(['trigger', 'bare.type', '--app', 'shop'], env());
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/has no example in its schema.*--payload/);
    const bad = await run(['trigger', 'order.paid', '--app', 'shop', '--set', 'nope'], env());
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/path=value/);
  });

  it('tail is refused, with the reason, for a token that may not read the application', async () => {
    const r = await run(['tail', '--app', 'shop'], { HERALD_SERVER: server.url, HERALD_TOKEN: 'wrong' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refused \(401\)/);
  });
});
