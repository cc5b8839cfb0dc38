/**
 * The catalog on PostgreSQL: applications, endpoints (their secrets and headers sealed by the
 * connection's box) and event types.
 */
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import {
  type EndpointNames,
  endpointChangeEvents,
  endpointDisabledEvent,
  OPERATIONAL_APP_ID,
  type OperationalEvent,
} from '../../core/operational.js';
import type { Application, Endpoint, EventType } from '../../core/types.js';
import { LISTENER_NAME, listenerUrl } from '../attempt-events.js';
import {
  applicationRecord,
  blankApplication,
  blankEndpoint,
  endpointRecord,
  listenerChanges,
  rotatedSecrets,
} from '../normalise.js';
import { keyset, pageFrom, prefixRange } from '../paging.js';
import {
  type ApplicationRow,
  type EndpointRow,
  type EventTypeRow,
  fromApplication,
  fromEndpoint,
  toApplication,
  toEndpoint,
  toEventType,
} from '../rows.js';
import type {
  ApplicationFilter,
  ApplicationPatch,
  EndpointPatch,
  EventTypeFilter,
  NewApplication,
  NewEndpoint,
  NewEventType,
  Page,
  PageRequest,
} from '../store.js';
import { APP_BY_KEY, type PostgresConnection, type Queryable, Where } from './connection.js';
import { failPending } from './deliveries.js';
import type { PostgresOperational } from './operational.js';

/**
 * Writes an event type whole. $1 name, $2 description, $3 schemas, $4 archived, $5 deprecated,
 * $6 feature flag, $7 now.
 */
const EVENT_TYPE_UPSERT = `
  INSERT INTO event_types (name, description, schemas, archived, deprecated, feature_flag, created_at, updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
  ON CONFLICT (name) DO UPDATE SET description = excluded.description, schemas = excluded.schemas,
    archived = excluded.archived, deprecated = excluded.deprecated, feature_flag = excluded.feature_flag,
    updated_at = excluded.updated_at`;

/** Endpoints of any application whose URL is in [$1, $2), at most $3: a range of endpoints_by_url. */
export const ENDPOINTS_BY_URL = 'SELECT * FROM endpoints WHERE url >= $1 AND url < $2 ORDER BY url LIMIT $3';

/** Applications, endpoints and event types of a PostgreSQL store. */
export class PostgresCatalog {
  /** `operational` writes the operational events of endpoint changes in their transaction. */
  constructor(
    private readonly conn: PostgresConnection,
    private readonly operational: PostgresOperational,
  ) {}

  // Applications

  /**
   * An application's row by id or uid, on `on` (the pool by default). Prefers the id: a uid
   * equal to another row's id (possible in data written before uids of id shape were
   * refused) can never shadow that row.
   */
  async appRow(idOrUid: string, on?: Queryable): Promise<ApplicationRow | undefined> {
    return (
      await this.conn.q<ApplicationRow>(
        'SELECT * FROM applications WHERE id = $1 OR uid = $1 ORDER BY id = $1 DESC LIMIT 1',
        [idOrUid],
        on,
      )
    ).rows[0];
  }

  async createApplication(input: NewApplication): Promise<Application> {
    const now = this.conn.clock.now();
    const app = applicationRecord(blankApplication(newId('app', now), now), input, now);
    const r = fromApplication(app);
    try {
      await this.conn.q(
        'INSERT INTO applications (id, uid, name, rate_limit, metadata, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7)',
        [r.id, r.uid, r.name, r.rate_limit, r.metadata, r.created_at, r.updated_at],
      );
    } catch (error) {
      if (error instanceof ConflictError)
        throw new ConflictError(`an application with uid ${app.uid} exists`, { cause: error });
      throw error;
    }
    return app;
  }

  async getApplication(idOrUid: string): Promise<Application | null> {
    const row = await this.appRow(idOrUid);
    return row ? toApplication(row) : null;
  }

  async listApplications(page: PageRequest, filter: ApplicationFilter = {}): Promise<Page<Application>> {
    const ks = keyset(page, 'descending');
    const w = new Where();
    // The reserved application of the operational webhooks is not a user's.
    w.where.push(`id <> ${w.param(OPERATIONAL_APP_ID)}`);
    if (filter.nameContains !== undefined) {
      w.where.push(`strpos(lower(name), lower(${w.param(filter.nameContains)})) > 0`);
    }
    const sql = `SELECT * FROM applications ${w.pageSql(ks, 'id', page.limit)}`;
    const { rows } = await this.conn.q<ApplicationRow>(sql, w.params);
    return pageFrom(rows.map(toApplication), page, ks, (a) => a.id);
  }

