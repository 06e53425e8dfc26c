import { describe, expect, it } from 'vitest';
import { type Client, cloudForFile } from '../support/cloud.js';

const { admin, demo } = await cloudForFile('network');

const pool = async (c: Client, body: Record<string, unknown>) => c.post('/v2.0/subnetpools', { subnetpool: { name: 'pool', ...body } });
const network = async (c: Client) => (await c.post('/v2.0/networks', { network: { name: 'pn' } })).body.network;

describe('subnet pools', () => {
  it('compacts prefixes, infers the version and answers prefix lengths as strings', async () => {
    const res = await pool(demo, { prefixes: ['10.10.0.0/25', '10.10.0.128/25', '10.11.0.0/16'] });
    expect(res.status).toBe(201);
    expect(res.body.subnetpool).toMatchObject({
      prefixes: ['10.10.0.0/24', '10.11.0.0/16'],
      ip_version: 4,
      min_prefixlen: '8',
      max_prefixlen: '32',
      default_prefixlen: '8',
      is_default: false,
      shared: false,
      default_quota: null,
      address_scope_id: null,
      revision_number: 0,
    });
  });

  it('refuses mixed versions, bad bounds, shared or default pools from members', async () => {
    expect((await pool(demo, { prefixes: ['10.0.0.0/8', 'fd00::/48'] })).body.NeutronError).toEqual({
      type: 'PrefixVersionMismatch',
      message: 'Cannot mix IPv4 and IPv6 prefixes in a subnet pool.',
      detail: '',
    });
    expect((await pool(demo, { prefixes: ['10.0.0.0/8'], min_prefixlen: 24, max_prefixlen: 16 })).body.NeutronError.message).toBe(
      'Illegal prefix bounds: min_prefixlen=24, max_prefixlen=16.',
    );
    expect((await pool(demo, { prefixes: ['10.0.0.0/8'], max_prefixlen: 33 })).body.NeutronError.message).toBe(
      'Illegal prefix bounds: max_prefixlen=33, ip_version_max=32.',
    );
    expect((await pool(demo, { prefixes: [] })).body.NeutronError.type).toBe('EmptySubnetPoolPrefixList');
    expect((await pool(demo, { prefixes: ['10.0.0.0/8'], shared: true })).status).toBe(403);
    expect((await pool(demo, { prefixes: ['10.0.0.0/8'], is_default: true })).status).toBe(403);
    expect((await demo.post('/v2.0/subnetpools', { subnetpool: { prefixes: ['10.0.0.0/8'] } })).body.NeutronError.message).toBe(
      "Failed to parse request. Required attribute 'name' not specified",
    );
  });

  it('allocates subnets: first free block of the default length, a requested CIDR, and refuses outside the pool', async () => {
    const p = (await pool(demo, { prefixes: ['10.20.0.0/22'], default_prefixlen: 24, min_prefixlen: 24, max_prefixlen: 28 })).body.subnetpool;
    const net = await network(demo);
    const a = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: p.id } });
    expect(a.status).toBe(201);
    expect(a.body.subnet).toMatchObject({ cidr: '10.20.0.0/24', gateway_ip: '10.20.0.1', subnetpool_id: p.id });
    const b = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: p.id, prefixlen: 28 } });
    expect(b.body.subnet.cidr).toBe('10.20.1.0/28');
    const c = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: p.id, cidr: '10.20.3.0/24' } });
    expect(c.body.subnet.cidr).toBe('10.20.3.0/24');
    const taken = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: p.id, cidr: '10.20.3.0/25' } });
    expect(taken.status).toBe(500);
    expect(taken.body.NeutronError).toEqual({
      type: 'SubnetAllocationError',
      message: 'Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes.',
      detail: '',
    });
    const small = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: p.id, prefixlen: 29 } });
    expect(small.body.NeutronError.message).toBe('Unable to allocate subnet with prefix length 29, maximum allowed prefix is 28.');
    const v6 = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 6, subnetpool_id: p.id } });
    expect(v6.body.NeutronError.message).toBe('Bad subnets request: Cannot allocate IPv6 subnet from IPv4 subnet pool.');
    // The pool is in use, so it stays; the subnets' CIDRs count against it.
    const del = await demo.delete(`/v2.0/subnetpools/${p.id}`);
    expect(del.status).toBe(400);
    expect(del.body.NeutronError.message).toBe('Unable to delete subnet pool: Subnet pool has existing allocations.');
    const full = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: p.id, prefixlen: 24 } });
    expect(full.body.subnet.cidr).toBe('10.20.2.0/24');
    const none = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: p.id, prefixlen: 24 } });
    expect(none.body.NeutronError.message).toBe('Failed to allocate subnet: Insufficient prefix space to allocate subnet size /24.');
  });

  it('keeps one network on one pool per family, and pools private unless shared', async () => {
    const p = (await pool(demo, { prefixes: ['10.30.0.0/16'], default_prefixlen: 24 })).body.subnetpool;
    const net = await network(demo);
    await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr: '192.168.5.0/24' } });
    const mixed = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: p.id } });
    expect(mixed.status).toBe(400);
    expect(mixed.body.NeutronError.type).toBe('NetworkSubnetPoolAffinityError');
    const adminPool = (await pool(admin, { prefixes: ['10.40.0.0/16'] })).body.subnetpool;
    expect((await demo.get(`/v2.0/subnetpools/${adminPool.id}`)).body.NeutronError.type).toBe('SubnetPoolNotFound');
    const shared = (await pool(admin, { prefixes: ['10.41.0.0/16'], shared: true, default_prefixlen: 26 })).body.subnetpool;
    const net2 = await network(demo);
    const sub = await demo.post('/v2.0/subnets', { subnet: { network_id: net2.id, ip_version: 4, subnetpool_id: shared.id } });
    expect(sub.body.subnet.cidr).toBe('10.41.0.0/26');
  });

  it('grows prefixes but never shrinks them by update; prefix operations add and remove', async () => {
    const p = (await pool(demo, { prefixes: ['10.50.0.0/24'], default_prefixlen: 26 })).body.subnetpool;
    const shrink = await demo.put(`/v2.0/subnetpools/${p.id}`, { subnetpool: { prefixes: ['10.60.0.0/24'] } });
    expect(shrink.status).toBe(400);
    expect(shrink.body.NeutronError.message).toBe('Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes.');
    const grown = await demo.put(`/v2.0/subnetpools/${p.id}`, { subnetpool: { prefixes: ['10.50.0.0/24', '10.50.1.0/24'], name: 'renamed' } });
    expect(grown.body.subnetpool).toMatchObject({ prefixes: ['10.50.0.0/23'], name: 'renamed', revision_number: 1 });
    expect((await demo.put(`/v2.0/subnetpools/${p.id}`, { subnetpool: { shared: true } })).status).toBe(400);
    const added = await demo.put(`/v2.0/subnetpools/${p.id}/add_prefixes`, { prefixes: ['10.51.0.0/24'] });
    expect(added.body).toEqual({ prefixes: ['10.50.0.0/23', '10.51.0.0/24'] });
    const net = await network(demo);
    await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: p.id, cidr: '10.51.0.0/26' } });
    const inUse = await demo.put(`/v2.0/subnetpools/${p.id}/remove_prefixes`, { prefixes: ['10.51.0.0/24'] });
    // Neutron's message ends in '..' (sic: IllegalSubnetPoolUpdate adds a period to a reason that has one).
    expect(inUse.body.NeutronError.message).toBe('Illegal update to prefixes: One or more the prefixes to be removed is in use by a subnet..');
    const removed = await demo.put(`/v2.0/subnetpools/${p.id}/remove_prefixes`, { prefixes: ['10.50.1.0/24'] });
    expect(removed.body).toEqual({ prefixes: ['10.50.0.0/24', '10.51.0.0/24'] });
  });

  it('allows one default pool per family', async () => {
    expect((await pool(admin, { prefixes: ['10.70.0.0/16'], is_default: true })).status).toBe(201);
    const second = await pool(admin, { prefixes: ['10.71.0.0/16'], is_default: true });
    expect(second.status).toBe(400);
    expect(second.body.NeutronError.message).toBe(
      'Invalid input for operation: A default subnetpool for this IP family has already been set. Only one default may exist per IP family.',
    );
    expect((await pool(admin, { prefixes: ['fd70::/48'], is_default: true })).status).toBe(201);
  });
});
