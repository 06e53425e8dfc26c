import { describe, expect, it } from 'vitest';
import type { LbGraph } from '../../src/core/loadbalancer/model.js';
import { runChain } from '../../src/dashboard/explain/iptables.js';
import type { Explanation, World } from '../../src/dashboard/explain/model.js';
import { type Question, explainPath } from '../../src/dashboard/explain/walk.js';
import { buildDesired } from '../../src/dataplane/netns/desired.js';
import type { PortRec, RuleRec, SecurityGroupRec, Snapshot } from '../../src/dataplane/netns/model.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { runtimeConfig } from '../../src/lb/config.js';

/**
 * explain's verdicts, allowed and denied, through each kind of hop: anti-spoofing and egress
 * rules, routes and next hops, the router's DNAT/SNAT (floating IPs, hairpin, enable_snat), the
 * destination's ingress rule (prefix and remote group), a load balancer's listener, allowed_cidrs,
 * L7 policy, pool health and the member leg. Each case is a small cloud as the store holds it,
 * turned into the kernel state by the data plane's own buildDesired.
 */
const names = new Names('ps');
let seq = 0;
// Distinct in the first eleven characters: the data plane names interfaces and namespaces by them.
const uuid = (tag: string) => `${tag.slice(0, 4)}${(++seq).toString(16).padStart(4, '0')}-0000-4000-8000-000000000000`;

class Lab {
  snap: Snapshot = { networks: [], subnets: [], ports: [], securityGroups: [], routers: [], floatingIps: [], instances: null };
  lbs: LbGraph[] = [];
  labels: World['labels'] = new Map();
  readonly publicNet = uuid('aaaa');
  readonly publicSubnet = uuid('aaab');
  private macs = 0;
  private gwIps = 10;

  constructor() {
    this.snap.networks.push({ id: this.publicNet, mtu: 1500, adminUp: true, networkType: 'flat', physicalNetwork: 'public', segmentationId: null });
    this.snap.subnets.push({ id: this.publicSubnet, networkId: this.publicNet, ipVersion: 4, cidr: '172.24.4.0/24', gatewayIp: '172.24.4.1', hostRoutes: [] });
    this.name(this.publicNet, 'network', 'public');
  }

  name(id: string, kind: string, name: string) {
    this.labels.set(id, { kind, name });
    return id;
  }

  network(name: string, cidr: string, gatewayIp: string | null = cidr.replace(/0\/\d+$/, '1')) {
    const id = this.name(uuid('bbbb'), 'network', name);
    const subnet = this.name(uuid('cccc'), 'subnet', `${name}-subnet`);
    this.snap.networks.push({ id, mtu: 1450, adminUp: true, networkType: 'vxlan', physicalNetwork: null, segmentationId: this.snap.networks.length + 1 });
    this.snap.subnets.push({ id: subnet, networkId: id, ipVersion: 4, cidr, gatewayIp, hostRoutes: [] });
    return { id, subnet, gatewayIp };
  }

  group(name: string, rules: Array<Partial<RuleRec>>, stateful = true): string {
    const id = this.name(uuid('dddd'), 'security_group', name);
    const full: RuleRec[] = [
      { id: uuid('rule'), direction: 'egress', ethertype: 'IPv4', protocol: null, portMin: null, portMax: null, remoteIpPrefix: null, remoteGroupId: null },
      ...rules.map((r) => ({
        id: uuid('rule'),
        direction: 'ingress' as const,
        ethertype: 'IPv4' as const,
        protocol: null,
        portMin: null,
        portMax: null,
        remoteIpPrefix: null,
        remoteGroupId: null,
        ...r,
      })),
    ];
    for (const r of full) this.name(r.id, 'security_group_rule', r.id);
    const g: SecurityGroupRec = { id, stateful, rules: full };
    this.snap.securityGroups.push(g);
    return id;
  }

