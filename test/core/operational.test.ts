import { describe, expect, it } from 'vitest';
import {
  attemptEventKinds,
  endpointChangeEvents,
  OPERATIONAL_APP_ID,
  operationalMessage,
  operationalPayload,
  subscribes,
} from '../../src/core/operational.js';
import { causedBy, currentCause, withCause } from '../../src/store/cause.js';
import { blankEndpoint } from '../../src/store/normalise.js';
import { completionEvents } from '../../src/store/operational-events.js';

const NOW = Date.UTC(2026, 0, 1);
const names = { appId: 'app_1', appUid: null, endpointId: 'ep_1', endpointUid: null };
const failed = (attemptsMade: number, exhausted = false) => ({
  attempt: { succeeded: false, appId: 'app_1' },
  next: exhausted ? { status: 'failed' as const, exhausted: true } : { status: 'pending' as const },
  attemptsMade,
});
const succeeded = (attemptsMade: number, appId = 'app_1') => ({
  attempt: { succeeded: true, appId },
  next: { status: 'succeeded' as const },
  attemptsMade,
});

describe('attemptEventKinds', () => {
  it('failing on the 4th failed attempt only, as Svix', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => attemptEventKinds(failed(n)))).toEqual([
      [],
      [],
      [],
      ['message.attempt.failing'],
      [],
      [],
    ]);
  });

  it('exhausted when the last retry fails; both when that is the 4th', () => {
    expect(attemptEventKinds(failed(2, true))).toEqual(['message.attempt.exhausted']);
    expect(attemptEventKinds(failed(4, true))).toEqual([
      'message.attempt.failing',
      'message.attempt.exhausted',
    ]);
  });

  it('recovered only for a success after failing was sent', () => {
    expect(attemptEventKinds(succeeded(1))).toEqual([]);
    expect(attemptEventKinds(succeeded(4))).toEqual([]);
    expect(attemptEventKinds(succeeded(5))).toEqual(['message.attempt.recovered']);
  });

  it('nothing without an attempt, without a count, or for the operational application', () => {
    expect(attemptEventKinds({ attempt: null, next: { status: 'failed', exhausted: false } })).toEqual([]);
    expect(attemptEventKinds({ ...succeeded(9), attemptsMade: undefined })).toEqual([]);
    expect(attemptEventKinds(succeeded(9, OPERATIONAL_APP_ID))).toEqual([]);
    expect(
      attemptEventKinds({ ...failed(4, true), attempt: { succeeded: false, appId: OPERATIONAL_APP_ID } }),
    ).toEqual([]);
  });
});

describe('endpointChangeEvents', () => {
  const before = blankEndpoint('ep_1', 'app_1', NOW);
  it('created, deleted, updated, and the flips of disabled', () => {
    expect(endpointChangeEvents(null, before, names, NOW).map((e) => e.type)).toEqual(['endpoint.created']);
    expect(endpointChangeEvents(before, null, names, NOW).map((e) => e.type)).toEqual(['endpoint.deleted']);
    expect(endpointChangeEvents(before, before, names, NOW).map((e) => e.type)).toEqual(['endpoint.updated']);
    const off = { ...before, disabled: true };
    expect(endpointChangeEvents(before, off, names, NOW)).toEqual([
      { type: 'endpoint.updated', data: names },
      {
        type: 'endpoint.disabled',
        data: { ...names, trigger: 'manual', failSince: new Date(NOW).toISOString(), reason: null },
      },
    ]);
    expect(endpointChangeEvents(off, before, names, NOW).map((e) => e.type)).toEqual([
      'endpoint.updated',
      'endpoint.enabled',
    ]);
  });

  it("none for the operational application's own endpoints", () => {
    expect(endpointChangeEvents(null, before, { ...names, appId: OPERATIONAL_APP_ID }, NOW)).toEqual([]);
  });
});

it('the payload is {type, timestamp, data}; no filter types is every event', () => {
  expect(JSON.parse(operationalPayload({ type: 'endpoint.created', data: names }, NOW))).toEqual({
    type: 'endpoint.created',
    timestamp: '2026-01-01T00:00:00.000Z',
    data: names,
  });
  expect(subscribes(null, 'endpoint.created')).toBe(true);
  expect(subscribes([], 'endpoint.created')).toBe(true);
  expect(subscribes(['endpoint.deleted'], 'endpoint.created')).toBe(false);
});

describe('the trace context of the events of a batch of completions', () => {
  const attempt = (id: string, endpointId: string, succeeded: boolean) => ({
    id,
    deliveryId: `dlv_${id}`,
    msgId: `msg_${id}`,
    endpointId,
    appId: 'app_1',
    url: 'https://example.com',
    trigger: 'scheduled' as const,
    succeeded,
    statusCode: succeeded ? 200 : 410,
    responseBody: '',
    durationMs: 1,
    errorKind: null,
    errorMessage: null,
    requestHeaders: {},
    createdAt: NOW,
  });
  const completion = (id: string, endpointId: string, traceContext: string | null, made = 4) => ({
    owner: 'w',
    deliveryId: `dlv_${id}`,
    endpointId,
    attempt: attempt(id, endpointId, false),
    next: { status: 'pending' as const, dueAt: NOW + 1_000 },
    disableEndpoint: false,
    attemptsMade: made,
    ...(traceContext === null ? {} : { traceContext }),
  });

  it("each attempt event has its attempt's context; a disabled endpoint the context of its last attempt in the batch", () => {
    const events = completionEvents(
      [
        completion('a', 'ep_1', '{"traceparent":"a"}'),
        completion('b', 'ep_2', null),
        completion('c', 'ep_1', '{"traceparent":"c"}', 2),
      ],
      [
        { appId: 'app_1', endpointId: 'ep_1', reason: 'gone' },
        { appId: 'app_1', endpointId: 'ep_2', reason: 'failing' },
        { appId: OPERATIONAL_APP_ID, endpointId: 'ep_ops', reason: 'gone' },
      ],
    );
    expect(events.attempts.map((e) => [e.type, e.attempt.id, e.traceContext])).toEqual([
      ['message.attempt.failing', 'a', '{"traceparent":"a"}'],
      ['message.attempt.failing', 'b', null],
    ]);
    expect(events.disabled.map((d) => [d.endpointId, d.traceContext])).toEqual([
      ['ep_1', '{"traceparent":"c"}'],
      ['ep_2', null],
    ]);
  });

  it("events of a write take its cause's context, unless they have their own", () => {
    const own = { type: 'endpoint.created' as const, data: {}, traceContext: 'own' };
    const bare = { type: 'endpoint.deleted' as const, data: {} };
    expect(withCause('cause', () => causedBy([own, bare], currentCause()))).toEqual([
      own,
      { ...bare, traceContext: 'cause' },
    ]);
    // Outside a scope there is no cause, and nothing is added.
    expect(causedBy([bare], currentCause())).toEqual([bare]);
    expect(operationalMessage('msg_1', { ...bare, traceContext: 'cause' }, NOW).traceContext).toBe('cause');
  });
});
