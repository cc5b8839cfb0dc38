/**
 * `herald receive`: a local receiver for trying Herald out. It prints each delivery and what
 * it answered; `--strict` refuses bad signatures and `--fail-rate` fails a share of requests
 * on purpose, so a person can watch Herald's retries.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { parseSecret } from '../core/signing.js';
import { header, verifyStandardWebhook, WebhookVerificationError } from '../verify/core.js';
import { CliError } from './manage.js';

/** Options of `herald receive`, resolved. */
export interface ReceiveOptions {
  port: number;
  host: string;
  /** The endpoint's secret (`whsec_`, or `whsk_` whose public key then verifies); none: no check. */
  secret: string | undefined;
  /** Answer 401 to a request whose signature fails; needs `secret`. */
  strict: boolean;
  /** Status code to answer with. */
  status: number;
  /** Share of requests (0 to 1) answered `failStatus` instead, spread evenly: see {@link failsAt}. */
  failRate: number;
  /** Status code of the requests failed on purpose. */
  failStatus: number;
}

/**
 * Whether request `n` (counted from 1) is one that fails: after `n` requests,
 * `round(n × rate)` have failed. Evenly spread and repeatable rather than random, so a run
 * can be repeated; 0.5 fails the 1st, 3rd, 5th…, 0.3 the 2nd, 5th and 9th of each ten.
 */
export function failsAt(n: number, rate: number): boolean {
  return Math.round(n * rate) > Math.round((n - 1) * rate);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The payload's `type` or `eventType`; failing that, the URL path's last segment, said so. */
export function eventTypeOf(body: string, url: string): string {
  const payload = parseJson(body) as { type?: unknown; eventType?: unknown } | null | undefined;
  const named =
    typeof payload === 'object' && payload !== null ? (payload.type ?? payload.eventType) : undefined;
  if (typeof named === 'string' && named !== '') return named;
  const segment = url.split('?')[0]?.split('/').filter(Boolean).at(-1);
  return segment === undefined
    ? '(unknown: no type or eventType in the payload, no URL path)'
    : `${segment} (from the URL path)`;
}

/** What to answer one request, and the lines printed about it. */
interface Reply {
  status: number;
  body: string;
  signature: string;
  /** Why this status, after it on the `answered:` line. */
  because: string;
}

/** Decides the answer to one request; `next` numbers the requests that reach the fail rate. */
function decide(
  options: ReceiveOptions,
  verifyWith: string | undefined,
  req: IncomingMessage,
  raw: Buffer,
  next: () => number,
): Reply {
  let signature = 'not checked (no --secret)';
  let because = '';
  if (verifyWith !== undefined) {
    try {
      verifyStandardWebhook(verifyWith, req.headers, raw);
      signature = 'verified';
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      signature = `NOT VERIFIED (${error.reason}: ${error.message})`;
      if (options.strict) {
        const body = JSON.stringify({ code: error.reason, detail: error.message });
        return { status: 401, body, signature, because: ' (--strict)' };
      }
      because = ' (signature not verified; --strict answers 401)';
    }
  }
  if (failsAt(next(), options.failRate)) {
    const body = `herald receive: failing this request on purpose (--fail-rate ${options.failRate})\n`;
    return { status: options.failStatus, body, signature, because: ` (--fail-rate ${options.failRate})` };
  }
  return { status: options.status, body: '', signature, because };
}

/** Listens until SIGINT or SIGTERM; prints one block per request. */
export async function receive(options: ReceiveOptions): Promise<void> {
  if (options.strict && !options.secret)
    throw new CliError('--strict needs --secret, to check signatures with');
  const key = options.secret === undefined ? undefined : parseSecret(options.secret, '--secret');
  const verifyWith = key?.kind === 'ed25519' ? key.publicKey : options.secret;
  let counted = 0;
  const next = () => ++counted;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const id = header(req.headers, 'webhook-id') ?? header(req.headers, 'svix-id') ?? '(none)';
      const reply = decide(options, verifyWith, req, raw, next);
      // One write per request, so blocks of concurrent requests never interleave.
      process.stdout.write(
        `${new Date().toISOString()} ${req.method} ${req.url}\n  id: ${id}\n  event type: ${eventTypeOf(body, req.url ?? '/')}\n  signature: ${reply.signature}\n  body: ${body}\n  answered: ${reply.status}${reply.because}\n`,
      );
      res.writeHead(
        reply.status,
        reply.body ? { 'content-type': reply.status === 401 ? 'application/json' : 'text/plain' } : {},
      );
      res.end(reply.body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const modes = [
    `answers ${options.status}`,
    ...(options.failRate > 0 ? [`${options.failStatus} to a share of ${options.failRate}`] : []),
    ...(options.strict ? ['401 to a bad signature'] : []),
  ];
  process.stdout.write(
    `herald receive: listening on http://${options.host}:${port}/ (${modes.join('; ')})\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
