/** The endpoints of an application: URL, description, event types, state; add one. */
import { Plus, Webhook } from 'lucide-preact';
import { ok } from '../api.ts';
import { useView } from '../context.ts';
import { Id, Time } from '../format.tsx';
import { EmptyState, ErrorNote, Loading, PageHeader, Table, useLoad } from '../ui.tsx';
import { AutoDisabledNote, EndpointState } from './endpoint-state.tsx';

export function EndpointList() {
  const { api, appId, can, link } = useView();
  const list = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/endpoint', {
          params: { path: { app_id: appId }, query: { limit: '250', order: 'descending' } },
        }),
      ),
    [appId],
  );
  const add = can.manageEndpoints && (
    <a href={link('/endpoints/new')} class="btn with-icon">
      <Plus size={16} aria-hidden="true" /> Add endpoint
    </a>
  );
  return (
    <section>
      <PageHeader
        title="Endpoints"
        sub="The URLs that receive your webhooks. Each one gets the events it subscribes to, signed with its own secret."
        actions={list.data?.data.length ? add : null}
      />
      <ErrorNote error={list.error} />
      {list.loading && !list.data && <Loading what="endpoints" />}
      {list.data && list.data.data.length === 0 && (
        <EmptyState icon={<Webhook size={32} aria-hidden="true" />} title="No endpoints yet">
          <p>
            {can.manageEndpoints
              ? 'Add the URL where you want to receive events. You can choose which events it gets.'
              : 'No endpoint receives events yet. Ask an administrator of your account to add one.'}
          </p>
          {add}
        </EmptyState>
      )}
      {list.data && list.data.data.length > 0 && (
        <Table
          caption="Endpoints"
          rows={list.data.data}
          rowKey={(e) => e.id}
          columns={[
            {
              label: 'Endpoint',
              class: 'wide',
              cell: (e) => (
                <>
                  <a class="url" href={link(`/endpoints/${e.id}`)}>
                    {e.url}
                  </a>
                  <span class="sub">{e.description || <Id id={e.id} />}</span>
                  <AutoDisabledNote endpoint={e} />
                </>
              ),
            },
            {
              label: 'Events',
              cell: (e) =>
                e.filterTypes?.length ? (
                  <span title={e.filterTypes.join(', ')}>
                    {e.filterTypes.length === 1 ? e.filterTypes[0] : `${e.filterTypes.length} event types`}
                  </span>
                ) : (
                  <span class="muted">All events</span>
                ),
            },
            {
              label: 'State',
              cell: (e) => <EndpointState endpoint={e} />,
            },
            { label: 'Created', class: 'hide-narrow', cell: (e) => <Time iso={e.createdAt} /> },
          ]}
        />
      )}
    </section>
  );
}
