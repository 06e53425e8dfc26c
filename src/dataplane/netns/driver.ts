import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ConsoleSession, InstanceHost } from '../../core/compute/host.js';
import type { Agents } from '../../core/network/agents.js';
import { segmentReachable } from '../../core/network/binding.js';
import type { NetworkService } from '../../core/network/service.js';
import { type DataPlaneDriver, Reconciler } from '../driver.js';
import { type ControlPlane, type MachineSource, storeControlPlane } from './control.js';
import { buildDesired } from './desired.js';
import { SEND_ARP_FOR_HA } from './garp.js';
import { hostPart } from './hostpart.js';
import { SwitchFilter } from './filters.js';
import { linuxKernel, linuxOverlay } from './linux.js';
import { DhcpAgent } from './dhcp/agent.js';
import { DhcpServers } from './dhcp/servers.js';
import type { VrrpOptions } from './harouter.js';
import { type KeepalivedSpec, KeepalivedRunner, type VrrpState } from './keepalived.js';
import type { Closer, InstanceRunner, Kernel, NetnsMachine, NetworkServices, OverlayKernel, VrrpKernel } from './machine.js';
import { runDirOf } from './machines/paths.js';
import { MetadataProxies } from './metadata/proxies.js';
import { PassMemory } from './memory.js';
import { ROOT_NS, type SegmentRec, type Snapshot } from './model.js';
import { ownerKey } from './owners.js';
import { Names } from './names.js';
import type { TunnelConfig } from './overlay.js';
import { Pass } from './pass.js';
import { detectCgroups } from './machines/cgroups.js';
import { MachineRunner } from './machines/runner.js';
import { ensureBrNetfilter, machinePreflight, missingMappedBridges, preflight } from './preflight.js';
import { parseProtocols } from './secgroups.js';
import { SgLogWriter } from './sglogwriter.js';
import { instanceReports, statuses } from './status.js';

export interface NetnsOptions {
  /** Two characters that start every namespace and host link we own (default `ps`). */
  prefix: string;
  /** PocketStack's data directory: instances' writes, console logs and image trees live under it. */
  dataDir: string;
  /** Host ids instances' user namespaces map their ids to (0 is `base`). */
  instanceIds: { base: number; count: number };
  /** The physical network bridged to the host (DevStack's `public`). */
  publicPhysnet: string;
  /** A full pass (read everything back from the kernel) at least this often. */
  resyncMs: number;
  /**
   * The host this data plane is (its DHCP agent's ports are bound to it; default this machine's
   * name): it runs that host's part of the cloud (hostpart.ts), as `pocketstack agent` and
   * `serve`'s local agent do, so agents on other hosts keep theirs. `publicLeg`: `serve`'s one
   * machine keeps the public network's host leg even before a port of its own is on it (absent
   * `host`: the whole snapshot, as the unit tests drive it).
   */
  host?: { name: string; publicLeg: boolean };
  /**
   * This host's VXLAN endpoint (`--tunnel-ip`) and the namespace that holds it: tenant vxlan
   * networks then reach other hosts' parts (overlay.ts). Absent: one machine, no overlay.
   */
  tunnel?: TunnelConfig;
  /**
   * HA routers run keepalived (`pocketstack agent`: several hosts build the same router), with
   * the L3 agent's `ha_vrrp_advert_int` and VRRP authentication. Absent: `serve`'s one machine.
   */
  vrrp?: VrrpOptions;
  /** The agent's `check_child_processes_interval` (s, 0: off) and `check_child_processes_action` for keepalived. */
  childProcesses?: { intervalS: number; action: 'respawn' | 'exit' };
  /**
   * physical_interface_mappings (physnet → interface, `--physical-interface-mappings`) and the
   * namespace holding the interfaces (the underlay's: the host's own, or a lab host's).
   */
  interfaceMappings?: { mappings: ReadonlyMap<string, string>; home: string };
  /**
   * The L3 agent's `send_arp_for_ha`: rounds of gratuitous ARPs for each IPv4 address a router
   * adds to its legs (garp.ts; default 3, 0: none).
   */
  sendArpForHa?: number;
  /**
   * bridge_mappings (physnet → an existing bridge of the host's own namespace,
   * `--bridge-mappings`): a flat network there is joined to that bridge (desired.ts).
   */
  bridgeMappings?: ReadonlyMap<string, string>;
}

