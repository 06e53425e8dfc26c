/**
 * A burst of server creates on one network, on PostgreSQL, where every request and every build
 * runs in a transaction of its own. Creates that number their rows "highest so far + 1" (the
 * servers' internal ids, instance actions and their events) take turns instead of colliding on
 * the primary key (a 500 before), and a build whose port allocation meets another writer's in
 * the IPAM (a `TransactionConflict`) is run again by its unit of work rather than failed
 * ("Build of instance … aborted: free range changed concurrently" on the lab's hosts, where
 * agents' DHCP ports are made by other processes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, type TestCloud, serviceClients, startCloud } from '../support/cloud.js';

const PG = process.env.POCKETSTACK_TEST_DATABASE_URL;
const SERVERS = 16;

describe.skipIf(!PG)(`concurrent builds on one network${PG ? '' : ' — skipped: needs POCKETSTACK_TEST_DATABASE_URL (npm test provides it as root)'}`, () => {
  let tc: TestCloud;
  let nova: Client;
  let neutron: Client;
  let imageId = '';
  let netId = '';

  beforeAll(async () => {
    tc = await startCloud();
    nova = (await serviceClients(tc, 'compute')).admin;
    neutron = (await serviceClients(tc, 'network')).admin;
    // More servers than Nova's default quota of 10.
    const project = (await tc.cloud.store.db.selectFrom('projects').select('id').where('name', '=', 'admin').executeTakeFirstOrThrow()).id;
    await nova.put(`/v2.1/os-quota-sets/${project}`, { quota_set: { instances: 100, cores: 200 } });
    imageId = (await (await serviceClients(tc, 'image')).admin.get('/v2/images')).body.images[0].id;
    netId = (await neutron.post('/v2.0/networks', { network: { name: 'burst' } })).body.network.id;
    expect((await neutron.post('/v2.0/subnets', { subnet: { network_id: netId, cidr: '10.66.0.0/24', ip_version: 4 } })).status).toBe(201);
  });
  afterAll(async () => tc?.stop());

  it('builds every server of a burst ACTIVE, each with an address of its own, while other ports are made on the network', async () => {
    const created = await Promise.all(
      Array.from({ length: SERVERS }, (_, i) =>
        nova.post('/v2.1/servers', { server: { name: `burst-${i}`, flavorRef: '1', imageRef: imageId, networks: [{ uuid: netId }] } }),
      ),
    );
    for (const r of created) expect(r.status, JSON.stringify(r.body)).toBe(202);
    const ids = created.map((r) => r.body.server.id as string);
    // Meanwhile other writers take addresses on the same network (an agent's DHCP port, other
    // users' ports): the builds' IPAM transactions collide with theirs.
    const others = await Promise.all(Array.from({ length: SERVERS }, () => neutron.post('/v2.0/ports', { port: { network_id: netId } })));
    for (const r of others) expect(r.status, JSON.stringify(r.body)).toBe(201);
    for (let i = 0; i < 6; i++) {
      await tc.cloud.services.computeManager.idle();
      await tc.cloud.services.dataplane.idle();
    }
    const servers = await Promise.all(ids.map(async (id) => (await nova.get(`/v2.1/servers/${id}`)).body.server));
    for (const s of servers) expect(s.status, JSON.stringify(s.fault ?? null)).toBe('ACTIVE');
    const ports = (await neutron.get(`/v2.0/ports?network_id=${netId}&device_owner=compute:nova`)).body.ports as Array<{
      fixed_ips: Array<{ ip_address: string }>;
    }>;
    expect(ports).toHaveLength(SERVERS);
    expect(new Set(ports.map((p) => p.fixed_ips[0].ip_address)).size).toBe(SERVERS);
  });
});
