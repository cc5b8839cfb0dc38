/**
 * Sources, the inbound gateway: each one's ingest URL (where a provider such as Stripe or
 * GitHub posts), create one, rotate its secret (the new one first, the old kept so requests
 * signed with either pass until it is dropped), and its request log with status and reason.
 */
import { Inbox, Plus } from 'lucide-preact';
import { useState } from 'preact/hooks';
import { ApiError, ok } from '../shared/api.ts';
import { Id, Time } from '../shared/format.tsx';
import {
  Badge,
  ConfirmDialog,
  EmptyState,
  ErrorNote,
  Field,
  Loading,
  PageHeader,
  Table,
  useLoad,
} from '../shared/ui.tsx';
import { useDash } from './session.ts';

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
      <div class="actions">
        <button type="button" class="secondary" onClick={onDone}>
          Cancel
        </button>
        <button type="submit">Create source</button>
      </div>
    </form>
  );
}

function RequestLog({ sourceId }: { sourceId: string }) {
  const { api } = useDash();
  const log = useLoad(
    () =>
      ok(
        api.GET('/api/v1/source/{source_id}/request', {
          params: { path: { source_id: sourceId }, query: { limit: '50' } },
        }),
      ),
    [sourceId],
  );
  if (log.error) return <ErrorNote error={log.error} />;
  if (!log.data) return <Loading what="requests" />;
  if (log.data.data.length === 0) return <p class="muted">No request received yet.</p>;
  return (
    <Table
      caption="Requests received"
      rows={log.data.data}
      rowKey={(r) => r.id}
      columns={[
        { label: 'Status', cell: (r) => <Badge tone={TONE[r.status] ?? 'neutral'}>{r.status}</Badge> },
        { label: 'Reason', class: 'wide', cell: (r) => r.reason ?? <span class="muted">—</span> },
        { label: 'Message', cell: (r) => (r.msgId ? <Id id={r.msgId} /> : <span class="muted">—</span>) },
        { label: 'Size', class: 'num', cell: (r) => `${r.bodySize.toLocaleString()} B` },
        { label: 'Received', class: 'nowrap', cell: (r) => <Time iso={r.timestamp} /> },
      ]}
    />
  );
}

interface SourceRow {
  id: string;
  name: string;
  provider: string;
  appId: string;
  ingestUrl: string;
  createdAt: string;
}

export function Sources() {
  const { api } = useDash();
  const list = useLoad(() => ok(api.GET('/api/v1/source', { params: { query: { limit: '250' } } })), []);
  const [creating, setCreating] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const [rotating, setRotating] = useState<SourceRow | null>(null);
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
      setRotating(null);
      setSecret('');
      setKeepOld('');
    } catch (e) {
      setError(e as Error);
    }
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
                onClick={() => setOpen(open === s.id ? null : s.id)}
              >
                {open === s.id ? 'Hide requests' : 'Requests'}
              </button>
              <button type="button" class="small secondary outline" onClick={() => setRotating(s)}>
                Rotate secret
              </button>
            </div>
          </div>
          <dl class="kv">
            <dt>Ingest URL</dt>
            <dd>
              <code class="plain">{s.ingestUrl}</code>
            </dd>
            <dt>Application</dt>
            <dd>
              <a href={`#/apps/${s.appId}/messages`}>{s.appId}</a>
            </dd>
            <dt>Created</dt>
            <dd>
              <Time iso={s.createdAt} />
            </dd>
          </dl>
          {open === s.id && <RequestLog sourceId={s.id} />}
        </article>
      ))}
      <ConfirmDialog
        open={rotating !== null}
        title={`Rotate the secret of ${rotating?.name ?? ''}?`}
        confirm="Rotate"
        confirmDisabled={!secret}
        onConfirm={rotate}
        onClose={() => setRotating(null)}
      >
        <p>
          Requests are verified with the new secret; paste the old one too to accept both while the provider
          switches.
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
    </section>
  );
}
