/** When a worker answers a wake-up (src/delivery/wake-backoff.ts), as a policy over time. */
import { describe, expect, it } from 'vitest';
import { WakeBackoff } from '../../src/delivery/wake-backoff.js';

describe('WakeBackoff', () => {
  it('waits 1/16 of the longest wait after an answering claim found nothing, doubling with each in a row up to it', () => {
    const b = new WakeBackoff(160);
    let now = 0;
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      waits.push(b.waitFor(now));
      now += 5;
      b.claimed(0, true, now);
    }
    expect(waits).toEqual([0, 10, 20, 40, 80, 160, 160]);
  });

  it('ends the wait as soon as work comes: a claim that finds some, or deliveries handed over', () => {
    const b = new WakeBackoff(160);
    for (const now of [0, 1, 2]) b.claimed(0, true, now);
    expect(b.waitFor(3)).toBe(40);
    b.claimed(3, false, 4);
    expect(b.waitFor(5)).toBe(0);
    // The first empty claim after work found does not count.
    for (const now of [6, 7, 8]) b.claimed(0, true, now);
    expect(b.waitFor(9)).toBe(20);
    b.workArrived();
    expect(b.waitFor(10)).toBe(0);
  });

  it('does not count an empty claim right after one that found work: a lone worker racing itself', () => {
    const b = new WakeBackoff(160);
    let now = 0;
    for (let i = 0; i < 20; i++) {
      // A claim for freed capacity takes the batch, then the claim answering its wake-up finds nothing.
      b.claimed(7, false, now++);
      b.claimed(0, true, now++);
      expect(b.waitFor(now)).toBe(0);
    }
  });

  it('does not count claims that answered nothing, and forgets a streak older than the longest wait', () => {
    const b = new WakeBackoff(160);
    for (const now of [0, 1, 2, 3]) b.claimed(0, false, now);
    expect(b.waitFor(4)).toBe(0);
    // Messages scheduled for later, an hour apart: each wake-up's claim finds nothing.
    let now = 10;
    for (let i = 0; i < 5; i++) {
      expect(b.waitFor(now)).toBe(0);
      b.claimed(0, true, now);
      now += 3_600_000;
    }
    // A burst starts a new streak and builds a wait; a wake-up heard more than 160 ms after
    // the last empty claim is answered at once.
    for (const t of [now, now + 1, now + 2]) {
      b.waitFor(t);
      b.claimed(0, true, t);
    }
    expect(b.waitFor(now + 100)).toBe(40);
    expect(b.waitFor(now + 2 + 160)).toBe(40);
    expect(b.waitFor(now + 2 + 161)).toBe(0);
  });

  it('keeps the streak of a worker held for the whole wait: what counts is when the wake-up is heard', () => {
    const b = new WakeBackoff(160);
    let now = 0;
    for (let i = 0; i < 6; i++) {
      const wait = b.waitFor(now);
      // The claim answering it starts after the wait and takes 5 ms; the next wake-up comes 1 ms later.
      now += wait + 5;
      b.claimed(0, true, now);
      now += 1;
    }
    expect(b.waitFor(now)).toBe(160);
  });

  it('answers every wake-up at once when the longest wait is 0', () => {
    const b = new WakeBackoff(0);
    for (let now = 0; now < 2_000; now++) b.claimed(0, true, now);
    expect(b.waitFor(2_000)).toBe(0);
  });
});
