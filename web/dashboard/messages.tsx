/**
 * Messages: an application's message log (filters by event type, channel, tag and time,
 * paged through the API), finding a message by its id or `eventId`, and a message's page:
 * every endpoint it went to, with each one's attempts and a resend.
 */
import { Inbox, Search } from 'lucide-preact';
import { useState } from 'preact/hooks';
import { ApiError, type Message, ok } from '../shared/api.ts';
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
}

const NO_FILTERS: LogFilters = { eventType: '', channel: '', tag: '', preset: '', after: '', before: '' };

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

/** An application's messages, newest first, 50 a page. */
export function MessageLog({ appId }: { appId: string }) {
  const { api } = useDash();
  const [draft, setDraft] = useState<LogFilters>(NO_FILTERS);
  const [filters, setFilters] = useState<LogFilters>(NO_FILTERS);
  const [from, setFrom] = useState<string | null>(null);
  const [trail, setTrail] = useState<(string | null)[]>([]);
  const log = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/msg', {
          params: {
            path: { app_id: appId },
            query: {
              limit: '50',
              with_content: 'false',
              ...(from ? { iterator: from } : {}),
              ...(filters.eventType ? { event_types: filters.eventType } : {}),
              ...(filters.channel ? { channel: filters.channel } : {}),
              ...(filters.tag ? { tag: filters.tag } : {}),
              ...windowOf(filters),
            },
          },
        }),
      ),
    [appId, filters, from],
  );
  const set = (k: keyof LogFilters) => (e: Event) =>
    setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
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
      <ErrorNote error={log.error} />
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

/**
 * Finds a message by its id or `eventId`: in one application when it is named (one request),
 * or else in each application in turn (the API has no lookup across applications; a message
 * id names its application only inside Herald), up to {@link SEARCH_APPS}.
 */
const SEARCH_APPS = 1000;

type Hit = { appId: string; appName: string; message: Message };

async function findMessage(api: ReturnType<typeof useDash>['api'], q: string, app: string): Promise<Hit[]> {
  const lookup = async (appId: string, appName: string): Promise<Hit | null> => {
    try {
      const message = await ok(
        api.GET('/api/v1/app/{app_id}/msg/{msg_id}', {
          params: { path: { app_id: appId, msg_id: q }, query: { with_content: 'false' } },
        }),
      );
      return { appId, appName, message };
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 422)) return null;
      throw e;
    }
  };
  if (app) {
    const a = await ok(api.GET('/api/v1/app/{app_id}', { params: { path: { app_id: app } } }));
    const hit = await lookup(a.id, a.name);
    return hit ? [hit] : [];
  }
  const hits: Hit[] = [];
  let iterator: string | null = null;
  let seen = 0;
  do {
    const page: Awaited<ReturnType<typeof listApps>> = await listApps(api, iterator);
    // Eight at a time: quick for a few hundred applications, gentle on the server.
    for (let i = 0; i < page.data.length; i += 8) {
      const found = await Promise.all(page.data.slice(i, i + 8).map((a) => lookup(a.id, a.name)));
      for (const h of found) if (h) hits.push(h);
    }
    seen += page.data.length;
    iterator = page.done ? null : page.iterator;
  } while (iterator && seen < SEARCH_APPS);
  return hits;
}

function listApps(api: ReturnType<typeof useDash>['api'], iterator: string | null) {
  return ok(
    api.GET('/api/v1/app', { params: { query: { limit: '250', ...(iterator ? { iterator } : {}) } } }),
  );
}

export function MessageSearch() {
  const { api, go } = useDash();
  const [q, setQ] = useState('');
  const [app, setApp] = useState('');
  const [asked, setAsked] = useState<{ q: string; app: string } | null>(null);
  const hits = useLoad(
    () => (asked ? findMessage(api, asked.q, asked.app) : Promise.resolve(null)),
    [asked?.q, asked?.app],
  );
  return (
    <section>
      <PageHeader
        title="Find a message"
        sub="By its message id (msg_…) or the eventId your product sent it with."
      />
      <form
        class="filters"
        aria-label="Search"
        onSubmit={(e) => {
          e.preventDefault();
          if (q.trim()) setAsked({ q: q.trim(), app: app.trim() });
        }}
      >
        <label>
          Message id or eventId
          <input value={q} required onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Application (id or uid; empty: all)
          <input value={app} onInput={(e) => setApp((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="with-icon">
          <Search size={15} aria-hidden="true" /> Find
        </button>
      </form>
      <ErrorNote error={hits.error} />
      {asked && hits.loading && <Loading what="the message" />}
      {hits.data && hits.data.length === 0 && (
        <EmptyState icon={<Inbox size={32} aria-hidden="true" />} title="No message found">
          <p>
            No message has the id or eventId “{asked?.q}”{asked?.app ? ` in ${asked.app}` : ''}.
          </p>
        </EmptyState>
      )}
      {hits.data && hits.data.length > 0 && (
        <Table
          caption="Messages found"
          rows={hits.data}
          rowKey={(h) => `${h.appId}/${h.message.id}`}
          columns={[
            {
              label: 'Message',
              class: 'wide',
              cell: (h) => (
                <>
                  <a
                    href={`#/apps/${h.appId}/msg/${h.message.id}`}
                    onClick={(e) => {
                      e.preventDefault();
                      go(`/apps/${h.appId}/msg/${h.message.id}`);
                    }}
                  >
                    <code class="plain">{h.message.eventType}</code>
                  </a>
                  <span class="sub">{h.message.eventId ? `event id ${h.message.eventId}` : ''}</span>
                </>
              ),
            },
            { label: 'Application', cell: (h) => <a href={`#/apps/${h.appId}`}>{h.appName}</a> },
            { label: 'Accepted', cell: (h) => <Time iso={h.message.timestamp} /> },
          ]}
        />
      )}
    </section>
  );
}

const DELIVERY: Record<number, { word: string; tone: 'ok' | 'bad' | 'warn' | 'neutral' }> = {
  0: { word: 'Delivered', tone: 'ok' },
  1: { word: 'Pending', tone: 'warn' },
  2: { word: 'Failed', tone: 'bad' },
  3: { word: 'Sending', tone: 'neutral' },
};

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
