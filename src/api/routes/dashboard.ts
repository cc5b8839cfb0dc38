/**
 * `/dashboard`: the operator dashboard, the Vite build of web/dashboard (dist/web/dashboard,
 * made by `npm run build`) served as static files. The page holds no data: it asks for the
 * admin token and talks to the public /api/v1 with it, as any API client does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Options of {@link dashboardRoutes}. */
export interface DashboardOptions {
  /** Where the built dashboard is; default dist/web/dashboard of this package. */
  root?: string;
}

/** Three levels below the package, from src/api/routes and dist/api/routes alike. */
const BUILT = fileURLToPath(new URL('../../../dist/web/dashboard/', import.meta.url));

/**
 * Only its own scripts, styles and fonts, only this server; never in a frame (it holds the
 * admin token: no other page may overlay it). Inline style attributes: the chart library's.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Herald: dashboard not built</title></head>
<body><main><h1>The dashboard is not built</h1>
<p>Run <code>npm run build</code>: it builds the dashboard into <code>dist/web/dashboard</code>, which this server serves.</p>
</main></body></html>
`;

/** Registers the dashboard's page and assets (public: the page asks for the token). */
export async function dashboardRoutes(app: FastifyInstance, options: DashboardOptions = {}): Promise<void> {
  const root = options.root ?? BUILT;
  const index = `${root}/index.html`;
  const built = existsSync(index);
  if (built) {
    await app.register(fastifyStatic, {
      root,
      prefix: '/dashboard/',
      index: false,
      wildcard: true,
      // The portal's registration decorates the reply; a second one may not.
      decorateReply: false,
      setHeaders: (res, path) => {
        res.setHeader('x-content-type-options', 'nosniff');
        res.setHeader(
          'cache-control',
          path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });
  }
  // The page is read at each request: a build beside a running server serves its new page.
  app.get('/dashboard', { schema: { hide: true } }, async (_request, reply) =>
    reply
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .type('text/html; charset=utf-8')
      .send(built && existsSync(index) ? readFileSync(index, 'utf8') : NOT_BUILT),
  );
}
