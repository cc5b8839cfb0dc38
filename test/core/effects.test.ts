import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CompletedAttempt,
  type DisabledEndpointEffect,
  type EndpointState,
  endpointEffects,
  endpointsToRead,
} from '../../src/core/effects.js';
import { recipients, replaySelection } from '../../src/core/filter.js';

const NOW = 1_000_000;

interface Db {
  endpoints: Map<string, EndpointState & { updatedAt: number }>;
  /** Delivery id → endpoint and status. */
  deliveries: Map<string, { endpointId: string; status: string }>;
}

function clone(db: Db): Db {
  return {
    endpoints: new Map([...db.endpoints].map(([id, e]) => [id, { ...e }])),
    deliveries: new Map([...db.deliveries].map(([id, d]) => [id, { ...d }])),
  };
}

function failPending(db: Db, endpointId: string, spare: readonly string[] = []): void {
  for (const [id, d] of db.deliveries)
    if (d.endpointId === endpointId && d.status === 'pending' && !spare.includes(id)) d.status = 'failed';
}

/** The stores' `complete` as it was: one completion at a time, with conditional updates. */
function sequential(db: Db, batch: readonly CompletedAttempt[], auto: number): DisabledEndpointEffect[] {
  const disabled: DisabledEndpointEffect[] = [];
  const disable = (endpointId: string, reason: 'gone' | 'failing') => {
    const e = db.endpoints.get(endpointId);
    if (!e || e.disabled) return;
    e.disabled = true;
    e.updatedAt = NOW;
    failPending(db, endpointId);
    disabled.push({ appId: e.appId, endpointId, reason });
  };
  for (const c of batch) {
    db.deliveries.get(c.deliveryId)!.status = c.next.status;
    const e = db.endpoints.get(c.endpointId);
    if (c.next.status === 'succeeded' && e) e.failingSince = null;
    if (c.disableEndpoint) disable(c.endpointId, 'gone');
    else if (c.next.status === 'failed' && c.next.exhausted && e) {
      e.failingSince ??= NOW;
      if (!e.disabled && NOW - e.failingSince >= auto) disable(c.endpointId, 'failing');
    }
  }
  return disabled;
}

function stateOf(db: Db, batch: readonly CompletedAttempt[]): Map<string, EndpointState> {
  const state = new Map<string, EndpointState>();
  for (const id of endpointsToRead(batch)) {
    const e = db.endpoints.get(id);
    if (e) state.set(id, { appId: e.appId, failingSince: e.failingSince, disabled: e.disabled });
  }
  return state;
}

/** Executes the effects one completion at a time (as SQLite does). */
function interleaved(db: Db, batch: readonly CompletedAttempt[], auto: number) {
  const { endpoints, disabled } = endpointEffects(batch, stateOf(db, batch), NOW, auto);
  batch.forEach((c, i) => {
    db.deliveries.get(c.deliveryId)!.status = c.next.status;
    for (const effect of endpoints) {
      if (effect.disable?.after !== i) continue;
      const e = db.endpoints.get(effect.endpointId)!;
      e.disabled = true;
      e.updatedAt = NOW;
      failPending(db, effect.endpointId);
    }
  });
  for (const effect of endpoints)
    if (effect.failingSince !== undefined)
      db.endpoints.get(effect.endpointId)!.failingSince = effect.failingSince;
  return disabled;
}

/** Executes the effects after writing every delivery of the batch (as a set-based backend may). */
function deliveriesFirst(db: Db, batch: readonly CompletedAttempt[], auto: number) {
  const { endpoints, disabled } = endpointEffects(batch, stateOf(db, batch), NOW, auto);
  for (const c of batch) db.deliveries.get(c.deliveryId)!.status = c.next.status;
  for (const effect of endpoints) {
    const e = db.endpoints.get(effect.endpointId)!;
    if (effect.failingSince !== undefined) e.failingSince = effect.failingSince;
    if (effect.disable) {
      e.disabled = true;
      e.updatedAt = NOW;
      failPending(db, effect.endpointId, effect.disable.spare);
    }
  }
  return disabled;
}

const ENDPOINTS = ['ep_a', 'ep_b', 'ep_c', 'ep_gone'];
const AUTO = [0, 500, 2_000];

const scenario = fc
  .record({
    auto: fc.constantFrom(...AUTO),
    endpoints: fc.tuple(
      ...ENDPOINTS.slice(0, 3).map(() =>
        fc.record({
          failingSince: fc.option(fc.integer({ min: NOW - 3_000, max: NOW }), { nil: null }),
          disabled: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
          pending: fc.integer({ min: 0, max: 2 }),
        }),
      ),
    ),
    completions: fc.array(
      fc.record({
        endpoint: fc.constantFrom(...ENDPOINTS),
        next: fc.oneof(
          fc.constant({ status: 'succeeded' as const }),
          fc.constant({ status: 'pending' as const }),
          fc.boolean().map((exhausted) => ({ status: 'failed' as const, exhausted })),
        ),
        gone: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
      }),
      { maxLength: 14 },
    ),
  })
  .map(({ auto, endpoints, completions }) => {
    const db: Db = { endpoints: new Map(), deliveries: new Map() };
    endpoints.forEach((e, i) => {
      const id = ENDPOINTS[i]!;
      db.endpoints.set(id, {
        appId: `app_${i % 2}`,
        failingSince: e.failingSince,
        disabled: e.disabled,
        updatedAt: 1,
      });
      for (let k = 0; k < e.pending; k++)
        db.deliveries.set(`dlv_old_${id}_${k}`, { endpointId: id, status: 'pending' });
    });
    const batch: CompletedAttempt[] = completions.map((c, i) => {
      db.deliveries.set(`dlv_${i}`, { endpointId: c.endpoint, status: 'sending' });
      return { endpointId: c.endpoint, deliveryId: `dlv_${i}`, next: c.next, disableEndpoint: c.gone };
    });
    return { db, batch, auto };
  });

