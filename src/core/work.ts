/**
 * The one unit of work every service writes through: a transaction (retried whole on a
 * serialization conflict), the changes it made, and effects that must wait for its commit.
 *
 * A change is published only after its transaction committed, so whoever reacts (the data plane,
 * the load-balancer engine, the compute manager, the dashboard) reads what the change wrote. Inside
 * an operation (one API request: see `Operation`) changes wait until the answer is rendered, so a
 * create answers `DOWN` or `PENDING_CREATE` however fast a driver is, as the real services do.
 *
 * The operation travels explicitly, with the caller (`RequestContext.operation`), not in an
 * AsyncLocalStorage: that one enables V8's promise hooks for every promise in the process, and
 * each query builds many (measured: 10–30 % more CPU per transaction; issue 10's closing note).
 *
 * Status written back by drivers (a port `ACTIVE`, a member `ONLINE`) is a change too, with
 * `op: 'status'`; subscribers hear of it only when they ask (`status: true`), so a driver's own
 * report never wakes the driver again.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelListener, Store, Tx } from '../store/db.js';

/** Neutron's resources, by their singular names (ResourceDef.name). */
export type NetworkKind =
  | 'network'
  | 'subnet'
  | 'subnetpool'
  | 'port'
  | 'router'
  | 'floatingip'
  | 'security_group'
  | 'security_group_rule'
  | 'metering_label'
  | 'metering_label_rule'
  | 'rbac_policy'
  | 'address_scope'
  | 'address_group'
  | 'segment'
  | 'network_segment_range'
  | 'flavor'
  | 'service_profile'
  | 'ndp_proxy'
  | 'conntrack_helper'
  | 'local_ip'
  | 'port_association'
  | 'log'
  /** A QoS policy (and its rules). */
  | 'policy'
  | 'trunk'
  | 'port_forwarding';

/** Every kind of object whose changes are published. */
export type ChangeKind =
  | NetworkKind
  /** A Nova server. */
  | 'server'
  /** A Glance image. */
  | 'image'
  /** An Octavia or LBaaS v1 load balancer, with everything under it. */
  | 'loadbalancer'
  /** An LBaaS v1 pool that has no VIP (so no load balancer) yet. */
  | 'lb_pool'
  /**
   * One Octavia member written by its own call (POST, PUT or DELETE of one member), nothing else
   * of its load balancer but the locks (PENDING_UPDATE): the engine applies that member alone.
   */
  | 'lb_member'
  /** Anything a Keystone token depends on: users, projects, domains, roles, grants, tokens. */
  | 'identity';

/**
 * - create, update, delete: the desired state changed (an API call, a side effect of one);
 * - status: a driver reported what really runs (port ACTIVE, server running, member ONLINE);
 * - failover: replace what serves the object, as Octavia's failover does.
 */
export type ChangeOp = 'create' | 'update' | 'delete' | 'status' | 'failover';

export interface Change {
  readonly kind: ChangeKind;
  readonly id: string;
  /** The project that owns the object (null: not owned by one, such as a role). */
  readonly projectId: string | null;
  readonly op: ChangeOp;
}

export interface Subscription {
  /** Kinds to hear of (all when absent). */
  kinds?: readonly ChangeKind[];
  /** Also hear `status` changes (off by default: most subscribers are the ones writing them). */
  status?: boolean;
  /**
   * The API operation that made a change waits for what this listener starts (the promise it
   * returns) before it answers: work the real service does in the request, after its commit and
   * after the answer was made, such as Neutron's L3 scheduling of a router created with a gateway
   * (L3_NAT_db_mixin.create_router, routers_updated: schedule_routers). Off by default: other
   * listeners' work (a data plane, an engine) goes on after the answer.
   */
  awaited?: boolean;
}

/** What an `awaited` listener answers is its work's promise; others' answers are ignored. */
type Listener = (c: Change) => unknown;

/**
 * Where committed changes are published. Listeners run synchronously, in subscription order; one
 * that throws is reported and does not stop the others (nor the writer, whose work committed).
 */
export class ChangeBus {
  private readonly listeners = new Set<{ sub: Subscription; fn: Listener }>();

  constructor(private readonly onListenerError: (e: unknown, c: Change) => void = () => undefined) {}

