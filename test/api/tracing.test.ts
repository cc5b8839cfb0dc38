/**
 * Tracing of a real `herald serve` (the dispatcher in its thread) exporting to a real OTLP
 * receiver: the ingest's span and each attempt's span share one trace, an attempt made by
 * another process after a restart included (the context is stored with the message), the
 * endpoint receives the attempt's `traceparent` unless `--no-trace-propagation`, and without
 * `OTEL_EXPORTER_OTLP_ENDPOINT` no SDK is loaded and nothing is exported or sent.
 */
import { trace } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, tracing, tracingConfigured } from '../../src/tracing/tracing.js';
import { receiversClosedAfterEach, tempDir } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { testDatabaseUrl } from '../store-under-test.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.js';

const receiver = receiversClosedAfterEach();
let otlp: OtlpReceiver;
const running: HeraldProcess[] = [];

/** The variables that turn tracing on, exporting to the test's receiver every 50 ms. */
const traced = () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '50' });

async function herald(args: string[], env: Record<string, string>, db?: string): Promise<HeraldProcess> {
  const server = await startHerald(args, env, db === undefined ? {} : { db });
  running.push(server);
  return server;
}

beforeAll(async () => {
  otlp = await startOtlpReceiver();
});

afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
  otlp.spans.length = 0;
});

afterAll(async () => {
  await otlp.close();
});

/** A client's own traceparent, as a caller that traces itself sends it. */
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

async function sendMessage(server: HeraldProcess, appId: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}/api/v1/app/${appId}/msg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ eventType: 'order.paid', payload: { n: 1 } }),
  });
  expect(res.status).toBe(202);
  return (await res.json()) as { id: string };
}

const named = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);

