/**
 * What a batch of attempts adds to the failure groups and streaks (`tallyFailures`), and the
 * causes and hosts they are grouped by.
 */
import { describe, expect, it } from 'vitest';
import { causeOf, hostOf, tallyFailures } from '../../src/core/failures.js';
import type { Attempt } from '../../src/core/types.js';

const attempt = (endpointId: string, at: number, statusCode: number | null, succeeded = false): Attempt => ({
  id: `atmpt_${at}`,
  deliveryId: `dlv_${at}`,
  msgId: `msg_${at}`,
  endpointId,
  appId: 'app_1',
  url: `https://Receiver.example:8443/${endpointId}`,
  trigger: 'scheduled',
  succeeded,
  statusCode,
  responseBody: '',
  durationMs: 1,
  errorKind: statusCode === null ? 'timeout' : 'http_status',
  errorMessage: null,
  requestHeaders: {},
  createdAt: at,
});

describe('failure tally', () => {
  it('names the cause by status class, or by error kind without a status; the host with its port', () => {
    expect(causeOf({ statusCode: 503, errorKind: 'http_status' })).toBe('http_5xx');
    expect(causeOf({ statusCode: 404, errorKind: 'http_status' })).toBe('http_4xx');
    expect(causeOf({ statusCode: null, errorKind: 'connection_refused' })).toBe('connection_refused');
    expect(hostOf('https://Receiver.example:8443/hook?x=1')).toBe('receiver.example:8443');
    expect(hostOf('not a url')).toBe('not a url');
  });

  it('counts each endpoint and cause, with first, last and the last status', () => {
    const t = tallyFailures([
      attempt('ep_b', 30, 502),
      attempt('ep_a', 10, 500),
      attempt('ep_b', 20, 503),
      attempt('ep_b', 40, null),
    ]);
    expect(
      t.groups.map((g) => [g.endpointId, g.cause, g.attempts, g.firstAt, g.lastAt, g.lastStatusCode, g.host]),
    ).toEqual([
      ['ep_a', 'http_5xx', 1, 10, 10, 500, 'receiver.example:8443'],
      ['ep_b', 'http_5xx', 2, 20, 30, 502, 'receiver.example:8443'],
      ['ep_b', 'timeout', 1, 40, 40, null, 'receiver.example:8443'],
    ]);
  });

  it('ends the streak of an endpoint that succeeded, and starts one at the first failure after its last success', () => {
    const t = tallyFailures([
      attempt('ep_a', 1, 500),
      attempt('ep_a', 2, 200, true),
      attempt('ep_a', 3, 500),
      attempt('ep_a', 4, 500),
      attempt('ep_b', 5, 500),
      attempt('ep_b', 6, 200, true),
      attempt('ep_c', 7, 200, true),
    ]);
    expect(t.ended).toEqual(['ep_a', 'ep_b', 'ep_c']);
    expect(t.started).toEqual([{ endpointId: 'ep_a', since: 3 }]);
  });
});
