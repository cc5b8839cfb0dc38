/**
 * A {@link DeliveryStore} in another thread: the dispatcher thread of `herald serve` reaches
 * the store of the main thread through a `MessagePort`, so the process keeps one database
 * connection (on SQLite, a second connection would drop the first one's page cache on every
 * commit of the other). Calls and replies made in the same turn travel in one message.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ClaimedDelivery, DeliveryStore, FreshListener, WakeListener } from './store.js';

type Method = Exclude<keyof DeliveryStore, 'onWake' | 'onFresh'>;

const METHODS: ReadonlySet<string> = new Set<Method>([
  'claimDue',
  'nextDueAt',
  'complete',
  'release',
  'getEndpoint',
]);

interface Call {
  id: number;
  method: Method;
  args: unknown[];
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/** Messages on the port. */
type ToHost = { calls: Call[] };
type ToRemote =
  | { replies: Reply[] }
  | { wake: readonly string[] | null }
  | { fresh: ClaimedDelivery[]; owner: string };

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
 * its wake-ups. Returns a function that stops both.
 */
export function hostDeliveryStore(store: DeliveryStore, port: MessagePort): () => void {
  const reply = batcher<Reply>((replies) => port.postMessage({ replies } satisfies ToRemote));
  const onMessage = (message: ToHost) => {
    for (const { id, method, args } of message.calls) {
      if (!METHODS.has(method)) {
        reply({ id, ok: false, error: `${String(method)} is not a delivery store method` });
        continue;
      }
      const fn = store[method] as (...a: unknown[]) => Promise<unknown>;
      fn.apply(store, args).then(
        (value) => reply({ id, ok: true, value }),
        (error: unknown) =>
          reply({ id, ok: false, error: error instanceof Error ? error.message : String(error) }),
      );
    }
  };
  port.on('message', onMessage);
  const unsubscribe = store.onWake((endpointIds) =>
    port.postMessage({ wake: endpointIds } satisfies ToRemote),
  );
  const unsubscribeFresh = store.onFresh?.((owner, fresh) =>
    port.postMessage({ fresh, owner } satisfies ToRemote),
  );
  return () => {
    unsubscribe();
    unsubscribeFresh?.();
    port.off('message', onMessage);
  };
}

/** The thread side: see the module comment. A failed call rejects with the host's message. */
export class RemoteDeliveryStore implements DeliveryStore {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<WakeListener>();
  private readonly freshListeners = new Set<FreshListener>();
  private readonly send: (call: Call) => void;

  constructor(private readonly port: MessagePort) {
    this.send = batcher<Call>((calls) => port.postMessage({ calls } satisfies ToHost));
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
        else waiter?.reject(new Error(r.error));
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

  /** Deliveries of the host store's standing claims; none unless the host store has them. */
  onFresh(listener: FreshListener): () => void {
    this.freshListeners.add(listener);
    return () => this.freshListeners.delete(listener);
  }

  /** Stops listening; calls still waiting are rejected. */
  close(): void {
    for (const waiter of this.waiting.values()) waiter.reject(new Error('the delivery store port closed'));
    this.waiting.clear();
    this.port.close();
  }
}
