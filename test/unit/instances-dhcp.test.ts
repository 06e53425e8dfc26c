import { describe, expect, it } from 'vitest';
import { type DhcpNetwork, dnsmasqConfig, isolatedSubnets, needsMetadata } from '../../src/dataplane/netns/dhcp/dnsmasq.js';

const V4 = 'aaaaaaaa-0000-0000-0000-000000000004';
const V6S = 'aaaaaaaa-0000-0000-0000-000000000006';
const V6L = 'aaaaaaaa-0000-0000-0000-00000000000a';

function network(extra: Partial<DhcpNetwork> = {}): DhcpNetwork {
  return {
    id: 'net1',
    mtu: 1450,
    subnets: [
      {
        id: V4,
        ipVersion: 4,
        cidr: '10.0.2.0/24',
        gatewayIp: '10.0.2.1',
        enableDhcp: true,
        ipv6AddressMode: null,
        ipv6RaMode: null,
        dnsNameservers: [],
        hostRoutes: [],
      },
    ],
    ports: [
      { id: 'dhcp', mac: 'fa:16:3e:00:00:02', deviceOwner: 'network:dhcp', fixedIps: [{ subnetId: V4, ipAddress: '10.0.2.2' }], extraDhcpOpts: [] },
      { id: 'vm1', mac: 'fa:16:3e:00:00:03', deviceOwner: 'compute:nova', fixedIps: [{ subnetId: V4, ipAddress: '10.0.2.3' }], extraDhcpOpts: [] },
    ],
    ...extra,
  };
}

const routerPort = {
  id: 'r',
  mac: 'fa:16:3e:00:00:01',
  deviceOwner: 'network:router_interface',
  fixedIps: [{ subnetId: V4, ipAddress: '10.0.2.1' }],
  extraDhcpOpts: [],
};

