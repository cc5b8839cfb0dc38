/** Watching a dispatcher's claims on a real store, whichever way it claims. */
import type { ClaimedDelivery, ClaimRequest, Store } from '../../src/store/store.js';

/** What {@link watchEveryClaim} tells of each claim. */
export interface ClaimWatcher {
  started?(request: ClaimRequest): void;
  /** After the claim: the deliveries it leased, or null if it threw. */
  ended(request: ClaimRequest, claimed: ClaimedDelivery[] | null): void;
}

/**
 * Wraps every way a dispatcher claims on `store`: `claimDue`, `claimDueAndNext` (a dispatcher
 * without standing claims, as on PostgreSQL) and the standing claims' `claim` (SQLite). Each
 * call goes through to the real store unchanged; `watcher` hears when it starts and ends.
 */
export function watchEveryClaim(store: Store, watcher: ClaimWatcher): void {
  const watched =
    <R>(claim: (request: ClaimRequest) => Promise<R>, rowsOf: (answer: R) => ClaimedDelivery[]) =>
    async (request: ClaimRequest) => {
      watcher.started?.(request);
      let claimed: ClaimedDelivery[] | null = null;
      try {
        const answer = await claim(request);
        claimed = rowsOf(answer);
        return answer;
      } finally {
        watcher.ended(request, claimed);
      }
    };
  const asIs = (rows: ClaimedDelivery[]) => rows;
  store.claimDue = watched(store.claimDue.bind(store), asIs);
  store.claimDueAndNext = watched(store.claimDueAndNext.bind(store), (answer) => answer.claimed);
  const standing = store.standingClaims;
  if (standing) standing.claim = watched(standing.claim.bind(standing), asIs);
}
