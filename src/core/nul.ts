/**
 * NUL characters (U+0000) in text. PostgreSQL's text type cannot hold one (error 22021), and
 * no name, description, secret or id has a use for it, so the API refuses it wherever text is
 * stored as text, on every backend alike. JSON documents stored as JSON text (a message's
 * payload, an event type's schemas) keep it, escaped as `\u0000`.
 */

/** Top-level body fields whose value is a JSON document stored as its text. */
const DOCUMENT_FIELDS: ReadonlySet<string> = new Set(['payload', 'schemas']);

/**
 * The path (`['application', 'name']`) of the first string holding U+0000 in a parsed request
 * body, outside its JSON documents; `null` if none. The body's depth is bounded before this
 * runs (src/core/json-depth.ts), so the recursion is too.
 */
export function findNul(body: unknown): string[] | null {
  const walk = (value: unknown, path: string[]): string[] | null => {
    if (typeof value === 'string') return value.includes('\0') ? path : null;
    if (value === null || typeof value !== 'object') return null;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const found = walk(value[i], [...path, String(i)]);
        if (found) return found;
      }
      return null;
    }
    for (const [key, field] of Object.entries(value)) {
      if (path.length === 0 && DOCUMENT_FIELDS.has(key)) continue;
      if (key.includes('\0')) return [...path, key];
      const found = walk(field, [...path, key]);
      if (found) return found;
    }
    return null;
  };
  return walk(body, []);
}
