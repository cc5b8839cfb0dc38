/**
 * Which operational events a batch of completions causes (core/operational.ts's rule applied
 * to the store's `Completion`s), for both backends to read the names of and write in the
 * batch's transaction. Each carries the trace context of the attempt that caused it.
 */
import { attemptEventKinds, isOperationalApp } from '../core/operational.js';
import type { Attempt } from '../core/types.js';
import type { Completion, DisabledEndpoint } from './store.js';

/** The attempt events of a batch, and its automatic disables that are told. */
export interface CompletionEvents {
  attempts: Array<{
    type: 'message.attempt.failing' | 'message.attempt.exhausted' | 'message.attempt.recovered';
    attempt: Attempt;
    /** The attempt's span ({@link Completion.traceContext}). */
    traceContext: string | null;
  }>;
  /**
   * Disabled endpoints of users' applications (an operational endpoint is never told of
   * itself), each with the context of the batch's last attempt to it: the one that disabled it.
   */
  disabled: Array<DisabledEndpoint & { traceContext: string | null }>;
}

/** See {@link CompletionEvents}. */
export function completionEvents(
  completions: readonly Completion[],
  disabled: readonly DisabledEndpoint[],
): CompletionEvents {
  const attempts: CompletionEvents['attempts'] = [];
  const lastContext = new Map<string, string | null>();
  for (const c of completions) {
    if (!c.attempt) continue;
    const traceContext = c.traceContext ?? null;
    lastContext.set(c.endpointId, traceContext);
    for (const type of attemptEventKinds(c)) attempts.push({ type, attempt: c.attempt, traceContext });
  }
  return {
    attempts,
    disabled: disabled
      .filter((d) => !isOperationalApp(d.appId))
      .map((d) => ({ ...d, traceContext: lastContext.get(d.endpointId) ?? null })),
  };
}
