/**
 * Messages: an application's message log (filters by endpoint, delivery status, event type,
 * channel, tag and time, on the server, paged through the API), and a message's page: every
 * endpoint it went to, with each one's attempts and a resend.
 */
import { Inbox } from 'lucide-preact';
import { useState } from 'preact/hooks';
import { ok } from '../shared/api.ts';
import { permissionsOf, View, type ViewContext } from '../shared/context.ts';
import { duration, Id, Time } from '../shared/format.tsx';
import { Badge, EmptyState, ErrorNote, Loading, PageHeader, Table, useLoad } from '../shared/ui.tsx';
import { AttemptDetail, AttemptStatus, ResendButton } from '../shared/views/attempts.tsx';
import { useDash } from './session.ts';

/** Time presets of the log: how far back, in hours ('' for all time, 'custom' for a range). */
const PRESETS: [string, string][] = [
  ['', 'Any time'],
  ['1', 'Last hour'],
  ['24', 'Last day'],
  ['168', 'Last 7 days'],
  ['custom', 'Custom range'],
];

interface LogFilters {
  eventType: string;
  channel: string;
  tag: string;
  preset: string;
  after: string;
  before: string;
  /** An endpoint's id ('' for any). */
  endpoint: string;
  /** Svix's status code of a delivery ('' for any). */
  status: string;
}

const NO_FILTERS: LogFilters = {
  eventType: '',
  channel: '',
  tag: '',
  preset: '',
  after: '',
  before: '',
  endpoint: '',
  status: '',
};

/** How a delivery stands, in words and colour, by Svix's status code. */
const DELIVERY: Record<number, { word: string; tone: 'ok' | 'bad' | 'warn' | 'neutral' }> = {
  0: { word: 'Delivered', tone: 'ok' },
  1: { word: 'Pending', tone: 'warn' },
  2: { word: 'Failed', tone: 'bad' },
  3: { word: 'Sending', tone: 'neutral' },
};

/**
 * The statuses of the filter bar. Failed and pending are filtered across every endpoint
 * (`GET /app/{app}/msg?status=`, on an index of those two); delivered and sending only for
 * one endpoint (`GET …/endpoint/{ep}/msg?status=`).
 */
const STATUSES: [string, string, 'any endpoint' | 'one endpoint'][] = [
  ['2', 'Failed', 'any endpoint'],
  ['1', 'Pending', 'any endpoint'],
  ['0', 'Delivered', 'one endpoint'],
  ['3', 'Sending', 'one endpoint'],
];

/** The window of the filters, as the API's `after`/`before`. */
function windowOf(f: LogFilters): { after?: string; before?: string } {
  if (f.preset === 'custom')
    return {
      ...(f.after ? { after: new Date(f.after).toISOString() } : {}),
      ...(f.before ? { before: new Date(f.before).toISOString() } : {}),
    };
  // `before` now: the page is the newest of the window (with only `after`, it is the oldest).
  if (f.preset)
    return {
      after: new Date(Date.now() - Number(f.preset) * 3_600_000).toISOString(),
      before: new Date().toISOString(),
    };
  return {};
}

type Api = ReturnType<typeof useDash>['api'];

/**
 * A page of the log: the application's messages, or with an endpoint chosen the messages sent
 * to it (Svix's listAttemptedMessages), each with its delivery status there.
 */
async function logPage(api: Api, appId: string, f: LogFilters, from: string | null) {
  const query = {
    limit: '50',
    with_content: 'false' as const,
    ...(from ? { iterator: from } : {}),
    ...(f.eventType ? { event_types: f.eventType } : {}),
    ...(f.channel ? { channel: f.channel } : {}),
    ...(f.tag ? { tag: f.tag } : {}),
    ...(f.status ? { status: f.status } : {}),
    ...windowOf(f),
  };
  if (f.endpoint)
    return ok(
      api.GET('/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg', {
        params: { path: { app_id: appId, endpoint_id: f.endpoint }, query },
      }),
    );
  const page = await ok(api.GET('/api/v1/app/{app_id}/msg', { params: { path: { app_id: appId }, query } }));
  return { ...page, data: page.data.map((m) => ({ ...m, status: undefined as number | undefined })) };
}

