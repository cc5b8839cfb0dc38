/**
 * A {@link DeliveryStore} in another thread: the dispatcher thread of `herald serve` reaches
 * the store of the main thread through a `MessagePort`, so the process keeps one database
 * connection (on SQLite, a second connection would drop the first one's page cache on every
 * commit of the other). Calls and replies made in the same turn travel in one message. A
 * failed call rejects with an error of the host's class and `code` (Herald's errors), the
 * host's error as its `cause`.
 */
import type { MessagePort } from 'node:worker_threads';
import {
  ConflictError,
  EndpointDisabledError,
  HeraldError,
  NotFoundError,
  ShuttingDownError,
  StoreUnavailableError,
  ValidationError,
} from '../core/errors.js';
import type {
  ClaimedDelivery,
  ClaimRequest,
  DeliveryStore,
  FreshListener,
  StandingClaims,
  StandingOrder,
  WakeListener,
} from '../store/store.js';

/** The store methods a remote store calls, and those of the standing claims capability. */
type Method = Exclude<keyof DeliveryStore, 'onWake' | 'standingClaims'> | 'stand' | 'claim' | 'withdraw';

const STORE_METHODS: ReadonlySet<string> = new Set<Method>([
  'claimDue',
  'claimDueAndNext',
  'nextDueAt',
  'complete',
  'release',
  'getEndpoint',
]);
const STANDING_METHODS: ReadonlySet<string> = new Set<Method>(['stand', 'claim', 'withdraw']);

/** What the host store can do beyond the methods every store has. */
export interface RemoteCapabilities {
  standingClaims: boolean;
}

/** The capabilities of `store`, for the {@link RemoteDeliveryStore} on the other side. */
export function capabilitiesOf(store: DeliveryStore): RemoteCapabilities {
  return { standingClaims: store.standingClaims !== undefined };
}

interface Call {
  id: number;
  method: Method;
  args: unknown[];
}

/** An error as it crosses the port: a class name that the other side knows, and its fields. */
export interface PortError {
  name: string;
  message: string;
  code?: string;
  field?: string;
  stack?: string;
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: PortError };

/** Messages on the port. */
type ToHost = { calls: Call[] };
type ToRemote =
  | { replies: Reply[] }
  | { wake: readonly string[] | null }
  | { fresh: ClaimedDelivery[]; owner: string };

/** Herald's errors and the built-in ones by class name, to be made again on the thread side. */
const ERROR_CLASSES: Record<string, new (message: string, options: { cause: unknown }) => Error> = {
  Error,
  TypeError,
  RangeError,
  HeraldError,
  NotFoundError,
  ConflictError,
  EndpointDisabledError,
  StoreUnavailableError,
  ShuttingDownError,
};

/** An error as a plain record that a `MessagePort` carries (its class by name). */
export function errorToPort(error: unknown): PortError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code, field } = error as { code?: unknown; field?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof field === 'string' ? { field } : {}),
    ...(error.stack ? { stack: error.stack } : {}),
  };
}

/** The error of the host again: its class (Herald's, or a built-in) and code, the host's error as `cause`. */
export function errorFromPort(e: PortError): Error {
  const cause = Object.assign(new Error(e.message), { name: e.name, stack: e.stack, code: e.code });
  if (e.name === 'ValidationError' && e.field !== undefined) {
    const error = new ValidationError(e.field, '', { cause });
    error.message = e.message;
    return error;
  }
  const Class = ERROR_CLASSES[e.name];
  if (Class)
    return new (Class as new (m: string, o: { cause: unknown }) => HeraldError)(e.message, { cause });
  const error = Object.assign(new Error(e.message, { cause }), e.code === undefined ? {} : { code: e.code });
  error.name = e.name;
  return error;
}

/** Collects items and posts them as one message at the end of the current turn. */
function batcher<T>(post: (items: T[]) => void): (item: T) => void {
  let pending: T[] = [];
  return (item) => {
    pending.push(item);
    if (pending.length > 1) return;
    queueMicrotask(() => {
      const items = pending;
      pending = [];
      post(items);
    });
  };
}

/**
 * Answers the calls of a {@link RemoteDeliveryStore} on `port` with `store`, and passes on
 * its wake-ups (and fresh deliveries, if it has standing claims). Returns a function that
 * stops both.
 */
