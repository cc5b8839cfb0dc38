/**
 * The catalog on SQLite: applications, event types and endpoints. Statements are prepared
 * once, when the store opens.
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
import { conflictOnUnique, pageSql, type SqliteConnection, type Where } from './connection.js';
import type { SqliteOperational } from './operational.js';

interface EventTypeParams {
  name: string;
  description: string;
  schemas: string | null;
  archived: number;
  deprecated: number;
  feature_flag: string | null;
  now: number;
}

/** Endpoints of any application whose URL is in [@from, @to): a range of endpoints_by_url. */
export const ENDPOINTS_BY_URL =
  'SELECT * FROM endpoints WHERE url >= @from AND url < @to ORDER BY url LIMIT @limit';

function prepare({ db }: SqliteConnection) {
  return {
    // Every lookup by "id or uid" prefers the id: a uid equal to another row's id (possible
    // in data written before uids of id shape were refused) can never shadow that row.
    appById: db.prepare<[{ key: string }], ApplicationRow>(
      'SELECT * FROM applications WHERE id = @key OR uid = @key ORDER BY id = @key DESC LIMIT 1',
    ),
    insertApp: db.prepare<[ReturnType<typeof fromApplication>]>(
      `INSERT INTO applications (id, uid, name, rate_limit, metadata, created_at, updated_at)
       VALUES (@id, @uid, @name, @rate_limit, @metadata, @created_at, @updated_at)`,
    ),
    updateApp: db.prepare<[ReturnType<typeof fromApplication>]>(
      `UPDATE applications SET uid = @uid, name = @name, rate_limit = @rate_limit, metadata = @metadata,
       updated_at = @updated_at WHERE id = @id`,
    ),
    // Attempts have no foreign key (they outlive nothing but are many): deleted by hand.
    deleteAttemptsOfApp: db.prepare<[string]>('DELETE FROM attempts WHERE app_id = ?'),
    deleteApp: db.prepare<[string]>('DELETE FROM applications WHERE id = ?'),

    upsertEventType: db.prepare<[EventTypeParams], EventTypeRow>(
      `INSERT INTO event_types (name, description, schemas, archived, deprecated, feature_flag, created_at, updated_at)
       VALUES (@name, @description, @schemas, @archived, @deprecated, @feature_flag, @now, @now)
       ON CONFLICT (name) DO UPDATE SET description = excluded.description, schemas = excluded.schemas,
         archived = excluded.archived, deprecated = excluded.deprecated, feature_flag = excluded.feature_flag,
         updated_at = excluded.updated_at
       RETURNING *`,
    ),
    // Svix's create: a new name, or an archived one revived; a live one returns no row.
    createEventType: db.prepare<[EventTypeParams], EventTypeRow>(
      `INSERT INTO event_types (name, description, schemas, archived, deprecated, feature_flag, created_at, updated_at)
       VALUES (@name, @description, @schemas, @archived, @deprecated, @feature_flag, @now, @now)
       ON CONFLICT (name) DO UPDATE SET description = excluded.description, schemas = excluded.schemas,
         archived = excluded.archived, deprecated = excluded.deprecated, feature_flag = excluded.feature_flag,
         updated_at = excluded.updated_at
       WHERE event_types.archived = 1
       RETURNING *`,
    ),
    eventType: db.prepare<[string], EventTypeRow>('SELECT * FROM event_types WHERE name = ?'),
    deleteEventType: db.prepare<[string]>('DELETE FROM event_types WHERE name = ?'),

    endpointById: db.prepare<[{ appId: string; key: string }], EndpointRow>(
      `SELECT * FROM endpoints WHERE app_id = @appId AND (id = @key OR uid = @key)
       ORDER BY id = @key DESC LIMIT 1`,
    ),
    endpointAnyApp: db.prepare<[string], EndpointRow>('SELECT * FROM endpoints WHERE id = ?'),
    endpointsByUrl: db.prepare<[{ from: string; to: string; limit: number }], EndpointRow>(ENDPOINTS_BY_URL),
    enabledEndpointsOfApp: db.prepare<[string], EndpointRow>(
      'SELECT * FROM endpoints WHERE app_id = ? AND disabled = 0',
    ),
    insertEndpoint: db.prepare<[EndpointRow]>(
      `INSERT INTO endpoints (id, app_id, uid, url, description, filter_types, channels, secrets, headers,
         rate_limit, disabled, metadata, retry_schedule, timeout_ms, failing_since, disabled_reason, disabled_at,
         created_at, updated_at, filter, transformation_code, transformation_enabled, listener, listener_seen_at)
       VALUES (@id, @app_id, @uid, @url, @description, @filter_types, @channels, @secrets, @headers,
         @rate_limit, @disabled, @metadata, @retry_schedule, @timeout_ms, @failing_since, @disabled_reason,
         @disabled_at, @created_at, @updated_at, @filter, @transformation_code, @transformation_enabled, @listener,
         @listener_seen_at)`,
    ),
    updateEndpoint: db.prepare<[EndpointRow]>(
      `UPDATE endpoints SET uid = @uid, url = @url, description = @description, filter_types = @filter_types,
         channels = @channels, secrets = @secrets, headers = @headers, rate_limit = @rate_limit,
         disabled = @disabled, metadata = @metadata, retry_schedule = @retry_schedule,
         timeout_ms = @timeout_ms, failing_since = @failing_since, disabled_reason = @disabled_reason,
         disabled_at = @disabled_at, updated_at = @updated_at, filter = @filter,
         transformation_code = @transformation_code, transformation_enabled = @transformation_enabled
       WHERE id = @id`,
    ),
    listenerByName: db.prepare<[appId: string, name: string], EndpointRow>(
      'SELECT * FROM endpoints WHERE app_id = ? AND listener = ?',
    ),
    listenerSeen: db.prepare<[now: number, id: string]>(
      'UPDATE endpoints SET listener_seen_at = ? WHERE id = ?',
    ),
    idleListeners: db.prepare<
      [seenBefore: number, limit: number],
      { id: string; app_id: string; uid: string | null; failing_since: number | null }
    >(
      `SELECT id, app_id, uid, failing_since FROM endpoints
       WHERE listener IS NOT NULL AND disabled = 0 AND COALESCE(listener_seen_at, created_at) < ?
       LIMIT ?`,
    ),
    disableListener: db.prepare<{ now: number; id: string }>(
      `UPDATE endpoints SET disabled = 1, updated_at = @now, disabled_reason = 'idle', disabled_at = @now
       WHERE id = @id AND disabled = 0`,
    ),
    deleteAttemptsOfEndpoint: db.prepare<[string]>('DELETE FROM attempts WHERE endpoint_id = ?'),
    deleteEndpoint: db.prepare<[string]>('DELETE FROM endpoints WHERE id = ?'),
    endpointNamesOfApp: db.prepare<[string], { id: string; uid: string | null }>(
      'SELECT id, uid FROM endpoints WHERE app_id = ? ORDER BY id',
    ),
  };
}