  async updateApplication(id: string, patch: ApplicationPatch): Promise<Application> {
    const current = await this.getApplication(id);
    if (!current) throw new NotFoundError(`application ${id} not found`);
    const next = applicationRecord(current, patch, this.conn.clock.now());
    const r = fromApplication(next);
    try {
      await this.conn.q(
        'UPDATE applications SET uid=$2, name=$3, rate_limit=$4, metadata=$5, updated_at=$6 WHERE id=$1',
        [r.id, r.uid, r.name, r.rate_limit, r.metadata, r.updated_at],
      );
    } catch (error) {
      if (error instanceof ConflictError)
        throw new ConflictError(`an application with uid ${next.uid} exists`, { cause: error });
      throw error;
    }
    return next;
  }

  async deleteApplication(id: string): Promise<void> {
    const app = await this.getApplication(id);
    if (!app) throw new NotFoundError(`application ${id} not found`);
    await this.operational.transact(async (c, emit) => {
      // Its endpoints go with it (a foreign key's cascade): each is told as deleted.
      const { rows } = await c.query<{ id: string; uid: string | null }>(
        'SELECT id, uid FROM endpoints WHERE app_id = $1 ORDER BY id',
        [app.id],
      );
      await emit(
        rows.map(
          (e): OperationalEvent => ({
            type: 'endpoint.deleted',
            data: { appId: app.id, appUid: app.uid, endpointId: e.id, endpointUid: e.uid },
          }),
        ),
      );
      await c.query('DELETE FROM attempts WHERE app_id = $1', [app.id]);
      await c.query('DELETE FROM applications WHERE id = $1', [app.id]);
    });
  }

  // Event types

  async upsertEventType(input: NewEventType): Promise<EventType> {
    const { rows } = await this.conn.q<EventTypeRow>(
      `${EVENT_TYPE_UPSERT} RETURNING *`,
      this.eventTypeParams(input),
    );
    return toEventType(rows[0]!);
  }

  async createEventType(input: NewEventType): Promise<EventType> {
    // Svix's create: a new name, or an archived one revived; a live one returns no row.
    const { rows } = await this.conn.q<EventTypeRow>(
      `${EVENT_TYPE_UPSERT} WHERE event_types.archived RETURNING *`,
      this.eventTypeParams(input),
    );
    if (!rows[0]) throw new ConflictError(`event type ${input.name} already exists`);
    return toEventType(rows[0]);
  }

  private eventTypeParams(input: NewEventType): unknown[] {
    return [
      input.name,
      input.description ?? '',
      input.schemas ? JSON.stringify(input.schemas) : null,
      input.archived ?? false,
      input.deprecated ?? false,
      input.featureFlag ?? null,
      this.conn.clock.now(),
    ];
  }

  async getEventType(name: string): Promise<EventType | null> {
    const row = (await this.conn.q<EventTypeRow>('SELECT * FROM event_types WHERE name = $1', [name]))
      .rows[0];
    return row ? toEventType(row) : null;
  }

  async listEventTypes(page: PageRequest, filter: EventTypeFilter = {}): Promise<Page<EventType>> {
    const ks = keyset(page, 'ascending');
    const w = new Where();
    if (!filter.includeArchived) w.where.push('NOT archived');
    const sql = `SELECT * FROM event_types ${w.pageSql(ks, 'name', page.limit)}`;
    const { rows } = await this.conn.q<EventTypeRow>(sql, w.params);
    return pageFrom(rows.map(toEventType), page, ks, (e) => e.name);
  }

  async deleteEventType(name: string): Promise<void> {
    const { rowCount } = await this.conn.q('DELETE FROM event_types WHERE name = $1', [name]);
    if (rowCount === 0) throw new NotFoundError(`event type ${name} not found`);
  }

  // Endpoints

  private endpointParams(e: Endpoint): unknown[] {
    const r = fromEndpoint(e, this.conn.box);
    return [
      r.id,
      r.app_id,
      r.uid,
      r.url,
      r.description,
      r.filter_types,
      r.channels,
      r.secrets,
      r.headers,
      r.rate_limit,
      e.disabled,
      r.metadata,
      r.retry_schedule,
      r.timeout_ms,
      r.failing_since,
      r.created_at,
      r.updated_at,
      r.disabled_reason,
      r.disabled_at,
      r.filter,
      r.transformation_code,
      e.transformationEnabled,
    ];
  }

