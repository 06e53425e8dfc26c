import type { Readable } from 'node:stream';
import type { ConsoleSession } from '../../core/compute/host.js';
import type { Tables } from './iptables.js';
import type { DhcpServerSpec, InstanceSpec, MetadataProxySpec, SgLogSpec } from './model.js';
import type { L3State } from './l3ext.js';
import type { NatState } from './nat.js';
import type { Owner } from './owners.js';
import type { OverlayState } from './overlay.js';
import type { QosState } from './qos.js';
import type { Line } from './plan.js';
import type { NsState } from './state.js';
import type { TcLine, VlanTagState } from './vlantag.js';
import type { ClsactState } from './localip.js';
import type { KeepalivedSpec, VrrpState } from './keepalived.js';

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
  /** A router namespace's conntrack helper / NDP proxy table and its NDP proxy entries. */
  readL3(ns: string): Promise<L3State>;
  /** One `nft -f` transaction; throws (with nft's reason) when refused, changing nothing. */
  nftApply(ns: string, script: string): Promise<void>;
  /** A namespace's QoS: tbf shapers on its links' roots and our netdev tables. */
  readQos(ns: string): Promise<QosState>;
  /**
   * `lines` as one `tc -force -batch` in `ns`: every line runs; the failures come back as owner →
   * reason. A line with a BPF object loads it where its command says `obj @OBJECT`.
   */
  tcBatch(ns: string, lines: TcLine[]): Promise<Map<Owner, string>>;
  /** Whether this kernel makes 802.1Q VLAN devices (probed once); without, VLANs are made with tc-BPF. */
  vlanDevices(): Promise<boolean>;
  /** A namespace's clsact qdiscs and their ingress bpf filters (VLANs made with tc-BPF). */
  readVlanTags(ns: string): Promise<VlanTagState>;
  /** A namespace's clsact qdiscs and their bpf filters on both hooks (local IPs: localip.ts). */
  readClsact(ns: string): Promise<ClsactState>;
  /** Whether `tc` loads the local IP programs here (probed once): null, else the refusal. */
  localIpPrograms(): Promise<string | null>;
  iptablesSave(ns: string, family: 4 | 6): Promise<Tables>;
  /** One atomic `iptables-restore --noflush`; throws (with the reason) when refused, changing nothing. */
  iptablesRestore(ns: string, family: 4 | 6, text: string): Promise<void>;
  /** Forget the connections of `ip` in conntrack zone `zone` (a rule that admitted them went away). */
  conntrackForget(ns: string, zone: number, ip: string): Promise<void>;
  /** Forget a router's connections to and from a floating IP (its association went away or moved). */
  conntrackForgetFloating(ns: string, ip: string): Promise<void>;
  /**
   * Announce an IPv4 address just added to `dev` in `ns` with `count` rounds of gratuitous ARPs
   * (garp.ts), in the background; `onFailure` hears why the first round could not be sent.
   */
  sendGratuitousArp(ns: string, dev: string, ip: string, count: number, onFailure: (reason: string) => void): void;
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

/** Whether an instance can be given its namespace now: its root file system is ready, being prepared, or refused. */
export type Readiness = 'ready' | 'pending' | { error: string };

/** What a machine really does (reported to compute). */
export type InstancePower = 'running' | 'shutdown' | 'paused' | 'suspended';

/**
 * Instances as machines (machines/runner.ts): their namespaces, root file systems, control groups,
 * init and console. A bare instance (no `machine` in its spec) is only a network namespace the
 * pass configures; the runner leaves it alone.
 */
