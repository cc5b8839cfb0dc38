/**
 * Message tags (Svix's `tags`): stored, returned, and the `tag` filter of the message list,
 * the attempt lists (by endpoint, by message) and the attempted messages, through the
 * official `svix` client; their format and limits refused with 422 naming the tag.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../helpers.js';
import { failure, locs, type Parity, startParity } from './parity.js';

let p: Parity;
let receiver: Receiver;

beforeAll(async () => {
  p = await startParity('message_tags');
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await p?.close();
});

describe('tags', () => {
  it('are stored and returned by create, get and list; every list filters by one', async () => {
    const { svix } = p;
    const app = await svix.application.create({ name: 'Tagged' });
    const ep = await svix.endpoint.create(app.id, { url: receiver.url });
    const delivered = p.attempts(3);
    // Every character Svix's pattern allows: letters, digits, - _ . / \ #.
    const odd = 'team-a_b.c/d\\e#1';
    const a = await svix.message.create(app.id, {
      eventType: 'order.paid',
      payload: { n: 1 },
      tags: ['eu', odd],
    });
    const b = await svix.message.create(app.id, { eventType: 'order.paid', payload: { n: 2 }, tags: ['us'] });
    const c = await svix.message.create(app.id, { eventType: 'order.paid', payload: { n: 3 } });
    await delivered;
    expect(a.tags).toEqual(['eu', odd]);
    expect(c.tags ?? null).toBeNull();
    expect((await svix.message.get(app.id, a.id)).tags).toEqual(['eu', odd]);

    const ids = (list: { data: { id?: string; msgId?: string }[] }) => list.data.map((x) => x.msgId ?? x.id);
    expect(ids(await svix.message.list(app.id, { tag: odd }))).toEqual([a.id]);
    expect(ids(await svix.message.list(app.id, { tag: 'us' }))).toEqual([b.id]);
    expect(ids(await svix.message.list(app.id, { tag: 'none' }))).toEqual([]);
    expect(ids(await svix.message.list(app.id))).toEqual([c.id, b.id, a.id]);

    expect(ids(await svix.messageAttempt.listByEndpoint(app.id, ep.id, { tag: 'eu' }))).toEqual([a.id]);
    expect(ids(await svix.messageAttempt.listByEndpoint(app.id, ep.id))).toHaveLength(3);
    expect(ids(await svix.messageAttempt.listByMsg(app.id, b.id, { tag: 'us' }))).toEqual([b.id]);
    expect(ids(await svix.messageAttempt.listByMsg(app.id, b.id, { tag: 'eu' }))).toEqual([]);
    const attempted = await svix.messageAttempt.listAttemptedMessages(app.id, ep.id, { tag: 'us' });
    expect(ids(attempted)).toEqual([b.id]);
    expect(attempted.data[0]?.tags).toEqual(['us']);
  });

  it('are refused past 5, over 128 characters, twice, or outside the pattern, with 422 naming them', async () => {
    const { svix } = p;
    const app = await svix.application.create({ name: 'Bad tags' });
    const create = (tags: string[]) => svix.message.create(app.id, { eventType: 'a', payload: {}, tags });

    const many = await failure(create(['1', '2', '3', '4', '5', '6']));
    expect(many.code).toBe(422);
    expect(locs(many)).toEqual([['body', 'tags']]);
    const spaced = await failure(create(['ok', 'not ok']));
    expect(spaced.code).toBe(422);
    expect(locs(spaced)).toEqual([['body', 'tags', '1']]);
    expect(locs(await failure(create(['x'.repeat(129)])))).toEqual([['body', 'tags', '0']]);
    expect(locs(await failure(create(['same', 'same'])))).toEqual([['body', 'tags']]);
    expect(locs(await failure(create([''])))).toEqual([['body', 'tags', '0']]);
    // Five of 128 characters are fine.
    const five = ['a', 'b', 'c', 'd', 'e'].map((x) => x.repeat(128));
    expect((await create(five)).tags).toEqual(five);
    // Nothing refused was stored.
    expect((await svix.message.list(app.id)).data).toHaveLength(1);

    const badQuery = await failure(svix.message.list(app.id, { tag: 'no spaces' }));
    expect(badQuery.code).toBe(422);
    expect(locs(badQuery)).toEqual([['query', 'tag']]);
  });
});