  port(net: { id: string; subnet: string }, ip: string, extra: Partial<PortRec> = {}): PortRec {
    const p: PortRec = {
      id: uuid('eeee'),
      networkId: net.id,
      mac: `fa:16:3e:00:00:${(++this.macs).toString(16).padStart(2, '0')}`,
      adminUp: true,
      status: 'ACTIVE',
      deviceId: '',
      deviceOwner: '',
      bindingHost: 'host',
      portSecurity: true,
      fixedIps: [{ subnetId: net.subnet, ipAddress: ip }],
      allowedAddressPairs: [],
      securityGroups: [],
      createdAt: '2026-01-01T00:00:00Z',
      ...extra,
    };
    this.snap.ports.push(p);
    return p;
  }

  server(name: string, net: { id: string; subnet: string }, ip: string, groups: string[]): { id: string; port: PortRec } {
    const id = this.name(uuid('ffff'), 'server', name);
    const port = this.port(net, ip, { deviceId: id, deviceOwner: 'compute:nova', securityGroups: groups });
    this.name(port.id, 'port', ip);
    return { id, port };
  }

  router(name: string, nets: Array<{ id: string; subnet: string; gatewayIp: string | null }>, opts: { gateway?: boolean; snat?: boolean } = {}): string {
    const id = this.name(uuid('9999'), 'router', name);
    for (const n of nets) this.port(n, n.gatewayIp!, { deviceId: id, deviceOwner: 'network:router_interface', portSecurity: false });
    let gw: string | null = null;
    if (opts.gateway !== false) {
      gw = this.port({ id: this.publicNet, subnet: this.publicSubnet }, `172.24.4.${this.gwIps++}`, {
        deviceId: id,
        deviceOwner: 'network:router_gateway',
        portSecurity: false,
      }).id;
    }
    this.snap.routers.push({ id, adminUp: true, status: 'ACTIVE', enableSnat: opts.snat ?? true, gatewayPortId: gw, routes: [] });
    return id;
  }

  fip(address: string, port: PortRec | null, router: string | null): string {
    const id = this.name(uuid('f1f1'), 'floatingip', address);
    this.snap.floatingIps.push({
      id,
      floatingIp: address,
      fixedIp: port ? port.fixedIps[0].ipAddress : null,
      portId: port?.id ?? null,
      routerId: router,
      status: 'ACTIVE',
    });
    return id;
  }

