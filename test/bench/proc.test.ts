import { describe, expect, it } from 'vitest';
import { machineTicks, quantile, statTicks, waitClass, waitShares } from '../../bench/proc.js';

describe('bench /proc readers', () => {
  it('reads utime + stime after a command name holding spaces and parentheses', () => {
    const stat =
      '4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 9000 0 0 0 731 129 0 0 20 0 11 0 5000 1000000 30000';
    expect(statTicks(stat)).toBe(731 + 129);
  });

  it('refuses text that is not a stat line', () => {
    expect(() => statTicks('nothing here')).toThrow(/not a \/proc/);
  });

  it("counts idle and iowait as the machine's idle, guest time not twice", () => {
    const proc = 'cpu  100 5 50 800 20 3 2 0 40 0\ncpu0 50 2 25 400 10 1 1 0 20 0\n';
    expect(machineTicks(proc)).toEqual({ idle: 820, total: 980 });
  });
});

describe('wait classes', () => {
  it('buckets sampled backends', () => {
    expect(waitClass({ state: 'idle', wait_event_type: 'Client', wait_event: 'ClientRead' })).toBe('idle');
    expect(waitClass({ state: 'active', wait_event_type: null, wait_event: null })).toBe('CPU');
    expect(
      waitClass({ state: 'idle in transaction', wait_event_type: 'Client', wait_event: 'ClientRead' }),
    ).toBe('Client');
    expect(waitClass({ state: 'active', wait_event_type: 'Lock', wait_event: 'transactionid' })).toBe('Lock');
    expect(waitClass({ state: 'active', wait_event_type: 'IO', wait_event: 'WALSync' })).toBe('IO: WAL');
    expect(waitClass({ state: 'active', wait_event_type: 'LWLock', wait_event: 'WALWrite' })).toBe(
      'LWLock: WAL',
    );
    expect(waitClass({ state: 'active', wait_event_type: 'LWLock', wait_event: 'BufferContent' })).toBe(
      'LWLock',
    );
  });

  it('shares the working samples, idle apart', () => {
    const s = waitShares({ idle: 6, CPU: 3, Lock: 1 });
    expect(s.samples).toBe(10);
    expect(s.idle).toBeCloseTo(0.6);
    expect(s.busy).toEqual({ CPU: 0.75, Lock: 0.25 });
  });

  it('picks quantiles', () => {
    expect(quantile([5, 1, 4, 2, 3], 0.5)).toBe(3);
    expect(
      quantile(
        Array.from({ length: 100 }, (_, i) => 100 - i),
        0.99,
      ),
    ).toBe(100);
    expect(quantile([], 0.99)).toBeNaN();
  });
});
