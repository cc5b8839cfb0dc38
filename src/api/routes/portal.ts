/**
 * `/portal/{app_id}`: the consumer portal, where the links of app-portal-access lead. The page
 * is the Vite build of web/portal (in dist/web/portal, made by `npm run build`), served as
 * static files; it talks to the public /api/v1 with the token from its link. The token is in
 * the link's fragment, which browsers never send, so no request for the page carries it and
 * it reaches no server log.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Options of {@link portalRoutes}. */
export interface PortalOptions {
  /** Who may show the portal in a frame: the CSP `frame-ancestors` sources. Default `*`, any page. */
  frameAncestors?: string;
  /** Where the built portal is; default dist/web/portal of this package. */
  root?: string;
}

/**
 * The built portal: src/api/routes and dist/api/routes are both three levels below the
 * package, so tests running the sources serve the same build as `herald serve` does.
 */
const BUILT = fileURLToPath(new URL('../../../dist/web/portal/', import.meta.url));

/**
 * The page loads only its own scripts, styles and fonts and calls only this server; images
 * may come from anywhere, for the logo a `logo=` parameter names. Styles allow inline
 * attributes: the chart library positions its parts with them.
 */
function pageCsp(frameAncestors: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: https: http:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "object-src 'none'",
    `frame-ancestors ${frameAncestors}`,
  ].join('; ');
}

/** Shown when the sources run without a build (a checkout before `npm run build`). */
const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Herald: portal not built</title></head>
<body><main><h1>The consumer portal is not built</h1>
<p>Run <code>npm run build</code>: it builds the portal into <code>dist/web/portal</code>, which this server serves.</p>
</main></body></html>
`;

/** Registers the portal's page and assets (public: the page holds no application's data). */
export async function portalRoutes(app: FastifyInstance, options: PortalOptions = {}): Promise<void> {
  const root = options.root ?? BUILT;
  const csp = pageCsp(options.frameAncestors ?? '*');
  const built = existsSync(`${root}/index.html`);
  const headers = (reply: FastifyReply) =>
    reply
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer');
  if (built) {
    await app.register(fastifyStatic, {
      root,
      prefix: '/portal/',
      // The index is the page of every app id below; the hashed assets never change.
      index: false,
      wildcard: true,
      decorateReply: true,
      setHeaders: (res, path) => {
        res.setHeader('x-content-type-options', 'nosniff');
        res.setHeader(
          'cache-control',
          path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });
  }
  for (const path of ['/portal', '/portal/:app_id']) {
    app.get(path, { schema: { hide: true } }, async (_request, reply) => {
      headers(reply).header('cache-control', 'no-cache');
      if (!built) return reply.type('text/html; charset=utf-8').send(NOT_BUILT);
      return reply.sendFile('index.html');
    });
  }
}