export interface PassStats {
  full: boolean;
  ms: number;
  execs: number;
  namespacesTouched: number;
  /** Kernel changes made: ip batch lines, nft scripts, iptables restores, namespaces added/removed. */
  changes: number;
  errors: number;
  /** Where the time went (ms): reading the store, namespaces, reading back, applying, status. */
  phases: Record<string, number>;
}

/** Extra sources of desired state (compute's servers, routers) plugged in by other services. */
export type SnapshotExtender = (snapshot: Snapshot) => Promise<void>;

/** Where the time of a pass went (ms), phase by phase. */
class PhaseTimer {
  readonly phases: Record<string, number> = {};
  private readonly started = performance.now();
  private last = this.started;

  /** Close the current phase: the time since the previous mark is `phase`'s. */
  mark(phase: string): void {
    const now = performance.now();
    this.phases[phase] = Math.round((now - this.last) * 10) / 10;
    this.last = now;
  }

  get ms(): number {
    return performance.now() - this.started;
  }
}

/**
 * The real data plane: reconciles the store into network namespaces, bridges, veths, nftables
 * and iptables on this machine, level-triggered. Each pass builds the desired state from one
 * snapshot of the store, reads back only what may differ (every namespace on a full pass; on an
 * incremental pass only namespaces whose desired state changed since they were last applied
 * cleanly), applies the difference in one batch per namespace and writes status back. The
 * phases of a pass are in pass.ts; this class holds what lives between passes and when they run.
 */
export class NetnsDataPlane implements DataPlaneDriver, InstanceHost {
  readonly kind = 'netns';
  readonly hostname: string;
  readonly names: Names;
  /** Ports in ERROR, with the kernel's reason (compute shows it as the server's fault). */
  readonly portErrors = new Map<string, string>();
  lastPass: PassStats | null = null;
  /** The last full pass's figures (a resync's; a change heard after it may run a shorter pass). */
  lastFullPass: PassStats | null = null;

  private readonly reconciler: Reconciler;
  private readonly kernel: Kernel;
  private readonly processes: InstanceRunner;
  private readonly services: NetworkServices;
  private readonly overlay: OverlayKernel | undefined;
  /** Networks, subnets or DHCP ports changed: the DHCP ports are synced before the next pass. */
  private dhcpDirty = true;
  private readonly protocolNames: Map<number, string>;
  private readonly extenders: SnapshotExtender[] = [];
  private readonly memory = new PassMemory();
  private readonly filter: SwitchFilter;
  private fullPending = true;
  private lastFull = 0;
  private watcher: Closer | null = null;
  private monitor: Closer | null = null;
  private retry: NodeJS.Timeout | null = null;
  private retryDelay = 250;
  private unsubscribe: (() => void) | null = null;
  /** What each instance was last reported as (compute learns of changes only). */
  private readonly reported = new Map<string, string>();
  private linkKick: NodeJS.Timeout | null = null;
  /** HA routers' keepalived (a `pocketstack agent` only), what it runs, and what was reported. */
  private readonly vrrp: VrrpKernel | undefined;
  private haRouters: KeepalivedSpec[] = [];
  private readonly haReported = new Map<string, VrrpState>();
  /** The address monitor that hears keepalived's transitions, while HA routers run here. */
  private haWatch: Closer | null = null;
  /** A report is queued behind the one running (events of one transition come in a burst). */
  private haQueued = false;
  private haReporting: Promise<void> = Promise.resolve();
  private stopping = false;

