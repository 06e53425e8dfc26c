import { describe, expect, it } from 'vitest';
import { ipam } from '../../src/core/network/ipam.js';
import { ipToString, parseIp } from '../../src/util/ip.js';
import { memoryStore } from '../support/memstore.js';

const store = memoryStore();
const SUBNET = 'sub-1';

async function seedSubnet(cidr: string, version: 4 | 6) {
  const now = '2026-01-01T00:00:00Z';
  await store()
    .db.insertInto('networks')
    .values({
      id: 'net-1',
      project_id: 'p',
      name: '',
      description: '',
      created_at: now,
      updated_at: now,
      revision_number: 0,
      admin_state_up: 1,
      status: 'ACTIVE',
      shared: 0,
      external: 0,
      is_default: 0,
      mtu: 1450,
      port_security_enabled: 1,
      network_type: 'vxlan',
      physical_network: null,
      dns_domain: '',
      segmentation_id: 1,
      availability_zone_hints: '[]',
    })
    .execute();
  await store()
    .db.insertInto('subnets')
    .values({
      id: SUBNET,
      project_id: 'p',
      name: '',
      description: '',
      created_at: now,
      updated_at: now,
      revision_number: 0,
      network_id: 'net-1',
      ip_version: version,
      cidr,
      gateway_ip: null,
      enable_dhcp: 1,
      ipv6_ra_mode: null,
      ipv6_address_mode: null,
      subnetpool_id: null,
      segment_id: null,
      dns_nameservers: '[]',
      host_routes: '[]',
      allocation_pools: '[]',
      service_types: '[]',
      dns_publish_fixed_ip: 0,
    })
    .execute();
}

const take = (version: 4 | 6, rand?: () => number) => store().tx((trx) => ipam.takeAny(trx, SUBNET, version, rand));
const ranges = () => store().db.selectFrom('ipam_ranges').select(['first_key', 'last_key']).where('subnet_id', '=', SUBNET).orderBy('first_key').execute();

describe('IPAM free ranges', () => {
  it('hands out every address of a pool exactly once, then reports exhaustion', async () => {
    await seedSubnet('10.0.9.0/28', 4);
    await store().tx((trx) => ipam.addPools(trx, SUBNET, [{ start: '10.0.9.2', end: '10.0.9.14' }]));
    const seen = new Set<string>();
    for (let i = 0; i < 13; i++) {
      const ip = await take(4);
      expect(ip).not.toBeNull();
      seen.add(ipToString(ip!));
    }
    expect(seen.size).toBe(13);
    expect([...seen].every((a) => /^10\.0\.9\.(\d+)$/.test(a) && Number(a.split('.')[3]) >= 2 && Number(a.split('.')[3]) <= 14)).toBe(true);
    expect(await take(4)).toBeNull();
  });

  it('takes a specific address by splitting its range, and refuses it when taken', async () => {
    await seedSubnet('10.0.1.0/24', 4);
    await store().tx((trx) => ipam.addPools(trx, SUBNET, [{ start: '10.0.1.2', end: '10.0.1.254' }]));
    expect(await store().tx((trx) => ipam.takeSpecific(trx, SUBNET, parseIp('10.0.1.50')!))).toBe(true);
    expect(await ranges()).toEqual([
      { first_key: '0a000102', last_key: '0a000131' },
      { first_key: '0a000133', last_key: '0a0001fe' },
    ]);
    expect(await store().tx((trx) => ipam.takeSpecific(trx, SUBNET, parseIp('10.0.1.50')!))).toBe(false);
    // Outside the pools (the gateway): not free in the pools either.
    expect(await store().tx((trx) => ipam.takeSpecific(trx, SUBNET, parseIp('10.0.1.1')!))).toBe(false);
  });

  it('merges a released address back with both neighbours', async () => {
    await seedSubnet('10.0.1.0/24', 4);
    const pools = [{ start: '10.0.1.2', end: '10.0.1.254' }];
    await store().tx((trx) => ipam.addPools(trx, SUBNET, pools));
    await store().tx((trx) => ipam.takeSpecific(trx, SUBNET, parseIp('10.0.1.50')!));
    await store().tx((trx) => ipam.giveBack(trx, SUBNET, parseIp('10.0.1.50')!, pools));
    expect(await ranges()).toEqual([{ first_key: '0a000102', last_key: '0a0001fe' }]);
    // An address outside the pools is not added to them.
    await store().tx((trx) => ipam.giveBack(trx, SUBNET, parseIp('10.0.1.1')!, pools));
    expect(await ranges()).toEqual([{ first_key: '0a000102', last_key: '0a0001fe' }]);
  });

  it('picks at random within the first 1000 free addresses, like Neutron', async () => {
    await seedSubnet('10.0.0.0/8', 4);
    await store().tx((trx) => ipam.addPools(trx, SUBNET, [{ start: '10.0.0.2', end: '10.255.255.254' }]));
    const last = await take(4, () => 0.9999);
    expect(ipToString(last!)).toBe(`10.0.3.${2 + 999 - 768}`);
    const first = await take(4, () => 0);
    expect(ipToString(first!)).toBe('10.0.0.2');
    expect(await store().tx((trx) => ipam.freeCount(trx, SUBNET, 4))).toBe(16777213n - 2n);
  });

  it('works on IPv6 /64 pools with 128-bit keys', async () => {
    await seedSubnet('fd00:1::/64', 6);
    await store().tx((trx) => ipam.addPools(trx, SUBNET, [{ start: 'fd00:1::1', end: 'fd00:1::ffff:ffff:ffff:ffff' }]));
    const ip = await take(6, () => 0);
    expect(ipToString(ip!)).toBe('fd00:1::1');
    expect(await store().tx((trx) => ipam.freeCount(trx, SUBNET, 6))).toBe(2n ** 64n - 2n);
  });

  it('rebuilds free ranges around allocations when pools change', async () => {
    await seedSubnet('10.0.1.0/24', 4);
    await store().tx((trx) => ipam.addPools(trx, SUBNET, [{ start: '10.0.1.2', end: '10.0.1.254' }]));
    await store()
      .db.insertInto('ports')
      .values({
        id: 'port-1',
        project_id: 'p',
        name: '',
        description: '',
        created_at: '',
        updated_at: '',
        revision_number: 0,
        network_id: 'net-1',
        mac_address: 'fa:16:3e:00:00:01',
        admin_state_up: 1,
        status: 'DOWN',
        device_id: '',
        device_owner: '',
        port_security_enabled: 1,
        binding_host_id: '',
        binding_vif_type: 'unbound',
        binding_vnic_type: 'normal',
        binding_profile: '{}',
        binding_vif_details: '{}',
        allowed_address_pairs: '[]',
        extra_dhcp_opts: '[]',
        dns_name: '',
        dns_domain: '',
        propagate_uplink_status: 1,
        ip_allocation: 'immediate',
      })
      .execute();
    await store()
      .db.insertInto('ip_allocations')
      .values({ port_id: 'port-1', network_id: 'net-1', subnet_id: SUBNET, ip_address: '10.0.1.20', ip_key: '0a000114', position: 0 })
      .execute();
    await store().tx((trx) => ipam.replacePools(trx, SUBNET, 4, [{ start: '10.0.1.10', end: '10.0.1.30' }]));
    expect(await ranges()).toEqual([
      { first_key: '0a00010a', last_key: '0a000113' },
      { first_key: '0a000115', last_key: '0a00011e' },
    ]);
  });
});
