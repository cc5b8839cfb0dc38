/**
 * Operational webhook endpoints: where Herald tells you about itself (an endpoint disabled,
 * a message's attempts exhausted, a background task finished). List, add, enable/disable,
 * delete (confirmed).
 */
import { Bell, Plus } from 'lucide-preact';
import { useState } from 'preact/hooks';
import { ApiError, ok } from '../shared/api.ts';
import { Time } from '../shared/format.tsx';
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

interface OpEndpoint {
  id: string;
  url: string;
  description: string;
  disabled: boolean;
  filterTypes: string[] | null;
  createdAt: string;
}

export function OperationalWebhooks() {
  const { api } = useDash();
  const list = useLoad(
    () => ok(api.GET('/api/v1/operational-webhook/endpoint', { params: { query: { limit: '250' } } })),
    [],
  );
  const [adding, setAdding] = useState(false);
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<Error>();
  const [deleting, setDeleting] = useState<OpEndpoint | null>(null);
  const act = async (run: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await run();
      list.reload();
      return true;
    } catch (e) {
      if (e instanceof ApiError) setFields({ ...e.fields });
      setError(e as Error);
      return false;
    }
  };
  const add = async (e: Event) => {
    e.preventDefault();
    setFields({});
    const done = await act(() =>
      ok(api.POST('/api/v1/operational-webhook/endpoint', { body: { url, description } })),
    );
    if (done) {
      setAdding(false);
      setUrl('');
      setDescription('');
    }
  };
  const toggle = (ep: OpEndpoint) =>
    act(() =>
      ok(
        api.PUT('/api/v1/operational-webhook/endpoint/{endpoint_id}', {
          params: { path: { endpoint_id: ep.id } },
          body: {
            url: ep.url,
            description: ep.description,
            disabled: !ep.disabled,
            ...(ep.filterTypes ? { filterTypes: ep.filterTypes as never } : {}),
          },
        }),
      ),
    );
  const remove = async () => {
    if (!deleting) return;
    const id = deleting.id;
    await act(async () => {
      const res = await api.DELETE('/api/v1/operational-webhook/endpoint/{endpoint_id}', {
        params: { path: { endpoint_id: id } },
      });
      if (!res.response.ok) throw new Error(`the server answered ${res.response.status}`);
    });
    setDeleting(null);
  };
  const rows = (list.data?.data ?? []) as OpEndpoint[];
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
        <form class="card" onSubmit={add} aria-label="New operational webhook endpoint">
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
          </div>
          <div class="actions">
            <button type="button" class="secondary" onClick={() => setAdding(false)}>
              Cancel
            </button>
            <button type="submit">Add endpoint</button>
          </div>
        </form>
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
                  <span class="url">{e.url}</span>
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
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.url ?? ''}?`}
        confirm="Delete"
        danger
        onConfirm={remove}
        onClose={() => setDeleting(null)}
      >
        <p>It gets no more operational webhooks; this cannot be undone.</p>
      </ConfirmDialog>
    </section>
  );
}