  loadBalancer(
    net: { id: string; subnet: string },
    vip: string,
    members: Array<{ address: string; port: number; status: string }>,
    extra: { allowedCidrs?: string[]; reject?: string } = {},
  ): string {
    const id = this.name(uuid('1b1b'), 'loadbalancer', 'lb');
    const vipPort = this.port(net, vip, { deviceId: id, deviceOwner: 'Octavia', portSecurity: false });
    const listener = uuid('1111');
    const pool = uuid('2222');
    const base = { provisioning_status: 'ACTIVE', admin_state_up: 1, project_id: 'p', created_at: '', updated_at: '' };
    const graph = {
      lb: { ...base, id, vip_address: vip, vip_port_id: vipPort.id, vip_subnet_id: net.subnet, operating_status: 'ONLINE' },
      listeners: [
        {
          ...base,
          id: listener,
          loadbalancer_id: id,
          protocol: 'HTTP',
          protocol_port: 80,
          connection_limit: -1,
          default_pool_id: pool,
          insert_headers: null,
          allowed_cidrs: extra.allowedCidrs ? JSON.stringify(extra.allowedCidrs) : null,
          timeout_client_data: 50000,
          timeout_member_connect: 5000,
          timeout_member_data: 50000,
          timeout_tcp_inspect: 0,
        },
      ],
      pools: [{ ...base, id: pool, loadbalancer_id: id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN', sp_type: null, tls_enabled: 0 }],
      members: members.map((m) => ({
        ...base,
        id: this.name(uuid('3333'), 'member', `${m.address}:${m.port}`),
        pool_id: pool,
        address: m.address,
        protocol_port: m.port,
        weight: 1,
        backup: 0,
        monitor_address: null,
        monitor_port: null,
        operating_status: m.status,
      })),
      monitorOf: new Map(),
      monitors: [],
      l7policies: extra.reject
        ? [
            {
              ...base,
              id: this.name(uuid('4444'), 'l7policy', 'no-admin'),
              listener_id: listener,
              action: 'REJECT',
              position: 1,
              redirect_pool_id: null,
              redirect_url: null,
              redirect_prefix: null,
              redirect_http_code: null,
            },
          ]
        : [],
      l7rules: extra.reject
        ? [{ ...base, id: uuid('5555'), l7policy_id: '', type: 'PATH', compare_type: 'STARTS_WITH', key: null, value: extra.reject, invert: 0 }]
        : [],
    } as unknown as LbGraph;
    if (extra.reject) graph.l7rules[0].l7policy_id = graph.l7policies[0].id;
    this.lbs.push(graph);
    return id;
  }

  world(): World {
    const desired = buildDesired(this.snap, names, { publicPhysnet: 'public', protocolNames: new Map() });
    return {
      snap: this.snap,
      desired,
      names,
      protocolNames: new Map(),
      lbs: this.lbs.map((graph) => ({ graph, rt: runtimeConfig(graph) })),
      labels: this.labels,
      serverStatus: new Map(),
    };
  }

  explain(q: Question): Explanation {
    return explainPath(this.world(), q);
  }
}

const tcp = (from: Question['from'], to: Question['to'], port = 80, path?: string): Question => ({
  from,
  to,
  protocol: 'tcp',
  port,
  ...(path ? { path } : {}),
});
const portEnd = (p: PortRec) => ({ kind: 'port' as const, portId: p.id });
const steps = (e: Explanation) => e.hops.map((h) => `${h.verdict} ${h.step}`);

describe('security groups, as the rendered iptables chains decide', () => {
  it('admits by the ingress rule it names, and denies naming the missing rule and the command to add it', () => {
    const lab = new Lab();
    const net = lab.network('web', '10.0.2.0/24');
    const web = lab.group('web', [{ protocol: 'tcp', portMin: 80, portMax: 80 }]);
    const plain = lab.group('plain', []);
    const a = lab.server('a', net, '10.0.2.10', [plain]);
    const b = lab.server('b', net, '10.0.2.11', [web]);
    const ok = lab.explain(tcp(portEnd(a.port), portEnd(b.port)));
    expect(ok.verdict).toBe('allowed');
    expect(steps(ok)).toEqual(['info source', 'pass route', 'pass anti-spoofing', 'pass egress rule', 'pass switch', 'pass ingress rule', 'pass delivered']);
    const rule = ok.hops.find((h) => h.step === 'ingress rule')!;
    expect(rule.detail).toMatch(/security group web .* admits it: ingress IPv4 tcp\/80 from 0.0.0.0\/0/);
    expect(rule.objects?.map((o) => o.kind)).toContain('security_group_rule');
    expect(ok.expect).toEqual(['connected', 'refused']);

    const no = lab.explain(tcp(portEnd(a.port), portEnd(b.port), 8080));
    expect(no.verdict).toBe('denied');
    expect(no.reason).toMatch(/no ingress rule of port 10.0.2.11's security groups \(web\) admits tcp\/8080 from 10.0.2.10/);
    expect(no.fix).toBe('openstack security group rule create --ingress --protocol tcp --dst-port 8080 --remote-ip 10.0.2.10/32 web');
    expect(no.expect).toEqual(['timeout', 'unreachable']);
  });

  it('denies at the source when no egress rule admits it', () => {
    const lab = new Lab();
    const net = lab.network('web', '10.0.2.0/24');
    const open = lab.group('open', [{ protocol: 'tcp' }]);
    const closed = lab.group('closed', []);
    lab.snap.securityGroups.find((g) => g.id === closed)!.rules = [];
    const a = lab.server('a', net, '10.0.2.10', [closed]);
    const b = lab.server('b', net, '10.0.2.11', [open]);
    const e = lab.explain(tcp(portEnd(a.port), portEnd(b.port)));
    expect(e.verdict).toBe('denied');
    expect(e.hops.find((h) => h.verdict === 'drop')?.step).toBe('egress rule');
    expect(e.fix).toMatch(/--egress --protocol tcp --dst-port 80 --remote-ip 10.0.2.11\/32 closed/);
  });

  it('matches a remote group by its members’ addresses, and names the group rule', () => {
    const lab = new Lab();
    const net = lab.network('api', '10.0.3.0/24');
    const workers = lab.group('worker', []);
    const api = lab.group('api', []);
    lab.snap.securityGroups
      .find((g) => g.id === api)!
      .rules.push({
        id: uuid('rule'),
        direction: 'ingress',
        ethertype: 'IPv4',
        protocol: 'tcp',
        portMin: 80,
        portMax: 80,
        remoteIpPrefix: null,
        remoteGroupId: workers,
      });
    const worker = lab.server('worker', net, '10.0.3.20', [workers]);
    const stranger = lab.server('stranger', net, '10.0.3.21', [lab.group('other', [])]);
    const apiVm = lab.server('api', net, '10.0.3.10', [api]);
    const ok = lab.explain(tcp(portEnd(worker.port), portEnd(apiVm.port)));
    expect(ok.verdict).toBe('allowed');
    expect(ok.hops.find((h) => h.step === 'ingress rule')!.detail).toMatch(/from members of group/);
    expect(lab.explain(tcp(portEnd(stranger.port), portEnd(apiVm.port))).verdict).toBe('denied');
  });

  it('anti-spoofing drops an address that is not the port’s (the chain as rendered)', () => {
    const lab = new Lab();
    const net = lab.network('web', '10.0.2.0/24');
    const a = lab.server('a', net, '10.0.2.10', [lab.group('g', [])]);
    const w = lab.world();
    const chain = names.portSpoofChain(a.port.id);
    expect(runChain(w.desired.filter.v4.filter, chain, { src: '10.0.2.10', dst: '10.0.2.1', proto: 6, dport: 80, mac: a.port.mac }).verdict).toBe('pass');
    expect(runChain(w.desired.filter.v4.filter, chain, { src: '10.0.2.99', dst: '10.0.2.1', proto: 6, dport: 80, mac: a.port.mac }).verdict).toBe('drop');
    expect(runChain(w.desired.filter.v4.filter, chain, { src: '10.0.2.10', dst: '10.0.2.1', proto: 6, dport: 80, mac: 'fa:16:3e:ff:ff:ff' }).verdict).toBe(
      'drop',
    );
  });

  it('a port without port security is not filtered, and says so', () => {
    const lab = new Lab();
    const net = lab.network('web', '10.0.2.0/24');
    const a = lab.server('a', net, '10.0.2.10', []);
    a.port.portSecurity = false;
    const b = lab.server('b', net, '10.0.2.11', []);
    b.port.portSecurity = false;
    const e = lab.explain(tcp(portEnd(a.port), portEnd(b.port), 9999));
    expect(e.verdict).toBe('allowed');
    expect(e.hops.some((h) => h.step === 'port security')).toBe(true);
  });
});

describe('routes and next hops', () => {
  it('crosses a router between its subnets without NAT', () => {
    const lab = new Lab();
    const web = lab.network('web', '10.0.2.0/24');
    const api = lab.network('api', '10.0.3.0/24');
    lab.router('r', [web, api]);
    const any = lab.group('any', [{ protocol: 'tcp' }]);
    const a = lab.server('a', web, '10.0.2.10', [any]);
    const b = lab.server('b', api, '10.0.3.10', [any]);
    const e = lab.explain(tcp(portEnd(a.port), portEnd(b.port)));
    expect(e.verdict).toBe('allowed');
    expect(e.hops.find((h) => h.step === 'NAT')!.detail).toMatch(/east-west .* no NAT, 10.0.2.10 stays the source/);
    expect(e.hops.at(-1)!.detail).toMatch(/from 10.0.2.10/);
  });

  it('denies when no router has an interface on the source subnet, and says which command adds it', () => {
    const lab = new Lab();
    const web = lab.network('web', '10.0.2.0/24');
    const api = lab.network('api', '10.0.3.0/24');
    lab.router('r', [api]);
    const any = lab.group('any', [{ protocol: 'tcp' }]);
    const a = lab.server('a', web, '10.0.2.10', [any]);
    const b = lab.server('b', api, '10.0.3.10', [any]);
    const e = lab.explain(tcp(portEnd(a.port), portEnd(b.port)));
    expect(e.verdict).toBe('denied');
    expect(e.reason).toMatch(/no router has an interface on subnet web-subnet: nothing answers for its gateway 10.0.2.1/);
    expect(e.fix).toBe('openstack router add subnet <router> web-subnet');
  });

  it('denies a subnet without a gateway: the instance has no route', () => {
    const lab = new Lab();
    const web = lab.network('web', '10.0.2.0/24', null);
    const api = lab.network('api', '10.0.3.0/24');
    const any = lab.group('any', [{ protocol: 'tcp' }]);
    const a = lab.server('a', web, '10.0.2.10', [any]);
    const b = lab.server('b', api, '10.0.3.10', [any]);
    const e = lab.explain(tcp(portEnd(a.port), portEnd(b.port)));
    expect(e.verdict).toBe('denied');
    expect(e.hops.find((h) => h.verdict === 'drop')!.step).toBe('route');
  });

  it('an administratively down port drops', () => {
    const lab = new Lab();
    const net = lab.network('web', '10.0.2.0/24');
    const any = lab.group('any', [{ protocol: 'tcp' }]);
    const a = lab.server('a', net, '10.0.2.10', [any]);
    const b = lab.server('b', net, '10.0.2.11', [any]);
    b.port.adminUp = false;
    const e = lab.explain(tcp(portEnd(a.port), portEnd(b.port)));
    expect(e.verdict).toBe('denied');
    expect(e.reason).toMatch(/administratively down/);
  });
});

describe('floating IPs and NAT', () => {
  it('from the internet: DNAT to the fixed address, the host seen as the source', () => {
    const lab = new Lab();
    const web = lab.network('web', '10.0.2.0/24');
    const r = lab.router('r', [web]);
    const a = lab.server('a', web, '10.0.2.10', [lab.group('web', [{ protocol: 'tcp', portMin: 80, portMax: 80 }])]);
    const fip = lab.fip('172.24.4.50', a.port, r);
    const e = lab.explain(tcp({ kind: 'internet' }, { kind: 'floatingip', fipId: fip }));
    expect(e.verdict).toBe('allowed');
    expect(e.packet).toMatchObject({ src: '172.24.4.1', dst: '172.24.4.50' });
    expect(e.hops.find((h) => h.step === 'DNAT')!.detail).toBe('router r translates floating IP 172.24.4.50 to 10.0.2.10');
    expect(e.probeFrom).toBe('');
  });

  it('from the internet to a fixed address: no route, and no probe (it would leave the machine)', () => {
    const lab = new Lab();
    const web = lab.network('web', '10.0.2.0/24');
    lab.router('r', [web]);
    const a = lab.server('a', web, '10.0.2.10', [lab.group('web', [{ protocol: 'tcp' }])]);
    const e = lab.explain(tcp({ kind: 'internet' }, portEnd(a.port)));
    expect(e.verdict).toBe('denied');
    expect(e.reason).toMatch(/the host has no route into PocketStack for 10.0.2.10/);
    expect(e.probeFrom).toBeNull();
    expect(e.expect).toBeNull();
  });

  it('an unassociated floating IP answers nobody', () => {
    const lab = new Lab();
    const web = lab.network('web', '10.0.2.0/24');
    const r = lab.router('r', [web]);
    const fip = lab.fip('172.24.4.60', null, r);
    const e = lab.explain(tcp({ kind: 'internet' }, { kind: 'floatingip', fipId: fip }));
    expect(e.verdict).toBe('denied');
    expect(e.reason).toMatch(/floating IP 172.24.4.60 is not associated/);
  });

  it('hairpin: another instance’s floating IP is reached with the source rewritten, and the ingress rule judges that source', () => {
    const lab = new Lab();
    const web = lab.network('web', '10.0.2.0/24');
    const wk = lab.network('worker', '10.0.1.0/24');
    const r = lab.router('r', [web, wk]);
    const gw = lab.snap.ports.find((p) => p.deviceOwner === 'network:router_gateway')!.fixedIps[0].ipAddress;
    const onlyGw = lab.group('only-gw', [{ protocol: 'tcp', portMin: 80, portMax: 80, remoteIpPrefix: `${gw}/32` }]);
    const a = lab.server('a', web, '10.0.2.10', [onlyGw]);
    const fip = lab.fip('172.24.4.70', a.port, r);
    const w = lab.server('w', wk, '10.0.1.10', [lab.group('any', [])]);
    const e = lab.explain(tcp(portEnd(w.port), { kind: 'floatingip', fipId: fip }));
    expect(e.verdict).toBe('allowed');
    expect(e.hops.find((h) => h.step === 'SNAT')!.detail).toMatch(new RegExp(`to its gateway address ${gw.replace(/\./g, '\\.')} \\(hairpin`));
    // With its own floating IP, the worker is seen as that address instead, which the rule does not admit.
    lab.fip('172.24.4.71', w.port, r);
    const e2 = lab.explain(tcp(portEnd(w.port), { kind: 'floatingip', fipId: fip }));
    expect(e2.verdict).toBe('denied');
    expect(e2.hops.find((h) => h.step === 'SNAT')!.detail).toMatch(/floating IP 172.24.4.71/);
    expect(e2.reason).toMatch(/from 172.24.4.71/);
  });

  it('without SNAT and without a floating IP, replies cannot come back', () => {
    const lab = new Lab();
    const web = lab.network('web', '10.0.2.0/24');
    const wk = lab.network('worker', '10.0.1.0/24');
    const r1 = lab.router('r1', [web]);
    lab.router('r2', [wk], { snat: false });
    const a = lab.server('a', web, '10.0.2.10', [lab.group('open', [{ protocol: 'tcp' }])]);
    const fip = lab.fip('172.24.4.80', a.port, r1);
    const w = lab.server('w', wk, '10.0.1.10', [lab.group('any', [])]);
    const e = lab.explain(tcp(portEnd(w.port), { kind: 'floatingip', fipId: fip }));
    expect(e.verdict).toBe('denied');
    expect(e.reason).toMatch(/does not SNAT \(enable_snat is false\)/);
  });
});

describe('load balancers', () => {
  const setup = (members: Array<{ status: string }>, extra: { allowedCidrs?: string[]; reject?: string } = {}, memberGroup?: Array<Partial<RuleRec>>) => {
    const lab = new Lab();
    const web = lab.network('web', '10.0.2.0/24');
    const r = lab.router('r', [web]);
    const g = lab.group('web', memberGroup ?? [{ protocol: 'tcp', portMin: 80, portMax: 80 }]);
    const servers = members.map((_, i) => lab.server(`web${i + 1}`, web, `10.0.2.${20 + i}`, [g]));
    const lb = lab.loadBalancer(
      web,
      '10.0.2.100',
      servers.map((s, i) => ({ address: s.port.fixedIps[0].ipAddress, port: 80, status: members[i].status })),
      extra,
    );
    const vipPort = lab.snap.ports.find((p) => p.deviceOwner === 'Octavia')!;
    const fip = lab.fip('172.24.4.90', vipPort, r);
    return { lab, lb, fip };
  };

  it('follows listener, pool and a healthy member, then the member leg from the VIP', () => {
    const { lab, fip } = setup([{ status: 'ERROR' }, { status: 'ONLINE' }]);
    const e = lab.explain(tcp({ kind: 'internet' }, { kind: 'floatingip', fipId: fip }));
    expect(e.verdict).toBe('allowed');
    expect(steps(e)).toEqual(expect.arrayContaining(['pass DNAT', 'pass listener', 'pass member']));
    expect(e.hops.find((h) => h.step === 'member')!.detail).toMatch(
      /picks among 10.0.2.21:80; following 10.0.2.21:80 \(10.0.2.20:80 ERROR, 10.0.2.21:80 ONLINE\)/,
    );
    expect(e.hops.at(-1)!.detail).toMatch(/receives the connection from 10.0.2.100/);
    expect(e.expect).toEqual(['connected']);
  });

  it('no listener on the port: denied, and the kernel refuses', () => {
    const { lab, lb, fip } = setup([{ status: 'ONLINE' }]);
    const e = lab.explain(tcp({ kind: 'internet' }, { kind: 'floatingip', fipId: fip }, 81));
    expect(e.verdict).toBe('denied');
    expect(e.reason).toMatch(/no listener on tcp\/81 \(its listeners: HTTP:80\)/);
    expect(e.expect).toEqual(['refused']);
    expect(e.probeFrom).toBe('');
    // The VIP itself is a tenant address: from the host there is no route to it.
    const direct = lab.explain(tcp({ kind: 'internet' }, { kind: 'loadbalancer', lbId: lb }, 80));
    expect(direct.verdict).toBe('denied');
    expect(direct.probeFrom).toBeNull();
  });

  it('every member down: denied at the pool', () => {
    const { lab, fip } = setup([{ status: 'ERROR' }, { status: 'ERROR' }]);
    const e = lab.explain(tcp({ kind: 'internet' }, { kind: 'floatingip', fipId: fip }));
    expect(e.verdict).toBe('denied');
    expect(e.reason).toMatch(/no member of pool .* can take it/);
  });

  it('a source outside allowed_cidrs is refused by the listener', () => {
    const { lab, fip } = setup([{ status: 'ONLINE' }], { allowedCidrs: ['10.9.0.0/16'] });
    const e = lab.explain(tcp({ kind: 'internet' }, { kind: 'floatingip', fipId: fip }));
    expect(e.verdict).toBe('denied');
    expect(e.reason).toMatch(/admits only 10.9.0.0\/16; 172.24.4.1 is not among them/);
  });

  it('an L7 policy that rejects a path, given the path', () => {
    const { lab, fip } = setup([{ status: 'ONLINE' }], { reject: '/admin' });
    expect(lab.explain(tcp({ kind: 'internet' }, { kind: 'floatingip', fipId: fip }, 80, '/admin/x')).verdict).toBe('denied');
    expect(lab.explain(tcp({ kind: 'internet' }, { kind: 'floatingip', fipId: fip }, 80, '/fractal')).verdict).toBe('allowed');
  });

  it('a member whose security group does not admit the load balancer: denied on the member leg', () => {
    const { lab, fip } = setup([{ status: 'ONLINE' }], {}, [{ protocol: 'tcp', portMin: 22, portMax: 22 }]);
    const e = lab.explain(tcp({ kind: 'internet' }, { kind: 'floatingip', fipId: fip }));
    expect(e.verdict).toBe('denied');
    expect(e.reason).toMatch(/admits tcp\/80 from 10.0.2.100/);
  });
});

describe('what the viewer may not see', () => {
  it('is named without its id', () => {
    const lab = new Lab();
    const net = lab.network('web', '10.0.2.0/24');
    const g = lab.group('secret', [{ protocol: 'tcp', portMin: 80, portMax: 80 }]);
    const a = lab.server('a', net, '10.0.2.10', [lab.group('any', [])]);
    const b = lab.server('b', net, '10.0.2.11', [g]);
    lab.labels.delete(g);
    const e = lab.explain(tcp(portEnd(a.port), portEnd(b.port)));
    const objs = e.hops.flatMap((h) => h.objects ?? []);
    expect(objs.some((o) => o.id === g)).toBe(false);
    expect(JSON.stringify(e)).not.toContain(g);
  });
});

describe('what would leave the machine', () => {
  it('a destination the router only reaches by its default route: denied, and no probe is sent', () => {
    const lab = new Lab();
    const web = lab.network('web', '10.0.2.0/24');
    const lone = lab.network('lone', '10.0.9.0/24');
    lab.router('r', [web]);
    const any = lab.group('any', [{ protocol: 'tcp' }]);
    const a = lab.server('a', web, '10.0.2.10', [any]);
    const b = lab.server('b', lone, '10.0.9.10', [any]);
    const e = lab.explain(tcp(portEnd(a.port), portEnd(b.port)));
    expect(e.verdict).toBe('denied');
    expect(e.reason).toMatch(/hands 10.0.9.10 to the host .* it would leave this machine/);
    expect(e.probeFrom).toBeNull();
  });
});
