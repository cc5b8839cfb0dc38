/**
 * `deliverAt`: the message is accepted and listed at once, and its deliveries become due at
 * that time, not before (the dispatcher's claims on the manual clock prove it: one made a
 * millisecond before takes nothing). Past Herald's limit (Svix's: 24 hours ahead) or
 * malformed, it is refused with 422 naming it; a time already past sends now.
 */
import { MessageStatus } from 'svix';
import { afterEach, describe, expect, it } from 'vitest';
import { receiversClosedAfterEach } from '../helpers.js';
import { failure, locs, type Parity, startParity } from './parity.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const receiver = receiversClosedAfterEach();
let p: Parity | undefined;

afterEach(async () => {
  await p?.close();
  p = undefined;
});

describe('deliverAt', () => {
  it('is listed at once and sent at its time, not a millisecond before', async () => {
    p = await startParity('deliver_at', { manualClock: true });
    const { svix } = p;
    const clock = p.clock!;
    const r = await receiver();
    const app = await svix.application.create({ name: 'Later' });
    const ep = await svix.endpoint.create(app.id, { url: r.url });
    const at = clock.now() + 10 * MINUTE;

    const msg = await svix.message.create(app.id, {
      eventType: 'reminder.due',
      payload: { remind: 'me' },
      deliverAt: new Date(at),
    });
    expect(msg.deliverAt).toEqual(new Date(at));
    expect((await svix.message.list(app.id)).data.map((m) => m.id)).toEqual([msg.id]);
    expect((await svix.message.get(app.id, msg.id)).deliverAt).toEqual(new Date(at));
    const [dest] = (await svix.messageAttempt.listAttemptedDestinations(app.id, msg.id)).data;
    expect(dest).toMatchObject({ id: ep.id, status: MessageStatus.Pending, nextAttempt: new Date(at) });

    // A message sent now goes first, while the deferred one waits.
    const now = p.nextAttempt();
    const first = await svix.message.create(app.id, { eventType: 'reminder.due', payload: { now: true } });
    expect((await now).attempt.msgId).toBe(first.id);

    // The loop claims again after that attempt, then sleeps on the clock: advance once it does,
    // or a claim still in flight would read the time before the advance and sleep past it.
    const deadline = Date.now() + 10_000;
    while (!clock.waiting && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const early = p.claimAt(at - 1);
    clock.advance(at - 1 - clock.now());
    expect((await early).claimed).toBe(0);
    expect(r.received.map((x) => x.body)).toEqual(['{"now":true}']);

    const sent = p.nextAttempt();
    clock.advance(1);
    const { attempt } = await sent;
    expect(attempt).toMatchObject({ msgId: msg.id, succeeded: true, createdAt: at });
    expect(r.received.map((x) => x.body)).toEqual(['{"now":true}', '{"remind":"me"}']);
  });

  it('already past sends now; up to 24 hours ahead is taken; more, or malformed, is a 422 naming it', async () => {
    p = await startParity('deliver_at_limits', { manualClock: true });
    const { svix } = p;
    const clock = p.clock!;
    const r = await receiver();
    const app = await svix.application.create({ name: 'Limits' });
    await svix.endpoint.create(app.id, { url: r.url });

    const sent = p.nextAttempt();
    const past = await svix.message.create(app.id, {
      eventType: 'a',
      payload: {},
      deliverAt: new Date(clock.now() - HOUR),
    });
    expect(past.deliverAt ?? null).toBeNull();
    expect((await sent).attempt.msgId).toBe(past.id);

    const day = await svix.message.create(app.id, {
      eventType: 'a',
      payload: {},
      deliverAt: new Date(clock.now() + 24 * HOUR),
    });
    expect(day.deliverAt).toEqual(new Date(clock.now() + 24 * HOUR));

    const far = await failure(
      svix.message.create(app.id, {
        eventType: 'a',
        payload: {},
        deliverAt: new Date(clock.now() + 24 * HOUR + 1),
      }),
    );
    expect(far.code).toBe(422);
    expect(locs(far)).toEqual([['body', 'deliverAt']]);
    expect(JSON.stringify(far.body)).toContain('24 hours');

    const malformed = await p.raw('POST', `/app/${app.id}/msg`, {
      eventType: 'a',
      payload: {},
      deliverAt: 'tomorrow',
    });
    expect(malformed.status).toBe(422);
    expect((malformed.json as { detail: { loc: string[] }[] }).detail.map((d) => d.loc)).toEqual([
      ['body', 'deliverAt'],
    ]);
    // Neither refused message was stored.
    expect((await svix.message.list(app.id)).data.map((m) => m.id)).toEqual([day.id, past.id]);
  });
});
