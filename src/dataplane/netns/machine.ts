import type { Tables } from './iptables.js';
import type { InstanceFreeze, InstanceSpec } from './model.js';
import type { NatState } from './nat.js';
import type { Owner } from './owners.js';
import type { QosState } from './qos.js';
import type { Line } from './plan.js';
import type { NsState } from './state.js';

/**
 * The machine as a reconcile pass sees it: every kernel operation the netns driver makes, as
 * one interface. On a host it is `linuxKernel` (linux.ts: `ip`, `nft`, `iptables`, `conntrack`,
 * /run/netns); unit tests run whole passes against an in-memory fake (test/support/fakekernel.ts).
 * Namespaces are named; `ROOT_NS` ('') is the host's own.
 */
export interface Kernel {
  /** Named namespaces → inode (the inode identifies one incarnation: a recreated one differs). */
  listNamespaces(): Promise<Map<string, number>>;
  /** A new namespace with its sysctls set; `nsid` also gives it an id in the root namespace (for `monitorLinks`). */
  createNamespace(name: string, sysctls: Array<[string, string]>, opts: { nsid: boolean }): Promise<void>;
  /** Kill the processes inside, then delete it: its links go, and with them their veths' other ends. */
  deleteNamespace(name: string): Promise<void>;
  /** Give an existing namespace an id in the root namespace (one made by an earlier run may have none). */
  assignNsid(ns: string): Promise<void>;
  /** What a namespace holds: links with their addresses, routes, neighbour entries. */
  readNamespace(ns: string): Promise<NsState>;
  /** `lines` as one `ip -force -batch` in `ns`: every line runs; the failures come back as owner → reason. */
  ipBatch(ns: string, lines: Line[]): Promise<Map<Owner, string>>;
  /** A router namespace's NAT table, or null when it has none. */
  readNat(ns: string): Promise<NatState | null>;
  /** One `nft -f` transaction; throws (with nft's reason) when refused, changing nothing. */
  nftApply(ns: string, script: string): Promise<void>;
  /** A namespace's QoS: tbf shapers on its links' roots and our netdev tables. */
  readQos(ns: string): Promise<QosState>;
  /** `lines` as one `tc -force -batch` in `ns`: every line runs; the failures come back as owner → reason. */
  tcBatch(ns: string, lines: Line[]): Promise<Map<Owner, string>>;
  iptablesSave(ns: string, family: 4 | 6): Promise<Tables>;
  /** One atomic `iptables-restore --noflush`; throws (with the reason) when refused, changing nothing. */
  iptablesRestore(ns: string, family: 4 | 6, text: string): Promise<void>;
  /** Forget the connections of `ip` in conntrack zone `zone` (a rule that admitted them went away). */
  conntrackForget(ns: string, zone: number, ip: string): Promise<void>;
  /** Forget a router's connections to and from a floating IP (its association went away or moved). */
  conntrackForgetFloating(ns: string, ip: string): Promise<void>;
  /** Processes started so far (a pass that changes nothing should start few). */
  execCount(): number;
  /** Hear of namespaces added or deleted (by anyone); null when that cannot be watched yet. */
  watchNamespaces(onChange: () => void): Closer | null;
  /** Hear of link changes in other namespaces, by interface name (a flap flushes routes). */
  monitorLinks(onLink: (ifname: string) => void): Closer;
  /** Claim the prefix on this machine (throws when another live process holds it). */
  lock(prefix: string): void;
  unlock(prefix: string): void;
}

export interface Closer {
  close(): void;
}

/** Instances' process trees (user_data), run inside their namespaces. */
export interface InstanceRunner {
  /**
   * Make an instance's processes match its desired power state; `nsIno` identifies the
   * incarnation of its namespace (a rebuilt namespace is a fresh boot).
   */
  reconcile(spec: InstanceSpec, nsIno: number): Promise<'booted' | 'stopped' | 'frozen' | 'thawed' | 'unchanged'>;
  /** `paused`/`suspended` while the instance's processes are frozen, else null (what the host reports). */
  frozenAs(id: string): InstanceFreeze;
  /** Remove the working directories (and console logs) of every instance not in `keep`. */
  removeAllBut(keep: ReadonlySet<string>): void;
}

/** What the netns driver runs against: the kernel and the instances' processes (fakes in unit tests). */
export interface NetnsMachine {
  kernel: Kernel;
  processes: InstanceRunner;
}
