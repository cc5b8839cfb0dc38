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
} as const;

export type IdPrefix = (typeof ID_PREFIX)[keyof typeof ID_PREFIX];

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 20 bytes (6 of milliseconds, 14 random) need 27 base62 digits, as a KSUID does. */
const ENCODED_LENGTH = 27;
const RANDOM_BYTES = 14;

const pool = Buffer.allocUnsafe(RANDOM_BYTES * 256);
let poolOffset = pool.length;
let lastMs = -1;
let lastRandom = Buffer.alloc(RANDOM_BYTES);

function nextRandom(ms: number): Buffer {
  if (ms === lastMs) {
    // Same millisecond: increment the previous random part so ids stay strictly ordered
    // within this process.
    const next = Buffer.from(lastRandom);
    for (let i = RANDOM_BYTES - 1; i >= 0; i--) {
      next[i] = (next[i]! + 1) & 0xff;
      if (next[i] !== 0) break;
    }
    lastRandom = next;
    return next;
  }
  if (poolOffset + RANDOM_BYTES > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  lastRandom = Buffer.from(pool.subarray(poolOffset, poolOffset + RANDOM_BYTES));
  poolOffset += RANDOM_BYTES;
  lastMs = ms;
  return lastRandom;
}

/**
 * A new id `<prefix>_<27 base62 chars>`: a millisecond timestamp then random bits, so ids
 * sort by creation time (strictly within one process) and lists can page by id.
 */
export function newId(prefix: IdPrefix, nowMs: number = Date.now()): string {
  const random = nextRandom(nowMs);
  // The 160-bit number as five 32-bit limbs, most significant first: 48 bits of time, then
  // 112 random bits. Repeated long division by 62 yields the digits from the right.
  const hi = Math.floor(nowMs / 2 ** 16);
  const limbs = [
    hi >>> 0,
    (((nowMs % 2 ** 16) << 16) | random.readUInt16BE(0)) >>> 0,
    random.readUInt32BE(2),
    random.readUInt32BE(6),
    random.readUInt32BE(10),
  ];
  const out = new Array<string>(ENCODED_LENGTH);
  for (let i = ENCODED_LENGTH - 1; i >= 0; i--) {
    let remainder = 0;
    for (let j = 0; j < limbs.length; j++) {
      const value = remainder * 2 ** 32 + limbs[j]!;
      limbs[j] = Math.floor(value / 62);
      remainder = value % 62;
    }
    out[i] = ALPHABET[remainder]!;
  }
  return `${prefix}_${out.join('')}`;
}

const ID_PATTERN = /^[a-z]+_[0-9A-Za-z]{27}$/;

/** Whether `value` has the shape of an id with the given prefix. */
export function isId(value: string, prefix: IdPrefix): boolean {
  return value.startsWith(`${prefix}_`) && ID_PATTERN.test(value);
}
