/**
 * The duplicate guard against Herald's own resend: a real `herald serve` delivers to an
 * Express receiver on 127.0.0.1 using `nodeMiddleware` with a `MemoryReplayStore`, as the
 * README shows. A resent message is acknowledged 200, so Herald records a success rather
 * than retrying what was handled; a message whose handler failed reaches it again.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHmacSecret } from '../../src/core/signing.js';
import {
  MemoryReplayStore,
  nodeMiddleware,
  standardWebhooks,
  type VerifiedRequest,
} from '../../src/verify/index.js';
import { type HeraldProcess, startHerald } from '../serve.js';

interface AttemptOut {
  msgId: string;
  response: string;
  responseStatusCode: number;
  status: number;
  triggerType: number;
}

const secret = generateHmacSecret();
/** What the handler saw, in order: each payload's `n`. */
const handled: number[] = [];
/** Payloads whose first arrival the handler fails with 500. */
const failFirst = new Set<number>();
let herald: HeraldProcess;
let receiverUrl: string;
let closeReceiver: () => Promise<unknown>;

beforeAll(async () => {
  const app = express();
  app.post(
    '/hook',
    nodeMiddleware(standardWebhooks(secret), { replay: new MemoryReplayStore() }),
    (req, res) => {
      const { n } = JSON.parse((req as unknown as VerifiedRequest).rawBody.toString()) as { n: number };
      handled.push(n);
      if (failFirst.delete(n)) res.status(500).send('not now');
      else res.send('handled');
    },
  );
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  closeReceiver = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    });
  herald = await startHerald();
});

afterAll(async () => {
  await herald?.stop();
  await closeReceiver?.();
});

/** Polls the endpoint's attempts of `msgId` (newest first) until there are `count`. */
async function attempts(appId: string, endpointId: string, msgId: string, count: number) {
  for (;;) {
    const res = await fetch(`${herald.url}/api/v1/app/${appId}/attempt/endpoint/${endpointId}`, {
      headers: { authorization: `Bearer ${herald.token}` },
    });
    const { data } = (await res.json()) as { data: AttemptOut[] };
    const mine = data.filter((a) => a.msgId === msgId);
    if (mine.length >= count) return mine;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("herald/verify's duplicate guard against Herald's resend", () => {
  let appId: string;
  let endpointId: string;
  beforeAll(async () => {
    appId = (await herald.post('/app', { name: 'Replay guard' })).id;
    endpointId = (await herald.post(`/app/${appId}/endpoint`, { url: receiverUrl, secret })).id;
  });

  const resend = (msgId: string) =>
    herald.post(`/app/${appId}/msg/${msgId}/endpoint/${endpointId}/resend`, {});

  it('a resent message is acknowledged 2xx and recorded as succeeded; the handler ran once', async () => {
    const msg = await herald.post(`/app/${appId}/msg`, { eventType: 'order.paid', payload: { n: 1 } });
    const [first] = await attempts(appId, endpointId, msg.id, 1);
    expect(first).toMatchObject({ responseStatusCode: 200, status: 0, triggerType: 0, response: 'handled' });
    await resend(msg.id);
    const [again] = await attempts(appId, endpointId, msg.id, 2);
    expect(again).toMatchObject({ responseStatusCode: 200, status: 0, triggerType: 1 });
    expect(JSON.parse(again!.response)).toMatchObject({ code: 'duplicate' });
    // The second attempt is recorded after the receiver answered, so the handler had its chance.
    expect(handled.filter((n) => n === 1)).toEqual([1]);
  });

  it('a message whose handler failed the first time reaches the handler again on resend', async () => {
    failFirst.add(2);
    const msg = await herald.post(`/app/${appId}/msg`, { eventType: 'order.paid', payload: { n: 2 } });
    const [failed] = await attempts(appId, endpointId, msg.id, 1);
    expect(failed).toMatchObject({ responseStatusCode: 500, status: 2, response: 'not now' });
    await resend(msg.id);
    const [retried] = await attempts(appId, endpointId, msg.id, 2);
    expect(retried).toMatchObject({
      responseStatusCode: 200,
      status: 0,
      triggerType: 1,
      response: 'handled',
    });
    await resend(msg.id);
    const [duplicate] = await attempts(appId, endpointId, msg.id, 3);
    expect(duplicate).toMatchObject({ responseStatusCode: 200, status: 0, triggerType: 1 });
    expect(JSON.parse(duplicate!.response)).toMatchObject({ code: 'duplicate' });
    expect(handled.filter((n) => n === 2)).toEqual([2, 2]);
  });
});
