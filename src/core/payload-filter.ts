/**
 * Payload filters: an endpoint's `filter`, a JSON document in the MongoDB query style
 * (`{"payload.amount": {"$gt": 1000}, "eventType": {"$regex": "^order\\."}}`) over what a
 * message carries: `payload`, `eventType`, `channels` and `tags`. The matching is sift's; this
 * module decides what sift may see. {@link checkFilter} walks a filter before it is stored and
 * refuses anything outside {@link FILTER_OPERATORS} (`$where`, `$expr`, `$function` run code;
 * an operator Herald does not list is refused rather than ignored), a path outside
 * {@link FILTER_FIELDS}, and a `$regex` that is long or can backtrack without end.
 */
import { createRequire } from 'node:module';
import { ValidationError } from './errors.js';

/** The operators a filter may use; sift is given these and no others. */
export const FILTER_OPERATORS = [
  '$eq',
  '$ne',
  '$in',
  '$nin',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$exists',
  '$regex',
  '$options',
  '$and',
  '$or',
  '$not',
] as const;

// sift is a UMD bundle: Node's ESM loader finds no named exports in it, so it is required.
const sift: typeof import('sift') = createRequire(import.meta.url)('sift');
const OPERATIONS = Object.fromEntries(FILTER_OPERATORS.map((op) => [op, sift[op]]));

/** The first segment of every path: what a filter can look at. */
export const FILTER_FIELDS = ['payload', 'eventType', 'channels', 'tags'] as const;

/** Bounds of a filter. */
export const FILTER_LIMITS = {
  /** The filter as JSON text, in characters. */
  maxLength: 16_384,
  /** Nesting of objects and arrays in the filter. */
  maxDepth: 16,
  /** A `$regex` pattern, in characters. */
  regexMaxLength: 256,
  /** Items of one `$in`, `$nin`, `$and` or `$or`. */
  maxListItems: 256,
};

/**
 * What a filter is evaluated against. A message without channels or tags has none here (not
 * `null`), so that `{"tags": {"$exists": false}}` matches it.
 */
export interface FilterSubject {
  /** The parsed payload. */
  payload: unknown;
  eventType: string;
  channels?: readonly string[];
  tags?: readonly string[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Why a regular expression may backtrack without end, or `null`: a backreference, or a group
 * under an unbounded quantifier (`*`, `+`, `{n,}`) that holds a quantifier or an alternation
 * itself (`(a+)+`, `(a|a)*`), the shapes behind catastrophic backtracking. Conservative: it
 * refuses some patterns that are in fact safe (`(ab|cd)+`).
 */
export function regexProblem(source: string): string | null {
  if (/\\[1-9]|\\k</.test(source)) return 'backreferences are not allowed';
  // The open groups: whether each holds a quantifier or an alternation.
  const open: { risky: boolean }[] = [];
  let closed: { risky: boolean } | null = null;
  let afterQuantifier = false;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i] as string;
    if (c === '\\') {
      i++;
      closed = null;
      afterQuantifier = false;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    const braces = c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i)) : null;
    if (c === '*' || c === '+' || c === '?' || braces) {
      // `?` right after a quantifier makes it lazy; it is not one of its own.
      if (c === '?' && afterQuantifier) continue;
      const unbounded = c === '*' || c === '+' || (braces !== null && braces[2] !== undefined && !braces[3]);
      if (unbounded && closed?.risky)
        return 'a group under *, + or {n,} must not hold a quantifier or | (it can backtrack without end)';
      for (const g of open) g.risky = true;
      if (braces) i += braces[0].length - 1;
      closed = null;
      afterQuantifier = true;
      continue;
    }
    afterQuantifier = false;
    closed = null;
    if (c === '[') inClass = true;
    else if (c === '(') open.push({ risky: false });
    else if (c === ')') closed = open.pop() ?? null;
    else if (c === '|') for (const g of open) g.risky = true;
  }
  return null;
}

function checkLiteral(value: unknown, path: string, depth: number): void {
  if (depth > FILTER_LIMITS.maxDepth)
    throw new ValidationError(path, `nests deeper than ${FILTER_LIMITS.maxDepth} levels`);
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      checkLiteral(v, `${path}[${i}]`, depth + 1);
    });
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k.startsWith('$'))
        throw new ValidationError(`${path}.${k}`, 'an operator is not allowed inside a value');
      checkLiteral(v, `${path}.${k}`, depth + 1);
    }
  }
}

function checkList(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new ValidationError(path, 'must be an array');
  if (value.length > FILTER_LIMITS.maxListItems)
    throw new ValidationError(path, `must have at most ${FILTER_LIMITS.maxListItems} items`);
  return value;
}

