/**
 * What an attempt's stored context costs with tracing on: `spanContext`, the W3C carrier of
 * the attempt's span as JSON text, made for every attempt so that the operational events its
 * outcome causes are its children (`Completion.traceContext`). Times it over 200,000 spans in
 * three rounds, with the SDK registered (no export: the sampler is `always_off`, which
 * changes nothing in what the context is made of).
 *
 *   npx tsx bench/span-context.ts
 */
import { spanContext, startAttempt, startTracing } from '../src/tracing/tracing.js';

const SPANS = 200_000;
const handle = await startTracing('bench', () => undefined, {
  OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
  OTEL_TRACES_SAMPLER: 'always_off',
});
const delivery = {
  id: 'dlv_1',
  msgId: 'msg_1',
  endpointId: 'ep_1',
  appId: 'app_1',
  attempts: 0,
  trigger: 'scheduled',
  traceContext: '{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}',
};
const url = new URL('http://127.0.0.1:9/hook');
const spans = Array.from({ length: SPANS }, () => startAttempt(delivery, url));
// Warm-up, so that the rounds time optimised code.
for (const span of spans.slice(0, 20_000)) spanContext(span);
for (let round = 1; round <= 3; round++) {
  const started = process.hrtime.bigint();
  let chars = 0;
  for (const span of spans) chars += spanContext(span)?.length ?? 0;
  const ns = Number(process.hrtime.bigint() - started) / SPANS;
  console.log(`round ${round}: ${ns.toFixed(0)} ns per spanContext (${chars} characters made)`);
}
await handle?.stop();
