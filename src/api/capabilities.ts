/**
 * Svix's portal capabilities: what an application token made with `capabilities` may do in
 * its application. A token made without them holds every one (it may do anything there).
 * What a route needs is read from its method and path; a route no capability names (sending a
 * message, changing the application) is refused to a token holding capabilities, so a route
 * added later is closed to such tokens until it is named here.
 */
import { ForbiddenError } from './errors.js';

/** The capabilities, as Svix's `AppPortalCapability` names them. */
export const CAPABILITIES = [
  'ViewBase',
  'ViewEndpointSecret',
  'ManageEndpointSecret',
  'ManageTransformations',
  'CreateAttempts',
  'ManageEndpoint',
] as const;

/** One of {@link CAPABILITIES}. */
export type Capability = (typeof CAPABILITIES)[number];

/** Routes that make a delivery happen: replays, recovery, examples, resends. */
const SENDS = /\/(recover|replay-missing|send-example|bulk-replay|resend)$/;

/** The capabilities any one of which allows `METHOD route`, or `null` when none does. */
export function capabilitiesFor(method: string, route: string): readonly Capability[] | null {
  const read = method === 'GET' || method === 'HEAD';
  if (/\/transformation(\/test)?$/.test(route)) return read ? ['ViewBase'] : ['ManageTransformations'];
  if (route.endsWith('/endpoint/:endpoint_id/secret')) {
    return ['ViewEndpointSecret', 'ManageEndpointSecret', 'ManageEndpoint'];
  }
  if (read) return ['ViewBase'];
  if (route.endsWith('/secret/rotate')) return ['ManageEndpointSecret', 'ManageEndpoint'];
  if (SENDS.test(route)) return ['CreateAttempts'];
  if (/^\/api\/v1\/app\/:app_id\/endpoint(\/|$)/.test(route)) return ['ManageEndpoint'];
  return null;
}

/** Throws unless a token holding `held` (`null`: every capability) may call `METHOD route`. */
export function requireCapability(held: readonly string[] | null, method: string, route: string): void {
  if (held === null || route === '/api/v1/auth/logout') return;
  const needs = capabilitiesFor(method, route);
  if (needs?.some((c) => held.includes(c))) return;
  const what = `${method} ${route.replace(/:(\w+)/g, '{$1}')}`;
  throw new ForbiddenError(
    needs
      ? `this token's capabilities (${held.join(', ')}) do not allow ${what}: it needs ${needs.join(' or ')}`
      : `this token's capabilities (${held.join(', ')}) do not allow ${what}: no capability does, only a token made without capabilities`,
  );
}
