/**
 * Inbound on SQLite: the sources, and their request log: recording a request (and dropping
 * its source's oldest past the count cap), listing, reading one, and the retention sweep.
 * Statements are prepared once: a flood of forged requests records one row each.
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../../core/clock.js';
import { NotFoundError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { InboundRequest, Source } from '../../core/types.js';
import { INBOUND_PRUNE_BATCH, type InboundRetention } from '../inbound-retention.js';
import { sourceRecord, updatedSource } from '../normalise.js';
import { keyset, pageFrom } from '../paging.js';
import { type InboundRow, type SourceRow, toInbound, toSource } from '../rows.js';
import type { NewInboundRequest, NewSource, Page, PageRequest, SourcePatch } from '../store.js';
import { pageSql, type SqliteConnection, type Where } from './connection.js';

/**
 * The delete statements of retention. Each deletes at most `limit` rows found through an
 * index (`test/store/sqlite.test.ts` checks the plans), so none scans the log.
 */
export const INBOUND_PRUNE_SQL = {
  /** A source's rows at or below a seq, oldest first. Parameters: source id, seq, limit. */
  ofSource: `DELETE FROM inbound_requests WHERE id IN (
    SELECT id FROM inbound_requests WHERE source_id = ? AND seq <= ? ORDER BY seq LIMIT ?)`,
  /** Rows received before a time, oldest first. Parameters: time, limit. */
  expired: `DELETE FROM inbound_requests WHERE id IN (
    SELECT id FROM inbound_requests WHERE created_at < ? ORDER BY created_at LIMIT ?)`,
  /**
   * Rows of any source past its cap, one probe per source. `CROSS JOIN` makes SQLite keep
   * that order (a plain join on empty statistics scanned the log instead). Parameters: cap,
   * limit.
   */
  overCap: `DELETE FROM inbound_requests WHERE id IN (
    SELECT r.id FROM inbound_counters c
    CROSS JOIN inbound_requests r ON r.source_id = c.source_id AND r.seq <= c.last_seq - ?
    LIMIT ?)`,
  /**
   * The bodies of rows received before a time that still hold one, oldest first, through
   * the partial index `inbound_bodies_by_time` (migration 017). Parameters: now, time, limit.
   */
  expireBodies: `UPDATE inbound_requests SET body = X'', body_expunged_at = ? WHERE id IN (
    SELECT id FROM inbound_requests INDEXED BY inbound_bodies_by_time
    WHERE created_at < ? AND body_expunged_at IS NULL ORDER BY created_at LIMIT ?)`,
} as const;

/** An inbound request as the insert binds it. */
type InboundParams = Omit<InboundRow, 'body' | 'body_expunged_at'> & { body: Buffer; seq: number };

function fromInbound(r: InboundRequest): Omit<InboundParams, 'seq'> {
  return {
    id: r.id,
    source_id: r.sourceId,
    status: r.status,
    reason: r.reason,
    headers: JSON.stringify(r.headers),
    body: r.body,
    body_size: r.bodySize,
    msg_id: r.msgId,
    created_at: r.createdAt,
  };
}

/** A source as the writes bind it: the secrets sealed, booleans as 0/1. */
function sourceParams(source: Source, conn: SqliteConnection) {
  return {
    id: source.id,
    name: source.name,
    provider: source.provider,
    secrets: conn.box.seal(JSON.stringify(source.secrets), source.id),
    app_id: source.appId,
    passthrough_headers: source.passthroughHeaders ? 1 : 0,
    created_at: source.createdAt,
    updated_at: source.updatedAt,
  };
}

/** The inbound sources of a SQLite store. */
export class SqliteSources {
  private readonly stmt;

  constructor(
    private readonly conn: SqliteConnection,
    /** The id of the application with this id or uid; throws `NotFoundError` (the catalog's). */
    private readonly mustAppId: (idOrUid: string) => string,
  ) {
    const { db } = conn;
    this.stmt = {
      insert: db.prepare<[ReturnType<typeof sourceParams>]>(
        `INSERT INTO sources (id, name, provider, secrets, app_id, passthrough_headers, created_at, updated_at)
         VALUES (@id, @name, @provider, @secrets, @app_id, @passthrough_headers, @created_at, @updated_at)`,
      ),
      get: db.prepare<[string], SourceRow>('SELECT * FROM sources WHERE id = ?'),
      update: db.prepare<[ReturnType<typeof sourceParams>]>(
        `UPDATE sources SET name = @name, secrets = @secrets, passthrough_headers = @passthrough_headers,
           updated_at = @updated_at WHERE id = @id`,
      ),
      delete: db.prepare<[string]>('DELETE FROM sources WHERE id = ?'),
    };
  }

  create(input: NewSource): Source {
    const appId = this.mustAppId(input.appId);
    const now = this.conn.clock.now();
    const source = sourceRecord(newId('src', now), appId, input, now);
    this.stmt.insert.run(sourceParams(source, this.conn));
    return source;
  }

  get(id: string): Source | null {
    const row = this.stmt.get.get(id);
    return row ? toSource(row, this.conn.box) : null;
  }

