/**
 * Adding or editing an endpoint: URL, description, event types chosen from the catalog (none:
 * all), channels, rate limit. What the API refuses shows beside the field it names.
 */
import { useState } from 'preact/hooks';
import { ApiError, type Endpoint, type EndpointIn, ok } from '../api.ts';
import { useView } from '../context.ts';
import { ErrorNote, Field, Loading, PageHeader, useLoad } from '../ui.tsx';

/** The API's names of a field, to the form's. */
const FIELD_OF: Record<string, string> = { filterTypes: 'eventTypes', eventTypes: 'eventTypes' };

export function EndpointForm({ endpoint }: { endpoint?: Endpoint }) {
  const { api, appId, link, go } = useView();
  const catalog = useLoad(
    () => ok(api.GET('/api/v1/event-type', { params: { query: { limit: '250' } } })),
    [],
  );
  const [url, setUrl] = useState(endpoint?.url ?? '');
  const [description, setDescription] = useState(endpoint?.description ?? '');
  const [types, setTypes] = useState<string[]>(endpoint?.filterTypes ?? []);
  const [channels, setChannels] = useState((endpoint?.channels ?? []).join(', '));
  const [rateLimit, setRateLimit] = useState(endpoint?.rateLimit?.toString() ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const fields: Record<string, string> = {};
  if (error instanceof ApiError)
    for (const [name, msg] of Object.entries(error.fields)) fields[FIELD_OF[name] ?? name] = msg;

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const channelList = channels
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean);
    const body: EndpointIn = {
      url: url.trim(),
      description,
      filterTypes: types.length ? types : null,
      channels: channelList.length ? channelList : null,
      rateLimit: rateLimit.trim() === '' ? null : Number(rateLimit),
    };
    try {
      const saved = endpoint
        ? await ok(
            api.PATCH('/api/v1/app/{app_id}/endpoint/{endpoint_id}', {
              params: { path: { app_id: appId, endpoint_id: endpoint.id } },
              body,
            }),
          )
        : await ok(api.POST('/api/v1/app/{app_id}/endpoint', { params: { path: { app_id: appId } }, body }));
      go(`/endpoints/${saved.id}`);
    } catch (e) {
      setError(e as Error);
      setBusy(false);
    }
  };

  const toggle = (name: string, on: boolean) =>
    setTypes((t) => (on ? [...t, name] : t.filter((n) => n !== name)));
  const eventTypes = catalog.data?.data.filter((t) => !t.archived) ?? [];
  // An error no field of the form shows goes above it.
  const placed = ['url', 'description', 'eventTypes', 'channels', 'rateLimit', 'throttleRate'];
  const unplaced = error && !Object.keys(fields).some((f) => placed.includes(f)) ? error : undefined;

  return (
    <section>
      <PageHeader
        title={endpoint ? 'Edit endpoint' : 'Add endpoint'}
        sub={
          endpoint
            ? endpoint.url
            : 'Herald will POST each event to this URL as JSON, signed, and retry when your server does not answer 2xx.'
        }
      />
      <form class="endpoint-form" onSubmit={submit} noValidate>
        <ErrorNote error={unplaced} />
        <Field
          id="ep-url"
          label="Endpoint URL"
          error={fields.url}
          hint="An https:// URL your server answers at."
        >
          {(aria) => (
            <input
              {...aria}
              type="url"
              name="url"
              required
              placeholder="https://example.com/webhooks"
              value={url}
              onInput={(e) => setUrl(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field
          id="ep-description"
          label="Description"
          error={fields.description}
          hint="Optional: what this endpoint is for."
        >
          {(aria) => (
            <input
              {...aria}
              type="text"
              name="description"
              value={description}
              onInput={(e) => setDescription(e.currentTarget.value)}
            />
          )}
        </Field>
        <fieldset class="event-types" aria-describedby="ep-types-hint">
          <legend>Event types</legend>
          {catalog.loading && <Loading what="event types" />}
          {!catalog.loading && eventTypes.length === 0 && (
            <p class="muted">No event types are defined yet: this endpoint will receive every event.</p>
          )}
          {eventTypes.map((t) => (
            <label key={t.name}>
              <input
                type="checkbox"
                name="eventTypes"
                value={t.name}
                checked={types.includes(t.name)}
                onChange={(e) => toggle(t.name, e.currentTarget.checked)}
              />
              <code class="plain">{t.name}</code>
              {t.description && <small>{t.description}</small>}
            </label>
          ))}
        </fieldset>
        <p>
          <small id="ep-types-hint" class={fields.eventTypes ? 'field-error' : 'muted'}>
            {fields.eventTypes ??
              'None chosen: the endpoint receives every event type, including ones added later.'}
          </small>
        </p>
        <div class="two-cols">
          <Field
            id="ep-channels"
            label="Channels"
            error={fields.channels}
            hint="Optional, comma-separated: only messages sent to one of these channels."
          >
            {(aria) => (
              <input
                {...aria}
                type="text"
                name="channels"
                value={channels}
                onInput={(e) => setChannels(e.currentTarget.value)}
              />
            )}
          </Field>
          <Field
            id="ep-rate"
            label="Rate limit (requests per second)"
            error={fields.rateLimit ?? fields.throttleRate}
            hint="Optional: leave empty for no limit."
          >
            {(aria) => (
              <input
                {...aria}
                type="number"
                name="rateLimit"
                min={1}
                inputMode="numeric"
                value={rateLimit}
                onInput={(e) => setRateLimit(e.currentTarget.value)}
              />
            )}
          </Field>
        </div>
        <div class="actions">
          <button type="submit" aria-busy={busy ? 'true' : undefined} disabled={busy}>
            {endpoint ? 'Save changes' : 'Add endpoint'}
          </button>
          <a href={link(endpoint ? `/endpoints/${endpoint.id}` : '/endpoints')} class="btn secondary outline">
            Cancel
          </a>
        </div>
      </form>
    </section>
  );
}