  /** Runs against `machine`; `create` is the way in on a real host (it checks the host first). */
  constructor(
    private readonly control: ControlPlane,
    private readonly opts: NetnsOptions,
    private readonly log: Logger,
    machine: NetnsMachine,
  ) {
    this.names = new Names(opts.prefix);
    this.hostname = opts.host?.name ?? hostname();
    this.kernel = machine.kernel;
    this.processes = machine.processes;
    this.services = machine.services;
    this.overlay = machine.overlay;
    this.vrrp = machine.vrrp;
    this.filter = new SwitchFilter(this.kernel, this.names.switchNs, log);
    this.reconciler = new Reconciler(
      () => this.pass(),
      (e) => this.log.error({ err: e }, 'netns data plane pass failed'),
      opts.resyncMs,
    );
    let protocols = '';
    try {
      protocols = readFileSync('/etc/protocols', 'utf8');
    } catch {
      // numbers are printed as numbers then
    }
    this.protocolNames = parseProtocols(protocols);
  }

  /** Refuses (throws, with the reason and the fix) when not root or a tool is missing. */
  static async create(
    network: NetworkService,
    opts: NetnsOptions,
    log: Logger,
    machines: MachineSource | null = null,
    agents: Agents | null = null,
  ): Promise<NetnsDataPlane> {
    const why =
      (await preflight()) ?? (await ensureBrNetfilter()) ?? (machines ? machinePreflight() : null) ?? (await missingMappedBridges(opts.bridgeMappings));
    if (why) throw new Error(why);
    const host = opts.host?.name ?? hostname();
    const control = storeControlPlane(
      network,
      machines,
      agents ? new DhcpAgent(network, agents, host, log.child({ component: 'dhcp-agent' })) : null,
      agents && opts.vrrp ? { agents, host } : null,
    );
    let dp: NetnsDataPlane | null = null;
    const dhcp = new DhcpServers(`${runDirOf(opts.prefix)}/dhcp`, log.child({ component: 'dhcp' }));
    const proxies = machines ? new MetadataProxies(machines.metadata, log.child({ component: 'metadata-proxy' })) : null;
    // Where the OVS agent writes them when `[network_log] local_output_log_base` is set.
    const sgLog = new SgLogWriter(join(opts.dataDir, 'log', 'security-groups.log'), log.child({ component: 'sg-log' }));
    const services: NetworkServices = {
      dhcp: (specs) => dhcp.reconcile(specs),
      metadata: async (specs, inodes) => (proxies ? proxies.reconcile(specs, inodes) : new Map()),
      sgLog: (spec, ino) => sgLog.reconcile(spec, ino),
      close: async () => {
        await sgLog.close();
        await proxies?.close();
      },
    };
    const processes = new MachineRunner({
      dataDir: opts.dataDir,
      prefix: opts.prefix,
      ids: opts.instanceIds,
      cgroups: detectCgroups(),
      diskLimits: true,
      guestFiles: (id, configDrive) => control.bootFiles(id, configDrive),
      kick: () => dp?.kick('instance'),
      log: log.child({ component: 'machines' }),
    });
    const cp = opts.childProcesses ?? { intervalS: 60, action: 'respawn' as const };
    const vrrp = opts.vrrp
      ? new KeepalivedRunner(join(opts.dataDir, 'ha_confs'), log.child({ component: 'keepalived' }), {
          ...cp,
          // ProcessMonitor's exit handler: the agent stops as on SIGTERM.
          exit: () => process.kill(process.pid, 'SIGTERM'),
        })
      : undefined;
    dp = new NetnsDataPlane(control, opts, log, { kernel: linuxKernel, processes, services, overlay: linuxOverlay, ...(vrrp ? { vrrp } : {}) });
    return dp;
  }

  /** Let another service add to each snapshot. */
  extend(fn: SnapshotExtender): void {
    this.extenders.push(fn);
  }

