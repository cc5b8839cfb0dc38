/** Herald's public library surface. */
export { type Clock, ManualClock, systemClock } from './core/clock.js';
export * from './core/errors.js';
export { newId } from './core/ids.js';
export { DEFAULT_RETRY_SCHEDULE_MS, RESPONSE_RULES } from './core/retry.js';
export { LIMITS } from './core/rules.js';
export {
  generateEd25519Secret,
  generateHmacSecret,
  parseSecret,
  signatureHeader,
  signOne,
} from './core/signing.js';
export type * from './core/types.js';
export { DISPATCHER_DEFAULTS, type DispatcherOptions, type HeaderStyle } from './delivery/config.js';
export { type AttemptEvent, Dispatcher } from './delivery/dispatcher.js';
export { AddressPolicy, BLOCKED_IPV4, BLOCKED_IPV6, type Resolver } from './delivery/ssrf.js';
export { openSqliteStore, type SqliteStoreOptions } from './store/sqlite/index.js';
export type * from './store/store.js';
