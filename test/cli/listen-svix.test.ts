/**
 * `herald listen` beside a `herald serve --header-style svix`: the local server gets the
 * `svix-*` headers (and no `webhook-*` ones) and verifies each delivery with the printed
 * secret using the svix library's own Webhook class, as a receiver written for Svix does.
 */
import { Webhook } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { api } from './run.js';
import { spawnHerald } from './spawned.js';

let herald: HeraldProcess;
beforeAll(async () => {
  herald = await startHerald(['--header-style', 'svix']);
  expect((await api(herald, 'POST', '/app', { name: 'Shop', uid: 'shop' })).status).toBe(201);
});
afterAll(async () => {
  await herald?.stop();
});

describe('herald listen with --header-style svix', () => {
  it('forwards svix-* headers, and the svix Webhook class verifies each delivery', async () => {
    let secret = '';
    const verified: number[] = [];
    const refused: string[] = [];
    const receiver = await startReceiver((req, res) => {
      try {
        const body = new Webhook(secret).verify(req.body, {
          'svix-id': String(req.headers['svix-id']),
          'svix-timestamp': String(req.headers['svix-timestamp']),
          'svix-signature': String(req.headers['svix-signature']),
        }) as { n: number };
        verified.push(body.n);
        res.end('ok');
      } catch (error) {
        refused.push((error as Error).message);
        res.statusCode = 401;
        res.end('bad signature');
      }
    });
    try {
      const l = spawnHerald(
        [
          'listen',
          '--app',
          'shop',
          '--forward-to',
          receiver.url,
          '--name',
          'svix-laptop',
          '--server',
          herald.url,
        ],
        { HERALD_TOKEN: herald.token },
      );
      const [, key] = await l.waitFor(/^ {2}secret: (whsec_\S+)/m);
      secret = key!;
      await l.waitFor(/^Ready: forwarding/m);
      const sent = await api(herald, 'POST', '/app/shop/msg', { eventType: 'order.paid', payload: { n: 7 } });
      await receiver.arrived(1);
      await l.waitFor(new RegExp(`${sent.body.id} {2}200`));
      expect(verified).toEqual([7]);
      expect(refused).toEqual([]);
      const headers = receiver.received[0]!.headers;
      expect(headers['svix-id']).toBe(sent.body.id);
      expect(Object.keys(headers).filter((h) => h.startsWith('webhook-'))).toEqual([]);
      expect(await l.stop('SIGINT')).toBe(0);
    } finally {
      await receiver.close();
    }
  });
});
