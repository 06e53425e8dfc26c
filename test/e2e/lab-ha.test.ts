/**
 * An HA router failing over between two lab hosts with keepalived (issue 18), on the real kernel:
 * three simulated hosts (`pocketstack lab`), an API-only server and each host's `pocketstack
 * agent` on one PostgreSQL store, `max_l3_agents_per_router` 2 so the router is on host1 and
 * host2, and a server on host3 behind it. Both L3 hosts build the router (its ha- device on the
 * HA network, which crosses hosts over the VXLAN overlay; its gateway leg on the lab's public
 * switch, where every host maps `public` to its eth1) and run its keepalived; VRRP makes one the
 * master, which alone holds the interface, gateway and floating IP addresses, and the API's
 * `ha_state` says which.
 *
 * The active host is then lost: its agent is killed (SIGKILL: no more reports, nothing cleaned
 * up, as when a host crashes) and its underlay and public links are taken down (no more VRRP
 * advertisements, no more traffic in or out: what the other hosts see of a host that died or
 * dropped off the network). Stopping its keepalived instead would be a planned handover
 * (keepalived's SIGTERM sends a priority-0 advertisement, and the backup takes over at once), not
 * a loss. The backup's keepalived takes over after its master-down interval (3 advertisements
 * plus skew), its agent hears the transition at once (the VIP appearing on the ha- device) and
 * reports it, the router's ports are bound to it so host3's l2population entries follow, and the
 * server reaches its gateway again, the lab its floating IP, and the lab by SNAT. The failover
 * time (from the cut to the first reply) is printed with the timeline of each step, and what two
 * established TCP connections through the router (one to the floating IP, one out by SNAT) did.
 *
 * Before that, Neutron's HA health check (`ha_vrrp_health_check_interval`, here 1 s): each
 * keepalived runs KeepalivedTrackScript's script, which pings the gateway's next hop (the lab's
 * upstream) from the master. The master's public link alone is cut at the lab switch — its VRRP
 * over the HA network still reaches the backup — so only its check fails: after `fall 2`
 * keepalived puts its instance in FAULT, which drops its addresses (the primary VIP too, so the
 * agent reads it standby, as neutron-keepalived-state-change would), the backup stops hearing a
 * master and takes over, and traffic follows. The link comes back and the old master stays the
 * backup (its script passes once it holds no VIP, `rise 2` takes it out of FAULT, `nopreempt`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
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
import { ping, serveTcpEcho, sh, stopAll, tcpProbe } from '../support/netns.js';
import { E2E_POSTGRES, KEEPALIVED, PING, ROOT, missing, needsE2ePostgres } from '../support/requires.js';

const PG = E2E_POSTGRES;
const skip = missing([ROOT, KEEPALIVED, PING]) ?? needsE2ePostgres();

/** Fast reports and advertisements: the test waits for a failover and a dead agent. */
const AGENT_ENV = {
  POCKETSTACK_REPORT_INTERVAL: '2',
  POCKETSTACK_AGENT_DOWN_TIME: '8',
  POCKETSTACK_DATAPLANE_RESYNC_MS: '3000',
  POCKETSTACK_HA_VRRP_ADVERT_INT: process.env.LAB_HA_ADVERT_INT ?? '1',
  POCKETSTACK_CHECK_CHILD_PROCESSES_INTERVAL: '1',
  POCKETSTACK_HA_VRRP_HEALTH_CHECK_INTERVAL: '1',
  ...(process.env.LAB_HA_VRRP_VERSION ? { POCKETSTACK_HA_VRRP_VERSION: process.env.LAB_HA_VRRP_VERSION } : {}),
};

/** The upstream's address on the public switch (the lab namespace's). */
const UPSTREAM = '172.24.4.1';

/** Lines of a long-running command, each stamped when it arrives (for the failover's timeline). */
function watchLines(argv: string[]): { lines: Array<{ at: number; text: string }>; child: ChildProcess } {
  const lines: Array<{ at: number; text: string }> = [];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
  let buf = '';
  child.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push({ at: Date.now(), text: buf.slice(0, i) });
      buf = buf.slice(i + 1);
    }
  });
  child.on('error', () => undefined);
  return { lines, child };
}

