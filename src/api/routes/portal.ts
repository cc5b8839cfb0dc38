/**
 * `/portal/{app_id}`: where the links of app-portal-access lead. The consumer portal is not
 * built yet (a later issue); until it is, the page says so honestly, and what the link's
 * token can do meanwhile. The token is in the link's fragment, which browsers never send, so
 * this page never sees it and it reaches no server log.
 */
import type { FastifyInstance } from 'fastify';

/** Nothing runs and nothing loads from elsewhere: the page is text. */
const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Herald: consumer portal not built yet</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code{background:#f2f2f2;padding:0 .2em}</style>
</head>
<body>
<main>
<h1>The consumer portal is not built yet</h1>
<p>This link was made by Herald's <code>POST /api/v1/auth/app-portal-access</code>. Herald does
not have its consumer portal yet, so there is nothing to show here.</p>
<p>The link carries an application token after the <code>#key=</code> in its address. Your
browser did not send it to this server. Until the portal exists, that token works as a bearer
token against Herald's API for this one application (<code>Authorization: Bearer &lt;token&gt;</code>),
until it expires.</p>
</main>
</body>
</html>
`;

/** Registers the portal placeholder page (public: it shows nothing of any application). */
export async function portalRoutes(app: FastifyInstance): Promise<void> {
  for (const path of ['/portal', '/portal/:app_id']) {
    app.get(path, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .header('content-security-policy', PAGE_CSP)
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .type('text/html; charset=utf-8')
        .send(PAGE),
    );
  }
}