/** Applications, event types and endpoints of a SQLite store. */
export class SqliteCatalog {
  private readonly stmt;

  /**
   * `failPending` fails an endpoint's pending deliveries (the queue's, when one is disabled);
   * `operational` writes the operational events of endpoint changes in their transaction.
   */
  constructor(
    private readonly conn: SqliteConnection,
    private readonly failPending: (endpointId: string) => void,
    private readonly operational: SqliteOperational,
  ) {
    this.stmt = prepare(conn);
  }

  // Applications

  /** The id of the application with this id or uid, or `null`. */
  appId(idOrUid: string): string | null {
    return this.stmt.appById.get({ key: idOrUid })?.id ?? null;
  }

  /** The id of the application with this id or uid; throws `NotFoundError`. */
  mustAppId(idOrUid: string): string {
    const id = this.appId(idOrUid);
    if (id === null) throw new NotFoundError(`application ${idOrUid} not found`);
    return id;
  }

  /** The application's enabled endpoints (fan-out candidates). */
  enabledEndpoints(appId: string): Endpoint[] {
    return this.stmt.enabledEndpointsOfApp.all(appId).map((r) => toEndpoint(r, this.conn.box));
  }

  createApplication(input: NewApplication): Application {
    const now = this.conn.clock.now();
    const app = applicationRecord(blankApplication(newId('app', now), now), input, now);
    conflictOnUnique(
      () => this.stmt.insertApp.run(fromApplication(app)),
      `an application with uid ${app.uid} exists`,
    );
    return app;
  }

  getApplication(idOrUid: string): Application | null {
    const row = this.stmt.appById.get({ key: idOrUid });
    return row ? toApplication(row) : null;
  }

  listApplications(page: PageRequest, filter: ApplicationFilter = {}): Page<Application> {
    const ks = keyset(page, 'descending');
    // The reserved application of the operational webhooks is not a user's.
    const w: Where = { where: ['id <> @reserved'], params: { reserved: OPERATIONAL_APP_ID } };
    if (filter.nameContains !== undefined) {
      w.where.push('instr(lower(name), lower(@nameContains)) > 0');
      w.params.nameContains = filter.nameContains;
    }
    const sql = `SELECT * FROM applications ${pageSql(w, ks, 'id', page.limit)}`;
    const rows = this.conn.cached<[Record<string, unknown>], ApplicationRow>(sql).all(w.params);
    return pageFrom(rows.map(toApplication), page, ks, (a) => a.id);
  }