describe.skipIf(skip)(`an HA router failing over between two lab hosts with keepalived${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let lab: TestLab;
  let stop: (() => Promise<void>) | undefined;
  let server: TestCloud;
  let admin: Client;
  let nova: Client;
  let hosts: LabHost[] = [];
  const watchers: ChildProcess[] = [];

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
    for (const w of watchers) w.kill('SIGKILL');
    stopAll();
    // The lost host's links are cabled again, so its namespaces come down as the others'.
    for (const h of hosts) {
      await run('ip', ['-n', LAB_NS, 'link', 'set', `h${h.index}`, 'up'], { allowFail: true });
      await run('ip', ['-n', LAB_NS, 'link', 'set', `p${h.index}`, 'up'], { allowFail: true });
    }
    await stop?.();
  });

  type HostingAgent = { host: string; alive: boolean; ha_state: string | null };
  const hosting = async (routerId: string) => (await admin.get(`/v2.0/routers/${routerId}/l3-agents`)).body.agents as HostingAgent[];
  const keepalivedPid = (h: LabHost, routerId: string): number | null => {
    const file = join(lab.hostDir(h), 'ha_confs', routerId, 'pid');
    return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : null;
  };

  it('fails over to the standby host when the active one is lost: the server reaches its gateway and the lab, the lab its floating IP', async () => {
    await eventually(
      async () => (await admin.get('/v2.0/agents?agent_type=L3%20agent')).body.agents as Array<{ alive: boolean }>,
      (l) => l.length === 3 && l.every((a) => a.alive),
    );
    const publicNet = (await admin.get('/v2.0/networks?name=public')).body.networks[0];
    const net = (await admin.post('/v2.0/networks', { network: { name: 'lab-ha' } })).body.network;
    const subnet = (await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.79.0.0/24', ip_version: 4 } })).body.subnet;
    const created = await admin.post('/v2.0/routers', { router: { name: 'lab-ha', ha: true, external_gateway_info: { network_id: publicNet.id } } });
    expect(created.status).toBe(201);
    const router = created.body.router;
    const gatewayIp = router.external_gateway_info.external_fixed_ips.find((f: { ip_address: string }) => !f.ip_address.includes(':')).ip_address as string;
    expect((await admin.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id })).status).toBe(200);

    // Scheduled to two agents (max_l3_agents_per_router), one of them elected by VRRP.
    const states = await eventually(
      () => hosting(router.id),
      (l) => l.length === 2 && l.filter((a) => a.ha_state === 'active').length === 1 && l.filter((a) => a.ha_state === 'standby').length === 1,
      60_000,
    );
    const activeName = states.find((a) => a.ha_state === 'active')!.host;
    const standbyName = states.find((a) => a.ha_state === 'standby')!.host;
    // `let`: the health check's failover below swaps them.
    let active = hosts.find((h) => h.name === activeName)!;
    let standby = hosts.find((h) => h.name === standbyName)!;
    const third = hosts.find((h) => h !== active && h !== standby)!;

    // Both hosts build the router with its ha- device and run its keepalived; only the master
    // holds the interface and gateway addresses.
    const gateway = subnet.gateway_ip as string;
    const routerNs = (h: LabHost) => new Names(h.prefix).routerNs(router.id);
    const qrAddrs = async (h: LabHost) => sh(['ip', '-n', routerNs(h), '-o', '-4', 'addr', 'show']);
    for (const h of [active, standby]) {
      expect([...(await listNamespaces()).keys()]).toContain(routerNs(h));
      // A router's ha_state is `standby` from the moment it is scheduled (Neutron's initial
      // state), so the standby host's keepalived may still be starting when the API shows it.
      const pid = await eventually(
        async () => keepalivedPid(h, router.id),
        (p) => p !== null,
        20_000,
      );
      expect(pid).not.toBeNull();
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('keepalived');
      expect(await qrAddrs(h)).toMatch(/ ha-[0-9a-f-]+ +inet 169\.254\.19[2-9]\.\d+\/18 /);
    }
    await eventually(
      () => qrAddrs(active),
      (out) => out.includes(` ${gateway}/24 `) && out.includes(` ${gatewayIp}/24 `),
      20_000,
    );
    const backupAddrs = await qrAddrs(standby);
    expect(backupAddrs).not.toContain(` ${gateway}/24 `);
    expect(backupAddrs).not.toContain(` ${gatewayIp}/24 `);

    // The standby's keepalived dies: the agent's process monitor starts it again, and it stays the backup.
    const dead = keepalivedPid(standby, router.id)!;
    process.kill(dead, 'SIGKILL');
    const respawned = await eventually(
      async () => keepalivedPid(standby, router.id),
      (pid) => pid !== null && pid !== dead && existsSync(`/proc/${pid}`),
      20_000,
    );
    expect(readFileSync(`/proc/${respawned}/cmdline`, 'utf8')).toContain('keepalived');
    expect(await qrAddrs(standby)).not.toContain(` ${gateway}/24 `);

    // A server on the third host, with a floating IP, reaches the router and the lab.
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
    for (const rule of [{ protocol: 'icmp' }, { protocol: 'tcp', port_range_min: 7000, port_range_max: 7000 }]) {
      const added = await admin.post('/v2.0/security-group-rules', {
        security_group_rule: { security_group_id: port.security_groups[0], direction: 'ingress', ethertype: 'IPv4', ...rule },
      });
      expect([201, 409]).toContain(added.status);
    }
    const fip = (await admin.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicNet.id, port_id: port.id } })).body.floatingip;
    const fipIp = fip.floating_ip_address as string;
    await eventually(
      async () => (await admin.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip.status,
      (st) => st === 'ACTIVE',
      20_000,
    );
    expect(await ping(gateway, { ns: vmNs, timeoutS: 15 })).toBe(true);
    expect(await ping(UPSTREAM, { ns: vmNs, timeoutS: 15 })).toBe(true);
    expect(await ping(fipIp, { ns: LAB_NS, timeoutS: 15 })).toBe(true);

    // The health check: both hosts wrote KeepalivedTrackScript's script, pinging the upstream.
    for (const h of [active, standby]) {
      const dir = join(lab.hostDir(h), 'ha_confs', router.id);
      const scripts = readdirSync(dir).filter((f) => /^ha_check_script_\d+\.sh$/.test(f));
      expect(scripts).toHaveLength(1);
      expect(readFileSync(join(dir, scripts[0]), 'utf8')).toContain(`ping -c 1 -w 1 ${UPSTREAM} `);
      expect(readFileSync(join(dir, 'keepalived.conf'), 'utf8')).toMatch(/track_script \{\s+ha_health_check_\d+\s+\}/);
    }
    // The master's gateway becomes unreachable from its side only: its public link is cut at the
    // lab switch (its HA network over the underlay stays up, so VRRP still crosses). Its check
    // fails, keepalived takes it to FAULT, and the standby becomes the master.
    const checkCutAt = Date.now();
    await run('ip', ['-n', LAB_NS, 'link', 'set', `p${active.index}`, 'down']);
    const checked = await eventually(
      () => hosting(router.id),
      (l) => l.find((a) => a.host === standby.name)?.ha_state === 'active' && l.find((a) => a.host === active.name)?.ha_state === 'standby',
      30_000,
    );
    const checkMovedMs = Date.now() - checkCutAt;
    expect(checked.every((a) => a.alive)).toBe(true);
    expect(await qrAddrs(active)).not.toContain(` ${gateway}/24 `);
    expect(await qrAddrs(standby)).toContain(` ${gatewayIp}/24 `);
    // Traffic follows: the server's SNAT to the lab and the lab's floating IP go through the new master.
    expect(await ping(UPSTREAM, { ns: vmNs, timeoutS: 15 })).toBe(true);
    expect(await ping(fipIp, { ns: LAB_NS, timeoutS: 15 })).toBe(true);
    // The link comes back: the old master leaves FAULT as a backup and the new one keeps the router.
    await run('ip', ['-n', LAB_NS, 'link', 'set', `p${active.index}`, 'up']);
    [active, standby] = [standby, active];
    // Time for `rise 2` at the 1 s interval, and for a preemption nopreempt must prevent.
    await new Promise((r) => setTimeout(r, 4000));
    const kept = await hosting(router.id);
    expect(kept.find((a) => a.host === active.name)?.ha_state).toBe('active');
    expect(kept.find((a) => a.host === standby.name)?.ha_state).toBe('standby');
    expect(await qrAddrs(standby)).not.toContain(` ${gateway}/24 `);

    // Two established TCP connections through the master: the lab to the server's floating IP
    // (DNAT) and the server to the lab (SNAT).
    await serveTcpEcho(vmNs, 7000);
    await serveTcpEcho(LAB_NS, 7001);
    const inbound = await tcpProbe(LAB_NS, fipIp, 7000);
    const outbound = await tcpProbe(vmNs, UPSTREAM, 7001);
    expect(await inbound.send('in-0')).toBe('in-0');
    expect(await outbound.send('out-0')).toBe('out-0');

    // The timeline: keepalived's transition on the standby (the interface address appears on
    // its qr- device), the API's ha_state and the interface port's binding, host3's forwarding
    // entry for the router's MAC.
    const qr = (await admin.get(`/v2.0/ports?device_id=${router.id}&device_owner=network:ha_router_replicated_interface`)).body.ports[0];
    const addrWatch = watchLines(['ip', '-n', routerNs(standby), '-o', 'monitor', 'address']);
    const fdbWatch = watchLines(['bridge', '-n', new Names(third.prefix).switchNs, 'monitor', 'fdb']);
    watchers.push(addrWatch.child, fdbWatch.child);
    const apiSeen: { active?: number; bound?: number } = {};
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [agents, p] = await Promise.all([hosting(router.id), admin.get(`/v2.0/ports/${qr.id}`)]);
        const now = Date.now();
        if (apiSeen.active === undefined && agents.find((a) => a.host === standby.name)?.ha_state === 'active') apiSeen.active = now;
        if (apiSeen.bound === undefined && p.body.port['binding:host_id'] === standby.name) apiSeen.bound = now;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));

    // The active host is lost.
    const cutAt = Date.now();
    lab.agents[active.index - 1].child.kill('SIGKILL');
    await run('ip', ['-n', LAB_NS, 'link', 'set', `h${active.index}`, 'down']);
    await run('ip', ['-n', LAB_NS, 'link', 'set', `p${active.index}`, 'down']);
    const [inside, outside] = await Promise.all([
      startProber([gateway, UPSTREAM], { ns: vmNs, timeoutS: 60, intervalS: 0.1 }),
      startProber([fipIp], { ns: LAB_NS, timeoutS: 60, intervalS: 0.1 }),
    ]);
    const replies = new Map([...(await inside.result), ...(await outside.result)]);
    sampling = false;
    await sampler;
    for (const [addr, r] of replies) expect(r.at, `nothing answered from ${addr} again`).not.toBeNull();
    const failoverMs = Math.round(replies.get(gateway)!.at! - cutAt);

    // What the established connections did: each sends a line and is counted lost unless it
    // comes back (tcp_probe waits 1.5 s a line; a few tries cover TCP's retransmission backoff).
    const survives = async (probe: { send(line: string): Promise<string> }, tag: string) => {
      for (let i = 1; i <= 6; i++) {
        const got = await probe.send(`${tag}-${i}`);
        if (got.includes(`${tag}-`)) return true;
        if (got === 'CLOSED') return false;
      }
      return false;
    };
    const flows = { inbound: await survives(inbound, 'in'), outbound: await survives(outbound, 'out') };
    inbound.close();
    outbound.close();

    // keepalived made the standby the master: it holds the addresses, and the API says so.
    const now = await qrAddrs(standby);
    expect(now).toContain(` ${gateway}/24 `);
    expect(now).toContain(` ${gatewayIp}/24 `);
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
    // The router's interface and gateway ports now live on the new master (l2population follows).
    expect((await admin.get(`/v2.0/ports/${qr.id}`)).body.port['binding:host_id']).toBe(standby.name);
    const qg = (await admin.get(`/v2.0/ports?device_id=${router.id}&device_owner=network:router_gateway`)).body.ports[0];
    expect(qg['binding:host_id']).toBe(standby.name);

    const since = (at: number | undefined) => (at === undefined ? 'never' : `${Math.round(at - cutAt)} ms`);
    const added = (text: string) => addrWatch.lines.find((l) => l.at >= cutAt && !l.text.startsWith('Deleted') && l.text.includes(text))?.at;
    const primaryAt = added(' 169.254.0.');
    const vipAt = added(` ${gateway}/24 `);
    const mac = (qr.mac_address as string).toLowerCase();
    const fdbAt = fdbWatch.lines.find((l) => l.at >= cutAt && l.text.includes(mac) && l.text.includes(standby.tunnelIp))?.at;
    process.stdout.write(
      [
        `HA health check (interval ${AGENT_ENV.POCKETSTACK_HA_VRRP_HEALTH_CHECK_INTERVAL} s): ha_state moved ${checkMovedMs} ms after the master's public link was cut (API polled)`,
        `HA router failover (${active.name} lost → ${standby.name}, advert_int ${AGENT_ENV.POCKETSTACK_HA_VRRP_ADVERT_INT}): ${failoverMs} ms from the cut to the first reply from ${gateway}`,
        `  keepalived MASTER on ${standby.name}: primary VIP up ${since(primaryAt)}, interface address up ${since(vipAt)}`,
        `  API ha_state active: ${since(apiSeen.active)}; interface port bound there: ${since(apiSeen.bound)}`,
        `  ${third.name}'s forwarding entry for the router's MAC → ${standby.tunnelIp}: ${since(fdbAt)}`,
        `  first replies: gateway ${since(replies.get(gateway)!.at!)}, lab by SNAT ${since(replies.get(UPSTREAM)!.at!)}, floating IP from the lab ${since(replies.get(fipIp)!.at!)}`,
        `  established TCP through the router (no conntrackd): to the floating IP ${flows.inbound ? 'survived' : 'lost'}, out by SNAT ${flows.outbound ? 'survived' : 'lost'}`,
        '',
      ].join('\n'),
    );
    expect(failoverMs).toBeLessThan(30_000);
  });
});
