/**
 * Port binding per host and segment (core/network/binding.ts), as ML2 with the Linux bridge
 * mechanism driver binds: a port is bound to the first segment of its network its host's agent
 * reaches, and is `binding_failed` (and stays DOWN) where none is.
 */
import { describe, expect, it } from 'vitest';
import type { AgentReport } from '../../src/core/network/agents.js';
import { cloudForFile, serviceClients } from '../support/cloud.js';
import { eventually } from '../support/dataplane.js';

const { tc, admin } = await cloudForFile('network');
const agents = tc.cloud.services.agents;
// This host's L2 agent (serve's local one) maps no physical network and builds vxlan networks.
const host = tc.cloud.services.compute.hostname;
const MAPPED = 'mapped-host';

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await get();
  for (let i = 0; i < 100 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 20));
    v = await get();
  }
  return v;
}

/** A host whose L2 agent maps physnet1 to an interface (what `agent --physical-interface-mappings` reports). */
async function mappedHost(): Promise<void> {
  const reports: AgentReport[] = [
    { kind: 'l2', availabilityZone: null, configurations: { interface_mappings: { physnet1: 'eth9' }, bridge_mappings: {}, tunnel_types: ['vxlan'] } },
  ];
  await agents.report(MAPPED, reports, true);
}

const segmentOf = async (portId: string) =>
  (await tc.cloud.services.network.store.db.selectFrom('ports').select('binding_segment_id').where('id', '=', portId).executeTakeFirstOrThrow())
    .binding_segment_id;

describe('binding a port on its host to a segment of its network', () => {
  it("fails a VLAN network's port on a host that maps none of its physical network, and binds it where one does", async () => {
    await mappedHost();
    const net = (
      await admin.post('/v2.0/networks', {
        network: { name: 'vlan-150', 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 150 },
      })
    ).body.network;
    const failed = await admin.post('/v2.0/ports', { port: { network_id: net.id, 'binding:host_id': host } });
    expect(failed.status).toBe(201);
    expect(failed.body.port).toMatchObject({ 'binding:host_id': host, 'binding:vif_type': 'binding_failed', 'binding:vif_details': {}, status: 'DOWN' });
    const good = (await admin.post('/v2.0/ports', { port: { network_id: net.id, 'binding:host_id': MAPPED } })).body.port;
    expect(good).toMatchObject({ 'binding:vif_type': 'bridge', 'binding:vif_details': { connectivity: 'l2', port_filter: true } });
    // The bound one comes up; the failed one does not (ML2's _port_provisioned refuses it).
    expect(
      (
        await until(
          () => admin.get(`/v2.0/ports/${good.id}`),
          (r) => r.body.port.status === 'ACTIVE',
        )
      ).body.port.status,
    ).toBe('ACTIVE');
    expect((await admin.get(`/v2.0/ports/${failed.body.port.id}`)).body.port.status).toBe('DOWN');
    // Any update tries the binding again (Ml2Plugin._should_bind_port): still nothing to bind to.
    const renamed = (await admin.put(`/v2.0/ports/${failed.body.port.id}`, { port: { name: 'again' } })).body.port;
    expect(renamed['binding:vif_type']).toBe('binding_failed');
    // Moved to the mapped host, it binds.
    const moved = (await admin.put(`/v2.0/ports/${failed.body.port.id}`, { port: { 'binding:host_id': MAPPED } })).body.port;
    expect(moved).toMatchObject({ 'binding:host_id': MAPPED, 'binding:vif_type': 'bridge' });
    expect(
      (
        await until(
          () => admin.get(`/v2.0/ports/${moved.id}`),
          (r) => r.body.port.status === 'ACTIVE',
        )
      ).body.port.status,
    ).toBe('ACTIVE');
  });

  it('binds a two-segment network on each host to the segment that host reaches, first in order', async () => {
    await mappedHost();
    const net = (
      await admin.post('/v2.0/networks', {
        network: {
          name: 'two-segments',
          segments: [
            { 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 151 },
            { 'provider:network_type': 'vxlan' },
          ],
        },
      })
    ).body.network;
    const segs = (await admin.get(`/v2.0/segments?network_id=${net.id}`)).body.segments as Array<{ id: string; network_type: string }>;
    const vlan = segs.find((s) => s.network_type === 'vlan')!;
    const vxlan = segs.find((s) => s.network_type === 'vxlan')!;
    const here = (await admin.post('/v2.0/ports', { port: { network_id: net.id, 'binding:host_id': host } })).body.port;
    const there = (await admin.post('/v2.0/ports', { port: { network_id: net.id, 'binding:host_id': MAPPED } })).body.port;
    expect([here['binding:vif_type'], there['binding:vif_type']]).toEqual(['bridge', 'bridge']);
    expect(await segmentOf(here.id)).toBe(vxlan.id);
    expect(await segmentOf(there.id)).toBe(vlan.id);
    // Unbound, it holds no segment.
    await admin.put(`/v2.0/ports/${there.id}`, { port: { 'binding:host_id': '' } });
    expect(await segmentOf(there.id)).toBeNull();
  });

  it('binds the public flat network on a host without a mapping for it (its routed host leg), not another flat one', async () => {
    // The seed's public network (flat on physnet public, DevStack's).
    const pub = (await admin.get('/v2.0/networks?provider:physical_network=public&provider:network_type=flat')).body.networks[0];
    const other = (
      await admin.post('/v2.0/networks', { network: { name: 'flat-other', 'provider:network_type': 'flat', 'provider:physical_network': 'physnet7' } })
    ).body.network;
    const onPub = (await admin.post('/v2.0/ports', { port: { network_id: pub.id, 'binding:host_id': host } })).body.port;
    const onOther = (await admin.post('/v2.0/ports', { port: { network_id: other.id, 'binding:host_id': host } })).body.port;
    expect(onPub['binding:vif_type']).toBe('bridge');
    expect(onOther['binding:vif_type']).toBe('binding_failed');
  });

  it("fails a server's build on a host that binds none of its network's segments, with Nova's PortBindingFailed", async () => {
    const nova = (await serviceClients(tc, 'compute')).admin;
    const imageRef = (await (await serviceClients(tc, 'image')).admin.get('/v2/images')).body.images[0].id;
    const net = (
      await admin.post('/v2.0/networks', {
        network: { name: 'vlan-152', 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 152 },
      })
    ).body.network;
    await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.152.0.0/24', ip_version: 4 } });
    const res = await nova.post('/v2.1/servers', {
      server: { name: 'unbindable', flavorRef: '1', imageRef, networks: [{ uuid: net.id }], availability_zone: `nova:${host}` },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id = res.body.server.id as string;
    const s = await eventually(
      async () => (await nova.get(`/v2.1/servers/${id}`)).body.server,
      (x) => x?.status === 'ERROR' || x?.status === 'ACTIVE',
      30_000,
    );
    expect(s.status).toBe('ERROR');
    expect(s.fault.message).toMatch(
      new RegExp(`^Build of instance ${id} aborted: Binding failed for port [0-9a-f-]{36}, please check neutron logs for more information\\.$`),
    );
  });
});
