/**
 * Whether a dispatcher is alive, as `/api/v1/health` and `/readyz` judge it: its loop records
 * when it last turned and until when it sleeps; its thread (under `herald serve --role all`)
 * beats a heartbeat. The record is a few integers in a shared buffer, so that the main thread
 * reads it without asking the dispatcher's thread, which is the one that may be stuck.
 *
 * The dispatcher is unhealthy when
 * - its thread has not beaten for `stallMs` (its event loop is blocked: nothing it holds moves);
 * - its loop has been in one turn for `stallMs` (a claim that never returns: a locked table,
 *   a store that does not answer);
 * - its loop slept past the time it was to wake for due work by `stallMs` (a timer that did not
 *   fire).
 * An idle loop, asleep until told of work or waiting for its attempts to free capacity, is
 * healthy however long it sleeps: nothing is due for it.
 */

/** Default of {@link Liveness.check}'s `stallMs`: 30 s, far above a claim's few ms under load. */
export const STALL_MS_DEFAULT = 30_000;

/** How often a dispatcher thread beats its heartbeat (ms). */
export const HEARTBEAT_MS = 250;

const HEARTBEAT = 0;
const TURNED = 1;
const SLEEP_UNTIL = 2;
/** {@link SLEEP_UNTIL} of a loop in a turn. */
const AWAKE = -1n;
/** {@link SLEEP_UNTIL} of a loop asleep until told (idle, or waiting for capacity). */
const UNTIL_TOLD = BigInt(Number.MAX_SAFE_INTEGER);

/** The record of one dispatcher's loop; see the module comment. */
export class Liveness {
  private readonly slots: BigInt64Array;

  /** A new record, or a view of one another thread writes (`buffer` from its {@link Liveness.buffer}). */
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(3 * 8)) {
    this.slots = new BigInt64Array(buffer);
  }

  /** The loop starts a turn at `now`. */
  turned(now: number): void {
    Atomics.store(this.slots, TURNED, BigInt(now));
    Atomics.store(this.slots, SLEEP_UNTIL, AWAKE);
  }

  /** The loop sleeps until `until` (ms), or until told of work (`null`). */
  sleeping(until: number | null): void {
    Atomics.store(this.slots, SLEEP_UNTIL, until === null ? UNTIL_TOLD : BigInt(Math.ceil(until)));
  }

  /** The thread running the loop answered at `now`. */
  beat(now: number): void {
    Atomics.store(this.slots, HEARTBEAT, BigInt(now));
  }

  /** Whether the loop is asleep (between two turns), for tests and logs. */
  asleep(): boolean {
    return Atomics.load(this.slots, SLEEP_UNTIL) !== AWAKE;
  }

  /** `null` while the dispatcher is alive at `now`; else what is wrong, in words for an operator. */
  check(now: number, stallMs: number = STALL_MS_DEFAULT): string | null {
    const beat = Number(Atomics.load(this.slots, HEARTBEAT));
    if (beat > 0 && now - beat > stallMs)
      return `the dispatcher thread has not answered for ${now - beat} ms (its event loop is blocked)`;
    const turned = Number(Atomics.load(this.slots, TURNED));
    if (turned === 0) return null; // not started yet
    const until = Atomics.load(this.slots, SLEEP_UNTIL);
    if (until === AWAKE) {
      return now - turned > stallMs
        ? `the dispatcher's loop has been in one turn for ${now - turned} ms (a claim that does not return: is the database answering?)`
        : null;
    }
    if (until === UNTIL_TOLD) return null;
    const late = now - Number(until);
    return late > stallMs
      ? `the dispatcher's loop was to turn for due work at ${new Date(Number(until)).toISOString()} and has not for ${late} ms`
      : null;
  }
}