export function hostDeliveryStore(store: DeliveryStore, port: MessagePort): () => void {
  const reply = batcher<Reply>((replies) => port.postMessage({ replies } satisfies ToRemote));
  const standing = store.standingClaims;
  const onMessage = (message: ToHost) => {
    for (const { id, method, args } of message.calls) {
      const target = STORE_METHODS.has(method) ? store : STANDING_METHODS.has(method) ? standing : undefined;
      if (!target) {
        const error = new Error(`${String(method)} is not a delivery store method`);
        reply({ id, ok: false, error: { name: 'Error', message: error.message } });
        continue;
      }
      const fn = target[method as keyof typeof target] as (...a: unknown[]) => Promise<unknown>;
      fn.apply(target, args).then(
        (value) => reply({ id, ok: true, value }),
        (error: unknown) => reply({ id, ok: false, error: errorToPort(error) }),
      );
    }
  };
  port.on('message', onMessage);
  const unsubscribe = store.onWake((endpointIds) =>
    port.postMessage({ wake: endpointIds } satisfies ToRemote),
  );
  const unsubscribeFresh = standing?.onFresh((owner, fresh) =>
    port.postMessage({ fresh, owner } satisfies ToRemote),
  );
  return () => {
    unsubscribe();
    unsubscribeFresh?.();
    port.off('message', onMessage);
  };
}

/**
 * The thread side: see the module comment. It has standing claims when the host store has
 * them (`capabilities`, from {@link capabilitiesOf} on the host side).
 */
export class RemoteDeliveryStore implements DeliveryStore {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<WakeListener>();
  private readonly freshListeners = new Set<FreshListener>();
  private readonly send: (call: Call) => void;
  readonly standingClaims?: StandingClaims;

  constructor(
    private readonly port: MessagePort,
    capabilities: RemoteCapabilities = { standingClaims: false },
  ) {
    this.send = batcher<Call>((calls) => port.postMessage({ calls } satisfies ToHost));
    if (capabilities.standingClaims) {
      this.standingClaims = {
        stand: (owner: string, order: StandingOrder) => this.call('stand', [owner, order]),
        claim: (request: ClaimRequest) => this.call('claim', [request]),
        withdraw: (owner: string) => this.call('withdraw', [owner]),
        onFresh: (listener: FreshListener) => {
          this.freshListeners.add(listener);
          return () => this.freshListeners.delete(listener);
        },
      };
    }
    port.on('message', (message: ToRemote) => {
      if ('wake' in message) {
        for (const listener of this.listeners) listener(message.wake);
        return;
      }
      if ('fresh' in message) {
        for (const listener of this.freshListeners) listener(message.owner, message.fresh);
        return;
      }
      for (const r of message.replies) {
        const waiter = this.waiting.get(r.id);
        this.waiting.delete(r.id);
        if (r.ok) waiter?.resolve(r.value);
        else waiter?.reject(errorFromPort(r.error));
      }
    });
  }

  private call<T>(method: Method, args: unknown[]): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.send({ id, method, args });
    });
  }

  claimDue(...args: Parameters<DeliveryStore['claimDue']>): ReturnType<DeliveryStore['claimDue']> {
    return this.call('claimDue', args);
  }

  claimDueAndNext(
    ...args: Parameters<DeliveryStore['claimDueAndNext']>
  ): ReturnType<DeliveryStore['claimDueAndNext']> {
    return this.call('claimDueAndNext', args);
  }

  nextDueAt(): ReturnType<DeliveryStore['nextDueAt']> {
    return this.call('nextDueAt', []);
  }

  complete(...args: Parameters<DeliveryStore['complete']>): ReturnType<DeliveryStore['complete']> {
    return this.call('complete', args);
  }

  release(...args: Parameters<DeliveryStore['release']>): ReturnType<DeliveryStore['release']> {
    return this.call('release', args);
  }

  getEndpoint(...args: Parameters<DeliveryStore['getEndpoint']>): ReturnType<DeliveryStore['getEndpoint']> {
    return this.call('getEndpoint', args);
  }

  onWake(listener: WakeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops listening; calls still waiting are rejected. */
  close(): void {
    for (const waiter of this.waiting.values()) waiter.reject(new Error('the delivery store port closed'));
    this.waiting.clear();
    this.port.close();
  }
}
