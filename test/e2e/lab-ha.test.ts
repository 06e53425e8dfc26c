/**
 * An HA router failing over between two lab hosts with keepalived (issue 18), on the real kernel:
 * three simulated hosts (`pocketstack lab`), an API-only server and each host's `pocketstack
 * agent` on one PostgreSQL store, `max_l3_agents_per_router` 2 so the router is on host1 and
 * host2, and a server on host3 behind it. Both L3 hosts build the router (its ha- device on the
 * HA network, which crosses hosts over the VXLAN overlay) and run its keepalived; VRRP makes one
 * the master, which alone holds the interface address, and the API's `ha_state` says which.
 *
 * The active host is then lost: its agent is killed (SIGKILL: no more reports, nothing cleaned
 * up, as when a host crashes) and its underlay link is taken down (no more VRRP advertisements,
 * no more traffic in or out: what the other hosts see of a host that died or dropped off the
 * network). Stopping its keepalived instead would be a planned handover (keepalived's SIGTERM
 * sends a priority-0 advertisement, and the backup takes over at once), not a loss. The backup's
 * keepalived takes over after its master-down interval (3 advertisements plus skew, with
 * `ha_vrrp_advert_int` 1 here), its agent reports it active (and the router's ports are bound to
 * it, so host3's l2population entries follow), and the server reaches its gateway again. The
 * failover time (from the cut to the first reply) is printed.
 *
 * The router has no external gateway here: the lab's public network is each host's own bridge
 * with a routed host leg (bridge_mappings is not built), so the failover is tested on the
 * internal interface's address.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProber } from '../../src/bench/icmp.js';
import { run } from '../../src/dataplane/netns/exec.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { LAB_NS, type LabHost } from '../../src/lab/lab.js';
import { type Client, type TestCloud, serviceClients } from '../support/cloud.js';
import { eventually } from '../support/dataplane.js';
import { type TestLab, startTestLab } from '../support/lab.js';
import { ping, sh } from '../support/netns.js';
import { E2E_POSTGRES, KEEPALIVED, ROOT, missing, needsE2ePostgres } from '../support/requires.js';

const PG = E2E_POSTGRES;
const skip = missing([ROOT, KEEPALIVED]) ?? needsE2ePostgres();

/** Fast reports and advertisements: the test waits for a failover and a dead agent. */
const AGENT_ENV = {
  POCKETSTACK_REPORT_INTERVAL: '2',
  POCKETSTACK_AGENT_DOWN_TIME: '8',
  POCKETSTACK_DATAPLANE_RESYNC_MS: '3000',
  POCKETSTACK_HA_VRRP_ADVERT_INT: '1',
};

