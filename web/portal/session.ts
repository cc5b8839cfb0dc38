/**
 * The portal's session: the application token its link carries in the fragment
 * (`#key=…&readOnly=true&capabilities=…`), moved into memory at once and wiped from the
 * address bar, so it stays out of the history, bookmarks and anything the page links to.
 */

/** What the link gave the page. */
export interface Session {
  appId: string;
  token: string;
  readOnly: boolean;
  /** Svix's portal capabilities; `null`: all. */
  capabilities: string[] | null;
}

/** The link's session (or `null` when the address has no token), and the in-page route to open. */
export function takeSession(
  location: Location,
  history: History,
): { session: Session | null; route: string; params: URLSearchParams } {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  const token = fragment.get('key');
  // Theming may come in the query or after the token; the fragment's wins.
  const params = new URLSearchParams(location.search);
  for (const [k, v] of fragment) if (k !== 'key') params.set(k, v);
  const appId = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/')[2] ?? '');
  if (!token)
    return {
      session: null,
      route: location.hash.startsWith('#/') ? location.hash.slice(1) : '/endpoints',
      params,
    };
  const route = fragment.get('to')?.startsWith('/') ? fragment.get('to')! : '/endpoints';
  history.replaceState(null, '', `${location.pathname}${location.search}#${route}`);
  const caps = fragment.get('capabilities');
  return {
    session: {
      appId,
      token,
      readOnly: fragment.get('readOnly') === 'true',
      capabilities: caps ? caps.split(',').filter(Boolean) : null,
    },
    route,
    params,
  };
}