  async start(): Promise<void> {
    this.kernel.lock(this.opts.prefix);
    this.processes.watch?.();
    this.stopping = false;
    // Any desired-state change may touch the machine (status reports are ours, and not heard).
    this.unsubscribe = this.control.changes.subscribe({}, (c) => {
      if (c.kind === 'network' || c.kind === 'subnet') this.dhcpDirty = true;
      this.kick();
    });
    this.reconciler.start();
  }

  kick(_reason?: string): void {
    this.reconciler.kick();
  }

  /** A full pass now (reads every namespace back), resolved when done. */
  async resync(): Promise<void> {
    this.fullPending = true;
    this.reconciler.kick();
    await this.reconciler.idle();
  }

  idle(): Promise<void> {
    return this.reconciler.idle();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.watcher?.close();
    this.watcher = null;
    this.monitor?.close();
    this.monitor = null;
    if (this.linkKick) clearTimeout(this.linkKick);
    if (this.retry) clearTimeout(this.retry);
    this.haWatch?.close();
    this.haWatch = null;
    this.vrrp?.close();
    await this.reconciler.stop();
    await this.haReporting.catch(() => undefined);
    this.processes.unwatch?.();
    await this.services.close();
    this.kernel.unlock(this.opts.prefix);
  }

  /**
   * A link of the switch changed and it was not us: the namespace at its other end may have
   * lost routes (a link flap) or the link itself. Read both back in the next pass, soon.
   */
  private onLinkEvent(name: string): void {
    if (!this.memory.flapped(name, this.names.switchNs, Date.now())) return;
    if (this.linkKick) return;
    this.linkKick = setTimeout(() => {
      this.linkKick = null;
      this.kick();
    }, 20);
    this.linkKick.unref();
  }

  /** A namespace of ours deleted behind our back: converge now, not at the next resync. */
  private watchNamespaces(): void {
    if (this.watcher || this.stopping) return;
    let timer: NodeJS.Timeout | null = null;
    // No /run/netns yet: the next pass tries again, and the periodic resync still notices.
    this.watcher = this.kernel.watchNamespaces(() => {
      if (timer) return;
      timer = setTimeout(async () => {
        timer = null;
        const now = await this.kernel.listNamespaces();
        for (const name of this.memory.applied.keys()) {
          if (name !== ROOT_NS && !now.has(name)) {
            this.fullPending = true;
            this.kick();
            return;
          }
        }
      }, 20);
    });
  }

  /**
   * Live migrations leaving this host for another on this kernel (Snapshot.handovers, source =
   * this host): each machine is unplugged (its NICs' switch ends deleted, which takes the NICs
   * inside along), handed to the destination's instance host (runner.handOver), then compute is
   * told (handedOver), which switches the server in one transaction — the destination's agent
   * plugs its NICs in and adopts it from then on. An abort that committed first wins: the
   * machine comes back and this host's next pass plugs it in again.
   */
  private async handOver(snap: Snapshot): Promise<void> {
    const reports = this.control.instances;
    const leaving = (snap.handovers ?? []).filter((h) => h.source === this.hostname);
    if (!reports || !leaving.length || !this.processes.handOver) return;
    const existing = await this.kernel.listNamespaces();
    for (const h of leaving) {
      const ns = this.names.instanceNs(h.instanceId);
      const limits = { vcpus: h.vcpus, ramMb: h.ramMb };
      let back: () => Promise<void>;
      if (existing.has(ns)) {
        const nics = [...snap.ports, ...(snap.remotePorts ?? [])].filter((p) => p.deviceId === h.instanceId);
        const owner = ownerKey.instance(h.instanceId);
        await this.kernel.ipBatch(
          this.names.switchNs,
          nics.map((p) => ({ cmd: `link del ${this.names.tap(p.id)}`, owner, tolerant: true })),
        );
        this.memory.forget(ns);
        try {
          back = await this.processes.handOver(h.instanceId, ns, h.to, limits, h.bootGeneration);
        } catch (e) {
          this.log.warn({ instance: h.instanceId, err: e }, 'could not hand the machine over (it stays here; the migration times out)');
          continue;
        }
      } else if (existing.has(new Names(h.to.prefix).instanceNs(h.instanceId)) && this.processes.takeBack) {
        // Moved by this host before it stopped, the switch not recorded (the destination never
        // takes a machine before it is): record it now, or take the machine back.
        const takeBack = this.processes.takeBack.bind(this.processes);
        back = () => takeBack(h.instanceId, ns, h.to, limits, h.bootGeneration - 1);
      } else continue;
      let done = false;
      try {
        done = await reports.handedOver(h.instanceId, h.migration);
      } catch (e) {
        this.log.warn({ instance: h.instanceId, err: e }, 'could not record the handover');
      }
      if (done) {
        this.log.info({ instance: h.instanceId, to: h.dest }, 'machine handed over (live migration)');
        continue;
      }
      try {
        await back();
        this.log.info({ instance: h.instanceId }, 'handover not recorded (the migration was aborted): the machine is back');
      } catch (e) {
        this.log.error({ instance: h.instanceId, err: e }, 'could not take a machine back after its handover was refused');
      }
    }
  }

