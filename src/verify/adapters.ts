/**
 * Framework adapters. Each reads the raw body, runs a verifier, answers 401 with the
 * reason when it fails, and hands the raw body on when it passes. Given a replay store,
 * each answers a webhook already handled with 200 without running the handler, and tells
 * the store how the handler answered (replay.ts says why it waits for that).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type HeaderSource, WebhookVerificationError } from './core.js';
import { DEFAULT_REPLAY_TTL_MS, type ReplayStore } from './replay.js';

/** A verifier: throws `WebhookVerificationError`, or returns the webhook's id (if it has one). */
export type Verifier = (headers: HeaderSource, body: Buffer) => string | undefined;

/** Options of every adapter. */
export interface AdapterOptions {
  /** Acknowledge webhooks already handled instead of handling them again (needs the verifier to return an id). */
  replay?: ReplayStore;
  /** How long an id is kept once handled (or while in progress). Default 10 minutes. */
  replayTtlMs?: number;
}

/** An answer given instead of running the handler. */
export interface Answer {
  status: number;
  /** JSON `{code, detail}`. */
  body: string;
}

/** What {@link admit} decided for one request. */
export interface Admission {
  /** When set, answer this and skip the handler: a refusal (401), a duplicate (200), one still being handled (409). */
  answer?: Answer;
  /** Reports the handler's status: 2xx keeps the id as handled, anything else releases it. Never rejects. */
  settle(status: number): Promise<void>;
}

const unguarded = async (): Promise<void> => undefined;

const answer = (status: number, code: string, detail: string): Answer => ({
  status,
  body: JSON.stringify({ code, detail }),
});

/**
 * Verifies a request already read and claims its id: the step every adapter shares, for
 * adapters of other frameworks. The signature is checked first, so a forged request
 * carrying a known id is still refused.
 */
export async function admit(
  verify: Verifier,
  headers: HeaderSource,
  body: Buffer,
  options: AdapterOptions = {},
): Promise<Admission> {
  let id: string | undefined;
  try {
    id = verify(headers, body);
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    return { answer: answer(401, error.reason, error.message), settle: unguarded };
  }
  const store = options.replay;
  if (store === undefined || id === undefined) return { settle: unguarded };
  const ttlMs = options.replayTtlMs ?? DEFAULT_REPLAY_TTL_MS;
  const state = await store.claim(id, ttlMs);
  if (state === 'handled')
    return { answer: answer(200, 'duplicate', `webhook ${id} was already handled`), settle: unguarded };
  if (state === 'in_progress') {
    return {
      answer: answer(409, 'in_progress', `webhook ${id} is being handled; send it again later`),
      settle: unguarded,
    };
  }
  const claimed = id;
  let settled = false;
  return {
    async settle(status) {
      if (settled) return;
      settled = true;
      try {
        if (status >= 200 && status < 300) await store.handled(claimed, ttlMs);
        else await store.release(claimed);
      } catch (error) {
        // The answer is already decided; the claim then lapses after its TTL.
        process.emitWarning(`herald/verify: the replay store failed to settle webhook ${claimed}: ${error}`);
      }
    },
  };
}

/**
 * Verifies a Fetch API `Request` (Next.js route handlers, Bun, Deno) and returns the raw
 * body; throws `WebhookVerificationError`. It answers nothing, so it cannot acknowledge a
 * duplicate: give {@link webHandler} a replay store for that.
 */
export async function verifyRequest(request: Request, verify: Verifier): Promise<Buffer> {
  const body = Buffer.from(await request.arrayBuffer());
  verify(request.headers, body);
  return body;
}

/** Wraps a Fetch API handler: it runs only for verified requests not handled before. */
export function webHandler(
  verify: Verifier,
  handler: (request: Request, body: Buffer) => Response | Promise<Response>,
  options: AdapterOptions = {},
): (request: Request) => Promise<Response> {
  return async (request) => {
    const body = Buffer.from(await request.arrayBuffer());
    const admission = await admit(verify, request.headers, body, options);
    if (admission.answer) {
      return new Response(admission.answer.body, {
        status: admission.answer.status,
        headers: { 'content-type': 'application/json' },
      });
    }
    let response: Response;
    try {
      response = await handler(request, body);
    } catch (error) {
      await admission.settle(500);
      throw error;
    }
    await admission.settle(response.status);
    return response;
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

/**
 * Settles `admission` with the status the handler ends `res` with. Wrapping `end` rather
 * than waiting for 'finish' catches a handler that answers after its sender hung up (a
 * sender's timeout), when 'finish' never fires: its work is done, so its id is handled.
 */
function settleOnEnd(res: ServerResponse, admission: Admission): void {
  const end = res.end;
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    res.end = end;
    void admission.settle(res.statusCode);
    return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['end'];
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
      const admission = await admit(verify, req.headers, body, options);
      if (admission.answer) {
        res
          .writeHead(admission.answer.status, { 'content-type': 'application/json' })
          .end(admission.answer.body);
        return;
      }
      (req as VerifiedRequest).rawBody = body;
      settleOnEnd(res, admission);
      next();
    } catch (error) {
      next(error);
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
      reply: { raw: ServerResponse; code(n: number): { type(t: string): { send(b: string): unknown } } },
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
      const admission = await admit(verify, request.headers, body, options);
      if (admission.answer)
        return reply.code(admission.answer.status).type('application/json').send(admission.answer.body);
      request.rawBody = body;
      settleOnEnd(reply.raw, admission);
      return undefined;
    });
  };
}

/** Minimal shape of Hono's context the middleware needs (no dependency on Hono). */
interface HonoContextLike {
  req: { raw: Request };
  res: Response;
  set(key: 'rawBody', value: Buffer): void;
  body(data: string, status: number, headers: Record<string, string>): Response;
}

/** Hono middleware; the raw body is on `c.get('rawBody')` afterwards. */
export function honoWebhook(verify: Verifier, options: AdapterOptions = {}) {
  return async (c: HonoContextLike, next: () => Promise<void>) => {
    const request = c.req.raw.clone();
    const body = Buffer.from(await request.arrayBuffer());
    const admission = await admit(verify, request.headers, body, options);
    if (admission.answer)
      return c.body(admission.answer.body, admission.answer.status, { 'content-type': 'application/json' });
    c.set('rawBody', body);
    try {
      await next();
    } catch (error) {
      await admission.settle(500);
      throw error;
    }
    // Hono turns a handler's throw into its onError answer before this point: that status counts.
    await admission.settle(c.res.status);
    return undefined;
  };
}
