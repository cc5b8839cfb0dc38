/**
 * The OpenTelemetry SDK as Herald sets it up: a tracer provider with Herald's resource, a
 * batch span processor and the OTLP/HTTP (protobuf) exporter, the W3C trace-context
 * propagator, all registered as the thread's globals. Loaded by `startTracing` only when an
 * OTLP endpoint is configured; nothing else imports it.
 *
 * Configured by the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (spans go to
 * `{it}/v1/traces`) or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is), `..._HEADERS`,
 * `..._TIMEOUT`, `..._COMPRESSION` (read by the exporter itself), `OTEL_SERVICE_NAME`
 * and `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`,
 * `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE` and `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`.
 */
import { diag, propagation, trace } from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

/** A positive whole number from `env[name]`, or undefined (unset or not one). */
function count(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const n = Number(env[name]);
  return env[name]?.trim() && Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The sampler `OTEL_TRACES_SAMPLER` names (default `parentbased_always_on`, as the spec says). */
export function samplerFrom(env: NodeJS.ProcessEnv): Sampler {
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? 1);
  const ratioSampler = () => new TraceIdRatioBasedSampler(Number.isFinite(ratio) ? ratio : 1);
  switch (env.OTEL_TRACES_SAMPLER?.trim().toLowerCase()) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratioSampler();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratioSampler() });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** Where the exporter posts: the traces endpoint as given, or the endpoint plus `/v1/traces`. */
function exportUrl(env: NodeJS.ProcessEnv): string {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  return `${env.OTEL_EXPORTER_OTLP_ENDPOINT!.trim().replace(/\/+$/, '')}/v1/traces`;
}

/** A failed export is told at most once a minute: a collector that is down would say so every batch. */
const ERROR_EVERY_MS = 60_000;

/**
 * Registers the SDK as this thread's tracer provider and propagator; the SDK's errors (a
 * collector that cannot be reached) go to `onError`, at most one a minute.
 */
export function startOtel(
  version: string,
  env: NodeJS.ProcessEnv,
  onError: (error: unknown) => void,
): { url: string; shutdown(): Promise<void> } {
  const url = exportUrl(env);
  let told = Number.NEGATIVE_INFINITY;
  setGlobalErrorHandler((error) => {
    const now = Date.now();
    if (now - told < ERROR_EVERY_MS) return;
    told = now;
    onError(error);
  });
  const resource = resourceFromAttributes({
    'service.name': 'herald',
    'service.version': version,
  }).merge(detectResources({ detectors: [envDetector] }));
  const queue = count(env, 'OTEL_BSP_MAX_QUEUE_SIZE');
  const batch = count(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE');
  const delay = count(env, 'OTEL_BSP_SCHEDULE_DELAY');
  const provider = new TracerProvider({
    resource,
    sampler: samplerFrom(env),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url }),
        ...(queue ? { maxQueueSize: queue } : {}),
        ...(batch ? { maxExportBatchSize: batch } : {}),
        ...(delay ? { scheduledDelayMillis: delay } : {}),
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return {
    url,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      diag.disable();
    },
  };
}