  updateApplication(id: string, patch: ApplicationPatch): Application {
    const current = this.getApplication(id);
    if (!current) throw new NotFoundError(`application ${id} not found`);
    const next = applicationRecord(current, patch, this.conn.clock.now());
    conflictOnUnique(
      () => this.stmt.updateApp.run(fromApplication(next)),
      `an application with uid ${next.uid} exists`,
    );
    return next;
  }

  deleteApplication(id: string): void {
    const appId = this.mustAppId(id);
    const appUid = this.operational.appUid(appId);
    this.operational.transact((emit) => {
      // Its endpoints go with it (a foreign key's cascade): each is told as deleted.
      emit(
        this.stmt.endpointNamesOfApp.all(appId).map(
          (e): OperationalEvent => ({
            type: 'endpoint.deleted',
            data: { appId, appUid, endpointId: e.id, endpointUid: e.uid },
          }),
        ),
      );
      this.stmt.deleteAttemptsOfApp.run(appId);
      this.stmt.deleteApp.run(appId);
    });
  }

  // Event types

  upsertEventType(input: NewEventType): EventType {
    return toEventType(this.stmt.upsertEventType.get(this.eventTypeParams(input))!);
  }

  createEventType(input: NewEventType): EventType {
    const row = this.stmt.createEventType.get(this.eventTypeParams(input));
    if (!row) throw new ConflictError(`event type ${input.name} already exists`);
    return toEventType(row);
  }

  private eventTypeParams(input: NewEventType): EventTypeParams {
    return {
      name: input.name,
      description: input.description ?? '',
      schemas: input.schemas ? JSON.stringify(input.schemas) : null,
      archived: input.archived ? 1 : 0,
      deprecated: input.deprecated ? 1 : 0,
      feature_flag: input.featureFlag ?? null,
      now: this.conn.clock.now(),
    };
  }

  getEventType(name: string): EventType | null {
    const row = this.stmt.eventType.get(name);
    return row ? toEventType(row) : null;
  }

  listEventTypes(page: PageRequest, filter: EventTypeFilter = {}): Page<EventType> {
    const ks = keyset(page, 'ascending');
    const w: Where = { where: filter.includeArchived ? [] : ['archived = 0'], params: {} };
    const sql = `SELECT * FROM event_types ${pageSql(w, ks, 'name', page.limit)}`;
    const rows = this.conn.cached<[Record<string, unknown>], EventTypeRow>(sql).all(w.params);
    return pageFrom(rows.map(toEventType), page, ks, (e) => e.name);
  }

  deleteEventType(name: string): void {
    const { changes } = this.stmt.deleteEventType.run(name);
    if (changes === 0) throw new NotFoundError(`event type ${name} not found`);
  }

  // Endpoints

  /** Creates an endpoint; with `listener`, the listener endpoint of that name (seen now). */
  createEndpoint(appId: string, input: NewEndpoint, listener: string | null = null): Endpoint {
    const app = this.mustAppId(appId);
    const now = this.conn.clock.now();
    const endpoint = endpointRecord(blankEndpoint(newId('ep', now), app, now, input.secret), input, now);
    if (listener !== null) Object.assign(endpoint, { listener, listenerSeenAt: now });
    this.operational.transact((emit) => {
      conflictOnUnique(
        () => this.stmt.insertEndpoint.run(fromEndpoint(endpoint, this.conn.box)),
        `an endpoint with uid ${endpoint.uid} exists`,
      );
      emit(endpointChangeEvents(null, endpoint, this.names(endpoint), now));
    });
    return endpoint;
  }

  /** See `Store.openListener`. */
  openListener(appId: string, name: string, filterTypes?: string[] | null): Endpoint {
    const app = this.mustAppId(appId);
    if (!LISTENER_NAME.test(name)) throw new ValidationError('name', 'must be 1 to 256 of a-z A-Z 0-9 - _ .');
    return this.conn.immediate(() => {
      const row = this.stmt.listenerByName.get(app, name);
      if (!row)
        return this.createEndpoint(
          app,
          {
            url: listenerUrl(name),
            filterTypes: filterTypes ?? null,
            description: `herald listen (${name})`,
          },
          name,
        );
      // Changed only when it must be: each change is an operational `endpoint.updated`, and a
      // listener reconnects often.
      if (listenerChanges(toEndpoint(row, this.conn.box), filterTypes))
        this.updateEndpoint(app, row.id, {
          ...(filterTypes === undefined ? {} : { filterTypes }),
          disabled: false,
        });
      this.stmt.listenerSeen.run(this.conn.clock.now(), row.id);
      return toEndpoint(this.stmt.listenerByName.get(app, name)!, this.conn.box);
    });
  }

