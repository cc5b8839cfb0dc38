/**
 * The inbound gateway: `POST /in/{source_id}` receives a provider's webhook, verifies it
 * first, stores it raw (a refused one: its headers and the first 1 KiB of its body), and
 * forwards it as a message to the source's application, through the same engine, schedule
 * and attempt log as any message. A provider's retry (same delivery id) is answered 200 and
 * not forwarded twice.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ConflictError } from '../core/errors.js';
import { findTooDeep, JSON_DEPTH_LIMIT } from '../core/json-depth.js';
import type { Source } from '../core/types.js';
import type { NewInboundRequest, Store } from '../store/store.js';
import { traceIngest } from '../tracing/tracing.js';
import { WebhookVerificationError } from '../verify/core.js';
import { deliveryEventId, forwardOf } from './forward.js';
import { verifyInbound } from './providers.js';

/** Options of {@link inboundRoutes}. */
export interface GatewayOptions {
  store: Store;
  /** Largest accepted body in bytes (413 above). */
  maxBodyBytes: number;
}

/**
 * Bytes of body kept of a request that is not accepted: anyone can send one, so its log row
 * must stay small (32 forged 1 MiB requests used to add 33 MB to the database). 1 KiB shows
 * what was sent; `bodySize` says how much there was.
 */
export const REJECTED_BODY_KEPT_BYTES = 1024;

/** Request headers not kept in the request log (credentials of the caller, hop-by-hop). */
const DROPPED_HEADERS = new Set([
  'authorization',
  'cookie',
  'proxy-authorization',
  'connection',
  'keep-alive',
]);

function keptHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || DROPPED_HEADERS.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Whether a body is JSON nesting deeper than {@link JSON_DEPTH_LIMIT}: such a payload could
 * not be re-serialised or shown without overflowing the stack. A body that only looks deep
 * but does not parse is carried as text, as any other non-JSON body. (`JSON.parse` itself
 * is iterative in V8 and takes any depth.)
 */
function isTooDeepJson(body: Buffer): boolean {
  if (findTooDeep(body, JSON_DEPTH_LIMIT) === null) return false;
  try {
    JSON.parse(body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** Registers `POST /in/:source_id` (no API token: the provider's signature is the credential). */
export function inboundRoutes(options: GatewayOptions): FastifyPluginAsync {
  const { store, maxBodyBytes } = options;
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_req, body, done) =>
      done(null, body),
    );

    app.post<{ Params: { source_id: string } }>(
      '/in/:source_id',
      { bodyLimit: maxBodyBytes, schema: { hide: true } },
      async (request, reply) => {
        const source: Source | null = await store.getSource(request.params.source_id);
        if (!source) return reply.status(404).send({ code: 'not_found', detail: 'no such source' });
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        // The log row of a refusal, whatever refuses it; only a verified request that is
        // accepted (or a duplicate) puts its whole body back.
        const record: NewInboundRequest = {
          sourceId: source.id,
          status: 'rejected',
          reason: null,
          headers: keptHeaders(request.headers),
          body: body.subarray(0, REJECTED_BODY_KEPT_BYTES),
          bodySize: body.length,
          msgId: null,
        };
        try {
          verifyInbound(source, request.headers, body);
        } catch (error) {
          if (!(error instanceof WebhookVerificationError)) throw error;
          await store.recordInbound({ ...record, reason: error.reason });
          return reply.status(401).send({ code: error.reason, detail: error.message });
        }
        if (isTooDeepJson(body)) {
          await store.recordInbound({ ...record, reason: 'json_too_deep' });
          return reply.status(422).send({
            code: 'json_too_deep',
            detail: `body: JSON nests deeper than ${JSON_DEPTH_LIMIT} levels of arrays and objects`,
          });
        }
        const forward = forwardOf(source, record.headers, body);
        const { eventType } = forward.message;
        const eventId = deliveryEventId(source, forward.deliveryId);
        try {
          // In an ingest span when tracing is on, as a message created through the API.
          const message = await traceIngest(
            request.headers,
            { 'herald.source_id': source.id, 'herald.app_id': source.appId, 'herald.event_type': eventType },
            async (traceContext) =>
              (
                await store.acceptMessage({
                  ...forward.message,
                  eventId,
                  ...(traceContext !== null ? { traceContext } : {}),
                })
              ).message,
          );
          await store.recordInbound({ ...record, status: 'accepted', body, msgId: message.id });
          return reply.status(200).send({ id: message.id, eventType });
        } catch (error) {
          if (!(error instanceof ConflictError) || eventId === null) throw error;
          // The provider sent this delivery before (a retry): it is stored already.
          const earlier = await store.getMessage(source.appId, eventId);
          // Kept whole, as an accepted one: it passed the source's verification (on a signed
          // source only the provider can send it), the count cap bounds how many there are,
          // and it is not forwarded, so when a provider reuses a delivery id for other
          // content this row is the only copy of what it sent.
          await store.recordInbound({ ...record, status: 'duplicate', body, msgId: earlier?.id ?? null });
          return reply.status(200).send({ id: earlier?.id ?? null, eventType, duplicate: true });
        }
      },
    );
  };
}
