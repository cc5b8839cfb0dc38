/** Which endpoints a message goes to. */

/** The parts of an endpoint that decide whether it receives a message. */
export interface Subscription {
  disabled: boolean;
  filterTypes: readonly string[] | null;
  channels: readonly string[] | null;
}

/**
 * Whether an endpoint receives a message: enabled, subscribed to its event type (or to
 * all), and, if the endpoint lists channels, sharing at least one with the message.
 */
export function matches(sub: Subscription, eventType: string, channels: readonly string[] | null): boolean {
  if (sub.disabled) return false;
  if (sub.filterTypes !== null && !sub.filterTypes.includes(eventType)) return false;
  const wanted = sub.channels;
  if (wanted === null) return true;
  return channels?.some((c) => wanted.includes(c)) ?? false;
}