  /** See `Store.disableIdleListeners`. */
  disableIdleListeners(seenBefore: number, limit: number): number {
    return this.operational.transact((emit) => {
      const now = this.conn.clock.now();
      const events: OperationalEvent[] = [];
      for (const e of this.stmt.idleListeners.all(seenBefore, limit)) {
        if (this.stmt.disableListener.run({ now, id: e.id }).changes === 0) continue;
        this.failPending(e.id);
        const names = {
          appId: e.app_id,
          appUid: this.operational.appUid(e.app_id),
          endpointId: e.id,
          endpointUid: e.uid,
        };
        events.push(endpointDisabledEvent(names, 'automatic', e.failing_since ?? now, 'idle'));
      }
      emit(events);
      return events.length;
    });
  }

  getEndpoint(appId: string, idOrUid: string): Endpoint | null {
    const app = this.appId(appId);
    if (app === null) return null;
    const row = this.stmt.endpointById.get({ appId: app, key: idOrUid });
    return row ? toEndpoint(row, this.conn.box) : null;
  }

  findEndpoint(id: string): Endpoint | null {
    const row = this.stmt.endpointAnyApp.get(id);
    return row ? toEndpoint(row, this.conn.box) : null;
  }

  findEndpointsByUrl(prefix: string, limit: number): Endpoint[] {
    const rows = this.stmt.endpointsByUrl.all({ ...prefixRange(prefix), limit });
    return rows.map((r) => toEndpoint(r, this.conn.box));
  }

  private mustGetEndpoint(appId: string, idOrUid: string): Endpoint {
    const endpoint = this.getEndpoint(appId, idOrUid);
    if (!endpoint) throw new NotFoundError(`endpoint ${idOrUid} not found in application ${appId}`);
    return endpoint;
  }

  listEndpoints(appId: string, page: PageRequest): Page<Endpoint> {
    const ks = keyset(page, 'descending');
    const w: Where = { where: ['app_id = @appId'], params: { appId: this.mustAppId(appId) } };
    const sql = `SELECT * FROM endpoints ${pageSql(w, ks, 'id', page.limit)}`;
    const rows = this.conn.cached<[Record<string, unknown>], EndpointRow>(sql).all(w.params);
    return pageFrom(
      rows.map((r) => toEndpoint(r, this.conn.box)),
      page,
      ks,
      (e) => e.id,
    );
  }

  /** The names an endpoint's operational events carry. */
  private names(e: Endpoint): EndpointNames {
    return { appId: e.appId, appUid: this.operational.appUid(e.appId), endpointId: e.id, endpointUid: e.uid };
  }

  private saveEndpoint(current: Endpoint, next: Endpoint): void {
    this.operational.transact((emit) => {
      conflictOnUnique(
        () => this.stmt.updateEndpoint.run(fromEndpoint(next, this.conn.box)),
        `an endpoint with uid ${next.uid} exists`,
      );
      // A disabled endpoint receives nothing: what waited for it fails (recover re-sends it).
      if (next.disabled && !current.disabled) this.failPending(next.id);
      emit(endpointChangeEvents(current, next, this.names(next), next.updatedAt));
    });
  }

  updateEndpoint(appId: string, id: string, patch: EndpointPatch): Endpoint {
    const current = this.mustGetEndpoint(appId, id);
    const next = endpointRecord(current, patch, this.conn.clock.now());
    this.saveEndpoint(current, next);
    return next;
  }

  rotateEndpointSecret(appId: string, id: string, newSecret: string, graceMs: number): Endpoint {
    const current = this.mustGetEndpoint(appId, id);
    const now = this.conn.clock.now();
    const next = {
      ...current,
      secrets: rotatedSecrets(current.secrets, newSecret, graceMs, now),
      updatedAt: now,
    };
    this.saveEndpoint(current, next);
    return next;
  }

  deleteEndpoint(appId: string, id: string): void {
    const endpoint = this.mustGetEndpoint(appId, id);
    this.operational.transact((emit) => {
      this.stmt.deleteAttemptsOfEndpoint.run(endpoint.id);
      this.stmt.deleteEndpoint.run(endpoint.id);
      emit(endpointChangeEvents(endpoint, null, this.names(endpoint), this.conn.clock.now()));
    });
  }
}
