/** The event catalog: every event type with its description, JSON Schema and example payload. */
import { BookOpen } from 'lucide-preact';
import { ok } from '../api.ts';
import { useView } from '../context.ts';
import { Badge, EmptyState, ErrorNote, Loading, PageHeader, useLoad } from '../ui.tsx';

/** The schema of the highest version, and its first example. */
function latest(schemas: Record<string, unknown> | null): { schema?: unknown; example?: unknown } {
  if (!schemas) return {};
  const version = Object.keys(schemas).sort((a, b) => Number(b) - Number(a))[0];
  const schema = version === undefined ? undefined : (schemas[version] as Record<string, unknown>);
  const examples = schema?.examples;
  // The example is shown on its own, beside the schema.
  const { examples: _, ...rest } = schema ?? {};
  return { schema: schema && rest, example: Array.isArray(examples) ? examples[0] : undefined };
}

export function Catalog() {
  const { api } = useView();
  const list = useLoad(
    () => ok(api.GET('/api/v1/event-type', { params: { query: { limit: '250', with_content: 'true' } } })),
    [],
  );
  const types = list.data?.data.filter((t) => !t.archived) ?? [];
  return (
    <section>
      <PageHeader
        title="Event catalog"
        sub="The events you can subscribe an endpoint to, and what each one carries."
      />
      <ErrorNote error={list.error} />
      {list.loading && !list.data && <Loading what="the event catalog" />}
      {list.data && types.length === 0 && (
        <EmptyState icon={<BookOpen size={28} aria-hidden="true" />} title="No event types yet">
          <p>
            When event types are defined, they are listed here with their payloads. Endpoints receive every
            event meanwhile.
          </p>
        </EmptyState>
      )}
      {types.map((t, i) => {
        const { schema, example } = latest(t.schemas);
        return (
          <details key={t.name} class="event" open={i === 0}>
            <summary>
              <code>{t.name}</code> {t.deprecated && <Badge tone="warn">Deprecated</Badge>}
              {t.description && <span class="muted"> · {t.description}</span>}
            </summary>
            {!schema && example === undefined && (
              <p class="muted">No schema or example is published for this event.</p>
            )}
            <div class="two-cols">
              {example !== undefined && (
                <div>
                  <h3>Example payload</h3>
                  <pre class="json">{JSON.stringify(example, null, 2)}</pre>
                </div>
              )}
              {schema !== undefined && (
                <div>
                  <h3>JSON Schema</h3>
                  <pre class="json">{JSON.stringify(schema, null, 2)}</pre>
                </div>
              )}
            </div>
          </details>
        );
      })}
    </section>
  );
}
