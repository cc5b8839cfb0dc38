/**
 * When a worker answers a wake-up from the store (`DispatcherOptions.wakeBackoffMs`). On
 * PostgreSQL every accepted batch's NOTIFY reaches every worker and one of them claims the
 * batch; the others' claims find nothing. A worker whose answering claims keep finding
 * nothing waits before answering the next wake-up: 1/16 of the longest wait after one such
 * claim, doubling with each further one in a row, up to the whole. What does not count, so
 * that a lone worker keeps answering at once:
 *
 * - an empty claim right after one that found work (the worker raced itself: a claim for
 *   freed capacity took the batch before its wake-up was answered);
 * - a streak older than the longest wait: a wake-up heard that long after the last empty
 *   claim is answered at once and starts a new streak (sparse wake-ups, such as messages
 *   scheduled for later, never build a wait). The time is that of the wake-up, not of the
 *   claim that answers it: a worker held for the whole wait keeps its streak.
 *
 * Work that comes (a claim that finds some, a standing claim filled) ends the wait. Times are
 * in ms of one monotonic clock.
 */

/** Empty claims in a row past which the wait no longer grows (1/16 doubled 4 times). */
const STREAK_MAX = 5;

export class WakeBackoff {
  /** Answering claims in a row that found nothing (not counting one right after work found). */
  private streak = 0;
  private lastEmptyAt = Number.NEGATIVE_INFINITY;
  private previousFound = false;

  constructor(private readonly maxMs: number) {}

  /** How long to wait before answering a wake-up heard at `now` (0: at once); called for each. */
  waitFor(now: number): number {
    if (now - this.lastEmptyAt > this.maxMs) this.streak = 0;
    if (this.maxMs === 0 || this.streak === 0) return 0;
    return Math.min(this.maxMs, (this.maxMs / 16) * 2 ** (this.streak - 1));
  }

  /** A claim ended at `now` with `found` deliveries; `answering` if it answered a wake-up. */
  claimed(found: number, answering: boolean, now: number): void {
    if (found > 0) {
      this.workArrived();
      return;
    }
    if (answering && !this.previousFound) {
      this.streak = Math.min(this.streak + 1, STREAK_MAX);
      this.lastEmptyAt = now;
    }
    this.previousFound = false;
  }

  /** Work came to the worker: it answers at once again. */
  workArrived(): void {
    this.streak = 0;
    this.previousFound = true;
  }
}
