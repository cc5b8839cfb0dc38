/**
 * The pace of a background sweep (src/store/sweeper.ts): after each full batch it rests long
 * enough that its batches take at most `maxShare` of its time, so a backlog of expired rows
 * never holds the store away from the deliveries in one burst.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ValidationError } from '../../src/core/errors.js';
import { SWEEP_MAX_SHARE, Sweeper } from '../../src/store/sweeper.js';

/** Keeps the thread busy for `ms`, as a synchronous SQLite batch does. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** A sweep over `rows` records whose batches each take `batchMs`; records each batch's span. */
function sweepOf(rows: number, batchMs: number, maxShare?: number) {
  const spans: { start: number; end: number }[] = [];
  let left = rows;
  const sweeper = new Sweeper(
    {
      clock: new ManualClock(),
      intervalMs: 60_000,
      batchSize: 10,
      ...(maxShare === undefined ? {} : { maxShare }),
    },
    {
      count: 'done',
      step: async (batchSize) => {
        const start = performance.now();
        busy(batchMs);
        const n = Math.min(batchSize, left);
        left -= n;
        spans.push({ start, end: performance.now() });
        return n;
      },
      done: 'swept',
      failed: 'sweep failed',
    },
  );
  return { sweeper, spans };
}

/** The rest between each batch and the next, against the batch's own time. */
const rests = (spans: { start: number; end: number }[]) =>
  spans.slice(1).map((s, i) => ({ batch: spans[i]!.end - spans[i]!.start, rest: s.start - spans[i]!.end }));

describe('a paced sweep', () => {
  it('rests after each batch for as long as keeps its batches within maxShare of its time', async () => {
    const { sweeper, spans } = sweepOf(60, 4, 0.25);
    expect(await sweeper.sweep()).toEqual({ done: 60 });
    // 6 full batches and the short one that ends the sweep.
    expect(spans).toHaveLength(7);
    for (const { batch, rest } of rests(spans)) expect(rest).toBeGreaterThanOrEqual(batch * 3 - 1);
  });

  it('rests nine times its batches by default (a tenth of its time), and not after the last', async () => {
    expect(SWEEP_MAX_SHARE).toBe(0.1);
    const { sweeper, spans } = sweepOf(25, 3);
    expect(await sweeper.sweep()).toEqual({ done: 25 });
    // Two full batches, each followed by its rest, and the short third one that ends it.
    expect(spans).toHaveLength(3);
    for (const { batch, rest } of rests(spans)) expect(rest).toBeGreaterThanOrEqual(batch * 9 - 1);
  });

  it('a share of 1 does not rest: batch follows batch with a turn of the event loop between', async () => {
    const { sweeper, spans } = sweepOf(50, 20, 1);
    expect(await sweeper.sweep()).toEqual({ done: 50 });
    // A rest as long as a batch would be a share of one half; a turn takes far less.
    for (const { batch, rest } of rests(spans)) expect(rest).toBeLessThan(batch);
  });

  it('refuses a share that is not above 0 and at most 1', () => {
    for (const maxShare of [0, -0.5, 1.5, Number.NaN])
      expect(() => sweepOf(1, 0, maxShare)).toThrow(ValidationError);
  });
});