  list(page: PageRequest): Page<Source> {
    const ks = keyset(page, 'ascending');
    const w: Where = { where: [], params: {} };
    const sql = `SELECT * FROM sources ${pageSql(w, ks, 'id', page.limit)}`;
    const rows = this.conn.cached<[Record<string, unknown>], SourceRow>(sql).all(w.params);
    return pageFrom(
      rows.map((r) => toSource(r, this.conn.box)),
      page,
      ks,
      (x) => x.id,
    );
  }

  update(id: string, patch: SourcePatch): Source {
    return this.conn.immediate(() => {
      const current = this.get(id);
      if (!current) throw new NotFoundError(`source ${id} not found`);
      const source = updatedSource(current, patch, this.conn.clock.now());
      this.stmt.update.run(sourceParams(source, this.conn));
      return source;
    });
  }

  delete(id: string): void {
    const { changes } = this.stmt.delete.run(id);
    if (changes === 0) throw new NotFoundError(`source ${id} not found`);
  }
}

/** The inbound request log of a SQLite store. */
export class SqliteInboundLog {
  private readonly stmt;
  /** The list's statements, one per order and cursor. */
  private readonly lists = new Map<string, Database.Statement<[Record<string, unknown>], InboundRow>>();

  constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
    private readonly retention: InboundRetention,
  ) {
    this.stmt = {
      nextSeq: db.prepare<[string], { last_seq: number }>(
        `INSERT INTO inbound_counters (source_id, last_seq) VALUES (?, 1)
         ON CONFLICT (source_id) DO UPDATE SET last_seq = last_seq + 1
         RETURNING last_seq`,
      ),
      insert: db.prepare<[InboundParams]>(
        `INSERT INTO inbound_requests (id, source_id, status, reason, headers, body, body_size, msg_id, created_at, seq)
         VALUES (@id, @source_id, @status, @reason, @headers, @body, @body_size, @msg_id, @created_at, @seq)`,
      ),
      ofSource: db.prepare<[string, number, number]>(INBOUND_PRUNE_SQL.ofSource),
      expired: db.prepare<[number, number]>(INBOUND_PRUNE_SQL.expired),
      overCap: db.prepare<[number, number]>(INBOUND_PRUNE_SQL.overCap),
      expireBodies: db.prepare<[number, number, number]>(INBOUND_PRUNE_SQL.expireBodies),
      get: db.prepare<[string, string], InboundRow>(
        'SELECT * FROM inbound_requests WHERE id = ? AND source_id = ?',
      ),
    };
  }

  /** See `Store.recordInbound`. */
  record(input: NewInboundRequest): InboundRequest {
    const now = this.clock.now();
    const request: InboundRequest = {
      ...input,
      id: newId('inreq', now),
      createdAt: now,
      bodyExpungedAt: null,
    };
    const cap = this.retention.maxPerSource;
    this.db
      .transaction(() => {
        const { last_seq: seq } = this.stmt.nextSeq.get(request.sourceId)!;
        this.stmt.insert.run({ ...fromInbound(request), seq });
        if (seq > cap) this.stmt.ofSource.run(request.sourceId, seq - cap, INBOUND_PRUNE_BATCH);
      })
      .immediate();
    return request;
  }

  /** See `Store.listInbound`. */
  list(sourceId: string, page: PageRequest): Page<InboundRequest> {
    const ks = keyset(page, 'descending');
    const w: Where = { where: ['source_id = @sourceId'], params: { sourceId } };
    const sql = `SELECT * FROM inbound_requests ${pageSql(w, ks, 'id', page.limit)}`;
    let statement = this.lists.get(sql);
    if (!statement) {
      statement = this.db.prepare<[Record<string, unknown>], InboundRow>(sql);
      this.lists.set(sql, statement);
    }
    return pageFrom(statement.all(w.params).map(toInbound), page, ks, (x) => x.id);
  }

  /** See `Store.getInbound`. */
  get(sourceId: string, id: string): InboundRequest | null {
    const row = this.stmt.get.get(id, sourceId);
    return row ? toInbound(row) : null;
  }

  /** See `Store.pruneInbound`. */
  prune(limit: number): number {
    const before = this.clock.now() - this.retention.maxAgeMs;
    return this.db
      .transaction(() => {
        const expired = this.stmt.expired.run(before, limit).changes;
        if (expired >= limit) return expired;
        return expired + this.stmt.overCap.run(this.retention.maxPerSource, limit - expired).changes;
      })
      .immediate();
  }

  /**
   * See `Store.expireInboundBodies`. With `secure_delete` on for the transaction (as payload
   * expiry does), so the freed pages hold zeros rather than the bodies.
   */
  expireBodies(limit: number): number {
    if (this.retention.bodyMaxAgeMs === null) return 0;
    const now = this.clock.now();
    const before = now - this.retention.bodyMaxAgeMs;
    const secure = this.db.pragma('secure_delete', { simple: true }) as number;
    if (!secure) this.db.pragma('secure_delete = ON');
    try {
      return this.db.transaction(() => this.stmt.expireBodies.run(now, before, limit).changes).immediate();
    } finally {
      if (!secure) this.db.pragma('secure_delete = OFF');
    }
  }
}
