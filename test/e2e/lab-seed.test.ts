/**
 * The seed's topology spread over three simulated hosts (issue 18), on the real kernel: the First
 * App's worker, web server and API networks with their subnets, `project_router` with the public
 * gateway and an interface on each, built by the demo project as the tutorial does. Three web
 * servers in an anti-affinity server group land on the three hosts (Nova's
 * ServerGroupAntiAffinityFilter), the worker and the API server wherever the scheduler puts them.
 * The worker reaches every web server through the router across the VXLAN overlay, and the lab
 * upstream reaches each web server by its floating IP, through whichever host holds the router.
 * Then the host holding the router is lost (its agent killed, its cables cut): with Neutron's
 * allow_automatic_l3agent_failover the router moves to a live host's L3 agent once the lost one
 * has been silent for twice agent_down_time, and the other hosts' web servers answer again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { LAB_NS, type LabHost } from '../../src/lab/lab.js';
import { type Client, type TestCloud, serviceClients } from '../support/cloud.js';
import { eventually } from '../support/dataplane.js';
import { type LabServers, type TestLab, labServers, startTestLab } from '../support/lab.js';
import { ping } from '../support/netns.js';
import { E2E_POSTGRES, ROOT, missing, needsE2ePostgres } from '../support/requires.js';

const PG = E2E_POSTGRES;
const skip = missing([ROOT]) ?? needsE2ePostgres();

interface Vm {
  id: string;
  host: string;
  ip: string;
  ns: string;
  portId: string;
}

describe.skipIf(skip)(`the seed's topology on three lab hosts${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let stop: (() => Promise<void>) | undefined;
  let server: TestCloud;
  let hosts: LabHost[] = [];
  let neutron: Client;
  let nova: Client;
  let servers: LabServers;
  let lab: TestLab;
  // What the first test built and the second one loses part of.
  let routerId = '';
  const webFloatingIps: Array<{ host: string; ip: string }> = [];

  beforeAll(async () => {
    ({ lab, stop } = await startTestLab(3, {
      name: 'pocketstack_lab_seed',
      adminUrl: PG!,
      // agent_down_time 8 s (reports every 2 s), so a lost agent is found dead within the test.
      config: { allowAutomaticL3agentFailover: true, agentDownTime: 8 },
      agentEnv: { POCKETSTACK_REPORT_INTERVAL: '2', POCKETSTACK_AGENT_DOWN_TIME: '8', POCKETSTACK_DATAPLANE_RESYNC_MS: '3000' },
    }));
    ({ server, hosts } = lab);
    neutron = (await serviceClients(server, 'network')).demo;
    nova = (await serviceClients(server, 'compute')).demo;
    servers = labServers(server);
  });

  afterAll(async () => {
    await stop?.();
  });

  it('spreads an anti-affinity group of three web servers over the three hosts; the worker reaches them through the router and the lab by their floating IPs', async () => {
    const admin = (await serviceClients(server, 'network')).admin;
    await eventually(
      async () => (await admin.get('/v2.0/agents?agent_type=L3%20agent')).body.agents as Array<{ alive: boolean }>,
      (l) => l.length === 3 && l.every((a) => a.alive),
      60_000,
    );
    // The tutorial's networks, each with its subnet, and project_router joining them to public.
    const subnets = new Map<string, string>();
    const networks = new Map<string, string>();
    for (const [tier, cidr] of [
      ['worker', '10.0.1.0/24'],
      ['webserver', '10.0.2.0/24'],
      ['api', '10.0.3.0/24'],
    ]) {
      const net = (await neutron.post('/v2.0/networks', { network: { name: `${tier}_network` } })).body.network;
      const sub = (await neutron.post('/v2.0/subnets', { subnet: { name: `${tier}_subnet`, network_id: net.id, cidr, ip_version: 4 } })).body.subnet;
      networks.set(tier, net.id);
      subnets.set(tier, sub.id);
    }
    const publicNet = (await neutron.get('/v2.0/networks?name=public')).body.networks[0];
    const router = (await neutron.post('/v2.0/routers', { router: { name: 'project_router', external_gateway_info: { network_id: publicNet.id } } })).body
      .router;
    routerId = router.id;
    for (const sub of subnets.values()) expect((await neutron.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub })).status).toBe(200);

    const group = await nova.post('/v2.1/os-server-groups', { server_group: { name: 'web', policies: ['anti-affinity'] } });
    expect(group.status).toBe(200);
    const imageRef = (await (await serviceClients(server, 'image')).admin.get('/v2/images')).body.images[0].id;
    const create = async (name: string, tier: string, hints?: Record<string, string>) => {
      const res = await nova.post('/v2.1/servers', {
        server: { name, flavorRef: '1', imageRef, networks: [{ uuid: networks.get(tier) }] },
        ...(hints ? { 'os:scheduler_hints': hints } : {}),
      });
      expect(res.status).toBe(202);
      return res.body.server.id as string;
    };
    const ids = {
      web: [] as string[],
      worker: await create('app-worker-1', 'worker'),
      api: await create('app-api-1', 'api'),
    };
    for (let k = 1; k <= 3; k++) ids.web.push(await create(`app-web-${k}`, 'webserver', { group: group.body.server_group.id }));

    const vm = async (id: string): Promise<Vm> => {
      const s = await servers.active(id);
      const host = s['OS-EXT-SRV-ATTR:host'] as string;
      const port = (await neutron.get(`/v2.0/ports?device_id=${id}`)).body.ports[0];
      expect(port['binding:host_id'] ?? host).toBe(host);
      const h = hosts.find((x) => x.name === host)!;
      return { id, host, ip: port.fixed_ips[0].ip_address, ns: new Names(h.prefix).instanceNs(id), portId: port.id };
    };
    const web = await Promise.all(ids.web.map(vm));
    const worker = await vm(ids.worker);
    const api = await vm(ids.api);

    // Anti-affinity: one web server per host.
    expect(new Set(web.map((w) => w.host))).toEqual(new Set(hosts.map((h) => h.name)));
    expect((await nova.get(`/v2.1/os-server-groups/${group.body.server_group.id}`)).body.server_group.members.sort()).toEqual([...ids.web].sort());

    for (const v of [...web, worker, api]) expect(await servers.guestAddress(v.ns, v.ip)).toContain(` ${v.ip}/`);
    // The demo project's default group admits ICMP (the tutorial opens its ports the same way).
    const groupId = (await neutron.get(`/v2.0/ports/${worker.portId}`)).body.port.security_groups[0];
    const rule = await neutron.post('/v2.0/security-group-rules', {
      security_group_rule: { security_group_id: groupId, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp' },
    });
    expect(rule.status).toBe(201);

    // The worker reaches every web server (and the API server) through project_router, wherever
    // each of them and the router run.
    for (const v of [...web, api]) expect(await ping(v.ip, { ns: worker.ns, timeoutS: 15 }), `worker (${worker.host}) → ${v.ip} (${v.host})`).toBe(true);

    // The lab upstream reaches each web server by its floating IP.
    for (const w of web) {
      const fip = (await neutron.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicNet.id, port_id: w.portId } })).body.floatingip;
      await eventually(
        async () => (await neutron.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip.status,
        (st) => st === 'ACTIVE',
        20_000,
      );
      expect(await ping(fip.floating_ip_address, { ns: LAB_NS, timeoutS: 15 }), `lab → ${fip.floating_ip_address} (${w.host})`).toBe(true);
      webFloatingIps.push({ host: w.host, ip: fip.floating_ip_address });
    }
  });

  it("moves project_router off a lost host's dead L3 agent (allow_automatic_l3agent_failover): the other hosts' web servers answer again", async () => {
    expect(routerId).not.toBe('');
    const admin = (await serviceClients(server, 'network')).admin;
    const hostsOf = async () =>
      ((await admin.get(`/v2.0/routers/${routerId}/l3-agents`)).body.agents as Array<{ host: string; alive: boolean }>).map((a) => a.host);
    const [lostName] = await hostsOf();
    const lost = hosts.find((h) => h.name === lostName)!;
    // The host is lost: its agent stops (no more reports, nothing cleaned up) and its cables are cut,
    // so what still runs there (the router's namespace, its web server) is cut off with it.
    lab.agents[lost.index - 1].child.kill('SIGKILL');
    await run('ip', ['-n', LAB_NS, 'link', 'set', `h${lost.index}`, 'down']);
    await run('ip', ['-n', LAB_NS, 'link', 'set', `p${lost.index}`, 'down']);
    // Twice agent_down_time later the server's L3 agent check moves the router to a live agent,
    // which builds it and binds its ports to its host.
    const [now] = await eventually(hostsOf, (h) => h.length === 1 && h[0] !== lostName, 60_000);
    expect(hosts.map((h) => h.name)).toContain(now);
    const gw = (await admin.get(`/v2.0/ports?device_id=${routerId}&device_owner=network:router_gateway`)).body.ports[0];
    expect(gw['binding:host_id']).toBe(now);
    const agents = (await admin.get(`/v2.0/agents?agent_type=L3%20agent&host=${lostName}`)).body.agents as Array<{ alive: boolean }>;
    expect(agents.map((a) => a.alive)).toEqual([false]);
    // The upstream follows the gateway (the new host's gratuitous ARPs) to the web servers left.
    for (const w of webFloatingIps.filter((x) => x.host !== lostName)) {
      expect(await ping(w.ip, { ns: LAB_NS, timeoutS: 30 }), `lab → ${w.ip} (${w.host}) through ${now}`).toBe(true);
    }
  });
});
