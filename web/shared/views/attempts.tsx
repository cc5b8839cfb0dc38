/**
 * The message log of an endpoint: each attempt with its status code, time, duration,
 * response excerpt and error; filters by status, event type and time; resend.
 */
import { ChevronDown, ChevronRight, Inbox, RefreshCw, Send } from 'lucide-preact';
import { useEffect, useState } from 'preact/hooks';
import { type Attempt, ok } from '../api.ts';
import { useView } from '../context.ts';
import { duration, Id, Time } from '../format.tsx';
import { Badge, EmptyState, ErrorNote, Loading, useLoad } from '../ui.tsx';

/** Attempts per page of the log. */
const PAGE = 50;
const DAY = 86_400_000;

const STATUS: Record<number, { word: string; tone: 'ok' | 'bad' | 'warn' | 'neutral' }> = {
  0: { word: 'Succeeded', tone: 'ok' },
  1: { word: 'Pending', tone: 'warn' },
  2: { word: 'Failed', tone: 'bad' },
  3: { word: 'Sending', tone: 'neutral' },
};

/** An attempt's outcome: its state and the status code, or the error's kind. */
export function AttemptStatus({ attempt }: { attempt: Attempt }) {
  const s = STATUS[attempt.status] ?? STATUS[1]!;
  return (
    <span class="with-icon">
      <Badge tone={s.tone}>{s.word}</Badge>
      <code class="plain">
        {attempt.responseStatusCode
          ? attempt.responseStatusCode
          : (attempt.errorKind ?? '').replaceAll('_', ' ')}
      </code>
    </span>
  );
}

/** Sends one message to one endpoint again; says when it has. */
export function ResendButton({
  msgId,
  endpointId,
  onSent,
}: {
  msgId: string;
  endpointId: string;
  onSent?: () => void;
}) {
  const { api, appId } = useView();
  const [state, setState] = useState<'idle' | 'busy' | 'sent'>('idle');
  const [error, setError] = useState<Error>();
  const resend = async () => {
    setState('busy');
    setError(undefined);
    try {
      await ok(
        api.POST('/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend', {
          params: { path: { app_id: appId, msg_id: msgId, endpoint_id: endpointId } },
        }),
      );
      setState('sent');
      onSent?.();
    } catch (e) {
      setError(e as Error);
      setState('idle');
    }
  };
  return (
    <span>
      <button
        type="button"
        class="small secondary outline with-icon"
        onClick={resend}
        disabled={state === 'busy'}
        aria-busy={state === 'busy' ? 'true' : undefined}
      >
        <Send size={14} aria-hidden="true" /> {state === 'sent' ? 'Resent' : 'Resend'}
      </button>
      <ErrorNote error={error} />
    </span>
  );
}

/** What one attempt sent and got back. */
export function AttemptDetail({ attempt }: { attempt: Attempt }) {
  return (
    <dl class="kv">
      <dt>Attempt</dt>
      <dd>
        <Id id={attempt.id} />
      </dd>
      <dt>Sent to</dt>
      <dd>{attempt.url}</dd>
      <dt>Trigger</dt>
      <dd>{attempt.triggerType === 1 ? 'Manual (resend or recover)' : 'Scheduled'}</dd>
      {attempt.errorMessage && (
        <>
          <dt>Error</dt>
          <dd class="field-error">{attempt.errorMessage}</dd>
        </>
      )}
      <dt>Response</dt>
      <dd>
        {attempt.response ? (
          <pre class="json">{attempt.response}</pre>
        ) : (
          <span class="muted">No response body</span>
        )}
      </dd>
    </dl>
  );
}

/** The filters of the log. */
interface Filters {
  status: string;
  eventType: string;
  since: string;
}

