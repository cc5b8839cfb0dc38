/** An endpoint's state in words: active, disabled, or disabled automatically (why, and when). */
import type { Endpoint } from '../api.ts';
import { Time } from '../format.tsx';
import { Badge } from '../ui.tsx';

const REASONS: Record<string, string> = {
  gone: 'your server answered 410 Gone',
  failing: 'every delivery failed for 5 days',
};

/** Why Herald disabled `endpoint` by itself, in words; `null` when it did not. */
export function autoDisabledWhy(endpoint: Endpoint): string | null {
  if (!endpoint.disabled || !endpoint.disabledReason) return null;
  return REASONS[endpoint.disabledReason] ?? endpoint.disabledReason;
}

/** The state badge of an endpoint. */
export function EndpointState({ endpoint }: { endpoint: Endpoint }) {
  if (!endpoint.disabled) return <Badge tone="ok">Active</Badge>;
  const why = autoDisabledWhy(endpoint);
  if (why)
    return (
      <Badge tone="bad" title={`Disabled automatically: ${why}`}>
        Disabled automatically
      </Badge>
    );
  return <Badge tone="neutral">Disabled</Badge>;
}

/** The line under an automatically disabled endpoint: why and since when. */
export function AutoDisabledNote({ endpoint }: { endpoint: Endpoint }) {
  const why = autoDisabledWhy(endpoint);
  if (!why) return null;
  return (
    <span class="sub">
      {why}
      {endpoint.disabledAt && (
        <>
          {' '}
          · <Time iso={endpoint.disabledAt} />
        </>
      )}
    </span>
  );
}
