/** Which endpoints a message goes to. */
import { type FilterSubject, filterMatches } from './payload-filter.js';

/** The parts of an endpoint that decide whether it receives a message. */
export interface Subscription {
  disabled: boolean;
  filterTypes: readonly string[] | null;
  channels: readonly string[] | null;
  /** Its payload filter (`core/payload-filter.ts`); absent or `null`: none. */
  filter?: Record<string, unknown> | null;
}

/**
 * Whether an endpoint receives a message: enabled, subscribed to its event type (or to
 * all), and, if the endpoint lists channels, sharing at least one with the message.
 */
export function matches(sub: Subscription, eventType: string, channels: readonly string[] | null): boolean {
  if (sub.disabled) return false;
  if (sub.filterTypes !== null && !sub.filterTypes.includes(eventType)) return false;
  const wanted = sub.channels;
  if (wanted === null) return true;
  return channels?.some((c) => wanted.includes(c)) ?? false;
}

/** A candidate endpoint of a fan-out or a replay: its id and subscription. */
export interface Recipient extends Subscription {
  id: string;
}

/** The parts of a message that decide who receives it. */
export interface Addressed {
  eventType: string;
  channels: readonly string[] | null;
  /** What payload filters look at besides the above; absent, a filter sees no tags. */
  tags?: readonly string[] | null;
  /** The payload's JSON text, parsed only if some candidate has a payload filter. */
  payload?: string | null;
}

/**
 * Whether a message passes an endpoint's payload filter (one without passes everything).
 * `subject` parses the payload the first time a filter asks for it.
 */
function passes(sub: Subscription, subject: () => FilterSubject): boolean {
  return sub.filter == null || filterMatches(sub.filter, subject);
}

/** The message as filters see it, its payload parsed at most once. */
function subjectOf(message: Addressed): () => FilterSubject {
  let subject: FilterSubject | undefined;
  return () => {
    if (subject === undefined) {
      // A payload that is gone (expunged) is absent: a filter on it matches nothing there.
      subject = {
        payload: message.payload == null ? undefined : JSON.parse(message.payload),
        eventType: message.eventType,
      };
      if (message.channels) subject.channels = message.channels;
      if (message.tags) subject.tags = message.tags;
    }
    return subject;
  };
}

/**
 * The endpoints that get a delivery of a newly accepted message, among its application's
 * `endpoints` (in their order): those it {@link matches} and whose payload filter it passes, or, for a message aimed at one
 * endpoint (`onlyEndpointId`, an example message), that one alone if it is enabled, whatever
 * its filters.
 */
export function recipients<E extends Recipient>(
  endpoints: readonly E[],
  message: Addressed,
  onlyEndpointId?: string,
): E[] {
  if (onlyEndpointId !== undefined) return endpoints.filter((e) => e.id === onlyEndpointId && !e.disabled);
  const subject = subjectOf(message);
  return endpoints.filter((e) => matches(e, message.eventType, message.channels) && passes(e, subject));
}

/**
 * Replay selection (`Store.replayMissingBatch`): of the application's messages in the time window
 * that have no delivery to `endpoint` (the backend's query), those the endpoint should have
 * had. None for a disabled endpoint. A backend inserts one delivery each, skipping one that a
 * concurrent fan-out or replay inserted meanwhile (`ON CONFLICT DO NOTHING`), and counts only
 * the deliveries it inserted.
 */
export function replaySelection<M extends Addressed>(endpoint: Subscription, missing: readonly M[]): M[] {
  if (endpoint.disabled) return [];
  return missing.filter((m) => matches(endpoint, m.eventType, m.channels) && passes(endpoint, subjectOf(m)));
}

/**
 * Whether a message passes `endpoint`'s payload filter as it is now (recover and bulk replay
 * send a delivery again only if so: the filter may have changed since the fan-out).
 */
export function passesPayloadFilter(endpoint: Subscription, message: Addressed): boolean {
  return passes(endpoint, subjectOf(message));
}

/** What a bulk-replay filters a delivery on (see `Store.bulkReplayBatch`). */
export interface BulkReplaySelection {
  eventTypes?: readonly string[];
  channel?: string;
  /** Only deliveries of messages carrying this tag. */
  tag?: string;
  status?: string;
  statusCodeClass?: number;
}

/** A delivery as a bulk-replay batch sees it: its state, its message, its last attempt. */
export interface ReplayCandidate {
  status: string;
  eventType: string;
  channels: readonly string[] | null;
  tags: readonly string[] | null;
  /** Whether it had an attempt, and the status code of the last (`null`: no response). */
  attempted: boolean;
  lastStatusCode: number | null;
}

/**
 * Whether a bulk-replay sends a delivery again: it matches every filter given, and it is not
 * being sent right now (its worker holds it; replaying would send it twice at once).
 */
export function bulkReplayMatches(filter: BulkReplaySelection, d: ReplayCandidate): boolean {
  if (d.status === 'sending') return false;
  if (filter.status !== undefined && d.status !== filter.status) return false;
  if (filter.eventTypes && filter.eventTypes.length > 0 && !filter.eventTypes.includes(d.eventType))
    return false;
  if (filter.channel !== undefined && !(d.channels ?? []).includes(filter.channel)) return false;
  if (filter.tag !== undefined && !(d.tags ?? []).includes(filter.tag)) return false;
  if (filter.statusCodeClass !== undefined) {
    if (!d.attempted) return false;
    const cls = d.lastStatusCode === null ? 0 : Math.floor(d.lastStatusCode / 100) * 100;
    if (cls !== filter.statusCodeClass) return false;
  }
  return true;
}
