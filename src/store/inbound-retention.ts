/**
 * How much of the inbound request log a store keeps: the defaults, in one place, and the
 * check that turns options into a complete retention. Both backends apply it the same way:
 * recording a request deletes its source's oldest ones past the count cap
 * (`Store.recordInbound`), and a periodic sweep deletes the expired ones
 * (`Store.pruneInbound`, run by `src/inbound/retention.ts`).
 */
import { ValidationError } from '../core/errors.js';

/** What the inbound request log keeps, per source. */
export interface InboundRetention {
  /** A request older than this (ms) is deleted by the next sweep. */
  maxAgeMs: number;
  /** A source keeps its newest this many requests; recording one more deletes the oldest. */
  maxPerSource: number;
  /**
   * A request older than this (ms) loses its body at the next body sweep, its row kept until
   * `maxAgeMs`; null: the body goes with the row. `--inbound-body-days`, which follows
   * `--retention-days` (the payloads') unless given.
   */
  bodyMaxAgeMs: number | null;
}

const DAY_MS = 86_400_000;

/** Defaults of {@link InboundRetention}. */
export const INBOUND_RETENTION_DEFAULTS: Readonly<InboundRetention> = {
  /**
   * 30 days: the log is where a forged, refused or duplicate request is looked into, and a
   * month covers an incident found at the next monthly review; it outlasts providers' own
   * retry windows (Stripe retries for 3 days) and matches the 30 days of events Stripe lets
   * one list. The messages a source forwarded are kept regardless.
   */
  maxAgeMs: 30 * DAY_MS,
  /**
   * 10,000 per source: a month of a source receiving ~330 requests a day. A rejected request
   * keeps at most 1 KiB of body and Node caps a request's headers at 16 KiB, so a flood of
   * forgeries holds at most ~170 MB of one source's log, ~20 MB at the 2 KB a row that
   * `test/inbound/gateway.test.ts` measures. An accepted request keeps its body (up to the
   * 1 MiB limit): only the provider can send one to a signed source.
   */
  maxPerSource: 10_000,
  /** The store keeps bodies with their rows unless told; `herald serve` passes its own default. */
  bodyMaxAgeMs: null,
};

/** Longest `maxAgeMs`: 100 years, so that `now - maxAgeMs` stays a safe integer. */
const MAX_AGE_MS_MAX = 36_500 * DAY_MS;

/**
 * Most rows one statement deletes when recording a request finds its source over the cap.
 * Usually it is one (the request that fell off the end); after the cap is lowered the rest go
 * this many per request, or through the sweep, so no request pays for the whole backlog.
 */
export const INBOUND_PRUNE_BATCH = 100;

/** Checks retention options and fills in the defaults; throws `ValidationError` naming the option. */
export function inboundRetention(options: Partial<InboundRetention> = {}): InboundRetention {
  const {
    maxAgeMs = INBOUND_RETENTION_DEFAULTS.maxAgeMs,
    maxPerSource = INBOUND_RETENTION_DEFAULTS.maxPerSource,
    bodyMaxAgeMs = INBOUND_RETENTION_DEFAULTS.bodyMaxAgeMs,
  } = options;
  if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 1 || maxAgeMs > MAX_AGE_MS_MAX)
    throw new ValidationError(
      'inboundRetention.maxAgeMs',
      `must be a whole number of ms from 1 to ${MAX_AGE_MS_MAX}`,
    );
  if (!Number.isSafeInteger(maxPerSource) || maxPerSource < 1)
    throw new ValidationError('inboundRetention.maxPerSource', 'must be a whole number from 1');
  if (
    bodyMaxAgeMs !== null &&
    (!Number.isSafeInteger(bodyMaxAgeMs) || bodyMaxAgeMs < 1 || bodyMaxAgeMs > MAX_AGE_MS_MAX)
  )
    throw new ValidationError(
      'inboundRetention.bodyMaxAgeMs',
      `must be null or a whole number of ms from 1 to ${MAX_AGE_MS_MAX}`,
    );
  return { maxAgeMs, maxPerSource, bodyMaxAgeMs };
}
