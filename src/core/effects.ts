/**
 * What a batch of completed attempts does to its endpoints, as data: every backend computes
 * it with {@link endpointEffects} and executes the operations in its own transaction, so the
 * rule is written once (it was kept twice by hand, in each store's `complete`).
 *
 * The rule, completion by completion in batch order:
 * - a success clears the endpoint's failure clock (`failingSince`);
 * - a 410 Gone disables the endpoint (reason `gone`);
 * - otherwise a delivery that exhausted its retries starts the failure clock if it is not
 *   running, and disables the endpoint (reason `failing`) once the clock has run for
 *   `autoDisableAfterMs`;
 * - disabling an endpoint fails its pending deliveries (recover re-sends them), once: an
 *   endpoint already disabled is not disabled again.
 */

/** The part of a completion the rule reads (the store's `Completion` is one). */
export interface CompletedAttempt {
  endpointId: string;
  deliveryId: string;
  next: { status: 'pending' | 'succeeded' | 'failed' | 'canceled'; exhausted?: boolean };
  /** 410 Gone: disable the endpoint now. */
  disableEndpoint: boolean;
}

/** An endpoint's state when the batch starts (see {@link endpointEffects} on how to read it). */
export interface EndpointState {
  appId: string;
  failingSince: number | null;
  disabled: boolean;
}

/** Why an endpoint was disabled: 410 Gone, or failing for `autoDisableAfterMs`. */
export type DisableReason = 'gone' | 'failing';

/** Disabling an endpoint, and where in the batch it happens. */
export interface Disable {
  reason: DisableReason;
  /**
   * Index of the completion that disables it. A backend writing the batch one completion at a
   * time disables (and fails the pending deliveries) right after writing this one.
   */
  after: number;
  /**
   * Deliveries of this endpoint that completions later in the batch make pending again (a
   * retry scheduled after the disabling one). In batch order they became pending after the
   * pending ones were failed, so they stay pending: a backend that writes all the batch's
   * deliveries first must leave these out when it fails the pending ones.
   */
  spare: string[];
}

/** The operations on one endpoint that a batch calls for; absent fields change nothing. */
export interface EndpointEffect {
  endpointId: string;
  appId: string;
  /** The failure clock's new value (`null`: cleared); absent when it does not change. */
  failingSince?: number | null;
  /** Present when the batch disables the endpoint (set `disabled`, `updatedAt = now`, fail pending). */
  disable?: Disable;
}

/** An endpoint that a batch disabled, as `Store.complete` reports it. */
export interface DisabledEndpointEffect {
  appId: string;
  endpointId: string;
  reason: DisableReason;
}

/** The operations of a batch, and the endpoints it disabled in the order it disabled them. */
export interface BatchEffects {
  /** One entry per endpoint that changes, in endpoint id order. */
  endpoints: EndpointEffect[];
  disabled: DisabledEndpointEffect[];
}

/**
 * The endpoints whose state {@link endpointEffects} needs, in id order: those with a success,
 * a 410 or an exhaustion in the batch (a scheduled retry changes nothing). Reading them in id
 * order lets a backend lock them in one order and never deadlock against another batch.
 */
export function endpointsToRead(completions: readonly CompletedAttempt[]): string[] {
  const ids = new Set<string>();
  for (const c of completions) {
    if (
      c.next.status === 'succeeded' ||
      c.disableEndpoint ||
      (c.next.status === 'failed' && c.next.exhausted)
    )
      ids.add(c.endpointId);
  }
  return [...ids].sort();
}

/**
 * What `completions` (in batch order) do to their endpoints, given each endpoint's state
 * before the batch (`stateBefore`; an endpoint missing from it was deleted and changes
 * nothing). The result equals applying the rule of the module comment one completion at a
 * time with conditional UPDATEs, as both stores did.
 *
 * The state must be read in the transaction that executes the result, so that no other
 * batch changes it in between: SQLite's `BEGIN IMMEDIATE` transaction is serialised already;
 * PostgreSQL must read it with `SELECT … FOR UPDATE`, ordered by id, for the endpoints of
 * {@link endpointsToRead} only (the others change nothing and need no lock).
 */
export function endpointEffects(
  completions: readonly CompletedAttempt[],
  stateBefore: ReadonlyMap<string, EndpointState>,
  now: number,
  autoDisableAfterMs: number,
): BatchEffects {
  const state = new Map<string, { failingSince: number | null; disabled: boolean; disable?: Disable }>();
  const disabled: DisabledEndpointEffect[] = [];
  completions.forEach((c, i) => {
    const before = stateBefore.get(c.endpointId);
    if (!before) return;
    let s = state.get(c.endpointId);
    if (!s) {
      s = { failingSince: before.failingSince, disabled: before.disabled };
      state.set(c.endpointId, s);
    }
    if (s.disable && c.next.status === 'pending') s.disable.spare.push(c.deliveryId);
    if (c.next.status === 'succeeded') s.failingSince = null;
    let reason: DisableReason | null = null;
    if (c.disableEndpoint) reason = 'gone';
    else if (c.next.status === 'failed' && c.next.exhausted) {
      s.failingSince ??= now;
      if (now - s.failingSince >= autoDisableAfterMs) reason = 'failing';
    }
    if (reason && !s.disabled) {
      s.disabled = true;
      s.disable = { reason, after: i, spare: [] };
      disabled.push({ appId: before.appId, endpointId: c.endpointId, reason });
    }
  });
  const endpoints: EndpointEffect[] = [];
  for (const [endpointId, s] of [...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const before = stateBefore.get(endpointId)!;
    const effect: EndpointEffect = { endpointId, appId: before.appId };
    if (s.failingSince !== before.failingSince) effect.failingSince = s.failingSince;
    if (s.disable) effect.disable = s.disable;
    if (effect.failingSince !== undefined || effect.disable) endpoints.push(effect);
  }
  return { endpoints, disabled };
}
