/**
 * Failures grouped by endpoint and cause (status class or error kind): an outage reads as
 * one row, with how many attempts and messages it hit and when it was first and last seen.
 * From a row: resend every failed message of the endpoint (the recover background task, with
 * its progress) and disable the endpoint, each after a confirmation naming what it touches.
 */
import { CheckCircle, Power, RotateCcw } from 'lucide-preact';
import { useEffect, useState } from 'preact/hooks';
import { type Attempt, type BackgroundTask, type Endpoint, ok } from '../shared/api.ts';
import { Time } from '../shared/format.tsx';
import {
  Badge,
  ConfirmDialog,
  EmptyState,
  ErrorNote,
  Loading,
  PageHeader,
  Table,
  useLoad,
} from '../shared/ui.tsx';
import { type Dash, useDash } from './session.ts';

/** How much is read: applications (all applications view), endpoints each, failed attempts each. */
const APPS = 50;
const ENDPOINTS = 250;
const ATTEMPTS = 250;
/** Failed messages counted for "resend all", 250 a request. */
const COUNT_CAP = 10_000;
/** Recover reaches this far back at most. */
const RECOVER_DAYS = 14;

interface Group {
  key: string;
  appId: string;
  appName: string;
  endpoint: Endpoint;
  cause: string;
  codes: Set<number>;
  attempts: number;
  messages: Set<string>;
  first: string;
  last: string;
}

/** What failed: the status class of a response, or the kind of error when there was none. */
function causeOf(a: Attempt): string {
  if (a.responseStatusCode >= 100) return `HTTP ${Math.floor(a.responseStatusCode / 100)}xx`;
  return (a.errorKind ?? 'error').replaceAll('_', ' ');
}

async function loadGroups(api: Dash['api'], appId: string | undefined): Promise<Group[]> {
  const apps = appId
    ? [await ok(api.GET('/api/v1/app/{app_id}', { params: { path: { app_id: appId } } }))]
    : (await ok(api.GET('/api/v1/app', { params: { query: { limit: String(APPS) } } }))).data;
  const groups = new Map<string, Group>();
  for (const app of apps) {
    const endpoints = await ok(
      api.GET('/api/v1/app/{app_id}/endpoint', {
        params: { path: { app_id: app.id }, query: { limit: String(ENDPOINTS) } },
      }),
    );
    await Promise.all(
      endpoints.data.map(async (endpoint) => {
        const failed = await ok(
          api.GET('/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}', {
            params: {
              path: { app_id: app.id, endpoint_id: endpoint.id },
              query: { status: '2', limit: String(ATTEMPTS), with_content: 'false' },
            },
          }),
        );
        for (const a of failed.data) {
          const cause = causeOf(a);
          const key = `${endpoint.id} ${cause}`;
          let g = groups.get(key);
          if (!g) {
            g = {
              key,
              appId: app.id,
              appName: app.name,
              endpoint,
              cause,
              codes: new Set(),
              attempts: 0,
              messages: new Set(),
              first: a.timestamp,
              last: a.timestamp,
            };
            groups.set(key, g);
          }
          g.attempts++;
          g.messages.add(a.msgId);
          if (a.responseStatusCode >= 100) g.codes.add(a.responseStatusCode);
          if (a.timestamp < g.first) g.first = a.timestamp;
          if (a.timestamp > g.last) g.last = a.timestamp;
        }
      }),
    );
  }
  return [...groups.values()].sort((a, b) => b.last.localeCompare(a.last));
}

