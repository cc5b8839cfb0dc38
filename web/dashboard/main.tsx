/**
 * The operator dashboard: everything Herald is doing, through the public /api/v1 with the
 * admin token. Signed in with that token (kept in sessionStorage: this tab only).
 */
import '../shared/styles.css';
import './dashboard.css';
import {
  AlertTriangle,
  Bell,
  BookOpen,
  Boxes,
  Gauge,
  Inbox,
  KeyRound,
  LogOut,
  Search,
  Webhook,
} from 'lucide-preact';
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { heraldClient } from '../shared/api.ts';
import { applyTheme, themeFrom } from '../shared/theme.ts';
import { AppList, AppPage } from './apps.tsx';
import { EventTypes } from './event-types.tsx';
import { Failures } from './failures.tsx';
import { MessageDetail } from './messages.tsx';
import { OperationalWebhooks } from './operational.tsx';
import { Overview } from './overview.tsx';
import { Search as SearchPage } from './search.tsx';
import { type Dash, DashContext, forgetToken, keepToken, routeOf, storedToken } from './session.ts';
import { Sources } from './sources.tsx';

/** Asks the API whether `token` is the admin token: listing applications takes it. */
async function check(token: string): Promise<'ok' | 'invalid' | 'not-admin' | 'unreachable'> {
  try {
    const res = await fetch('/api/v1/app?limit=1', { headers: { authorization: `Bearer ${token}` } });
    if (res.ok) return 'ok';
    if (res.status === 401) return 'invalid';
    if (res.status === 403) return 'not-admin';
    return 'unreachable';
  } catch {
    return 'unreachable';
  }
}

const REFUSED: Record<string, string> = {
  invalid: 'This token is invalid. Use the admin token Herald was started with (HERALD_ADMIN_TOKEN).',
  'not-admin': 'This token is not the admin token: it belongs to one application.',
  unreachable: 'The server did not answer. Try again.',
  expired: 'The server refused the token: sign in again.',
};

function SignIn({ onSignedIn, note }: { onSignedIn: (token: string) => void; note: string | null }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(note);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const answer = await check(token.trim());
    setBusy(false);
    if (answer === 'ok') onSignedIn(token.trim());
    else setError(REFUSED[answer]!);
  };
  return (
    <main class="container signin">
      <article>
        <h1 class="with-icon">
          <KeyRound size={22} aria-hidden="true" /> Herald dashboard
        </h1>
        <form onSubmit={submit}>
          <label for="token">Admin token</label>
          <input
            id="token"
            type="password"
            autocomplete="current-password"
            required
            value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
            aria-invalid={error ? 'true' : undefined}
            aria-describedby={error ? 'token-error' : 'token-hint'}
          />
          {error ? (
            <small id="token-error" class="field-error" role="alert">
              {error}
            </small>
          ) : (
            <small id="token-hint" class="muted">
              Kept in this tab only, until you sign out or close it.
            </small>
          )}
          <button type="submit" aria-busy={busy ? 'true' : undefined} disabled={busy}>
            Sign in
          </button>
        </form>
      </article>
    </main>
  );
}

function useRoute(): string {
  const [route, setRoute] = useState(routeOf(location.hash));
  useEffect(() => {
    const changed = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

function Page({ route }: { route: string }) {
  const [path, search] = route.split('?');
  const [section, id, ...rest] = path!.split('/').filter(Boolean);
  if (section === 'apps' && id && rest[0] === 'msg' && rest[1])
    return <MessageDetail appId={id} msgId={rest[1]} />;
  if (section === 'apps' && id) return <AppPage key={id} appId={id} rest={rest} />;
  if (section === 'apps') return <AppList />;
  if (section === 'search') return <SearchPage query={new URLSearchParams(search ?? '').get('q') ?? ''} />;
  if (section === 'failures') return <Failures />;
  if (section === 'event-types') return <EventTypes />;
  if (section === 'sources') return <Sources />;
  if (section === 'operational') return <OperationalWebhooks id={id} />;
  return <Overview />;
}

const NAV: [string, string, typeof Gauge][] = [
  ['overview', 'Overview', Gauge],
  ['apps', 'Applications', Boxes],
  ['search', 'Search', Search],
  ['failures', 'Failures', AlertTriangle],
  ['event-types', 'Event types', BookOpen],
  ['sources', 'Sources', Inbox],
  ['operational', 'Ops webhooks', Bell],
];

function Shell({ token, onSignOut }: { token: string; onSignOut: (why?: string) => void }) {
  const route = useRoute();
  const dash = useMemo<Dash>(
    () => ({
      api: heraldClient(location.origin, token, () => onSignOut('expired')),
      go: (r) => {
        location.hash = r;
      },
    }),
    [token],
  );
  const section = route.split('?')[0]!.split('/')[1] ?? 'overview';
  return (
    <DashContext.Provider value={dash}>
      <header class="topbar">
        <nav aria-label="Dashboard">
          <ul>
            <li class="brand">
              <Webhook size={20} aria-hidden="true" />
              <span>Herald</span>
            </li>
          </ul>
          <ul>
            {NAV.map(([path, label, Icon]) => (
              <li key={path}>
                <a href={`#/${path}`} class="with-icon" aria-current={section === path ? 'page' : undefined}>
                  <Icon size={15} aria-hidden="true" /> {label}
                </a>
              </li>
            ))}
            <li>
              <button type="button" class="small secondary outline with-icon" onClick={() => onSignOut()}>
                <LogOut size={14} aria-hidden="true" /> Sign out
              </button>
            </li>
          </ul>
        </nav>
      </header>
      <main class="container">
        <Page route={route} />
      </main>
    </DashContext.Provider>
  );
}

function Dashboard() {
  const [token, setToken] = useState<string | null>(storedToken());
  const [note, setNote] = useState<string | null>(null);
  if (!token)
    return (
      <SignIn
        note={note}
        onSignedIn={(t) => {
          keepToken(t);
          setNote(null);
          setToken(t);
        }}
      />
    );
  return (
    <Shell
      token={token}
      onSignOut={(why) => {
        forgetToken();
        setNote(why ? REFUSED[why]! : null);
        setToken(null);
      }}
    />
  );
}

applyTheme(themeFrom(new URLSearchParams(location.search)));
render(<Dashboard />, document.getElementById('app')!);
