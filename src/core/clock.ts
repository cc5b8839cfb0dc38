/** A cancellable timer handle. */
export interface Timer {
  cancel(): void;
}

/**
 * The source of time. The dispatcher and the store read `now` from here, so tests can run
 * a retry schedule of hours in milliseconds with {@link ManualClock}.
 */
export interface Clock {
  /** Unix time in milliseconds. */
  now(): number;
  /** Calls `fn` once `ms` milliseconds of this clock's time have passed. */
  setTimer(fn: () => void, ms: number): Timer;
}

/** Wall-clock time. Timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const handle = setTimeout(fn, Math.max(0, ms));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

interface PendingTimer {
  at: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told; timers fire during {@link ManualClock.advance}. */
export class ManualClock implements Clock {
  private current: number;
  private timers: PendingTimer[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): Timer {
    const timer: PendingTimer = { at: this.current + Math.max(0, ms), fn, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Whether a timer waits for the clock (a loop asleep on it): tests advance once one does. */
  get waiting(): boolean {
    return this.timers.some((t) => !t.cancelled);
  }

  /** Moves time forward by `ms` and fires every timer that has come due, in order. */
  advance(ms: number): void {
    this.current += ms;
    const due = this.timers.filter((t) => !t.cancelled && t.at <= this.current).sort((a, b) => a.at - b.at);
    this.timers = this.timers.filter((t) => !t.cancelled && t.at > this.current);
    for (const timer of due) timer.fn();
  }
}
