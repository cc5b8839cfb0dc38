/**
 * Event types from an OpenAPI 3.1 document (Svix's `POST /api/v1/event-type/import/openapi`):
 * each entry of its `webhooks` is one event type, named by its key, described by its POST
 * operation's `description` (or `summary`), with the operation's JSON request body schema as
 * schema version "1" (local `$ref`s resolved) and the media type's examples as that schema's
 * `examples`. `deprecated` and `x-svix-feature-flag` carry over. Pure: no I/O.
 */
import { ValidationError } from './errors.js';
import { findTooDeep, JSON_DEPTH_LIMIT } from './json-depth.js';
import { checkEventTypeName, checkName } from './rules.js';

/** Limits of one import. */
export const IMPORT_LIMITS = {
  /** Webhooks in one document. */
  webhooksMax: 1000,
  /** Characters of one event type's schema once its `$ref`s are resolved. */
  schemaMaxChars: 256 * 1024,
  descriptionMaxLength: 4096,
  /** Values of all schemas together once their `$ref`s are resolved. */
  resolvedValuesMax: 1_000_000,
} as const;

/** One event type read from a document (Svix's EventTypeFromOpenApi). */
export interface ImportedEventType {
  name: string;
  description: string;
  deprecated: boolean;
  featureFlag: string | null;
  schemas: Record<string, unknown> | null;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Reads a document given as JSON text (`specRaw`); Herald reads no YAML. */
export function parseSpecRaw(text: string): unknown {
  const tooDeep = findTooDeep(text, JSON_DEPTH_LIMIT);
  if (tooDeep) throw new ValidationError('specRaw', `nests deeper than ${JSON_DEPTH_LIMIT} levels`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(
      'specRaw',
      `is not JSON (${(error as Error).message}); Herald reads OpenAPI documents as JSON only, not YAML`,
    );
  }
}

/** The event types of an OpenAPI document's `webhooks`, in the document's order. */
export function eventTypesFromOpenApi(spec: unknown, field: string): ImportedEventType[] {
  if (!isObject(spec)) throw new ValidationError(field, 'must be an OpenAPI document (a JSON object)');
  if (typeof spec.openapi !== 'string' || !/^3\.1(\.|$)/.test(spec.openapi))
    throw new ValidationError(
      `${field}.openapi`,
      'must be "3.1.x": webhooks are an OpenAPI 3.1 section (a 3.0 document has none)',
    );
  const webhooks = spec.webhooks;
  if (!isObject(webhooks) || Object.keys(webhooks).length === 0)
    throw new ValidationError(`${field}.webhooks`, 'names no webhooks: each of its entries is an event type');
  const names = Object.keys(webhooks);
  if (names.length > IMPORT_LIMITS.webhooksMax)
    throw new ValidationError(
      `${field}.webhooks`,
      `has ${names.length} entries; at most ${IMPORT_LIMITS.webhooksMax}`,
    );
  const resolver = new RefResolver(spec, field);
  return names.map((name) => {
    const where = `${field}.webhooks.${name}`;
    checkEventTypeName(where, name);
    const item = webhooks[name];
    const operation = isObject(item) ? item.post : undefined;
    if (!isObject(operation))
      throw new ValidationError(where, 'must have a post operation (the webhook sent)');
    const text = operation.description ?? operation.summary ?? '';
    if (typeof text !== 'string') throw new ValidationError(`${where}.post.description`, 'must be a string');
    if (text.length > IMPORT_LIMITS.descriptionMaxLength)
      throw new ValidationError(
        `${where}.post.description`,
        `must be at most ${IMPORT_LIMITS.descriptionMaxLength} characters`,
      );
    const flag = operation['x-svix-feature-flag'] ?? null;
    if (flag !== null) {
      if (typeof flag !== 'string')
        throw new ValidationError(`${where}.post.x-svix-feature-flag`, 'must be a string');
      checkName(`${where}.post.x-svix-feature-flag`, flag);
    }
    return {
      name,
      description: text,
      deprecated: operation.deprecated === true,
      featureFlag: flag,
      schemas: bodySchema(operation, `${where}.post`, resolver),
    };
  });
}

/** Version "1" of an operation's JSON request body schema, with its examples; `null` without one. */
function bodySchema(operation: Json, where: string, resolver: RefResolver): Record<string, unknown> | null {
  const body = resolver.resolve(operation.requestBody, `${where}.requestBody`);
  if (body === undefined) return null;
  if (!isObject(body)) throw new ValidationError(`${where}.requestBody`, 'must be an object');
  const content = body.content;
  const media = isObject(content) ? content['application/json'] : undefined;
  if (!isObject(media) || media.schema === undefined) return null;
  const schema = resolver.resolve(media.schema, `${where}.requestBody.content.application/json.schema`);
  if (!isObject(schema))
    throw new ValidationError(
      `${where}.requestBody.content.application/json.schema`,
      'must be a JSON Schema object',
    );
  const examples = mediaExamples(media, `${where}.requestBody.content.application/json`);
  const out = examples.length > 0 && schema.examples === undefined ? { ...schema, examples } : schema;
  if (out.examples !== undefined) {
    if (!Array.isArray(out.examples) || !out.examples.every(isObject))
      throw new ValidationError(
        `${where}.requestBody`,
        'examples must be JSON objects: send-example sends the first as a message payload',
      );
  }
  const text = JSON.stringify(out);
  if (text.length > IMPORT_LIMITS.schemaMaxChars)
    throw new ValidationError(
      `${where}.requestBody`,
      `schema is ${text.length} characters with its $refs resolved; at most ${IMPORT_LIMITS.schemaMaxChars}`,
    );
  if (findTooDeep(text, JSON_DEPTH_LIMIT))
    throw new ValidationError(
      `${where}.requestBody`,
      `schema nests deeper than ${JSON_DEPTH_LIMIT} levels with its $refs resolved`,
    );
  return { '1': out };
}

/** The values of a media type's `example` or `examples` (`{name: {value}}`). */
function mediaExamples(media: Json, where: string): unknown[] {
  if (media.example !== undefined) return [media.example];
  if (media.examples === undefined) return [];
  if (!isObject(media.examples)) throw new ValidationError(`${where}.examples`, 'must be a map of examples');
  return Object.values(media.examples)
    .map((e) => (isObject(e) ? e.value : undefined))
    .filter((v) => v !== undefined);
}

/** Resolves local `$ref`s (`#/components/...`) into copies; a cycle or a missing target is a 422. */
class RefResolver {
  constructor(
    private readonly spec: Json,
    private readonly field: string,
  ) {}