/** An application's messages, newest first, 50 a page. */
export function MessageLog({ appId }: { appId: string }) {
  const { api } = useDash();
  const [draft, setDraft] = useState<LogFilters>(NO_FILTERS);
  const [filters, setFilters] = useState<LogFilters>(NO_FILTERS);
  const [from, setFrom] = useState<string | null>(null);
  const [trail, setTrail] = useState<(string | null)[]>([]);
  const endpoints = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/endpoint', {
          params: { path: { app_id: appId }, query: { limit: '250' } },
        }),
      ),
    [appId],
  );
  const log = useLoad(() => logPage(api, appId, filters, from), [appId, filters, from]);
  const set = (k: keyof LogFilters) => (e: Event) => {
    const next = { ...draft, [k]: (e.target as HTMLInputElement).value };
    // Delivered and sending are filtered for one endpoint only.
    if (!next.endpoint && STATUSES.some(([v, , where]) => v === next.status && where === 'one endpoint'))
      next.status = '';
    setDraft(next);
  };
  return (
    <section>
      <form
        class="filters"
        aria-label="Message filters"
        onSubmit={(e) => {
          e.preventDefault();
          setTrail([]);
          setFrom(null);
          setFilters({ ...draft });
        }}
      >
        <label>
          Endpoint
          <select value={draft.endpoint} onChange={set('endpoint')}>
            <option value="">Any endpoint</option>
            {endpoints.data?.data.map((ep) => (
              <option key={ep.id} value={ep.id}>
                {ep.url}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={draft.status} onChange={set('status')}>
            <option value="">Any status</option>
            {STATUSES.filter(([, , where]) => draft.endpoint || where === 'any endpoint').map(([v, l]) => (
              <option key={v} value={v}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Event type
          <input value={draft.eventType} onInput={set('eventType')} placeholder="order.created" />
        </label>
        <label>
          Channel
          <input value={draft.channel} onInput={set('channel')} />
        </label>
        <label>
          Tag
          <input value={draft.tag} onInput={set('tag')} />
        </label>
        <label>
          When
          <select value={draft.preset} onChange={set('preset')}>
            {PRESETS.map(([v, l]) => (
              <option key={v} value={v}>
                {l}
              </option>
            ))}
          </select>
        </label>
        {draft.preset === 'custom' && (
          <>
            <label>
              From
              <input type="datetime-local" value={draft.after} onInput={set('after')} />
            </label>
            <label>
              To
              <input type="datetime-local" value={draft.before} onInput={set('before')} />
            </label>
          </>
        )}
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={log.error ?? endpoints.error} />
      {log.loading && <Loading what="messages" />}
      {log.data && log.data.data.length === 0 && (
        <EmptyState icon={<Inbox size={32} aria-hidden="true" />} title="No messages">
          <p>No message of this application matches.</p>
        </EmptyState>
      )}
      {log.data && log.data.data.length > 0 && (
        <Table
          caption="Messages"
          rows={log.data.data}
          rowKey={(m) => m.id}
          columns={[
            {
              label: 'Message',
              class: 'wide',
              cell: (m) => (
                <>
                  <a href={`#/apps/${appId}/msg/${m.id}`}>
                    <code class="plain">{m.eventType}</code>
                  </a>
                  <span class="sub">{m.eventId ? `event id ${m.eventId}` : m.id}</span>
                </>
              ),
            },
            ...(filters.endpoint
              ? [
                  {
                    label: 'At this endpoint',
                    cell: (m: { status?: number }) => {
                      const s = DELIVERY[m.status ?? 1] ?? DELIVERY[1]!;
                      return <Badge tone={s.tone}>{s.word}</Badge>;
                    },
                  },
                ]
              : []),
            { label: 'Id', cell: (m) => <Id id={m.id} /> },
            { label: 'Accepted', cell: (m) => <Time iso={m.timestamp} /> },
          ]}
        />
      )}
      <div class="pager">
        {trail.length > 0 && (
          <button
            type="button"
            class="secondary outline small"
            onClick={() => {
              setFrom(trail.at(-1) ?? null);
              setTrail(trail.slice(0, -1));
            }}
          >
            Newer
          </button>
        )}
        {log.data && !log.data.done && log.data.iterator && (
          <button
            type="button"
            class="secondary outline small"
            onClick={() => {
              setTrail([...trail, from]);
              setFrom(log.data!.iterator);
            }}
          >
            Older
          </button>
        )}
      </div>
    </section>
  );
}

/** A message: its payload, and each endpoint it went to with that endpoint's attempts. */
export function MessageDetail({ appId, msgId }: { appId: string; msgId: string }) {
  const { api } = useDash();
  const message = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/msg/{msg_id}', { params: { path: { app_id: appId, msg_id: msgId } } }),
      ),
    [appId, msgId],
  );
  const app = useLoad(
    () => ok(api.GET('/api/v1/app/{app_id}', { params: { path: { app_id: appId } } })),
    [appId],
  );
  const destinations = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/msg/{msg_id}/endpoint', {
          params: { path: { app_id: appId, msg_id: msgId }, query: { limit: '250' } },
        }),
      ),
    [appId, msgId],
  );
  const attempts = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/attempt/msg/{msg_id}', {
          params: { path: { app_id: appId, msg_id: msgId }, query: { limit: '250' } },
        }),
      ),
    [appId, msgId],
  );
  const view: ViewContext = {
    api,
    appId,
    can: permissionsOf(false, null),
    link: (r) => `#/apps/${appId}${r}`,
    go: (r) => {
      location.hash = `/apps/${appId}${r}`;
    },
  };
  const reload = () => {
    destinations.reload();
    attempts.reload();
  };
  const m = message.data;
  return (
    <View.Provider value={view}>
      <p class="crumbs">
        <a href="#/apps">Applications</a> / <a href={`#/apps/${appId}/messages`}>{app.data?.name ?? appId}</a>{' '}
        /
      </p>
      <ErrorNote error={message.error ?? destinations.error ?? attempts.error} />
      {!m && !message.error && <Loading what="the message" />}
      {m && (
        <>
          <PageHeader
            title={<code class="plain">{m.eventType}</code>}
            sub={
              <>
                <Id id={m.id} /> · <Time iso={m.timestamp} />
                {m.eventId && <> · event id {m.eventId}</>}
              </>
            }
            actions={
              <button type="button" class="secondary outline small" onClick={reload}>
                Refresh
              </button>
            }
          />
          <details>
            <summary>Payload</summary>
            <pre class="json">{JSON.stringify(m.payload, null, 2)}</pre>
          </details>
        </>
      )}
      <h2>Endpoints</h2>
      {destinations.data?.data.length === 0 && <p class="muted">No endpoint gets this message.</p>}
      {destinations.data?.data.map((d) => {
        const mine = (attempts.data?.data ?? []).filter((a) => a.endpointId === d.id);
        const s = DELIVERY[d.status] ?? DELIVERY[1]!;
        return (
          <article key={d.id} class="card" aria-label={`Deliveries to ${d.url}`}>
            <div class="page-header">
              <h3 class="with-icon">
                <Badge tone={s.tone}>{s.word}</Badge>
                <a class="url" href={`#/apps/${appId}/endpoints/${d.id}`}>
                  {d.url}
                </a>
              </h3>
              <ResendButton msgId={msgId} endpointId={d.id} onSent={() => setTimeout(reload, 500)} />
            </div>
            {d.nextAttempt && (
              <p class="muted">
                Next attempt <Time iso={d.nextAttempt} />
              </p>
            )}
            {mine.length === 0 ? (
              <p class="muted">No attempt yet.</p>
            ) : (
              <Table
                caption={`Attempts to ${d.url}`}
                rows={mine}
                rowKey={(a) => a.id}
                columns={[
                  { label: 'Outcome', cell: (a) => <AttemptStatus attempt={a} /> },
                  { label: 'When', cell: (a) => <Time iso={a.timestamp} /> },
                  { label: 'Took', class: 'num', cell: (a) => duration(a.responseDurationMs) },
                  {
                    label: 'Trigger',
                    cell: (a) => (a.triggerType === 1 ? 'Manual' : 'Scheduled'),
                  },
                  {
                    label: 'Detail',
                    class: 'wide',
                    cell: (a) => (
                      <details>
                        <summary>{a.errorMessage ?? (a.response.slice(0, 60) || 'No response body')}</summary>
                        <AttemptDetail attempt={a} />
                      </details>
                    ),
                  },
                ]}
              />
            )}
          </article>
        );
      })}
    </View.Provider>
  );
}
