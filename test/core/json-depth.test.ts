import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findTooDeep, JSON_DEPTH_LIMIT, jsonDepth } from '../../src/core/json-depth.js';

/** The reference: depth by recursion over the parsed value. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depthOf(child)), 0);
}

/** The reference for the field: the first top-level key (in text order) whose value is too deep. */
function tooDeepField(value: unknown, limit: number): string | null | undefined {
  if (depthOf(value) <= limit) return undefined;
  // Past a limit of 0 at the top-level bracket itself, before any field.
  if (limit === 0 || value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const [key] = Object.entries(value).find(([, child]) => 1 + depthOf(child) > limit)!;
  return JSON.stringify(key).slice(1, -1);
}

/** `value` inside `levels` arrays and objects, from the outside in. */
function wrap(value: unknown, levels: ('array' | string)[]): unknown {
  return levels.reduceRight<unknown>(
    (inner, level) => (level === 'array' ? [inner] : { [level]: inner }),
    value,
  );
}

/** Strings that look like JSON structure, so a scan that looks inside strings miscounts. */
const tricky = fc.stringMatching(/^[[\]{}"\\:,é\u2028\u{1f600}a]{0,12}$/u);
const leaf = fc.oneof(fc.jsonValue({ maxDepth: 3 }), tricky);
const nested = fc
  .tuple(leaf, fc.array(fc.oneof(fc.constant('array'), tricky, fc.string()), { maxLength: 150 }))
  .map(([inner, levels]) => wrap(inner, levels));
/** Random JSON values, some deep, side by side in objects and arrays. */
const anyJson = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }),
  nested,
  fc.dictionary(fc.oneof(tricky, fc.string()), fc.oneof(nested, leaf), { maxKeys: 5 }),
  fc.array(fc.oneof(nested, leaf), { maxLength: 5 }),
);
const spacing = fc.constantFrom(undefined, 1, '\t', '  \r\n');

describe('jsonDepth', () => {
  it('counts levels of arrays and objects, not brackets inside strings', () => {
    expect(jsonDepth('1')).toBe(0);
    expect(jsonDepth('"[[{"')).toBe(0);
    expect(jsonDepth('[]')).toBe(1);
    expect(jsonDepth('{"a":[2]}')).toBe(2);
    expect(jsonDepth('[[], {"x": [[]]}, []]')).toBe(4);
    expect(jsonDepth('{"k\\"[": "\\\\", "v": ["]\\"["]}')).toBe(2);
  });

  it('takes a million levels without overflowing the stack', () => {
    const n = 1_000_000;
    expect(jsonDepth(`${'['.repeat(n)}${']'.repeat(n)}`)).toBe(n);
    expect(findTooDeep(`{"payload":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`, JSON_DEPTH_LIMIT)).toEqual({
      field: 'payload',
    });
  });

  it('gives the depth the parsed value has, on random JSON, as text and as UTF-8 bytes', () => {
    fc.assert(
      fc.property(anyJson, spacing, (value, space) => {
        const text = JSON.stringify(value, null, space);
        const expected = depthOf(value);
        expect(jsonDepth(text)).toBe(expected);
        expect(jsonDepth(Buffer.from(text))).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe('findTooDeep', () => {
  it('is null up to the limit and names the top-level field past it', () => {
    const inPayload = (n: number) => `{"eventType":"a.b","payload":${'['.repeat(n)}${']'.repeat(n)}}`;
    expect(findTooDeep(inPayload(63), JSON_DEPTH_LIMIT)).toBeNull();
    expect(findTooDeep(inPayload(64), JSON_DEPTH_LIMIT)).toEqual({ field: 'payload' });
    expect(findTooDeep(`[${inPayload(64)}]`, JSON_DEPTH_LIMIT)).toEqual({ field: null });
    expect(findTooDeep('{"ä\\n": [[[]]]}', 3)).toEqual({ field: 'ä\\n' });
    expect(findTooDeep(Buffer.from('{"ä\\n": [[[]]]}'), 3)).toEqual({ field: 'ä\\n' });
  });

  it('agrees with the reference on random JSON and limits', () => {
    fc.assert(
      fc.property(anyJson, spacing, fc.integer({ min: 0, max: 160 }), (value, space, limit) => {
        const text = JSON.stringify(value, null, space);
        const expected = tooDeepField(value, limit);
        const found = findTooDeep(text, limit);
        if (expected === undefined) expect(found).toBeNull();
        else expect(found).toEqual({ field: expected });
        expect(findTooDeep(Buffer.from(text), limit)).toEqual(found);
      }),
      { numRuns: 500 },
    );
  });

  it('gives some answer, without throwing, for text that is not JSON', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', ':', 'a') }), (text) => {
        expect(jsonDepth(text)).toBeGreaterThanOrEqual(0);
        findTooDeep(text, 2);
      }),
    );
  });
});
