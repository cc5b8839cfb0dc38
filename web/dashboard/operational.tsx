/**
 * Operational webhook endpoints: where Herald tells you about itself (an endpoint disabled,
 * a message's attempts exhausted, a background task finished). The list; add or edit one
 * (URL, description, the events it gets, rate limit, disabled); its signing secret (shown,
 * copied, rotated with a grace period) and custom headers; delete (confirmed).
 */
import { Bell, Eye, EyeOff, KeyRound, Plus, RotateCw } from 'lucide-preact';
import { useState } from 'preact/hooks';
import { ApiError, apiError, ok } from '../shared/api.ts';
import type { paths } from '../shared/api-types.ts';
import { CopyButton, Time } from '../shared/format.tsx';
import {
  Badge,
  ConfirmDialog,
  EmptyState,
  ErrorNote,
  Field,
  Loading,
  PageHeader,
  Pager,
  Table,
  useLoad,
  usePages,
} from '../shared/ui.tsx';
import { useDash } from './session.ts';

/** Rows a page of the list. */
const PAGE = 50;

type OpEndpoint =
  paths['/api/v1/operational-webhook/endpoint/{endpoint_id}']['get']['responses'][200]['content']['application/json'];
type OpEndpointIn = NonNullable<
  paths['/api/v1/operational-webhook/endpoint']['post']['requestBody']
>['content']['application/json'];
type OpEventType = NonNullable<OpEndpointIn['filterTypes']>[number];

/** Every operational event, as the API's `filterTypes` takes them (the type keeps the list whole). */
const EVENTS: Record<OpEventType, string> = {
  'endpoint.created': 'an endpoint was created',
  'endpoint.updated': 'an endpoint was changed',
  'endpoint.deleted': 'an endpoint was deleted',
  'endpoint.disabled': 'an endpoint was disabled (by hand, 410 Gone, failing for days, or an idle listener)',
  'endpoint.enabled': 'an endpoint was enabled again',
  'message.attempt.exhausted': "a message's attempts to an endpoint are all spent",
  'message.attempt.failing': 'a delivery has failed several attempts in a row',
  'message.attempt.recovered': 'a delivery succeeded after failing',
  'background_task.finished': 'a background task (recover, replay) finished',
};

/** What PUT takes to keep `e` as it is but for `change` (PUT replaces every field). */
function putBody(e: OpEndpoint, change: Partial<OpEndpointIn>): OpEndpointIn {
  return {
    url: e.url,
    description: e.description,
    uid: e.uid,
    filterTypes: (e.filterTypes as OpEventType[] | null) ?? null,
    disabled: e.disabled,
    metadata: e.metadata,
    rateLimit: e.rateLimit,
    ...change,
  };
}