describe("dnsmasq as Neutron's DHCP agent runs it", () => {
  it("has Neutron's command line: a static range per DHCP subnet, the network's MTU, the lease cap", () => {
    const c = dnsmasqConfig(network(), '/run/d');
    expect(c.args).toEqual([
      '--no-hosts',
      '--no-resolv',
      '--pid-file=/run/d/pid',
      '--dhcp-hostsfile=/run/d/host',
      '--addn-hosts=/run/d/addn_hosts',
      '--dhcp-optsfile=/run/d/opts',
      '--dhcp-leasefile=/run/d/leases',
      '--dhcp-match=set:ipxe,175',
      '--dhcp-userclass=set:ipxe6,iPXE',
      '--local-service',
      '--bind-dynamic',
      `--dhcp-range=set:subnet-${V4},10.0.2.0,static,255.255.255.0,86400s`,
      '--dhcp-option-force=option:mtu,1450',
      '--dhcp-lease-max=256',
      '--conf-file=/dev/null',
      '--domain=openstacklocal',
    ]);
  });

  it('leases each port its fixed address by MAC (not the DHCP port itself), names them host-<address>', () => {
    const c = dnsmasqConfig(network({ ports: [...network().ports, routerPort] }), '/run/d');
    expect(c.files.host).toBe('fa:16:3e:00:00:03,host-10-0-2-3.openstacklocal,10.0.2.3\nfa:16:3e:00:00:01,host-10-0-2-1.openstacklocal,10.0.2.1\n');
    expect(c.files.addnHosts).toBe('10.0.2.3\thost-10-0-2-3.openstacklocal host-10-0-2-3\n10.0.2.1\thost-10-0-2-1.openstacklocal host-10-0-2-1\n');
  });

  it('routes metadata through the DHCP port on an isolated subnet, through the router otherwise', () => {
    const isolated = dnsmasqConfig(network(), '/run/d');
    expect(isolated.metadata).toBe(true);
    expect(isolated.files.opts.split('\n')).toEqual([
      `tag:subnet-${V4},option:classless-static-route,169.254.169.254/32,10.0.2.2,0.0.0.0/0,10.0.2.1`,
      `tag:subnet-${V4},249,169.254.169.254/32,10.0.2.2,0.0.0.0/0,10.0.2.1`,
      `tag:subnet-${V4},option:router,10.0.2.1`,
    ]);
    const routed = network({ ports: [...network().ports, routerPort] });
    expect(isolatedSubnets(routed).get(V4)).toBe(false);
    expect(needsMetadata(routed)).toBe(false);
    expect(dnsmasqConfig(routed, '/run/d').files.opts.split('\n')[0]).toBe(
      `tag:subnet-${V4},option:classless-static-route,169.254.169.254/32,10.0.2.1,0.0.0.0/0,10.0.2.1`,
    );
  });

  it("gives the subnet's DNS servers and host routes, and each port's extra_dhcp_opts by its tag", () => {
    const n = network();
    n.subnets[0].dnsNameservers = ['8.8.8.8', '1.1.1.1'];
    n.subnets[0].hostRoutes = [{ destination: '192.168.5.0/24', nexthop: '10.0.2.254' }];
    n.ports[1].extraDhcpOpts = [
      { optName: 'tftp-server', optValue: '10.0.2.9', ipVersion: 4 },
      { optName: 'bootfile-name', optValue: 'pxelinux.0', ipVersion: 4 },
    ];
    const c = dnsmasqConfig(n, '/run/d');
    expect(c.files.host).toBe('fa:16:3e:00:00:03,host-10-0-2-3.openstacklocal,10.0.2.3,set:port-vm1\n');
    expect(c.files.opts.split('\n')).toEqual([
      `tag:subnet-${V4},option:dns-server,8.8.8.8,1.1.1.1`,
      `tag:subnet-${V4},option:classless-static-route,192.168.5.0/24,10.0.2.254,169.254.169.254/32,10.0.2.2,0.0.0.0/0,10.0.2.1`,
      `tag:subnet-${V4},249,192.168.5.0/24,10.0.2.254,169.254.169.254/32,10.0.2.2,0.0.0.0/0,10.0.2.1`,
      `tag:subnet-${V4},option:router,10.0.2.1`,
      'tag:port-vm1,option:tftp-server,10.0.2.9',
      'tag:port-vm1,option:bootfile-name,pxelinux.0',
    ]);
  });

  it('serves DHCPv6 stateful and stateless subnets as Neutron does, nothing for SLAAC, nothing where DHCP is off', () => {
    const n = network();
    n.subnets.push(
      {
        id: V6S,
        ipVersion: 6,
        cidr: '2001:db8:1::/64',
        gatewayIp: '2001:db8:1::1',
        enableDhcp: true,
        ipv6AddressMode: 'dhcpv6-stateful',
        ipv6RaMode: 'dhcpv6-stateful',
        dnsNameservers: [],
        hostRoutes: [],
      },
      {
        id: V6L,
        ipVersion: 6,
        cidr: '2001:db8:2::/64',
        gatewayIp: '2001:db8:2::1',
        enableDhcp: true,
        ipv6AddressMode: 'slaac',
        ipv6RaMode: 'slaac',
        dnsNameservers: [],
        hostRoutes: [],
      },
    );
    n.ports[1].fixedIps.push({ subnetId: V6S, ipAddress: '2001:db8:1::5' }, { subnetId: V6L, ipAddress: '2001:db8:2::f816:3eff:fe00:3' });
    const c = dnsmasqConfig(n, '/run/d');
    expect(c.args.filter((a) => a.startsWith('--dhcp-range'))).toEqual([
      `--dhcp-range=set:subnet-${V4},10.0.2.0,static,255.255.255.0,86400s`,
      `--dhcp-range=set:subnet-${V6S},2001:db8:1::,static,64,86400s`,
    ]);
    expect(c.files.host).toContain('fa:16:3e:00:00:03,tag:dhcpv6,host-2001-db8-1--5.openstacklocal,[2001:db8:1::5]\n');
    expect(c.files.host).not.toContain('2001:db8:2::');
    expect(c.files.opts).toContain(`tag:subnet-${V6S},option6:domain-search,openstacklocal`);
    n.subnets[0].enableDhcp = false;
    expect(dnsmasqConfig(n, '/run/d').files.host).not.toContain('10.0.2.3');
  });
});
