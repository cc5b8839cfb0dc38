/**
 * Replaying an inbound request: a request the log kept whole is forwarded again as a new
 * message of the source's application, made from the stored raw request exactly as the
 * gateway makes one ({@link forwardOf}), and the log gets a `replayed` row naming it.
 */
import { ConflictError, NotFoundError } from '../core/errors.js';
import type { InboundRequest, Message } from '../core/types.js';
import type { Store } from '../store/store.js';
import { traceIngest } from '../tracing/tracing.js';
import { forwardOf } from './forward.js';

/** What a replay made: the new message and the log row that records it. */
export interface Replayed {
  message: Message;
  /** The `replayed` row: `reason` is the replayed request's id, `msgId` the new message. */
  request: InboundRequest;
}

/**
 * Forwards request `requestId` of source `sourceId` again. Throws `NotFoundError` for an
 * unknown source or request, `ConflictError` for a rejected one (never forwarded, and kept
 * only in part).
 *
 * It is not verified again: it was when it arrived, the source's secret may have been rotated
 * since, and Stripe's or Slack's signed timestamp would be too old by now.
 */
export async function replayInbound(
  store: Pick<Store, 'getSource' | 'getInbound' | 'acceptMessage' | 'recordInbound'>,
  sourceId: string,
  requestId: string,
  /** The replay request's headers: the new message's ingest is a child of its `traceparent`. */
  requestHeaders: Record<string, string | string[] | undefined> = {},
): Promise<Replayed> {
  const source = await store.getSource(sourceId);
  if (!source) throw new NotFoundError(`source ${sourceId} not found`);
  const original = await store.getInbound(source.id, requestId);
  if (!original) throw new NotFoundError(`request ${requestId} of source ${source.id} not found`);
  if (original.bodyExpungedAt !== null)
    throw new ConflictError(
      `request ${original.id} cannot be replayed: retention expunged its body on ${new Date(original.bodyExpungedAt).toISOString()}`,
    );
  if (original.status === 'rejected' || original.body.length < original.bodySize) {
    const kept =
      original.body.length < original.bodySize
        ? `, and only ${original.body.length} of its ${original.bodySize} body bytes were kept`
        : '';
    throw new ConflictError(
      `request ${original.id} cannot be replayed: it was rejected (${original.reason ?? 'no reason'}) and never forwarded${kept}`,
    );
  }
  const { message: input } = forwardOf(source, original.headers, original.body);
  // No eventId. The gateway's (`deliveryEventId`) is the provider's delivery id, which the
  // first message holds already: reusing it would conflict and make the replay a duplicate,
  // which is what the gateway's deduplication is for, not what a deliberate resend wants. A
  // derived one (`….replay-{request}`) would block a second replay of the same request, or,
  // made unique, only repeat what the `replayed` row says. And with none, a provider's own
  // retry after a replay still meets the first message's eventId and stays a duplicate.
  const message = await traceIngest(
    requestHeaders,
    {
      'herald.source_id': source.id,
      'herald.app_id': source.appId,
      'herald.event_type': input.eventType,
      'herald.replayed_request': original.id,
    },
    async (traceContext) =>
      (
        await store.acceptMessage({
          ...input,
          eventId: null,
          ...(traceContext !== null ? { traceContext } : {}),
        })
      ).message,
  );
  const request = await store.recordInbound({
    sourceId: source.id,
    status: 'replayed',
    reason: original.id,
    // What was forwarded, kept whole like the accepted request it copies: the row still says
    // what the replay sent once retention has deleted the original.
    headers: original.headers,
    body: original.body,
    bodySize: original.bodySize,
    msgId: message.id,
  });
  return { message, request };
}
