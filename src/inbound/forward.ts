/**
 * What a source's request becomes when it is forwarded: the message's event type, payload and
 * passed-through headers. One function for the gateway, on each request it accepts, and for a
 * replay, on a request the log kept, so that a replay is the same message the gateway made.
 */
import type { Source } from '../core/types.js';
import type { NewMessage } from '../store/store.js';
import { inspect } from './providers.js';

/** A request as forwarded, but for its `eventId`: deduplication is the caller's decision. */
export interface Forward {
  /** The message to accept, without `eventId`. */
  message: Omit<NewMessage, 'eventId'>;
  /** The provider's delivery id, the same on its retries; `undefined` when it has none. */
  deliveryId: string | undefined;
}

/**
 * The message payload for a body: the JSON text exactly as received when it is a JSON
 * object; otherwise an object that carries it (`{"body": …, "contentType": …}`).
 */
function payloadOf(body: Buffer, contentType: string | undefined): { payload: string; parsed: unknown } {
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
    return { payload: text, parsed };
  return { payload: JSON.stringify({ body: parsed ?? text, contentType: contentType ?? null }), parsed };
}

/**
 * The message a verified request of `source` becomes. `headers` are the request's headers as
 * the log keeps them (lower-case names, credentials dropped); they go along when the source
 * passes headers through.
 */
export function forwardOf(source: Source, headers: Record<string, string>, body: Buffer): Forward {
  const { payload, parsed } = payloadOf(body, headers['content-type']);
  const { eventType, deliveryId } = inspect(source.provider, headers, parsed);
  return {
    message: {
      appId: source.appId,
      eventType,
      payload,
      ...(source.passthroughHeaders ? { headers } : {}),
    },
    deliveryId,
  };
}

/**
 * The `eventId` under which the gateway stores a provider's delivery, so that the provider's
 * retry of it conflicts and is answered as a duplicate: `{source id}.{delivery id}`, made a
 * valid event id (`a-z A-Z 0-9 - _ .`, at most 256).
 */
export function deliveryEventId(source: Source, deliveryId: string | undefined): string | null {
  return deliveryId ? `${source.id}.${deliveryId.replace(/[^a-zA-Z0-9\-_.]/g, '_')}`.slice(0, 256) : null;
}