/** Checks an operator expression (`{"$gt": 5, "$lt": 10}`) at `path`. */
function checkOperators(expr: Record<string, unknown>, path: string, depth: number): void {
  for (const [op, value] of Object.entries(expr)) {
    const at = `${path}.${op}`;
    switch (op) {
      case '$eq':
      case '$ne':
        checkLiteral(value, at, depth + 1);
        break;
      case '$in':
      case '$nin':
        checkList(value, at).forEach((v, i) => {
          checkLiteral(v, `${at}[${i}]`, depth + 2);
        });
        break;
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte':
        if (typeof value !== 'number' && typeof value !== 'string')
          throw new ValidationError(at, 'must be a number or a string');
        break;
      case '$exists':
        if (typeof value !== 'boolean') throw new ValidationError(at, 'must be true or false');
        break;
      case '$regex': {
        if (typeof value !== 'string') throw new ValidationError(at, 'must be a string');
        if (value.length > FILTER_LIMITS.regexMaxLength)
          throw new ValidationError(at, `must be at most ${FILTER_LIMITS.regexMaxLength} characters`);
        const problem = regexProblem(value);
        if (problem) throw new ValidationError(at, problem);
        const flags = typeof expr.$options === 'string' ? expr.$options : '';
        try {
          new RegExp(value, flags);
        } catch (error) {
          throw new ValidationError(at, `is not a valid regular expression: ${(error as Error).message}`);
        }
        break;
      }
      case '$options':
        if (typeof value !== 'string' || !/^[imsu]*$/.test(value))
          throw new ValidationError(at, 'must be a string of the flags i, m, s, u');
        if (!('$regex' in expr)) throw new ValidationError(at, 'is allowed only beside $regex');
        break;
      case '$not':
        if (!isPlainObject(value) || !Object.keys(value).every((k) => k.startsWith('$')))
          throw new ValidationError(at, 'must be an operator expression such as {"$eq": 1}');
        checkOperators(value, at, depth + 1);
        break;
      default:
        throw new ValidationError(
          at,
          `operator ${op} is not allowed (allowed: ${FILTER_OPERATORS.filter((o) => o !== '$and' && o !== '$or').join(', ')})`,
        );
    }
  }
}

/** Checks a query object (the filter itself, or an item of `$and`/`$or`) at `path`. */
function checkQuery(query: unknown, path: string, depth: number): void {
  if (depth > FILTER_LIMITS.maxDepth)
    throw new ValidationError(path, `nests deeper than ${FILTER_LIMITS.maxDepth} levels`);
  if (!isPlainObject(query)) throw new ValidationError(path, 'must be an object');
  for (const [key, value] of Object.entries(query)) {
    const at = `${path}.${key}`;
    if (key === '$and' || key === '$or') {
      const items = checkList(value, at);
      if (items.length === 0) throw new ValidationError(at, 'must not be empty');
      items.forEach((q, i) => {
        checkQuery(q, `${at}[${i}]`, depth + 2);
      });
      continue;
    }
    if (key.startsWith('$'))
      throw new ValidationError(
        at,
        `operator ${key} is not allowed here (only $and and $or combine queries)`,
      );
    const root = key.split('.')[0] as string;
    if (!(FILTER_FIELDS as readonly string[]).includes(root))
      throw new ValidationError(at, `a path must start with one of ${FILTER_FIELDS.join(', ')}`);
    if (key.split('.').some((s) => s === ''))
      throw new ValidationError(at, 'a path must not have empty segments');
    const keys = isPlainObject(value) ? Object.keys(value) : [];
    const operators = keys.filter((k) => k.startsWith('$'));
    if (operators.length > 0 && operators.length < keys.length)
      throw new ValidationError(at, 'mixes operators and fields; use either {"$op": …} or a value');
    if (operators.length > 0) checkOperators(value as Record<string, unknown>, at, depth + 1);
    else checkLiteral(value, at, depth + 1);
  }
}

/**
 * A filter as given, checked: returned unchanged if sift may run it, or a `ValidationError`
 * naming the operator or path at fault (`filter.payload.x.$where`). `null` means no filter.
 */
export function checkFilter(field: string, filter: unknown): Record<string, unknown> | null {
  if (filter === null) return null;
  if (!isPlainObject(filter)) throw new ValidationError(field, 'must be an object or null');
  if (JSON.stringify(filter).length > FILTER_LIMITS.maxLength)
    throw new ValidationError(field, `must be at most ${FILTER_LIMITS.maxLength} characters as JSON`);
  checkQuery(filter, field, 0);
  return filter as { [key: string]: Json };
}

type Tester = (subject: FilterSubject) => boolean;

// Stored filters by their JSON text, so that every read of an endpoint row yields the same
// object and the compiled form below is found again. Without it each commit batch (which
// reads its endpoints afresh) compiled every filter again: 2.8 ms per message for 50
// endpoints when each message was its own batch, against 0.09 ms compiled once (measured,
// bench/transform-filter.ts).
const interned = new Map<string, Record<string, unknown>>();
const INTERNED_MAX = 10_000;

/** A stored filter from its JSON text, the same object for the same text. Do not mutate it. */
export function storedFilter(text: string): Record<string, unknown> {
  let filter = interned.get(text);
  if (!filter) {
    if (interned.size >= INTERNED_MAX) interned.clear();
    filter = JSON.parse(text) as Record<string, unknown>;
    interned.set(text, filter);
  }
  return filter;
}

// Compiled filters by the filter object: the endpoints of one fan-out batch are read once, so
// each filter compiles once per batch however many messages the batch holds.
const compiled = new WeakMap<object, Tester>();

/** The compiled form of a checked filter. */
export function compileFilter(filter: Record<string, unknown>): Tester {
  let test = compiled.get(filter);
  if (!test) {
    // A stored filter passed checkFilter; the operations sift gets are the allowed ones only,
    // so a row edited by hand still cannot name $where.
    const tester = sift.createQueryTester(filter, { operations: OPERATIONS });
    test = (subject) => tester(subject);
    compiled.set(filter, test);
  }
  return test;
}

/** Whether a message matches a filter (`null`: every message does). */
export function filterMatches(filter: Record<string, unknown> | null, subject: () => FilterSubject): boolean {
  if (filter === null) return true;
  return compileFilter(filter)(subject());
}
