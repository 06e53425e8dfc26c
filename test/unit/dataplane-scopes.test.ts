import { describe, expect, it } from 'vitest';
import { buildDesired } from '../../src/dataplane/netns/desired.js';
import { l3Fingerprint, renderL3Table } from '../../src/dataplane/netns/l3ext.js';
import type { PortRec, RouterRec, Snapshot, SubnetRec } from '../../src/dataplane/netns/model.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { type ScopeInput, scopeChains, scopeWall } from '../../src/dataplane/netns/scopes.js';

/** Address scopes as a wall between a router's legs (scopes.ts), as Neutron's L3 agent marks and filters. */

const NOSCOPE = 0x04000000; // mark id 1024 << 16: the agent's first id, "noscope"'s

const input = (over: Partial<ScopeInput> = {}): ScopeInput => ({
  legs: [
    { dev: 'qr-a', family: 4, scope: 'scope-a' },
    { dev: 'qr-b', family: 4, scope: null },
    { dev: 'qr-c', family: 4, scope: 'scope-a' },
    { dev: 'qg-1', family: 4, scope: 'scope-a' },
  ],
  gateway: { dev: 'qg-1', enableSnat: true },
  fips: [],
  ...over,
});

describe('address scopes as a wall (scopes.ts)', () => {
  it('needs no wall while every family has one scope (none counts as one)', () => {
    expect(
      scopeWall(
        input({
          legs: [
            { dev: 'qr-a', family: 4, scope: null },
            { dev: 'qg-1', family: 4, scope: null },
          ],
        }),
      ),
    ).toBeNull();
    expect(
      scopeWall(
        input({
          legs: [
            { dev: 'qr-a', family: 4, scope: 's4' },
            { dev: 'qr-a', family: 6, scope: 's6' },
            { dev: 'qg-1', family: 4, scope: 's4' },
          ],
        }),
      ),
    ).toBeNull();
  });

  it('marks each leg by its scope, same scopes alike, and exempts only the IPv4 gateway leg with SNAT from the check', () => {
    const wall = scopeWall(input())!;
    const mark = (dev: string) => wall.legs.find((l) => l.dev === dev)!.mark;
    expect(mark('qr-b')).toBe(NOSCOPE);
    expect(mark('qr-a')).toBe(mark('qr-c'));
    expect(mark('qr-a')).not.toBe(NOSCOPE);
    expect(mark('qr-a') & 0xffff).toBe(0);
    expect(mark('qr-a') >>> 16).toBeGreaterThan(1024);
    expect(mark('qr-a') >>> 16).toBeLessThan(2048);
    expect(wall.legs.filter((l) => !l.checked).map((l) => l.dev)).toEqual(['qg-1']);
    expect(wall.saveOn).toBe('qg-1');
    expect(wall.external).toEqual({ mark: mark('qg-1'), legs: ['qr-a', 'qr-c', 'qg-1'] });
    // The same scope gets the same mark on every router (saved connection marks stay meaningful).
    const again = scopeWall(input({ legs: [...input().legs, { dev: 'qr-d', family: 4, scope: 'scope-z' }] }))!;
    expect(again.legs.find((l) => l.dev === 'qr-a')!.mark).toBe(mark('qr-a'));

    // Without SNAT the gateway is walled too, and nothing saves a scope on the way out.
    const noSnat = scopeWall(input({ gateway: { dev: 'qg-1', enableSnat: false } }))!;
    expect(noSnat.legs.every((l) => l.checked)).toBe(true);
    expect(noSnat.saveOn).toBeNull();
    // IPv6 has no SNAT: its gateway leg is always checked.
    const v6 = scopeWall(
      input({
        legs: [
          { dev: 'qr-a', family: 6, scope: 'x' },
          { dev: 'qg-1', family: 6, scope: 'y' },
        ],
      }),
    )!;
    expect(v6.legs.every((l) => l.checked)).toBe(true);
  });

  it("gives floating IPs of another scope than the gateway's their fixed address's scope, and no others", () => {
    const wall = scopeWall(
      input({
        fips: [
          { floating: '172.24.4.50', fixed: '10.95.0.5', fixedScope: null },
          { floating: '172.24.4.51', fixed: '10.94.0.5', fixedScope: 'scope-a' },
        ],
      }),
    )!;
    expect(wall.fips).toEqual([{ floating: '172.24.4.50', fixed: '10.95.0.5', mark: NOSCOPE }]);
  });

  it("renders the agent's rules in its order: leg marks, restore, floating IPs; save on the way out; the drop per leg", () => {
    const wall = scopeWall(input({ fips: [{ floating: '172.24.4.50', fixed: '10.95.0.5', fixedScope: null }] }))!;
    const a = `0x${wall.legs[0].mark.toString(16).padStart(8, '0')}`;
    const chains = new Map(scopeChains(wall).map((c) => [c.name, c]));
    expect(chains.get('scope_mark')).toEqual({
      name: 'scope_mark',
      hook: 'prerouting priority mangle',
      rules: [
        `iifname "qr-a" meta nfproto ipv4 meta mark set meta mark & 0x0000ffff | ${a}`,
        'iifname "qr-b" meta nfproto ipv4 meta mark set meta mark & 0x0000ffff | 0x04000000',
        `iifname "qr-c" meta nfproto ipv4 meta mark set meta mark & 0x0000ffff | ${a}`,
        `iifname "qg-1" meta nfproto ipv4 meta mark set meta mark & 0x0000ffff | ${a}`,
        'ct mark & 0xffff0000 != 0 meta mark set ct mark & 0xffff0000',
        'ip daddr 172.24.4.50 meta mark set meta mark & 0x0000ffff | 0x04000000',
      ],
    });
    expect(chains.get('scope_float')!.rules).toEqual([
      'ip saddr 10.95.0.5 ct mark & 0xffff0000 == 0 ct mark set meta mark & 0xffff0000',
      `ip saddr 10.95.0.5 oifname { "qr-a", "qr-c", "qg-1" } meta mark set meta mark & 0x0000ffff | ${a}`,
    ]);
    expect(chains.get('scope_save')!.rules).toEqual(['oifname "qg-1" meta nfproto ipv4 ct mark & 0xffff0000 == 0 ct mark set meta mark & 0xffff0000']);
    expect(chains.get('scope')).toEqual({
      name: 'scope',
      hook: 'forward priority filter',
      rules: [
        `oifname "qr-a" meta nfproto ipv4 meta mark & 0xffff0000 != ${a} drop`,
        'oifname "qr-b" meta nfproto ipv4 meta mark & 0xffff0000 != 0x04000000 drop',
        `oifname "qr-c" meta nfproto ipv4 meta mark & 0xffff0000 != ${a} drop`,
      ],
    });
    // In the router's L3 table, fingerprinted like the rest of it; without floating IPs or SNAT, fewer chains.
    const table = renderL3Table({ helpers: [], ndp: null, scopes: wall })!;
    expect(table).toContain('chain scope_mark {\n    type filter hook prerouting priority mangle; policy accept;');
    expect(table).toContain(`comment "ps:${l3Fingerprint({ helpers: [], ndp: null, scopes: wall })}"`);
    const plain = scopeWall(input({ gateway: { dev: 'qg-1', enableSnat: false } }))!;
    expect(scopeChains(plain).map((c) => c.name)).toEqual(['scope_mark', 'scope']);
    expect(l3Fingerprint({ helpers: [], ndp: null, scopes: plain })).not.toBe(l3Fingerprint({ helpers: [], ndp: null, scopes: wall }));
  });
});

