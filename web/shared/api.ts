/**
 * The API client of the portal and the dashboard: openapi-fetch typed by Herald's own
 * OpenAPI document (api-types.ts, generated), so a call names a real route with real
 * parameters. Every call goes through the public /api/v1 with the caller's token; errors
 * come back as {@link ApiError}, whose `fields` say which field of a 422 is wrong.
 */
import createClient from 'openapi-fetch';
import type { paths } from './api-types.ts';

type Json<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  responses: infer R;
}
  ? R extends { 200: { content: { 'application/json': infer T } } }
    ? T
    : R extends { 201: { content: { 'application/json': infer T } } }
      ? T
      : R extends { 202: { content: { 'application/json': infer T } } }
        ? T
        : never
  : never;

/** An endpoint as the API answers it. */
export type Endpoint = Json<'/api/v1/app/{app_id}/endpoint/{endpoint_id}', 'get'> & {
  /** Herald: why it was disabled automatically (`gone`: answered 410; `failing`: failed for days; `idle`: an unused `herald listen` endpoint). */
  disabledReason?: 'gone' | 'failing' | 'idle' | null;
  /** Herald: when it was disabled (ISO), automatically or not. */
  disabledAt?: string | null;
};
/** One attempt of a delivery. */
export type Attempt = Json<'/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}', 'get'>['data'][number];
/** A message. */
export type Message = Json<'/api/v1/app/{app_id}/msg/{msg_id}', 'get'>;
/** An event type of the catalog. */
export type EventType = Json<'/api/v1/event-type/{event_type_name}', 'get'>;
/** A background task (recover, replay). */
export type BackgroundTask = Json<'/api/v1/background-task/{task_id}', 'get'>;
/** An application. */
export type Application = Json<'/api/v1/app/{app_id}', 'get'>;
/** An endpoint's delivery counts. */
export type EndpointStats = Json<'/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats', 'get'>;
/** An endpoint's custom headers. */
export type EndpointHeaders = Json<'/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers', 'get'>;
/** What creating an endpoint takes. */
export type EndpointIn = NonNullable<
  paths['/api/v1/app/{app_id}/endpoint']['post']['requestBody']
>['content']['application/json'];

/** A failed call: the status, Herald's `code`, its words, and the fields a 422 names. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Field name (the last part of the issue's `loc`) to what is wrong with it. */
    readonly fields: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

interface ErrorBody {
  code?: string;
  detail?: string | { loc?: (string | number)[]; msg?: string }[];
}

/** `msg` without a leading "`name`: " or "<the dotted path of `loc`>: ", which Herald's words may carry. */
function withoutPath(msg: string, loc: (string | number)[], name: string): string {
  for (const prefix of [`${loc.slice(1).join('.')}: `, `${name.replace(/[^\w]/g, '')}: `])
    if (prefix.length > 2 && msg.startsWith(prefix)) return msg.slice(prefix.length);
  return msg;
}

/** The {@link ApiError} of an answer that was not 2xx. */
export function apiError(status: number, body: unknown): ApiError {
  const { code = 'error', detail } = (body ?? {}) as ErrorBody;
  if (Array.isArray(detail)) {
    const fields: Record<string, string> = {};
    for (const issue of detail) {
      const name = String(issue.loc?.at(-1) ?? 'body');
      // Herald's words may start with the field's name or path ("url: must use http",
      // "schemas.1.examples.0: does not match"): the form shows them beside the field.
      const msg = withoutPath(issue.msg ?? 'is not valid', issue.loc ?? [], name);
      fields[name] ??= msg.charAt(0).toUpperCase() + msg.slice(1);
    }
    const words = detail
      .map((i) => {
        const path = (i.loc ?? []).slice(1).join('.') || 'body';
        return `${path}: ${withoutPath(i.msg ?? 'is not valid', i.loc ?? [], path)}`;
      })
      .join('; ');
    return new ApiError(status, code, words, fields);
  }
  return new ApiError(status, code, typeof detail === 'string' ? detail : `the server answered ${status}`);
}

/** A client for `baseUrl` that sends `token`; `onUnauthorized` hears of every 401 (an ended token). */
export function heraldClient(baseUrl: string, token: string, onUnauthorized: () => void) {
  const client = createClient<paths>({ baseUrl });
  client.use({
    onRequest({ request }) {
      request.headers.set('authorization', `Bearer ${token}`);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401) onUnauthorized();
      return response;
    },
  });
  return client;
}

/** The client {@link heraldClient} makes. */
export type HeraldClient = ReturnType<typeof heraldClient>;

/** The data of an openapi-fetch answer, or its {@link ApiError} thrown. */
export async function ok<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<NonNullable<T>> {
  const { data, error, response } = await call;
  if (!response.ok) throw apiError(response.status, error);
  return data as NonNullable<T>;
}
