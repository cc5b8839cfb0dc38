/**
 * Resend to any enabled endpoint of the application, even one the message never went to (a
 * new delivery is made); a disabled endpoint is still refused. And the pre-check
 * (`POST …/msg/precheck/active`): whether any enabled endpoint would receive a message.
 */
import { MessageStatus } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiversClosedAfterEach } from '../helpers.js';
import { failure, type Parity, startParity } from './parity.js';

const receiver = receiversClosedAfterEach();
let p: Parity;

beforeAll(async () => {
  p = await startParity('resend_precheck');
});

afterAll(async () => {
  await p?.close();
});

describe('resend', () => {
  it('to an enabled endpoint the message never went to makes a new delivery and sends it', async () => {
    const { svix } = p;
    const first = await receiver();
    const later = await receiver();
    const app = await svix.application.create({ name: 'Resend anywhere' });
    const a = await svix.endpoint.create(app.id, { url: first.url, filterTypes: ['order.paid'] });
    const sent = p.nextAttempt();
    const msg = await svix.message.create(app.id, { eventType: 'order.paid', payload: { order: 7 } });
    await sent;
    // Created after the message, and filtered to another event type: it got nothing.
    const b = await svix.endpoint.create(app.id, { url: later.url, filterTypes: ['order.refunded'] });
    expect(
      (await svix.messageAttempt.listAttemptedDestinations(app.id, msg.id)).data.map((d) => d.id),
    ).toEqual([a.id]);

    const resent = p.nextAttempt();
    await svix.messageAttempt.resend(app.id, msg.id, b.id);
    const { attempt } = await resent;
    expect(attempt).toMatchObject({ msgId: msg.id, endpointId: b.id, trigger: 'manual', succeeded: true });
    expect(later.received.map((x) => x.body)).toEqual(['{"order":7}']);
    expect(later.received[0]?.headers['webhook-id']).toBe(msg.id);
    const destinations = (await svix.messageAttempt.listAttemptedDestinations(app.id, msg.id)).data;
    expect(destinations.map((d) => [d.id, d.status]).sort()).toEqual(
      [
        [a.id, MessageStatus.Success],
        [b.id, MessageStatus.Success],
      ].sort(),
    );
    expect(first.received).toHaveLength(1);
  });

  it('to a disabled endpoint, or to another application’s, is refused and makes nothing', async () => {
    const { svix, store } = p;
    const r = await receiver();
    const app = await svix.application.create({ name: 'Disabled' });
    const other = await svix.application.create({ name: 'Other' });
    const msg = await svix.message.create(app.id, { eventType: 'a', payload: {} });
    const off = await svix.endpoint.create(app.id, { url: r.url, disabled: true });
    const theirs = await svix.endpoint.create(other.id, { url: r.url });
    expect((await failure(svix.messageAttempt.resend(app.id, msg.id, off.id))).code).toBe(409);
    expect((await failure(svix.messageAttempt.resend(app.id, msg.id, theirs.id))).code).toBe(404);
    expect(await store.listDeliveries(msg.id)).toEqual([]);
  });
});

describe('resend while the message is being sent', () => {
  it('is refused with 409 saying so, and taken once the attempt is recorded', async () => {
    const { svix } = p;
    let release!: () => void;
    const answered = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const r = await receiver((_req, res) => {
      arrived();
      void answered.then(() => res.end('ok'));
    });
    const app = await svix.application.create({ name: 'In flight' });
    const ep = await svix.endpoint.create(app.id, { url: r.url });
    const first = p.nextAttempt();
    const msg = await svix.message.create(app.id, { eventType: 'a', payload: { n: 1 } });
    await inFlight;
    const refused = await p.raw('POST', `/app/${app.id}/msg/${msg.id}/endpoint/${ep.id}/resend`);
    expect(refused.status).toBe(409);
    expect(JSON.stringify(refused.json)).toContain('is being sent to endpoint');
    release();
    await first;
    const again = p.nextAttempt();
    await svix.messageAttempt.resend(app.id, msg.id, ep.id);
    expect((await again).attempt).toMatchObject({ msgId: msg.id, trigger: 'manual', succeeded: true });
    expect(r.received).toHaveLength(2);
  });
});

describe('precheck', () => {
  it('tells whether any enabled endpoint would receive a message of that type and channels', async () => {
    const { svix } = p;
    const app = await svix.application.create({ name: 'Precheck' });
    const active = (eventType: string, channels?: string[]) =>
      svix.message.precheck(app.id, { eventType, ...(channels ? { channels } : {}) }).then((x) => x.active);
    expect(await active('order.paid')).toBe(false);
    await svix.endpoint.create(app.id, { url: 'https://example.com/off', disabled: true });
    expect(await active('order.paid')).toBe(false);
    await svix.endpoint.create(app.id, {
      url: 'https://example.com/eu',
      filterTypes: ['order.paid'],
      channels: ['eu'],
    });
    expect(await active('order.paid')).toBe(false);
    expect(await active('order.paid', ['us'])).toBe(false);
    expect(await active('order.paid', ['us', 'eu'])).toBe(true);
    expect(await active('order.refunded', ['eu'])).toBe(false);
    // Nothing was stored by asking.
    expect((await svix.message.list(app.id)).data).toHaveLength(0);
    expect((await failure(svix.message.precheck(app.id, { eventType: 'not valid' }))).code).toBe(422);
  });
});
