/** One message as one endpoint got it: its payload and every attempt, with resend. */
import { ArrowLeft } from 'lucide-preact';
import { ok } from '../api.ts';
import { useView } from '../context.ts';
import { duration, Id, Time } from '../format.tsx';
import { ErrorNote, Loading, PageHeader, useLoad } from '../ui.tsx';
import { AttemptDetail, AttemptStatus, ResendButton } from './attempts.tsx';

export function MessagePage({ endpointId, msgId }: { endpointId: string; msgId: string }) {
  const { api, appId, can, link } = useView();
  const message = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/msg/{msg_id}', { params: { path: { app_id: appId, msg_id: msgId } } }),
      ),
    [msgId],
  );
  const attempts = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/attempt/msg/{msg_id}', {
          params: {
            path: { app_id: appId, msg_id: msgId },
            query: { endpoint_id: endpointId, limit: '250' },
          },
        }),
      ),
    [msgId, endpointId],
  );
  const m = message.data;
  return (
    <section>
      <p>
        <a href={link(`/endpoints/${endpointId}`)} class="with-icon">
          <ArrowLeft size={14} aria-hidden="true" /> Back to the endpoint
        </a>
      </p>
      <ErrorNote error={message.error ?? attempts.error} />
      {!m && !message.error && <Loading what="the message" />}
      {m && (
        <>
          <PageHeader
            title={<code class="plain">{m.eventType}</code>}
            sub={
              <>
                <Id id={m.id} /> · <Time iso={m.timestamp} />
                {m.eventId && <> · event id {m.eventId}</>}
              </>
            }
            actions={
              can.send && <ResendButton msgId={m.id} endpointId={endpointId} onSent={attempts.reload} />
            }
          />
          <h2>Payload</h2>
          <pre class="json">{JSON.stringify(m.payload, null, 2)}</pre>
        </>
      )}
      <h2 style={{ marginTop: '1.5rem' }}>Attempts</h2>
      {attempts.data?.data.length === 0 && <p class="muted">Not sent to this endpoint yet.</p>}
      {attempts.data?.data.map((a) => (
        <article key={a.id} class="card" style={{ marginBottom: '0.75rem' }}>
          <h3 class="with-icon">
            <AttemptStatus attempt={a} /> <Time iso={a.timestamp} /> · {duration(a.responseDurationMs)}
          </h3>
          <AttemptDetail attempt={a} />
        </article>
      ))}
    </section>
  );
}
