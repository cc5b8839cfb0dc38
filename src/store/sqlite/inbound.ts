/**
 * The inbound request log on SQLite: recording a request (and dropping its source's oldest
 * past the count cap), listing, reading one, and the retention sweep. Statements are
 * prepared once: a flood of forged requests records one row each.
 */
import type Database from 'better-sqlite3';
import type { Clock } from '../../core/clock.js';
import { newId } from '../../core/ids.js';
import type { InboundRequest } from '../../core/types.js';
import { INBOUND_PRUNE_BATCH, type InboundRetention } from '../inbound-retention.js';
import { INBOUND_COLUMNS, type InboundRow, inboundParams, pageOf, toInbound } from '../rows.js';
import type { NewInboundRequest, Page, PageRequest } from '../store.js';

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
} as const;

/** The inbound request log of a SQLite store. */
export class SqliteInboundLog {
  private readonly stmt;

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
      insert: db.prepare(
        `INSERT INTO inbound_requests (${INBOUND_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      ofSource: db.prepare<[string, number, number]>(INBOUND_PRUNE_SQL.ofSource),
      expired: db.prepare<[number, number]>(INBOUND_PRUNE_SQL.expired),
      overCap: db.prepare<[number, number]>(INBOUND_PRUNE_SQL.overCap),
      list: db.prepare<[string, string, number], InboundRow>(
        'SELECT * FROM inbound_requests WHERE source_id = ? AND id < ? ORDER BY id DESC LIMIT ?',
      ),
      get: db.prepare<[string, string], InboundRow>(
        'SELECT * FROM inbound_requests WHERE id = ? AND source_id = ?',
      ),
    };
  }

  /** See `Store.recordInbound`. */
  record(input: NewInboundRequest): InboundRequest {
    const now = this.clock.now();
    const request: InboundRequest = { ...input, id: newId('inreq', now), createdAt: now };
    const cap = this.retention.maxPerSource;
    this.db
      .transaction(() => {
        const { last_seq: seq } = this.stmt.nextSeq.get(request.sourceId)!;
        this.stmt.insert.run(...inboundParams(request), seq);
        if (seq > cap) this.stmt.ofSource.run(request.sourceId, seq - cap, INBOUND_PRUNE_BATCH);
      })
      .immediate();
    return request;
  }

  /** See `Store.listInbound`. */
  list(sourceId: string, page: PageRequest): Page<InboundRequest> {
    const rows = this.stmt.list.all(sourceId, page.iterator ?? '~', page.limit + 1);
    return pageOf(rows.map(toInbound), page.limit, (x) => x.id);
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
}
