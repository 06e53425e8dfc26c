import { describe, expect, it } from 'vitest';
import { webobError } from '../../src/api/metadata/handler.js';
import { encodeFrame, FrameReader } from '../../src/api/compute/serial.js';
import { type GuestRecord, configDriveFiles, lookup, metaData, networkData, openstackVersions, pyJson } from '../../src/core/compute/guest/documents.js';

const S4 = 'bbbbbbbb-0000-0000-0000-000000000004';
const S6 = 'bbbbbbbb-0000-0000-0000-000000000006';
const NET = 'cccccccc-0000-0000-0000-000000000001';
const PORT = 'dddddddd-1111-2222-3333-444444444444';

function guest(extra: Partial<GuestRecord> = {}): GuestRecord {
  return {
    uuid: '11111111-2222-3333-4444-555555555555',
    name: 'web1',
    hostname: 'web1',
    projectId: 'proj',
    launchIndex: 0,
    reservationId: 'r-abcdefgh',
    availabilityZone: 'nova',
    internalId: 7,
    imageId: 'eeeeeeee-0000-0000-0000-000000000000',
    flavorName: 'm1.tiny',
    ephemeral: false,
    keyName: 'mykey',
    key: { name: 'mykey', type: 'ssh', publicKey: 'ssh-rsa AAAA test@host' },
    meta: {},
    userData: Buffer.from('#!/bin/sh\necho hi\n'),
    securityGroups: ['default', 'web'],
    password: null,
    ports: [{ id: PORT, mac: 'fa:16:3e:00:00:03', networkId: NET, mtu: 1450, vifType: 'bridge', fixedIps: [{ ipAddress: '10.0.2.3', subnetId: S4 }] }],
    subnets: new Map([
      [
        S4,
        {
          id: S4,
          ipVersion: 4,
          cidr: '10.0.2.0/24',
          gatewayIp: '10.0.2.1',
          dnsNameservers: ['8.8.8.8'],
          hostRoutes: [{ destination: '192.168.5.0/24', nexthop: '10.0.2.254' }],
          enableDhcp: true,
          ipv6AddressMode: null,
          dhcpServer: '10.0.2.2',
        },
      ],
    ]),
    floatingIps: ['172.24.4.50'],
    address: '10.0.2.3',
    ...extra,
  };
}

