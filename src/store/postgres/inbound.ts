/**
 * The inbound request log on PostgreSQL: recording a request (and dropping its source's
 * oldest past the count cap), listing, reading one, and the retention sweep; the same
 * semantics as `src/store/sqlite/inbound.ts`.
 */
import type pg from 'pg';
import type { Clock } from '../../core/clock.js';
import { newId } from '../../core/ids.js';
import type { InboundRequest } from '../../core/types.js';
import { INBOUND_PRUNE_BATCH, type InboundRetention } from '../inbound-retention.js';
import { INBOUND_COLUMNS, type InboundRow, inboundParams, pageOf, toInbound } from '../rows.js';
import type { NewInboundRequest, Page, PageRequest } from '../store.js';

/** Runs one statement on the store's pool, with its error mapping. */
export type Query = <R extends pg.QueryResultRow>(
  sql: string,
  params: unknown[],
) => Promise<pg.QueryResult<R>>;

/**
 * Takes the source's next seq and inserts the request under it, in one statement: the
 * counter's row lock is held only while it runs. Parameters: {@link INBOUND_COLUMNS}.
 */
const RECORD_SQL = `
  WITH counter AS (
    INSERT INTO inbound_counters (source_id, last_seq) VALUES ($2, 1)
    ON CONFLICT (source_id) DO UPDATE SET last_seq = inbound_counters.last_seq + 1
    RETURNING last_seq)
  INSERT INTO inbound_requests (${INBOUND_COLUMNS}, seq)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, (SELECT last_seq FROM counter))
  RETURNING seq`;

/**
 * The delete statements of retention, each of at most `limit` rows found through an index.
 * `SKIP LOCKED`: rows another prune is deleting are left to it, so two prunes (a request's
 * and the sweep, in any order) never wait for each other, and cannot deadlock.
 */
const PRUNE_SQL = {
  /** A source's rows at or below a seq, oldest first. Parameters: source id, seq, limit. */
  ofSource: `DELETE FROM inbound_requests WHERE id IN (
    SELECT id FROM inbound_requests WHERE source_id = $1 AND seq <= $2
    ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED)`,
  /** Rows received before a time, oldest first. Parameters: time, limit. */
  expired: `DELETE FROM inbound_requests WHERE id IN (
    SELECT id FROM inbound_requests WHERE created_at < $1
    ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  /** Rows of any source past its cap (one probe per source). Parameters: cap, limit. */
  overCap: `DELETE FROM inbound_requests WHERE id IN (
    SELECT r.id FROM inbound_counters c CROSS JOIN LATERAL (
      SELECT id FROM inbound_requests
      WHERE source_id = c.source_id AND seq <= c.last_seq - $1
      ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED) r
    LIMIT $2)`,
} as const;

/** The inbound request log of a PostgreSQL store. */
export class PostgresInboundLog {
  constructor(
    private readonly q: Query,
    private readonly clock: Clock,
    private readonly retention: InboundRetention,
  ) {}

  /** See `Store.recordInbound`. */
  async record(input: NewInboundRequest): Promise<InboundRequest> {
    const now = this.clock.now();
    const request: InboundRequest = { ...input, id: newId('inreq', now), createdAt: now };
    const { rows } = await this.q<{ seq: number }>(RECORD_SQL, inboundParams(request));
    const seq = rows[0]!.seq;
    const cap = this.retention.maxPerSource;
    // Its own statement, after the insert committed: a failure here leaves one row too many,
    // which the next request or the sweep deletes.
    if (seq > cap) await this.q(PRUNE_SQL.ofSource, [request.sourceId, seq - cap, INBOUND_PRUNE_BATCH]);
    return request;
  }

  /** See `Store.listInbound`. */
  async list(sourceId: string, page: PageRequest): Promise<Page<InboundRequest>> {
    const { rows } = await this.q<InboundRow>(
      'SELECT * FROM inbound_requests WHERE source_id = $1 AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3',
      [sourceId, page.iterator ?? null, page.limit + 1],
    );
    return pageOf(rows.map(toInbound), page.limit, (x) => x.id);
  }

  /** See `Store.getInbound`. */
  async get(sourceId: string, id: string): Promise<InboundRequest | null> {
    const { rows } = await this.q<InboundRow>(
      'SELECT * FROM inbound_requests WHERE id = $1 AND source_id = $2',
      [id, sourceId],
    );
    return rows[0] ? toInbound(rows[0]) : null;
  }

  /** See `Store.pruneInbound`. */
  async prune(limit: number): Promise<number> {
    const before = this.clock.now() - this.retention.maxAgeMs;
    const expired = (await this.q(PRUNE_SQL.expired, [before, limit])).rowCount ?? 0;
    if (expired >= limit) return expired;
    const over = await this.q(PRUNE_SQL.overCap, [this.retention.maxPerSource, limit - expired]);
    return expired + (over.rowCount ?? 0);
  }
}
