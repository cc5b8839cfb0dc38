/**
 * The duplicate guard: a webhook that arrives again (a sender's retry after a lost 2xx, a
 * manual resend) is acknowledged without running the handler twice.
 *
 * An id is claimed when its request arrives and kept as handled only once the handler has
 * answered 2xx. A handler that fails (non-2xx, or throws) releases it, so the sender's retry
 * reaches the handler again; a duplicate arriving while the first is still being handled
 * gets 409, which a sender retries later, when the first has settled one way or the other.
 * Acknowledging that one instead would lose the webhook if the first then failed: its
 * sender, having timed out, is already waiting on the retry that was acknowledged.
 */

/** What a store knows of an id. */
export type ClaimState = 'new' | 'in_progress' | 'handled';

/**
 * Where webhook ids are kept. A store shared by several processes (Redis, a SQL table) must
 * make `claim` atomic (Redis `SET id in_progress NX PX ttl`, then `GET` when it was taken).
 */
export interface ReplayStore {
  /**
   * Answers `new` and records `id` as in progress for `ttlMs` when it is unknown or expired;
   * otherwise answers its state and changes nothing.
   */
  claim(id: string, ttlMs: number): ClaimState | Promise<ClaimState>;
  /** The handler answered 2xx: keep `id` as handled for `ttlMs` from now. */
  handled(id: string, ttlMs: number): void | Promise<void>;
  /** The handler failed: forget `id`, so the sender's retry is handled afresh. */
  release(id: string): void | Promise<void>;
}

/** How long ids are kept by default: 10 minutes. */
export const DEFAULT_REPLAY_TTL_MS = 600_000;

/** An in-memory {@link ReplayStore} with expiry; for one process. */
export class MemoryReplayStore implements ReplayStore {
  private readonly ids = new Map<string, { state: 'in_progress' | 'handled'; until: number }>();

  /** `now` is the clock, in ms (for tests). */
  constructor(private readonly now: () => number = Date.now) {}

  claim(id: string, ttlMs: number): ClaimState {
    const now = this.now();
    // Sweep only past a size worth sweeping, so a quiet receiver never pays for it.
    if (this.ids.size > 10_000) for (const [k, v] of this.ids) if (v.until <= now) this.ids.delete(k);
    const known = this.ids.get(id);
    if (known !== undefined && known.until > now) return known.state;
    this.ids.set(id, { state: 'in_progress', until: now + ttlMs });
    return 'new';
  }

  handled(id: string, ttlMs: number): void {
    this.ids.set(id, { state: 'handled', until: this.now() + ttlMs });
  }

  release(id: string): void {
    this.ids.delete(id);
  }
}