/** The endpoint's failed messages (delivery given up): how many, and the oldest one's time. */
async function failedMessages(
  api: Dash['api'],
  appId: string,
  endpointId: string,
): Promise<{ count: number; capped: boolean; oldest: string | null }> {
  let count = 0;
  let oldest: string | null = null;
  let iterator: string | null = null;
  for (;;) {
    const page: { data: { timestamp: string }[]; done: boolean; iterator: string | null } = await ok(
      api.GET('/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg', {
        params: {
          path: { app_id: appId, endpoint_id: endpointId },
          query: { status: '2', limit: '250', with_content: 'false', ...(iterator ? { iterator } : {}) },
        },
      }),
    );
    count += page.data.length;
    for (const m of page.data) if (!oldest || m.timestamp < oldest) oldest = m.timestamp;
    if (page.done || !page.iterator || count >= COUNT_CAP) return { count, capped: !page.done, oldest };
    iterator = page.iterator;
  }
}

type Action = {
  kind: 'resend' | 'disable';
  group: Group;
  count?: { count: number; capped: boolean; oldest: string | null };
};

/** Follows a background task until it ends. */
function TaskProgress({ taskId, onDone }: { taskId: string; onDone: () => void }) {
  const { api } = useDash();
  const [task, setTask] = useState<BackgroundTask>();
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      while (!stop) {
        const t = await ok(
          api.GET('/api/v1/background-task/{task_id}', { params: { path: { task_id: taskId } } }),
        );
        setTask(t);
        if (t.status !== 'running') {
          onDone();
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    poll().catch(() => undefined);
    return () => {
      stop = true;
    };
  }, [taskId]);
  const n = (task?.data as { deliveries?: number } | undefined)?.deliveries ?? 0;
  return (
    <p role="status" class="with-icon">
      {task?.status === 'finished' ? (
        <>
          <CheckCircle size={15} aria-hidden="true" /> Done: {n.toLocaleString()}{' '}
          {n === 1 ? 'message' : 'messages'} queued again
        </>
      ) : task?.status === 'failed' ? (
        <>The resend failed.</>
      ) : (
        <>Resending… {n.toLocaleString()} queued so far</>
      )}
    </p>
  );
}