describe('endpointEffects', () => {
  it('gives what applying the batch one completion at a time gave, executed either way', () => {
    fc.assert(
      fc.property(scenario, ({ db, batch, auto }) => {
        const expected = clone(db);
        const expectedDisabled = sequential(expected, batch, auto);
        for (const execute of [interleaved, deliveriesFirst]) {
          const actual = clone(db);
          expect(execute(actual, batch, auto)).toEqual(expectedDisabled);
          expect(actual).toEqual(expected);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('asks for no state and changes nothing when every completion is a scheduled retry', () => {
    const batch: CompletedAttempt[] = [
      { endpointId: 'ep_a', deliveryId: 'dlv_1', next: { status: 'pending' }, disableEndpoint: false },
      {
        endpointId: 'ep_b',
        deliveryId: 'dlv_2',
        next: { status: 'failed', exhausted: false },
        disableEndpoint: false,
      },
    ];
    expect(endpointsToRead(batch)).toEqual([]);
    expect(endpointEffects(batch, new Map(), NOW, 0)).toEqual({ endpoints: [], disabled: [] });
  });

  it('reads the endpoints that can change in id order, each once', () => {
    const c = (endpointId: string, status: 'succeeded' | 'pending'): CompletedAttempt => ({
      endpointId,
      deliveryId: `dlv_${endpointId}`,
      next: { status },
      disableEndpoint: false,
    });
    expect(
      endpointsToRead([
        c('ep_c', 'succeeded'),
        c('ep_a', 'succeeded'),
        c('ep_b', 'pending'),
        c('ep_c', 'succeeded'),
      ]),
    ).toEqual(['ep_a', 'ep_c']);
  });

  it('disables a failing endpoint once its clock has run long enough, failing its pending deliveries', () => {
    const batch: CompletedAttempt[] = [
      {
        endpointId: 'ep_a',
        deliveryId: 'dlv_1',
        next: { status: 'failed', exhausted: true },
        disableEndpoint: false,
      },
      { endpointId: 'ep_a', deliveryId: 'dlv_2', next: { status: 'pending' }, disableEndpoint: false },
    ];
    const state = new Map([['ep_a', { appId: 'app_1', failingSince: NOW - 10, disabled: false }]]);
    expect(endpointEffects(batch, state, NOW, 10)).toEqual({
      endpoints: [
        { endpointId: 'ep_a', appId: 'app_1', disable: { reason: 'failing', after: 0, spare: ['dlv_2'] } },
      ],
      disabled: [{ appId: 'app_1', endpointId: 'ep_a', reason: 'failing' }],
    });
    expect(endpointEffects(batch, state, NOW, 11).endpoints).toEqual([]);
  });
});

describe('fan-out and replay selection', () => {
  const ep = (id: string, filterTypes: string[] | null, channels: string[] | null, disabled = false) => ({
    id,
    filterTypes,
    channels,
    disabled,
  });
  const endpoints = [
    ep('ep_all', null, null),
    ep('ep_type', ['a.b'], null),
    ep('ep_chan', null, ['x']),
    ep('ep_off', null, null, true),
  ];

  it('sends a message to the endpoints it matches, in their order', () => {
    const ids = (m: { eventType: string; channels: string[] | null }, only?: string) =>
      recipients(endpoints, m, only).map((e) => e.id);
    expect(ids({ eventType: 'a.b', channels: null })).toEqual(['ep_all', 'ep_type']);
    expect(ids({ eventType: 'c.d', channels: ['x', 'y'] })).toEqual(['ep_all', 'ep_chan']);
    // Aimed at one endpoint: that one whatever its filters, never a disabled one.
    expect(ids({ eventType: 'c.d', channels: null }, 'ep_type')).toEqual(['ep_type']);
    expect(ids({ eventType: 'c.d', channels: null }, 'ep_off')).toEqual([]);
  });

  it('replays to an endpoint the messages it matches, none to a disabled one', () => {
    const missing = [
      { id: 'msg_1', eventType: 'a.b', channels: null },
      { id: 'msg_2', eventType: 'c.d', channels: null },
    ];
    expect(replaySelection(endpoints[1]!, missing).map((m) => m.id)).toEqual(['msg_1']);
    expect(replaySelection(endpoints[0]!, missing).map((m) => m.id)).toEqual(['msg_1', 'msg_2']);
    expect(replaySelection(endpoints[3]!, missing)).toEqual([]);
  });
});