  /** Creates an endpoint; with `listener`, the listener endpoint of that name (seen now). */
  async createEndpoint(appId: string, input: NewEndpoint, listener: string | null = null): Promise<Endpoint> {
    const app = await this.getApplication(appId);
    if (!app) throw new NotFoundError(`application ${appId} not found`);
    const now = this.conn.clock.now();
    const endpoint = endpointRecord(blankEndpoint(newId('ep', now), app.id, now, input.secret), input, now);
    if (listener !== null) Object.assign(endpoint, { listener, listenerSeenAt: now });
    try {
      await this.operational.transact(async (c, emit) => {
        await c.query(
          `INSERT INTO endpoints (id, app_id, uid, url, description, filter_types, channels, secrets, headers,
             rate_limit, disabled, metadata, retry_schedule, timeout_ms, failing_since, created_at, updated_at,
             disabled_reason, disabled_at, filter, transformation_code, transformation_enabled, listener, listener_seen_at)
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)`,
          [...this.endpointParams(endpoint), endpoint.listener, endpoint.listenerSeenAt],
        );
        await emit(endpointChangeEvents(null, endpoint, this.names(endpoint, app.uid), now));
      });
    } catch (error) {
      if (error instanceof ConflictError)
        throw new ConflictError(`an endpoint with uid ${endpoint.uid} exists`, { cause: error });
      throw error;
    }
    return endpoint;
  }

  async getEndpoint(appId: string, idOrUid: string): Promise<Endpoint | null> {
    const row = (
      await this.conn.q<EndpointRow>(
        `SELECT * FROM endpoints WHERE app_id = ${APP_BY_KEY} AND (id = $2 OR uid = $2)
         ORDER BY id = $2 DESC LIMIT 1`,
        [appId, idOrUid],
      )
    ).rows[0];
    return row ? toEndpoint(row, this.conn.box) : null;
  }

  /** See `Store.findEndpoint`. */
  async findEndpoint(id: string): Promise<Endpoint | null> {
    const row = (await this.conn.q<EndpointRow>('SELECT * FROM endpoints WHERE id = $1', [id])).rows[0];
    return row ? toEndpoint(row, this.conn.box) : null;
  }

  /** See `Store.findEndpointsByUrl`. */
  async findEndpointsByUrl(prefix: string, limit: number): Promise<Endpoint[]> {
    const { from, to } = prefixRange(prefix);
    const { rows } = await this.conn.q<EndpointRow>(ENDPOINTS_BY_URL, [from, to, limit]);
    return rows.map((r) => toEndpoint(r, this.conn.box));
  }

  /** An endpoint of an application; throws `NotFoundError`. */
  async mustGetEndpoint(appId: string, idOrUid: string): Promise<Endpoint> {
    const endpoint = await this.getEndpoint(appId, idOrUid);
    if (!endpoint) throw new NotFoundError(`endpoint ${idOrUid} not found in application ${appId}`);
    return endpoint;
  }

  async listEndpoints(appId: string, page: PageRequest): Promise<Page<Endpoint>> {
    const app = await this.getApplication(appId);
    if (!app) throw new NotFoundError(`application ${appId} not found`);
    const ks = keyset(page, 'descending');
    const w = new Where();
    w.where.push(`app_id = ${w.param(app.id)}`);
    const sql = `SELECT * FROM endpoints ${w.pageSql(ks, 'id', page.limit)}`;
    const { rows } = await this.conn.q<EndpointRow>(sql, w.params);
    return pageFrom(
      rows.map((r) => toEndpoint(r, this.conn.box)),
      page,
      ks,
      (e) => e.id,
    );
  }

  /** The names an endpoint's operational events carry. */
  private names(e: Endpoint, appUid: string | null): EndpointNames {
    return { appId: e.appId, appUid, endpointId: e.id, endpointUid: e.uid };
  }

  private async saveEndpoint(current: Endpoint, next: Endpoint): Promise<void> {
    try {
      await this.operational.transact(async (c, emit) => {
        await c.query(
          `UPDATE endpoints SET app_id=$2, uid=$3, url=$4, description=$5, filter_types=$6, channels=$7, secrets=$8,
             headers=$9, rate_limit=$10, disabled=$11, metadata=$12, retry_schedule=$13, timeout_ms=$14,
             failing_since=$15, created_at=$16, updated_at=$17, disabled_reason=$18, disabled_at=$19,
             filter=$20, transformation_code=$21, transformation_enabled=$22
           WHERE id = $1`,
          this.endpointParams(next),
        );
        // A disabled endpoint receives nothing: what waited for it fails (recover re-sends it).
        if (next.disabled && !current.disabled) await failPending(c, next.id);
        const appUid = await this.operational.appUid(c, next.appId);
        await emit(endpointChangeEvents(current, next, this.names(next, appUid), next.updatedAt));
      });
    } catch (error) {
      if (error instanceof ConflictError)
        throw new ConflictError(`an endpoint with uid ${next.uid} exists`, { cause: error });
      throw error;
    }
  }

