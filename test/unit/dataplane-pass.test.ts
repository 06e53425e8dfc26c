import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { InstanceReport } from '../../src/core/compute/host.js';
import { type ChangeKind, type ChangeOp, ChangeBus } from '../../src/core/work.js';
import type { ControlPlane, StatusKind } from '../../src/dataplane/netns/control.js';
import { NetnsDataPlane, type NetnsOptions } from '../../src/dataplane/netns/driver.js';
import { type PortRec, ROOT_NS, type Snapshot } from '../../src/dataplane/netns/model.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { ownerKey, parseOwner } from '../../src/dataplane/netns/owners.js';
import { FakeKernel, FakeOverlay, FakeProcesses, FakeServices } from '../support/fakekernel.js';

/**
 * Whole reconcile passes of the netns driver against an in-memory kernel (test/support/fakekernel.ts)
 * and an in-memory control plane: what a user would see (namespaces, links, addresses, routes,
 * NAT, filters, and the status the API shows) after the store changes or the kernel misbehaves.
 */

const names = new Names('ps');
const PUBLIC = 'aaaaaaaa-0000-0000-0000-000000000001';
const TENANT = 'bbbbbbbb-0000-0000-0000-000000000002';
const PUB_V4 = 'cccccccc-0000-0000-0000-000000000001';
const TEN_V4 = 'dddddddd-0000-0000-0000-000000000001';
const SG = 'eeeeeeee-0000-0000-0000-000000000001';
const VM1 = '11111111-0000-0000-0000-000000000001';
const VM2 = '22222222-0000-0000-0000-000000000002';
const VM3 = '33333333-0000-0000-0000-000000000003';
const P1 = '0a000001-0000-0000-0000-000000000001';
const P2 = '0a000002-0000-0000-0000-000000000002';
const P3 = '0a000003-0000-0000-0000-000000000003';
const ROUTER = '99999999-0000-0000-0000-000000000009';
const GW_PORT = 'ab000001-0000-0000-0000-000000000001';
const RI_PORT = 'ac000001-0000-0000-0000-000000000001';
const FIP = 'f0000001-0000-0000-0000-000000000001';

const SW = names.switchNs;
const VM1_NS = names.instanceNs(VM1);
const VM2_NS = names.instanceNs(VM2);
const VM3_NS = names.instanceNs(VM3);
const ROUTER_NS = names.routerNs(ROUTER);

function port(id: string, extra: Partial<PortRec>): PortRec {
  return {
    id,
    networkId: TENANT,
    mac: 'fa:16:3e:00:00:01',
    adminUp: true,
    status: 'DOWN',
    deviceId: '',
    deviceOwner: '',
    bindingHost: '',
    portSecurity: false,
    fixedIps: [],
    allowedAddressPairs: [],
    securityGroups: [],
    createdAt: '2026-01-01T00:00:00Z',
    extraDhcpOpts: [],
    ...extra,
  };
}

const vmPort = (id: string, vm: string, ip: string, mac: string) =>
  port(id, {
    deviceId: vm,
    deviceOwner: 'compute:nova',
    bindingHost: 'host1',
    mac,
    portSecurity: true,
    securityGroups: [SG],
    fixedIps: [{ subnetId: TEN_V4, ipAddress: ip }],
  });

