/**
 * Framework adapters. Each reads the raw body, runs a verifier, answers 401 with the
 * reason when it fails, and hands the raw body on when it passes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type HeaderSource, WebhookVerificationError } from './core.js';
import { guardReplay, type ReplayStore } from './replay.js';

/** A verifier: throws `WebhookVerificationError`, or returns the webhook's id (if it has one). */
export type Verifier = (headers: HeaderSource, body: Buffer) => string | undefined;

/** Options of every adapter. */
export interface AdapterOptions {
  /** Refuse ids seen before (needs the verifier to return an id). */
  replay?: ReplayStore;
}

/** Runs `verify` (and the replay guard) on a request already read. */
export async function check(
  verify: Verifier,
  headers: HeaderSource,
  body: Buffer,
  options: AdapterOptions = {},
) {
  const id = verify(headers, body);
  if (options.replay) await guardReplay(options.replay, id);
  return id;
}

function refusal(error: unknown): { status: number; body: string } {
  if (error instanceof WebhookVerificationError) {
    return { status: 401, body: JSON.stringify({ code: error.reason, detail: error.message }) };
  }
  throw error;
}

/** Verifies a Fetch API `Request` (Next.js route handlers, Bun, Deno). Returns the raw body. */
export async function verifyRequest(
  request: Request,
  verify: Verifier,
  options: AdapterOptions = {},
): Promise<Buffer> {
  const body = Buffer.from(await request.arrayBuffer());
  await check(verify, request.headers, body, options);
  return body;
}

/** Wraps a Fetch API handler: it runs only for verified requests, others get 401. */
export function webHandler(
  verify: Verifier,
  handler: (request: Request, body: Buffer) => Response | Promise<Response>,
  options: AdapterOptions = {},
): (request: Request) => Promise<Response> {
  return async (request) => {
    let body: Buffer;
    try {
      body = await verifyRequest(request, verify, options);
    } catch (error) {
      const r = refusal(error);
      return new Response(r.body, { status: r.status, headers: { 'content-type': 'application/json' } });
    }
    return handler(request, body);
  };
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A request that passed: its raw body is on `rawBody`. */
export type VerifiedRequest = IncomingMessage & { rawBody: Buffer };

/**
 * Node `http` (and Express) middleware: `(req, res, next)`. Reads the raw body itself, or
 * uses `req.body` when `express.raw()` already read it as a Buffer; a body already parsed
 * as JSON cannot be verified, and that is reported as a mistake in mounting order.
 */
export function nodeMiddleware(verify: Verifier, options: AdapterOptions = {}) {
  return async (
    req: IncomingMessage & { body?: unknown },
    res: ServerResponse,
    next: (error?: unknown) => void,
  ) => {
    try {
      let body: Buffer;
      if (Buffer.isBuffer(req.body)) body = req.body;
      else if (
        req.body !== undefined &&
        req.body !== null &&
        typeof req.body === 'object' &&
        Object.keys(req.body).length > 0
      ) {
        throw new TypeError(
          'the body was parsed before verification: mount the webhook middleware before body parsers',
        );
      } else body = await readAll(req);
      await check(verify, req.headers, body, options);
      (req as VerifiedRequest).rawBody = body;
      next();
    } catch (error) {
      let r: { status: number; body: string };
      try {
        r = refusal(error);
      } catch (other) {
        next(other);
        return;
      }
      res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.body);
    }
  };
}

/** Minimal shape of the Fastify instance the plugin needs (no dependency on Fastify). */
interface FastifyLike {
  addContentTypeParser(
    type: string,
    options: { parseAs: 'buffer' },
    parser: (req: unknown, body: Buffer, done: (err: Error | null, body?: unknown) => void) => void,
  ): void;
  addHook(
    name: 'preHandler',
    hook: (
      request: { headers: HeaderSource; body: unknown; rawBody?: Buffer },
      reply: { code(n: number): { type(t: string): { send(b: string): unknown } } },
    ) => Promise<unknown>,
  ): void;
}

/**
 * A Fastify plugin: register it in the scope of your webhook routes. JSON bodies arrive
 * unparsed there (`request.body` and `request.rawBody` are the raw Buffer).
 */
export function fastifyWebhook(verify: Verifier, options: AdapterOptions = {}) {
  return async (instance: FastifyLike) => {
    instance.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    instance.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) =>
      done(null, body),
    );
    instance.addHook('preHandler', async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      try {
        await check(verify, request.headers, body, options);
        request.rawBody = body;
      } catch (error) {
        const r = refusal(error);
        return reply.code(r.status).type('application/json').send(r.body);
      }
      return undefined;
    });
  };
}

/** Minimal shape of Hono's context the middleware needs (no dependency on Hono). */
interface HonoContextLike {
  req: { raw: Request };
  set(key: 'rawBody', value: Buffer): void;
  json(body: unknown, status: number): Response;
}

/** Hono middleware; the raw body is on `c.get('rawBody')` afterwards. */
export function honoWebhook(verify: Verifier, options: AdapterOptions = {}) {
  return async (c: HonoContextLike, next: () => Promise<void>) => {
    try {
      c.set('rawBody', await verifyRequest(c.req.raw.clone(), verify, options));
    } catch (error) {
      const r = refusal(error);
      return c.json(JSON.parse(r.body), r.status);
    }
    await next();
    return undefined;
  };
}
