/**
 * The Svix routes Herald has not built, so that the SDK calling one hears 501 saying what is
 * missing and where it is planned, never a bare 404 that reads like a wrong id. This is the
 * not-found handler's table: a route some module registers always wins over it, so an entry
 * whose route gets built is simply never reached (`test/api/sdk-routes.test.ts` calls every
 * method of the svix SDK and fails on any bare 404).
 */

/** A family of routes not built, and why. */
interface NotBuilt {
  /** `METHOD /path` templates (`{name}` one segment, a trailing `/*` anything below); `*` as method, any. */
  routes: string[];
  what: string;
  plan: string;
}

const NOT_PLANNED = 'not planned';

const NOT_BUILT: NotBuilt[] = [
  {
    routes: [
      '* /api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation',
      '* /ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation',
      '* /api/v1/stream/{stream_id}/sink/{sink_id}/transformation',
      '* /api/v1/connector',
      '* /api/v1/connector/*',
    ],
    what: 'transformations (and connectors, their templates)',
    plan: 'planned in the transformations issue',
  },
  {
    routes: ['PUT /api/v1/stats/usage/event-types', 'POST /api/v1/stats/usage/app', '* /api/v1/stats/*'],
    what: 'usage statistics (GET …/endpoint/{endpoint_id}/stats and /metrics count deliveries and messages instead)',
    plan: 'not planned',
  },
  {
    routes: [
      '* /api/v1/stream',
      '* /api/v1/stream/*',
      'POST /api/v1/auth/stream-portal-access/{stream_id}',
      'POST /api/v1/auth/stream-logout',
      '* /api/v1/auth/stream/*',
    ],
    what: 'Svix Stream',
    plan: NOT_PLANNED,
  },
  {
    routes: ['* /ingest/api/v1', '* /ingest/api/v1/*'],
    what: "Svix Ingest's API (Herald's inbound gateway has routes of its own under /api/v1/source)",
    plan: NOT_PLANNED,
  },
  {
    routes: ['* /api/v1/app/{app_id}/integration', '* /api/v1/app/{app_id}/integration/*'],
    what: 'integrations',
    plan: NOT_PLANNED,
  },
  {
    routes: ['* /api/v1/app/{app_id}/poller/*'],
    what: 'polling endpoints',
    plan: NOT_PLANNED,
  },
  {
    routes: ['* /api/v1/environment/*'],
    what: 'environment export and import',
    plan: NOT_PLANNED,
  },
];

interface Matcher {
  method: string;
  template: string;
  pattern: RegExp;
  family: NotBuilt;
}

function matcherOf(route: string, family: NotBuilt): Matcher {
  const [method, template] = route.split(' ') as [string, string];
  const rest = template.endsWith('/*');
  const fixed = rest ? template.slice(0, -2) : template;
  const body = fixed
    .split('/')
    .map((part) => (/^\{\w+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return { method, template, pattern: new RegExp(`^${body}${rest ? '/.+' : ''}$`), family };
}

const MATCHERS = NOT_BUILT.flatMap((family) => family.routes.map((r) => matcherOf(r, family)));

/** What is not built at `METHOD path` and where it is planned, or `null` when `path` is no such Svix route. */
export function notBuiltReason(method: string, path: string): { what: string; plan: string } | null {
  const clean = path.replace(/\/+$/, '') || '/';
  const found = MATCHERS.find((m) => (m.method === '*' || m.method === method) && m.pattern.test(clean));
  return found ? { what: found.family.what, plan: found.family.plan } : null;
}

/** The 501 body for a Svix route Herald has not built, or `null` when `path` is none of them. */
export function notBuilt(method: string, path: string): { code: 'not_implemented'; detail: string } | null {
  const reason = notBuiltReason(method, path);
  if (!reason) return null;
  const clean = path.replace(/\/+$/, '') || '/';
  return {
    code: 'not_implemented',
    detail: `${method} ${clean} is not built in Herald: ${reason.what}, ${reason.plan}`,
  };
}
