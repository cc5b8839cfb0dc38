/**
 * The attempts a store's `complete` committed, told to the listeners of this process
 * (`Store.onAttempts`, what `herald tail` streams), and on PostgreSQL those other processes
 * committed (`postgres/attempt-feed.ts`). Nothing is kept: a listener hears what is committed
 * while it listens.
 */
import type { AttemptsListener, Completion } from './store.js';

/** The listeners of one store and the call that tells them. */
export class AttemptEvents {
  private readonly listeners = new Set<AttemptsListener>();

  /** Adds a listener; returns the function that removes it. */
  on(listener: AttemptsListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells every listener of the attempts among `completions`, after their commit. */
  committed(completions: readonly Completion[]): void {
    if (this.listeners.size === 0) return;
    this.told(completions.flatMap((c) => (c.attempt ? [{ attempt: c.attempt, next: c.next }] : [])));
  }

  /** Tells every listener of these attempts (committed here, or heard from another process). */
  told(events: Parameters<AttemptsListener>[0]): void {
    if (events.length === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(events);
      } catch {
        // A listener's failure is its own (a closed stream); the commit stands, the others still hear.
      }
    }
  }
}

/** The URL a listener endpoint shows: it is never requested (`.invalid` resolves nowhere, RFC 2606). */
export function listenerUrl(name: string): string {
  return `http://listener.invalid/${encodeURIComponent(name)}`;
}

/** Longest listener name; the same characters as a uid. */
export const LISTENER_NAME = /^[a-zA-Z0-9\-_.]{1,256}$/;