  /** Hear of changes; returns what to call to stop. */
  subscribe(sub: Subscription, fn: Listener): () => void {
    const entry = { sub, fn };
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Tell the listeners; answers what the `awaited` ones started (each settles, never rejects). */
  publish(changes: readonly Change[]): Array<Promise<unknown>> {
    const started: Array<Promise<unknown>> = [];
    for (const c of changes) {
      for (const { sub, fn } of this.listeners) {
        if (c.op === 'status' && !sub.status) continue;
        if (sub.kinds && !sub.kinds.includes(c.kind)) continue;
        try {
          const work = fn(c);
          if (sub.awaited && work instanceof Promise) started.push(work.catch((e: unknown) => this.onListenerError(e, c)));
        } catch (e) {
          this.onListenerError(e, c);
        }
      }
    }
    return started;
  }
}

/** One transaction of a unit of work, as the code inside it sees it. */
export interface Work {
  readonly trx: Tx;
  /** Record a change; it is published once the transaction has committed. */
  changed(kind: ChangeKind, id: string, projectId: string | null, op: ChangeOp): void;
  /** Run `effect` once the transaction has committed (never if it rolls back). */
  afterCommit(effect: () => void): void;
  /** `SELECT … FOR UPDATE` where the store has row locks (PostgreSQL); SQLite's one writer needs none. */
  forUpdate<QB extends { forUpdate(): QB }>(qb: QB): QB;
  /** Take turns with the other transactions that lock `key`, until this one ends (see Store.lock). */
  lock(key: string): Promise<void>;
}

/** Publishing committed changes; answers the work of the `awaited` listeners it started. */
type Publish = () => Array<Promise<unknown>>;

/**
 * One API operation (a request): what its transactions committed is published when it ends, after
 * its answer was rendered, whether it succeeded or failed after committing. Ending it settles once
 * the `awaited` listeners' work is done: the request answers then.
 */
export class Operation {
  private pending: Publish[] | null = [];

  /** Publish now if the operation has ended, else when it does. */
  defer(done: Publish): void {
    if (this.pending) this.pending.push(done);
    // Committed after the answer left: nobody waits for what awaited listeners start.
    else void done();
  }

  end(): Promise<void> | undefined {
    const pending = this.pending;
    this.pending = null;
    const started: Array<Promise<unknown>> = [];
    for (const done of pending ?? []) started.push(...done());
    // Most operations start no awaited work: no promise, no microtask before the answer.
    return started.length ? Promise.all(started).then(() => undefined) : undefined;
  }
}

/** Who a unit of work runs for: an API caller carries the operation of its request. */
export interface OperationOwner {
  readonly operation?: Operation;
}

/**
 * Changes across processes (issue 18): on PostgreSQL every transaction that recorded changes also
 * sends them with NOTIFY on this channel (an API operation's when it ends: see `run`), so that agents on other hosts (`pocketstack agent`)
 * hear what an API server committed, as Neutron's agents hear the server's RPC casts. What is
 * sent is only what identifies a change — kind, id, project id, op —, never an object's content:
 * a listener reads the store for the rest, and no secret ever travels in a notification (which
 * any role allowed to LISTEN could read). On SQLite changes stay in the process: SQLite is one
 * machine, and there is no other process to tell.
 */
export const CHANGE_CHANNEL = 'pocketstack_changes';
/** PostgreSQL refuses a payload of 8000 bytes or more: changes are sent in batches below that. */
const PAYLOAD_MAX = 7000;

/** The NOTIFY payloads for `changes` committed by process `origin` (JSON, each under PAYLOAD_MAX). */
export function encodeChanges(origin: string, changes: readonly Change[]): string[] {
  const out: string[] = [];
  let batch: string[] = [];
  let size = 0;
  const head = `{"o":${JSON.stringify(origin)},"c":[`;
  const flush = () => {
    if (batch.length) out.push(`${head}${batch.join(',')}]}`);
    batch = [];
    size = head.length + 2;
  };
  flush();
  for (const c of changes) {
    const item = JSON.stringify([c.kind, c.id, c.projectId, c.op]);
    if (size + item.length + 1 > PAYLOAD_MAX) flush();
    batch.push(item);
    size += item.length + 1;
  }
  flush();
  return out;
}

const OPS: ReadonlySet<string> = new Set<ChangeOp>(['create', 'update', 'delete', 'status', 'failover']);

/**
 * The changes in a payload, with the process that committed them; null for a payload that is not
 * one of ours (anyone who may connect can NOTIFY on the channel: what does not parse is ignored).
 */
export function decodeChanges(payload: string): { origin: string; changes: Change[] } | null {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const { o, c } = v as { o?: unknown; c?: unknown };
  if (typeof o !== 'string' || !Array.isArray(c)) return null;
  const changes: Change[] = [];
  for (const x of c) {
    if (!Array.isArray(x) || x.length !== 4) return null;
    const [kind, id, projectId, op] = x as unknown[];
    if (typeof kind !== 'string' || typeof id !== 'string' || (projectId !== null && typeof projectId !== 'string') || typeof op !== 'string') return null;
    if (!OPS.has(op)) return null;
    changes.push({ kind: kind as ChangeKind, id, projectId: projectId as string | null, op: op as ChangeOp });
  }
  return { origin: o, changes };
}

export class UnitOfWork {
  /** This process's name in the notifications it sends (so that it does not hear itself twice). */
  readonly origin = randomUUID();