  /** Link events of our namespaces, once the switch exists (one made by an earlier run may have no id yet). */
  private async monitorLinks(existing: Map<string, number>): Promise<void> {
    const sw = this.names.switchNs;
    if (!existing.has(sw) || this.monitor || this.stopping) return;
    await this.kernel.assignNsid(sw);
    this.monitor = this.kernel.monitorLinks((name) => this.onLinkEvent(name));
  }

  /** One pass, phase by phase (see Pass); status written back at the end. */
  private async pass(): Promise<void> {
    const timer = new PhaseTimer();
    const execs0 = this.kernel.execCount();
    const full = this.fullPending || Date.now() - this.lastFull >= this.opts.resyncMs;
    this.fullPending = false;
    if (this.dhcpDirty || full) {
      this.dhcpDirty = false;
      await this.control.syncDhcpPorts();
    }
    // What is there before the store is read: only that can be found unwanted by this pass (a
    // machine handed over meanwhile is in the next snapshot, not in this one).
    const listedBefore = await this.kernel.listNamespaces();
    const sweep = full && this.control.instances ? this.processes.removalSweep() : null;
    const snap = await this.snapshot();
    await this.handOver(snap);
    const waiting = this.holdBack(snap);
    const tunnel = this.opts.tunnel;
    const desired = buildDesired(snap, this.names, {
      publicPhysnet: this.opts.publicPhysnet,
      protocolNames: this.protocolNames,
      ...(tunnel ? { overlay: { host: this.hostname, tunnel } } : {}),
      ...(this.opts.vrrp && this.vrrp ? { vrrp: this.opts.vrrp } : {}),
      ...(this.opts.interfaceMappings ? { interfaceMappings: this.opts.interfaceMappings } : {}),
      ...(this.opts.bridgeMappings ? { bridgeMappings: this.opts.bridgeMappings } : {}),
    });
    const deps = {
      kernel: this.kernel,
      processes: this.processes,
      services: this.services,
      filter: this.filter,
      memory: this.memory,
      names: this.names,
      log: this.log,
      ...(this.overlay ? { overlay: this.overlay } : {}),
      vlanDevices: await this.kernel.vlanDevices(),
      garpCount: this.opts.sendArpForHa ?? SEND_ARP_FOR_HA,
    };
    const p = new Pass(deps, desired, full);
    timer.mark('store');
    await p.namespaces(listedBefore);
    if (p.dirty.size) this.watchNamespaces();
    timer.mark('namespaces');
    await p.readBack();
    p.guardHost();
    await p.plan();
    timer.mark('read');
    p.quietOwnLinks();
    await p.physnetParents();
    await p.apply();
    await p.vlanTags();
    await p.qos();
    await p.overlay();
    await p.localIps();
    await p.physnets();
    timer.mark('apply');
    await p.services();
    if (this.vrrp) this.haRouters = await p.keepalived(this.vrrp);
    timer.mark('services');
    await p.processes();
    timer.mark('processes');
    await p.remember();
    await this.monitorLinks(p.existing);

    await this.writeStatus(snap, p);
    await this.reportHa();
    await this.reportInstances(p, waiting);
    if (sweep) {
      const moving = (snap.handovers ?? []).map((h) => h.instanceId);
      sweep(new Set([...desired.instances.map((i) => i.id), ...waiting.keys(), ...moving]));
    }
    if (full) this.lastFull = Date.now();
    timer.mark('status');
    this.lastPass = {
      full,
      ms: timer.ms,
      execs: this.kernel.execCount() - execs0,
      namespacesTouched: p.plans.size,
      changes: p.changes,
      errors: p.errors.size,
      phases: timer.phases,
    };
    if (full) this.lastFullPass = this.lastPass;
    this.log.debug({ pass: this.lastPass }, 'data plane pass');
    this.scheduleRetry(p.kernelErrors.size > 0);
  }