export function Failures({ appId }: { appId?: string }) {
  const { api } = useDash();
  const groups = useLoad(() => loadGroups(api, appId), [appId]);
  const [action, setAction] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [tasks, setTasks] = useState<Record<string, string>>({});
  const [disabled, setDisabled] = useState<Record<string, boolean>>({});

  const askResend = async (group: Group) => {
    setError(undefined);
    try {
      setAction({ kind: 'resend', group, count: await failedMessages(api, group.appId, group.endpoint.id) });
    } catch (e) {
      setError(e as Error);
    }
  };
  const confirm = async () => {
    if (!action) return;
    const { group } = action;
    setBusy(true);
    setError(undefined);
    try {
      if (action.kind === 'resend') {
        const floor = Date.now() - RECOVER_DAYS * 86_400_000 + 60_000;
        const oldest = action.count?.oldest
          ? new Date(action.count.oldest).getTime() - 1000
          : Date.parse(group.first);
        const task = await ok(
          api.POST('/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover', {
            params: { path: { app_id: group.appId, endpoint_id: group.endpoint.id } },
            body: { since: new Date(Math.max(oldest, floor)).toISOString() },
          }),
        );
        setTasks({ ...tasks, [group.endpoint.id]: task.id });
      } else {
        await ok(
          api.PATCH('/api/v1/app/{app_id}/endpoint/{endpoint_id}', {
            params: { path: { app_id: group.appId, endpoint_id: group.endpoint.id } },
            body: { disabled: true },
          }),
        );
        setDisabled({ ...disabled, [group.endpoint.id]: true });
      }
      setAction(null);
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  const count = action?.count;
  const what = count ? `${count.count.toLocaleString()}${count.capped ? '+' : ''}` : '';
  return (
    <section>
      <PageHeader
        title="Failures"
        sub={
          appId
            ? 'Failed attempts of this application, grouped by endpoint and cause.'
            : `Failed attempts, grouped by endpoint and cause (the newest ${ATTEMPTS} failures of each endpoint of the first ${APPS} applications).`
        }
        actions={
          <button type="button" class="secondary outline small" onClick={groups.reload}>
            Refresh
          </button>
        }
      />
      <ErrorNote error={groups.error ?? error} />
      {groups.loading && <Loading what="failures" />}
      {groups.data && groups.data.length === 0 && (
        <EmptyState icon={<CheckCircle size={32} aria-hidden="true" />} title="No failures">
          <p>No endpoint has a failed attempt.</p>
        </EmptyState>
      )}
      {groups.data && groups.data.length > 0 && (
        <Table
          caption="Failures by endpoint and cause"
          rows={groups.data}
          rowKey={(g) => g.key}
          columns={[
            {
              label: 'Endpoint',
              class: 'wide',
              cell: (g) => (
                <>
                  <a class="url" href={`#/apps/${g.appId}/endpoints/${g.endpoint.id}`}>
                    {g.endpoint.url}
                  </a>
                  <span class="sub">
                    {appId ? g.endpoint.description : g.appName}
                    {(disabled[g.endpoint.id] || g.endpoint.disabled) && (
                      <>
                        {' '}
                        <Badge tone="neutral">Disabled</Badge>
                      </>
                    )}
                  </span>
                  {tasks[g.endpoint.id] && (
                    <TaskProgress taskId={tasks[g.endpoint.id]!} onDone={() => undefined} />
                  )}
                </>
              ),
            },
            {
              label: 'Cause',
              cell: (g) => (
                <>
                  <Badge tone="bad">{g.cause}</Badge>
                  {g.codes.size > 0 && <span class="sub">{[...g.codes].sort().join(', ')}</span>}
                </>
              ),
            },
            { label: 'Attempts', class: 'num', cell: (g) => g.attempts.toLocaleString() },
            { label: 'Messages', class: 'num', cell: (g) => g.messages.size.toLocaleString() },
            { label: 'First seen', cell: (g) => <Time iso={g.first} /> },
            { label: 'Last seen', cell: (g) => <Time iso={g.last} /> },
            {
              label: 'Actions',
              cell: (g) => (
                <div class="row-actions stack">
                  <button
                    type="button"
                    class="small with-icon"
                    onClick={() => askResend(g)}
                    aria-label={`Resend all failed messages to ${g.endpoint.url}`}
                  >
                    <RotateCcw size={14} aria-hidden="true" /> Resend all
                  </button>
                  {!(disabled[g.endpoint.id] || g.endpoint.disabled) && (
                    <button
                      type="button"
                      class="small secondary outline with-icon"
                      onClick={() => setAction({ kind: 'disable', group: g })}
                      aria-label={`Disable ${g.endpoint.url}`}
                    >
                      <Power size={14} aria-hidden="true" /> Disable
                    </button>
                  )}
                </div>
              ),
            },
          ]}
        />
      )}
      <ConfirmDialog
        open={action !== null}
        title={
          action?.kind === 'resend'
            ? `Resend ${what} failed ${count?.count === 1 ? 'message' : 'messages'} to ${action.group.endpoint.url}?`
            : `Disable ${action?.group.endpoint.url ?? ''}?`
        }
        confirm={action?.kind === 'resend' ? `Resend ${what}` : 'Disable endpoint'}
        danger={action?.kind === 'disable'}
        busy={busy}
        onConfirm={confirm}
        confirmDisabled={action?.kind === 'resend' && count?.count === 0}
        onClose={() => setAction(null)}
      >
        {action?.kind === 'resend' && count?.count === 0 ? (
          <p>
            None of these messages has failed for good yet: Herald is still retrying them on its schedule.
            Resend one from its message page to try it now.
          </p>
        ) : action?.kind === 'resend' ? (
          <p>
            Every message whose delivery to this endpoint failed
            {count?.oldest && (
              <>
                {' '}
                since <Time iso={count.oldest} />
              </>
            )}{' '}
            is sent again, by a background task on the server (not only the rows shown here).
          </p>
        ) : (
          <p>The endpoint gets no more messages until it is enabled again; what is pending for it waits.</p>
        )}
      </ConfirmDialog>
    </section>
  );
}
