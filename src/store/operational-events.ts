/**
 * Which operational events a batch of completions causes (core/operational.ts's rule applied
 * to the store's `Completion`s), for both backends to read the names of and write in the
 * batch's transaction.
 */
import { attemptEventKinds, isOperationalApp } from '../core/operational.js';
import type { Attempt } from '../core/types.js';
import type { Completion, DisabledEndpoint } from './store.js';

/** The attempt events of a batch, and its automatic disables that are told. */
export interface CompletionEvents {
  attempts: Array<{
    type: 'message.attempt.failing' | 'message.attempt.exhausted' | 'message.attempt.recovered';
    attempt: Attempt;
  }>;
  /** Disabled endpoints of users' applications (an operational endpoint is never told of itself). */
  disabled: DisabledEndpoint[];
}

/** See {@link CompletionEvents}. */
export function completionEvents(
  completions: readonly Completion[],
  disabled: readonly DisabledEndpoint[],
): CompletionEvents {
  const attempts: CompletionEvents['attempts'] = [];
  for (const c of completions) {
    if (!c.attempt) continue;
    for (const type of attemptEventKinds(c)) attempts.push({ type, attempt: c.attempt });
  }
  return { attempts, disabled: disabled.filter((d) => !isOperationalApp(d.appId)) };
}