  /**
   * The HA routers' states as keepalived decided them, reported when they change (what
   * neutron-keepalived-state-change tells the L3 agent, which tells the server). Read after each
   * pass and, while HA routers run here, whenever an address of a router's `ha-` device comes or
   * goes (keepalived's transition: the primary VIP), so a failover is reported as keepalived
   * makes it. Neutron's agent waits `ha_vrrp_advert_int` before reporting a new primary, in case
   * keepalived takes it back (enqueue_state_change); here it is reported at once, and a router
   * that turns standby again hands its ports back to the active agent (Agents.updateHaStates).
   */
  private reportHa(): Promise<void> {
    const once = async () => {
      this.haQueued = false;
      if (!this.vrrp || !this.control.reportHaStates) return;
      const specs = this.haRouters;
      if (specs.length && !this.haWatch && !this.stopping) {
        this.haWatch = this.vrrp.watch(() => {
          if (this.haQueued || this.stopping) return;
          this.haQueued = true;
          void this.reportHa().catch((e) => this.log.warn({ err: e }, 'HA state report failed'));
        });
      } else if (!specs.length && this.haWatch) {
        this.haWatch.close();
        this.haWatch = null;
      }
      const states = await this.vrrp.states(specs);
      const changed = new Map<string, VrrpState>();
      for (const [id, state] of states) if (this.haReported.get(id) !== state) changed.set(id, state);
      for (const id of this.haReported.keys()) if (!states.has(id)) this.haReported.delete(id);
      if (changed.size) {
        await this.control.reportHaStates(changed);
        for (const [id, state] of changed) this.haReported.set(id, state);
        this.log.info({ states: Object.fromEntries(changed) }, 'HA router states reported');
      }
    };
    this.haReporting = this.haReporting.then(once, once);
    return this.haReporting;
  }