describe('with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('exports an ingest span, child of the caller, and an attempt span, child of the ingest; traceparent reaches the endpoint', async () => {
    const endpoint = await receiver();
    const server = await herald([], traced());
    expect(server.output()).toContain(`herald: tracing to ${otlp.url}/v1/traces`);
    const app = await server.post('/app', { name: 'shop' });
    await server.post(`/app/${app.id}/endpoint`, { url: endpoint.url });
    const msg = await sendMessage(server, app.id, { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` });
    await endpoint.arrived(1);
    const spans = await otlp.until(
      (s) => named(s, 'herald.message.create').length === 1 && named(s, 'herald.attempt').length === 1,
    );
    const ingest = named(spans, 'herald.message.create')[0]!;
    const attempt = named(spans, 'herald.attempt')[0]!;
    // The ingest joins the caller's trace; the attempt is the ingest's child.
    expect(ingest).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: CLIENT_SPAN, kind: 2 });
    expect(ingest.attributes).toMatchObject({
      'herald.msg_id': msg.id,
      'herald.app_id': app.id,
      'herald.event_type': 'order.paid',
    });
    expect(ingest.resource['service.name']).toBe('herald');
    expect(attempt).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: ingest.spanId, kind: 3 });
    expect(attempt.attributes).toMatchObject({
      'herald.msg_id': msg.id,
      'herald.attempt': 1,
      'http.response.status_code': 200,
      'server.address': '127.0.0.1',
    });
    // The endpoint's own spans would be children of the attempt.
    expect(endpoint.received[0]!.headers.traceparent).toBe(`00-${CLIENT_TRACE}-${attempt.spanId}-01`);
  });

  it('a retry made by another process after a restart joins the ingest trace (the context is stored)', async () => {
    let failing = true;
    const endpoint = await receiver((_r, res) => res.writeHead(failing ? 500 : 200).end());
    const dir = tempDir();
    const shared = await testDatabaseUrl('tracing', dir.path('herald.db'));
    try {
      const first = await herald([], traced(), shared.url);
      const app = await first.post('/app', { name: 'shop' });
      await first.post(`/app/${app.id}/endpoint`, { url: endpoint.url, retrySchedule: [1] });
      await sendMessage(first, app.id);
      await endpoint.arrived(1);
      await first.stop();
      running.splice(running.indexOf(first), 1);
      failing = false;
      // The second process never saw the ingest: only the database holds its context.
      await herald([], traced(), shared.url);
      await endpoint.arrived(2);
      const spans = await otlp.until(
        (s) => named(s, 'herald.attempt').length === 2 && named(s, 'herald.message.create').length === 1,
      );
      const ingest = named(spans, 'herald.message.create')[0]!;
      const attempts = named(spans, 'herald.attempt').sort(
        (a, b) => Number(a.attributes['herald.attempt']) - Number(b.attributes['herald.attempt']),
      );
      // A root ingest (no caller trace), and both attempts its children.
      expect(ingest.parentSpanId).toBe('');
      expect(
        attempts.map((a) => [a.traceId, a.parentSpanId, a.attributes['http.response.status_code']]),
      ).toEqual([
        [ingest.traceId, ingest.spanId, 500],
        [ingest.traceId, ingest.spanId, 200],
      ]);
      expect(attempts[0]!.statusCode).toBe(2);
      expect(endpoint.received.map((r) => r.headers.traceparent)).toEqual(
        attempts.map((a) => `00-${ingest.traceId}-${a.spanId}-01`),
      );
    } finally {
      for (const server of running.splice(0)) await server.stop();
      await shared.drop();
      dir.remove();
    }
  });

  it('--no-trace-propagation and HERALD_TRACE_PROPAGATION=false keep the spans and send no traceparent', async () => {
    for (const [args, env] of [
      [['--no-trace-propagation'], {}],
      [[], { HERALD_TRACE_PROPAGATION: 'false' }],
    ] as const) {
      const endpoint = await receiver();
      const server = await herald([...args], { ...traced(), ...env });
      expect(server.output()).toContain('traceparent not sent to endpoints');
      const app = await server.post('/app', { name: 'shop' });
      await server.post(`/app/${app.id}/endpoint`, { url: endpoint.url });
      const msg = await sendMessage(server, app.id);
      await endpoint.arrived(1);
      const spans = await otlp.until((s) =>
        named(s, 'herald.attempt').some((a) => a.attributes['herald.msg_id'] === msg.id),
      );
      const ingest = named(spans, 'herald.message.create').find(
        (s) => s.attributes['herald.msg_id'] === msg.id,
      );
      const attempt = named(spans, 'herald.attempt').find((s) => s.attributes['herald.msg_id'] === msg.id);
      expect(attempt?.parentSpanId).toBe(ingest?.spanId);
      expect(endpoint.received[0]!.headers).not.toHaveProperty('traceparent');
      expect(endpoint.received[0]!.headers).not.toHaveProperty('tracestate');
      await server.stop();
      running.splice(running.indexOf(server), 1);
    }
  });
});

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('loads no SDK, exports nothing and sends no traceparent', async () => {
    const endpoint = await receiver();
    // NODE_DEBUG=module names every CommonJS file loaded (the SDK's packages are CommonJS),
    // in the dispatcher's thread too.
    const exportsBefore = otlp.requests;
    const server = await herald([], { NODE_DEBUG: 'module' });
    const app = await server.post('/app', { name: 'shop' });
    await server.post(`/app/${app.id}/endpoint`, { url: endpoint.url });
    await sendMessage(server, app.id, { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` });
    await endpoint.arrived(1);
    expect(endpoint.received[0]!.headers).not.toHaveProperty('traceparent');
    // A stop flushes whatever an SDK would hold: after it, nothing can still be on its way.
    await server.stop();
    running.splice(running.indexOf(server), 1);
    const output = server.output();
    expect(output).not.toContain('herald: tracing to');
    expect(output).not.toMatch(/@opentelemetry[/\\](sdk-trace|exporter-trace-otlp-proto|resources)/);
    expect(otlp.requests).toBe(exportsBefore);
    // The same check sees the SDK when tracing is on (it would pass vacuously otherwise).
    const on = await herald([], { ...traced(), NODE_DEBUG: 'module' });
    expect(on.output()).toMatch(/@opentelemetry[/\\]sdk-trace/);
  });

  it('startTracing loads nothing and registers no provider; OTEL_SDK_DISABLED=true wins over an endpoint', async () => {
    expect(tracingConfigured({})).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_SDK_DISABLED: 'true' })).toBe(
      false,
    );
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${otlp.url}/v1/traces` })).toBe(true);
    expect(await startTracing('0.0.0', () => undefined, {})).toBeNull();
    expect(tracing()).toBe(false);
    // The API's global provider is still its no-op: a span made now records nothing.
    expect(trace.getTracer('test').startSpan('x').isRecording()).toBe(false);
  });
});
