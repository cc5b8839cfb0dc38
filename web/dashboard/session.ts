/**
 * The dashboard's session: the admin token, in sessionStorage, so it lasts for this tab only
 * (a reload keeps it; another tab, or the browser closed, does not), and "Sign out" forgets it.
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { HeraldClient } from '../shared/api.ts';

const KEY = 'herald.dashboard.token';

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function keepToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** What every dashboard page needs: the admin client and in-page navigation. */
export interface Dash {
  api: HeraldClient;
  go: (route: string) => void;
}

export const DashContext = createContext<Dash | null>(null);

export function useDash(): Dash {
  const ctx = useContext(DashContext);
  if (!ctx) throw new Error('a dashboard page needs a <DashContext.Provider>');
  return ctx;
}

/** The in-page route: `#/apps/app_…` → `/apps/app_…`. */
export function routeOf(hash: string): string {
  return hash.replace(/^#/, '') || '/overview';
}