/** Add an endpoint, or edit `editing`: URL, description, events, rate limit, disabled. */
function EndpointForm({ editing, onDone }: { editing: OpEndpoint | null; onDone: (saved: boolean) => void }) {
  const { api } = useDash();
  const [url, setUrl] = useState(editing?.url ?? '');
  const [description, setDescription] = useState(editing?.description ?? '');
  const [events, setEvents] = useState<Set<string>>(new Set(editing?.filterTypes ?? []));
  const [rate, setRate] = useState(editing?.rateLimit ? String(editing.rateLimit) : '');
  const [disabled, setDisabled] = useState(editing?.disabled ?? false);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<Error>();
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setFields({});
    const change = {
      url,
      description,
      // None ticked is every event, as the API reads [] or null.
      filterTypes: events.size ? ([...events] as OpEventType[]) : null,
      rateLimit: rate === '' ? null : Number(rate),
      disabled,
    };
    try {
      if (editing)
        await ok(
          api.PUT('/api/v1/operational-webhook/endpoint/{endpoint_id}', {
            params: { path: { endpoint_id: editing.id } },
            body: putBody(editing, change),
          }),
        );
      else await ok(api.POST('/api/v1/operational-webhook/endpoint', { body: change }));
      onDone(true);
    } catch (err) {
      if (err instanceof ApiError) setFields({ ...err.fields });
      setError(err as Error);
    }
  };
  const toggle = (name: string) => {
    const next = new Set(events);
    if (!next.delete(name)) next.add(name);
    setEvents(next);
  };
  const title = editing ? `Edit ${editing.url}` : 'New operational webhook endpoint';
  return (
    <form class="card op-form" onSubmit={save} aria-label={title}>
      <h2>{title}</h2>
      <ErrorNote error={error} />
      <div class="grid-2">
        <Field id="op-url" label="URL" error={fields.url}>
          {(aria) => (
            <input
              {...aria}
              type="url"
              required
              value={url}
              onInput={(e) => setUrl((e.target as HTMLInputElement).value)}
            />
          )}
        </Field>
        <Field id="op-description" label="Description" error={fields.description}>
          {(aria) => (
            <input
              {...aria}
              value={description}
              onInput={(e) => setDescription((e.target as HTMLInputElement).value)}
            />
          )}
        </Field>
        <Field
          id="op-rate"
          label="Rate limit (requests per second)"
          hint="Empty: no limit."
          error={fields.rateLimit ?? fields.throttleRate}
        >
          {(aria) => (
            <input
              {...aria}
              type="number"
              min={1}
              max={65535}
              value={rate}
              onInput={(e) => setRate((e.target as HTMLInputElement).value)}
            />
          )}
        </Field>
      </div>
      <fieldset aria-describedby="op-events-hint">
        <legend>Events</legend>
        <small id="op-events-hint" class="muted">
          None ticked: every event, including ones a later Herald adds.
        </small>
        {fields.filterTypes && <small class="field-error">{fields.filterTypes}</small>}
        {Object.entries(EVENTS).map(([name, words]) => (
          <label key={name} for={`op-ev-${name}`}>
            <input
              id={`op-ev-${name}`}
              type="checkbox"
              checked={events.has(name)}
              onChange={() => toggle(name)}
            />{' '}
            <code class="plain">{name}</code> <span class="muted">{words}</span>
          </label>
        ))}
      </fieldset>
      <label for="op-disabled">
        <input
          id="op-disabled"
          type="checkbox"
          checked={disabled}
          onChange={(e) => setDisabled((e.target as HTMLInputElement).checked)}
        />{' '}
        Disabled (gets nothing until enabled)
      </label>
      <div class="actions">
        <button type="button" class="secondary" onClick={() => onDone(false)}>
          Cancel
        </button>
        <button type="submit">{editing ? 'Save' : 'Add endpoint'}</button>
      </div>
    </form>
  );
}

