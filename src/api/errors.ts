/**
 * The one place where errors become HTTP responses: Svix's `{code, detail}` bodies, and
 * 422 `{detail: [{loc, msg, type}]}` for validation failures.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  ConflictError,
  HeraldError,
  NotFoundError,
  ShuttingDownError,
  StoreUnavailableError,
  ValidationError,
} from '../core/errors.js';

/** The caller is not allowed to do this (bad or missing token, another application). */
export class AuthError extends HeraldError {
  override readonly code: string = 'authentication_failed';
}

/** A token that is valid but scoped to something else. */
export class ForbiddenError extends AuthError {
  override readonly code = 'forbidden';
}

/** A query parameter is wrong: 422 with `loc` `['query', name]`. */
export class QueryError extends ValidationError {}

/** The request body is over a configured limit. */
export class PayloadTooLargeError extends HeraldError {
  override readonly code = 'payload_too_large';
}

/** Too many requests of a kind in a while (listener streams per application per minute). */
export class TooManyRequestsError extends HeraldError {
  override readonly code = 'rate_limited';
}

const STATUS_BY_CLASS: [new (...args: never[]) => HeraldError, number][] = [
  [TooManyRequestsError, 429],
  [ForbiddenError, 403],
  [AuthError, 401],
  [NotFoundError, 404],
  [ConflictError, 409],
  [PayloadTooLargeError, 413],
  [StoreUnavailableError, 503],
  [ShuttingDownError, 503],
];

interface AjvIssue {
  instancePath?: string;
  schemaPath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

function locOf(context: string, issue: AjvIssue): string[] {
  const where = context === 'querystring' ? 'query' : context === 'params' ? 'path' : context;
  // A JSON Pointer: `/` and `~` inside a field name arrive escaped as `~1` and `~0`.
  const pointer = issue.instancePath ?? '';
  const path =
    pointer === ''
      ? []
      : pointer
          .slice(1)
          .split('/')
          .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  // A missing or an unknown field is reported on its object; the loc names the field itself.
  const named =
    issue.keyword === 'required'
      ? [String(issue.params?.missingProperty)]
      : issue.keyword === 'additionalProperties'
        ? [String(issue.params?.additionalProperty)]
        : [];
  return [where, ...path, ...named];
}

/** What is wrong, in words: ajv's message, or ours where ajv's names the wrong thing. */
function messageOf(issue: AjvIssue): string {
  // ajv says "must NOT have additional properties" of the object that holds the field.
  if (issue.keyword === 'additionalProperties') return 'is not a known field';
  return issue.message ?? 'is invalid';
}

/** The "must be null" of a nullable field's other branch. */
const isNullBranch = (issue: AjvIssue) =>
  issue.keyword === 'type' && issue.params?.type === 'null' && (issue.schemaPath ?? '').includes('/anyOf/');

/**
 * A nullable field (`anyOf [x, null]`) that fails is three issues in ajv: x's own ("must be
 * <= 30"), "must be null", and "must match a schema in anyOf". The first says what is wrong;
 * the other two are dropped.
 */
function withoutNullableNoise(issues: AjvIssue[]): AjvIssue[] {
  const nullable = new Set(issues.filter(isNullBranch).map((i) => i.instancePath));
  return issues.filter((i) => !isNullBranch(i) && !(i.keyword === 'anyOf' && nullable.has(i.instancePath)));
}

/** Fastify error handler: maps every error to its documented status and body. */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.validation) {
    const detail = withoutNullableNoise(error.validation as AjvIssue[]).map((issue) => {
      const loc = locOf(error.validationContext ?? 'body', issue);
      return {
        loc,
        msg: `${loc.slice(1).join('.') || loc[0]} ${messageOf(issue)}`,
        type: `value_error.${issue.keyword ?? 'invalid'}`,
      };
    });
    reply.status(422).send({ detail });
    return;
  }
  if (error instanceof ValidationError) {
    reply.status(422).send({
      detail: [
        {
          loc: [error instanceof QueryError ? 'query' : 'body', ...error.field.split('.')],
          msg: error.message,
          type: 'value_error',
        },
      ],
    });
    return;
  }
  for (const [cls, status] of STATUS_BY_CLASS) {
    if (error instanceof cls) {
      reply.status(status).send({ code: (error as HeraldError).code, detail: error.message });
      return;
    }
  }
  // Fastify's own client errors: bad JSON, body too large, wrong content type.
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    const code = error.statusCode === 413 ? 'payload_too_large' : (error.code ?? 'bad_request').toLowerCase();
    reply.status(error.statusCode).send({ code, detail: error.message });
    return;
  }
  request.log.error({ err: error }, 'request failed');
  reply.status(500).send({ code: 'internal_error', detail: 'internal server error' });
}
