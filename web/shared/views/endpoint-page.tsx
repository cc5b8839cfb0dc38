/** One endpoint: its state and actions, its last day, secret, headers, tools and message log. */
import { ArrowLeft, Pencil, Power, Trash2 } from 'lucide-preact';
import { useState } from 'preact/hooks';
import { type Endpoint, ok } from '../api.ts';
import { useView } from '../context.ts';
import { Id, Time } from '../format.tsx';
import { ConfirmDialog, ErrorNote, Loading, PageHeader, useLoad } from '../ui.tsx';
import { MessageLog } from './attempts.tsx';
import { HeadersCard, LastDayCard, SecretCard, ToolsCard } from './endpoint-cards.tsx';
import { AutoDisabledWords, autoDisabledWhy, EndpointState } from './endpoint-state.tsx';
import { TransformationCard } from './transformation.tsx';

export function EndpointPage({ endpointId }: { endpointId: string }) {
  const { api, appId, can, link, go } = useView();
  const path = { app_id: appId, endpoint_id: endpointId };
  const endpoint = useLoad(
    () => ok(api.GET('/api/v1/app/{app_id}/endpoint/{endpoint_id}', { params: { path } })),
    [endpointId],
  );
  const catalog = useLoad(
    () => ok(api.GET('/api/v1/event-type', { params: { query: { limit: '250' } } })),
    [],
  );
  const [deleting, setDeleting] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [sentTurn, setSentTurn] = useState(0);
  const e = endpoint.data as Endpoint | undefined;
  if (endpoint.error && !e) return <ErrorNote error={endpoint.error} />;
  if (!e) return <Loading what="the endpoint" />;

  const subscribed = e.filterTypes?.length
    ? e.filterTypes
    : (catalog.data?.data.filter((t) => !t.archived).map((t) => t.name) ?? []);
  const setDisabled = async (disabled: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      await ok(
        api.PATCH('/api/v1/app/{app_id}/endpoint/{endpoint_id}', { params: { path }, body: { disabled } }),
      );
      endpoint.reload();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    setBusy(true);
    try {
      await ok(api.DELETE('/api/v1/app/{app_id}/endpoint/{endpoint_id}', { params: { path } }));
      go('/endpoints');
    } catch (err) {
      setError(err as Error);
      setDeleting(false);
      setBusy(false);
    }
  };
  const why = autoDisabledWhy(e);

  return (
    <section>
      <p>
        <a href={link('/endpoints')} class="with-icon">
          <ArrowLeft size={14} aria-hidden="true" /> All endpoints
        </a>
      </p>
      <PageHeader
        title={e.url}
        sub={
          <>
            <EndpointState endpoint={e} /> {e.description && <span>{e.description} · </span>}
            <Id id={e.id} /> · created <Time iso={e.createdAt} />
          </>
        }
        actions={
          can.manageEndpoints && (
            <>
              <a href={link(`/endpoints/${e.id}/edit`)} class="btn small secondary outline with-icon">
                <Pencil size={14} aria-hidden="true" /> Edit
              </a>
              <button
                type="button"
                class="small secondary outline with-icon"
                disabled={busy}
                onClick={() => setDisabled(!e.disabled)}
              >
                <Power size={14} aria-hidden="true" /> {e.disabled ? 'Enable' : 'Disable'}
              </button>
              <button type="button" class="small danger outline with-icon" onClick={() => setDeleting(true)}>
                <Trash2 size={14} aria-hidden="true" /> Delete
              </button>
            </>
          )
        }
      />
      {why && (
        <p class="notice" role="note">
          <AutoDisabledWords endpoint={e} />.
          {can.manageEndpoints
            ? ' Fix your server, then enable the endpoint to receive events again.'
            : ' It receives no events until it is enabled again.'}
        </p>
      )}
      {e.disabled && !why && (
        <p class="notice">This endpoint is disabled: it receives no events until it is enabled.</p>
      )}
      <ErrorNote error={error} />
      <dl class="kv" style={{ marginBottom: '1rem' }}>
        <dt>Event types</dt>
        <dd>{e.filterTypes?.length ? e.filterTypes.join(', ') : 'All events'}</dd>
        {e.channels?.length ? (
          <>
            <dt>Channels</dt>
            <dd>{e.channels.join(', ')}</dd>
          </>
        ) : null}
        {e.rateLimit ? (
          <>
            <dt>Rate limit</dt>
            <dd>{e.rateLimit} per second</dd>
          </>
        ) : null}
      </dl>
      <div class="grid-2">
        <LastDayCard key={`stats-${sentTurn}`} endpointId={e.id} class="span-all" />
        <SecretCard endpointId={e.id} />
        <HeadersCard endpointId={e.id} />
        {!e.disabled && (
          <ToolsCard endpointId={e.id} eventTypes={subscribed} onSent={() => setSentTurn((t) => t + 1)} />
        )}
      </div>
      <TransformationCard endpointId={e.id} eventTypes={subscribed} />
      <MessageLog key={`log-${sentTurn}`} endpointId={e.id} eventTypes={subscribed} />
      <ConfirmDialog
        open={deleting}
        title="Delete this endpoint?"
        confirm="Delete endpoint"
        danger
        busy={busy}
        onConfirm={remove}
        onClose={() => setDeleting(false)}
      >
        <p>
          <strong>{e.url}</strong> will receive no more events, and its message log goes with it. This cannot
          be undone.
        </p>
      </ConfirmDialog>
    </section>
  );
}
