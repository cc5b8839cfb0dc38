/**
 * Failures grouped by endpoint and cause (status class or error kind), or by host and cause
 * across endpoints and applications: an outage reads as one row, with how many attempts it
 * failed, when it was first and last seen, whether it is still failing, and how many
 * deliveries are failed now. The server counts them (`GET /api/v1/failures`), whatever the
 * size of the install. From a row: resend every failed message (the recover background task
 * of each endpoint, with its progress) and disable the endpoint(s), each after a
 * confirmation naming the count and the URLs it touches.
 */
import { CheckCircle, Power, RotateCcw } from 'lucide-preact';
import { useEffect, useState } from 'preact/hooks';
import { type BackgroundTask, ok } from '../shared/api.ts';
import type { paths } from '../shared/api-types.ts';
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
import { useDash } from './session.ts';

type Group =
  paths['/api/v1/failures']['get']['responses'][200]['content']['application/json']['data'][number];
type Member = Group['endpoints'][number];
type GroupBy = 'endpoint' | 'host';

/** Groups per page. */
const PAGE = 50;
/** Recover reaches this far back at most (the server's limit, less a minute of clock drift). */
const RECOVER_DAYS = 14;

/** What failed, in words: `http_5xx` is "HTTP 5xx", an error kind its words. */
function causeWords(cause: string): string {
  const m = /^http_(\d)xx$/.exec(cause);
  return m ? `HTTP ${m[1]}xx` : cause.replaceAll('_', ' ');
}

const plural = (n: number, one: string, many: string) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** The endpoints "Resend all" starts a recover for: enabled ones with failed deliveries. */
const resendable = (g: Group) => g.endpoints.filter((e) => !e.disabled && e.failedNow > 0);

/** Endpoints' URLs in a sentence: the first five, then how many more. */
function urls(endpoints: readonly Member[]): string {
  const shown = endpoints.slice(0, 5).map((e) => e.url);
  const rest = endpoints.length - shown.length;
  return rest > 0 ? `${shown.join(', ')} and ${plural(rest, 'other', 'others')}` : shown.join(', ');
}

/** What a row's actions touch, in words: the URL, or the host and how many endpoints. */
function target(g: Group, by: GroupBy): string {
  if (by === 'endpoint') return g.endpoints[0]?.url ?? g.host;
  return `${plural(g.endpointCount, 'endpoint', 'endpoints')} on ${g.host}`;
}

type Action = { kind: 'resend' | 'disable'; group: Group };

/** Follows background tasks until they all end, with the count they have queued again. */
function TaskProgress({ taskIds }: { taskIds: string[] }) {
  const { api } = useDash();
  const [tasks, setTasks] = useState<BackgroundTask[]>([]);
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      while (!stop) {
        const all = await Promise.all(
          taskIds.map((id) =>
            ok(api.GET('/api/v1/background-task/{task_id}', { params: { path: { task_id: id } } })),
          ),
        );
        setTasks(all);
        if (all.every((t) => t.status !== 'running')) return;
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    poll().catch(() => undefined);
    return () => {
      stop = true;
    };
  }, [taskIds.join(' ')]);
  const n = tasks.reduce((sum, t) => sum + ((t.data as { deliveries?: number }).deliveries ?? 0), 0);
  const done = tasks.length === taskIds.length && tasks.every((t) => t.status !== 'running');
  return (
    <p role="status" class="with-icon">
      {done && tasks.some((t) => t.status === 'failed') ? (
        <>The resend failed.</>
      ) : done ? (
        <>
          <CheckCircle size={15} aria-hidden="true" /> Done: {plural(n, 'message', 'messages')} queued again
        </>
      ) : (
        <>Resending… {n.toLocaleString()} queued so far</>
      )}
    </p>
  );
}

/** One endpoint of a group: its URL as a link, its application (or description) and state. */
function EndpointLine({ e, disabled, showApp }: { e: Member; disabled: boolean; showApp: boolean }) {
  return (
    <>
      <a class="url" href={`#/apps/${e.appId}/endpoints/${e.id}`}>
        {e.url}
      </a>
      <span class="sub">
        {showApp && e.appName}
        {disabled && (
          <>
            {' '}
            <Badge tone="neutral">Disabled</Badge>
          </>
        )}
      </span>
    </>
  );
}

