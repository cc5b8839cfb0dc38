import { randomFillSync } from 'node:crypto';

/** Id prefixes of Herald's entities. */
export const ID_PREFIX = {
  application: 'app',
  endpoint: 'ep',
  message: 'msg',
  delivery: 'dlv',
  attempt: 'atmpt',
  source: 'src',
  inbound: 'inreq',
  task: 'qtask',
} as const;

export type IdPrefix = (typeof ID_PREFIX)[keyof typeof ID_PREFIX];

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 20 bytes (6 of milliseconds, 14 random) need 27 base62 digits, as a KSUID does. */
const ENCODED_LENGTH = 27;
const RANDOM_BYTES = 14;

const pool = Buffer.allocUnsafe(RANDOM_BYTES * 256);
let poolOffset = pool.length;
let lastMs = -1;
const lastRandom = new Uint8Array(RANDOM_BYTES);

/** The random part of the next id at `ms`, in `lastRandom`. */
function nextRandom(ms: number): Uint8Array {
  if (ms === lastMs) {
    // Same millisecond: increment the previous random part so ids stay strictly ordered
    // within this process.
    for (let i = RANDOM_BYTES - 1; i >= 0; i--) {
      lastRandom[i] = (lastRandom[i]! + 1) & 0xff;
      if (lastRandom[i] !== 0) break;
    }
    return lastRandom;
  }
  if (poolOffset + RANDOM_BYTES > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  lastRandom.set(pool.subarray(poolOffset, poolOffset + RANDOM_BYTES));
  poolOffset += RANDOM_BYTES;
  lastMs = ms;
  return lastRandom;
}

const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));

/** 62³: each pass of the division below yields three digits. */
const DIVISOR = 62 ** 3;

/**
 * `<prefix>_` and the 160-bit number (48 bits of `ms`, then the 14 bytes of `random`) in 27
 * base62 digits, most significant first. Exported for tests.
 */
export function encodeId(prefix: string, ms: number, random: Uint8Array): string {
  const u32 = (i: number) =>
    random[i]! * 2 ** 24 + (random[i + 1]! << 16) + (random[i + 2]! << 8) + random[i + 3]!;
  // Five 32-bit limbs, most significant first. Each step of the long division keeps
  // remainder * 2^32 + limb below 62^3 * 2^32 < 2^53, so doubles stay exact.
  const limbs = [
    Math.floor(ms / 2 ** 16),
    (ms % 2 ** 16) * 2 ** 16 + (random[0]! << 8) + random[1]!,
    u32(2),
    u32(6),
    u32(10),
  ];
  const codes = new Array<number>(ENCODED_LENGTH);
  for (let pass = 0; pass < ENCODED_LENGTH / 3; pass++) {
    let remainder = 0;
    for (let j = 0; j < limbs.length; j++) {
      const value = remainder * 2 ** 32 + limbs[j]!;
      const quotient = Math.floor(value / DIVISOR);
      remainder = value - quotient * DIVISOR;
      limbs[j] = quotient;
    }
    const low = remainder % 62;
    const rest = (remainder - low) / 62;
    const at = ENCODED_LENGTH - 3 * pass;
    codes[at - 1] = CODES[low]!;
    codes[at - 2] = CODES[rest % 62]!;
    codes[at - 3] = CODES[(rest - (rest % 62)) / 62]!;
  }
  return `${prefix}_${String.fromCharCode(...codes)}`;
}

/**
 * A new id `<prefix>_<27 base62 chars>`: a millisecond timestamp then random bits, so ids
 * sort by creation time (strictly within one process) and lists can page by id.
 */
export function newId(prefix: IdPrefix, nowMs: number = Date.now()): string {
  return encodeId(prefix, nowMs, nextRandom(nowMs));
}

const ID_PATTERN = /^[a-z]+_[0-9A-Za-z]{27}$/;

/** Whether `value` has the shape of an id with the given prefix. */
export function isId(value: string, prefix: IdPrefix): boolean {
  return value.startsWith(`${prefix}_`) && ID_PATTERN.test(value);
}

/** Each base62 digit's value by character code (-1: not a digit). */
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i;
/** The weight of the 10th digit in milliseconds: 62^17 / 2^112. */
const TENTH_DIGIT_MS = 62 ** 17 / 2 ** 112;

/**
 * The time an id of {@link newId} was made at, in milliseconds (its top 48 bits), or `null`
 * for a string that is not such an id. Read from its first 10 digits in floating point, so
 * it may be 1 ms off at a millisecond's edge: for metrics, not for ordering (ids order
 * themselves).
 */
export function idTime(id: string): number | null {
  const at = id.indexOf('_');
  if (at < 1 || id.length !== at + 1 + ENCODED_LENGTH) return null;
  let head = 0;
  for (let i = at + 1; i < id.length; i++) {
    const code = id.charCodeAt(i);
    const digit = code < 128 ? DIGIT[code]! : -1;
    if (digit < 0) return null;
    if (i <= at + 10) head = head * 62 + digit;
  }
  return Math.floor(head * TENTH_DIGIT_MS);
}

/** The largest time an id holds: 48 bits of milliseconds. */
const MAX_ID_MS = 2 ** 48 - 1;
const clampMs = (ms: number) => Math.min(Math.max(Math.floor(ms), 0), MAX_ID_MS);

/**
 * The smallest id of `prefix` at millisecond `ms`: every id made at `ms` or later sorts
 * after it, so a scan of records created since `ms` can start there on an index by id.
 */
export function idFloor(prefix: IdPrefix, ms: number): string {
  return encodeId(prefix, clampMs(ms), new Uint8Array(RANDOM_BYTES));
}

/** The largest id of `prefix` at millisecond `ms`: every id made later sorts after it. */
export function idCeiling(prefix: IdPrefix, ms: number): string {
  return encodeId(prefix, clampMs(ms), new Uint8Array(RANDOM_BYTES).fill(0xff));
}