  /** After a kernel error, try again soon (backing off), not only at the next resync. */
  private scheduleRetry(failed: boolean): void {
    if (!failed) {
      this.retryDelay = 250;
      return;
    }
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.kick();
    }, this.retryDelay);
    this.retry.unref();
    this.retryDelay = Math.min(this.retryDelay * 2, this.opts.resyncMs);
  }

  /** Port, router, floating IP and trunk status (and subport bindings), written only when it changes. */
  private async writeStatus(snap: Snapshot, p: Pass): Promise<void> {
    const s = statuses(snap, p.desired, p.errors, this.names);
    const seen = new Set<string>();
    for (const port of s.ports) {
      seen.add(port.id);
      if (port.error) {
        if (this.portErrors.get(port.id) !== port.error) this.log.warn({ port: port.id, reason: port.error }, 'port in ERROR');
        this.portErrors.set(port.id, port.error);
      } else this.portErrors.delete(port.id);
      if (port.was !== port.status) await this.control.setStatus('port', port.id, port.status);
    }
    for (const id of this.portErrors.keys()) if (!seen.has(id)) this.portErrors.delete(id);
    for (const r of s.routers) {
      if (r.error) this.log.warn({ router: r.id, reason: r.error }, 'router in ERROR');
      if (r.was !== r.status) await this.control.setStatus('router', r.id, r.status);
    }
    for (const f of s.floatingIps) if (f.was !== f.status) await this.control.setStatus('floatingip', f.id, f.status);
    for (const b of s.subportBindings) await this.control.bindSubport(b.portId, b.host);
    for (const t of s.trunks) if (t.was !== t.status) await this.control.setStatus('trunk', t.id, t.status);
  }

  /**
   * Machines whose root file system is not ready yet (its image is being unpacked) are left out
   * of this pass: no namespace until it can boot. Returns them, with the reason when they never
   * will (an image that is not a usable file system).
   */
  private holdBack(snap: Snapshot): Map<string, { error: string | null; bootGeneration: number }> {
    const waiting = new Map<string, { error: string | null; bootGeneration: number }>();
    if (!snap.instances) return waiting;
    snap.instances = snap.instances.filter((i) => {
      if (!i.machine) return true;
      const r = this.processes.readiness({ id: i.id, ns: this.names.instanceNs(i.id), power: i.power, bootGeneration: i.bootGeneration, machine: i.machine });
      if (r === 'ready') return true;
      waiting.set(i.id, { error: r === 'pending' ? null : r.error, bootGeneration: i.bootGeneration });
      return false;
    });
    return waiting;
  }

  /**
   * Tell compute what each instance does: what its machine really does once it booted (running,
   * shutdown, paused), or the reason it cannot run (a port the kernel refused, an image that is
   * not a usable root file system).
   */
  private async reportInstances(p: Pass, waiting: Map<string, { error: string | null; bootGeneration: number }>): Promise<void> {
    const instances = this.control.instances;
    if (!instances) return;
    const reports = instanceReports(p.desired, p.errors, p.existing, (i) => this.processes.power(i));
    for (const [id, w] of waiting) if (w.error) reports.push({ id, report: { power: 'shutdown', rebootSeq: w.bootGeneration, error: w.error } });
    for (const { id, report } of reports) {
      const key = JSON.stringify(report);
      if (this.reported.get(id) === key) continue;
      this.reported.set(id, key);
      await instances.reportInstance(id, report);
    }
    const live = new Set([...p.desired.instances.map((i) => i.id), ...waiting.keys()]);
    for (const id of this.reported.keys()) if (!live.has(id)) this.reported.delete(id);
  }

  async snapshot(): Promise<Snapshot> {
    const snap = await this.control.snapshot();
    for (const fn of this.extenders) await fn(snap);
    const host = this.opts.host;
    if (!host) return snap;
    // What this host's L2 agent reaches, as binding reads its report (agentreports.ts): vxlan, and
    // the physical networks of its interface and bridge mappings.
    const agent = {
      tunnelTypes: ['vxlan'],
      physnets: new Set([...(this.opts.interfaceMappings?.mappings.keys() ?? []), ...(this.opts.bridgeMappings?.keys() ?? [])]),
    };
    const reachable = (seg: SegmentRec) => segmentReachable({ id: seg.id, networkType: seg.networkType, physicalNetwork: seg.physicalNetwork }, agent);
    return hostPart(snap, host.name, host.publicLeg ? this.opts.publicPhysnet : undefined, reachable);
  }

  // ---------------------------------------------------------------- InstanceHost (compute asks)

  private async specOf(serverId: string) {
    const snap = await this.snapshot();
    const i = snap.instances?.find((x) => x.id === serverId);
    if (!i) throw new Error(`instance ${serverId} does not run on this host`);
    return { id: i.id, ns: this.names.instanceNs(i.id), power: i.power, bootGeneration: i.bootGeneration, ...(i.machine ? { machine: i.machine } : {}) };
  }

  async snapshotDisk(serverId: string): Promise<Readable> {
    return this.processes.snapshot(await this.specOf(serverId));
  }

  serialConsole(serverId: string, onData: (b: Buffer) => void): ConsoleSession {
    return this.processes.attachConsole(serverId, onData);
  }
}