  constructor(
    readonly store: Store,
    readonly changes: ChangeBus,
  ) {}

  /**
   * Publish on this process's change bus what other processes commit (PostgreSQL's LISTEN):
   * what the agents' data planes wake on. `onMissed` runs when notifications may have been lost
   * (the listening connection was opened again): the caller resyncs. `accept` (all when absent)
   * picks the changes this process takes in.
   */
  async listenToOthers(hooks: { onMissed?: () => void; onError?: (err: Error) => void; accept?: (c: Change) => boolean } = {}): Promise<ChannelListener> {
    const accept = hooks.accept;
    return this.store.listen(
      CHANGE_CHANNEL,
      (payload) => {
        const got = decodeChanges(payload);
        if (!got || got.origin === this.origin) return;
        const changes = accept ? got.changes.filter(accept) : got.changes;
        // No request here waits for what an awaited listener starts: it goes on by itself.
        if (changes.length) void this.changes.publish(changes);
      },
      { onReconnect: hooks.onMissed, onError: hooks.onError },
    );
  }

  /**
   * Run `fn` in one transaction. On a serialization conflict (Store.tx) the whole function runs
   * again from the start, with the changes and effects of the failed attempt forgotten. After
   * the commit the changes are published and the effects run: when `owner`'s operation ends if it
   * has one (an API caller), else at once (a driver's own report, start-up work).
   */
  async run<T>(fn: (w: Work) => Promise<T>, owner?: OperationOwner): Promise<T> {
    // Keyed so that a change recorded twice (a port deleted with its router) is published once.
    let changes = new Map<string, Change>();
    let effects: Array<() => void> = [];
    // An API caller's changes reach other processes when its operation ends, as they reach this
    // one's (an agent elsewhere must not make a create answer ACTIVE either); a notification sent
    // after the commit can be lost with the process, which agents' periodic resyncs make up for.
    // Anything else sends them with its transaction: at its commit, never if it rolls back.
    const deferred = owner?.operation !== undefined;
    const out = await this.store.tx(async (trx) => {
      changes = new Map();
      effects = [];
      const result = await fn({
        trx,
        changed: (kind, id, projectId, op) => {
          const key = `${kind}/${id}/${op}`;
          if (!changes.has(key)) changes.set(key, { kind, id, projectId, op });
        },
        afterCommit: (effect) => effects.push(effect),
        forUpdate: (qb) => this.store.forUpdate(qb),
        lock: (key) => this.store.lock(trx, key),
      });
      // Other processes hear of it at commit, with the transaction (nothing if it rolls back).
      if (changes.size && !deferred) await this.store.notify(trx, CHANGE_CHANNEL, encodeChanges(this.origin, [...changes.values()]));
      return result;
    });
    const done = () => {
      const started = this.changes.publish([...changes.values()]);
      if (deferred && changes.size) {
        void this.store.notify(this.store.db, CHANGE_CHANNEL, encodeChanges(this.origin, [...changes.values()])).catch(() => undefined);
      }
      for (const effect of effects) effect();
      return started;
    };
    if (owner?.operation) owner.operation.defer(done);
    // No request waits (a driver's report, start-up work): the awaited listeners' work goes on by itself.
    else void done();
    return out;
  }

  /** Publish changes that were not written in a transaction of ours (a driver's in-memory report). */
  announce(changes: readonly Change[], owner?: OperationOwner): void {
    if (owner?.operation) owner.operation.defer(() => this.changes.publish(changes));
    else void this.changes.publish(changes);
  }
}