/** The attempts of `endpointId`, newest first, refreshed every few seconds. */
export function MessageLog({ endpointId, eventTypes }: { endpointId: string; eventTypes: string[] }) {
  const { api, appId, can, link } = useView();
  const [filters, setFilters] = useState<Filters>({ status: '', eventType: '', since: '' });
  const [open, setOpen] = useState<string | null>(null);
  // The newest page, refreshed every few seconds; older pages, each through the previous one's
  // iterator, as many as the reader asks for ("Show older attempts").
  const [older, setOlder] = useState<{ data: Attempt[]; iterator: string | null; done: boolean }[]>([]);
  const [olderBusy, setOlderBusy] = useState(false);
  const [olderError, setOlderError] = useState<Error>();
  const query = (iterator?: string | null) => ({
    limit: String(PAGE),
    with_msg: 'true' as const,
    ...(iterator ? { iterator } : {}),
    ...(filters.status ? { status: filters.status } : {}),
    ...(filters.eventType ? { event_types: filters.eventType } : {}),
    // `after` alone would give the oldest page after that time; with `before` the list stays newest first.
    ...(filters.since
      ? { after: new Date(filters.since).toISOString(), before: new Date(Date.now() + DAY).toISOString() }
      : {}),
  });
  const path = { app_id: appId, endpoint_id: endpointId };
  const log = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}', { params: { path, query: query() } }),
      ),
    [endpointId, filters.status, filters.eventType, filters.since],
  );
  // New filters start from the newest page again.
  useEffect(() => setOlder([]), [endpointId, filters.status, filters.eventType, filters.since]);
  // While older pages are shown the newest page stays put: refreshing it alone would leave a
  // gap between it and them. Refresh starts again from the newest.
  const showingOlder = older.length > 0;
  useEffect(() => {
    if (showingOlder) return;
    const timer = setInterval(() => document.visibilityState === 'visible' && log.reload(), 4000);
    return () => clearInterval(timer);
  }, [log.reload, showingOlder]);
  const refresh = () => {
    setOlder([]);
    log.reload();
  };
  const last = older.at(-1) ?? log.data;
  const showOlder = async () => {
    if (!last?.iterator) return;
    setOlderBusy(true);
    setOlderError(undefined);
    try {
      const page = await ok(
        api.GET('/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}', {
          params: { path, query: query(last.iterator) },
        }),
      );
      setOlder((o) => [...o, page]);
    } catch (e) {
      setOlderError(e as Error);
    } finally {
      setOlderBusy(false);
    }
  };
  const set = (name: keyof Filters) => (e: Event) =>
    setFilters((f) => ({ ...f, [name]: (e.currentTarget as HTMLInputElement).value }));
  const rows = [...(log.data?.data ?? []), ...older.flatMap((p) => p.data)];
  const filtered = filters.status || filters.eventType || filters.since;

  return (
    <section aria-labelledby="log-title">
      <div class="page-header log-header">
        <h2 id="log-title">Message log</h2>
        <button type="button" class="small secondary outline with-icon" onClick={refresh}>
          <RefreshCw size={14} aria-hidden="true" /> Refresh
        </button>
      </div>
      <div class="filters">
        <label>
          Status
          <select value={filters.status} onChange={set('status')}>
            <option value="">Any status</option>
            <option value="0">Succeeded</option>
            <option value="2">Failed</option>
            <option value="1">Pending</option>
            <option value="3">Sending</option>
          </select>
        </label>
        <label>
          Event type
          <select value={filters.eventType} onChange={set('eventType')}>
            <option value="">Any event type</option>
            {eventTypes.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Since
          <input type="datetime-local" value={filters.since} onChange={set('since')} />
        </label>
      </div>
      <ErrorNote error={log.error} />
      {log.loading && !log.data && <Loading what="the message log" />}
      {log.data && rows.length === 0 && (
        <EmptyState
          icon={<Inbox size={28} aria-hidden="true" />}
          title={filtered ? 'No attempts match these filters' : 'No messages sent yet'}
        >
          <p>
            {filtered
              ? 'Change or clear the filters to see more.'
              : can.send
                ? 'Messages appear here as soon as Herald sends them. Use "Send example event" above to try your endpoint now.'
                : 'Messages appear here as soon as Herald sends them.'}
          </p>
        </EmptyState>
      )}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="striped">
            <caption class="visually-hidden">
              Attempts to deliver messages to this endpoint, newest first
            </caption>
            <thead>
              <tr>
                <th scope="col">
                  <span class="visually-hidden">Details</span>
                </th>
                <th scope="col">Status</th>
                <th scope="col">Event type</th>
                <th scope="col" class="hide-narrow">
                  Message
                </th>
                <th scope="col">Time</th>
                <th scope="col" class="num hide-narrow">
                  Duration
                </th>
                {can.send && (
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {rows.map((a) => {
                const isOpen = open === a.id;
                return [
                  <tr key={a.id} class={isOpen ? 'open' : ''}>
                    <td>
                      <button
                        type="button"
                        class="icon-button"
                        aria-expanded={isOpen}
                        aria-label={`Details of attempt ${a.id}`}
                        onClick={() => setOpen(isOpen ? null : a.id)}
                      >
                        {isOpen ? (
                          <ChevronDown size={16} aria-hidden="true" />
                        ) : (
                          <ChevronRight size={16} aria-hidden="true" />
                        )}
                      </button>
                    </td>
                    <td>
                      <AttemptStatus attempt={a} />
                    </td>
                    <td>
                      <code class="plain">{a.msg?.eventType ?? '—'}</code>
                    </td>
                    <td class="hide-narrow">
                      <a href={link(`/endpoints/${endpointId}/messages/${a.msgId}`)} title={a.msgId}>
                        <code class="plain">
                          {a.msgId.slice(0, 8)}…{a.msgId.slice(-4)}
                        </code>
                      </a>
                    </td>
                    <td>
                      <Time iso={a.timestamp} />
                    </td>
                    <td class="num hide-narrow">{duration(a.responseDurationMs)}</td>
                    {can.send && (
                      <td>
                        <ResendButton msgId={a.msgId} endpointId={endpointId} onSent={refresh} />
                      </td>
                    )}
                  </tr>,
                  isOpen && (
                    <tr key={`${a.id}-detail`}>
                      <td colSpan={can.send ? 7 : 6} class="detail">
                        <AttemptDetail attempt={a} />
                      </td>
                    </tr>
                  ),
                ];
              })}
            </tbody>
          </table>
        </div>
      )}
      {last && !last.done && rows.length > 0 && (
        <p class="log-more">
          <button
            type="button"
            class="small secondary outline"
            onClick={showOlder}
            disabled={olderBusy}
            aria-busy={olderBusy ? 'true' : undefined}
          >
            Show older attempts
          </button>
          <small class="muted">
            {rows.length} shown
            {showingOlder ? '; new attempts appear after Refresh' : ''}
          </small>
        </p>
      )}
      {last?.done && showingOlder && (
        <p class="log-more muted">
          <small>All {rows.length} attempts shown.</small>
        </p>
      )}
      <ErrorNote error={olderError} />
    </section>
  );
}
