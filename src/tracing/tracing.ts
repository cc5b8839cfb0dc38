/**
 * Tracing with OpenTelemetry. Herald's code speaks only `@opentelemetry/api`; the SDK and
 * the OTLP exporter (./otel.ts) are loaded by {@link startTracing}, and only when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. Until then
 * every function here returns at its first line: no span, no context object, nothing
 * stored with a message and no header sent, so a Herald that nothing traces pays one
 * boolean test per message and per attempt.
 *
 * Spans:
 * - `herald.message.create` (server): the API accepting one message, a child of the caller's
 *   `traceparent` if it sent one. Its context is stored with the message.
 *   The example of `send-example` and an inbound request replayed are ingests too.
 * - `herald.attempt` (client): one HTTP attempt of one delivery, a child of the stored
 *   context, so that a retry hours later, in another worker, is still in the ingest's trace.
 *   Its context goes to the endpoint as `traceparent` unless `--no-trace-propagation`.
 * - `herald.message.resend` (server): a manual resend, a child of the caller's `traceparent`
 *   with a link to the message's ingest (whose child the resent attempt is).
 * - `herald.task` (internal): one run of a background task (recover, replay-missing,
 *   bulk-replay, ...), a child of the request that started it (its context is kept in the
 *   task's params, so a runner that takes the task over continues that trace).
 *
 * Operational events store a context too (src/store/cause.ts): an attempt's, for the events
 * its outcome causes, and otherwise the cause of the write that emits them (the caller's
 * `traceparent`, or the task's span).
 *
 * Each thread that makes spans starts tracing for itself (the dispatcher's thread under
 * `--role all` does, in thread-entry.ts): the API's globals are per thread.
 */
import {
  type Attributes,
  type Context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';

/** The variables that turn tracing on: where the OTLP exporter sends spans. */
export const OTLP_ENDPOINT_VARIABLES = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];

/** The tracer once {@link startTracing} set one up; `null`: tracing is off. */
let tracer: Tracer | null = null;

/** True when `env` names an OTLP endpoint and does not disable the SDK (`OTEL_SDK_DISABLED`). */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return OTLP_ENDPOINT_VARIABLES.some((name) => Boolean(env[name]?.trim()));
}

/** Tracing as started: where spans go, and the function that flushes and stops it. */
export interface TracingHandle {
  /** The OTLP URL spans are posted to. */
  url: string;
  /** Exports what is pending and stops making spans. */
  stop(): Promise<void>;
}

/**
 * Loads the SDK and the OTLP exporter and makes spans from then on, if `env` asks for it
 * ({@link tracingConfigured}); resolves with `null` otherwise, having loaded nothing. The
 * SDK's errors (spans that could not be exported) go to `onError`, at most one a minute.
 */
