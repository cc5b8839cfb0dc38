/**
 * The transformations' CPU-time cap counts this thread's CPU time (Linux), not wall time: a
 * thread that waits past the cap is not stopped, one that computes past it is.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cpuDeadline } from '../../src/transform/sandbox.js';

const linux = existsSync('/proc/thread-self/schedstat');

describe('cpuDeadline', () => {
  it.runIf(linux)('does not count time the thread spends waiting, only time it computes', () => {
    const stop = cpuDeadline(30);
    // 80 ms asleep: wall time past the cap, almost no CPU time.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 80);
    expect(stop()).toBe(false);
    // Then compute until the deadline says stop; it does within a few ticks of 30 ms of CPU.
    const started = performance.now();
    let stopped = false;
    while (!stopped && performance.now() - started < 10_000) stopped = stop();
    expect(stopped).toBe(true);
  });

  it('stops at once after the cap when the thread computes throughout', () => {
    const stop = cpuDeadline(20);
    expect(stop()).toBe(false);
    const started = performance.now();
    let stopped = false;
    while (!stopped && performance.now() - started < 10_000) stopped = stop();
    expect(stopped).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(20);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
