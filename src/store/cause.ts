/**
 * The cause of the store's writes in a scope: the W3C trace context (as stored JSON text,
 * see `src/tracing`) of the request or background task that makes them. An operational event
 * emitted by a write in the scope (an endpoint disabled through the API, a task finished)
 * stores it as its message's trace context, so that the event's attempts join the trace of
 * what caused it.
 *
 * Ambient (an AsyncLocalStorage) rather than a parameter: only the operational events read
 * it, and they are emitted by a dozen writes of the `Store` contract (endpoints, applications,
 * tasks, listeners) on both backends, none of which has another use for it. The events of an
 * attempt's outcome do not read it: each completion carries its attempt's context
 * (`Completion.traceContext`), since the dispatcher's loop can run in whatever scope woke it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { OperationalEvent } from '../core/operational.js';

const scope = new AsyncLocalStorage<string | null>();

/** Runs `fn` with `traceContext` (`null`: none) as the cause of the writes it makes. */
export function withCause<T>(traceContext: string | null, fn: () => T): T {
  return scope.run(traceContext, fn);
}

/** The cause of the writes made now ({@link withCause}), or `null` outside any. */
export function currentCause(): string | null {
  return scope.getStore() ?? null;
}

/** `events`, those without a trace context of their own given `cause`'s. */
export function causedBy(events: readonly OperationalEvent[], cause: string | null): OperationalEvent[] {
  return events.map((e) =>
    (e.traceContext ?? null) !== null || cause === null ? e : { ...e, traceContext: cause },
  );
}
