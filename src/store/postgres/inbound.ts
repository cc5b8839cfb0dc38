/**
 * Inbound on PostgreSQL: the sources, and the request log (recording a request and dropping
 * its source's oldest past the count cap, listing, reading one, and the retention sweep);
 * the same semantics as `src/store/sqlite/inbound.ts`.
 */
import type pg from 'pg';
import type { Clock } from '../../core/clock.js';
import { NotFoundError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { InboundRequest, Source } from '../../core/types.js';
import { INBOUND_PRUNE_BATCH, type InboundRetention } from '../inbound-retention.js';
import { sourceRecord, updatedSource } from '../normalise.js';
import { keyset, pageFrom } from '../paging.js';
import {
  INBOUND_COLUMNS,
  type InboundRow,
  inboundParams,
  type SourceRow,
  toInbound,
  toSource,
} from '../rows.js';
import type { NewInboundRequest, NewSource, Page, PageRequest, SourcePatch } from '../store.js';
import { type PostgresConnection, Where } from './connection.js';

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
  /**
   * The bodies of rows received before a time that still hold one, oldest first, through the
   * partial index `inbound_bodies_by_time` (migration 017). Parameters: now, time, limit.
   */
  expireBodies: `UPDATE inbound_requests SET body = ''::bytea, body_expunged_at = $1 WHERE id IN (
    SELECT id FROM inbound_requests WHERE created_at < $2 AND body_expunged_at IS NULL
    ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED)`,
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
    const request: InboundRequest = {
      ...input,
      id: newId('inreq', now),
      createdAt: now,
      bodyExpungedAt: null,
    };
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
    const ks = keyset(page, 'descending');
    const w = new Where();
    w.where.push(`source_id = ${w.param(sourceId)}`);
    const { rows } = await this.q<InboundRow>(
      `SELECT * FROM inbound_requests ${w.pageSql(ks, 'id', page.limit)}`,
      w.params,
    );
    return pageFrom(rows.map(toInbound), page, ks, (x) => x.id);
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

  /** See `Store.expireInboundBodies`. */
  async expireBodies(limit: number): Promise<number> {
    if (this.retention.bodyMaxAgeMs === null) return 0;
    const now = this.clock.now();
    const before = now - this.retention.bodyMaxAgeMs;
    return (await this.q(PRUNE_SQL.expireBodies, [now, before, limit])).rowCount ?? 0;
  }
}

/** The inbound sources of a PostgreSQL store (their secrets sealed by the connection's box). */
export class PostgresSources {
  constructor(
    private readonly conn: PostgresConnection,
    /** The row of an application by id or uid (the catalog's). */
    private readonly appRow: (idOrUid: string) => Promise<{ id: string } | undefined>,
  ) {}

  /** See `Store`. */
  async createSource(input: NewSource): Promise<Source> {
    const app = await this.appRow(input.appId);
    if (!app) throw new NotFoundError(`application ${input.appId} not found`);
    const now = this.conn.clock.now();
    const source = sourceRecord(newId('src', now), app.id, input, now);
    await this.conn.q(
      `INSERT INTO sources (id, name, provider, secrets, app_id, passthrough_headers, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
      [
        source.id,
        source.name,
        source.provider,
        this.conn.box.seal(JSON.stringify(source.secrets), source.id),
        source.appId,
        source.passthroughHeaders,
        now,
      ],
    );
    return source;
  }

  /** See `Store`. */
  async getSource(id: string): Promise<Source | null> {
    const row = (await this.conn.q<SourceRow>('SELECT * FROM sources WHERE id = $1', [id])).rows[0];
    return row ? toSource(row, this.conn.box) : null;
  }

  /** See `Store`. */
  async listSources(page: PageRequest): Promise<Page<Source>> {
    const ks = keyset(page, 'ascending');
    const w = new Where();
    const { rows } = await this.conn.q<SourceRow>(
      `SELECT * FROM sources ${w.pageSql(ks, 'id', page.limit)}`,
      w.params,
    );
    return pageFrom(
      rows.map((r) => toSource(r, this.conn.box)),
      page,
      ks,
      (x) => x.id,
    );
  }

  /** See `Store`. */
  async updateSource(id: string, patch: SourcePatch): Promise<Source> {
    return this.conn.tx(async (client) => {
      const row = (await client.query<SourceRow>('SELECT * FROM sources WHERE id = $1 FOR UPDATE', [id]))
        .rows[0];
      if (!row) throw new NotFoundError(`source ${id} not found`);
      const source = updatedSource(toSource(row, this.conn.box), patch, this.conn.clock.now());
      await client.query(
        'UPDATE sources SET name = $1, secrets = $2, passthrough_headers = $3, updated_at = $4 WHERE id = $5',
        [
          source.name,
          this.conn.box.seal(JSON.stringify(source.secrets), source.id),
          source.passthroughHeaders,
          source.updatedAt,
          id,
        ],
      );
      return source;
    });
  }

  /** See `Store`. */
  async deleteSource(id: string): Promise<void> {
    const { rowCount } = await this.conn.q('DELETE FROM sources WHERE id = $1', [id]);
    if (rowCount === 0) throw new NotFoundError(`source ${id} not found`);
  }
}