export async function startTracing(
  version: string,
  onError: (error: unknown) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TracingHandle | null> {
  if (!tracingConfigured(env)) return null;
  const { startOtel } = await import('./otel.js');
  const otel = startOtel(version, env, onError);
  tracer = trace.getTracer('herald', version);
  return {
    url: otel.url,
    async stop() {
      tracer = null;
      await otel.shutdown();
    },
  };
}

/** True while spans are made (after {@link startTracing} found an endpoint). */
export function tracing(): boolean {
  return tracer !== null;
}

/**
 * Runs `accept` (the API taking one message) in the span of its ingest, a child of the
 * request's `traceparent` if any, handing it the span's context as JSON text of the W3C
 * carrier, to store with the message (`NewMessage.traceContext`). With tracing off, runs
 * it with `null` and makes nothing.
 */
export async function traceIngest<T extends { id: string }>(
  requestHeaders: Record<string, string | string[] | undefined>,
  attributes: Attributes,
  accept: (traceContext: string | null) => Promise<T>,
): Promise<T> {
  if (tracer === null) return accept(null);
  const parent = propagation.extract(ROOT_CONTEXT, requestHeaders);
  const span = tracer.startSpan('herald.message.create', { kind: SpanKind.SERVER, attributes }, parent);
  try {
    const message = await accept(spanContext(span));
    span.setAttribute('herald.msg_id', message.id);
    return message;
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Runs `handle` (an API request that acts on what is stored already) in a server span named
 * `name`, a child of the request's `traceparent` if any, with a link to each stored context
 * of `links` (the messages it acts on). With tracing off, runs it and makes nothing.
 */
export async function traceRequest<T>(
  name: string,
  requestHeaders: Record<string, string | string[] | undefined>,
  attributes: Attributes,
  links: readonly (string | null)[],
  handle: () => Promise<T>,
): Promise<T> {
  if (tracer === null) return handle();
  const parent = propagation.extract(ROOT_CONTEXT, requestHeaders);
  const linked = links.flatMap((stored) => {
    const context = stored === null ? undefined : trace.getSpanContext(parentOf(stored));
    return context ? [{ context }] : [];
  });
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, links: linked }, parent);
  try {
    return await handle();
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * The caller's trace context (its `traceparent`) as stored JSON text, for what a request
 * causes later (an operational event, a background task); `null` with tracing off or when it
 * sent none.
 */
export function callerContext(requestHeaders: Record<string, string | string[] | undefined>): string | null {
  if (tracer === null) return null;
  return storedContext(propagation.extract(ROOT_CONTEXT, requestHeaders));
}

/** A span's context as stored JSON text (the W3C carrier), for the work it causes to be its child. */
export function spanContext(span: Span | null): string | null {
  return span === null ? null : storedContext(trace.setSpan(ROOT_CONTEXT, span));
}

function storedContext(context: Context): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context, carrier);
  return carrier.traceparent ? JSON.stringify(carrier) : null;
}

/**
 * Starts the span of one run of a background task, a child of `stored` (the context of the
 * request that started it); `null` when tracing is off.
 */
export function startTaskSpan(
  task: { id: string; kind: string; runs: number },
  stored: string | null,
): Span | null {
  if (tracer === null) return null;
  const attributes: Attributes = {
    'herald.task_id': task.id,
    'herald.task_kind': task.kind,
    'herald.task_run': task.runs,
  };
  return tracer.startSpan('herald.task', { kind: SpanKind.INTERNAL, attributes }, parentOf(stored));
}

/** Ends a task run's span with how the run ended (`failed` is an error). */
export function endTaskSpan(span: Span | null, status: string): void {
  if (span === null) return;
  span.setAttribute('herald.task_run_end', status);
  if (status === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: 'task failed' });
  span.end();
}

/** The context a stored trace context names, or a new root when there is none (or it is unreadable). */
function parentOf(stored: string | null): Context {
  if (stored === null) return ROOT_CONTEXT;
  try {
    const carrier: unknown = JSON.parse(stored);
    return typeof carrier === 'object' && carrier !== null
      ? propagation.extract(ROOT_CONTEXT, carrier as Record<string, string>)
      : ROOT_CONTEXT;
  } catch {
    // A context Herald wrote itself is JSON; anything else starts a trace of its own.
    return ROOT_CONTEXT;
  }
}

/** What an attempt's span says of its delivery (a `ClaimedDelivery`). */
export interface AttemptOf {
  id: string;
  msgId: string;
  endpointId: string;
  appId: string;
  attempts: number;
  trigger: string;
  traceContext: string | null;
}

/**
 * Starts the span of one attempt, a child of the message's stored context; `null` when
 * tracing is off. The URL's host and scheme are named, never its path or query, which can
 * hold a receiver's token.
 */
export function startAttempt(delivery: AttemptOf, url: URL): Span | null {
  if (tracer === null) return null;
  const attributes: Attributes = {
    'herald.app_id': delivery.appId,
    'herald.endpoint_id': delivery.endpointId,
    'herald.msg_id': delivery.msgId,
    'herald.delivery_id': delivery.id,
    'herald.attempt': delivery.attempts + 1,
    'herald.trigger': delivery.trigger,
    'http.request.method': 'POST',
    'server.address': url.hostname,
    'url.scheme': url.protocol.slice(0, -1),
  };
  return tracer.startSpan(
    'herald.attempt',
    { kind: SpanKind.CLIENT, attributes },
    parentOf(delivery.traceContext),
  );
}

/** The `traceparent` (and `tracestate`) headers that make the endpoint's work a child of `span`. */
export function traceHeaders(span: Span): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
  return carrier;
}

/** Ends an attempt's span with what came of it. */
export function endAttempt(
  span: Span | null,
  result: { succeeded: boolean; statusCode: number | null; errorKind: string | null },
): void {
  if (span === null) return;
  if (result.statusCode !== null) span.setAttribute('http.response.status_code', result.statusCode);
  if (!result.succeeded) {
    const type = result.errorKind ?? String(result.statusCode);
    span.setAttribute('error.type', type);
    span.setStatus({ code: SpanStatusCode.ERROR, message: type });
  }
  span.end();
}

function failSpan(span: Span, error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  span.recordException(e);
  // Herald's errors carry a stable code (not_found, conflict, ...): the better error type.
  const code: unknown = (e as Error & { code?: unknown }).code;
  span.setAttribute('error.type', typeof code === 'string' ? code : e.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}
