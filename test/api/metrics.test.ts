/**
 * `GET /metrics` of a real `herald serve`: Prometheus text that counts what the API accepted
 * and what the dispatcher (in its thread) attempted, the queue read from the store, behind
 * the admin token unless `--metrics-public`, and on `--metrics-port` without one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPE_SERIES } from '../../src/metrics/api.js';
import { eventually } from '../cli/run.js';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';

/** The value of the series `name{labels}` in `text`, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ? m[2].split(',') : [];
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length) return Number(m[3]);
  }
  return undefined;
}

let server: HeraldProcess;
let ok: Receiver;
let failing: Receiver;
let metricsUrl: string;

async function scrape(token: string | null = server.token, url = `${server.url}/metrics`) {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

beforeAll(async () => {
  ok = await startReceiver();
  failing = await startReceiver((_r, res) => res.writeHead(503).end('down'));
  server = await startHerald(['--metrics-port', '0']);
  metricsUrl = /metrics at (\S+)/.exec(server.output())![1]!;
});

afterAll(async () => {
  await server.stop();
  await ok.close();
  await failing.close();
});

describe('GET /metrics', () => {
  it('asks for the admin token on the API port: none is 401, an application token 403', async () => {
    expect((await scrape(null)).status).toBe(401);
    const app = await server.post('/app', { name: 'tenant' });
    const { token } = (await server.post(`/auth/app-portal-access/${app.id}`, {})) as unknown as {
      token: string;
    };
    expect((await scrape(token)).status).toBe(403);
    const res = await scrape();
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    // Node's process metrics come with Herald's.
    expect(sample(res.text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('counts accepted messages by event type, attempts by outcome and status class, and latency', async () => {
    const app = await server.post('/app', { name: 'shop' });
    await server.post(`/app/${app.id}/endpoint`, { url: ok.url, filterTypes: ['order.paid'] });
    await server.post(`/app/${app.id}/endpoint`, {
      url: failing.url,
      filterTypes: ['order.refunded'],
      retrySchedule: [3600],
    });
    for (let i = 0; i < 3; i++)
      await server.post(`/app/${app.id}/msg`, { eventType: 'order.paid', payload: { i } });
    await server.post(`/app/${app.id}/msg`, { eventType: 'order.refunded', payload: {} });
    // The attempt counts come from the dispatcher's thread, the queue from the store, each read
    // at its own moment of one scrape: on PostgreSQL (no standing claims) the queue can be read
    // while the failing delivery still waits for its claim. Wait for both.
    const text = await eventually(
      async () => (await scrape()).text,
      (t) =>
        sample(t, 'herald_attempts_total', { outcome: 'succeeded', status_class: '2xx' }) === 3 &&
        sample(t, 'herald_attempts_total', { outcome: 'failed', status_class: '5xx' }) === 1 &&
        sample(t, 'herald_oldest_due_delivery_age_seconds') === 0,
    );
    expect(sample(text, 'herald_messages_accepted_total', { event_type: 'order.paid' })).toBe(3);
    expect(sample(text, 'herald_messages_accepted_total', { event_type: 'order.refunded' })).toBe(1);
    // Ingest to first success, for the three that succeeded; each attempt's duration.
    expect(sample(text, 'herald_delivery_latency_seconds_count')).toBe(3);
    expect(sample(text, 'herald_attempt_duration_seconds_count')).toBe(4);
    expect(sample(text, 'herald_attempts_in_flight')).toBe(0);
    expect(
      sample(text, 'herald_dispatcher_event_loop_lag_seconds', { quantile: 'max' }),
    ).toBeGreaterThanOrEqual(0);
    // The failed one waits an hour for its retry: pending, not due, nothing late.
    expect(sample(text, 'herald_deliveries_queued', { state: 'pending' })).toBe(1);
    expect(sample(text, 'herald_deliveries_queued', { state: 'sending' })).toBe(0);
    expect(sample(text, 'herald_oldest_due_delivery_age_seconds')).toBe(0);
    // Every accepted message went through a group commit, each commit timed.
    const commits = sample(text, 'herald_group_commit_size_count')!;
    expect(commits).toBeGreaterThan(0);
    expect(sample(text, 'herald_group_commit_size_sum')).toBeGreaterThanOrEqual(4);
    expect(sample(text, 'herald_group_commit_duration_seconds_count')).toBe(commits);
    expect(sample(text, 'herald_group_commit_duration_seconds_sum')).toBeGreaterThan(0);
    // No series per message or per endpoint.
    expect(text).not.toMatch(/msg_|ep_/);
  });

  it(`counts at most ${EVENT_TYPE_SERIES} event types by name; the rest are "other"`, async () => {
    const app = await server.post('/app', { name: 'many types' });
    const before =
      sample((await scrape()).text, 'herald_messages_accepted_total', { event_type: 'other' }) ?? 0;
    for (let i = 0; i < EVENT_TYPE_SERIES + 5; i++)
      await server.post(`/app/${app.id}/msg`, { eventType: `kind.n${i}`, payload: {} });
    const text = (await scrape()).text;
    const named = text.split('\n').filter((l) => l.startsWith('herald_messages_accepted_total{'));
    expect(named.length).toBeLessThanOrEqual(EVENT_TYPE_SERIES + 1);
    expect(sample(text, 'herald_messages_accepted_total', { event_type: 'other' })).toBeGreaterThan(before);
  });

  it('is served on --metrics-port without a token, the same text, and nothing else there', async () => {
    const res = await scrape(null, metricsUrl);
    expect(res.status).toBe(200);
    expect(res.text).toContain('herald_attempts_total');
    expect(res.text).toContain('herald_messages_accepted_total');
    expect((await fetch(metricsUrl.replace('/metrics', '/api/v1/app'))).status).toBe(404);
  });
});

describe('--metrics-public', () => {
  it('serves /metrics on the API port without a token', async () => {
    const open = await startHerald(['--metrics-public']);
    try {
      const res = await fetch(`${open.url}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('herald_deliveries_queued');
    } finally {
      await open.stop();
    }
  });
});

describe('--metrics-per-endpoint', () => {
  it("labels the attempt counter with each endpoint's id", async () => {
    const small = await startHerald(['--metrics-per-endpoint']);
    try {
      const app = await small.post('/app', { name: 'small' });
      const ep = await small.post(`/app/${app.id}/endpoint`, { url: ok.url });
      await small.post(`/app/${app.id}/msg`, { eventType: 'order.paid', payload: {} });
      const labels = { outcome: 'succeeded', status_class: '2xx', endpoint: String(ep.id) };
      const text = await eventually(
        async () => (await scrape(small.token, `${small.url}/metrics`)).text,
        (t) => sample(t, 'herald_attempts_total', labels) === 1,
      );
      expect(sample(text, 'herald_attempts_total', labels)).toBe(1);
      // Without the flag, the same counter has no endpoint label (the shared server above).
      expect((await scrape()).text).not.toContain('endpoint="');
    } finally {
      await small.stop();
    }
  });
});
