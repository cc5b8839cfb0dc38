/**
 * How deeply JSON text nests arrays and objects, found by one pass over the text.
 *
 * `JSON.parse` in V8 is iterative and takes any depth, but `JSON.stringify`, ajv and
 * fast-json-stringify recurse: on Node 20 `JSON.stringify` of a 4,176-deep array throws
 * `RangeError: Maximum call stack size exceeded` (4,175 works), and with a request's frames
 * below it the bound is lower still. So the depth is measured on the text, before anything
 * recurses: a loop over code units with a counter, O(n) and no stack.
 */

/** How many levels of arrays and objects a stored JSON value (a message payload, a field of a request body) may nest. */
export const JSON_DEPTH_LIMIT = 64;

/** Where JSON text first nests deeper than a limit. */
export interface TooDeep {
  /**
   * The key, as written between its quotes (escapes kept), of the top-level object's field
   * under which the limit is passed; `null` when the top-level value is not an object.
   */
  field: string | null;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

interface Scan {
  depth: number;
  tooDeep: TooDeep | null;
}

/**
 * One pass over the text, stopping as soon as the depth passes `limit`. Brackets inside
 * strings do not count. The bytes of UTF-8 text can be scanned as they are: every byte of
 * a multi-byte character is >= 0x80, so none is mistaken for a quote or a bracket.
 */
function scan(json: string | Uint8Array, limit: number): Scan {
  const bytes = typeof json === 'string' ? null : json;
  const text = typeof json === 'string' ? json : '';
  const length = json.length;
  let depth = 0;
  let deepest = 0;
  let inString = false;
  let topIsObject = false;
  // The last string closed at depth 1, and the one a colon made the current field's key.
  let stringStart = 0;
  let lastStart = -1;
  let lastEnd = -1;
  let keyStart = -1;
  let keyEnd = -1;
  for (let i = 0; i < length; i++) {
    const c = bytes ? bytes[i]! : text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) {
        inString = false;
        if (depth === 1) {
          lastStart = stringStart;
          lastEnd = i;
        }
      }
      continue;
    }
    switch (c) {
      case QUOTE:
        inString = true;
        stringStart = i + 1;
        break;
      case OPEN_ARRAY:
      case OPEN_OBJECT:
        depth++;
        if (depth === 1) topIsObject = c === OPEN_OBJECT;
        if (depth > deepest) {
          deepest = depth;
          if (depth > limit) {
            const named = topIsObject && keyStart >= 0;
            const field = !named
              ? null
              : bytes
                ? new TextDecoder().decode(bytes.subarray(keyStart, keyEnd))
                : text.slice(keyStart, keyEnd);
            return { depth, tooDeep: { field } };
          }
        }
        break;
      case CLOSE_ARRAY:
      case CLOSE_OBJECT:
        // Text that is not JSON may close more than it opened; the parser refuses it later.
        if (depth > 0) depth--;
        break;
      case COLON:
        if (depth === 1) {
          keyStart = lastStart;
          keyEnd = lastEnd;
        }
        break;
    }
  }
  return { depth: deepest, tooDeep: null };
}

/**
 * The nesting depth of JSON text: `1` is 0, `[]` is 1, `{"a":[2]}` is 2. Text that is not
 * JSON gets some number; this does not validate.
 */
export function jsonDepth(json: string | Uint8Array): number {
  return scan(json, Number.POSITIVE_INFINITY).depth;
}

/**
 * Where JSON text (a string, or its UTF-8 bytes) nests deeper than `limit` levels, or `null`
 * if it does not. Stops at the first bracket past the limit.
 */
export function findTooDeep(json: string | Uint8Array, limit: number): TooDeep | null {
  return scan(json, limit).tooDeep;
}
