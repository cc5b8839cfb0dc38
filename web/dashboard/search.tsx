/**
 * Search everything: one box, across every application, on the server (`GET /api/v1/search`):
 * an application id or uid, a message id, eventId or the Idempotency-Key it was created with,
 * an endpoint id, URL, URL prefix or bare host. What matched is listed by kind, each with what
 * it matched on and a link to its page. The query is kept in the route (`#/search?q=`), so a
 * reload or a shared link searches again.
 */
import { Boxes, Search as SearchIcon, Webhook } from 'lucide-preact';
import { useState } from 'preact/hooks';
import { ok } from '../shared/api.ts';
import { Id, Time } from '../shared/format.tsx';
import { Badge, EmptyState, ErrorNote, Loading, PageHeader, Table, useLoad } from '../shared/ui.tsx';
import { useDash } from './session.ts';

/** What a match was found by, in words. */
const MATCHED: Record<string, string> = {
  id: 'id',
  uid: 'uid',
  eventId: 'eventId',
  idempotencyKey: 'idempotency key',
  url: 'URL',
  urlPrefix: 'URL prefix',
};

export function Search({ query }: { query: string }) {
  const { api, go } = useDash();
  const [q, setQ] = useState(query);
  const found = useLoad(
    () =>
      query ? ok(api.GET('/api/v1/search', { params: { query: { q: query } } })) : Promise.resolve(null),
    [query],
  );
  const r = found.data;
  const nothing = r && r.applications.length + r.messages.length + r.endpoints.length === 0;
  return (
    <section>
      <PageHeader
        title="Search"
        sub="Across every application: paste a message id, an eventId, an idempotency key, an endpoint URL or a host."
      />
      <form
        class="filters"
        aria-label="Search"
        onSubmit={(e) => {
          e.preventDefault();
          if (q.trim()) go(`/search?q=${encodeURIComponent(q.trim())}`);
        }}
      >
        <label class="grow">
          Search everything
          <input
            type="search"
            value={q}
            required
            placeholder="msg_2bX…, order-1234, https://hooks.example.com/"
            onInput={(e) => setQ((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" class="with-icon">
          <SearchIcon size={15} aria-hidden="true" /> Search
        </button>
      </form>
      <ErrorNote error={found.error} />
      {query && found.loading && <Loading what="matches" />}
      {nothing && (
        <EmptyState icon={<SearchIcon size={32} aria-hidden="true" />} title="Nothing found">
          <p>
            No application, message or endpoint has the id, uid, eventId, idempotency key or URL “{query}”.
          </p>
        </EmptyState>
      )}
      {r && r.applications.length > 0 && (
        <Table
          caption="Applications"
          rows={r.applications}
          rowKey={(a) => a.application.id}
          columns={[
            {
              label: 'Application',
              class: 'wide',
              cell: (a) => (
                <a href={`#/apps/${a.application.id}`} class="with-icon">
                  <Boxes size={14} aria-hidden="true" /> {a.application.name}
                </a>
              ),
            },
            { label: 'Matched', cell: (a) => <Badge tone="neutral">{MATCHED[a.matched]}</Badge> },
            { label: 'Id', cell: (a) => <Id id={a.application.id} /> },
          ]}
        />
      )}
      {r && r.messages.length > 0 && (
        <Table
          caption="Messages"
          rows={r.messages}
          rowKey={(m) => `${m.matched}/${m.message.id}`}
          columns={[
            {
              label: 'Message',
              class: 'wide',
              cell: (m) => (
                <>
                  <a href={`#/apps/${m.app.id}/msg/${m.message.id}`}>
                    <code class="plain">{m.message.eventType}</code>
                  </a>
                  <span class="sub">
                    {m.message.eventId ? `event id ${m.message.eventId}` : m.message.id}
                  </span>
                </>
              ),
            },
            { label: 'Matched', cell: (m) => <Badge tone="neutral">{MATCHED[m.matched]}</Badge> },
            { label: 'Application', cell: (m) => <a href={`#/apps/${m.app.id}/messages`}>{m.app.name}</a> },
            { label: 'Accepted', cell: (m) => <Time iso={m.message.timestamp} /> },
          ]}
        />
      )}
      {r && r.endpoints.length > 0 && (
        <Table
          caption="Endpoints"
          rows={r.endpoints}
          rowKey={(e) => e.endpoint.id}
          columns={[
            {
              label: 'Endpoint',
              class: 'wide',
              cell: (e) => (
                <a class="url with-icon" href={`#/apps/${e.app.id}/endpoints/${e.endpoint.id}`}>
                  <Webhook size={14} aria-hidden="true" /> {e.endpoint.url}
                </a>
              ),
            },
            { label: 'Matched', cell: (e) => <Badge tone="neutral">{MATCHED[e.matched]}</Badge> },
            { label: 'Application', cell: (e) => <a href={`#/apps/${e.app.id}`}>{e.app.name}</a> },
            { label: 'Status', cell: (e) => (e.endpoint.disabled ? 'Disabled' : 'Enabled') },
          ]}
        />
      )}
      {r && !r.done && <p class="muted">More match than shown: paste more of it to narrow the search.</p>}
    </section>
  );
}
