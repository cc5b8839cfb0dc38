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
import { eventually } from '../cli/run.js';
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

  it('a webhook received by an inbound source is traced as an ingest too, its forward a child of it', async () => {
    const endpoint = await receiver();
    const server = await herald([], traced());
    const app = await server.post('/app', { name: 'shop' });
    await server.post(`/app/${app.id}/endpoint`, { url: endpoint.url });
    const source = await server.post('/source', { name: 'plain', provider: 'none', appId: app.id });
    const res = await fetch(`${server.url}/in/${source.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
      body: '{"n":1}',
    });
    expect(res.status).toBe(200);
    await endpoint.arrived(1);
    // Both spans: the API's and the dispatcher thread's exporters send them apart, either first.
    const spans = await otlp.until(
      (s) => named(s, 'herald.attempt').length === 1 && named(s, 'herald.message.create').length === 1,
    );
    const ingest = named(spans, 'herald.message.create')[0]!;
    expect(ingest).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: CLIENT_SPAN });
    expect(ingest.attributes['herald.source_id']).toBe(source.id);
    expect(named(spans, 'herald.attempt')[0]).toMatchObject({
      traceId: CLIENT_TRACE,
      parentSpanId: ingest.spanId,
    });
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

/** Another caller's trace, for a request made later than the ingest (a resend, a task, a change). */
const LATER_TRACE = '0af7651916cd43dd8448eb211c80319c';
const LATER_SPAN = 'b7ad6b7169203331';
const LATER = `00-${LATER_TRACE}-${LATER_SPAN}-01`;

/** A request to the API with the admin token and, if given, a `traceparent`. */
async function call(
  server: HeraldProcess,
  method: string,
  path: string,
  body: unknown,
  traceparent?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${server.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(traceparent ? { traceparent } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}

/**
 * Resolves once the message's first attempt is recorded: a delivery still `sending` (sent, its
 * answer not yet written) is left alone by a resend or a bulk replay.
 */
async function recorded(server: HeraldProcess, appId: string, msgId: string): Promise<void> {
  await eventually(
    async () => (await call(server, 'GET', `/app/${appId}/attempt/msg/${msgId}`, undefined)).json,
    (page) => Array.isArray(page.data) && page.data.length > 0,
  );
}

/** The attempt spans of the operational webhooks' deliveries. */
const operationalAttempts = (spans: ReceivedSpan[]) =>
  named(spans, 'herald.attempt').filter((s) => s.attributes['herald.app_id'] === 'app_operational_webhooks');

describe('what Herald sends of its own accord, traced', () => {
  it("send-example is an ingest, child of the caller's traceparent, its attempt the ingest's child", async () => {
    const endpoint = await receiver();
    const server = await herald([], traced());
    await server.post('/event-type', { name: 'order.paid', description: 'paid' });
    const app = await server.post('/app', { name: 'shop' });
    const ep = await server.post(`/app/${app.id}/endpoint`, { url: endpoint.url });
    const sent = await call(
      server,
      'POST',
      `/app/${app.id}/endpoint/${ep.id}/send-example`,
      { eventType: 'order.paid' },
      `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`,
    );
    expect(sent.status).toBe(200);
    await endpoint.arrived(1);
    const spans = await otlp.until((s) => named(s, 'herald.attempt').length === 1);
    const ingest = named(spans, 'herald.message.create').find((s) => s.attributes['herald.example'] === true);
    expect(ingest).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: CLIENT_SPAN, kind: 2 });
    expect(ingest!.attributes).toMatchObject({ 'herald.msg_id': sent.json.id, 'herald.endpoint_id': ep.id });
    expect(named(spans, 'herald.attempt')[0]).toMatchObject({
      traceId: CLIENT_TRACE,
      parentSpanId: ingest!.spanId,
    });
    expect(endpoint.received[0]!.headers.traceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE}-`));
  });

  it('an operational event joins the trace of the request that caused it (a PATCH disabling an endpoint)', async () => {
    const ops = await receiver();
    const server = await herald([], traced());
    const op = await call(server, 'POST', '/operational-webhook/endpoint', {
      url: ops.url,
      filterTypes: ['endpoint.disabled'],
    });
    expect(op.status).toBe(201);
    const app = await server.post('/app', { name: 'shop' });
    const ep = await server.post(`/app/${app.id}/endpoint`, { url: 'http://127.0.0.1:9/never' });
    const patched = await call(
      server,
      'PATCH',
      `/app/${app.id}/endpoint/${ep.id}`,
      { disabled: true },
      LATER,
    );
    expect(patched.status).toBe(200);
    await ops.arrived(1);
    expect(JSON.parse(ops.received[0]!.body).type).toBe('endpoint.disabled');
    const spans = await otlp.until((s) => operationalAttempts(s).length === 1);
    // The event's attempt is a child of the caller's span, and says so to the receiver.
    const attempt = operationalAttempts(spans)[0]!;
    expect(attempt).toMatchObject({ traceId: LATER_TRACE, parentSpanId: LATER_SPAN });
    expect(ops.received[0]!.headers.traceparent).toBe(`00-${LATER_TRACE}-${attempt.spanId}-01`);
  });

  it('an endpoint disabled by an attempt (410): the event is a child of that attempt, in the ingest trace', async () => {
    const ops = await receiver();
    const gone = await receiver((_r, res) => res.writeHead(410).end());
    const server = await herald([], traced());
    await call(server, 'POST', '/operational-webhook/endpoint', {
      url: ops.url,
      filterTypes: ['endpoint.disabled'],
    });
    const app = await server.post('/app', { name: 'shop' });
    await server.post(`/app/${app.id}/endpoint`, { url: gone.url });
    const msg = await sendMessage(server, app.id, { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` });
    await ops.arrived(1);
    expect(JSON.parse(ops.received[0]!.body)).toMatchObject({
      type: 'endpoint.disabled',
      data: { reason: 'gone', trigger: 'automatic' },
    });
    const spans = await otlp.until((s) => operationalAttempts(s).length === 1);
    const failed = named(spans, 'herald.attempt').find((s) => s.attributes['herald.msg_id'] === msg.id)!;
    expect(failed.attributes['http.response.status_code']).toBe(410);
    expect(operationalAttempts(spans)[0]).toMatchObject({
      traceId: CLIENT_TRACE,
      parentSpanId: failed.spanId,
    });
  });

  it("a resend's attempt stays the ingest's child; the resend's own span links to the ingest", async () => {
    const endpoint = await receiver();
    const server = await herald([], traced());
    const app = await server.post('/app', { name: 'shop' });
    const ep = await server.post(`/app/${app.id}/endpoint`, { url: endpoint.url });
    const msg = await sendMessage(server, app.id, { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` });
    await recorded(server, app.id, msg.id);
    const resent = await call(
      server,
      'POST',
      `/app/${app.id}/msg/${msg.id}/endpoint/${ep.id}/resend`,
      {},
      LATER,
    );
    expect(resent.status).toBe(202);
    await endpoint.arrived(2);
    const spans = await otlp.until(
      (s) => named(s, 'herald.attempt').length === 2 && named(s, 'herald.message.resend').length === 1,
    );
    const ingest = named(spans, 'herald.message.create')[0]!;
    const resend = named(spans, 'herald.message.resend')[0]!;
    expect(resend).toMatchObject({ traceId: LATER_TRACE, parentSpanId: LATER_SPAN, kind: 2 });
    expect(resend.attributes).toMatchObject({ 'herald.msg_id': msg.id, 'herald.endpoint_id': ep.id });
    expect(resend.links).toEqual([{ traceId: CLIENT_TRACE, spanId: ingest.spanId }]);
    const manual = named(spans, 'herald.attempt').find((s) => s.attributes['herald.trigger'] === 'manual');
    expect(manual).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: ingest.spanId });
  });

  it("a bulk replay runs in a task span, child of its request; its attempts stay the ingest's; background_task.finished is the task's child", async () => {
    const endpoint = await receiver();
    const ops = await receiver();
    const server = await herald([], traced());
    await call(server, 'POST', '/operational-webhook/endpoint', {
      url: ops.url,
      filterTypes: ['background_task.finished'],
    });
    const app = await server.post('/app', { name: 'shop' });
    const ep = await server.post(`/app/${app.id}/endpoint`, { url: endpoint.url });
    const msg = await sendMessage(server, app.id, { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` });
    await recorded(server, app.id, msg.id);
    const task = await call(
      server,
      'POST',
      `/app/${app.id}/endpoint/${ep.id}/bulk-replay`,
      { since: new Date(Date.now() - 3_600_000).toISOString() },
      LATER,
    );
    expect(task.status).toBe(202);
    expect(task.json).not.toHaveProperty('params');
    await endpoint.arrived(2);
    await ops.arrived(1);
    const spans = await otlp.until(
      (s) =>
        named(s, 'herald.task').length === 1 &&
        operationalAttempts(s).length === 1 &&
        named(s, 'herald.attempt').length === 3,
    );
    const run = named(spans, 'herald.task')[0]!;
    expect(run).toMatchObject({ traceId: LATER_TRACE, parentSpanId: LATER_SPAN });
    expect(run.attributes).toMatchObject({
      'herald.task_id': task.json.id,
      'herald.task_kind': 'endpoint.bulk-replay',
      'herald.task_run_end': 'finished',
    });
    expect(operationalAttempts(spans)[0]).toMatchObject({ traceId: LATER_TRACE, parentSpanId: run.spanId });
    const ingest = named(spans, 'herald.message.create')[0]!;
    const replayed = named(spans, 'herald.attempt').find(
      (s) => s.attributes['herald.trigger'] === 'manual' && s.attributes['herald.app_id'] === app.id,
    );
    expect(replayed).toMatchObject({ traceId: CLIENT_TRACE, parentSpanId: ingest.spanId });
    // The context is kept in the task's params, which the API does not show.
    const shown = await fetch(`${server.url}/api/v1/background-task/${task.json.id}`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(JSON.stringify(await shown.json())).not.toContain(LATER_TRACE);
  });
});
