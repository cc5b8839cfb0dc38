/** Refuses a webhook id seen before, over a pluggable store. */
import { WebhookVerificationError } from './core.js';

/** Where seen ids are kept. `remember` answers whether the id was already there. */
export interface ReplayStore {
  /** Records `id` for `ttlMs`; resolves `true` if it was already recorded and not expired. */
  remember(id: string, ttlMs: number): boolean | Promise<boolean>;
}

/** An in-memory {@link ReplayStore} with expiry; for one process. */
export class MemoryReplayStore implements ReplayStore {
  private readonly seen = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  remember(id: string, ttlMs: number): boolean {
    const now = this.now();
    if (this.seen.size > 10_000) for (const [k, until] of this.seen) if (until <= now) this.seen.delete(k);
    const until = this.seen.get(id);
    if (until !== undefined && until > now) return true;
    this.seen.set(id, now + ttlMs);
    return false;
  }
}

/** Throws `replayed` when `id` was seen within `ttlMs` (default 10 minutes, twice the timestamp tolerance). */
export async function guardReplay(
  store: ReplayStore,
  id: string | undefined,
  ttlMs = 600_000,
): Promise<void> {
  if (id === undefined) return;
  if (await store.remember(id, ttlMs))
    throw new WebhookVerificationError('replayed', `webhook ${id} was already received`);
}
