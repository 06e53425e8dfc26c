import { describe, expect, it } from 'vitest';
import type { PortRec, RuleRec, SecurityGroupRec } from '../../src/dataplane/netns/model.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { assignZones, parseProtocols, renderFilter, ruleMatch } from '../../src/dataplane/netns/secgroups.js';

const names = new Names('ps');
const protocols = parseProtocols('# comment\nip\t0\tIP\nicmp\t1\tICMP\ntcp\t6\tTCP\ngre\t47\tGRE\nipencap\t4\tIP-ENCAP\nvrrp\t112\tVRRP\n');
const WEB = 'aaaaaaaa-0000-0000-0000-00000000000a';
const DEF = 'bbbbbbbb-0000-0000-0000-00000000000b';

const rule = (r: Partial<RuleRec>): RuleRec => ({
  id: 'r',
  direction: 'ingress',
  ethertype: 'IPv4',
  protocol: null,
  portMin: null,
  portMax: null,
  remoteIpPrefix: null,
  remoteGroupId: null,
  ...r,
});

const port = (id: string, ip: string, groups: string[], extra: Partial<PortRec> = {}): PortRec => ({
  id,
  networkId: 'net',
  mac: `fa:16:3e:00:00:0${id.slice(-1)}`,
  adminUp: true,
  status: 'DOWN',
  deviceId: 'vm',
  deviceOwner: 'compute:nova',
  bindingHost: 'h',
  portSecurity: true,
  fixedIps: [{ subnetId: 's', ipAddress: ip }],
  allowedAddressPairs: [],
  securityGroups: groups,
  createdAt: '',
  ...extra,
});

function render(ports: PortRec[], groups: SecurityGroupRec[], filtered = ports) {
  return renderFilter(
    {
      filtered,
      allPorts: ports,
      groups: new Map(groups.map((g) => [g.id, g])),
      zones: new Map([['net', 7]]),
      bridges: new Map([['net', 'brqnet']]),
      protocolNames: protocols,
    },
    names,
  );
}

