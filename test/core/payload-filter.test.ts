/**
 * Payload filters (core/payload-filter.ts): sift, restricted to the listed operators, agrees
 * with a small reference evaluation of the MongoDB semantics on random messages and filters
 * (fast-check); every generated filter passes the check, and one naming any other operator
 * anywhere is refused with the path of that operator; the regex guard refuses the shapes
 * that backtrack without end.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { recipients } from '../../src/core/filter.js';
import {
  checkFilter,
  compileFilter,
  type FilterSubject,
  regexProblem,
} from '../../src/core/payload-filter.js';

type Scalar = number | string | boolean;
type Value = Scalar | Scalar[] | undefined;

const scalar: fc.Arbitrary<Scalar> = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom('a', 'b', 'order', 'Order.paid', ''),
  fc.boolean(),
);
const value: fc.Arbitrary<Value> = fc.oneof(
  { weight: 3, arbitrary: scalar },
  { weight: 2, arbitrary: fc.array(scalar, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const PATHS = ['payload.a', 'payload.b', 'payload.c.d', 'eventType', 'tags'] as const;
type Path = (typeof PATHS)[number];

const subject: fc.Arbitrary<FilterSubject> = fc
  .record({
    a: value,
    b: value,
    d: value,
    eventType: fc.constantFrom('order.paid', 'order.refunded', 'user.created'),
    tags: fc.option(fc.array(fc.constantFrom('eu', 'us', 'vip'), { maxLength: 2 }), { nil: null }),
  })
  .map(({ a, b, d, eventType, tags }) => {
    const payload: Record<string, unknown> = {};
    if (a !== undefined) payload.a = a;
    if (b !== undefined) payload.b = b;
    if (d !== undefined) payload.c = { d };
    const s: FilterSubject = { payload, eventType };
    if (tags !== null) s.tags = tags;
    return s;
  });

/** An operator expression and its reference meaning over a field's value. */
type Expr = { json: Record<string, unknown>; test: (v: unknown) => boolean };

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);
const eq = (v: unknown, x: Scalar) => v !== undefined && list(v).some((e) => e === x);
const cmp = (v: unknown, x: number | string, f: (a: number | string, b: number | string) => boolean) =>
  v !== undefined && list(v).some((e) => typeof e === typeof x && f(e as number | string, x));

const comparable: fc.Arbitrary<number | string> = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom('a', 'b', 'order'),
);
const basic: fc.Arbitrary<Expr> = fc.oneof(
  scalar.map((x) => ({ json: { $eq: x }, test: (v: unknown) => eq(v, x) })),
  scalar.map((x) => ({ json: { $ne: x }, test: (v: unknown) => !eq(v, x) })),
  fc.array(scalar, { minLength: 1, maxLength: 3 }).map((xs) => ({
    json: { $in: xs },
    test: (v: unknown) => xs.some((x) => eq(v, x)),
  })),
  fc.array(scalar, { minLength: 1, maxLength: 3 }).map((xs) => ({
    json: { $nin: xs },
    test: (v: unknown) => !xs.some((x) => eq(v, x)),
  })),
  comparable.map((x) => ({ json: { $gt: x }, test: (v: unknown) => cmp(v, x, (a, b) => a > b) })),
  comparable.map((x) => ({ json: { $gte: x }, test: (v: unknown) => cmp(v, x, (a, b) => a >= b) })),
  comparable.map((x) => ({ json: { $lt: x }, test: (v: unknown) => cmp(v, x, (a, b) => a < b) })),
  comparable.map((x) => ({ json: { $lte: x }, test: (v: unknown) => cmp(v, x, (a, b) => a <= b) })),
  fc.boolean().map((x) => ({ json: { $exists: x }, test: (v: unknown) => (v !== undefined) === x })),
  fc.constantFrom('^o', 'a$', 'paid', '^$').map((re) => ({
    json: { $regex: re },
    test: (v: unknown) =>
      v !== undefined && list(v).some((e) => typeof e === 'string' && new RegExp(re).test(e)),
  })),
);
const expr: fc.Arbitrary<Expr> = fc.oneof(
  { weight: 4, arbitrary: basic },
  { weight: 1, arbitrary: basic.map((e) => ({ json: { $not: e.json }, test: (v: unknown) => !e.test(v) })) },
);

/** A query and its reference meaning over a subject. */
type Query = { json: Record<string, unknown>; test: (s: FilterSubject) => boolean };

