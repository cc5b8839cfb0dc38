/**
 * Applications: the list (searched by name, uid or id, paged through the API), and one
 * application's endpoints, messages and failures, with a link into its customer's portal.
 */
import { Boxes, ExternalLink, Search } from 'lucide-preact';
import { useMemo, useState } from 'preact/hooks';
import { ApiError, type Application, ok } from '../shared/api.ts';
import { permissionsOf, View, type ViewContext } from '../shared/context.ts';
import { Id, Time } from '../shared/format.tsx';
import { EmptyState, ErrorNote, Loading, PageHeader, Table, useLoad } from '../shared/ui.tsx';
import { EndpointForm } from '../shared/views/endpoint-form.tsx';
import { EndpointList } from '../shared/views/endpoint-list.tsx';
import { EndpointPage } from '../shared/views/endpoint-page.tsx';
import { MessagePage } from '../shared/views/message-page.tsx';
import { Failures } from './failures.tsx';
import { MessageLog } from './messages.tsx';
import { useDash } from './session.ts';

/** Applications per page. */
const PAGE = 50;

interface Found {
  rows: Application[];
  /** Where the next page starts; null: the end. */
  iterator: string | null;
  /** The id or uid that matched exactly, shown first. */
  exact: Application | null;
}

/**
 * A page of applications; with `q`, the one whose id or uid is `q` (one request) and a page
 * of those whose name contains it (the server's `name` filter).
 */
async function findApps(
  api: ReturnType<typeof useDash>['api'],
  q: string,
  from: string | null,
): Promise<Found> {
  let exact: Application | null = null;
  if (q && !from) {
    try {
      exact = await ok(api.GET('/api/v1/app/{app_id}', { params: { path: { app_id: q } } }));
    } catch (e) {
      if (!(e instanceof ApiError && (e.status === 404 || e.status === 422))) throw e;
    }
  }
  const query = { limit: String(PAGE), ...(from ? { iterator: from } : {}), ...(q ? { name: q } : {}) };
  const page = await ok(api.GET('/api/v1/app', { params: { query } }));
  const rows = page.data.filter((a) => a.id !== exact?.id);
  return { rows, iterator: page.done ? null : page.iterator, exact };
}

export function AppList() {
  const { api } = useDash();
  const [q, setQ] = useState('');
  const [query, setQuery] = useState('');
  const [from, setFrom] = useState<string | null>(null);
  const [trail, setTrail] = useState<(string | null)[]>([]);
  const found = useLoad(() => findApps(api, query, from), [query, from]);
  const rows = found.data ? [...(found.data.exact ? [found.data.exact] : []), ...found.data.rows] : [];
  return (
    <section>
      <PageHeader title="Applications" sub="Each of your customers, with their endpoints and messages." />
      <form
        class="filters"
        aria-label="Search"
        onSubmit={(e) => {
          e.preventDefault();
          setTrail([]);
          setFrom(null);
          setQuery(q.trim());
        }}
      >
        <label>
          Name, uid or id
          <input
            type="search"
            value={q}
            placeholder="acme, app_2bX…"
            onInput={(e) => setQ((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" class="with-icon">
          <Search size={15} aria-hidden="true" /> Search
        </button>
      </form>
      <ErrorNote error={found.error} />
      {found.loading && <Loading what="applications" />}
      {found.data && rows.length === 0 && (
        <EmptyState icon={<Boxes size={32} aria-hidden="true" />} title="No application found">
          {query ? <p>No application has the id or uid “{query}”, or a name containing it.</p> : null}
        </EmptyState>
      )}
      {rows.length > 0 && (
        <Table
          caption="Applications"
          rows={rows}
          rowKey={(a) => a.id}
          columns={[
            {
              label: 'Application',
              class: 'wide',
              cell: (a) => (
                <>
                  <a href={`#/apps/${a.id}`}>{a.name}</a>
                  <span class="sub">{a.uid ? `uid ${a.uid}` : ''}</span>
                </>
              ),
            },
            { label: 'Id', cell: (a) => <Id id={a.id} /> },
            { label: 'Created', class: 'hide-narrow', cell: (a) => <Time iso={a.createdAt} /> },
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
            Previous
          </button>
        )}
        {found.data?.iterator && (
          <button
            type="button"
            class="secondary outline small"
            onClick={() => {
              setTrail([...trail, from]);
              setFrom(found.data!.iterator);
            }}
          >
            Next
          </button>
        )}
      </div>
    </section>
  );
}

/** Mints a portal link for the application (app-portal-access) and opens it in a new tab. */
function OpenPortal({ appId }: { appId: string }) {
  const { api } = useDash();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const open = async () => {
    setBusy(true);
    setError(undefined);
    // Opened before the request: a window opened after an await is a pop-up browsers block.
    const tab = window.open('', '_blank');
    try {
      const { url } = await ok(
        api.POST('/api/v1/auth/app-portal-access/{app_id}', {
          params: { path: { app_id: appId } },
          body: { expiry: 3600 },
        }),
      );
      if (tab) {
        tab.opener = null;
        tab.location.href = url;
      } else location.assign(url);
    } catch (e) {
      tab?.close();
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span>
      <button
        type="button"
        class="secondary outline with-icon"
        onClick={open}
        aria-busy={busy ? 'true' : undefined}
        title="Mints a portal link valid for an hour"
      >
        <ExternalLink size={15} aria-hidden="true" /> Open this customer's portal
      </button>
      <ErrorNote error={error} />
    </span>
  );
}

export function AppPage({ appId, rest }: { appId: string; rest: string[] }) {
  const { api, go } = useDash();
  const app = useLoad(
    () => ok(api.GET('/api/v1/app/{app_id}', { params: { path: { app_id: appId } } })),
    [appId],
  );
  const base = `/apps/${appId}`;
  const view = useMemo<ViewContext>(
    () => ({
      api,
      appId,
      can: permissionsOf(false, null),
      link: (r) => `#${base}${r}`,
      go: (r) => go(`${base}${r}`),
    }),
    [api, appId],
  );
  const [tab, id, sub, subId] = rest;
  const tabs: [string, string][] = [
    ['endpoints', 'Endpoints'],
    ['messages', 'Messages'],
    ['failures', 'Failures'],
  ];
  const current = tab ?? 'endpoints';
  let body = <EndpointList />;
  if (tab === 'messages') body = <MessageLog appId={appId} />;
  else if (tab === 'failures') body = <Failures appId={appId} />;
  else if (tab === 'endpoints' && id === 'new') body = <EndpointForm />;
  else if (tab === 'endpoints' && id && sub === 'messages' && subId)
    body = <MessagePage endpointId={id} msgId={subId} />;
  else if (tab === 'endpoints' && id && sub !== 'edit') body = <EndpointPage key={id} endpointId={id} />;
  return (
    <View.Provider value={view}>
      <p class="crumbs">
        <a href="#/apps">Applications</a> /
      </p>
      <ErrorNote error={app.error} />
      {app.data && (
        <PageHeader
          title={app.data.name}
          sub={
            <>
              <Id id={app.data.id} />
              {app.data.uid && <> · uid {app.data.uid}</>} · created <Time iso={app.data.createdAt} />
            </>
          }
          actions={<OpenPortal appId={app.data.id} />}
        />
      )}
      <nav aria-label="Application" class="tabs">
        <ul>
          {tabs.map(([t, label]) => (
            <li key={t}>
              <a href={`#${base}/${t}`} aria-current={current === t ? 'page' : undefined}>
                {label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {body}
    </View.Provider>
  );
}
