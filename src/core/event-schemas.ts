/**
 * The JSON Schemas of an event type, checked where they enter: each version must be a JSON
 * Schema (by the draft it names in `$schema`, draft 7 when it names none, as the portal's
 * catalog reads them), and each of its `examples` must be valid against it, since
 * send-example sends an example as a real message that receivers validate.
 */
import Schema from 'typebox/schema';
import { ValidationError } from './errors.js';

const DEFAULT_DRAFT = 'http://json-schema.org/draft-07/schema#';

/** The first problem of `errors`, in words: where it is and what is wrong. */
function firstProblem(errors: { instancePath: string; message: string }[]): string {
  const e = errors[0]!;
  return `${e.instancePath || '(the root)'} ${e.message}`;
}

/**
 * Throws a {@link ValidationError} naming `field.<version>` (or `.examples.<i>`) when a
 * version of `schemas` is not a JSON Schema of its draft or an example does not match it.
 */
export function checkEventTypeSchemas(
  field: string,
  schemas: Record<string, unknown> | null | undefined,
): void {
  if (!schemas) return;
  const drafts = Schema.Meta as Record<string, unknown>;
  for (const [version, schema] of Object.entries(schemas)) {
    const at = `${field}.${version}`;
    const named = (schema as { $schema?: unknown }).$schema;
    const draft = typeof named === 'string' ? named : DEFAULT_DRAFT;
    const meta = drafts[draft] ?? drafts[`${draft}#`];
    if (!meta)
      throw new ValidationError(
        `${at}.$schema`,
        `names a JSON Schema draft Herald does not know; use one of ${Object.keys(drafts).join(', ')}`,
      );
    const [valid, errors] = Schema.Errors(meta as Schema.XSchema, schema);
    if (!valid) throw new ValidationError(at, `is not a JSON Schema: ${firstProblem(errors)}`);
    const { examples = [], ...rest } = schema as { examples?: unknown[] };
    // A schema TypeBox cannot compile is refused here, rather than answered with a 500.
    let validator: ReturnType<typeof Schema.Compile>;
    try {
      validator = Schema.Compile(rest as Schema.XSchema);
    } catch (cause) {
      throw new ValidationError(at, `cannot be used: ${(cause as Error).message}`, { cause });
    }
    examples.forEach((example, i) => {
      const [ok, problems] = validator.Errors(example);
      if (!ok)
        throw new ValidationError(
          `${at}.examples.${i}`,
          `does not match its schema: ${firstProblem(problems)}`,
        );
    });
  }
}
