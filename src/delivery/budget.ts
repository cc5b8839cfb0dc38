/**
 * The per-endpoint budget of one dispatcher: how many deliveries it holds, overall and per
 * endpoint, and which endpoints are saturated (see "held" and "saturated" in
 * src/core/types.ts). Every held delivery is taken once and let go once, whether it finished
 * or was given back; the counts are kept here and nowhere else, so that no path can forget
 * one and stall the loop.
 *
 * Invariant: `held` is the sum of the per-endpoint counts, no count is negative, an endpoint
 * holding none has no entry, and a saturated endpoint holds at least one.
 */
export class EndpointBudget {
  private total = 0;
  private readonly perEndpoint = new Map<string, number>();
  /**
   * Endpoints holding their full budget. One joins at the budget and leaves at half of it,
   * so claims come in batches rather than one per finished attempt.
   */
  private readonly saturatedIds = new Set<string>();

  /** `budgetOf` gives an endpoint's budget now (it may change as its rate limit becomes known). */
  constructor(private readonly budgetOf: (endpointId: string) => number) {}

  /** Deliveries held overall. */
  get held(): number {
    return this.total;
  }

  /** Deliveries held for one endpoint. */
  heldBy(endpointId: string): number {
    return this.perEndpoint.get(endpointId) ?? 0;
  }

  /** True while claims should skip the endpoint. */
  isSaturated(endpointId: string): boolean {
    return this.saturatedIds.has(endpointId);
  }

  /** The saturated endpoints, for a claim's `skipEndpoints`. */
  saturated(): string[] {
    return [...this.saturatedIds];
  }

  /** Counts a delivery claimed or taken fresh for the endpoint. */
  take(endpointId: string): void {
    this.total++;
    const n = (this.perEndpoint.get(endpointId) ?? 0) + 1;
    this.perEndpoint.set(endpointId, n);
    if (n >= this.budgetOf(endpointId)) this.saturatedIds.add(endpointId);
  }

  /**
   * Counts a held delivery of the endpoint as no longer held: finished or given back. True
   * if the endpoint left saturation, so a claim may take its deliveries again.
   */
  letGo(endpointId: string): boolean {
    const n = (this.perEndpoint.get(endpointId) ?? 0) - 1;
    // A programming error, not a state to carry on from: the counts would no longer add up.
    if (n < 0) throw new RangeError(`endpoint ${endpointId} holds no delivery to let go`);
    this.total--;
    if (n === 0) this.perEndpoint.delete(endpointId);
    else this.perEndpoint.set(endpointId, n);
    if (this.saturatedIds.has(endpointId) && n <= this.budgetOf(endpointId) / 2) {
      this.saturatedIds.delete(endpointId);
      return true;
    }
    return false;
  }
}
