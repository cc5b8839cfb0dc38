/** The per-endpoint budget: counts that always add up, and capacity that comes back exactly. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EndpointBudget } from '../../src/delivery/budget.js';

const ENDPOINTS = ['ep_a', 'ep_b', 'ep_c', 'ep_d'];

/** A step of a dispatcher's life: a claim or fresh delivery, or a held one finished or given back. */
type Step = { kind: 'take' | 'finish' | 'giveBack'; endpoint: number };

const steps = fc.array(
  fc.record({
    kind: fc.constantFrom<Step['kind']>('take', 'take', 'finish', 'giveBack'),
    endpoint: fc.integer({ min: 0, max: ENDPOINTS.length - 1 }),
  }),
  { maxLength: 300 },
);

/** Budgets of 1 to 8 per endpoint, as endpoint concurrency and rate limits make them. */
const budgets = fc.array(fc.integer({ min: 1, max: 8 }), {
  minLength: ENDPOINTS.length,
  maxLength: ENDPOINTS.length,
});

describe('EndpointBudget', () => {
  it('keeps held the sum of the per-endpoint counts, never negative, with saturation as the model says', () => {
    fc.assert(
      fc.property(budgets, steps, (limits, sequence) => {
        const budgetOf = (id: string) => limits[ENDPOINTS.indexOf(id)]!;
        const budget = new EndpointBudget(budgetOf);
        // The model: what the dispatcher holds, per endpoint, and which endpoints it saturated.
        const held = new Map(ENDPOINTS.map((id) => [id, 0]));
        const saturated = new Set<string>();
        for (const { kind, endpoint } of sequence) {
          const id = ENDPOINTS[endpoint]!;
          const n = held.get(id)!;
          if (kind === 'take') {
            budget.take(id);
            held.set(id, n + 1);
            if (n + 1 >= budgetOf(id)) saturated.add(id);
          } else {
            // Only a delivery the dispatcher holds is finished or given back.
            if (n === 0) continue;
            const left = budget.letGo(id);
            held.set(id, n - 1);
            const leaves = saturated.has(id) && n - 1 <= budgetOf(id) / 2;
            if (leaves) saturated.delete(id);
            expect(left).toBe(leaves);
          }
          const sum = [...held.values()].reduce((a, b) => a + b, 0);
          expect(budget.held).toBe(sum);
          for (const other of ENDPOINTS) {
            expect(budget.heldBy(other)).toBe(held.get(other));
            expect(budget.heldBy(other)).toBeGreaterThanOrEqual(0);
          }
          expect(new Set(budget.saturated())).toEqual(saturated);
        }
        // Everything still held finishes or is given back: all the capacity comes back.
        for (const id of ENDPOINTS) for (let n = held.get(id)!; n > 0; n--) budget.letGo(id);
        expect(budget.held).toBe(0);
        expect(ENDPOINTS.map((id) => budget.heldBy(id))).toEqual([0, 0, 0, 0]);
        expect(budget.saturated()).toEqual([]);
      }),
    );
  });

  it('saturates an endpoint at its budget and frees it at half', () => {
    const budget = new EndpointBudget(() => 4);
    for (let i = 0; i < 3; i++) budget.take('ep');
    expect(budget.isSaturated('ep')).toBe(false);
    budget.take('ep');
    expect(budget.isSaturated('ep')).toBe(true);
    expect(budget.letGo('ep')).toBe(false); // 3 held: still saturated
    expect(budget.isSaturated('ep')).toBe(true);
    expect(budget.letGo('ep')).toBe(true); // 2 held: half the budget
    expect(budget.isSaturated('ep')).toBe(false);
  });

  it('refuses to let go of a delivery the endpoint does not hold, and keeps its counts', () => {
    const budget = new EndpointBudget(() => 2);
    budget.take('ep_a');
    expect(() => budget.letGo('ep_b')).toThrow(RangeError);
    expect(budget.held).toBe(1);
    expect(budget.heldBy('ep_b')).toBe(0);
  });
});