/** Two servers on a tenant network behind a router with a gateway on `public`; the first has a floating IP. */
function snapshot(): Snapshot {
  return {
    networks: [
      { id: PUBLIC, mtu: 1500, adminUp: true, networkType: 'flat', physicalNetwork: 'public', segmentationId: null },
      { id: TENANT, mtu: 1450, adminUp: true, networkType: 'vxlan', physicalNetwork: null, segmentationId: 7 },
    ],
    subnets: [
      {
        id: PUB_V4,
        networkId: PUBLIC,
        ipVersion: 4,
        cidr: '172.24.4.0/24',
        gatewayIp: '172.24.4.1',
        hostRoutes: [],
        enableDhcp: false,
        dnsNameservers: [],
        ipv6AddressMode: null,
        ipv6RaMode: null,
      },
      {
        id: TEN_V4,
        networkId: TENANT,
        ipVersion: 4,
        cidr: '10.0.2.0/24',
        gatewayIp: '10.0.2.1',
        hostRoutes: [],
        enableDhcp: false,
        dnsNameservers: [],
        ipv6AddressMode: null,
        ipv6RaMode: null,
      },
    ],
    ports: [
      vmPort(P1, VM1, '10.0.2.11', 'fa:16:3e:00:00:11'),
      vmPort(P2, VM2, '10.0.2.12', 'fa:16:3e:00:00:12'),
      port(GW_PORT, {
        networkId: PUBLIC,
        mac: 'fa:16:3e:00:01:01',
        deviceId: ROUTER,
        deviceOwner: 'network:router_gateway',
        fixedIps: [{ subnetId: PUB_V4, ipAddress: '172.24.4.13' }],
      }),
      port(RI_PORT, {
        mac: 'fa:16:3e:00:02:01',
        deviceId: ROUTER,
        deviceOwner: 'network:router_interface',
        fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.1' }],
      }),
    ],
    securityGroups: [
      {
        id: SG,
        stateful: true,
        rules: [
          { id: 'r1', direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', portMin: 22, portMax: 22, remoteIpPrefix: null, remoteGroupId: null },
          { id: 'r2', direction: 'egress', ethertype: 'IPv4', protocol: null, portMin: null, portMax: null, remoteIpPrefix: null, remoteGroupId: null },
        ],
      },
    ],
    routers: [{ id: ROUTER, adminUp: true, status: 'ACTIVE', enableSnat: true, gatewayPortId: GW_PORT, routes: [] }],
    floatingIps: [{ id: FIP, floatingIp: '172.24.4.101', fixedIp: '10.0.2.11', portId: P1, routerId: ROUTER, status: 'DOWN' }],
    instances: null,
  };
}

/** The store as the driver sees it: a snapshot tests edit as API calls would, statuses written back into it. */
class FakeControl implements ControlPlane {
  readonly changes = new ChangeBus();
  readonly reports: Array<{ id: string; report: InstanceReport }> = [];
  readonly instances = {
    reportInstance: async (id: string, report: InstanceReport) => {
      this.reports.push({ id, report });
    },
    handedOver: async () => false,
  };

  constructor(public snap: Snapshot) {}

  async snapshot(): Promise<Snapshot> {
    return structuredClone(this.snap);
  }

  async bootFiles(): Promise<null> {
    return null;
  }

  async syncDhcpPorts(): Promise<boolean> {
    return false;
  }

  async setStatus(kind: StatusKind, id: string, status: string): Promise<void> {
    const rec = this.list(kind).find((x) => x.id === id);
    if (rec) rec.status = status;
  }

  async bindSubport(portId: string, host: string): Promise<void> {
    const port = this.snap.ports.find((p) => p.id === portId);
    if (!port) return;
    port.bindingHost = host;
    port.deviceOwner = host ? 'trunk:subport' : '';
    if (!host) port.status = 'DOWN';
    void this.changes.publish([{ kind: 'port', id: portId, projectId: null, op: 'update' }]);
  }

  private list(kind: StatusKind): Array<{ id: string; status: string }> {
    if (kind === 'port') return this.snap.ports;
    if (kind === 'router') return this.snap.routers;
    if (kind === 'trunk') return this.snap.trunks ?? [];
    return this.snap.floatingIps;
  }

  /** What the API shows. */
  status(kind: StatusKind, id: string): string | undefined {
    return this.list(kind).find((x) => x.id === id)?.status;
  }

  /** Change the desired state and publish the change, as a committed API call does. */
  edit(kind: ChangeKind, id: string, fn: (s: Snapshot) => void, op: ChangeOp = 'update'): void {
    fn(this.snap);
    void this.changes.publish([{ kind, id, projectId: null, op }]);
  }
}

const OPTIONS = { prefix: 'ps', dataDir: '/nonexistent', instanceIds: { base: 1_000_000_000, count: 65536 }, publicPhysnet: 'public', resyncMs: 60_000 };
const running: NetnsDataPlane[] = [];

async function boot(before?: (k: FakeKernel) => void, snap: Snapshot = snapshot(), options: Partial<NetnsOptions> = {}) {
  const kernel = new FakeKernel();
  before?.(kernel);
  const processes = new FakeProcesses(kernel);
  const control = new FakeControl(snap);
  const services = new FakeServices();
  // With a tunnel endpoint the overlay's reads and `bridge` batches go to the same fake kernel.
  const overlay = options.tunnel ? { overlay: new FakeOverlay(kernel) } : {};
  const dp = new NetnsDataPlane(control, { ...OPTIONS, ...options }, pino({ level: 'silent' }), { kernel, processes, services, ...overlay });
  running.push(dp);
  await dp.start();
  await dp.idle();
  return { kernel, processes, control, dp, services };
}

/** Namespaces a slice of calls touched with `op`. */
const touched = (k: FakeKernel, op: 'readNamespace' | 'ipBatch', since: number) => [...new Set(k.callsOf(op, undefined, since).map((c) => c.ns))].sort();

afterEach(async () => {
  for (const dp of running.splice(0)) await dp.stop();
});

describe('netns driver against a fake kernel', () => {
  it("wires every port: each server's namespace and veth appear, addresses, routes, NAT and filters in place, everything ACTIVE", async () => {
    const { kernel, control, processes, dp } = await boot();
    expect(kernel.names).toEqual([SW, VM1_NS, VM2_NS, ROUTER_NS].sort());
    expect(kernel.locks.has('ps')).toBe(true);

    const eth0 = kernel.links(VM1_NS)!.get('eth0')!;
    const tap = kernel.links(SW)!.get(names.tap(P1))!;
    expect(eth0).toMatchObject({ kind: 'veth', mac: 'fa:16:3e:00:00:11', mtu: 1450, up: true, addrs: ['10.0.2.11/24'] });
    expect(tap).toMatchObject({ kind: 'veth', master: names.bridge(TENANT), up: true, linkIndex: eth0.ifindex });
    expect(eth0.linkIndex).toBe(tap.ifindex);
    expect(kernel.routes(VM1_NS)).toEqual([{ family: 4, dst: 'default', via: '10.0.2.1', dev: 'eth0', protocol: 'boot' }]);
    // The router: its legs, the floating IP's NAT, and the host's leg into the public bridge.
    expect(kernel.links(ROUTER_NS)!.get(names.routerGateway(GW_PORT))!.addrs).toEqual(['172.24.4.13/24', '172.24.4.101/32']);
    expect(kernel.namespace(ROUTER_NS)!.nat!.dnat).toEqual(new Map([['172.24.4.101', '10.0.2.11']]));
    expect(kernel.links('')!.get(names.hostLeg(PUBLIC))!.addrs).toEqual(['172.24.4.1/24']);
    // Security groups: each filtered port's chains, dispatched from the switch's FORWARD chain.
    const filter = kernel.namespace(SW)!.iptables[4].get('filter')!;
    expect(filter.get('FORWARD')).toEqual(['-j ps-sg-chain']);
    expect(filter.get(names.portIngressChain(P1))).toContain(`-j ${names.groupChain(SG, 'ingress')}`);

    expect([P1, P2, GW_PORT, RI_PORT].map((p) => control.status('port', p))).toEqual(['ACTIVE', 'ACTIVE', 'ACTIVE', 'ACTIVE']);
    expect(control.status('router', ROUTER)).toBe('ACTIVE');
    expect(control.status('floatingip', FIP)).toBe('ACTIVE');
    expect(processes.events.map((e) => [e.id, e.result]).sort()).toEqual([
      [VM1, 'booted'],
      [VM2, 'booted'],
    ]);
    expect(control.reports.map((r) => [r.id, r.report.power]).sort()).toEqual([
      [VM1, 'running'],
      [VM2, 'running'],
    ]);
    expect(dp.lastPass).toMatchObject({ full: true, errors: 0 });
  });

  it('converges: a full resync reads every namespace back and changes nothing', async () => {
    const { kernel, dp } = await boot();
    const since = kernel.calls.length;
    await dp.resync();
    expect(dp.lastPass).toMatchObject({ full: true, changes: 0, errors: 0 });
    expect(touched(kernel, 'readNamespace', since)).toEqual(['', SW, VM1_NS, VM2_NS, ROUTER_NS].sort());
    expect(touched(kernel, 'ipBatch', since)).toEqual([]);
    expect(kernel.callsOf('iptablesRestore', undefined, since)).toEqual([]);
    expect(kernel.callsOf('nftApply', undefined, since)).toEqual([]);
  });

  it('an incremental pass touches only the namespace whose desired state changed, and reads none it applied cleanly', async () => {
    const { kernel, control, dp } = await boot();
    const since = kernel.calls.length;
    control.edit('port', P2, (s) => {
      s.ports.find((p) => p.id === P2)!.adminUp = false;
    });
    await dp.idle();
    expect(dp.lastPass).toMatchObject({ full: false, namespacesTouched: 1, errors: 0 });
    expect(touched(kernel, 'ipBatch', since)).toEqual([SW]);
    expect(touched(kernel, 'readNamespace', since)).toEqual([]);
    expect(kernel.links(SW)!.get(names.tap(P2))!.up).toBe(false);
    expect(control.status('port', P2)).toBe('DOWN');
    expect(control.status('port', P1)).toBe('ACTIVE');
  });

  it("a new server's namespace and veth appear; the other servers' namespaces are neither read nor changed", async () => {
    const { kernel, control, processes, dp } = await boot();
    const since = kernel.calls.length;
    control.edit('port', P3, (s) => {
      s.ports.push(vmPort(P3, VM3, '10.0.2.13', 'fa:16:3e:00:00:13'));
    });
    await dp.idle();
    expect(kernel.names).toContain(VM3_NS);
    expect(kernel.links(VM3_NS)!.get('eth0')).toMatchObject({ mac: 'fa:16:3e:00:00:13', up: true, addrs: ['10.0.2.13/24'] });
    expect(control.status('port', P3)).toBe('ACTIVE');
    expect(processes.events.filter((e) => e.id === VM3)).toHaveLength(1);
    // The switch gets its tap, the router learns its new neighbour; nothing else is looked at.
    expect(touched(kernel, 'ipBatch', since)).toEqual([SW, VM3_NS, ROUTER_NS].sort());
    expect(touched(kernel, 'readNamespace', since)).toEqual([]);
  });

  it('a machine handed over by another host while a pass reads the store is left to the next pass, which adopts it: never torn down', async () => {
    const { kernel, control, processes, dp } = await boot();
    // The other host's agent renames the running machine's namespace to ours (runner.handOver)
    // after this pass read the store, so its snapshot has neither the handover nor the server.
    const read = control.snapshot.bind(control);
    let landing = true;
    control.snapshot = async () => {
      const snap = await read();
      if (landing) {
        landing = false;
        await kernel.createNamespace(VM3_NS, [], { nsid: false });
      }
      return snap;
    };
    control.edit('port', P2, (s) => {
      s.ports.find((p) => p.id === P2)!.adminUp = true;
    });
    await dp.idle();
    expect(landing).toBe(false);
    const ino = kernel.namespace(VM3_NS)?.ino;
    expect(ino).toBeDefined();
    expect(processes.destroyed).not.toContain(VM3_NS);
    // The switch is recorded: the server is this host's, its namespace the one that arrived.
    control.edit('port', P3, (s) => {
      s.ports.push(vmPort(P3, VM3, '10.0.2.13', 'fa:16:3e:00:00:13'));
    });
    await dp.idle();
    expect(kernel.namespace(VM3_NS)?.ino).toBe(ino);
    expect(processes.destroyed).not.toContain(VM3_NS);
    expect(kernel.links(VM3_NS)!.get('eth0')).toMatchObject({ mac: 'fa:16:3e:00:00:13', up: true, addrs: ['10.0.2.13/24'] });
    expect(control.status('port', P3)).toBe('ACTIVE');
  });

  it("boots a new server only once its NIC is wired and its network's dnsmasq has its lease, so the guest's first DISCOVER is answered", async () => {
    // As Nova starts a guest once Neutron says network-vif-plugged: a DISCOVER sent before the
    // host entry is there goes unanswered, and udhcpc asks again only a second later.
    const snap = snapshot();
    snap.subnets.find((s) => s.id === TEN_V4)!.enableDhcp = true;
    snap.ports.push(
      port('0d000001-0000-0000-0000-000000000001', {
        deviceOwner: 'network:dhcp',
        deviceId: 'dhcp-host1',
        bindingHost: 'host1',
        mac: 'fa:16:3e:00:00:02',
        fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.2' }],
      }),
    );
    const { kernel, control, processes, services, dp } = await boot(undefined, snap);
    const atBoot: Array<{ lease: boolean; wired: boolean }> = [];
    const reconcile = processes.reconcile.bind(processes);
    processes.reconcile = async (spec, ino) => {
      if (spec.id === VM3) {
        atBoot.push({
          lease: services.dhcpSpecs.some((d) => d.network.ports.some((p) => p.mac === 'fa:16:3e:00:00:13')),
          wired: kernel.links(VM3_NS)?.get('eth0')?.up === true && kernel.links(SW)?.get(names.tap(P3))?.up === true,
        });
      }
      return reconcile(spec, ino);
    };
    control.edit('port', P3, (s) => {
      s.ports.push(vmPort(P3, VM3, '10.0.2.13', 'fa:16:3e:00:00:13'));
    });
    await dp.idle();
    expect(processes.events.filter((e) => e.id === VM3).map((e) => e.result)).toEqual(['booted']);
    expect(atBoot[0]).toEqual({ lease: true, wired: true });
  });

  it("a deleted server's namespace, veth and filter chains disappear", async () => {
    const { kernel, control, dp } = await boot();
    control.edit(
      'port',
      P2,
      (s) => {
        s.ports = s.ports.filter((p) => p.id !== P2);
      },
      'delete',
    );
    await dp.idle();
    expect(kernel.names).not.toContain(VM2_NS);
    expect(kernel.callsOf('deleteNamespace').map((c) => c.ns)).toEqual([VM2_NS]);
    expect(kernel.links(SW)!.has(names.tap(P2))).toBe(false);
    expect(kernel.namespace(SW)!.iptables[4].get('filter')!.has(names.portIngressChain(P2))).toBe(false);
    expect(kernel.links(VM1_NS)!.get('eth0')!.up).toBe(true);
    expect(control.status('port', P1)).toBe('ACTIVE');
  });

  it("a refused change puts only that port in ERROR with the kernel's reason, the others proceed, and it is retried", async () => {
    let lift: () => void = () => {};
    const { kernel, control, dp } = await boot((k) => {
      lift = k.refuse('ip', 'addr replace 10.0.2.12/24', 'RTNETLINK answers: Permission denied', VM2_NS);
    });
    const reason = 'addr replace 10.0.2.12/24 dev eth0: RTNETLINK answers: Permission denied';
    expect(control.status('port', P2)).toBe('ERROR');
    expect(dp.portErrors.get(P2)).toBe(reason);
    // Compute shows the port's reason as the server's fault.
    expect(control.reports.find((r) => r.id === VM2)!.report).toEqual({ power: 'running', rebootSeq: 1, error: reason });
    expect(control.status('port', P1)).toBe('ACTIVE');
    expect(kernel.links(VM1_NS)!.get('eth0')!.addrs).toEqual(['10.0.2.11/24']);
    expect(kernel.links(VM2_NS)!.get('eth0')!.addrs).toEqual([]);

    // The kernel gives in: the retry (soon, not at the next resync) reads back only where the port
    // lives: its server's namespace, the switch (its tap), the router (its neighbour entry).
    const since = kernel.calls.length;
    lift();
    await vi.waitFor(
      async () => {
        await dp.idle();
        expect(control.status('port', P2)).toBe('ACTIVE');
      },
      { timeout: 3000, interval: 25 },
    );
    expect(dp.portErrors.has(P2)).toBe(false);
    expect(kernel.links(VM2_NS)!.get('eth0')!.addrs).toEqual(['10.0.2.12/24']);
    expect(touched(kernel, 'readNamespace', since)).toEqual([SW, VM2_NS, ROUTER_NS].sort());
  });

  it('a port whose security group rules the kernel refuses is in ERROR and its traffic dropped, never passed', async () => {
    const chain = names.portIngressChain(P2);
    const { kernel, control, dp } = await boot((k) => {
      k.refuse('iptables', `:${chain} `, `line 3 failed: ${chain}`);
    });
    expect(control.status('port', P2)).toBe('ERROR');
    expect(dp.portErrors.get(P2)).toMatch(/^iptables: /);
    expect(control.status('port', P1)).toBe('ACTIVE');
    const filter = kernel.namespace(SW)!.iptables[4].get('filter')!;
    expect(filter.has(chain)).toBe(false);
    const dispatch = filter.get('ps-sg-chain')!;
    expect(dispatch).toContain(`-m physdev --physdev-out ${names.tap(P2)} --physdev-is-bridged -j DROP`);
    expect(dispatch).toContain(`-m physdev --physdev-out ${names.tap(P1)} --physdev-is-bridged -j ${names.portIngressChain(P1)}`);
    // The other port's chains all loaded (its egress chain after the anti-spoofing chain it jumps to).
    for (const c of [names.portIngressChain(P1), names.portEgressChain(P1), names.portSpoofChain(P1)]) expect(filter.has(c)).toBe(true);
    expect(dp.portErrors.has(P1)).toBe(false);
  });

  it('a namespace deleted behind our back is rebuilt at once, and its server booted again', async () => {
    const { kernel, control, processes, dp } = await boot();
    const before = kernel.namespace(VM1_NS)!.ino;
    kernel.vanish(VM1_NS);
    expect(kernel.links(SW)!.has(names.tap(P1))).toBe(false);
    await vi.waitFor(
      async () => {
        await dp.idle();
        expect(kernel.names).toContain(VM1_NS);
      },
      { timeout: 3000, interval: 25 },
    );
    await dp.idle();
    expect(kernel.namespace(VM1_NS)!.ino).not.toBe(before);
    const eth0 = kernel.links(VM1_NS)!.get('eth0')!;
    expect(eth0).toMatchObject({ up: true, addrs: ['10.0.2.11/24'], linkIndex: kernel.links(SW)!.get(names.tap(P1))!.ifindex });
    expect(kernel.routes(VM1_NS)).toHaveLength(1);
    expect(processes.events.filter((e) => e.id === VM1).map((e) => e.result)).toEqual(['booted', 'booted']);
    expect(control.status('port', P1)).toBe('ACTIVE');
  });

  it('a machine whose NICs went with the switch gets them back and is told (a hot-plug), not rebooted; its addresses stay its own', async () => {
    const snap = snapshot();
    const machine = (hostname: string) => ({
      hostname,
      image: null,
      flavor: { name: 'm1.tiny', vcpus: 1, ramMb: 512, diskGb: 1 },
      rootGeneration: 0,
      configDrive: false,
      rescue: null,
      files: [],
    });
    snap.instances = [
      { id: VM1, power: 'running', bootGeneration: 0, nics: [P1], machine: machine('vm1') },
      { id: VM2, power: 'running', bootGeneration: 0, nics: [P2], machine: machine('vm2') },
    ];
    const { kernel, processes, dp } = await boot(undefined, snap);
    const ino = kernel.namespace(VM1_NS)!.ino;
    // The data plane gives a machine its NIC and nothing inside it.
    expect(kernel.links(VM1_NS)!.get('eth0')).toMatchObject({ addrs: [] });
    kernel.vanish(SW);
    expect(kernel.links(VM1_NS)!.has('eth0')).toBe(false);
    await vi.waitFor(
      async () => {
        await dp.idle();
        expect(kernel.links(VM1_NS)!.has('eth0')).toBe(true);
      },
      { timeout: 3000, interval: 25 },
    );
    expect(kernel.namespace(VM1_NS)!.ino).toBe(ino);
    expect(processes.replugs.sort()).toEqual([VM1, VM2].sort());
    expect(
      processes.events
        .filter((e) => e.result === 'booted')
        .map((e) => e.id)
        .sort(),
    ).toEqual([VM1, VM2].sort());
    // Nothing more to do on the next pass, and nobody told twice.
    await dp.resync();
    expect(dp.lastPass).toMatchObject({ changes: 0, errors: 0 });
    expect(processes.replugs).toHaveLength(2);
  });

  it("a link flap that flushed a server's routes is heard and repaired, reading back only that server and the switch", async () => {
    const { kernel, dp } = await boot();
    // Our own changes are not flaps for half a second after a pass.
    await new Promise((r) => setTimeout(r, 600));
    const since = kernel.calls.length;
    kernel.flap(VM1_NS, 'eth0');
    expect(kernel.routes(VM1_NS)).toEqual([]);
    await vi.waitFor(
      async () => {
        await dp.idle();
        expect(kernel.routes(VM1_NS)).toHaveLength(1);
      },
      { timeout: 3000, interval: 25 },
    );
    expect(touched(kernel, 'readNamespace', since)).toEqual([SW, VM1_NS].sort());
  });

  it('disassociating a floating IP removes its NAT and forgets its connections; it goes DOWN', async () => {
    const { kernel, control, dp } = await boot();
    control.edit('floatingip', FIP, (s) => {
      Object.assign(s.floatingIps[0], { portId: null, fixedIp: null });
    });
    await dp.idle();
    expect(kernel.namespace(ROUTER_NS)!.nat!.dnat.size).toBe(0);
    expect(kernel.conntrack).toContainEqual({ ns: ROUTER_NS, ip: '172.24.4.101' });
    expect(kernel.links(ROUTER_NS)!.get(names.routerGateway(GW_PORT))!.addrs).toEqual(['172.24.4.13/24']);
    expect(control.status('floatingip', FIP)).toBe('DOWN');
  });

  it('a router announces each IPv4 address it adds with gratuitous ARPs from that leg (send_arp_for_ha rounds), and nothing it already holds', async () => {
    const { kernel, control, dp } = await boot();
    const qg = names.routerGateway(GW_PORT);
    const qr = names.routerInterface(RI_PORT);
    // The first pass built the router: its gateway, its floating IP, its interface, each from its leg's MAC.
    expect(kernel.garps.map((g) => `${g.dev} ${g.ip} ${g.mac} ×${g.count}`).sort()).toEqual(
      [`${qg} 172.24.4.13 fa:16:3e:00:01:01 ×3`, `${qg} 172.24.4.101 fa:16:3e:00:01:01 ×3`, `${qr} 10.0.2.1 fa:16:3e:00:02:01 ×3`].sort(),
    );
    expect(new Set(kernel.garps.map((g) => g.ns))).toEqual(new Set([ROUTER_NS]));
    // A resync changes nothing and announces nothing.
    kernel.garps.length = 0;
    await dp.resync();
    expect(kernel.garps).toEqual([]);
    // Disassociated, then associated to the other server: the address comes back, and is announced again.
    control.edit('floatingip', FIP, (s) => {
      Object.assign(s.floatingIps[0], { portId: null, fixedIp: null });
    });
    await dp.idle();
    expect(kernel.garps).toEqual([]);
    control.edit('floatingip', FIP, (s) => {
      Object.assign(s.floatingIps[0], { portId: P2, fixedIp: '10.0.2.12' });
    });
    await dp.idle();
    expect(kernel.garps).toEqual([{ ns: ROUTER_NS, dev: qg, ip: '172.24.4.101', mac: 'fa:16:3e:00:01:01', count: 3 }]);
    // Moved to another port of the same router, it keeps its address: nothing to announce (as Neutron's move_floating_ip).
    kernel.garps.length = 0;
    control.edit('floatingip', FIP, (s) => {
      Object.assign(s.floatingIps[0], { portId: P1, fixedIp: '10.0.2.11' });
    });
    await dp.idle();
    expect(kernel.namespace(ROUTER_NS)!.nat!.dnat).toEqual(new Map([['172.24.4.101', '10.0.2.11']]));
    expect(kernel.garps).toEqual([]);
  });

  it('announces no address the kernel refused, and none at all with send_arp_for_ha 0', async () => {
    const refused = await boot((k) => {
      k.refuse('ip', /addr replace 172\.24\.4\.101\/32/, 'Error: ipv4: Address already assigned.');
    });
    expect(refused.kernel.links(ROUTER_NS)!.get(names.routerGateway(GW_PORT))!.addrs).toEqual(['172.24.4.13/24']);
    // What failed is not announced (the failure is the owner's: the gateway leg's lines); the interface is.
    expect(refused.kernel.garps.map((g) => g.ip)).not.toContain('172.24.4.101');
    expect(refused.kernel.garps.map((g) => g.ip)).toContain('10.0.2.1');
    const none = await boot(undefined, snapshot(), { sendArpForHa: 0 });
    expect(none.kernel.links(ROUTER_NS)!.get(names.routerGateway(GW_PORT))!.addrs).toEqual(['172.24.4.13/24', '172.24.4.101/32']);
    expect(none.kernel.garps).toEqual([]);
  });

  it("loads a router's conntrack helpers and NDP proxies, converges, and removes them", async () => {
    const { kernel, control, dp } = await boot();
    const TEN_V6 = 'dddddddd-0000-0000-0000-0000000000b6';
    control.edit('router', ROUTER, (s) => {
      s.subnets.push({ ...s.subnets[1], id: TEN_V6, ipVersion: 6, cidr: '2001:db8:7::/64', gatewayIp: '2001:db8:7::1' });
      s.ports.find((p) => p.id === RI_PORT)!.fixedIps.push({ subnetId: TEN_V6, ipAddress: '2001:db8:7::1' });
      s.routers[0].enableNdpProxy = true;
      s.conntrackHelpers = [{ id: 'h1', routerId: ROUTER, protocol: 'tcp', port: 21, helper: 'ftp' }];
      s.ndpProxies = [{ id: 'n1', routerId: ROUTER, ip: '2001:db8:7::11' }];
    });
    await dp.idle();
    const qg = names.routerGateway(GW_PORT);
    const table = kernel.namespace(ROUTER_NS)!.l3!;
    expect(table).toContain('th dport 21 ct helper set "ftp-tcp"');
    expect(table).toContain(`iifname "${qg}" ip6 daddr { 2001:db8:7::/64 } ip6 daddr != { 2001:db8:7::11 } drop`);
    expect(kernel.namespace(ROUTER_NS)!.proxies).toEqual([`2001:db8:7::11 ${qg}`]);
    expect(control.status('router', ROUTER)).toBe('ACTIVE');

    const since = kernel.calls.length;
    await dp.resync();
    expect(dp.lastPass).toMatchObject({ full: true, changes: 0, errors: 0 });
    expect(kernel.callsOf('nftApply', undefined, since)).toEqual([]);

    control.edit('router', ROUTER, (s) => {
      s.routers[0].enableNdpProxy = false;
      s.conntrackHelpers = [];
    });
    await dp.idle();
    expect(kernel.namespace(ROUTER_NS)!.l3).toBeNull();
    expect(kernel.namespace(ROUTER_NS)!.proxies).toEqual([]);
  });

  it('walls off a router interface of another address scope, converges, and takes the wall down when the scopes are equal', async () => {
    const { kernel, control, dp } = await boot();
    const NET_B = 'dddddddd-0000-0000-0000-0000000000c1';
    const SUB_B = 'dddddddd-0000-0000-0000-0000000000c2';
    const RI_B = 'ac000002-0000-0000-0000-000000000002';
    control.edit('router', ROUTER, (s) => {
      s.networks.push({ ...s.networks[1], id: NET_B, segmentationId: 8 });
      s.subnets.push({ ...s.subnets[1], id: SUB_B, networkId: NET_B, cidr: '10.0.3.0/24', gatewayIp: '10.0.3.1', addressScopeId: 'scope-b' });
      s.ports.push(
        port(RI_B, {
          networkId: NET_B,
          mac: 'fa:16:3e:00:02:02',
          deviceId: ROUTER,
          deviceOwner: 'network:router_interface',
          fixedIps: [{ subnetId: SUB_B, ipAddress: '10.0.3.1' }],
        }),
      );
    });
    await dp.idle();
    const qrA = names.routerInterface(RI_PORT);
    const qrB = names.routerInterface(RI_B);
    const table = kernel.namespace(ROUTER_NS)!.l3!;
    expect(table).toContain(`iifname "${qrA}" meta nfproto ipv4 meta mark set meta mark & 0x0000ffff | 0x04000000`);
    expect(table).toContain(`oifname "${qrA}" meta nfproto ipv4 meta mark & 0xffff0000 != 0x04000000 drop`);
    expect(table).toMatch(new RegExp(`oifname "${qrB}" meta nfproto ipv4 meta mark & 0xffff0000 != 0x0[0-9a-f]{3}0000 drop`));
    expect(table).not.toContain(`oifname "${qrB}" meta nfproto ipv4 meta mark & 0xffff0000 != 0x04000000`);
    // The floating IP's fixed address is in the gateway's scope (none): no crossing rules for it.
    expect(table).not.toContain('ip daddr 172.24.4.101');
    expect(control.status('router', ROUTER)).toBe('ACTIVE');

    const since = kernel.calls.length;
    await dp.resync();
    expect(dp.lastPass).toMatchObject({ full: true, changes: 0, errors: 0 });
    expect(kernel.callsOf('nftApply', undefined, since)).toEqual([]);

    control.edit('subnetpool', 'pool-b', (s) => {
      s.subnets.find((x) => x.id === SUB_B)!.addressScopeId = null;
    });
    await dp.idle();
    expect(kernel.namespace(ROUTER_NS)!.l3).toBeNull();
  });

  describe('local IPs', () => {
    const LIP = '1a000001-0000-0000-0000-000000000001';
    const associate = (s: Snapshot) => {
      s.localIps = [{ id: LIP, address: '10.0.2.200', associations: [{ portId: P2, fixedIp: '10.0.2.12' }] }];
    };

    it("loads the programs on the other ports' taps, converges, and removes them with the association", async () => {
      const { kernel, control, dp } = await boot();
      control.edit('port', P2, associate);
      await dp.idle();
      const [tap1, tap2] = [names.tap(P1), names.tap(P2)];
      expect([...(kernel.bpfFilters(SW).get(tap1) ?? new Map()).entries()]).toEqual([[5000, expect.stringMatching(/^psli[0-9a-f]{11}$/)]]);
      expect([...(kernel.egressFilters(SW).get(tap1) ?? new Map()).entries()]).toEqual([[5000, expect.stringMatching(/^psle[0-9a-f]{11}$/)]]);
      expect(kernel.bpfFilters(SW).has(tap2)).toBe(false);
      expect(dp.lastPass).toMatchObject({ errors: 0 });

      // Converged: a full read-back loads nothing again.
      const since = kernel.calls.length;
      await dp.resync();
      expect(dp.lastPass).toMatchObject({ full: true, changes: 0, errors: 0 });
      expect(kernel.callsOf('tcBatch', undefined, since)).toEqual([]);

      control.edit('port', P2, (s) => {
        s.localIps![0].associations = [];
      });
      await dp.idle();
      expect(kernel.bpfFilters(SW)).toEqual(new Map());
      expect(kernel.egressFilters(SW)).toEqual(new Map());
    });

    it('a program tc refuses is an error of the pass (logged; Neutron has no status for a local IP), the ports stay ACTIVE', async () => {
      const { kernel, control, dp } = await boot((k) => k.refuse('tc', 'bpf direct-action', 'Error: BPF program load failed'));
      control.edit('port', P2, associate);
      await dp.idle();
      expect(dp.lastPass!.errors).toBeGreaterThan(0);
      expect(kernel.bpfFilters(SW).get(names.tap(P1)) ?? new Map()).toEqual(new Map());
      expect([P1, P2].map((p) => control.status('port', p))).toEqual(['ACTIVE', 'ACTIVE']);
    });

    it("puts the gratuitous-ARP blocker on the network's VXLAN device made in the same pass, and again on one made again", async () => {
      // Another host (h2) has a port of the tenant network: the overlay makes vxlan-7 on its bridge.
      const snap = snapshot();
      snap.placement = { dhcp: new Map(), l3: new Map(), tunnels: new Map([['h2', '198.18.0.12']]) };
      snap.remotePorts = [
        port('0a000009-0000-0000-0000-000000000009', {
          deviceOwner: 'compute:nova',
          bindingHost: 'h2',
          mac: 'fa:16:3e:00:00:99',
          fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.99' }],
        }),
      ];
      associate(snap);
      const { kernel, dp } = await boot(undefined, snap, { tunnel: { ip: '198.18.0.11', underlayNs: ROOT_NS } });
      const blocker = () => [...(kernel.bpfFilters(SW).get('vxlan-7') ?? new Map()).entries()];
      expect(kernel.links(SW)!.get('vxlan-7')).toMatchObject({ kind: 'vxlan', master: names.bridge(TENANT) });
      expect(blocker()).toEqual([[5000, expect.stringMatching(/^pslb[0-9a-f]{11}$/)]]);
      expect(dp.lastPass).toMatchObject({ errors: 0 });

      // Someone deletes the device: the next full pass makes it again, with its blocker.
      kernel.dropLink(SW, 'vxlan-7');
      await dp.resync();
      expect(blocker()).toEqual([[5000, expect.stringMatching(/^pslb[0-9a-f]{11}$/)]]);
      expect(dp.lastPass).toMatchObject({ errors: 0 });
    });

    it('on a kernel where tc cannot load them (the probe), nothing is tried', async () => {
      const { kernel, control, dp } = await boot((k) => {
        k.localIpRefusal = 'Error: BPF program load failed';
      });
      const since = kernel.calls.length;
      control.edit('port', P2, associate);
      await dp.idle();
      expect(kernel.callsOf('tcBatch', undefined, since)).toEqual([]);
      expect(kernel.bpfFilters(SW)).toEqual(new Map());
    });
  });

  describe('trunks', () => {
    const NET2 = 'dddddddd-0000-0000-0000-000000000002';
    const NET2_V4 = 'dddddddd-0000-0000-0000-000000000003';
    const SP = '0a000031-0000-0000-0000-000000000031';
    const TRUNK = '7a000001-0000-0000-0000-000000000001';
    /** A second network and a port on it that becomes P1's subport on VLAN 101. */
    const addTrunk = (s: Snapshot, parent = P1) => {
      s.networks.push({ id: NET2, mtu: 1450, adminUp: true, networkType: 'vxlan', physicalNetwork: null, segmentationId: 8 });
      s.subnets.push({ ...s.subnets[1], id: NET2_V4, networkId: NET2, cidr: '10.0.3.0/24', gatewayIp: '10.0.3.1' });
      s.ports.push(
        port(SP, {
          networkId: NET2,
          mac: 'fa:16:3e:00:00:31',
          portSecurity: true,
          securityGroups: [SG],
          fixedIps: [{ subnetId: NET2_V4, ipAddress: '10.0.3.31' }],
        }),
      );
      s.trunks = [{ id: TRUNK, portId: parent, adminUp: true, status: 'DOWN', subports: [{ portId: SP, segmentationId: 101 }] }];
    };

    it("a subport is a VLAN of the parent's tap on its own network's bridge and of the parent's NIC inside; bound, ACTIVE, the trunk ACTIVE", async () => {
      const { kernel, control, dp } = await boot();
      control.edit('trunk', TRUNK, (s) => addTrunk(s), 'create');
      await dp.idle();
      expect(kernel.links(SW)!.get(names.tap(SP))).toMatchObject({
        kind: 'vlan',
        vlan: { id: 101, parent: names.tap(P1) },
        master: names.bridge(NET2),
        mtu: 1450,
        up: true,
      });
      expect(kernel.links(VM1_NS)!.get('eth0.101')).toMatchObject({
        kind: 'vlan',
        vlan: { id: 101, parent: 'eth0' },
        mac: 'fa:16:3e:00:00:31',
        addrs: ['10.0.3.31/24'],
      });
      // Its own security-group chains, on the VLAN as the bridge port.
      expect(kernel.namespace(SW)!.iptables[4].get('filter')!.get('ps-sg-chain')).toContain(
        `-m physdev --physdev-in ${names.tap(SP)} --physdev-is-bridged -j ${names.portEgressChain(SP)}`,
      );
      const sp = control.snap.ports.find((p) => p.id === SP)!;
      expect([sp.bindingHost, sp.deviceOwner, sp.status]).toEqual(['host1', 'trunk:subport', 'ACTIVE']);
      expect(control.status('trunk', TRUNK)).toBe('ACTIVE');
      expect(control.status('port', P1)).toBe('ACTIVE');

      // Converged: a full read-back changes nothing.
      const since = kernel.calls.length;
      await dp.resync();
      expect(dp.lastPass).toMatchObject({ full: true, changes: 0, errors: 0 });
      expect(touched(kernel, 'ipBatch', since)).toEqual([]);

      // Removed from the trunk: both VLANs go, the port is unbound and DOWN.
      control.edit('trunk', TRUNK, (s) => {
        s.trunks![0].subports = [];
        s.trunks![0].status = 'DOWN';
      });
      await dp.idle();
      expect(kernel.links(SW)!.has(names.tap(SP))).toBe(false);
      expect(kernel.links(VM1_NS)!.has('eth0.101')).toBe(false);
      expect([sp.bindingHost, sp.deviceOwner, sp.status]).toEqual(['', '', 'DOWN']);
      expect(control.status('trunk', TRUNK)).toBe('ACTIVE');
    });

    it('a subport VLAN the parent loses when its instance is recreated comes back with it', async () => {
      const { kernel, control, dp } = await boot();
      control.edit('trunk', TRUNK, (s) => addTrunk(s), 'create');
      await dp.idle();
      kernel.vanish(VM1_NS);
      await dp.resync();
      expect(kernel.links(SW)!.get(names.tap(SP))).toMatchObject({ kind: 'vlan', vlan: { id: 101, parent: names.tap(P1) } });
      expect(kernel.links(VM1_NS)!.get('eth0.101')).toMatchObject({ kind: 'vlan', addrs: ['10.0.3.31/24'] });
    });

    it('without 802.1Q a subport is a veth pair joined to the parent by tc-BPF on both sides: ACTIVE, converged, and gone with the subport', async () => {
      const { kernel, control, dp } = await boot((k) => {
        k.has8021q = false;
      });
      control.edit('trunk', TRUNK, (s) => addTrunk(s), 'create');
      await dp.idle();
      const vm = kernel.links(VM1_NS)!;
      const sw = kernel.links(SW)!;
      const [eth0, sub, tagger] = [vm.get('eth0')!, vm.get('eth0.101')!, vm.get('vt-eth0.101')!];
      expect(sub).toMatchObject({ kind: 'veth', linkIndex: tagger.ifindex, mac: 'fa:16:3e:00:00:31', mtu: 1450, up: true, addrs: ['10.0.3.31/24'] });
      expect(tagger).toMatchObject({ kind: 'veth', linkIndex: sub.ifindex, up: true });
      const hex = (n: number) => n.toString(16).padStart(8, '0');
      // Inside: untag VLAN 101 arriving on eth0 towards the subinterface; tag what it sends, out of eth0.
      expect(kernel.bpfFilters(VM1_NS)).toEqual(
        new Map([
          ['eth0', new Map([[101, `psp065.${hex(tagger.ifindex)}`]])],
          ['vt-eth0.101', new Map([[1, `pst065.${hex(eth0.ifindex)}`]])],
        ]),
      );
      // In the switch: the subport's tap on its network's bridge, joined to the parent's tap alike.
      const [ptap, stap, stagger] = [sw.get(names.tap(P1))!, sw.get(names.tap(SP))!, sw.get(`vt-${names.tap(SP).slice(3)}`)!];
      expect(stap).toMatchObject({ kind: 'veth', linkIndex: stagger.ifindex, master: names.bridge(NET2), up: true });
      expect(kernel.bpfFilters(SW).get(ptap.name)).toEqual(new Map([[101, `psp065.${hex(stagger.ifindex)}`]]));
      expect(kernel.bpfFilters(SW).get(stagger.name)).toEqual(new Map([[1, `pst065.${hex(ptap.ifindex)}`]]));
      const sp = control.snap.ports.find((p) => p.id === SP)!;
      expect([sp.bindingHost, sp.deviceOwner, sp.status]).toEqual(['host1', 'trunk:subport', 'ACTIVE']);
      expect(control.status('trunk', TRUNK)).toBe('ACTIVE');

      // Converged: an incremental pass trusts it, a full read-back changes nothing.
      const since = kernel.calls.length;
      await dp.resync();
      expect(dp.lastPass).toMatchObject({ full: true, changes: 0, errors: 0 });
      expect(kernel.callsOf('tcBatch', undefined, since)).toEqual([]);

      // The instance's namespace made again: new interface indexes, programs loaded anew.
      kernel.vanish(VM1_NS);
      await dp.resync();
      const again = kernel.links(VM1_NS)!;
      expect(kernel.bpfFilters(VM1_NS).get('eth0')).toEqual(new Map([[101, `psp065.${hex(again.get('vt-eth0.101')!.ifindex)}`]]));
      expect(kernel.bpfFilters(SW).get(ptap.name)).toEqual(new Map([[101, `psp065.${hex(sw.get(stagger.name)!.ifindex)}`]]));
      expect(kernel.bpfFilters(SW).get(stagger.name)).toEqual(new Map([[1, `pst065.${hex(sw.get(names.tap(P1))!.ifindex)}`]]));
      expect(control.status('trunk', TRUNK)).toBe('ACTIVE');

      // Removed from the trunk: the pairs and the parent's programs go, the parent stays.
      control.edit('trunk', TRUNK, (s) => {
        s.trunks![0].subports = [];
      });
      await dp.idle();
      for (const name of ['eth0.101', 'vt-eth0.101']) expect(kernel.links(VM1_NS)!.has(name)).toBe(false);
      for (const name of [names.tap(SP), stagger.name]) expect(kernel.links(SW)!.has(name)).toBe(false);
      expect(kernel.bpfFilters(VM1_NS)).toEqual(new Map());
      expect(kernel.bpfFilters(SW)).toEqual(new Map());
      expect(kernel.links(VM1_NS)!.get('eth0')!.addrs).toEqual(['10.0.2.11/24']);
      expect([sp.bindingHost, sp.deviceOwner, sp.status]).toEqual(['', '', 'DOWN']);
    });

    it('without 802.1Q, programs tc refuses leave the subport in ERROR with the reason and the trunk DEGRADED', async () => {
      const { control, dp } = await boot((k) => {
        k.has8021q = false;
        k.refuse('tc', 'bpf direct-action', 'Error: BPF program load failed');
      });
      control.edit('trunk', TRUNK, (s) => addTrunk(s), 'create');
      await dp.idle();
      expect(control.status('port', SP)).toBe('ERROR');
      expect(control.status('trunk', TRUNK)).toBe('DEGRADED');
      expect(control.status('port', P1)).toBe('ACTIVE');
    });

    it('a VLAN the kernel refuses: the subport is in ERROR with its reason, the trunk DEGRADED, the parent still ACTIVE', async () => {
      const { kernel, control, dp } = await boot((k) => {
        k.refuse('ip', 'type vlan', 'Error: Unknown device type.');
      });
      control.edit('trunk', TRUNK, (s) => addTrunk(s), 'create');
      await dp.idle();
      expect(control.status('port', SP)).toBe('ERROR');
      expect(control.status('trunk', TRUNK)).toBe('DEGRADED');
      expect(control.status('port', P1)).toBe('ACTIVE');
      expect(kernel.links(VM1_NS)!.get('eth0')!.addrs).toEqual(['10.0.2.11/24']);
      // The instance is not failed for its trunk's subport.
      expect(control.reports.filter((r) => r.id === VM1 && r.report.error)).toEqual([]);
    });

    it('a trunk whose parent is not wired here (no instance) stays DOWN and binds nothing', async () => {
      const { control, dp } = await boot();
      control.edit(
        'trunk',
        TRUNK,
        (s) => {
          s.ports.push(port(P3, { fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.13' }] }));
          addTrunk(s, P3);
        },
        'create',
      );
      await dp.idle();
      expect(control.status('trunk', TRUNK)).toBe('DOWN');
      expect(control.snap.ports.find((p) => p.id === SP)!.bindingHost).toBe('');
    });
  });

  describe('VLAN provider networks on a mapped interface', () => {
    const VLAN = '77777777-0000-0000-0000-000000000007';
    const VLAN_V4 = '77777777-0000-0000-0000-000000000008';
    const VLAN2 = '78787878-0000-0000-0000-000000000009';
    const VM4 = '44444444-0000-0000-0000-000000000004';
    const P4 = '0a000004-0000-0000-0000-000000000004';
    /** physnet1 → eth2, on the host (the flat public network keeps its host leg: unmapped). */
    const mapped = { interfaceMappings: { mappings: new Map([['physnet1', 'eth2']]), home: '' } };
    /** A VLAN network on physnet1 (id 100) with a server's port. */
    const addVlan = (s: Snapshot) => {
      s.networks.push({ id: VLAN, mtu: 1500, adminUp: true, networkType: 'vlan', physicalNetwork: 'physnet1', segmentationId: 100 });
      s.subnets.push({ ...s.subnets[1], id: VLAN_V4, networkId: VLAN, cidr: '10.0.9.0/24', gatewayIp: '10.0.9.1' });
      s.ports.push({ ...vmPort(P4, VM4, '10.0.9.4', 'fa:16:3e:00:00:44'), networkId: VLAN, fixedIps: [{ subnetId: VLAN_V4, ipAddress: '10.0.9.4' }] });
    };
    const dropVlan = (s: Snapshot) => {
      s.ports = s.ports.filter((p) => p.id !== P4);
      s.subnets = s.subnets.filter((x) => x.id !== VLAN_V4);
      s.networks = s.networks.filter((n) => n.id !== VLAN);
    };

    it("with 802.1Q: the interface moves into the switch and its VLAN device `eth2.100` is on the network's bridge; gone with the network, the interface home", async () => {
      const { kernel, control, dp } = await boot((k) => k.hostInterface('eth2'), snapshot(), mapped);
      expect(kernel.links('')!.has('eth2')).toBe(true);
      control.edit('network', VLAN, addVlan, 'create');
      await dp.idle();
      const sw = kernel.links(SW)!;
      expect(kernel.links('')!.has('eth2')).toBe(false);
      expect(sw.get('eth2')).toMatchObject({ up: true, master: null });
      expect(sw.get('eth2.100')).toMatchObject({ kind: 'vlan', vlan: { id: 100, parent: 'eth2' }, master: names.bridge(VLAN), mtu: 1500, up: true });
      expect(control.status('port', P4)).toBe('ACTIVE');

      const since = kernel.calls.length;
      await dp.resync();
      expect(dp.lastPass).toMatchObject({ full: true, changes: 0, errors: 0 });
      expect(kernel.callsOf('ipBatch', undefined, since)).toEqual([]);

      control.edit('network', VLAN, dropVlan, 'delete');
      await dp.idle();
      expect(kernel.links(SW)!.has('eth2.100')).toBe(false);
      expect(kernel.links(SW)!.has('eth2')).toBe(false);
      expect(kernel.links('')!.get('eth2')).toMatchObject({ up: true, master: null });
    });

    it('without 802.1Q: `eth2.100` is a veth pair joined to the interface by tc-BPF; converged; the programs go with the network, the interface home', async () => {
      const { kernel, control, dp } = await boot(
        (k) => {
          k.has8021q = false;
          k.hostInterface('eth2');
        },
        snapshot(),
        mapped,
      );
      control.edit('network', VLAN, addVlan, 'create');
      await dp.idle();
      const sw = kernel.links(SW)!;
      const [eth2, dev, tagger] = [sw.get('eth2')!, sw.get('eth2.100')!, sw.get('vt-eth2.100')!];
      expect(dev).toMatchObject({ kind: 'veth', linkIndex: tagger.ifindex, master: names.bridge(VLAN), up: true });
      expect(tagger).toMatchObject({ kind: 'veth', linkIndex: dev.ifindex, master: null, up: true });
      expect(eth2).toMatchObject({ up: true, master: null });
      const hex = (n: number) => n.toString(16).padStart(8, '0');
      // Frames of VLAN 100 arriving on eth2 are untagged towards the device; what the bridge
      // sends through it leaves eth2 tagged 100 (0x064).
      expect(kernel.bpfFilters(SW).get('eth2')).toEqual(new Map([[100, `psp064.${hex(tagger.ifindex)}`]]));
      expect(kernel.bpfFilters(SW).get('vt-eth2.100')).toEqual(new Map([[1, `pst064.${hex(eth2.ifindex)}`]]));
      expect(control.status('port', P4)).toBe('ACTIVE');

      const since = kernel.calls.length;
      await dp.resync();
      expect(dp.lastPass).toMatchObject({ full: true, changes: 0, errors: 0 });
      expect(kernel.callsOf('tcBatch', undefined, since)).toEqual([]);

      control.edit('network', VLAN, dropVlan, 'delete');
      await dp.idle();
      for (const name of ['eth2.100', 'vt-eth2.100', 'eth2']) expect(kernel.links(SW)!.has(name)).toBe(false);
      expect(kernel.bpfFilters(SW)).toEqual(new Map());
      // Home with no program of ours left on it.
      expect(kernel.links('')!.get('eth2')).toMatchObject({ up: true, master: null });
      expect(kernel.bpfFilters('')).toEqual(new Map());
    });

    it('two VLAN networks on one interface are two devices with their own ids; a host without the mapping makes none', async () => {
      const { kernel, control, dp } = await boot((k) => k.hostInterface('eth2'), snapshot(), mapped);
      control.edit('network', VLAN, (s) => {
        addVlan(s);
        s.networks.push({ id: VLAN2, mtu: 1500, adminUp: true, networkType: 'vlan', physicalNetwork: 'physnet1', segmentationId: 101 });
        s.ports.push({ ...vmPort(P3, VM3, '10.0.9.5', 'fa:16:3e:00:00:45'), networkId: VLAN2, fixedIps: [] });
      });
      await dp.idle();
      const sw = kernel.links(SW)!;
      expect(sw.get('eth2.100')).toMatchObject({ vlan: { id: 100, parent: 'eth2' }, master: names.bridge(VLAN) });
      expect(sw.get('eth2.101')).toMatchObject({ vlan: { id: 101, parent: 'eth2' }, master: names.bridge(VLAN2) });

      const plain = await boot((k) => k.hostInterface('eth2'));
      plain.control.edit('network', VLAN, addVlan, 'create');
      await plain.dp.idle();
      expect([...plain.kernel.links(SW)!.values()].filter((l) => l.kind === 'vlan')).toEqual([]);
      expect(plain.kernel.links(SW)!.get(names.bridge(VLAN))).toMatchObject({ kind: 'bridge' });
      expect(plain.kernel.links('')!.has('eth2')).toBe(true);
      expect(plain.control.status('port', P4)).toBe('ACTIVE');
    });
  });

  it('hears desired-state changes on the change bus, not status reports (its own writes)', async () => {
    const { kernel, control, dp } = await boot();
    const since = kernel.calls.length;
    void control.changes.publish([{ kind: 'port', id: P1, projectId: null, op: 'status' }]);
    await dp.idle();
    expect(kernel.calls.length).toBe(since);
    void control.changes.publish([{ kind: 'network', id: TENANT, projectId: null, op: 'update' }]);
    await dp.idle();
    expect(kernel.calls.length).toBeGreaterThan(since);
  });
});

describe('owner keys', () => {
  it('are built and taken apart in one place', () => {
    expect(ownerKey.port(P1)).toBe(`port:${P1}`);
    expect(ownerKey.staleRoute('10.0.0.0/8')).toBe('stale-route:10.0.0.0/8');
    expect(parseOwner(ownerKey.floatingip(FIP))).toEqual({ kind: 'floatingip', id: FIP });
    expect(parseOwner(ownerKey.stale('tap:x'))).toEqual({ kind: 'stale', id: 'tap:x' });
    expect(parseOwner('switch')).toEqual({ kind: 'switch', id: null });
  });
});

describe('security-group logging against a fake kernel', () => {
  const LOG = '10600000-0000-0000-0000-000000000001';
  const NFLOG_ACCEPT = (p: string) =>
    `-m mark --mark 0x1/0x1 -m conntrack --ctstate NEW -m hashlimit --hashlimit-upto 100/sec --hashlimit-burst 25 --hashlimit-name ps-sglog -j NFLOG --nflog-prefix "ACCEPT ${p}" --nflog-group 1`;
  const NFLOG_DROP = (p: string) =>
    `-m hashlimit --hashlimit-upto 100/sec --hashlimit-burst 25 --hashlimit-name ps-sglog -j NFLOG --nflog-prefix "DROP ${p}" --nflog-group 1`;
  const tail = (k: FakeKernel, chain: string) => k.namespace(SW)!.iptables[4].get('filter')!.get(chain)!.slice(-6);

  it("a log for the group sends its ports' new accepted connections and their drops to NFLOG; disabling it takes them out", async () => {
    const { kernel, control, dp, services } = await boot();
    expect(services.sgLogSpec?.events.size).toBe(0);
    expect(tail(kernel, names.portIngressChain(P1))).not.toContain(NFLOG_DROP(P1));

    control.edit('log', LOG, (s) => {
      s.sgLogs = [{ id: LOG, projectId: 'proj', resourceId: SG, targetId: null, event: 'ALL' }];
    });
    await dp.idle();
    for (const p of [P1, P2]) {
      for (const chain of [names.portIngressChain(p), names.portEgressChain(p)]) {
        const dir = chain === names.portIngressChain(p) ? 'ingress' : 'egress';
        expect(tail(kernel, chain)).toEqual([
          '-j MARK --set-xmark 0x0/0x1',
          `-j ${names.groupChain(SG, dir)}`,
          NFLOG_ACCEPT(p),
          '-m mark --mark 0x1/0x1 -j RETURN',
          NFLOG_DROP(p),
          '-j DROP',
        ]);
      }
    }
    // The reader's plan: prefix → event, port, the logs and their project (as Neutron's cookie).
    expect(services.sgLogSwitch).toBe(true);
    expect(services.sgLogSpec?.ns).toBe(SW);
    expect(services.sgLogSpec?.events.get(`ACCEPT ${P1}`)).toEqual({ event: 'ACCEPT', portId: P1, logIds: [LOG], projectId: 'proj' });
    expect(services.sgLogSpec?.events.get(`DROP ${P2}`)).toEqual({ event: 'DROP', portId: P2, logIds: [LOG], projectId: 'proj' });

    control.edit('log', LOG, (s) => {
      s.sgLogs = [];
    });
    await dp.idle();
    expect(services.sgLogSpec?.events.size).toBe(0);
    expect(kernel.namespace(SW)!.iptables[4].get('filter')!.get(names.portIngressChain(P1))!.slice(-4)).toEqual([
      '-j MARK --set-xmark 0x0/0x1',
      `-j ${names.groupChain(SG, 'ingress')}`,
      '-m mark --mark 0x1/0x1 -j RETURN',
      '-j DROP',
    ]);
    await dp.resync();
    expect(dp.lastPass).toMatchObject({ changes: 0, errors: 0 });
  });

  it('a DROP log for one port (target_id) logs only that port, only its drops', async () => {
    const { kernel, control, dp, services } = await boot();
    control.edit('log', LOG, (s) => {
      s.sgLogs = [{ id: LOG, projectId: 'proj', resourceId: null, targetId: P2, event: 'DROP' }];
    });
    await dp.idle();
    const filter = kernel.namespace(SW)!.iptables[4].get('filter')!;
    expect(filter.get(names.portIngressChain(P2))!.slice(-2)).toEqual([NFLOG_DROP(P2), '-j DROP']);
    expect(filter.get(names.portEgressChain(P2))!.join('\n')).not.toContain('ACCEPT');
    expect(filter.get(names.portIngressChain(P1))!.join('\n')).not.toContain('NFLOG');
    expect([...services.sgLogSpec!.events.keys()]).toEqual([`DROP ${P2}`]);
  });
});
