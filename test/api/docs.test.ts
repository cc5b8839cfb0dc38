/**
 * `/docs`: the OpenAPI document in Swagger UI, public like `/openapi.json`, every file of the
 * page served by Herald itself (nothing from a CDN), and a Content-Security-Policy that lets
 * the browser load nothing from elsewhere.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers.js';

const dir = tempDir();
let store: SqliteStore;
let api: FastifyInstance;

beforeAll(async () => {
  store = openSqliteStore({ path: dir.path('docs.db') });
  api = await buildApi({ store });
});

afterAll(async () => {
  await api.close();
  await store[Symbol.asyncDispose]();
  dir.remove();
});

const ORIGIN = 'http://herald.test';

/** Every `src` and `href` of a page. */
const linksOf = (html: string) => [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);

describe('/docs', () => {
  it.each(['/docs', '/docs/'])(
    '%s answers the viewer page without a token, and every file it loads from Herald',
    async (page) => {
      const res = await api.inject({ url: page });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.payload).toContain('<div id="swagger-ui">');
      expect(res.payload).not.toMatch(/https?:\/\//);
      const links = linksOf(res.payload);
      expect(links.filter((l) => l.endsWith('.js'))).toHaveLength(3);
      expect(links.filter((l) => l.endsWith('.css'))).toHaveLength(2);
      for (const link of links) {
        // Resolved as a browser would, against the page's own address.
        const url = new URL(link, `${ORIGIN}${page}`);
        expect(url.origin, link).toBe(ORIGIN);
        const file = await api.inject({ url: url.pathname });
        expect(file.statusCode, url.pathname).toBe(200);
        expect(file.headers['content-type'], url.pathname).toMatch(
          /^(application\/javascript|text\/javascript|text\/css|image\/png)/,
        );
        expect(file.rawPayload.length, url.pathname).toBeGreaterThan(0);
      }
    },
  );

  it("redirects Swagger UI's own index.html to the page", async () => {
    const res = await api.inject({ url: '/docs/static/index.html' });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/docs/');
  });

  it('lets the browser load nothing from another origin', async () => {
    const csp = String((await api.inject({ url: '/docs' })).headers['content-security-policy']);
    expect(csp).toMatch(/(^|; )default-src 'self'(;|$)/);
    expect(csp).toMatch(/(^|; )script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/https:|\*/);
  });

  it("shows Herald's own document, and asks no validator elsewhere about it", async () => {
    const init = await api.inject({ url: '/docs/static/swagger-initializer.js' });
    expect(init.payload).toContain("resolveUrl('./json')");
    expect(init.payload).toContain('validatorUrl: null');
    const shown = await api.inject({ url: '/docs/json' });
    expect(shown.statusCode).toBe(200);
    expect(shown.json()).toEqual((await api.inject({ url: '/openapi.json' })).json());
    expect(shown.json().info.title).toBe('Herald API');
  });

  it('is not a route of the API document', async () => {
    const doc = (await api.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs'))).toEqual([]);
  });

  it('an unknown file under /docs is a 404 in the API error shape', async () => {
    const res = await api.inject({ url: '/docs/static/nope.js' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'not_found' });
  });
});