  /**
   * See `Store.openListener`. Two clients opening the same new name at once: the unique index
   * on (app_id, listener) lets one create it, and the other takes it up.
   */
  async openListener(appId: string, name: string, filterTypes?: string[] | null): Promise<Endpoint> {
    const app = await this.getApplication(appId);
    if (!app) throw new NotFoundError(`application ${appId} not found`);
    if (!LISTENER_NAME.test(name)) throw new ValidationError('name', 'must be 1 to 256 of a-z A-Z 0-9 - _ .');
    for (let tries = 0; ; tries++) {
      const row = (
        await this.conn.q<EndpointRow>('SELECT * FROM endpoints WHERE app_id = $1 AND listener = $2', [
          app.id,
          name,
        ])
      ).rows[0];
      if (row) {
        // Changed only when it must be: each change is an operational `endpoint.updated`, and a
        // listener reconnects often.
        const current = toEndpoint(row, this.conn.box);
        const next = listenerChanges(current, filterTypes)
          ? await this.updateEndpoint(app.id, row.id, {
              ...(filterTypes === undefined ? {} : { filterTypes }),
              disabled: false,
            })
          : current;
        const now = this.conn.clock.now();
        await this.conn.q('UPDATE endpoints SET listener_seen_at = $1 WHERE id = $2', [now, row.id]);
        return { ...next, listenerSeenAt: now };
      }
      try {
        return await this.createEndpoint(
          app.id,
          {
            url: listenerUrl(name),
            filterTypes: filterTypes ?? null,
            description: `herald listen (${name})`,
          },
          name,
        );
      } catch (error) {
        if (!(error instanceof ConflictError) || tries > 0) throw error;
      }
    }
  }

  /** See `Store.disableIdleListeners`. */
  async disableIdleListeners(seenBefore: number, limit: number): Promise<number> {
    const now = this.conn.clock.now();
    return this.operational.transact(async (c, emit) => {
      const { rows } = await c.query<{
        id: string;
        app_id: string;
        uid: string | null;
        failing_since: string | null;
      }>(
        `UPDATE endpoints SET disabled = true, updated_at = $1, disabled_reason = 'idle', disabled_at = $1
         WHERE id IN (
           SELECT id FROM endpoints
           WHERE listener IS NOT NULL AND NOT disabled AND COALESCE(listener_seen_at, created_at) < $2
           LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING id, app_id, uid, failing_since`,
        [now, seenBefore, limit],
      );
      const events: OperationalEvent[] = [];
      for (const e of rows) {
        await failPending(c, e.id);
        const appUid = await this.operational.appUid(c, e.app_id);
        const names = { appId: e.app_id, appUid, endpointId: e.id, endpointUid: e.uid };
        const failSince = e.failing_since === null ? now : Number(e.failing_since);
        events.push(endpointDisabledEvent(names, 'automatic', failSince, 'idle'));
      }
      await emit(events);
      return rows.length;
    });
  }

  async updateEndpoint(appId: string, id: string, patch: EndpointPatch): Promise<Endpoint> {
    const current = await this.mustGetEndpoint(appId, id);
    const next = endpointRecord(current, patch, this.conn.clock.now());
    await this.saveEndpoint(current, next);
    return next;
  }

  async rotateEndpointSecret(
    appId: string,
    id: string,
    newSecret: string,
    graceMs: number,
  ): Promise<Endpoint> {
    const current = await this.mustGetEndpoint(appId, id);
    const now = this.conn.clock.now();
    const next = {
      ...current,
      secrets: rotatedSecrets(current.secrets, newSecret, graceMs, now),
      updatedAt: now,
    };
    await this.saveEndpoint(current, next);
    return next;
  }

  async deleteEndpoint(appId: string, id: string): Promise<void> {
    const endpoint = await this.mustGetEndpoint(appId, id);
    await this.operational.transact(async (c, emit) => {
      await c.query('DELETE FROM attempts WHERE endpoint_id = $1', [endpoint.id]);
      await c.query('DELETE FROM endpoints WHERE id = $1', [endpoint.id]);
      const appUid = await this.operational.appUid(c, endpoint.appId);
      await emit(endpointChangeEvents(endpoint, null, this.names(endpoint, appUid), this.conn.clock.now()));
    });
  }
}
