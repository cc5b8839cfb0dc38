/**
 * Sources, the inbound gateway: each one's ingest URL (where a provider such as Stripe or
 * GitHub posts), create, rename or delete one (confirmed), rotate its secret (the new one
 * first, the old kept so requests signed with either pass until it is dropped), and its
 * request log with status and reason, each request's headers and body, and replay.
 */
import { Inbox, Plus } from 'lucide-preact';
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, apiError, ok } from '../shared/api.ts';
import { CopyButton, Id, Time } from '../shared/format.tsx';
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

const PROVIDERS = ['stripe', 'github', 'shopify', 'slack', 'standard-webhooks', 'hmac', 'none'] as const;
type Provider = (typeof PROVIDERS)[number];

const TONE: Record<string, 'ok' | 'bad' | 'warn' | 'neutral'> = {
  accepted: 'ok',
  replayed: 'ok',
  duplicate: 'neutral',
  rejected: 'bad',
};

function CreateSource({ onDone }: { onDone: () => void }) {
  const { api } = useDash();
  const [draft, setDraft] = useState({ name: '', provider: 'stripe' as Provider, appId: '', secret: '' });
  const [passthrough, setPassthrough] = useState(false);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<Error>();
  const set = (k: keyof typeof draft) => (e: Event) =>
    setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setFields({});
    try {
      await ok(
        api.POST('/api/v1/source', {
          body: {
            name: draft.name,
            provider: draft.provider,
            appId: draft.appId,
            passthroughHeaders: passthrough,
            ...(draft.secret ? { secrets: [draft.secret] } : {}),
          },
        }),
      );
      onDone();
    } catch (err) {
      if (err instanceof ApiError) setFields({ ...err.fields });
      setError(err as Error);
    }
  };
  return (
    <form class="card" onSubmit={save} aria-label="New source">
      <h2>New source</h2>
      <ErrorNote error={error} />
      <div class="grid-2">
        <Field id="src-name" label="Name" error={fields.name}>
          {(aria) => <input {...aria} required value={draft.name} onInput={set('name')} />}
        </Field>
        <Field id="src-provider" label="Provider" error={fields.provider}>
          {(aria) => (
            <select {...aria} value={draft.provider} onChange={set('provider')}>
              {PROVIDERS.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          id="src-app"
          label="Application (id or uid)"
          hint="The accepted requests become messages of this application."
          error={fields.appId}
        >
          {(aria) => <input {...aria} required value={draft.appId} onInput={set('appId')} />}
        </Field>
        <Field
          id="src-secret"
          label="Signing secret"
          hint="The provider's secret (e.g. Stripe's whsec_…)."
          error={fields.secrets}
        >
          {(aria) => <input {...aria} type="password" value={draft.secret} onInput={set('secret')} />}
        </Field>
      </div>
      <PassthroughBox id="src-passthrough" checked={passthrough} onChange={setPassthrough} />
      <div class="actions">
        <button type="button" class="secondary" onClick={onDone}>
          Cancel
        </button>
        <button type="submit">Create source</button>
      </div>
    </form>
  );
}

/** The checkbox of `passthroughHeaders`. */
function PassthroughBox(props: { id: string; checked: boolean; onChange: (on: boolean) => void }) {
  return (
    <label for={props.id}>
      <input
        id={props.id}
        type="checkbox"
        checked={props.checked}
        onChange={(e) => props.onChange((e.target as HTMLInputElement).checked)}
      />{' '}
      Forward the request's headers to the endpoints too
    </label>
  );
}

type Received = NonNullable<Awaited<ReturnType<typeof loadLog>>>['data'][number];

function loadLog(api: ReturnType<typeof useDash>['api'], sourceId: string, iterator: string | null) {
  return ok(
    api.GET('/api/v1/source/{source_id}/request', {
      params: { path: { source_id: sourceId }, query: { limit: '50', ...(iterator ? { iterator } : {}) } },
    }),
  );
}

/** A logged request's headers and body, as they were received. */
function RequestDetail({ r }: { r: Received }) {
  return (
    <div class="request-detail">
      <dl class="kv">
        {Object.entries(r.headers).map(([name, value]) => (
          <Fragment key={name}>
            <dt>
              <code class="plain">{name}</code>
            </dt>
            <dd>
              <code class="plain">{value}</code>
            </dd>
          </Fragment>
        ))}
      </dl>
      {r.bodyExpunged ? (
        <p class="muted">The body was expunged by retention.</p>
      ) : (
        <>
          {r.bodyTruncated && (
            <p class="muted">
              Only the first {r.body.length.toLocaleString()} bytes of a refused request are kept.
            </p>
          )}
          <figure aria-label={`Body of request ${r.id}`}>
            <pre class="code">{r.body}</pre>
          </figure>
        </>
      )}
    </div>
  );
}

function RequestLog({ source }: { source: SourceRow }) {
  const { api } = useDash();
  const [iterator, setIterator] = useState<string | null>(null);
  const log = useLoad(() => loadLog(api, source.id, iterator), [source.id, iterator]);
  const [shown, setShown] = useState<string | null>(null);
  const [replaying, setReplaying] = useState<Received | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [replayed, setReplayed] = useState<string | null>(null);
  const replay = async () => {
    if (!replaying) return;
    setBusy(true);
    setError(undefined);
    try {
      const { message } = await ok(
        api.POST('/api/v1/source/{source_id}/request/{request_id}/replay', {
          params: { path: { source_id: source.id, request_id: replaying.id } },
        }),
      );
      setReplayed(`Replayed ${replaying.id} as message ${message.id}.`);
      setReplaying(null);
      setIterator(null);
      log.reload();
    } catch (e) {
      setError(e as Error);
      setReplaying(null);
    } finally {
      setBusy(false);
    }
  };
  if (log.error) return <ErrorNote error={log.error} />;
  if (!log.data) return <Loading what="requests" />;
  const rows = log.data.data;
  return (
    <>
      <ErrorNote error={error} />
      {replayed && (
        <p role="status" class="muted">
          {replayed}
        </p>
      )}
      {rows.length === 0 && <p class="muted">No request received yet.</p>}
      {rows.length > 0 && (
        <Table
          caption={`Requests received by ${source.name}`}
          rows={rows}
          rowKey={(r) => r.id}
          columns={[
            { label: 'Status', cell: (r) => <Badge tone={TONE[r.status] ?? 'neutral'}>{r.status}</Badge> },
            {
              label: 'Reason',
              class: 'wide',
              cell: (r) => (
                <>
                  {r.reason ?? <span class="muted">—</span>}
                  {shown === r.id && <RequestDetail r={r} />}
                </>
              ),
            },
            {
              label: 'Message',
              cell: (r) =>
                r.msgId ? (
                  <a href={`#/apps/${source.appId}/msg/${r.msgId}`}>
                    <Id id={r.msgId} />
                  </a>
                ) : (
                  <span class="muted">—</span>
                ),
            },
            { label: 'Size', class: 'num', cell: (r) => `${r.bodySize.toLocaleString()} B` },
            { label: 'Received', class: 'nowrap', cell: (r) => <Time iso={r.timestamp} /> },
            {
              label: 'Actions',
              cell: (r) => (
                <div class="row-actions">
                  <button
                    type="button"
                    class="small secondary outline"
                    aria-expanded={shown === r.id ? 'true' : 'false'}
                    aria-label={`${shown === r.id ? 'Hide' : 'Show'} request ${r.id}`}
                    onClick={() => setShown(shown === r.id ? null : r.id)}
                  >
                    {shown === r.id ? 'Hide' : 'Show'}
                  </button>
                  {r.status !== 'rejected' && (
                    <button
                      type="button"
                      class="small secondary outline"
                      aria-label={`Replay request ${r.id}`}
                      onClick={() => setReplaying(r)}
                    >
                      Replay
                    </button>
                  )}
                </div>
              ),
            },
          ]}
        />
      )}
      {(iterator || !log.data.done) && (
        <div class="pager">
          {iterator && (
            <button type="button" class="small secondary outline" onClick={() => setIterator(null)}>
              Newest
            </button>
          )}
          {!log.data.done && (
            <button
              type="button"
              class="small secondary outline"
              onClick={() => setIterator(log.data!.iterator ?? null)}
            >
              Older
            </button>
          )}
        </div>
      )}
      <ConfirmDialog
        open={replaying !== null}
        title={`Replay request ${replaying?.id ?? ''} of ${source.name}?`}
        confirm="Replay"
        busy={busy}
        onConfirm={replay}
        onClose={() => setReplaying(null)}
      >
        <p>
          It is forwarded again, as a new message of {source.appId}, to every endpoint of that application
          subscribed to its event type. It is not verified again.
        </p>
      </ConfirmDialog>
    </>
  );
}

interface SourceRow {
  id: string;
  name: string;
  provider: string;
  appId: string;
  passthroughHeaders: boolean;
  ingestUrl: string;
  createdAt: string;
}

/** Rename a source or switch its header passthrough (its id, so its ingest URL, stays). */
function EditSource({ source, onDone }: { source: SourceRow; onDone: (saved: boolean) => void }) {
  const { api } = useDash();
  const [name, setName] = useState(source.name);
  const [passthrough, setPassthrough] = useState(source.passthroughHeaders);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<Error>();
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setFields({});
    try {
      await ok(
        api.PATCH('/api/v1/source/{source_id}', {
          params: { path: { source_id: source.id } },
          body: { name, passthroughHeaders: passthrough },
        }),
      );
      onDone(true);
    } catch (err) {
      if (err instanceof ApiError) setFields({ ...err.fields });
      setError(err as Error);
    }
  };
  return (
    <form onSubmit={save} aria-label={`Edit source ${source.name}`}>
      <ErrorNote error={error} />
      <Field id={`edit-name-${source.id}`} label="Name" error={fields.name}>
        {(aria) => (
          <input
            {...aria}
            required
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        )}
      </Field>
      <PassthroughBox id={`edit-passthrough-${source.id}`} checked={passthrough} onChange={setPassthrough} />
      <div class="actions">
        <button type="button" class="secondary" onClick={() => onDone(false)}>
          Cancel
        </button>
        <button type="submit">Save</button>
      </div>
    </form>
  );
}

export function Sources() {
  const { api } = useDash();
  const pages = usePages();
  const list = useLoad(
    () =>
      ok(
        api.GET('/api/v1/source', {
          params: { query: { limit: String(PAGE), ...(pages.from ? { iterator: pages.from } : {}) } },
        }),
      ),
    [pages.from],
  );
  const [creating, setCreating] = useState(false);
  // The sources whose request log is open (several may be, to compare them).
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const toggleLog = (id: string) => {
    const next = new Set(open);
    if (!next.delete(id)) next.add(id);
    setOpen(next);
  };
  const [editing, setEditing] = useState<string | null>(null);
  const [rotating, setRotating] = useState<SourceRow | null>(null);
  const [deleting, setDeleting] = useState<SourceRow | null>(null);
  const [secret, setSecret] = useState('');
  const [keepOld, setKeepOld] = useState('');
  const [error, setError] = useState<Error>();
  const [done, setDone] = useState<string | null>(null);
  const rotate = async () => {
    if (!rotating || !secret) return;
    setError(undefined);
    try {
      await ok(
        api.PATCH('/api/v1/source/{source_id}', {
          params: { path: { source_id: rotating.id } },
          body: { secrets: keepOld ? [secret, keepOld] : [secret] },
        }),
      );
      setDone(
        `${rotating.name}: the new secret is in use${keepOld ? '; the old one still passes until you rotate again without it' : ''}.`,
      );
    } catch (e) {
      setError(e as Error);
    }
    setRotating(null);
    setSecret('');
    setKeepOld('');
  };
  const remove = async () => {
    if (!deleting) return;
    const gone = deleting;
    setError(undefined);
    try {
      const res = await api.DELETE('/api/v1/source/{source_id}', {
        params: { path: { source_id: gone.id } },
      });
      if (!res.response.ok) throw apiError(res.response.status, res.error);
      setDone(`${gone.name} is deleted: ${gone.ingestUrl} accepts no more requests.`);
      list.reload();
    } catch (e) {
      setError(e as Error);
    }
    setDeleting(null);
  };
  return (
    <section>
      <PageHeader
        title="Sources"
        sub="The inbound gateway: webhooks from providers, verified with their scheme, become messages of an application."
        actions={
          !creating && (
            <button type="button" class="with-icon" onClick={() => setCreating(true)}>
              <Plus size={15} aria-hidden="true" /> New source
            </button>
          )
        }
      />
      {creating && (
        <CreateSource
          onDone={() => {
            setCreating(false);
            list.reload();
          }}
        />
      )}
      <ErrorNote error={list.error ?? error} />
      {done && (
        <p role="status" class="muted">
          {done}
        </p>
      )}
      {list.loading && !list.data && <Loading what="sources" />}
      {list.data && list.data.data.length === 0 && !creating && (
        <EmptyState icon={<Inbox size={32} aria-hidden="true" />} title="No sources yet">
          <p>Create one to receive a provider's webhooks at its own ingest URL.</p>
        </EmptyState>
      )}
      {list.data?.data.map((s) => (
        <article key={s.id} class="card" aria-label={`Source ${s.name}`}>
          <div class="page-header">
            <h3>
              {s.name} <small class="muted">· {s.provider}</small>
            </h3>
            <div class="row-actions">
              <button
                type="button"
                class="small secondary outline"
                aria-expanded={open.has(s.id) ? 'true' : 'false'}
                onClick={() => toggleLog(s.id)}
              >
                {open.has(s.id) ? 'Hide requests' : 'Requests'}
              </button>
              <button type="button" class="small secondary outline" onClick={() => setEditing(s.id)}>
                Edit
              </button>
              <button type="button" class="small secondary outline" onClick={() => setRotating(s)}>
                Rotate secret
              </button>
              <button type="button" class="small secondary outline" onClick={() => setDeleting(s)}>
                Delete
              </button>
            </div>
          </div>
          {editing === s.id ? (
            <EditSource
              source={s}
              onDone={(saved) => {
                setEditing(null);
                if (saved) list.reload();
              }}
            />
          ) : (
            <dl class="kv">
              <dt>Ingest URL</dt>
              <dd>
                <code class="plain">{s.ingestUrl}</code>{' '}
                <CopyButton text={s.ingestUrl} label="Copy ingest URL" />
              </dd>
              <dt>Application</dt>
              <dd>
                <a href={`#/apps/${s.appId}/messages`}>{s.appId}</a>
              </dd>
              <dt>Provider's headers</dt>
              <dd>{s.passthroughHeaders ? 'Passed through to the endpoints' : 'Not passed through'}</dd>
              <dt>Created</dt>
              <dd>
                <Time iso={s.createdAt} />
              </dd>
            </dl>
          )}
          {open.has(s.id) && <RequestLog source={s} />}
        </article>
      ))}
      <Pager pages={pages} next={list.data?.done === false ? list.data.iterator : null} />
      <ConfirmDialog
        open={rotating !== null}
        title={`Rotate the secret of ${rotating?.name ?? ''}?`}
        confirm="Rotate"
        confirmDisabled={!secret}
        onConfirm={rotate}
        onClose={() => setRotating(null)}
      >
        <p>
          Requests to {rotating?.ingestUrl} are verified with the new secret from now on; paste the old one
          too to accept both while the provider switches.
        </p>
        <label for="rotate-new">New secret</label>
        <input
          id="rotate-new"
          type="password"
          value={secret}
          onInput={(e) => setSecret((e.target as HTMLInputElement).value)}
        />
        <label for="rotate-old">Old secret, still accepted (optional)</label>
        <input
          id="rotate-old"
          type="password"
          value={keepOld}
          onInput={(e) => setKeepOld((e.target as HTMLInputElement).value)}
        />
      </ConfirmDialog>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete the source ${deleting?.name ?? ''}?`}
        confirm="Delete source"
        danger
        onConfirm={remove}
        onClose={() => setDeleting(null)}
      >
        <p>
          {deleting?.ingestUrl} stops accepting requests at once (the provider gets 404), and the source's
          request log goes with it. The messages it already forwarded to {deleting?.appId} stay. This cannot
          be undone.
        </p>
      </ConfirmDialog>
    </section>
  );
}
