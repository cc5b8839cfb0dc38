/**
 * Every method of the svix SDK, called against a Herald: each resource of a `Svix` client
 * (nested ones too) is walked, each method called with dummy arguments, and the request it
 * sent recorded (HTTP method, path template, what Herald answered). Used by
 * test/api/sdk-routes.test.ts (no call may meet a bare 404) and scripts/svix-compat.ts (the
 * compatibility table).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Svix } from 'svix';

/** One SDK method and the request it makes. */
export interface SdkCall {
  /** `resource.method`, as a program writes it (`message.poller.poll`). */
  name: string;
  /** HTTP method. */
  http: string;
  /** The SDK's path template (`/api/v1/app/{app_id}`), with `?query` when the method always sends one. */
  template: string;
  /** What Herald answered the dummy call. */
  status: number;
  code: string | null;
  detail: string | null;
}

const require = createRequire(import.meta.url);
const SDK_DIR = dirname(require.resolve('svix'));

/** The svix SDK's version. */
export function sdkVersion(): string {
  return (JSON.parse(readFileSync(join(SDK_DIR, '..', 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** Every `(HTTP method, path template)` the SDK's api/ modules build a request with. */
export function sdkTemplates(): { http: string; template: string }[] {
  const found = new Map<string, { http: string; template: string }>();
  const dir = join(SDK_DIR, 'api');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    const source = readFileSync(join(dir, file), 'utf8');
    for (const m of source.matchAll(/HttpMethod\.(\w+),\s*"([^"]+)"/g)) {
      found.set(`${m[1]} ${m[2]}`, { http: m[1]!, template: m[2]! });
    }
  }
  return [...found.values()];
}

/** The template among `templates` that `path` fills, preferring the one with most fixed segments. */
function templateOf(http: string, path: string, templates: { http: string; template: string }[]): string {
  const parts = path.split('/');
  const fits = templates
    .filter((t) => t.http === http)
    .map((t) => t.template.split('/'))
    .filter(
      (t) => t.length === parts.length && t.every((seg, i) => /^\{\w+\}$/.test(seg) || seg === parts[i]),
    )
    .sort((a, b) => b.filter((s) => !s.startsWith('{')).length - a.filter((s) => !s.startsWith('{')).length);
  if (!fits[0]) throw new Error(`the SDK sent ${http} ${path}, which no template of svix/dist/api builds`);
  return fits[0].join('/');
}

const own = (o: object, pick: (d: PropertyDescriptor) => boolean) => {
  const proto = Object.getPrototypeOf(o) as object;
  return Object.getOwnPropertyNames(proto).filter((n) => {
    const d = Object.getOwnPropertyDescriptor(proto, n);
    return n !== 'constructor' && d !== undefined && pick(d);
  });
};

/** A body whose every field reads as an empty list, for serialisers that map over one. */
const LISTS = new Proxy({}, { get: (_target, key) => (key === 'toJSON' ? undefined : []) });

/**
 * Calls every SDK method against `serverUrl` with `token` and dummy arguments (ids `arg0`,
 * `arg1`, …; empty bodies), recording each request; sorted by name. Nothing is retried.
 */
export async function callEverySdkMethod(serverUrl: string, token: string): Promise<SdkCall[]> {
  const templates = sdkTemplates();
  let sent: Omit<SdkCall, 'name'>[] = [];
  const recording: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const response = await fetch(input, init);
    const text = await response.clone().text();
    let body: { code?: unknown; detail?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = {};
    }
    const http = (init?.method ?? 'GET').toUpperCase();
    sent.push({
      http,
      template: templateOf(http, url.pathname, templates) + url.search,
      status: response.status,
      code: typeof body.code === 'string' ? body.code : null,
      detail: typeof body.detail === 'string' ? body.detail : null,
    });
    return response;
  };
  const svix = new Svix(token, { serverUrl, retryScheduleInMs: [], fetch: recording });
  const calls: SdkCall[] = [];
  const walk = async (resource: Record<string, unknown>, prefix: string) => {
    for (const getter of own(resource, (d) => typeof d.get === 'function')) {
      await walk(resource[getter] as Record<string, unknown>, prefix ? `${prefix}.${getter}` : getter);
    }
    if (!prefix) return;
    for (const method of own(resource, (d) => typeof d.value === 'function')) {
      const fn = resource[method] as (...args: unknown[]) => Promise<unknown>;
      // Ids first, bodies after: fewer ids when a serialiser fails on an id given for its body.
      sent = [];
      for (let n = fn.length; n >= 0 && sent.length === 0; n--) {
        const ids = Array.from({ length: n }, (_, i) => `arg${i}`);
        for (const body of [{}, LISTS]) {
          await fn.call(resource, ...ids, body, body, {}).catch(() => undefined);
          if (sent.length > 0) break;
        }
      }
      if (sent.length === 0) throw new Error(`${prefix}.${method} sent no request with dummy arguments`);
      // A method that pages on its own may send more than one; the first names its route.
      calls.push({ name: `${prefix}.${method}`, ...sent[0]! });
    }
  };
  await walk(svix as unknown as Record<string, unknown>, '');
  return calls.sort((a, b) => a.name.localeCompare(b.name));
}
