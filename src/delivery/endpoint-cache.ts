/**
 * What every attempt to an endpoint needs, computed once per endpoint version: the parsed
 * URL, the decoded signing keys, the custom headers. A claimed delivery carries the
 * endpoint's current version, so a change made by any process is seen on the next claim.
 */
import { parseSecret, type SigningKey } from '../core/signing.js';
import type { Endpoint } from '../core/types.js';
import type { DeliveryStore } from '../store/store.js';

/** An endpoint ready to be sent to. */
export interface PreparedEndpoint {
  endpoint: Endpoint;
  url: URL;
  keys: { key: SigningKey; expiresAt: number | null }[];
}

/** Caches {@link PreparedEndpoint}s by id and version. */
export class EndpointCache {
  private readonly entries = new Map<
    string,
    { version: number; prepared: Promise<PreparedEndpoint | null> }
  >();
  /** The last loaded state of each endpoint, whatever version is loading now. */
  private readonly loaded = new Map<string, PreparedEndpoint | null>();

  constructor(private readonly store: Pick<DeliveryStore, 'getEndpoint'>) {}

  /** The endpoint as of `version` or later; `null` if it no longer exists. */
  get(appId: string, endpointId: string, version: number): Promise<PreparedEndpoint | null> {
    const hit = this.entries.get(endpointId);
    if (hit && hit.version >= version) return hit.prepared;
    const prepared = this.load(appId, endpointId);
    this.entries.set(endpointId, { version, prepared });
    prepared.then(
      (value) => this.loaded.set(endpointId, value),
      // A failed load is not cached, so the next claim tries again.
      () => this.entries.delete(endpointId),
    );
    return prepared;
  }

  /**
   * The endpoint as last loaded, without waiting: `undefined` if it was never loaded, `null`
   * if it no longer existed then.
   */
  peek(endpointId: string): PreparedEndpoint | null | undefined {
    return this.loaded.get(endpointId);
  }

  private async load(appId: string, endpointId: string): Promise<PreparedEndpoint | null> {
    const endpoint = await this.store.getEndpoint(appId, endpointId);
    if (!endpoint) return null;
    return {
      endpoint,
      url: new URL(endpoint.url),
      keys: endpoint.secrets.map((s) => ({ key: parseSecret(s.key), expiresAt: s.expiresAt })),
    };
  }

  /** The keys that sign at `now`: the current one and those still in a grace period. */
  static activeKeys(prepared: PreparedEndpoint, now: number): SigningKey[] {
    return prepared.keys.filter((k) => k.expiresAt === null || k.expiresAt > now).map((k) => k.key);
  }
}
