/** `herald receive`: a local receiver that prints each delivery, for trying Herald out. */
import { createServer } from 'node:http';
import { hasValidSignature, parseSecret } from '../core/signing.js';

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
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => {
        const v = req.headers[`webhook-${name}`] ?? req.headers[`svix-${name}`];
        return Array.isArray(v) ? v[0] : v;
      };
      const id = header('id') ?? '(none)';
      const timestamp = Number(header('timestamp'));
      let verified = 'not checked (no --secret)';
      if (options.secret) {
        const ok = hasValidSignature(options.secret, id, timestamp, body, header('signature') ?? '');
        verified = ok ? 'verified' : 'NOT VERIFIED';
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
