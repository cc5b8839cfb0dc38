/**
 * Endpoint rate limits (`rateLimit`, attempts per second) as start times: attempts to a
 * limited endpoint start at least 1/rate s apart in this worker. What cannot start soon is
 * given back to the store, each delivery due at a slot of its own, so a backlog comes back
 * at the endpoint's rate instead of all at once.
 */

/** How far ahead a limited endpoint's deliveries are held in memory; later ones go back to the store. */
export const THROTTLE_HORIZON_MS = 2_000;

/** Past this many endpoints, those with no slot left in the future are forgotten. */
const PRUNE_AT = 10_000;

interface Slots {
  /** When the next attempt may start. */
  next: number;
  /** The end of the slots handed out to deliveries given back. */
  reserved: number;
}

/** Start times of the rate-limited endpoints of one worker. */
export class Throttle {
  private readonly slots = new Map<string, Slots>();

  /** How many of an endpoint's deliveries a worker holds at `rate`: the horizon's worth. */
  static budget(rate: number, cap: number): number {
    return Math.max(1, Math.min(cap, Math.ceil((rate * THROTTLE_HORIZON_MS) / 1000)));
  }

  /** Ms until an attempt to the endpoint may start; 0 means now, and takes that slot. */
  take(endpointId: string, rate: number, now: number): number {
    const slots = this.slots.get(endpointId);
    if (slots && slots.next > now) return slots.next - now;
    const next = now + 1000 / rate;
    if (slots) slots.next = next;
    else {
      if (this.slots.size >= PRUNE_AT) this.prune(now);
      this.slots.set(endpointId, { next, reserved: 0 });
    }
    return 0;
  }

  /** Counts an attempt that started at `now` without asking (its endpoint's limit was not known yet). */
  occupy(endpointId: string, rate: number, now: number): void {
    const slots = this.slots.get(endpointId);
    const next = Math.max(slots?.next ?? now, now) + 1000 / rate;
    if (slots) slots.next = next;
    else this.slots.set(endpointId, { next, reserved: 0 });
  }

  /**
   * Due times for `count` deliveries waiting behind `queued` others that stay in memory:
   * one slot each, after every slot handed out before.
   */
  defer(endpointId: string, rate: number, now: number, queued: number, count: number): number[] {
    const interval = 1000 / rate;
    const slots = this.slots.get(endpointId) ?? { next: now, reserved: 0 };
    this.slots.set(endpointId, slots);
    let at = Math.max(slots.reserved, Math.max(slots.next, now) + queued * interval);
    const due: number[] = [];
    for (let i = 0; i < count; i++) {
      due.push(Math.ceil(at));
      at += interval;
    }
    slots.reserved = at;
    return due;
  }

  private prune(now: number): void {
    for (const [id, slots] of this.slots) {
      if (slots.next <= now && slots.reserved <= now) this.slots.delete(id);
    }
  }
}
