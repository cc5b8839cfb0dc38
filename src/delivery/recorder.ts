/**
 * The recorder of one dispatcher: finished attempts (completions) and deliveries given back
 * (releases), written to the store in batches: at once when a batch is full, otherwise
 * within {@link FLUSH_DELAY_MS}, so a busy worker commits hundreds of attempts per
 * transaction and an idle one still records each attempt within milliseconds.
 *
 * A batch the store fails to write is logged and dropped, not kept for another try: its
 * deliveries stay leased to this worker, and once the leases expire any worker claims and
 * sends them again (at-least-once). Nothing is lost, and nothing is reported as committed
 * that was not: the batch's attempt events are not emitted. Releases of that batch are not
 * written either (their leases expire the same way).
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Attempt } from '../core/types.js';
import type { Completion, DeliveryNext, DeliveryStore, DisabledEndpoint, Release } from '../store/store.js';

/** Longest wait before finished attempts are written (real time, not the injected clock). */
export const FLUSH_DELAY_MS = 2;

/** An attempt as committed, with what became of its delivery. */
export interface AttemptEvent {
  attempt: Attempt;
  next: DeliveryNext;
}

/** What the recorder needs: where to write, and whom to tell once a batch is committed. */
export interface RecorderOptions {
  store: Pick<DeliveryStore, 'complete' | 'release'>;
  clock: Clock;
  logger: Logger;
  workerId: string;
  /** Completions and releases written per batch at most before a flush starts at once. */
  batchSize: number;
  autoDisableAfterMs: number;
  /** A batch is committed: its attempts, and the endpoints it disabled. */
  committed(events: AttemptEvent[], disabled: DisabledEndpoint[]): void;
  /** A batch (committed or not) scheduled a retry, which may be due before the loop's timer. */
  retryScheduled(): void;
}

/** Batches completions and releases; see the module comment. */
export class Recorder {
  private completions: Completion[] = [];
  private events: AttemptEvent[] = [];
  private releases: Release[] = [];
  private timer: { cancel(): void } | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly options: RecorderOptions) {}

  /** Records an attempt's result (`attempt` null when none was made), owned by `workerId`. */
  finish(completion: Completion): void {
    this.completions.push(completion);
    if (completion.attempt) this.events.push({ attempt: completion.attempt, next: completion.next });
    this.schedule();
  }

  /** Records a delivery given back untried, due at `dueAt`. */
  giveBack(deliveryId: string, dueAt: number): void {
    this.releases.push({ deliveryId, dueAt });
    this.schedule();
  }

  /** Starts a flush now if a batch is full, else within {@link FLUSH_DELAY_MS}. */
  schedule(): void {
    if (this.completions.length + this.releases.length >= this.options.batchSize) {
      this.timer?.cancel();
      this.timer = null;
      this.flushing = this.flushing.then(() => this.flush());
      return;
    }
    if (this.timer) return;
    const timer = setTimeout(() => {
      this.timer = null;
      this.flushing = this.flushing.then(() => this.flush());
    }, FLUSH_DELAY_MS);
    this.timer = { cancel: () => clearTimeout(timer) };
  }

  /** Writes everything recorded so far, after the flushes already started; for shutdown. */
  async drain(): Promise<void> {
    await this.flushing;
    this.timer?.cancel();
    this.timer = null;
    await this.flush();
  }

  private async flush(): Promise<void> {
    const { store, clock, logger, workerId } = this.options;
    const completions = this.completions;
    const events = this.events;
    const releases = this.releases;
    this.completions = [];
    this.events = [];
    this.releases = [];
    try {
      const disabled = await store.complete(completions, clock.now(), this.options.autoDisableAfterMs);
      if (releases.length > 0) await store.release(workerId, releases);
      this.options.committed(events, disabled);
    } catch (error) {
      // Leases stay; they expire and the deliveries are sent again (at-least-once). Not an
      // 'error' event: the dispatcher carries on, and an unheard 'error' would end the process.
      logger.error({ err: error, count: completions.length }, 'recording attempts failed');
    }
    if (completions.some((c) => c.next.status === 'pending')) this.options.retryScheduled();
  }
}