/** The endpoint's signing secret: hidden until shown; rotate (confirmed) with a grace period. */
function SecretPanel({ endpoint }: { endpoint: OpEndpoint }) {
  const { api } = useDash();
  const path = { endpoint_id: endpoint.id };
  const [secret, setSecret] = useState<string | null>(null);
  const [rotating, setRotating] = useState(false);
  const [grace, setGrace] = useState('24');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [note, setNote] = useState<string | null>(null);
  const load = async () =>
    setSecret(
      (await ok(api.GET('/api/v1/operational-webhook/endpoint/{endpoint_id}/secret', { params: { path } })))
        .key,
    );
  const reveal = async () => {
    setError(undefined);
    if (secret !== null) return setSecret(null);
    try {
      await load();
    } catch (e) {
      setError(e as Error);
    }
  };
  const rotate = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const res = await api.POST('/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate', {
        params: { path },
        body: { gracePeriodSeconds: Math.round(Number(grace) * 3600) },
      });
      if (!res.response.ok) throw apiError(res.response.status, res.error);
      await load();
      setNote(`Rotated. The previous secret keeps signing too for ${grace} hours.`);
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
      setRotating(false);
    }
  };
  return (
    <article class="card" aria-label="Signing secret">
      <h2>
        <span class="with-icon">
          <KeyRound size={16} aria-hidden="true" /> Signing secret
        </span>
      </h2>
      <p class="muted">
        Operational webhooks are signed like every delivery (the <code class="plain">webhook-signature</code>{' '}
        header), with this endpoint's own secret.
      </p>
      <div class="secret">
        <code class="plain">{secret ?? 'whsec_••••••••••••••••••••••••••••••••'}</code>
        <button
          type="button"
          class="icon-button"
          aria-label={secret ? 'Hide secret' : 'Reveal secret'}
          onClick={reveal}
        >
          {secret ? <EyeOff size={16} aria-hidden="true" /> : <Eye size={16} aria-hidden="true" />}
        </button>
        {secret && <CopyButton text={secret} label="Copy secret" />}
      </div>
      {note && (
        <p role="status" class="muted">
          {note}
        </p>
      )}
      <ErrorNote error={error} />
      <button type="button" class="small secondary outline with-icon" onClick={() => setRotating(true)}>
        <RotateCw size={14} aria-hidden="true" /> Rotate secret
      </button>
      <ConfirmDialog
        open={rotating}
        title={`Rotate the signing secret of ${endpoint.url}?`}
        confirm="Rotate secret"
        busy={busy}
        onConfirm={rotate}
        onClose={() => setRotating(false)}
      >
        <p>
          A new secret signs from now on. During the grace period each operational webhook carries both
          signatures, so the receiver keeps accepting them while you switch it over.
        </p>
        <label for="op-grace">Grace period (hours, 0 to 168)</label>
        <input
          id="op-grace"
          type="number"
          min={0}
          max={168}
          value={grace}
          onInput={(e) => setGrace((e.target as HTMLInputElement).value)}
        />
      </ConfirmDialog>
    </article>
  );
}

/** `Name: value` lines as headers; the first line that is not one is named. */
function parseHeaders(text: string): { headers: Record<string, string>; error?: string } {
  const headers: Record<string, string> = {};
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return { headers, error: `Line ${i + 1} is not "Name: value"` };
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return { headers };
}

/** The custom headers sent with every operational webhook, values masked until edited. */
function HeadersPanel({ endpoint }: { endpoint: OpEndpoint }) {
  const { api } = useDash();
  const path = { endpoint_id: endpoint.id };
  const current = useLoad(
    () => ok(api.GET('/api/v1/operational-webhook/endpoint/{endpoint_id}/headers', { params: { path } })),
    [endpoint.id],
  );
  const [text, setText] = useState<string | null>(null);
  const [fieldError, setFieldError] = useState<string>();
  const [error, setError] = useState<Error>();
  const [note, setNote] = useState<string | null>(null);
  const h = current.data;
  const save = async (e: Event) => {
    e.preventDefault();
    if (!h || text === null) return;
    const parsed = parseHeaders(text);
    setFieldError(parsed.error);
    setError(undefined);
    if (parsed.error) return;
    // PATCH: what was removed goes as null; sensitive headers (never shown) stay as they are.
    const change: Record<string, string | null> = { ...parsed.headers };
    for (const name of Object.keys(h.headers)) if (!(name in parsed.headers)) change[name] = null;
    try {
      const res = await api.PATCH('/api/v1/operational-webhook/endpoint/{endpoint_id}/headers', {
        params: { path },
        body: { headers: change },
      });
      if (!res.response.ok) throw apiError(res.response.status, res.error);
      setText(null);
      setNote('Headers saved.');
      current.reload();
    } catch (err) {
      if (err instanceof ApiError) setFieldError(Object.values(err.fields)[0]);
      setError(err as Error);
    }
  };
  return (
    <article class="card" aria-label="Custom headers">
      <h2>Custom headers</h2>
      <ErrorNote error={current.error ?? error} />
      {note && (
        <p role="status" class="muted">
          {note}
        </p>
      )}
      {h && text === null && (
        <>
          {Object.keys(h.headers).length + h.sensitive.length === 0 ? (
            <p class="muted">No custom headers: operational webhooks carry only the standard ones.</p>
          ) : (
            <dl class="kv">
              {Object.keys(h.headers).map((n) => (
                <>
                  <dt key={`${n}-n`}>
                    <code class="plain">{n}</code>
                  </dt>
                  <dd key={`${n}-v`}>
                    <code class="plain">••••••••</code>
                  </dd>
                </>
              ))}
              {h.sensitive
                .filter((n) => !(n in h.headers))
                .map((n) => (
                  <>
                    <dt key={`${n}-n`}>
                      <code class="plain">{n}</code>
                    </dt>
                    <dd key={`${n}-v`} class="muted">
                      sensitive, never shown
                    </dd>
                  </>
                ))}
            </dl>
          )}
          <button
            type="button"
            class="small secondary outline"
            onClick={() =>
              setText(
                Object.entries(h.headers)
                  .map(([n, v]) => `${n}: ${v}`)
                  .join('\n'),
              )
            }
          >
            Edit headers
          </button>
        </>
      )}
      {h && text !== null && (
        <form onSubmit={save} aria-label="Edit custom headers">
          <Field id="op-headers" label="Headers, one per line" hint="Name: value" error={fieldError}>
            {(aria) => (
              <textarea
                {...aria}
                rows={5}
                class="code"
                value={text}
                onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
              />
            )}
          </Field>
          <div class="actions">
            <button type="button" class="secondary" onClick={() => setText(null)}>
              Cancel
            </button>
            <button type="submit">Save headers</button>
          </div>
        </form>
      )}
    </article>
  );
}

