/**
 * HA routers (`l3-ha`) as Neutron Zed answers them (captured from the reference server with L3
 * agents registered): the admin-only `ha` attribute, the project's HA network, one HA port per
 * (router, agent), VRIDs, scheduling to max_l3_agents_per_router agents, `ha_state` per agent and
 * the election the agents report, and the clean-up. Also the calls of the Neutron Tempest
 * plugin's l3-ha tests (admin/test_routers_ha.py, test_routers.py HaRoutersTest,
 * test_routers_negative.py HaRoutersNegativeTest, test_revisions.py).
 */
import { describe, expect, it } from 'vitest';
import { hostAgentReports } from '../../src/core/network/agentreports.js';
import type { AgentReport } from '../../src/core/network/agents.js';
import { loadSnapshot } from '../../src/dataplane/netns/snapshot.js';
import { cloudForFile } from '../support/cloud.js';

const { tc, admin, demo } = await cloudForFile('network');
const { agents, store } = tc.cloud.services;
const host = tc.cloud.services.compute.hostname;

type Agent = { id: string; host: string; alive: boolean; ha_state: string | null };
type Port = { id: string; device_owner: string; tenant_id: string; name: string; 'binding:host_id': string; fixed_ips: Array<{ ip_address: string }> };

const probe = (await demo.post('/v2.0/networks', { network: { name: 'probe' } })).body.network;
await demo.delete(`/v2.0/networks/${probe.id}`);
const demoProject: string = probe.project_id;

/** Another host's agents reporting (what `pocketstack agent --host` sends). */
async function otherHost(name: string): Promise<void> {
  const reports: AgentReport[] = [
    { kind: 'l2', availabilityZone: null, configurations: {} },
    { kind: 'dhcp', availabilityZone: 'nova', configurations: {} },
    { kind: 'l3', availabilityZone: 'nova', configurations: { agent_mode: 'legacy' } },
    { kind: 'metadata', availabilityZone: null, configurations: {} },
  ];
  await agents.report(name, reports, true);
}

const l3agents = async (routerId: string): Promise<Agent[]> => (await admin.get(`/v2.0/routers/${routerId}/l3-agents`)).body.agents;
const haPorts = async (routerId: string): Promise<Port[]> =>
  (await admin.get(`/v2.0/ports?device_id=${routerId}&device_owner=network:router_ha_interface`)).body.ports;
const haNetworks = async (project: string) => (await admin.get(`/v2.0/networks?name=${encodeURIComponent(`HA network tenant ${project}`)}`)).body.networks;
const vrids = async () => (await store.db.selectFrom('ha_router_vrid_allocations').selectAll().execute()).map((r) => r.vr_id);
const agentOf = async (on: string): Promise<{ id: string }> => (await admin.get(`/v2.0/agents?agent_type=L3%20agent&host=${on}`)).body.agents[0];
/** Every host's L3 agent reports its HA states, as each `pocketstack agent` does with its heartbeat. */
const everyoneReports = async (hosts: string[]) => {
  for (const h of hosts) await agents.reportHaStates(h);
};
const setHeartbeat = (on: string, agoMs: number) =>
  store.db
    .updateTable('agents')
    .set({ heartbeat_timestamp: new Date(Date.now() - agoMs).toISOString() })
    .where('host', '=', on)
    .execute();