const read = (s: FilterSubject, path: Path): unknown => {
  const p = s.payload as { a?: unknown; b?: unknown; c?: { d?: unknown } };
  if (path === 'payload.a') return p.a;
  if (path === 'payload.b') return p.b;
  if (path === 'payload.c.d') return p.c?.d;
  if (path === 'eventType') return s.eventType;
  return s.tags ?? undefined;
};

const field: fc.Arbitrary<Query> = fc
  .tuple(fc.constantFrom(...PATHS), expr)
  .map(([path, e]) => ({ json: { [path]: e.json }, test: (s) => e.test(read(s, path)) }));

const query: fc.Arbitrary<Query> = fc.letrec<{ q: Query }>((tie) => ({
  q: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 4, arbitrary: field },
    {
      weight: 1,
      arbitrary: fc.array(tie('q'), { minLength: 1, maxLength: 3 }).map((qs) => ({
        json: { $and: qs.map((q) => q.json) },
        test: (s: FilterSubject) => qs.every((q) => q.test(s)),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.array(tie('q'), { minLength: 1, maxLength: 3 }).map((qs) => ({
        json: { $or: qs.map((q) => q.json) },
        test: (s: FilterSubject) => qs.some((q) => q.test(s)),
      })),
    },
  ),
})).q;

describe('payload filters', () => {
  it('match as the reference evaluation does, on random messages and filters', () => {
    fc.assert(
      fc.property(query, subject, (q, s) => {
        const checked = checkFilter('filter', q.json);
        expect(checked).toBe(q.json);
        expect(compileFilter(q.json)(s)).toBe(q.test(s));
      }),
      { numRuns: 2_000 },
    );
  });

  it('choose recipients by their filter: an endpoint without one gets every message it subscribes to', () => {
    fc.assert(
      fc.property(fc.array(fc.option(query, { nil: null }), { maxLength: 5 }), subject, (filters, s) => {
        const endpoints = filters.map((f, i) => ({
          id: `ep_${i}`,
          disabled: false,
          filterTypes: null,
          channels: null,
          filter: f?.json ?? null,
        }));
        const message = {
          eventType: s.eventType,
          channels: null,
          tags: s.tags ?? null,
          payload: JSON.stringify(s.payload),
        };
        const chosen = recipients(endpoints, message).map((e) => e.id);
        expect(chosen).toEqual(filters.flatMap((f, i) => (f === null || f.test(s) ? [`ep_${i}`] : [])));
      }),
      { numRuns: 500 },
    );
  });

  it('refuse an unlisted operator wherever it is, naming its path', () => {
    const bad = fc.constantFrom(
      '$where',
      '$expr',
      '$function',
      '$accumulator',
      '$size',
      '$type',
      '$mod',
      '$x',
    );
    fc.assert(
      fc.property(query, bad, fc.nat(), (q, op, at) => {
        // Put the operator in place of one field expression, or at the top.
        const json = structuredClone(q.json);
        const spots: { holder: Record<string, unknown>; path: string }[] = [{ holder: json, path: 'filter' }];
        const walk = (node: Record<string, unknown>, path: string) => {
          for (const [k, v] of Object.entries(node)) {
            if (k === '$and' || k === '$or')
              (v as Record<string, unknown>[]).forEach((child, i) => {
                spots.push({ holder: child, path: `${path}.${k}[${i}]` });
                walk(child, `${path}.${k}[${i}]`);
              });
            else if (!k.startsWith('$'))
              spots.push({ holder: v as Record<string, unknown>, path: `${path}.${k}` });
          }
        };
        walk(json, 'filter');
        const spot = spots[at % spots.length]!;
        spot.holder[op] = 'x';
        let error: unknown;
        try {
          checkFilter('filter', json);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).field).toBe(`${spot.path}.${op}`);
      }),
      { numRuns: 500 },
    );
  });

  it('refuse regexes that backtrack without end, and keep the common ones', () => {
    for (const re of ['(a+)+$', '(a*)*b', '^(a|a)*$', '(x+x+)+y', '(.*a){2,}', '(a)\\1', '(?<n>a)\\k<n>'])
      expect(regexProblem(re), re).not.toBeNull();
    for (const re of ['^order\\.', 'paid$', '^[a-z]+\\.[a-z]+$', '(ab)+', 'a+b*c?', '\\d{3}-\\d{4}', '[(]+'])
      expect(regexProblem(re), re).toBeNull();
  });
});