describe("a router's scopes from the store (desired.ts)", () => {
  const names = new Names('ps');
  const ROUTER = '99999999-8888-7777-6666-555555555555';
  const PUBLIC = 'aaaaaaaa-0000-0000-0000-000000000001';
  const subnet = (id: string, networkId: string, cidr: string, scope: string | null, ipVersion: 4 | 6 = 4): SubnetRec => ({
    id,
    networkId,
    ipVersion,
    cidr,
    gatewayIp: null,
    hostRoutes: [],
    enableDhcp: false,
    dnsNameservers: [],
    ipv6AddressMode: null,
    ipv6RaMode: null,
    addressScopeId: scope,
  });
  const leg = (id: string, networkId: string, fixedIps: PortRec['fixedIps'], owner = 'network:router_interface'): PortRec => ({
    id,
    networkId,
    mac: 'fa:16:3e:00:00:01',
    adminUp: true,
    status: 'DOWN',
    deviceId: ROUTER,
    deviceOwner: owner,
    bindingHost: '',
    portSecurity: false,
    fixedIps,
    allowedAddressPairs: [],
    securityGroups: [],
    createdAt: '2026-01-01T00:00:00Z',
    extraDhcpOpts: [],
  });
  const A = '0a000001-0000-0000-0000-000000000001';
  const B = '0b000001-0000-0000-0000-000000000001';
  const G = '0c000001-0000-0000-0000-000000000001';
  const VM = '0d000001-0000-0000-0000-000000000001';
  const snap = (scopeB: string | null): Snapshot => {
    const router: RouterRec = { id: ROUTER, adminUp: true, status: 'ACTIVE', enableSnat: true, gatewayPortId: G, routes: [] };
    const vm = { ...leg(VM, 'net-b', [{ subnetId: 'sub-b', ipAddress: '10.95.0.5' }], 'compute:nova'), deviceId: 'server-1', bindingHost: 'h' };
    return {
      networks: ['net-a', 'net-b', PUBLIC].map((id) => ({
        id,
        mtu: 1450,
        adminUp: true,
        networkType: id === PUBLIC ? 'flat' : 'vxlan',
        physicalNetwork: id === PUBLIC ? 'public' : null,
        segmentationId: null,
      })),
      subnets: [
        subnet('sub-a', 'net-a', '10.94.0.0/24', 'scope-a'),
        subnet('sub-a6', 'net-a', '2001:db8:94::/64', null, 6),
        subnet('sub-b', 'net-b', '10.95.0.0/24', scopeB),
        subnet('sub-pub', PUBLIC, '172.24.4.0/24', 'scope-a'),
      ],
      ports: [
        leg(A, 'net-a', [
          { subnetId: 'sub-a', ipAddress: '10.94.0.1' },
          { subnetId: 'sub-a6', ipAddress: '2001:db8:94::1' },
        ]),
        leg(B, 'net-b', [{ subnetId: 'sub-b', ipAddress: '10.95.0.1' }]),
        leg(G, PUBLIC, [{ subnetId: 'sub-pub', ipAddress: '172.24.4.13' }], 'network:router_gateway'),
        vm,
      ],
      securityGroups: [],
      routers: [router],
      floatingIps: [{ id: 'f1', floatingIp: '172.24.4.50', fixedIp: '10.95.0.5', portId: VM, routerId: ROUTER, status: 'DOWN' }],
      instances: null,
    };
  };
  const routerNs = (s: Snapshot) => buildDesired(s, names, { publicPhysnet: 'public', protocolNames: new Map() }).namespaces.find((n) => n.kind === 'router')!;

  it("walls legs of different scopes apart, with each leg's families and the floating IP's fixed scope", () => {
    const wall = routerNs(snap(null)).l3!.scopes!;
    const qrA = names.routerInterface(A);
    const qrB = names.routerInterface(B);
    const qg = names.routerGateway(G);
    expect(wall.legs.map((l) => [l.dev, l.family, l.checked])).toEqual([
      [qrA, 4, true],
      [qrA, 6, true],
      [qrB, 4, true],
      [qg, 4, false],
    ]);
    expect(wall.legs.find((l) => l.dev === qrB)!.mark).toBe(NOSCOPE);
    expect(wall.legs.find((l) => l.dev === qrA && l.family === 4)!.mark).toBe(wall.external.mark);
    expect(wall.fips).toEqual([{ floating: '172.24.4.50', fixed: '10.95.0.5', mark: NOSCOPE }]);
    expect(wall.external.legs).toEqual([qrA, qg]);
  });

  it('has no wall once the scopes are made equal', () => {
    expect(routerNs(snap('scope-a')).l3?.scopes ?? null).toBeNull();
  });
});
