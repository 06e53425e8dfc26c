import { describe, expect, it } from 'vitest';
import { cidrToString, eui64, ipKey, ipToString, parseCidr, parseIp, parseMac } from '../../src/util/ip.js';
import { ipAddress, subnetCidr } from '../../src/core/network/attributes.js';
import { defaultPools } from '../../src/core/network/subnets.js';

describe('addresses', () => {
  it('parses IPv4 strictly and IPv6 in any form, printing IPv6 compactly', () => {
    expect(parseIp('10.0.0.1')).toEqual({ version: 4, value: 0x0a000001n });
    expect(parseIp('10.0.0')).toBeNull();
    expect(parseIp(' 10.0.0.1')).toBeNull();
    expect(ipToString(parseIp('2001:0db8:0000:0000:0000:0000:0000:0001')!)).toBe('2001:db8::1');
    expect(parseIp('fe80::1%eth0')).toBeNull();
  });

  it('orders keys like addresses within a version', () => {
    const a = ipKey(parseIp('10.0.0.9')!);
    const b = ipKey(parseIp('10.0.0.10')!);
    expect(a < b).toBe(true);
    expect(ipKey(parseIp('::1')!)).toHaveLength(32);
  });

  it('normalises a CIDR and computes its range', () => {
    const c = parseCidr('10.0.1.5/24')!;
    expect(cidrToString(c)).toBe('10.0.1.0/24');
    expect(c.last - c.first).toBe(255n);
    expect(parseCidr('10.0.300.0/24')).toBeNull();
    expect(parseCidr('10.0.0.0/33')).toBeNull();
  });

  it('builds SLAAC addresses from the MAC (modified EUI-64)', () => {
    const c = parseCidr('fd00:1::/64')!;
    expect(ipToString(eui64(c, 'fa:16:3e:f6:bd:d3'))).toBe('fd00:1::f816:3eff:fef6:bdd3');
  });

  it('validates MACs as neutron-lib does', () => {
    expect(parseMac('FA-16-3E-00-00-01')).toBe('fa:16:3e:00:00:01');
    expect(parseMac('00:00:00:00:00:00')).toBeNull();
    expect(parseMac('ff:ff:ff:ff:ff:ff')).toBeNull();
    expect(parseMac('fa:16:3e:00:00')).toBeNull();
  });

  it('words validation failures like neutron-lib', () => {
    expect(ipAddress('10.0.0.01')).toBe("'10.0.0.01' is not an accepted IP address, '10.0.0.1' is recommended");
    expect(ipAddress('nope')).toBe("'nope' is not a valid IP address");
    // Host bits are accepted (netaddr writes 10.0.1.5/24 as given); a bare address is not.
    expect(subnetCidr('10.0.1.5/24')).toBeUndefined();
    expect(subnetCidr('10.0.1.5')).toBe("'10.0.1.5' isn't a recognized IP subnet cidr, '10.0.1.5/32' is recommended");
    expect(subnetCidr('x')).toBe("'x' is not a valid IP subnet");
  });
});

describe('default allocation pools (generate_pools)', () => {
  const pools = (cidr: string, gw: string | null) => defaultPools(parseCidr(cidr)!, gw ? parseIp(gw)!.value : null);
  it('skips network, broadcast and gateway on IPv4', () => {
    expect(pools('10.0.1.0/24', '10.0.1.1')).toEqual([{ start: '10.0.1.2', end: '10.0.1.254' }]);
    expect(pools('10.0.1.0/24', '10.0.1.100')).toEqual([
      { start: '10.0.1.1', end: '10.0.1.99' },
      { start: '10.0.1.101', end: '10.0.1.254' },
    ]);
    expect(pools('10.0.9.0/30', '10.0.9.1')).toEqual([{ start: '10.0.9.2', end: '10.0.9.2' }]);
  });
  it('uses the whole range of /31 and /32', () => {
    expect(pools('10.0.0.0/31', null)).toEqual([{ start: '10.0.0.0', end: '10.0.0.1' }]);
    expect(pools('10.0.0.5/32', null)).toEqual([{ start: '10.0.0.5', end: '10.0.0.5' }]);
  });
  it('starts IPv6 pools after the subnet-router anycast address', () => {
    expect(pools('fd00:1::/64', 'fd00:1::')).toEqual([{ start: 'fd00:1::1', end: 'fd00:1::ffff:ffff:ffff:ffff' }]);
  });
});