describe("Nova's network_data.json", () => {
  it('says ipv4_dhcp for a DHCP subnet, with the link Nova names after the tap device (no MTU: DHCP gives it)', () => {
    expect(networkData(guest())).toEqual({
      links: [{ id: 'tapdddddddd-11', vif_id: PORT, type: 'bridge', mtu: null, ethernet_mac_address: 'fa:16:3e:00:00:03' }],
      networks: [{ id: 'network0', type: 'ipv4_dhcp', link: 'tapdddddddd-11', network_id: NET }],
      services: [{ type: 'dns', address: '8.8.8.8' }],
    });
  });

  it('gives the address, netmask, default and host routes where DHCP is off; IPv6 by its address mode', () => {
    const g = guest();
    g.subnets.get(S4)!.enableDhcp = false;
    g.subnets.get(S4)!.dhcpServer = null;
    g.subnets.set(S6, {
      id: S6,
      ipVersion: 6,
      cidr: '2001:db8::/64',
      gatewayIp: '2001:db8::1',
      dnsNameservers: [],
      hostRoutes: [],
      enableDhcp: true,
      ipv6AddressMode: 'slaac',
      dhcpServer: null,
    });
    g.ports[0].fixedIps.push({ ipAddress: '2001:db8::f816:3eff:fe00:3', subnetId: S6 });
    const nd = networkData(g);
    expect((nd.links as Array<{ mtu: unknown }>)[0].mtu).toBeNull();
    expect(nd.networks).toEqual([
      {
        id: 'network0',
        type: 'ipv4',
        link: 'tapdddddddd-11',
        ip_address: '10.0.2.3',
        netmask: '255.255.255.0',
        routes: [
          { network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.0.2.1' },
          { network: '192.168.5.0', netmask: '255.255.255.0', gateway: '10.0.2.254' },
        ],
        network_id: NET,
        services: [{ type: 'dns', address: '8.8.8.8' }],
      },
      {
        id: 'network1',
        type: 'ipv6_slaac',
        link: 'tapdddddddd-11',
        ip_address: '2001:db8::f816:3eff:fe00:3',
        netmask: 'ffff:ffff:ffff:ffff::',
        routes: [{ network: '::', netmask: '::', gateway: '2001:db8::1' }],
        network_id: NET,
        services: [],
      },
    ]);
  });
});

describe("Nova's meta_data.json and EC2 metadata", () => {
  it('has the keys of Zed in order, the key pair, the hostname with novalocal', () => {
    const md = metaData(guest({ meta: { role: 'web' } }), '2020-10-14');
    expect(Object.keys(md)).toEqual([
      'uuid',
      'meta',
      'public_keys',
      'keys',
      'hostname',
      'name',
      'launch_index',
      'availability_zone',
      'random_seed',
      'project_id',
      'devices',
      'dedicated_cpus',
    ]);
    expect(md).toMatchObject({
      public_keys: { mykey: 'ssh-rsa AAAA test@host' },
      keys: [{ name: 'mykey', type: 'ssh', data: 'ssh-rsa AAAA test@host' }],
      hostname: 'web1.novalocal',
    });
    expect(Buffer.from(md.random_seed as string, 'base64')).toHaveLength(512);
    expect(Object.keys(metaData(guest(), '2012-08-10'))).toEqual(['uuid', 'public_keys', 'keys', 'hostname', 'name', 'launch_index', 'availability_zone']);
    expect(pyJson({ a: [1, 'é'], b: null })).toBe('{"a": [1, "\\u00e9"], "b": null}');
  });

  it('answers paths as Nova does: version lists, directories, files, EC2 trees, 404s', () => {
    const g = guest();
    const text = (p: string) => {
      const a = lookup(g, p, new Date('2026-01-01'));
      return a && 'body' in a ? a.body.toString() : a;
    };
    expect(text('/')).toBe('1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n2008-02-01\n2008-09-01\n2009-04-04\nlatest');
    expect(text('/openstack')).toBe(`${openstackVersions(new Date('2026-01-01')).join('\n')}`);
    expect(text('/openstack/latest')).toBe('meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json');
    expect(text('/openstack/latest/user_data')).toBe('#!/bin/sh\necho hi\n');
    expect(text('/openstack/latest/vendor_data2.json')).toBe('{"static": {}}');
    expect(lookup(g, '/openstack/latest/network_data.json')).toMatchObject({ contentType: 'text/plain' });
    expect(lookup(g, '/openstack/latest/meta_data.json')).toMatchObject({ contentType: 'application/json' });
    expect(lookup(g, '/openstack/latest/password')).toEqual({ password: true });
    expect(text('/latest/meta-data/')).toBe(
      [
        'ami-id',
        'ami-launch-index',
        'ami-manifest-path',
        'block-device-mapping/',
        'hostname',
        'instance-action',
        'instance-id',
        'instance-type',
        'local-hostname',
        'local-ipv4',
        'placement/',
        'public-hostname',
        'public-ipv4',
        'public-keys/',
        'reservation-id',
        'security-groups',
      ].join('\n'),
    );
    expect(text('/latest/meta-data/public-keys')).toBe('0=mykey');
    expect(text('/latest/meta-data/public-keys/0/openssh-key')).toBe('ssh-rsa AAAA test@host');
    expect(text('/latest/meta-data/instance-id')).toBe('i-00000007');
    expect(text('/latest/meta-data/local-ipv4')).toBe('10.0.2.3');
    expect(text('/latest/meta-data/public-ipv4')).toBe('172.24.4.50');
    expect(text('/latest/meta-data/security-groups')).toBe('default\nweb');
    expect(text('/latest/meta-data/placement/availability-zone')).toBe('nova');
    expect(text('/2009-04-04/user-data')).toBe('#!/bin/sh\necho hi\n');
    expect(text('/latest')).toBe('meta-data/\nuser-data');
    expect(lookup(g, '/openstack/2099-01-01/meta_data.json')).toBeNull();
    expect(lookup(g, '/latest/meta-data/nope')).toBeNull();
    expect(lookup(guest({ userData: null }), '/openstack/latest/user_data')).toBeNull();
  });

  it('fills a config drive as Nova does (skipped EC2 versions left out, no _name in the EC2 keys)', () => {
    const files = configDriveFiles(guest());
    expect([...files.keys()].filter((k) => k.startsWith('ec2/'))).toEqual([
      'ec2/2009-04-04/user-data',
      'ec2/2009-04-04/meta-data.json',
      'ec2/latest/user-data',
      'ec2/latest/meta-data.json',
    ]);
    expect(JSON.parse(files.get('ec2/latest/meta-data.json')!.toString())['public-keys']).toEqual({ '0': { 'openssh-key': 'ssh-rsa AAAA test@host' } });
    expect(files.has('openstack/latest/network_data.json')).toBe(true);
    expect(files.has('openstack/2012-08-10/vendor_data.json')).toBe(false);
    expect(JSON.parse(files.get('openstack/latest/meta_data.json')!.toString()).uuid).toBe(guest().uuid);
  });

  it("answers errors with webob's pages, as Neutron's metadata agent does", () => {
    expect(webobError(404, '*/*')).toEqual({
      contentType: 'text/html; charset=UTF-8',
      body: '<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  The resource could not be found.<br /><br />\n\n\n\n </body>\n</html>',
    });
    expect(webobError(409, 'text/plain').body).toMatch(/^409 Conflict\n\nThere was a conflict/);
  });
});

describe('the serial proxy speaks websocket', () => {
  it('reads masked, fragmented client frames and answers pings', () => {
    const mask = Buffer.from([9, 8, 7, 6]);
    const masked = (op: number, fin: boolean, text: string) => {
      const p = Buffer.from(text);
      return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | op, 0x80 | p.length]), mask, Buffer.from(p.map((c, i) => c ^ mask[i % 4]))]);
    };
    const r = new FrameReader();
    const all = Buffer.concat([masked(2, false, 'lo'), masked(0, true, 'gin\n'), masked(9, true, 'p')]);
    expect(r.push(all.subarray(0, 5))).toEqual([]);
    expect(r.push(all.subarray(5)).map((f) => [f.opcode, f.payload.toString()])).toEqual([
      [2, 'login\n'],
      [9, 'p'],
    ]);
    expect(encodeFrame(2, Buffer.from('hi'))).toEqual(Buffer.from([0x82, 2, 0x68, 0x69]));
    expect(encodeFrame(2, Buffer.alloc(300)).subarray(0, 4)).toEqual(Buffer.from([0x82, 126, 1, 44]));
  });
});