describe('security group rules as iptables-save prints them', () => {
  it('renders protocols, ports and ICMP type/code canonically', () => {
    expect(ruleMatch(rule({ protocol: 'tcp', portMin: 80, portMax: 80 }), 4, protocols)).toBe('-p tcp -m tcp --dport 80');
    expect(ruleMatch(rule({ protocol: '17', portMin: 1000, portMax: 2000 }), 4, protocols)).toBe('-p udp -m udp --dport 1000:2000');
    expect(ruleMatch(rule({ protocol: 'icmp', portMin: 8, portMax: 0 }), 4, protocols)).toBe('-p icmp -m icmp --icmp-type 8/0');
    expect(ruleMatch(rule({ protocol: 'icmp', portMin: 8 }), 4, protocols)).toBe('-p icmp -m icmp --icmp-type 8');
    expect(ruleMatch(rule({ protocol: 'icmp' }), 6, protocols)).toBe('-p ipv6-icmp');
    expect(ruleMatch(rule({ protocol: 'ipv6-icmp', portMin: 128 }), 6, protocols)).toBe('-p ipv6-icmp -m icmp6 --icmpv6-type 128');
    expect(ruleMatch(rule({ protocol: 'gre' }), 4, protocols)).toBe('-p gre');
    // Neutron's "ipip" is protocol 4, which /etc/protocols (and so iptables-save) calls ipencap.
    expect(ruleMatch(rule({ protocol: 'ipip' }), 4, protocols)).toBe('-p ipencap');
    expect(ruleMatch(rule({ protocol: '250' }), 4, protocols)).toBe('-p 250');
    expect(ruleMatch(rule({ protocol: 'udplite', portMin: 5, portMax: 10 }), 4, protocols)).toBe('-p udplite -m multiport --dports 5:10');
    expect(ruleMatch(rule({ protocol: null }), 4, protocols)).toBe('');
    expect(ruleMatch(rule({ protocol: '0' }), 4, protocols)).toBe('');
  });

  it('gives each port ingress, egress and anti-spoofing chains, one chain per group and direction', () => {
    const web: SecurityGroupRec = {
      id: WEB,
      stateful: true,
      rules: [
        rule({ protocol: 'tcp', portMin: 80, portMax: 80 }),
        rule({ protocol: 'icmp' }),
        rule({ direction: 'egress', remoteIpPrefix: '0.0.0.0/0' }),
        rule({ protocol: 'tcp', portMin: 22, portMax: 22, remoteIpPrefix: '192.168.0.0/16' }),
      ],
    };
    const p = port('00000000-0000-0000-0000-000000000001', '10.0.2.11', [WEB], {
      allowedAddressPairs: [{ ipAddress: '10.0.2.100', macAddress: 'fa:16:3e:99:99:99' }],
    });
    const f = render([p], [web]);
    const v4 = f.v4.filter;
    expect(v4.get('FORWARD')).toEqual(['-j ps-sg-chain']);
    expect(v4.get('ps-sg-chain')).toEqual([
      '-m physdev --physdev-out tap00000000-00 --physdev-is-bridged -j ps-i00000000-00',
      '-m physdev --physdev-in tap00000000-00 --physdev-is-bridged -j ps-o00000000-00',
      '-j ACCEPT',
    ]);
    expect(v4.get('ps-i00000000-00')).toEqual([
      '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
      '-m conntrack --ctstate INVALID -j DROP',
      '-j MARK --set-xmark 0x0/0x1',
      `-j ps-gaaaaaaaa-00-i`,
      '-m mark --mark 0x1/0x1 -j RETURN',
      '-j DROP',
    ]);
    expect(v4.get('ps-gaaaaaaaa-00-i')).toEqual([
      '-p tcp -m tcp --dport 80 -j MARK --set-xmark 0x1/0x1',
      '-p icmp -j MARK --set-xmark 0x1/0x1',
      '-s 192.168.0.0/16 -p tcp -m tcp --dport 22 -j MARK --set-xmark 0x1/0x1',
    ]);
    expect(v4.get('ps-gaaaaaaaa-00-o')).toEqual(['-j MARK --set-xmark 0x1/0x1']);
    expect(v4.get('ps-s00000000-00')).toEqual([
      '-s 10.0.2.11/32 -m mac --mac-source fa:16:3e:00:00:01 -j RETURN',
      '-s 10.0.2.100/32 -m mac --mac-source fa:16:3e:99:99:99 -j RETURN',
      '-j DROP',
    ]);
    // No IPv6 rule in the group: the IPv6 chains admit nothing but neighbour discovery.
    expect(f.v6.filter.get('ps-gaaaaaaaa-00-i')).toEqual([]);
    expect(f.v6.filter.get('ps-s00000000-00')).toContain('-s fe80::f816:3eff:fe00:1/128 -m mac --mac-source fa:16:3e:00:00:01 -j RETURN');
    expect(f.v4.raw.get('PREROUTING')).toEqual(['-i brqnet -j CT --zone 7']);
    expect(f.chainOwner.get('ps-i00000000-00')).toBe('port:00000000-0000-0000-0000-000000000001');
  });

  it('expands remote_group_id to the member ports addresses (fixed IPs and address pairs)', () => {
    const def: SecurityGroupRec = { id: DEF, stateful: true, rules: [rule({ remoteGroupId: DEF }), rule({ ethertype: 'IPv6', remoteGroupId: DEF })] };
    const a = port('00000000-0000-0000-0000-000000000001', '10.0.1.5', [DEF]);
    const b = port('00000000-0000-0000-0000-000000000002', '10.0.2.7', [DEF], {
      allowedAddressPairs: [{ ipAddress: '10.0.9.0/24', macAddress: 'fa:16:3e:00:00:09' }],
    });
    const outsider = port('00000000-0000-0000-0000-000000000003', '10.0.3.3', []);
    const f = render([a, b, outsider], [def], [a, b]);
    expect(f.v4.filter.get('ps-gbbbbbbbb-00-i')).toEqual([
      '-s 10.0.1.5/32 -j MARK --set-xmark 0x1/0x1',
      '-s 10.0.2.7/32 -j MARK --set-xmark 0x1/0x1',
      '-s 10.0.9.0/24 -j MARK --set-xmark 0x1/0x1',
    ]);
    expect(f.v6.filter.get('ps-gbbbbbbbb-00-i')).toEqual([]);
  });

  it('ORs several groups of one port and leaves stateless groups without conntrack', () => {
    const g1: SecurityGroupRec = { id: WEB, stateful: false, rules: [rule({ protocol: 'tcp', portMin: 80, portMax: 80 })] };
    const g2: SecurityGroupRec = { id: DEF, stateful: false, rules: [rule({ protocol: 'tcp', portMin: 22, portMax: 22 })] };
    const p = port('00000000-0000-0000-0000-000000000001', '10.0.2.11', [DEF, WEB]);
    const chain = render([p], [g1, g2]).v4.filter.get('ps-i00000000-00')!;
    expect(chain).toEqual(['-j MARK --set-xmark 0x0/0x1', '-j ps-gaaaaaaaa-00-i', '-j ps-gbbbbbbbb-00-i', '-m mark --mark 0x1/0x1 -j RETURN', '-j DROP']);
  });

  it('renders nothing for a port without port security (its traffic is not filtered)', () => {
    const p = port('00000000-0000-0000-0000-000000000001', '10.0.2.11', [], { portSecurity: false });
    const f = render([p], [], []);
    expect(f.v4.filter.get('ps-sg-chain')).toEqual(['-j ACCEPT']);
    expect([...f.v4.filter.keys()].sort()).toEqual(['FORWARD', 'ps-sg-chain']);
  });

  it('records what each port admits, to cut connections when a rule goes away', () => {
    const web: SecurityGroupRec = { id: WEB, stateful: true, rules: [rule({ protocol: 'tcp', portMin: 8080, portMax: 8080 })] };
    const p = port('00000000-0000-0000-0000-000000000001', '10.0.2.11', [WEB]);
    const before = render([p], [web]).portRuleSets.get(p.id)!;
    const after = render([p], [{ ...web, rules: [] }]).portRuleSets.get(p.id)!;
    expect(before).toMatchObject({ zone: 7, ips: ['10.0.2.11'] });
    expect([...before.rules].some((r) => !after.rules.has(r))).toBe(true);
  });
});

describe('conntrack zones', () => {
  it('use the segmentation id when free, else a stable zone from 60000', () => {
    const z = assignZones([
      { id: 'c', segmentationId: 5 },
      { id: 'a', segmentationId: null },
      { id: 'b', segmentationId: 5 },
      { id: 'd', segmentationId: 70000 },
    ]);
    expect([...z].sort()).toEqual([
      ['a', 60000],
      ['b', 5],
      ['c', 60001],
      ['d', 60002],
    ]);
  });
});
