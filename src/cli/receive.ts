/** `herald receive`: a local receiver that prints each delivery, for trying Herald out. */
import { createServer } from 'node:http';
import { parseSecret } from '../core/signing.js';
import { header, verifyStandardWebhook, WebhookVerificationError } from '../verify/core.js';

/** Options of `herald receive`. */
export interface ReceiveOptions {
  port: number;
  host: string;
  secret: string | undefined;
  /** Status code to answer with. */
  status: number;
}

/** Listens until stopped; prints one block per request. */
export async function receive(options: ReceiveOptions): Promise<void> {
  if (options.secret) parseSecret(options.secret, '--secret');
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const id = header(req.headers, 'webhook-id') ?? header(req.headers, 'svix-id') ?? '(none)';
      let verified = 'not checked (no --secret)';
      if (options.secret) {
        try {
          verifyStandardWebhook(options.secret, req.headers, raw);
          verified = 'verified';
        } catch (error) {
          if (!(error instanceof WebhookVerificationError)) throw error;
          verified = `NOT VERIFIED (${error.reason})`;
        }
      }
      let eventType = '(unknown)';
      try {
        const parsed = JSON.parse(body) as { type?: unknown; eventType?: unknown };
        eventType = String(parsed.type ?? parsed.eventType ?? eventType);
      } catch {
        eventType = '(body is not JSON)';
      }
      process.stdout.write(
        `${new Date().toISOString()} ${req.method} ${req.url}\n  id: ${id}\n  event type: ${eventType}\n  signature: ${verified}\n  body: ${body}\n`,
      );
      res.statusCode = options.status;
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  process.stdout.write(`herald receive: listening on http://${options.host}:${port}/\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
