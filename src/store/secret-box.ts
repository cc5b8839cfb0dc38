/**
 * Encryption at rest of signing secrets (endpoint keys and inbound source secrets) and of
 * endpoints' custom headers, whose values are often credentials ({@link SEALED_COLUMNS}).
 *
 * With `HERALD_MAIN_KEY` set, such a column holds `hk1:<key id>:<base64url of iv | tag |
 * ciphertext>` (AES-256-GCM, the row id, and the column name for columns other than
 * `secrets`, as associated data, so a sealed value copied to another row or column does not
 * open). Without it the column holds the plain JSON, as before.
 * A store opened with a key seals the plain rows it finds; one opened without a key refuses
 * a database that holds sealed rows, rather than fail later at delivery time.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { HeraldError } from '../core/errors.js';

const PREFIX = 'hk1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Opened values kept: an endpoint takes two (secrets, headers), so 10,000 endpoints fit. */
const OPENED_CACHE_MAX = 20_000;

/** The main key is missing, malformed, or does not open what is stored. */
export class MainKeyError extends HeraldError {
  override readonly code = 'main_key';
}

/** Seals and opens the `secrets` column of one row. */
export interface SecretBox {
  /** Whether values are encrypted (a main key is set). */
  readonly encrypts: boolean;
  seal(plain: string, rowId: string): string;
  open(stored: string, rowId: string): string;
  /** Whether `stored` must be rewritten: plain text under a key, or sealed by an older key. */
  needsReseal(stored: string): boolean;
}

/** Whether a stored value is sealed (as opposed to plain JSON). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** Stores plain text; refuses sealed values, which need the main key. */
export const plainBox: SecretBox = {
  encrypts: false,
  seal: (plain) => plain,
  open(stored) {
    if (isSealed(stored)) {
      throw new MainKeyError(
        'the database holds encrypted secrets: set HERALD_MAIN_KEY to the key that sealed them',
      );
    }
    return stored;
  },
  needsReseal: () => false,
};

/**
 * Parses `HERALD_MAIN_KEY`: one or more comma-separated keys, each 32 bytes written as 64
 * hex digits or base64. The first key seals; the others only open (key rotation: put the
 * new key first, restart, and every row is sealed again under it).
 */
export function parseMainKeys(text: string): Buffer[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new MainKeyError('HERALD_MAIN_KEY: must hold one or more comma-separated keys');
  }
  return parts.map((part, i) => {
    const hex = /^[0-9a-fA-F]{64}$/.test(part);
    const key = hex ? Buffer.from(part, 'hex') : Buffer.from(part, 'base64');
    if (key.length !== 32 || (!hex && !/^[A-Za-z0-9+/_-]{43}=?$/.test(part))) {
      throw new MainKeyError(
        `HERALD_MAIN_KEY: key ${i + 1} must be 32 bytes written as 64 hex digits or base64 (herald key generate prints one)`,
      );
    }
    return key;
  });
}

/** A fresh main key, base64. */
export function generateMainKey(): string {
  return randomBytes(32).toString('base64');
}

const keyId = (key: Buffer) => createHash('sha256').update(key).digest('hex').slice(0, 8);

/** A box that seals with `keys[0]` and opens with any of `keys`. */
export function mainKeyBox(keys: readonly Buffer[]): SecretBox {
  const [current] = keys;
  if (!current) throw new MainKeyError('HERALD_MAIN_KEY: no key given');
  const byId = new Map(keys.map((k) => [keyId(k), k]));
  const currentId = keyId(current);
  // Claims look endpoints up often; opening once per stored value keeps GCM off that path.
  const opened = new Map<string, string>();

  return {
    encrypts: true,
    seal(plain, rowId) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      cipher.setAAD(Buffer.from(rowId));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const sealed = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
      return `${PREFIX}${currentId}:${sealed}`;
    },
    open(stored, rowId) {
      if (!isSealed(stored)) return stored;
      const hit = opened.get(`${rowId}\n${stored}`);
      if (hit !== undefined) return hit;
      const [id, sealed] = stored.slice(PREFIX.length).split(':');
      const key = id === undefined ? undefined : byId.get(id);
      if (!key || sealed === undefined) {
        throw new MainKeyError(
          `the secrets of ${rowId} were sealed by key ${id}, which HERALD_MAIN_KEY does not hold`,
        );
      }
      const raw = Buffer.from(sealed, 'base64url');
      let plain: string;
      try {
        // Inside the try: a truncated value fails at setAuthTag, and is the same kind of error.
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(rowId));
        decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
        plain = Buffer.concat([
          decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)),
          decipher.final(),
        ]).toString('utf8');
      } catch (cause) {
        throw new MainKeyError(`the secrets of ${rowId} do not open: altered, or moved from another row`, {
          cause,
        });
      }
      if (opened.size >= OPENED_CACHE_MAX) opened.clear();
      opened.set(`${rowId}\n${stored}`, plain);
      return plain;
    },
    needsReseal: (stored) => !stored.startsWith(`${PREFIX}${currentId}:`),
  };
}

/** The box for an optional `HERALD_MAIN_KEY` value. */
export function secretBoxFor(mainKey: string | undefined): SecretBox {
  return mainKey === undefined || mainKey === '' ? plainBox : mainKeyBox(parseMainKeys(mainKey));
}

/** Columns sealed under a main key. */
export const SEALED_COLUMNS = [
  { table: 'endpoints', column: 'secrets' },
  { table: 'sources', column: 'secrets' },
  { table: 'endpoints', column: 'headers' },
] as const;

/** A sealed column's name. */
export type SealedColumn = (typeof SEALED_COLUMNS)[number]['column'];

/**
 * The associated data a column's value is sealed with: the row id for `secrets` (as every
 * release has sealed them), `<id>.<column>` for the others.
 */
export function sealedRowId(rowId: string, column: SealedColumn): string {
  return column === 'secrets' ? rowId : `${rowId}.${column}`;
}

/** A stored value of one sealed column of one row. */
export interface SecretRow {
  id: string;
  value: string;
}

/**
 * The rows to rewrite so that every one is sealed under the current key (or, without a key,
 * none). Opens every row first, so a missing or wrong key fails here, at start-up.
 */
export function rowsToReseal(rows: readonly SecretRow[], box: SecretBox, column: SealedColumn): SecretRow[] {
  const out: SecretRow[] = [];
  for (const row of rows) {
    const aad = sealedRowId(row.id, column);
    const plain = box.open(row.value, aad);
    if (box.needsReseal(row.value)) out.push({ id: row.id, value: box.seal(plain, aad) });
  }
  return out;
}