  /** Values copied so far: `$ref`s that fan out can inline exponentially many (a "billion laughs"). */
  private copied = 0;

  resolve(value: unknown, where: string, seen: readonly string[] = []): unknown {
    if (++this.copied > IMPORT_LIMITS.resolvedValuesMax)
      throw new ValidationError(
        this.field,
        `its schemas hold more than ${IMPORT_LIMITS.resolvedValuesMax} values with their $refs resolved`,
      );
    if (Array.isArray(value)) return value.map((v, i) => this.resolve(v, `${where}.${i}`, seen));
    if (!isObject(value)) return value;
    if (typeof value.$ref === 'string') {
      const ref = value.$ref;
      if (seen.includes(ref))
        throw new ValidationError(
          where,
          `$ref ${ref} refers to itself; a recursive schema cannot be inlined`,
        );
      if (seen.length >= JSON_DEPTH_LIMIT)
        throw new ValidationError(where, `$refs nest deeper than ${JSON_DEPTH_LIMIT}`);
      return this.resolve(this.target(ref, where), where, [...seen, ref]);
    }
    const out: Json = {};
    for (const [key, v] of Object.entries(value)) out[key] = this.resolve(v, `${where}.${key}`, seen);
    return out;
  }

  private target(ref: string, where: string): unknown {
    if (!ref.startsWith('#/'))
      throw new ValidationError(
        where,
        `$ref ${ref} is not local to the document (#/…); Herald fetches nothing`,
      );
    let node: unknown = this.spec;
    for (const raw of ref.slice(2).split('/')) {
      const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
      node = isObject(node) && Object.hasOwn(node, key) ? node[key] : undefined;
      if (node === undefined) throw new ValidationError(where, `$ref ${ref} names nothing in ${this.field}`);
    }
    return node;
  }
}