export interface InstanceRunner {
  /** Whether the instance's root file system is ready (preparing it in the background if not). */
  readiness(spec: InstanceSpec): Readiness;
  /** A machine's network namespace, owned by its own user namespace (its root configures it). */
  createNamespace(spec: InstanceSpec, sysctls: Array<[string, string]>): Promise<void>;
  /** Everything of a machine whose namespace goes away: processes, mounts, groups, its user namespace. */
  destroy(ns: string): Promise<void>;
  /**
   * Make a machine match its desired power, boot and root generations; `nsIno` identifies the
   * incarnation of its namespace (a recreated namespace is a fresh boot).
   */
  reconcile(spec: InstanceSpec, nsIno: number): Promise<'booted' | 'stopped' | 'frozen' | 'thawed' | 'unchanged'>;
  /**
   * A running machine's NICs were made again (their switch end went away and took them along):
   * tell its init, as a hot-plug event would, so that it configures them again.
   */
  replugged(spec: InstanceSpec): void;
  /** What a machine does now; null before its first boot (and for bare namespaces). */
  power(spec: InstanceSpec): InstancePower | null;
  /**
   * Hand a running machine to another host's instance host on this kernel (a live migration):
   * its processes and namespaces stay, renamed to the destination's; resolves to what takes it
   * back. Absent where machines cannot move.
   */
  handOver?(
    id: string,
    ns: string,
    to: { prefix: string; dataDir: string },
    limits: { vcpus: number; ramMb: number },
    bootGeneration: number,
  ): Promise<() => Promise<void>>;
  /** Take back a machine handed over to `from` before its switch was recorded (see handOver). */
  takeBack?(id: string, ns: string, from: { prefix: string; dataDir: string }, limits: { vcpus: number; ramMb: number }, bootGeneration: number): Promise<void>;
  /**
   * Start a sweep of what is kept for instances: the returned function removes the directories,
   * among those there now, of instances not in `keep`, and the image trees no instance uses. What
   * arrives in between (a machine another host hands over) is never swept by it.
   */
  removalSweep(): (keep: ReadonlySet<string>) => void;
  /** A machine's root file system (its image with its writes) as a tar stream (createImage). */
  snapshot(spec: InstanceSpec): Promise<Readable>;
  /** Attach to an instance's console (serial console sessions). */
  attachConsole(id: string, onData: (b: Buffer) => void): ConsoleSession;
  /** Start and stop watching what machines do by themselves (OOM kills). */
  watch?(): void;
  unwatch?(): void;
}

/**
 * The network services a pass keeps in line with the desired state: each network's DHCP server
 * (dnsmasq in its DHCP namespace) and the metadata proxies (routers' and isolated networks').
 */
export interface NetworkServices {
  /** Serve exactly these DHCP servers (their namespaces exist); errors by network id. */
  dhcp(specs: DhcpServerSpec[]): Promise<Map<string, string>>;
  /** Metadata proxies in exactly these namespaces (`inodes`: the namespaces that exist); errors by namespace. */
  metadata(specs: MetadataProxySpec[], inodes: Map<string, number>): Promise<Map<string, string>>;
  /** Security-group log lines for exactly these events, read in the switch namespace (`switchIno`: it exists). */
  sgLog(spec: SgLogSpec | null, switchIno: number | undefined): Promise<void>;
  close(): Promise<void>;
}

/** The kernel's VXLAN side (overlay.ts): only a data plane with a tunnel endpoint uses it. */
export interface OverlayKernel {
  /** The namespace's VXLAN devices and their forwarding entries. */
  readOverlay(ns: string): Promise<OverlayState>;
  /** `lines` as one `bridge -force -batch` in `ns`: every line runs; the failures come back as owner → reason. */
  bridgeBatch(ns: string, lines: Line[]): Promise<Map<Owner, string>>;
}

/** HA routers' keepalived (keepalived.ts): only a data plane that runs HA routers with VRRP uses it. */
export interface VrrpKernel {
  /** Run exactly these routers' keepalived (their namespaces exist); errors by router id. */
  reconcile(specs: KeepalivedSpec[]): Promise<Map<string, string>>;
  /** Each router's state as its keepalived decided it. */
  states(specs: KeepalivedSpec[]): Promise<Map<string, VrrpState>>;
  /** Call `onTransition` when a router's keepalived may have changed state (an address event of its `ha-` device). */
  watch(onTransition: () => void): Closer;
  /** Stop watching the processes (they outlive the agent). */
  close(): void;
}

/** What the netns driver runs against: the kernel, the instances, the network services (fakes in unit tests). */
export interface NetnsMachine {
  kernel: Kernel;
  processes: InstanceRunner;
  services: NetworkServices;
  overlay?: OverlayKernel;
  vrrp?: VrrpKernel;
}
