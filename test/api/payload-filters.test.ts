/**
 * Payload filters (Herald's endpoint `filter`): stored and returned through create, update
 * and patch; refused with 422 naming the operator or path; and honoured at fan-out, so a
 * message an endpoint's filter refuses makes no delivery row for it, and by replay-missing,
 * recover and bulk replay (with the filter as it is when they run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../helpers.js';
import { type Parity, startParity } from './parity.js';

let p: Parity;
let receiver: Receiver;

beforeAll(async () => {
  p = await startParity('payload_filters');
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await p?.close();
});

interface EndpointJson {
  id: string;
  filter: Record<string, unknown> | null;
}

async function endpoint(appId: string, filter?: unknown): Promise<EndpointJson> {
  const body = filter === undefined ? { url: receiver.url } : { url: receiver.url, filter };
  const res = await p.raw('POST', `/app/${appId}/endpoint`, body);
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return res.json as EndpointJson;
}

/** Waits until `check` holds (10 s at most). */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function deliveriesOf(endpointId: string): Promise<number> {
  const counts = await p.store.countDeliveries(endpointId);
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

describe('payload filters', () => {
  it('are stored and returned by create, get, update and patch; null removes one', async () => {
    const app = await p.svix.application.create({ name: 'Filters stored' });
    const filter = { 'payload.amount': { $gt: 1000 }, eventType: { $in: ['order.paid'] } };
    const ep = await endpoint(app.id, filter);
    expect(ep.filter).toEqual(filter);
    expect(((await p.raw('GET', `/app/${app.id}/endpoint/${ep.id}`)).json as EndpointJson).filter).toEqual(
      filter,
    );
    // An endpoint made through the SDK has none, and the SDK reads the endpoint unharmed.
    const plain = await p.svix.endpoint.create(app.id, { url: receiver.url });
    expect(
      ((await p.raw('GET', `/app/${app.id}/endpoint/${plain.id}`)).json as EndpointJson).filter,
    ).toBeNull();

    const patched = await p.raw('PATCH', `/app/${app.id}/endpoint/${ep.id}`, { filter: { tags: 'eu' } });
    expect((patched.json as EndpointJson).filter).toEqual({ tags: 'eu' });
    // A patch without the field keeps it.
    await p.raw('PATCH', `/app/${app.id}/endpoint/${ep.id}`, { description: 'x' });
    expect(((await p.raw('GET', `/app/${app.id}/endpoint/${ep.id}`)).json as EndpointJson).filter).toEqual({
      tags: 'eu',
    });
    const put = await p.raw('PUT', `/app/${app.id}/endpoint/${ep.id}`, { url: receiver.url, filter: null });
    expect((put.json as EndpointJson).filter).toBeNull();
  });

  it('refuse operators that run code or are not listed, paths outside the message, and unsafe regexes', async () => {
    const app = await p.svix.application.create({ name: 'Filters refused' });
    const ep = await endpoint(app.id, { eventType: 'a' });
    const cases: [unknown, string[], RegExp][] = [
      [{ $where: 'this.payload.x > 1' }, ['filter', '$where'], /\$where is not allowed/],
      [
        { 'payload.x': { $where: 'sleep(1)' } },
        ['filter', 'payload', 'x', '$where'],
        /\$where is not allowed/,
      ],
      [{ $expr: { $gt: ['$payload.a', 1] } }, ['filter', '$expr'], /\$expr is not allowed/],
      [{ 'payload.f': { $function: {} } }, ['filter', 'payload', 'f', '$function'], /not allowed/],
      [{ 'payload.f': { $elemMatch: { a: 1 } } }, ['filter', 'payload', 'f', '$elemMatch'], /not allowed/],
      [{ secrets: 'x' }, ['filter', 'secrets'], /must start with one of payload, eventType/],
      [{ 'payload.x': { $regex: '(a+)+$' } }, ['filter', 'payload', 'x', '$regex'], /backtrack/],
      [{ 'payload.x': { $regex: '(a)\\1' } }, ['filter', 'payload', 'x', '$regex'], /backreferences/],
      [{ 'payload.x': { $regex: 'a'.repeat(257) } }, ['filter', 'payload', 'x', '$regex'], /at most 256/],
      [{ 'payload.x': { $regex: '(' } }, ['filter', 'payload', 'x', '$regex'], /not a valid regular/],
      [{ 'payload.x': { $gt: { a: 1 } } }, ['filter', 'payload', 'x', '$gt'], /number or a string/],
      [{ 'payload.x': { $in: 3 } }, ['filter', 'payload', 'x', '$in'], /must be an array/],
      [{ 'payload.x': { $gt: 1, y: 2 } }, ['filter', 'payload', 'x'], /mixes operators/],
      [{ 'payload.x': { a: { $where: 'x' } } }, ['filter', 'payload', 'x', 'a', '$where'], /inside a value/],
      [{ $or: [] }, ['filter', '$or'], /must not be empty/],
      [{ $or: [{ $where: 'x' }] }, ['filter', '$or[0]', '$where'], /not allowed/],
    ];
    for (const [filter, loc, msg] of cases) {
      for (const res of [
        await p.raw('POST', `/app/${app.id}/endpoint`, { url: receiver.url, filter }),
        await p.raw('PATCH', `/app/${app.id}/endpoint/${ep.id}`, { filter }),
      ]) {
        expect(res.status, JSON.stringify(filter)).toBe(422);
        const detail = (res.json as { detail: { loc: string[]; msg: string }[] }).detail[0]!;
        expect(detail.loc).toEqual(['body', ...loc]);
        expect(detail.msg).toMatch(msg);
      }
    }
    const notObject = await p.raw('PATCH', `/app/${app.id}/endpoint/${ep.id}`, { filter: [1] });
    expect(notObject.status).toBe(422);
    // Nothing refused was stored.
    expect(((await p.raw('GET', `/app/${app.id}/endpoint/${ep.id}`)).json as EndpointJson).filter).toEqual({
      eventType: 'a',
    });
    expect((await p.svix.endpoint.list(app.id)).data).toHaveLength(1);
  });

  it('make deliveries only for matching endpoints: a message matching none makes no delivery row', async () => {
    const app = await p.svix.application.create({ name: 'Filters fan-out' });
    const big = await endpoint(app.id, { 'payload.amount': { $gte: 1000 } });
    const eu = await endpoint(app.id, {
      $or: [{ tags: 'eu' }, { 'payload.locale': { $regex: '^de', $options: 'i' } }],
    });
    const lines = await endpoint(app.id, {
      'payload.lines.sku': { $in: ['A1'] },
      eventType: { $regex: '^order\\.' },
      'payload.note': { $exists: false },
    });
    const all = await endpoint(app.id);

    // big 1, eu 2, lines 1, all 5.
    const sent = p.attempts(9);
    const m = (payload: unknown, more: Record<string, unknown> = {}) =>
      p.svix.message.create(app.id, {
        eventType: 'order.paid',
        payload: payload as Record<string, unknown>,
        ...more,
      });
    const small = await m({ amount: 10 });
    const large = await m({ amount: 5000, locale: 'DE-at' });
    const tagged = await m({ amount: 1 }, { tags: ['eu'] });
    const sku = await m({ amount: 1, lines: [{ sku: 'B2' }, { sku: 'A1' }] });
    const noted = await m({ amount: 1, lines: [{ sku: 'A1' }], note: 'x' });
    await sent;

    const got = async (ep: EndpointJson) =>
      (await p.svix.messageAttempt.listByEndpoint(app.id, ep.id)).data.map((a) => a.msgId).sort();
    expect(await got(big)).toEqual([large.id]);
    expect(await got(eu)).toEqual([large.id, tagged.id].sort());
    expect(await got(lines)).toEqual([sku.id]);
    expect(await got(all)).toHaveLength(5);
    expect(await deliveriesOf(big.id)).toBe(1);
    expect(await deliveriesOf(lines.id)).toBe(1);
    void small;
    void noted;

    // A message no endpoint's filter lets through makes no delivery at all.
    await p.svix.endpoint.delete(app.id, all.id);
    const before = await Promise.all([big, eu, lines].map((ep) => deliveriesOf(ep.id)));
    const none = await m({ amount: 2 });
    // The 202 means the message and its deliveries are committed: there are none.
    expect(await Promise.all([big, eu, lines].map((ep) => deliveriesOf(ep.id)))).toEqual(before);
    expect((await p.svix.messageAttempt.listAttemptedDestinations(app.id, none.id)).data).toEqual([]);
  });

  it('are honoured by replay-missing: only the messages the filter lets through are sent', async () => {
    const app = await p.svix.application.create({ name: 'Filters replay' });
    const since = new Date(Date.now() - 1000);
    const a = await p.svix.message.create(app.id, { eventType: 'e', payload: { n: 1 } });
    const b = await p.svix.message.create(app.id, { eventType: 'e', payload: { n: 2 } });
    // Nothing received them: no endpoint yet. Then one that wants n = 2 only, and one that wants all.
    const two = await endpoint(app.id, { 'payload.n': 2 });
    const every = await endpoint(app.id);
    const replayed = p.attempts(3);
    await p.svix.endpoint.replayMissing(app.id, two.id, { since });
    await p.svix.endpoint.replayMissing(app.id, every.id, { since });
    await replayed;
    const got = async (ep: EndpointJson) =>
      (await p.svix.messageAttempt.listByEndpoint(app.id, ep.id)).data.map((x) => x.msgId).sort();
    expect(await got(two)).toEqual([b.id]);
    expect(await got(every)).toEqual([a.id, b.id].sort());
  });

  it('are honoured by recover and bulk replay as they are when those run', async () => {
    const app = await p.svix.application.create({ name: 'Filters recover' });
    const since = Date.now() - 1000;
    // Nothing listens on port 9: every attempt fails and is retried later.
    const created = await p.raw('POST', `/app/${app.id}/endpoint`, {
      url: 'http://127.0.0.1:9/hook',
      filter: { 'payload.n': { $gte: 0 } },
    });
    const ep = created.json as EndpointJson;
    const one = await p.svix.message.create(app.id, { eventType: 'e', payload: { n: 1 } });
    const two = await p.svix.message.create(app.id, { eventType: 'e', payload: { n: 2 } });
    // Disabling fails what waits; then the deliveries stay failed until something sends them again.
    // (One being sent as it happens goes back to pending after: disable again.)
    await until(async () => {
      await p.svix.endpoint.patch(app.id, ep.id, { disabled: true });
      await p.svix.endpoint.patch(app.id, ep.id, { disabled: false });
      return (await p.store.countDeliveries(ep.id)).failed === 2;
    });
    const status = async (msgId: string) => (await p.store.getDelivery(msgId, ep.id))?.status;

    // Now the endpoint wants n = 2 only: recover sends that one again, not n = 1.
    const patched = await p.raw('PATCH', `/app/${app.id}/endpoint/${ep.id}`, { filter: { 'payload.n': 2 } });
    expect(patched.status).toBe(200);
    const triedBefore = (await p.store.getDelivery(two.id, ep.id))!.attempts;
    const recovered = await p.store.recoverBatch(ep.id, { since, until: null }, null, 100);
    expect(recovered.count).toBe(1);
    expect(await status(one.id)).toBe('failed');
    expect(await status(two.id)).not.toBe('failed');

    // Bulk replay (every status) likewise: n = 1 is left as it is. It leaves alone a delivery
    // being sent, so wait until the recovered one has been tried and waits for its retry.
    await until(async () => {
      const d = await p.store.getDelivery(two.id, ep.id);
      return d!.attempts > triedBefore && d!.status === 'pending';
    });
    const replayed = await p.store.bulkReplayBatch(ep.id, { since, until: null }, null, 100);
    expect(replayed.count).toBe(1);
    expect(await status(one.id)).toBe('failed');
    // Without a filter, both are sent again.
    await p.raw('PATCH', `/app/${app.id}/endpoint/${ep.id}`, { filter: null });
    await until(async () => (await status(two.id)) === 'pending');
    expect((await p.store.recoverBatch(ep.id, { since, until: null }, null, 100)).count).toBe(1);
    expect(await status(one.id)).not.toBe('failed');
  });
});
