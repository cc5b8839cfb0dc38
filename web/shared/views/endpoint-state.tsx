/** An endpoint's state in words: active, disabled, or disabled automatically (why, and when). */
import type { Endpoint } from '../api.ts';
import { Time } from '../format.tsx';
import { Badge } from '../ui.tsx';

/**
 * Herald's reasons in a customer's words. How long "failing" lasts is the server's
 * auto-disable period (5 days unless the operator changed it), which the API does not say.
 */
const REASONS: Record<NonNullable<Endpoint['disabledReason']>, string> = {
  gone: 'it answered 410 Gone',
  failing: 'every delivery failed, with no success, for days (5 by default)',
  idle: 'no herald listen client held it for days (7 by default)',
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
  if (why) return <Badge tone="bad">Disabled</Badge>;
  return <Badge tone="neutral">Disabled</Badge>;
}

/** "Disabled automatically on <date>: <why>", or nothing when Herald did not disable it by itself. */
export function AutoDisabledWords({ endpoint }: { endpoint: Endpoint }) {
  const why = autoDisabledWhy(endpoint);
  if (!why) return null;
  return (
    <>
      Disabled automatically
      {endpoint.disabledAt && (
        <>
          {' '}
          on <Time iso={endpoint.disabledAt} />
        </>
      )}
      : {why}
    </>
  );
}

/** The line under an automatically disabled endpoint in a list. */
export function AutoDisabledNote({ endpoint }: { endpoint: Endpoint }) {
  if (!autoDisabledWhy(endpoint)) return null;
  return (
    <span class="sub auto-disabled">
      <AutoDisabledWords endpoint={endpoint} />
    </span>
  );
}
