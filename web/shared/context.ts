/** What every shared view needs: the client, the application, what the token may do, links. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { HeraldClient } from './api.ts';

/** What the caller's token may do (from its link: `readOnly`, `capabilities`). */
export interface Permissions {
  /** Add, edit, disable, delete endpoints. */
  manageEndpoints: boolean;
  /** See an endpoint's signing secret. */
  viewSecret: boolean;
  /** Rotate it. */
  rotateSecret: boolean;
  /** Resend, recover, send examples. */
  send: boolean;
}

/** The permissions of a token: `readOnly` and Svix's portal capabilities (`null`: all). */
export function permissionsOf(readOnly: boolean, capabilities: readonly string[] | null): Permissions {
  const has = (...names: string[]) => capabilities === null || names.some((n) => capabilities.includes(n));
  return {
    manageEndpoints: !readOnly && has('ManageEndpoint'),
    viewSecret: has('ViewEndpointSecret', 'ManageEndpointSecret', 'ManageEndpoint'),
    rotateSecret: !readOnly && has('ManageEndpointSecret', 'ManageEndpoint'),
    send: !readOnly && has('CreateAttempts'),
  };
}

/** The context of the shared views. */
export interface ViewContext {
  api: HeraldClient;
  appId: string;
  can: Permissions;
  /** The href of an in-page route (`/endpoints/ep_…`). */
  link: (route: string) => string;
  /** Goes to an in-page route. */
  go: (route: string) => void;
}

export const View = createContext<ViewContext | null>(null);

/** The {@link ViewContext} of the page. */
export function useView(): ViewContext {
  const ctx = useContext(View);
  if (!ctx) throw new Error('a shared view needs a <View.Provider>');
  return ctx;
}