/** One operational endpoint: its settings (edit), secret and headers. */
function OperationalEndpoint({ id }: { id: string }) {
  const { api } = useDash();
  const ep = useLoad(
    () =>
      ok(
        api.GET('/api/v1/operational-webhook/endpoint/{endpoint_id}', {
          params: { path: { endpoint_id: id } },
        }),
      ),
    [id],
  );
  const [editing, setEditing] = useState(false);
  if (ep.error) return <ErrorNote error={ep.error} />;
  if (!ep.data) return <Loading what="the endpoint" />;
  const e = ep.data;
  return (
    <section>
      <p class="crumbs">
        <a href="#/operational">Operational webhooks</a>
      </p>
      <PageHeader
        title={<span class="url">{e.url}</span>}
        sub={e.description || undefined}
        actions={
          !editing && (
            <button type="button" onClick={() => setEditing(true)}>
              Edit
            </button>
          )
        }
      />
      {editing ? (
        <EndpointForm
          editing={e}
          onDone={(saved) => {
            setEditing(false);
            if (saved) ep.reload();
          }}
        />
      ) : (
        <dl class="kv card">
          <dt>State</dt>
          <dd>{e.disabled ? 'Disabled' : 'Enabled'}</dd>
          <dt>Events</dt>
          <dd>{e.filterTypes?.length ? e.filterTypes.join(', ') : 'All'}</dd>
          <dt>Rate limit</dt>
          <dd>{e.rateLimit ? `${e.rateLimit} per second` : 'None'}</dd>
          <dt>Created</dt>
          <dd>
            <Time iso={e.createdAt} />
          </dd>
        </dl>
      )}
      <div class="grid-2">
        <SecretPanel endpoint={e} />
        <HeadersPanel endpoint={e} />
      </div>
    </section>
  );
}

/** The list of operational endpoints, or one of them (`#/operational/<id>`). */
export function OperationalWebhooks({ id }: { id?: string | undefined }) {
  if (id) return <OperationalEndpoint key={id} id={id} />;
  return <EndpointList />;
}