async function haRouter(name: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown> & { id: string }> {
  const r = await admin.post('/v2.0/routers', { router: { name, ha: true, tenant_id: demoProject, ...extra } });
  expect(r.status).toBe(201);
  return r.body.router;
}

describe('l3-ha', () => {
  it('is an extension; ha is the admin’s to set and to see, false by default (l3_ha)', async () => {
    const ext = (await admin.get('/v2.0/extensions/l3-ha')).body.extension;
    expect(ext).toMatchObject({ alias: 'l3-ha', name: 'HA Router extension', description: 'Adds HA capability to routers.' });
    for (const ha of [true, false, null]) {
      const r = await demo.post('/v2.0/routers', { router: { name: 'r', ha } });
      expect(r.status).toBe(403);
      expect(r.body.NeutronError).toEqual({
        type: 'PolicyNotAuthorized',
        message: '(rule:create_router and rule:create_router:ha) is disallowed by policy',
        detail: '',
      });
    }
    const bad = await demo.post('/v2.0/routers', { router: { name: 'r', ha: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.body.NeutronError.message).toBe("Invalid input for operation: 'x' cannot be converted to boolean.");
    const legacy = (await demo.post('/v2.0/routers', { router: { name: 'legacy' } })).body.router;
    expect(legacy).not.toHaveProperty('ha');
    expect((await admin.get(`/v2.0/routers/${legacy.id}`)).body.router.ha).toBe(false);
    const put = await demo.put(`/v2.0/routers/${legacy.id}`, { router: { ha: false } });
    expect(put.status).toBe(403);
    expect(put.body.NeutronError.message).toBe('(rule:update_router and rule:update_router:ha) is disallowed by policy');
    // A legacy router's agents carry ha_state null.
    await demo.put(`/v2.0/routers/${legacy.id}`, { router: { name: 'legacy-2' } });
    let on: Agent[] = [];
    for (let i = 0; i < 100 && !on.length; i++) {
      on = await l3agents(legacy.id);
      if (!on.length) await new Promise((r) => setTimeout(r, 20));
    }
    expect(on.map((a) => [a.host, a.ha_state])).toEqual([[host, null]]);
    await demo.delete(`/v2.0/routers/${legacy.id}`);
  });

  it('makes the project’s HA network first, then an HA port and binding on up to 3 live L3 agents, and a VRID', async () => {
    for (const h of ['ha-b', 'ha-c', 'ha-d']) await otherHost(h);
    const r = await haRouter('ha1');
    expect(r).toMatchObject({ ha: true, status: 'ACTIVE', distributed: false, tenant_id: demoProject });
    const [net] = await haNetworks(demoProject);
    expect(net).toMatchObject({ tenant_id: '', project_id: '', shared: false, admin_state_up: true, 'provider:network_type': 'vxlan', mtu: 1450 });
    const subnets = (await admin.get(`/v2.0/subnets?network_id=${net.id}`)).body.subnets;
    expect(subnets).toEqual([
      expect.objectContaining({
        name: `HA subnet tenant ${demoProject}`,
        tenant_id: '',
        cidr: '169.254.192.0/18',
        enable_dhcp: false,
        gateway_ip: null,
        allocation_pools: [{ start: '169.254.192.1', end: '169.254.255.254' }],
      }),
    ]);
    // Four live L3 agents: max_l3_agents_per_router (3) of them, the least loaded.
    const ports = await haPorts(r.id);
    expect(ports).toHaveLength(3);
    for (const p of ports) {
      expect(p).toMatchObject({ tenant_id: '', name: `HA port tenant ${demoProject}`, device_id: r.id, network_id: net.id, port_security_enabled: false });
      expect(p.fixed_ips[0].ip_address).toMatch(/^169\.254\./);
    }
    const on = await l3agents(r.id);
    expect(on).toHaveLength(3);
    expect(new Set(on.map((a) => a.host)).size).toBe(3);
    // Each HA port is bound to its own agent's host.
    expect(new Set(ports.map((p) => p['binding:host_id']))).toEqual(new Set(on.map((a) => a.host)));
    const [vrid] = await vrids();
    expect(vrid).toBeGreaterThanOrEqual(1);
    expect(vrid).toBeLessThanOrEqual(254);
    // The member sees none of it: not the network, not the ports.
    expect((await demo.get(`/v2.0/networks?name=${encodeURIComponent(`HA network tenant ${demoProject}`)}`)).body.networks).toEqual([]);
    expect((await demo.get(`/v2.0/ports?device_id=${r.id}`)).body.ports).toEqual([]);
    // A second HA router of the project shares the network and takes another VRID.
    const r2 = await haRouter('ha2');
    expect(await haNetworks(demoProject)).toHaveLength(1);
    expect(new Set(await vrids()).size).toBe(2);
    await admin.delete(`/v2.0/routers/${r2.id}`);
    await admin.delete(`/v2.0/routers/${r.id}`);
  });

  it('elects one active agent, moves the router’s ports to it, and re-elects when it dies or is disabled', async () => {
    const hosts = [host, 'ha-b', 'ha-c', 'ha-d'];
    const r = await haRouter('elect');
    const sub = (
      await admin.post('/v2.0/subnets', {
        subnet: {
          network_id: (await admin.post('/v2.0/networks', { network: { name: 'in', tenant_id: demoProject } })).body.network.id,
          ip_version: 4,
          cidr: '10.61.0.0/24',
          tenant_id: demoProject,
        },
      })
    ).body.subnet;
    const intf = (await admin.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: sub.id })).body;
    const port = (await admin.get(`/v2.0/ports/${intf.port_id}`)).body.port;
    expect(port.device_owner).toBe('network:ha_router_replicated_interface');
    await everyoneReports(hosts);
    const on = await l3agents(r.id);
    const active = on.filter((a) => a.ha_state === 'active');
    expect(active).toHaveLength(1);
    expect(on.filter((a) => a.ha_state === 'standby')).toHaveLength(2);
    // The winner is the highest HA address (VRRP's tie-break at equal priority).
    const ports = await haPorts(r.id);
    const addr = (p: Port) => p.fixed_ips[0].ip_address.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    const highest = [...ports].sort((a, b) => addr(b) - addr(a))[0];
    expect(active[0].host).toBe(highest['binding:host_id']);
    expect((await admin.get(`/v2.0/ports/${intf.port_id}`)).body.port['binding:host_id']).toBe(active[0].host);
    // Each of its agents counts the replicated interface in what it reports.
    const l3 = (await hostAgentReports(store.db, agents, on[0].host, 'noop')).find((x) => x.kind === 'l3');
    expect(l3?.configurations).toMatchObject({ routers: 1, interfaces: 1 });
    // On several hosts every agent of the router builds it (netns: keepalived decides who holds its addresses).
    expect((await loadSnapshot(store)).placement?.l3.get(r.id)?.sort()).toEqual(on.map((a) => a.host).sort());
    // Reporting again changes nothing (nopreempt).
    await everyoneReports(hosts);
    expect((await l3agents(r.id)).find((a) => a.ha_state === 'active')?.host).toBe(active[0].host);

    // The active agent dies: shown standby (others live), and a live one takes over at its report.
    const first = active[0].host;
    await setHeartbeat(first, 120_000);
    const afterDeath = await l3agents(r.id);
    expect(afterDeath.find((a) => a.host === first)).toMatchObject({ alive: false, ha_state: 'standby' });
    expect(afterDeath.filter((a) => a.ha_state === 'active')).toHaveLength(0);
    await everyoneReports(hosts.filter((h) => h !== first));
    const second = (await l3agents(r.id)).filter((a) => a.ha_state === 'active');
    expect(second).toHaveLength(1);
    expect(second[0].host).not.toBe(first);
    expect((await admin.get(`/v2.0/ports/${intf.port_id}`)).body.port['binding:host_id']).toBe(second[0].host);
    // Every agent of the router still builds it (a dead one's binding stays: back, it runs as a backup).
    expect((await loadSnapshot(store)).placement?.l3.get(r.id)).toContain(second[0].host);
    // It comes back: it stays standby (nopreempt).
    await setHeartbeat(first, 0);
    await everyoneReports(hosts);
    expect((await l3agents(r.id)).find((a) => a.ha_state === 'active')?.host).toBe(second[0].host);

    // The active agent is disabled: another takes over.
    const secondId = (await agentOf(second[0].host)).id;
    await admin.put(`/v2.0/agents/${secondId}`, { agent: { admin_state_up: false } });
    await everyoneReports(hosts);
    const third = (await l3agents(r.id)).filter((a) => a.ha_state === 'active');
    expect(third).toHaveLength(1);
    expect(third[0].host).not.toBe(second[0].host);
    await admin.put(`/v2.0/agents/${secondId}`, { agent: { admin_state_up: true } });

    // Every agent dead: the active one's state is unknown.
    for (const h of hosts) await setHeartbeat(h, 120_000);
    const dead = await l3agents(r.id);
    expect(dead.find((a) => a.host === third[0].host)?.ha_state).toBe('unknown');
    expect(dead.filter((a) => a.ha_state === 'standby')).toHaveLength(2);
    for (const h of hosts) await setHeartbeat(h, 0);

    await admin.put(`/v2.0/routers/${r.id}/remove_router_interface`, { subnet_id: sub.id });
    await admin.delete(`/v2.0/routers/${r.id}`);
  });

  it('changes ha only while the router is down, moving its interfaces, agents and VRID', async () => {
    const r = (await admin.post('/v2.0/routers', { router: { name: 'convert', tenant_id: demoProject } })).body.router;
    expect(r.ha).toBe(false);
    const net = (await admin.post('/v2.0/networks', { network: { name: 'cv', tenant_id: demoProject } })).body.network.id;
    const sub = (await admin.post('/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.62.0.0/24', tenant_id: demoProject } })).body.subnet;
    const intf = (await admin.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: sub.id })).body;
    expect((await admin.get(`/v2.0/ports/${intf.port_id}`)).body.port.device_owner).toBe('network:router_interface');
    const refused = await admin.put(`/v2.0/routers/${r.id}`, { router: { ha: true } });
    expect(refused.status).toBe(400);
    expect(refused.body.NeutronError).toEqual({
      type: 'BadRequest',
      message: 'Bad router request: Cannot change HA attribute of active routers. Please set router admin_state_up to False prior to upgrade.',
      detail: '',
    });
    // ha null, or the value it has, is no change.
    expect((await admin.put(`/v2.0/routers/${r.id}`, { router: { ha: null } })).status).toBe(200);
    expect((await admin.put(`/v2.0/routers/${r.id}`, { router: { ha: false } })).status).toBe(200);
    expect(await haNetworks(demoProject)).toEqual([]);
    // Down and HA in one request (the desired state counts).
    const up = await admin.put(`/v2.0/routers/${r.id}`, { router: { ha: true, admin_state_up: false } });
    expect(up.status).toBe(200);
    expect(up.body.router).toMatchObject({ ha: true, admin_state_up: false });
    expect(up.body.router.revision_number).toBeGreaterThan(r.revision_number);
    expect((await admin.get(`/v2.0/ports/${intf.port_id}`)).body.port.device_owner).toBe('network:ha_router_replicated_interface');
    expect(await haNetworks(demoProject)).toHaveLength(1);
    expect(await haPorts(r.id)).toHaveLength(3);
    expect(await vrids()).toHaveLength(1);
    expect((await l3agents(r.id)).every((a) => a.ha_state !== null)).toBe(true);
    // And back: the HA ports, the VRID and (its last HA router gone) the HA network go.
    const back = await admin.put(`/v2.0/routers/${r.id}`, { router: { ha: false } });
    expect(back.body.router.ha).toBe(false);
    expect((await admin.get(`/v2.0/ports/${intf.port_id}`)).body.port.device_owner).toBe('network:router_interface');
    expect(await haPorts(r.id)).toEqual([]);
    expect(await vrids()).toEqual([]);
    expect(await haNetworks(demoProject)).toEqual([]);
    await admin.put(`/v2.0/routers/${r.id}/remove_router_interface`, { subnet_id: sub.id });
    await admin.delete(`/v2.0/routers/${r.id}`);
  });

  it('answers NoVRIDAvailable’s ERROR once the HA network’s 254 VRIDs are taken', async () => {
    const keep = await haRouter('keep');
    const [net] = await haNetworks(demoProject);
    const taken = new Set(await vrids());
    const fill = [];
    for (let id = 1; id <= 254; id++) if (!taken.has(id)) fill.push({ network_id: net.id, vr_id: id });
    await store.db.insertInto('ha_router_vrid_allocations').values(fill.slice(1)).execute();
    const last = await haRouter('last');
    expect(last.status).toBe('ACTIVE');
    const none = await haRouter('none');
    expect(none.status).toBe('ERROR');
    expect(await haPorts(none.id)).toEqual([]);
    await store.db
      .deleteFrom('ha_router_vrid_allocations')
      .where(
        'vr_id',
        'in',
        fill.slice(1).map((f) => f.vr_id),
      )
      .execute();
    for (const r of [keep, last, none]) expect((await admin.delete(`/v2.0/routers/${r.id}`)).status).toBe(204);
    expect(await haNetworks(demoProject)).toEqual([]);
  });

  it('deletes a router’s HA ports and VRID with it, keeping the HA network (and its segment) for the project’s other HA routers', async () => {
    const a = await haRouter('a');
    const b = await haRouter('b');
    const [net] = await haNetworks(demoProject);
    const segment = net['provider:segmentation_id'];
    expect(typeof segment).toBe('number');
    expect(await vrids()).toHaveLength(2);
    expect((await admin.delete(`/v2.0/routers/${b.id}`)).status).toBe(204);
    expect(await haPorts(b.id)).toEqual([]);
    expect(await vrids()).toHaveLength(1);
    expect((await admin.get(`/v2.0/networks/${net.id}`)).body.network['provider:segmentation_id']).toBe(segment);
    expect((await demo.get('/v2.0/routers')).body.routers.map((x: { id: string }) => x.id)).not.toContain(b.id);
    expect((await admin.delete(`/v2.0/routers/${a.id}`)).status).toBe(204);
    expect(await vrids()).toEqual([]);
    expect((await admin.get(`/v2.0/networks/${net.id}`)).status).toBe(404);
  });

  it('adds an HA router to one more agent by hand and removes it from one, with its HA port', async () => {
    await otherHost('ha-e');
    const r = await haRouter('manual');
    const on = await l3agents(r.id);
    expect(on).toHaveLength(3);
    const all = (await admin.get('/v2.0/agents?agent_type=L3%20agent&alive=true')).body.agents as Array<{ id: string; host: string }>;
    const spare = all.find((a) => !on.some((o) => o.id === a.id))!;
    expect((await admin.post(`/v2.0/agents/${spare.id}/l3-routers`, { router_id: r.id })).status).toBe(201);
    expect(await l3agents(r.id)).toHaveLength(4);
    expect(await haPorts(r.id)).toHaveLength(4);
    expect((await admin.delete(`/v2.0/agents/${spare.id}/l3-routers/${r.id}`)).status).toBe(204);
    expect((await l3agents(r.id)).map((a) => a.id).sort()).toEqual(on.map((a) => a.id).sort());
    expect((await haPorts(r.id)).map((p) => p['binding:host_id'])).not.toContain(spare.host);
    await admin.delete(`/v2.0/routers/${r.id}`);
  });

  it('schedules an under-scheduled HA router to an L3 agent as it starts (auto_schedule_routers)', async () => {
    const others = ['ha-b', 'ha-c', 'ha-d', 'ha-e'];
    const ids = await Promise.all(others.map(async (h) => (await agentOf(h)).id));
    for (const id of ids) await admin.put(`/v2.0/agents/${id}`, { agent: { admin_state_up: false } });
    const r = await haRouter('alone');
    expect((await l3agents(r.id)).map((a) => a.host)).toEqual([host]);
    for (const id of ids) await admin.put(`/v2.0/agents/${id}`, { agent: { admin_state_up: true } });
    await agents.autoScheduleHaRouters('ha-c');
    expect((await l3agents(r.id)).map((a) => a.host).sort()).toEqual(['ha-c', host].sort());
    expect(await haPorts(r.id)).toHaveLength(2);
    await admin.delete(`/v2.0/routers/${r.id}`);
  });

  it('takes the states keepalived reports (update_ha_routers_states), binding the router’s ports to the host that became active', async () => {
    const r = await haRouter('vrrp');
    const net = (await admin.post('/v2.0/networks', { network: { name: 'vrrp-in', tenant_id: demoProject } })).body.network;
    const sub = (await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr: '10.62.0.0/24', tenant_id: demoProject } })).body
      .subnet;
    const intf = (await admin.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: sub.id })).body;
    const [x, y] = (await l3agents(r.id)).map((a) => a.host);
    const states = async () => Object.fromEntries((await l3agents(r.id)).map((a) => [a.host, a.ha_state]));
    const boundTo = async () => (await admin.get(`/v2.0/ports/${intf.port_id}`)).body.port['binding:host_id'];

    expect(await agents.updateHaStates(x, new Map([[r.id, 'active']]))).toEqual([r.id]);
    expect((await states())[x]).toBe('active');
    expect(await boundTo()).toBe(x);
    // The same report again changes nothing.
    expect(await agents.updateHaStates(x, new Map([[r.id, 'active']]))).toEqual([]);
    // y's keepalived took over before x was heard of again (x lost): the ports follow y at once.
    expect(await agents.updateHaStates(y, new Map([[r.id, 'active']]))).toEqual([r.id]);
    expect(await boundTo()).toBe(y);
    expect(await agents.updateHaStates(x, new Map([[r.id, 'standby']]))).toEqual([r.id]);
    expect(await states()).toMatchObject({ [x]: 'standby', [y]: 'active' });
    // A short-lived MASTER on x (keepalived's transition, taken back): reported at once, the
    // ports follow x, then go back to y, which still holds the router, when x reports standby.
    expect(await agents.updateHaStates(x, new Map([[r.id, 'active']]))).toEqual([r.id]);
    expect(await boundTo()).toBe(x);
    expect(await agents.updateHaStates(x, new Map([[r.id, 'standby']]))).toEqual([r.id]);
    expect(await boundTo()).toBe(y);
    // A router this host does not host is ignored.
    const other = (await admin.post('/v2.0/routers', { router: { name: 'legacy-vrrp' } })).body.router;
    expect(await agents.updateHaStates(x, new Map([[other.id, 'active']]))).toEqual([]);
    for (const id of [other.id, r.id]) await admin.delete(`/v2.0/routers/${id}`);
  });

  it('runs the Tempest plugin’s l3-ha calls: create ha/legacy, update to HA, member view, revisions', async () => {
    // RoutersTestHA.resource_setup: the admin's router shows ha.
    const pre = (await admin.post('/v2.0/routers', { router: { name: 'pretest-check' } })).body.router;
    expect(pre).toHaveProperty('ha', false);
    await admin.delete(`/v2.0/routers/${pre.id}`);
    const legacy = (await admin.post('/v2.0/routers', { router: { name: 'sf', ha: false, admin_state_up: false } })).body.router;
    expect(legacy.ha).toBe(false);
    expect((await admin.put(`/v2.0/routers/${legacy.id}`, { router: { ha: true } })).body.router.ha).toBe(true);
    // HaRoutersTest.test_convert_legacy_router: the member's router (created down), made HA by the admin.
    const mine = (await demo.post('/v2.0/routers', { router: { name: 'mine', admin_state_up: false } })).body.router;
    expect(mine).not.toHaveProperty('ha');
    expect((await admin.put(`/v2.0/routers/${mine.id}`, { router: { ha: true } })).body.router.ha).toBe(true);
    expect((await admin.get(`/v2.0/routers/${mine.id}`)).body.router.ha).toBe(true);
    expect((await demo.get(`/v2.0/routers/${mine.id}`)).body.router).not.toHaveProperty('ha');
    // test_update_router_extra_attributes_bumps_revision.
    const r1 = (await admin.post('/v2.0/routers', { router: { name: 'r1', admin_state_up: true, tenant_id: demoProject, ha: false } })).body.router;
    const down = (await admin.put(`/v2.0/routers/${r1.id}`, { router: { admin_state_up: false } })).body.router;
    expect(down.revision_number).toBeGreaterThan(r1.revision_number);
    await admin.put(`/v2.0/routers/${r1.id}`, { router: { ha: true } });
    expect((await demo.get(`/v2.0/routers/${r1.id}`)).body.router.revision_number).toBeGreaterThan(down.revision_number);
    for (const r of [legacy, mine, r1]) expect((await admin.delete(`/v2.0/routers/${r.id}`)).status).toBe(204);
  });
});