describe.skipIf(skip)(`an HA router failing over between two lab hosts with keepalived${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let lab: TestLab;
  let stop: (() => Promise<void>) | undefined;
  let server: TestCloud;
  let admin: Client;
  let nova: Client;
  let hosts: LabHost[] = [];

  beforeAll(async () => {
    ({ lab, stop } = await startTestLab(3, {
      name: 'pocketstack_lab_ha',
      adminUrl: PG!,
      agentEnv: AGENT_ENV,
      config: { agentDownTime: 8, l3Ha: { defaultHa: false, maxAgentsPerRouter: 2, netCidr: '169.254.192.0/18' } },
    }));
    ({ server, hosts } = lab);
    admin = (await serviceClients(server, 'network')).admin;
    nova = (await serviceClients(server, 'compute')).admin;
  });

  afterAll(async () => {
    // The lost host's underlay link is cabled again, so its namespaces come down as the others'.
    for (const h of hosts) await run('ip', ['-n', LAB_NS, 'link', 'set', `h${h.index}`, 'up'], { allowFail: true });
    await stop?.();
  });

  type HostingAgent = { host: string; alive: boolean; ha_state: string | null };
  const hosting = async (routerId: string) => (await admin.get(`/v2.0/routers/${routerId}/l3-agents`)).body.agents as HostingAgent[];
  const keepalivedPid = (h: LabHost, routerId: string): number | null => {
    const file = join(lab.hostDir(h), 'ha_confs', routerId, 'pid');
    return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : null;
  };

  it('fails over to the standby host when the active one is lost, and the server reaches its gateway again', async () => {
    await eventually(
      async () => (await admin.get('/v2.0/agents?agent_type=L3%20agent')).body.agents as Array<{ alive: boolean }>,
      (l) => l.length === 3 && l.every((a) => a.alive),
    );
    const net = (await admin.post('/v2.0/networks', { network: { name: 'lab-ha' } })).body.network;
    const subnet = (await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.79.0.0/24', ip_version: 4 } })).body.subnet;
    const created = await admin.post('/v2.0/routers', { router: { name: 'lab-ha', ha: true } });
    expect(created.status).toBe(201);
    const router = created.body.router;
    expect((await admin.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id })).status).toBe(200);

    // Scheduled to two agents (max_l3_agents_per_router), one of them elected by VRRP.
    const states = await eventually(
      () => hosting(router.id),
      (l) => l.length === 2 && l.filter((a) => a.ha_state === 'active').length === 1 && l.filter((a) => a.ha_state === 'standby').length === 1,
      60_000,
    );
    const activeName = states.find((a) => a.ha_state === 'active')!.host;
    const standbyName = states.find((a) => a.ha_state === 'standby')!.host;
    const active = hosts.find((h) => h.name === activeName)!;
    const standby = hosts.find((h) => h.name === standbyName)!;
    const third = hosts.find((h) => h !== active && h !== standby)!;

    // Both hosts build the router with its ha- device and run its keepalived; only the master
    // holds the interface address.
    const gateway = subnet.gateway_ip as string;
    const qrAddrs = async (h: LabHost) => {
      const ns = new Names(h.prefix).routerNs(router.id);
      return sh(['ip', '-n', ns, '-o', '-4', 'addr', 'show']);
    };
    for (const h of [active, standby]) {
      expect([...(await listNamespaces()).keys()]).toContain(new Names(h.prefix).routerNs(router.id));
      const pid = keepalivedPid(h, router.id);
      expect(pid).not.toBeNull();
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('keepalived');
      expect(await qrAddrs(h)).toMatch(/ ha-[0-9a-f-]+ +inet 169\.254\.19[2-9]\.\d+\/18 /);
    }
    await eventually(
      () => qrAddrs(active),
      (out) => out.includes(` ${gateway}/24 `),
      20_000,
    );
    expect(await qrAddrs(standby)).not.toContain(` ${gateway}/24 `);

    // A server on the third host reaches the router's interface address.
    const imageRef = (await (await serviceClients(server, 'image')).admin.get('/v2/images')).body.images[0].id;
    const boot = await nova.post('/v2.1/servers', {
      server: { name: 'lab-ha-vm', flavorRef: '1', imageRef, networks: [{ uuid: net.id }], availability_zone: `nova:${third.name}` },
    });
    expect(boot.status).toBe(202);
    const vm = await eventually(
      async () => (await nova.get(`/v2.1/servers/${boot.body.server.id}`)).body.server,
      (x) => x?.status === 'ACTIVE' || x?.status === 'ERROR',
      90_000,
    );
    expect(vm.status, JSON.stringify(vm.fault ?? null)).toBe('ACTIVE');
    const port = (await admin.get(`/v2.0/ports?device_id=${vm.id}`)).body.ports[0];
    const vmNs = new Names(third.prefix).instanceNs(vm.id);
    const ip = port.fixed_ips[0].ip_address as string;
    await eventually(
      async () => (await run('ip', ['-n', vmNs, '-o', '-4', 'addr', 'show'], { allowFail: true })).stdout,
      (out) => out.includes(` ${ip}/`),
      40_000,
    );
    expect(await ping(gateway, { ns: vmNs, timeoutS: 15 })).toBe(true);

    // The active host is lost.
    const cutAt = Date.now();
    lab.agents[active.index - 1].child.kill('SIGKILL');
    await run('ip', ['-n', LAB_NS, 'link', 'set', `h${active.index}`, 'down']);
    const prober = await startProber([gateway], { ns: vmNs, timeoutS: 60, intervalS: 0.1 });
    const reply = (await prober.result).get(gateway)!;
    expect(reply.at, 'the server never reached its gateway again').not.toBeNull();
    const failoverMs = Math.round(reply.at! - cutAt);

    // keepalived made the standby the master: it holds the address, and the API says so.
    expect(await qrAddrs(standby)).toContain(` ${gateway}/24 `);
    const after = await eventually(
      () => hosting(router.id),
      (l) => l.find((a) => a.host === standby.name)?.ha_state === 'active',
      20_000,
    );
    expect(after.find((a) => a.host === standby.name)!.alive).toBe(true);
    // Once the lost agent is found dead (agent_down_time), the server stops calling it active.
    const settled = await eventually(
      () => hosting(router.id),
      (l) => l.find((a) => a.host === active.name)?.alive === false && l.find((a) => a.host === active.name)?.ha_state === 'standby',
      30_000,
    );
    expect(settled.map((a) => [a.host, a.ha_state]).sort()).toEqual(
      [
        [active.name, 'standby'],
        [standby.name, 'active'],
      ].sort(),
    );
    // The router's interface port now lives on the new master (l2population follows it).
    const qr = (await admin.get(`/v2.0/ports?device_id=${router.id}&device_owner=network:ha_router_replicated_interface`)).body.ports[0];
    expect(qr['binding:host_id']).toBe(standby.name);
    process.stdout.write(`HA router failover (${active.name} lost → ${standby.name}): ${failoverMs} ms from the cut to the first reply from ${gateway}\n`);
    // VRRP's master-down interval is 3 s at advert_int 1; the report and l2population follow.
    expect(failoverMs).toBeLessThan(30_000);
  });
});