function EndpointList() {
  const { api } = useDash();
  const pages = usePages();
  const list = useLoad(
    () =>
      ok(
        api.GET('/api/v1/operational-webhook/endpoint', {
          params: { query: { limit: String(PAGE), ...(pages.from ? { iterator: pages.from } : {}) } },
        }),
      ),
    [pages.from],
  );
  const [adding, setAdding] = useState(false);
  const [error, setError] = useState<Error>();
  const [deleting, setDeleting] = useState<OpEndpoint | null>(null);
  const act = async (run: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await run();
    } catch (e) {
      setError(e as Error);
    }
    list.reload();
  };
  const toggle = (ep: OpEndpoint) =>
    act(() =>
      ok(
        api.PUT('/api/v1/operational-webhook/endpoint/{endpoint_id}', {
          params: { path: { endpoint_id: ep.id } },
          body: putBody(ep, { disabled: !ep.disabled }),
        }),
      ),
    );
  const remove = async () => {
    if (!deleting) return;
    const gone = deleting;
    setDeleting(null);
    await act(async () => {
      const res = await api.DELETE('/api/v1/operational-webhook/endpoint/{endpoint_id}', {
        params: { path: { endpoint_id: gone.id } },
      });
      if (!res.response.ok) throw apiError(res.response.status, res.error);
    });
  };
  const rows = list.data?.data ?? [];
  return (
    <section>
      <PageHeader
        title="Operational webhooks"
        sub="Where Herald tells you about itself: endpoints disabled, attempts exhausted, background tasks finished."
        actions={
          !adding && (
            <button type="button" class="with-icon" onClick={() => setAdding(true)}>
              <Plus size={15} aria-hidden="true" /> Add endpoint
            </button>
          )
        }
      />
      {adding && (
        <EndpointForm
          editing={null}
          onDone={(saved) => {
            setAdding(false);
            if (saved) list.reload();
          }}
        />
      )}
      <ErrorNote error={list.error ?? error} />
      {list.loading && !list.data && <Loading what="endpoints" />}
      {list.data && rows.length === 0 && !adding && (
        <EmptyState icon={<Bell size={32} aria-hidden="true" />} title="No operational webhook endpoint">
          <p>Add one to hear when an endpoint is disabled or a message's attempts are exhausted.</p>
        </EmptyState>
      )}
      {rows.length > 0 && (
        <Table
          caption="Operational webhook endpoints"
          rows={rows}
          rowKey={(e) => e.id}
          columns={[
            {
              label: 'Endpoint',
              class: 'wide',
              cell: (e) => (
                <>
                  <a class="url" href={`#/operational/${e.id}`}>
                    {e.url}
                  </a>
                  <span class="sub">{e.description}</span>
                </>
              ),
            },
            { label: 'Events', cell: (e) => (e.filterTypes?.length ? e.filterTypes.join(', ') : 'All') },
            {
              label: 'State',
              cell: (e) =>
                e.disabled ? <span class="muted-strong">Disabled</span> : <Badge tone="ok">Enabled</Badge>,
            },
            { label: 'Created', class: 'nowrap', cell: (e) => <Time iso={e.createdAt} /> },
            {
              label: 'Actions',
              cell: (e) => (
                <div class="row-actions">
                  <button
                    type="button"
                    class="small secondary outline"
                    aria-label={`${e.disabled ? 'Enable' : 'Disable'} ${e.url}`}
                    onClick={() => toggle(e)}
                  >
                    {e.disabled ? 'Enable' : 'Disable'}
                  </button>
                  <button
                    type="button"
                    class="small secondary outline"
                    aria-label={`Delete ${e.url}`}
                    onClick={() => setDeleting(e)}
                  >
                    Delete
                  </button>
                </div>
              ),
            },
          ]}
        />
      )}
      <Pager pages={pages} next={list.data?.done === false ? list.data.iterator : null} />
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.url ?? ''}?`}
        confirm="Delete"
        danger
        onConfirm={remove}
        onClose={() => setDeleting(null)}
      >
        <p>
          {deleting?.url} gets no more operational webhooks (
          {deleting?.filterTypes?.join(', ') || 'every event'}), and its secret and headers are deleted with
          it. This cannot be undone.
        </p>
      </ConfirmDialog>
    </section>
  );
}
