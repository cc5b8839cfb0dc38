/** The consumer portal: an application's endpoints, message log and event catalog. */
import '../shared/styles.css';
import { BookOpen, Clock, Lock, Webhook } from 'lucide-preact';
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { heraldClient, ok } from '../shared/api.ts';
import { permissionsOf, useView, View, type ViewContext } from '../shared/context.ts';
import { applyTheme, type Theme, themeFrom } from '../shared/theme.ts';
import { Badge, useLoad } from '../shared/ui.tsx';
import { Catalog } from '../shared/views/catalog.tsx';
import { EndpointForm } from '../shared/views/endpoint-form.tsx';
import { EndpointList } from '../shared/views/endpoint-list.tsx';
import { EndpointPage } from '../shared/views/endpoint-page.tsx';
import { MessagePage } from '../shared/views/message-page.tsx';
import { type Session, takeSession } from './session.ts';

/** The in-page route: the fragment after `#`. */
function useRoute(initial: string): string {
  const [route, setRoute] = useState(initial);
  useEffect(() => {
    const changed = () => setRoute(location.hash.replace(/^#/, '') || '/endpoints');
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

/** Shown for an ended token, and for an address without one. */
function Ended({ why }: { why: 'expired' | 'missing' }) {
  return (
    <main class="container">
      <div class="expired" role="alert">
        {why === 'expired' ? <Clock size={40} aria-hidden="true" /> : <Lock size={40} aria-hidden="true" />}
        <h1>{why === 'expired' ? 'This link has expired' : 'This page opens from its link'}</h1>
        <p class="muted">
          {why === 'expired'
            ? 'For your security, access links work for a limited time. Go back to the product you came from and open the webhooks page again to get a new link.'
            : 'The address has no access key: it is only in the link you were given, and is removed from the address bar once the page opens. Open the link again from the product you came from.'}
        </p>
      </div>
    </main>
  );
}

/** The page of an in-page route (`/endpoints/ep_…/messages/msg_…`, `/catalog`). */
function Page({ route }: { route: string }) {
  const [section, id, sub, subId] = route.split('/').filter(Boolean);
  if (section === 'catalog') return <Catalog />;
  if (section === 'endpoints' && id === 'new') return <EndpointForm />;
  if (section === 'endpoints' && id && sub === 'edit') return <EditEndpoint id={id} />;
  if (section === 'endpoints' && id && sub === 'messages' && subId)
    return <MessagePage endpointId={id} msgId={subId} />;
  if (section === 'endpoints' && id) return <EndpointPage key={id} endpointId={id} />;
  return <EndpointList />;
}

function EditEndpoint({ id }: { id: string }) {
  const { api, appId } = useView();
  const endpoint = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/endpoint/{endpoint_id}', {
          params: { path: { app_id: appId, endpoint_id: id } },
        }),
      ),
    [id],
  );
  return endpoint.data ? <EndpointForm endpoint={endpoint.data} /> : null;
}

function Portal({ session, initialRoute, theme }: { session: Session; initialRoute: string; theme: Theme }) {
  const [expired, setExpired] = useState(false);
  const route = useRoute(initialRoute);
  const ctx = useMemo<ViewContext>(() => {
    const api = heraldClient(location.origin, session.token, () => setExpired(true));
    return {
      api,
      appId: session.appId,
      can: permissionsOf(session.readOnly, session.capabilities),
      link: (r) => `#${r}`,
      go: (r) => {
        location.hash = r;
      },
    };
  }, [session]);
  const app = useLoad(
    () => ok(ctx.api.GET('/api/v1/app/{app_id}', { params: { path: { app_id: session.appId } } })),
    [session.appId],
  );
  useEffect(() => {
    if (app.data) document.title = `Webhooks · ${app.data.name}`;
  }, [app.data]);
  if (expired) return <Ended why="expired" />;
  const section = route.startsWith('/catalog') ? 'catalog' : 'endpoints';
  return (
    <View.Provider value={ctx}>
      {!theme.hideNav && (
        <header class="topbar">
          <nav aria-label="Webhooks">
            <ul>
              <li class="brand">
                {theme.logo ? <img src={theme.logo} alt="" /> : <Webhook size={20} aria-hidden="true" />}
                <span>{app.data?.name ?? 'Webhooks'}</span>
                {session.readOnly && <Badge tone="neutral">Read only</Badge>}
              </li>
            </ul>
            <ul>
              <li>
                <a
                  href="#/endpoints"
                  aria-current={section === 'endpoints' ? 'page' : undefined}
                  class="with-icon"
                >
                  <Webhook size={15} aria-hidden="true" /> Endpoints
                </a>
              </li>
              <li>
                <a
                  href="#/catalog"
                  aria-current={section === 'catalog' ? 'page' : undefined}
                  class="with-icon"
                >
                  <BookOpen size={15} aria-hidden="true" /> Event catalog
                </a>
              </li>
            </ul>
          </nav>
        </header>
      )}
      <main class="container">
        <Page route={route} />
      </main>
    </View.Provider>
  );
}

const { session, route, params } = takeSession(location, history);
const theme = themeFrom(params);
applyTheme(theme);
const root = document.getElementById('app')!;
render(
  session ? <Portal session={session} initialRoute={route} theme={theme} /> : <Ended why="missing" />,
  root,
);
