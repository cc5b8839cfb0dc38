/**
 * CORS on `/api/v1`: a browser page on an allowed origin may call the API, as the OSS Svix
 * server allows any origin. Tokens travel in the Authorization header, never in cookies, so
 * credentials are never allowed (`access-control-allow-credentials` is never sent) and a page
 * can only use a token it was given. A small hook rather than @fastify/cors, which Herald does
 * not depend on.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Every origin: the default of `herald serve --cors-origin`. */
export const ANY_ORIGIN = '*';

const METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
/** What a preflight may ask to send when it does not list its headers. */
const DEFAULT_HEADERS = 'authorization, content-type, idempotency-key';
/** Response headers a page may read besides the safelisted ones. */
const EXPOSED = 'idempotent-replayed, retry-after';
/** How long a browser may keep a preflight's answer, in seconds (Chromium caps it at 2 h). */
const PREFLIGHT_MAX_AGE = 7200;
/** A list of header names, as `access-control-request-headers` holds. */
const HEADER_LIST = /^[!#$%&'*+.^_`|~0-9a-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9a-z-]+)*$/i;

/**
 * Checks `--cors-origin` values: `*`, or origins (`scheme://host[:port]`, nothing after),
 * each value possibly a comma-separated list. Returns them one per entry; throws naming a bad one.
 */
export function parseCorsOrigins(values: readonly string[]): string[] {
  const origins = values.flatMap((v) => v.split(',').map((o) => o.trim())).filter((o) => o !== '');
  for (const origin of origins) {
    if (origin === ANY_ORIGIN) continue;
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = null;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin.replace(/\/$/, '')) {
      throw new Error(
        `${origin} is not an origin: give * or scheme://host[:port] with nothing after (https://shop.example)`,
      );
    }
  }
  return origins.length ? origins.map((o) => o.replace(/\/$/, '')) : [ANY_ORIGIN];
}

/** Registers the CORS hook for `/api/v1` on `app`, allowing `origins` (see {@link parseCorsOrigins}). */
export function registerCors(app: FastifyInstance, origins: readonly string[]): void {
  const any = origins.includes(ANY_ORIGIN);
  const allowed = new Set(origins);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.url.startsWith('/api/v1/') && request.url !== '/api/v1') return;
    const origin = request.headers.origin;
    if (origin === undefined) return;
    // The answer depends on the Origin whenever it is not the same for every origin.
    if (!any) reply.header('vary', 'Origin');
    const ok = any || allowed.has(origin);
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'];
    if (preflight) {
      if (!ok) {
        return reply.status(403).send({
          code: 'cors_origin_not_allowed',
          detail: `origin ${origin} may not call this API: start herald serve with --cors-origin ${origin} to allow it`,
        });
      }
      const asked = request.headers['access-control-request-headers'];
      const headers = typeof asked === 'string' && HEADER_LIST.test(asked) ? asked : DEFAULT_HEADERS;
      reply.header('vary', any ? 'Access-Control-Request-Headers' : 'Origin, Access-Control-Request-Headers');
      return reply
        .status(204)
        .header('access-control-allow-origin', any ? ANY_ORIGIN : origin)
        .header('access-control-allow-methods', METHODS)
        .header('access-control-allow-headers', headers)
        .header('access-control-max-age', String(PREFLIGHT_MAX_AGE))
        .send();
    }
    if (!ok) return;
    reply.header('access-control-allow-origin', any ? ANY_ORIGIN : origin);
    reply.header('access-control-expose-headers', EXPOSED);
  });
}
