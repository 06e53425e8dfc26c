/**
 * Port binding per host and segment (core/network/binding.ts), as ML2 with the Linux bridge
 * mechanism driver binds: a port is bound to the first segment of its network its host's live
 * agent reaches, and is `binding_failed` (and stays DOWN) where none is, where no live agent
 * runs, and for a vnic_type other than `normal`.
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
    // A forced host carries no retry information: the RescheduledException's reason (the
    // PortBindingFailed text) is the fault, not a BuildAbortException's "Build of instance … aborted".
    expect(s.fault).toMatchObject({ code: 500 });
    expect(s.fault.message).toMatch(/^Binding failed for port [0-9a-f-]{36}, please check neutron logs for more information\.$/);
    expect((await admin.get(`/v2.0/ports?device_id=${id}`)).body.ports).toEqual([]);
  });
});

describe('binding only where a live Linux bridge agent runs, for the vnic_type it supports', () => {
  const store = () => tc.cloud.services.network.store.db;
  const l2 = async (on: string) => (await admin.get(`/v2.0/agents?agent_type=Linux%20bridge%20agent&host=${on}`)).body.agents[0];
  /** A host's L2 agent reporting (what `pocketstack agent --host` sends with its heartbeat). */
  const report = (name: string) =>
    agents.report(
      name,
      [{ kind: 'l2', availabilityZone: null, configurations: { interface_mappings: {}, bridge_mappings: {}, tunnel_types: ['vxlan'] } }],
      false,
    );
  /** The agent last heard from two agent_down_times ago (its process stopped reporting). */
  const silence = async (name: string) => {
    const past = new Date(Date.now() - 2 * agents.downTimeS * 1000).toISOString();
    await store().updateTable('agents').set({ heartbeat_timestamp: past }).where('host', '=', name).execute();
  };
  let net = '';
  const port = async (body: Record<string, unknown>) => {
    const res = await admin.post('/v2.0/ports', { port: { network_id: net, ...body } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.port;
  };

  it('fails on a host that runs no L2 agent', async () => {
    net = (await admin.post('/v2.0/networks', { network: { name: 'agents-bind' } })).body.network.id;
    await admin.post('/v2.0/subnets', { subnet: { network_id: net, cidr: '10.153.0.0/24', ip_version: 4 } });
    expect(await l2('no-agent-host')).toBeUndefined();
    const p = await port({ 'binding:host_id': 'no-agent-host' });
    expect(p).toMatchObject({ 'binding:host_id': 'no-agent-host', 'binding:vif_type': 'binding_failed', 'binding:vif_details': {}, status: 'DOWN' });
    // Unbound, nothing is tried.
    expect((await port({}))['binding:vif_type']).toBe('unbound');
  });

  it("fails on a host whose agent is dead, and binds on the next update once it reports again (not at its revival: that is OVS's only)", async () => {
    await report('dead-host');
    expect((await port({ 'binding:host_id': 'dead-host' }))['binding:vif_type']).toBe('bridge');
    await silence('dead-host');
    expect(await l2('dead-host')).toMatchObject({ alive: false });
    const p = await port({ 'binding:host_id': 'dead-host' });
    expect(p).toMatchObject({ 'binding:vif_type': 'binding_failed', status: 'DOWN' });
    // The agent reports again (revived): ML2 retries failed bindings on revival only for the
    // Open vSwitch agent (Ml2Plugin._rebind_on_revive_agent_types); a Linux bridge port stays failed...
    await report('dead-host');
    expect(await l2('dead-host')).toMatchObject({ alive: true });
    expect((await admin.get(`/v2.0/ports/${p.id}`)).body.port['binding:vif_type']).toBe('binding_failed');
    // ...until any update binds it again (_should_bind_port).
    const again = (await admin.put(`/v2.0/ports/${p.id}`, { port: { name: 'after-revival' } })).body.port;
    expect(again['binding:vif_type']).toBe('bridge');
  });

  it('binds again when binding:profile changes (the port DOWN until its agent reports it), and not when the same profile comes again', async () => {
    await report('profile-host');
    const p = await port({ 'binding:host_id': 'profile-host', 'binding:profile': { a: 1, b: 2 } });
    expect(p['binding:vif_type']).toBe('bridge');
    // Only the store's status moves: the agent here is a report, not a data plane.
    await store().updateTable('ports').set({ status: 'ACTIVE' }).where('id', '=', p.id).execute();
    // The same profile (in another key order it is the same dict): no change, nothing bound again.
    const same = (await admin.put(`/v2.0/ports/${p.id}`, { port: { 'binding:profile': { b: 2, a: 1 } } })).body.port;
    expect(same).toMatchObject({ 'binding:vif_type': 'bridge', status: 'ACTIVE' });
    // The agent died since: a new profile binds again, which fails now.
    await silence('profile-host');
    const changed = (await admin.put(`/v2.0/ports/${p.id}`, { port: { 'binding:profile': { migrating_to: 'elsewhere' } } })).body.port;
    expect(changed).toMatchObject({ 'binding:profile': { migrating_to: 'elsewhere' }, 'binding:vif_type': 'binding_failed', status: 'DOWN' });
    // Back, with the profile cleared (null is {}): bound again.
    await report('profile-host');
    const cleared = (await admin.put(`/v2.0/ports/${p.id}`, { port: { 'binding:profile': null } })).body.port;
    expect(cleared).toMatchObject({ 'binding:profile': {}, 'binding:vif_type': 'bridge', status: 'DOWN' });
  });

  it('binds on a host whose live agent is administratively down (bind_port checks liveness only)', async () => {
    await report('disabled-host');
    const agent = await l2('disabled-host');
    const put = await admin.put(`/v2.0/agents/${agent.id}`, { agent: { admin_state_up: false } });
    expect(put.body.agent).toMatchObject({ admin_state_up: false, alive: true });
    expect((await port({ 'binding:host_id': 'disabled-host' }))['binding:vif_type']).toBe('bridge');
  });

  it("binds a router's port that failed while its host's agents were dead once its L3 agent revives and syncs the router", async () => {
    const name = 'router-host';
    const reportAll = (start: boolean) =>
      agents.report(
        name,
        [
          { kind: 'l2', availabilityZone: null, configurations: { interface_mappings: {}, bridge_mappings: {}, tunnel_types: ['vxlan'] } },
          { kind: 'l3', availabilityZone: 'nova', configurations: { agent_mode: 'legacy' } },
        ],
        start,
      );
    await reportAll(true);
    const l3 = (await admin.get(`/v2.0/agents?agent_type=L3%20agent&host=${name}`)).body.agents[0];
    // A router without a gateway is not scheduled by itself: the admin puts it on this host's agent.
    const router = (await admin.post('/v2.0/routers', { router: { name: 'on-router-host' } })).body.router;
    expect((await admin.post(`/v2.0/agents/${l3.id}/l3-routers`, { router_id: router.id })).status).toBe(201);
    await silence(name);
    const sub = (await admin.get(`/v2.0/subnets?network_id=${net}`)).body.subnets[0].id;
    const added = await admin.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub });
    expect(added.status).toBe(200);
    const intf = added.body.port_id as string;
    // The router's update reaches its (dead) agent's host: the binding fails there.
    const failedPort = await until(
      async () => (await admin.get(`/v2.0/ports/${intf}`)).body.port,
      (p) => p['binding:host_id'] === name,
    );
    expect(failedPort).toMatchObject({ 'binding:host_id': name, 'binding:vif_type': 'binding_failed', status: 'DOWN' });
    // The agents report again: the L3 agent's full sync binds the router's port that is not bound.
    await reportAll(false);
    expect((await admin.get(`/v2.0/ports/${intf}`)).body.port).toMatchObject({ 'binding:host_id': name, 'binding:vif_type': 'bridge' });
  });

  it('fails a vnic_type the Linux bridge driver does not bind, and binds when it is normal again', async () => {
    const direct = await port({ 'binding:host_id': host, 'binding:vnic_type': 'direct' });
    expect(direct).toMatchObject({ 'binding:vnic_type': 'direct', 'binding:vif_type': 'binding_failed', status: 'DOWN' });
    const normal = (await admin.put(`/v2.0/ports/${direct.id}`, { port: { 'binding:vnic_type': 'normal' } })).body.port;
    expect(normal).toMatchObject({ 'binding:vnic_type': 'normal', 'binding:vif_type': 'bridge' });
    // A change of vnic_type binds again (_process_port_binding_attributes): macvtap fails it.
    const macvtap = (await admin.put(`/v2.0/ports/${direct.id}`, { port: { 'binding:vnic_type': 'macvtap' } })).body.port;
    expect(macvtap).toMatchObject({ 'binding:vif_type': 'binding_failed', status: 'DOWN' });
  });
});
