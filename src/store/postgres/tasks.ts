/**
 * Background tasks on PostgreSQL: their rows, and the leases by which one runner at a time,
 * in any process, works through each (see `background_tasks` in migration 008).
 */
import { newId } from '../../core/ids.js';
import { backgroundTaskFinishedEvent } from '../../core/operational.js';
import type { BackgroundTask } from '../../core/types.js';
import { keyset, pageFrom } from '../paging.js';
import { type TaskRow, toTask } from '../rows.js';
import type { NewTask, Page, PageRequest, TaskFilter, TaskProgress } from '../store.js';
import type { PostgresConnection } from './connection.js';
import type { PostgresOperational } from './operational.js';

/**
 * Leases running tasks nobody holds (lease given back or expired) to a runner, skipping
 * those another runner is taking at this moment. $1 owner; $2 now; $3 lease end; $4 limit.
 */
const CLAIM_TASKS = `
  UPDATE background_tasks t SET lease_owner = $1, lease_expires_at = $3, runs = t.runs + 1, updated_at = $2
  FROM (SELECT id FROM background_tasks
        WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at <= $2)
        ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) free
  WHERE t.id = free.id
  RETURNING t.*`;

/**
 * A batch's progress, if the runner still holds the task. $1 id; $2 owner; $3 cursor; $4 data;
 * $5 status; $6 lease end (null once it ends); $7 now.
 */
const ADVANCE_TASK = `
  UPDATE background_tasks SET cursor = $3, data = $4, status = $5,
    lease_owner = CASE WHEN $5 = 'running' THEN lease_owner END, lease_expires_at = $6, updated_at = $7
  WHERE id = $1 AND status = 'running' AND lease_owner = $2`;

/** The background tasks of a PostgreSQL store. */
export class PostgresTasks {
  /** `operational` writes `background_task.finished` in the transaction that ends a task. */
  constructor(
    private readonly conn: PostgresConnection,
    private readonly operational: PostgresOperational,
  ) {}

  async create(input: NewTask): Promise<BackgroundTask> {
    const now = this.conn.clock.now();
    const { rows } = await this.conn.q<TaskRow>(
      `INSERT INTO background_tasks (id, kind, status, app_id, endpoint_id, params, cursor, data, runs,
         lease_owner, lease_expires_at, created_at, updated_at)
       VALUES ($1, $2, 'running', $3, $4, $5, NULL, $6, 1, $7, $8, $9, $9)
       RETURNING *`,
      [
        newId('qtask', now),
        input.kind,
        input.appId,
        input.endpointId,
        JSON.stringify(input.params),
        JSON.stringify(input.data),
        input.owner,
        now + input.leaseMs,
        now,
      ],
    );
    return toTask(rows[0]!);
  }

  async get(id: string): Promise<BackgroundTask | null> {
    const { rows } = await this.conn.q<TaskRow>('SELECT * FROM background_tasks WHERE id = $1', [id]);
    return rows[0] ? toTask(rows[0]) : null;
  }

  async list(filter: TaskFilter, page: PageRequest): Promise<Page<BackgroundTask>> {
    const ks = keyset(page, 'descending');
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (filter.appId !== undefined) add('app_id = ?', filter.appId);
    if (filter.status !== undefined) add('status = ?', filter.status);
    if (filter.kind !== undefined) add('kind = ?', filter.kind);
    if (ks.cursor !== null) add(`id ${ks.op} ?`, ks.cursor);
    params.push(page.limit + 1);
    const { rows } = await this.conn.q<TaskRow>(
      `SELECT * FROM background_tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id ${ks.sql} LIMIT $${params.length}`,
      params,
    );
    return pageFrom(rows.map(toTask), page, ks, (t) => t.id);
  }

  async claim(owner: string, leaseMs: number, limit: number): Promise<BackgroundTask[]> {
    const now = this.conn.clock.now();
    const { rows } = await this.conn.q<TaskRow>(CLAIM_TASKS, [owner, now, now + leaseMs, limit]);
    return rows.map(toTask).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  async advance(id: string, owner: string, progress: TaskProgress): Promise<boolean> {
    const now = this.conn.clock.now();
    const params = [
      id,
      owner,
      progress.cursor,
      JSON.stringify(progress.data),
      progress.status,
      progress.status === 'running' ? now + progress.leaseMs : null,
      now,
    ];
    if (progress.status === 'running') return ((await this.conn.q(ADVANCE_TASK, params)).rowCount ?? 0) > 0;
    return this.operational.transact(async (c, emit) => {
      const { rows } = await c.query<TaskRow>(`${ADVANCE_TASK} RETURNING *`, params);
      if (rows[0]) await emit([backgroundTaskFinishedEvent(toTask(rows[0]))]);
      return rows.length > 0;
    });
  }

  async release(id: string, owner: string): Promise<void> {
    await this.conn.q(
      `UPDATE background_tasks SET lease_owner = NULL, lease_expires_at = NULL, runs = runs - 1
       WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
      [id, owner],
    );
  }
}
