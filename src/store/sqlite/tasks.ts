/**
 * Background tasks of a SQLite store: their rows, and the leases by which one runner at a
 * time works through each (see `background_tasks` in migration 009).
 */
import { newId } from '../../core/ids.js';
import { backgroundTaskFinishedEvent } from '../../core/operational.js';
import type { BackgroundTask } from '../../core/types.js';
import { keyset, pageFrom } from '../paging.js';
import { type TaskRow, toTask } from '../rows.js';
import type { NewTask, Page, PageRequest, TaskFilter, TaskProgress } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { SqliteOperational } from './operational.js';

function prepare({ db }: SqliteConnection) {
  return {
    insert: db.prepare<[TaskRow], TaskRow>(
      `INSERT INTO background_tasks (id, kind, status, app_id, endpoint_id, params, cursor, data, runs,
         lease_owner, lease_expires_at, created_at, updated_at)
       VALUES (@id, @kind, @status, @app_id, @endpoint_id, @params, @cursor, @data, @runs,
         @lease_owner, @lease_expires_at, @created_at, @updated_at)
       RETURNING *`,
    ),
    get: db.prepare<[string], TaskRow>('SELECT * FROM background_tasks WHERE id = ?'),
    // Running tasks nobody holds: lease given back (NULL) or expired.
    unheld: db.prepare<[{ now: number; limit: number }], { id: string }>(
      `SELECT id FROM background_tasks
       WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at <= @now)
       ORDER BY id LIMIT @limit`,
    ),
    lease: db.prepare<[{ id: string; owner: string; until: number; now: number }], TaskRow>(
      `UPDATE background_tasks SET lease_owner = @owner, lease_expires_at = @until, runs = runs + 1,
         updated_at = @now
       WHERE id = @id RETURNING *`,
    ),
    advance: db.prepare<
      [
        {
          id: string;
          owner: string;
          cursor: string | null;
          data: string;
          status: string;
          until: number | null;
          now: number;
        },
      ]
    >(
      `UPDATE background_tasks SET cursor = @cursor, data = @data, status = @status,
         lease_owner = CASE WHEN @status = 'running' THEN lease_owner END, lease_expires_at = @until,
         updated_at = @now
       WHERE id = @id AND status = 'running' AND lease_owner = @owner`,
    ),
    release: db.prepare<[{ id: string; owner: string }]>(
      `UPDATE background_tasks SET lease_owner = NULL, lease_expires_at = NULL, runs = runs - 1
       WHERE id = @id AND status = 'running' AND lease_owner = @owner`,
    ),
  };
}

/** The background tasks of a SQLite store. */
export class SqliteTasks {
  private readonly stmt;

  /** `operational` writes `background_task.finished` in the transaction that ends a task. */
  constructor(
    private readonly conn: SqliteConnection,
    private readonly operational: SqliteOperational,
  ) {
    this.stmt = prepare(conn);
  }

  create(input: NewTask): BackgroundTask {
    const now = this.conn.clock.now();
    const row = this.stmt.insert.get({
      id: newId('qtask', now),
      kind: input.kind,
      status: 'running',
      app_id: input.appId,
      endpoint_id: input.endpointId,
      params: JSON.stringify(input.params),
      cursor: null,
      data: JSON.stringify(input.data),
      runs: 1,
      lease_owner: input.owner,
      lease_expires_at: now + input.leaseMs,
      created_at: now,
      updated_at: now,
    });
    return toTask(row!);
  }

  get(id: string): BackgroundTask | null {
    const row = this.stmt.get.get(id);
    return row ? toTask(row) : null;
  }

  list(filter: TaskFilter, page: PageRequest): Page<BackgroundTask> {
    const ks = keyset(page, 'descending');
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: page.limit + 1 };
    if (filter.appId !== undefined) {
      where.push('app_id = @appId');
      params.appId = filter.appId;
    }
    if (filter.status !== undefined) {
      where.push('status = @status');
      params.status = filter.status;
    }
    if (filter.kind !== undefined) {
      where.push('kind = @kind');
      params.kind = filter.kind;
    }
    if (ks.cursor !== null) {
      where.push(`id ${ks.op} @cursor`);
      params.cursor = ks.cursor;
    }
    const statement = this.conn.cached<[Record<string, unknown>], TaskRow>(
      `SELECT * FROM background_tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id ${ks.sql} LIMIT @limit`,
    );
    return pageFrom(statement.all(params).map(toTask), page, ks, (t) => t.id);
  }

  claim(owner: string, leaseMs: number, limit: number): BackgroundTask[] {
    const now = this.conn.clock.now();
    return this.conn.immediate(() =>
      this.stmt.unheld
        .all({ now, limit })
        .map(({ id }) => toTask(this.stmt.lease.get({ id, owner, until: now + leaseMs, now })!)),
    );
  }

  advance(id: string, owner: string, progress: TaskProgress): boolean {
    const now = this.conn.clock.now();
    const params = {
      id,
      owner,
      cursor: progress.cursor,
      data: JSON.stringify(progress.data),
      status: progress.status,
      until: progress.status === 'running' ? now + progress.leaseMs : null,
      now,
    };
    if (progress.status === 'running') return this.stmt.advance.run(params).changes > 0;
    return this.operational.transact((emit) => {
      const { changes } = this.stmt.advance.run(params);
      const task = changes > 0 ? this.stmt.get.get(id) : undefined;
      if (task) emit([backgroundTaskFinishedEvent(toTask(task))]);
      return changes > 0;
    });
  }

  release(id: string, owner: string): void {
    this.stmt.release.run({ id, owner });
  }
}
