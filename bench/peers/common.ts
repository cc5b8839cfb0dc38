/**
 * What both peer senders share: the same ingest route as Herald's (a minimal Fastify
 * handler that enqueues one durable job per delivery and answers 202), and the same signed
 * POST per job, with Herald's signing code so the receiver sees identical requests.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { Agent } from 'undici';
import { parseSecret, signatureHeader } from '../../src/core/signing.js';

/** One delivery job. */
export interface DeliveryJob {
  id: string;
  url: string;
  payload: string;
}

const SECRET = parseSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
const agent = new Agent({ connections: 64, keepAliveTimeout: 60_000 });

/** Sends one job as a signed POST; throws on anything but 2xx so the queue retries it. */
export async function deliver(job: DeliveryJob): Promise<void> {
  const url = new URL(job.url);
  const ts = Math.floor(Date.now() / 1000);
  const res = await agent.request({
    origin: url.origin,
    path: url.pathname + url.search,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': job.id,
      'webhook-timestamp': String(ts),
      'webhook-signature': signatureHeader([SECRET], job.id, ts, job.payload),
    },
    body: job.payload,
    headersTimeout: 15_000,
    bodyTimeout: 15_000,
  });
  await res.body.dump();
  if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`endpoint answered ${res.statusCode}`);
}

/**
 * Serves `POST /msg` on 127.0.0.1 (port 0): one job per endpoint URL, enqueued durably
 * before the 202. Reports the port to the parent process over IPC.
 */
export async function serveIngest(
  endpoints: string[],
  enqueue: (jobs: DeliveryJob[]) => Promise<void>,
): Promise<void> {
  const app = Fastify();
  app.post('/msg', async (request, reply) => {
    const id = `msg_${randomUUID()}`;
    const payload = JSON.stringify((request.body as { payload: unknown }).payload);
    await enqueue(endpoints.map((url) => ({ id, url, payload })));
    return reply.status(202).send({ id });
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  process.send?.({ url: address });
  process.on('message', (m) => {
    if (m === 'exit') void app.close().then(() => process.exit(0));
  });
}