export function Failures({ appId }: { appId?: string }) {
  const { api } = useDash();
  const [by, setBy] = useState<GroupBy>('endpoint');
  const [more, setMore] = useState<{ data: Group[]; iterator: string | null } | null>(null);
  const load = (iterator?: string) =>
    ok(
      api.GET('/api/v1/failures', {
        params: {
          query: {
            group_by: by,
            limit: String(PAGE),
            ...(appId ? { app_id: appId } : {}),
            ...(iterator ? { iterator } : {}),
          },
        },
      }),
    );
  const first = useLoad(() => {
    setMore(null);
    return load();
  }, [appId, by]);
  const [action, setAction] = useState<Action | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [tasks, setTasks] = useState<Record<string, string[]>>({});
  const [disabled, setDisabled] = useState<Record<string, boolean>>({});
  const isDisabled = (e: Member) => disabled[e.id] || e.disabled;

  const groups = first.data ? [...first.data.data, ...(more?.data ?? [])] : undefined;
  const next = more ? more.iterator : (first.data?.iterator ?? null);
  const loadMore = async () => {
    if (!next) return;
    try {
      const page = await load(next);
      setMore({ data: [...(more?.data ?? []), ...page.data], iterator: page.iterator });
    } catch (e) {
      setError(e as Error);
    }
  };

  /**
   * The group with every endpoint it has, each counted exactly (a page counts up to 10,000 an
   * endpoint, and a host group lists its first 100): for a host, its endpoint groups of the
   * same cause, page by page.
   */
  const whole = async (r: Group): Promise<Group> => {
    const exact = async (query: Record<string, string>) =>
      ok(
        api.GET('/api/v1/failures', {
          params: { query: { ...query, exact_counts: 'true', ...(appId ? { app_id: appId } : {}) } },
        }),
      );
    if (by === 'endpoint') {
      const page = await exact({ group_by: 'endpoint', endpoint_id: r.endpoints[0]!.id });
      return page.data.find((x) => x.key === r.key) ?? r;
    }
    const members = new Map<string, Member>();
    // The pages run newest failure first: a group that fails again while they are read moves
    // ahead of the pages read. Read again (three times at most) until every endpoint the row
    // counts has been seen.
    for (let pass = 0; pass < 3 && members.size < r.endpointCount; pass++) {
      let iterator: string | null = null;
      do {
        const page = await exact({
          group_by: 'endpoint',
          host: r.host,
          limit: '250',
          ...(iterator ? { iterator } : {}),
        });
        for (const x of page.data) if (x.cause === r.cause) for (const e of x.endpoints) members.set(e.id, e);
        iterator = page.done ? null : page.iterator;
      } while (iterator);
    }
    return { ...r, endpoints: [...members.values()], endpointCount: members.size };
  };

  /** Opens the confirmation of `kind` on the whole group. */
  const ask = async (kind: Action['kind'], r: Group) => {
    setError(undefined);
    try {
      setAction({ kind, group: await whole(r) });
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
        const since = new Date(Date.now() - RECOVER_DAYS * 86_400_000 + 60_000).toISOString();
        const started: string[] = [];
        for (const e of resendable(group)) {
          const task = await ok(
            api.POST('/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover', {
              params: { path: { app_id: e.appId, endpoint_id: e.id } },
              body: { since },
            }),
          );
          started.push(task.id);
        }
        setTasks({ ...tasks, [group.key]: started });
      } else {
        const off = { ...disabled };
        for (const e of group.endpoints.filter((x) => !isDisabled(x))) {
          await ok(
            api.PATCH('/api/v1/app/{app_id}/endpoint/{endpoint_id}', {
              params: { path: { app_id: e.appId, endpoint_id: e.id } },
              body: { disabled: true },
            }),
          );
          off[e.id] = true;
        }
        setDisabled(off);
      }
      setAction(null);
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  const g = action?.group;
  const toResend = g ? resendable(g) : [];
  const count = toResend.reduce((n, e) => n + e.failedNow, 0);
  const toDisable = g ? g.endpoints.filter((e) => !isDisabled(e)) : [];
  return (
    <section>
      <PageHeader
        title="Failures"
        sub={`Failed attempts${appId ? ' of this application' : ''}, grouped by ${by} and cause, newest first; counted by the server as they happen, kept ${RECOVER_DAYS} days after the last one.`}
        actions={
          <div class="failures-actions">
            <fieldset class="window-switch" aria-label="Group by">
              {(['endpoint', 'host'] as const).map((b) => (
                <button
                  key={b}
                  type="button"
                  class={b === by ? '' : 'outline secondary'}
                  aria-pressed={b === by}
                  onClick={() => setBy(b)}
                >
                  By {b}
                </button>
              ))}
            </fieldset>
            <button type="button" class="secondary outline small" onClick={first.reload}>
              Refresh
            </button>
          </div>
        }
      />
      <ErrorNote error={first.error ?? error} />
      {first.loading && <Loading what="failures" />}
      {groups && groups.length === 0 && (
        <EmptyState icon={<CheckCircle size={32} aria-hidden="true" />} title="No failures">
          <p>No endpoint has had a failed attempt in the last {RECOVER_DAYS} days.</p>
        </EmptyState>
      )}
      {groups && groups.length > 0 && (
        <Table
          caption={`Failures by ${by} and cause`}
          rows={groups}
          rowKey={(r) => r.key}
          columns={[
            {
              label: by === 'endpoint' ? 'Endpoint' : 'Host',
              class: 'wide',
              cell: (r) => (
                <>
                  {by === 'endpoint' && r.endpoints[0] ? (
                    <EndpointLine e={r.endpoints[0]} disabled={isDisabled(r.endpoints[0])} showApp={!appId} />
                  ) : (
                    <>
                      <strong>{r.host}</strong>
                      <span class="sub">{plural(r.endpointCount, 'endpoint', 'endpoints')}</span>
                      <ul class="failure-endpoints">
                        {r.endpoints.map((e) => (
                          <li key={e.id}>
                            <EndpointLine e={e} disabled={isDisabled(e)} showApp={!appId} />
                          </li>
                        ))}
                      </ul>
                    </>
                  )}
                  {tasks[r.key] && <TaskProgress taskIds={tasks[r.key]!} />}
                </>
              ),
            },
            {
              label: 'Cause',
              cell: (r) => (
                <>
                  <Badge tone="bad">{causeWords(r.cause)}</Badge>
                  {r.lastStatusCode !== null && <span class="sub">last {r.lastStatusCode}</span>}
                </>
              ),
            },
            { label: 'Attempts', class: 'num', cell: (r) => r.attempts.toLocaleString() },
            {
              label: 'Failed now',
              class: 'num',
              cell: (r) => `${r.failedNow.toLocaleString()}${r.failedNowCapped ? '+' : ''}`,
            },
            { label: 'First seen', cell: (r) => <Time iso={r.firstSeen} /> },
            { label: 'Last seen', cell: (r) => <Time iso={r.lastSeen} /> },
            {
              label: 'State',
              cell: (r) =>
                r.failing ? (
                  <Badge
                    tone="bad"
                    title="the last failure came after the last success, or messages are failed now"
                  >
                    Failing
                  </Badge>
                ) : (
                  <Badge tone="ok" title="a success came after the last failure">
                    Recovered
                  </Badge>
                ),
            },
            {
              label: 'Actions',
              cell: (r) => (
                <div class="row-actions stack">
                  {resendable(r).length > 0 && (
                    <button
                      type="button"
                      class="small with-icon"
                      onClick={() => ask('resend', r)}
                      aria-label={`Resend all failed messages to ${target(r, by)}`}
                    >
                      <RotateCcw size={14} aria-hidden="true" /> Resend all
                    </button>
                  )}
                  {r.endpoints.some((e) => !isDisabled(e)) && (
                    <button
                      type="button"
                      class="small secondary outline with-icon"
                      onClick={() => ask('disable', r)}
                      aria-label={`Disable ${target(r, by)}`}
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
      {next && (
        <button type="button" class="secondary outline small" onClick={loadMore}>
          More failures
        </button>
      )}
      <ConfirmDialog
        open={action !== null}
        title={
          action?.kind === 'resend'
            ? `Resend ${plural(count, 'failed message', 'failed messages')} to ${
                toResend.length === 1
                  ? toResend[0]!.url
                  : `${plural(toResend.length, 'endpoint', 'endpoints')} on ${g?.host}`
              }?`
            : `Disable ${toDisable.length === 1 ? toDisable[0]!.url : `${plural(toDisable.length, 'endpoint', 'endpoints')} on ${g?.host}`}?`
        }
        confirm={
          action?.kind === 'resend'
            ? `Resend ${count.toLocaleString()}`
            : toDisable.length === 1
              ? 'Disable endpoint'
              : `Disable ${toDisable.length} endpoints`
        }
        danger={action?.kind === 'disable'}
        busy={busy}
        onConfirm={confirm}
        onClose={() => setAction(null)}
      >
        {action?.kind === 'resend' ? (
          <p>
            Every message whose delivery failed in the last {RECOVER_DAYS} days is sent again, by a background
            task on the server for each endpoint (not only the rows shown here)
            {toResend.length > 1 && <>: {urls(toResend)}</>}. Those whose payload is gone are left out.
          </p>
        ) : (
          <p>
            {toDisable.length > 1 && <>{urls(toDisable)}: </>}
            no more messages until {toDisable.length === 1 ? 'it is' : 'they are'} enabled again; what is
            pending waits.
          </p>
        )}
      </ConfirmDialog>
    </section>
  );
}
