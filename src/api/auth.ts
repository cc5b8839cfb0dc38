/**
 * API tokens. Only SHA-256 hashes are stored; a request's token is hashed and looked up,
 * so comparing tokens never compares secrets byte by byte. Admin tokens reach everything and
 * never expire; application tokens (made by `auth/app-portal-access`) reach their application
 * only, until their expiry (7 days by default), and a read-only one may only read.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { type Clock, systemClock } from '../core/clock.js';
import type { Application } from '../core/types.js';
import type { Store, StoredToken } from '../store/store.js';
import { AuthError, ForbiddenError } from './errors.js';

/** Who is calling. */
export interface Principal {
  /** `null` for an admin token. */
  appId: string | null;
  /** Scope of idempotency keys. */
  scope: string;
  /** Made with `readOnly: true`: every method but GET and HEAD is refused. */
  readOnly: boolean;
  /** Svix's portal capabilities the token holds; `null`: every one (see capabilities.ts). */
  capabilities: readonly string[] | null;
  /** The hash of the token the request carried (what logout ends). */
  tokenHash: string;
}

/** SHA-256 of a token, hex. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new random token with a readable prefix. */
export function newToken(prefix: 'herald_admin' | 'herald_app'): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/**
 * Makes sure an admin token exists: stores the hash of `configured` if given, otherwise
 * creates one when none exists and hands it to `show` before storing its hash, so that no
 * token is stored whose plain text nobody was shown (it locked the user out).
 */
export async function ensureAdminToken(
  store: Store,
  configured: string | undefined,
  show: (token: string) => void,
): Promise<void> {
  if (configured) return store.saveToken(hashToken(configured), null);
  if (await store.hasAdminToken()) return;
  const token = newToken('herald_admin');
  show(token);
  await store.saveToken(hashToken(token), null);
}

const CACHE_MS = 30_000;
const CACHE_MAX = 10_000;

/** Why a stored token no longer works, in words that say what to do. */
function endedMessage(token: StoredToken): string {
  const at = new Date(token.expiresAt!).toISOString();
  const renew = 'ask for a new one (POST /api/v1/auth/app-portal-access/{app_id} with an admin token)';
  if (token.revokedBy === 'logout') return `this token was logged out at ${at}; ${renew}`;
  if (token.revokedBy === 'expire-all')
    return `this token was ended at ${at} by POST /api/v1/auth/app/{app_id}/expire-all; ${renew}`;
  return `this token expired at ${at}; ${renew}`;
}

/**
 * Authenticates requests by their bearer token. Admin tokens are cached for a short while
 * (no route revokes one or gives one an expiry, so a cached answer cannot outlive either).
 * Application tokens are looked up on every request: deleting an application, expire-all and
 * logout end them, and no process may keep accepting them afterwards, whichever process
 * ended them.
 */
export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The caller of `request`; throws `AuthError` without a known, unexpired token. */
  async authenticate(request: FastifyRequest): Promise<Principal> {
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new AuthError('missing or malformed Authorization: Bearer <token> header');
    const hash = hashToken(match[1]!);
    const now = this.clock.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.principal;
    const found = await this.store.findToken(hash);
    if (!found) throw new AuthError('invalid token');
    if (found.expiresAt !== null && found.expiresAt <= now) throw new AuthError(endedMessage(found));
    const principal: Principal = {
      appId: found.appId,
      scope: found.appId ?? 'admin',
      readOnly: found.readOnly,
      capabilities: found.capabilities,
      tokenHash: hash,
    };
    if (principal.appId !== null || found.expiresAt !== null) return principal;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { principal, until: now + CACHE_MS });
    return principal;
  }
}

/** Methods a read-only token may use. */
const READS = new Set(['GET', 'HEAD']);

/**
 * Throws unless the caller may use `method`: a read-only token may only read. `POST
 * /api/v1/auth/logout` ends the calling token, which even a read-only one may do.
 */
export function requireWritable(principal: Principal, method: string, route: string | undefined): void {
  if (!principal.readOnly || READS.has(method) || route === '/api/v1/auth/logout') return;
  throw new ForbiddenError(
    `this token is read-only (made with readOnly: true): it may only read (GET), not ${method}`,
  );
}

/** Throws unless the caller holds an admin token. */
export function requireAdmin(principal: Principal): void {
  if (principal.appId !== null) throw new ForbiddenError('this route needs an admin token');
}

/** Throws unless the caller may act on `app`. */
export function requireApp(principal: Principal, app: Application): void {
  if (principal.appId !== null && principal.appId !== app.id) {
    throw new ForbiddenError('this token belongs to another application');
  }
}
