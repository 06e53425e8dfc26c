import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { ROOT, missing } from '../support/requires.js';
import { allowIngress, bootServer, makeNetwork, netnsSuite } from '../support/dataplane.js';
import { httpGet, ping, serveHttp, sh } from '../support/netns.js';

/**
 * A local IP on the netns data plane, as the OVS agent's local_ip extension makes it in its
 * static-NAT mode: on the host of the associated port, the network's other ports reach the local
 * IP at the associated port (ARP answered with its MAC, packets to its fixed IP, the replies of
 * those connections — only those: the agent learns one reverse flow per connection — from the
 * local IP; at its fixed IP the port is reached as without a local IP); the association gone, the
 * programs go and the local IP answers nothing. With an overlay, ARP from another host claiming the local IP is dropped where it enters the network's
 * bridge (the agent's gratuitous-ARP blocker).
 *
 * The other host is a namespace of its own (`REMOTE_NS`) with a VXLAN device at its tunnel
 * endpoint, cabled to this host's underlay namespace (`UNDERLAY_NS`, where the data plane makes
 * its VXLAN devices); its L2 agent's report and a port bound to it make l2population send the
 * network's floods there, as a real second host would have them.
 */
const UNDERLAY_NS = 'e2e-lip-underlay';
const REMOTE_NS = 'e2e-lip-remote';
const UNDERLAY_IP = '198.18.77.1';
const REMOTE_IP = '198.18.77.2';
const REMOTE_HOST = 'e2e-lip-remote';

const skipAll = missing([ROOT]);
const dropNamespaces = async () => {
  for (const ns of [REMOTE_NS, UNDERLAY_NS]) await run('ip', ['netns', 'del', ns], { allowFail: true });
};
// Before the suite's cloud starts: the underlay namespace holds this host's tunnel endpoint.
beforeAll(async () => {
  if (skipAll) return;
  await dropNamespaces();
  await sh(['ip', 'netns', 'add', UNDERLAY_NS]);
  await sh(['ip', 'netns', 'add', REMOTE_NS]);
  await sh(['ip', '-n', UNDERLAY_NS, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'rm0', 'netns', REMOTE_NS]);
  for (const [ns, dev, ip] of [
    [UNDERLAY_NS, 'ul0', UNDERLAY_IP],
    [REMOTE_NS, 'rm0', REMOTE_IP],
  ]) {
    await sh(['ip', '-n', ns, 'addr', 'add', `${ip}/30`, 'dev', dev]);
    await sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  }
});
afterAll(async () => {
  if (!skipAll) await dropNamespaces();
});

const s = netnsSuite({ config: { tunnelIp: UNDERLAY_IP, underlayNetns: UNDERLAY_NS } });
const skip = s.skip;

/** The bpf filters on one hook of a link (`tc filter show` text; empty when none, or no clsact). */
const filters = async (dev: string, hook: 'ingress' | 'egress') =>
  (await run('tc', ['-n', s.names.switchNs, 'filter', 'show', 'dev', dev, hook], { allowFail: true })).stdout.trim();

describe.skipIf(skip)(`netns data plane: local IPs${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it('answers ARP, ICMP and TCP for the local IP with the associated instance; disassociation takes it away', async () => {
    const n = await makeNetwork(s, 'localip', '10.97.1.0/24');
    const owner = await bootServer(s, 'lip-owner', { network: n.net });
    const client = await bootServer(s, 'lip-client', { network: n.net });
    const lip = await s.demo.post('/v2.0/local_ips', { local_ip: { name: 'cache', network_id: n.net } });
    expect(lip.status).toBe(201);
    const address = lip.body.local_ip.local_ip_address as string;
    const assoc = await s.demo.post(`/v2.0/local_ips/${lip.body.local_ip.id}/port_associations`, { port_association: { fixed_port_id: owner.port.id } });
    expect(assoc.status).toBe(201);
    await s.dp.idle();

    // The client's tap holds both programs; the associated port's own tap holds none.
    const tap = s.names.tap(client.port.id);
    expect(await filters(tap, 'ingress')).toMatch(/bpf .*name psli[0-9a-f]{11}/);
    expect(await filters(tap, 'egress')).toMatch(/bpf .*name psle[0-9a-f]{11}/);
    expect(await filters(s.names.tap(owner.port.id), 'ingress')).not.toMatch(/psli/);

    // ICMP: the reply comes from the local IP.
    expect(await ping(address, { ns: client.ns, timeoutS: 5 })).toBe(true);
    // ARP: answered with the associated port's MAC (the agent's ARP responder, dest_mac).
    const neigh = await sh(['ip', '-n', client.ns, 'neigh', 'show', address]);
    expect(neigh).toContain(`lladdr ${owner.port.mac_address}`);
    // TCP: the associated instance answers, and sees the client's own address.
    await serveHttp(owner.ns, 8080, 'owner');
    expect(await httpGet(`http://${address}:8080/`, { ns: client.ns, timeoutS: 5 })).toBe(`owner ${client.ip}`);
    // By its fixed IP the associated instance still answers from its fixed IP: only replies of
    // connections made to the local IP are rewritten (the flows the agent learns per connection),
    // so this TCP connection works, and the instance sees the client's own address.
    expect(await httpGet(`http://${owner.ip}:8080/`, { ns: client.ns, timeoutS: 5 })).toBe(`owner ${client.ip}`);
    // A connection the associated instance opens to the client comes from its fixed IP.
    await serveHttp(client.ns, 8081, 'client');
    expect(await httpGet(`http://${client.ip}:8081/`, { ns: owner.ns, timeoutS: 5 })).toBe(`client ${owner.ip}`);
    // And by the local IP it still works, after and alongside those.
    expect(await httpGet(`http://${address}:8080/`, { ns: client.ns, timeoutS: 5 })).toBe(`owner ${client.ip}`);
    expect(await ping(address, { ns: client.ns, timeoutS: 5 })).toBe(true);

    // Disassociated: the programs are gone, the local IP answers nothing.
    const del = await s.demo.delete(`/v2.0/local_ips/${lip.body.local_ip.id}/port_associations/${owner.port.id}`);
    expect(del.status).toBe(204);
    await s.dp.idle();
    expect(await filters(tap, 'ingress')).not.toContain('psli');
    expect(await filters(tap, 'egress')).not.toContain('psle');
    await run('ip', ['-n', client.ns, 'neigh', 'flush', 'to', address], { allowFail: true });
    expect(await ping(address, { ns: client.ns, timeoutS: 2 })).toBe(false);
    expect(await httpGet(`http://${address}:8080/`, { ns: client.ns, timeoutS: 2 })).toBeNull();
    // The associated instance is still reached at its own address.
    expect(await httpGet(`http://${owner.ip}:8080/`, { ns: client.ns, timeoutS: 5 })).toBe(`owner ${client.ip}`);
  });

  it("drops other hosts' ARP claiming the local IP where it enters the network's bridge, but ARP for the associated port's own address", async () => {
    const n = await makeNetwork(s, 'localip-ovl', '10.97.2.0/24');
    await allowIngress(s, { protocol: 'icmp' });
    // The other host: its L2 agent reports its tunnel endpoint, and a port of the network is bound there.
    await s.tc.cloud.services.agents.report(
      REMOTE_HOST,
      [{ kind: 'l2', availabilityZone: null, configurations: { tunnel_types: ['vxlan'], tunneling_ip: REMOTE_IP, l2_population: true } }],
      true,
    );
    const remote = await s.admin.post('/v2.0/ports', {
      port: { network_id: n.net, name: 'lip-remote', 'binding:host_id': REMOTE_HOST, device_owner: 'compute:nova', device_id: 'e2e-lip-remote-vm' },
    });
    expect(remote.status, JSON.stringify(remote.body)).toBe(201);
    const remoteMac = remote.body.port.mac_address as string;
    const owner = await bootServer(s, 'lip-ovl-owner', { network: n.net });
    const client = await bootServer(s, 'lip-ovl-client', { network: n.net });
    const lip = await s.demo.post('/v2.0/local_ips', { local_ip: { name: 'cache2', network_id: n.net } });
    expect(lip.status).toBe(201);
    const address = lip.body.local_ip.local_ip_address as string;
    const lipId = lip.body.local_ip.id as string;
    expect((await s.demo.post(`/v2.0/local_ips/${lipId}/port_associations`, { port_association: { fixed_port_id: owner.port.id } })).status).toBe(201);
    await s.dp.idle();

    // The network's VXLAN device holds the blocker on its ingress.
    const vni = (await s.admin.get(`/v2.0/networks/${n.net}`)).body.network['provider:segmentation_id'] as number;
    const vxlan = `vxlan-${vni}`;
    expect(await filters(vxlan, 'ingress')).toMatch(/bpf .*name pslb[0-9a-f]{11}/);

    // The other host has the local IP itself (as the port a local IP is made from would), at its port's MAC.
    const rsh = (...argv: string[]) => sh(['ip', '-n', REMOTE_NS, ...argv]);
    await rsh('link', 'add', 'vx0', 'type', 'vxlan', 'id', String(vni), 'local', REMOTE_IP, 'remote', UNDERLAY_IP, 'dstport', '4789', 'dev', 'rm0');
    await rsh('link', 'set', 'vx0', 'address', remoteMac);
    await rsh('addr', 'add', `${address}/24`, 'dev', 'vx0');
    await rsh('link', 'set', 'vx0', 'up');

    // Locally the client learns the local IP at the associated port's MAC.
    const neigh = async () => (await run('ip', ['-n', client.ns, 'neigh', 'show', address])).stdout;
    expect(await ping(address, { ns: client.ns, timeoutS: 5 })).toBe(true);
    expect(await neigh()).toContain(`lladdr ${owner.port.mac_address}`);

    // The other host announces the local IP (gratuitous ARP), and asks for the client from it:
    // neither reaches the client, whose entry for the local IP stays the associated port's (either
    // would replace it: the request's sender is entered whatever the entry's age). The echo gets
    // no answer anyway, the client's reply to the local IP going to the associated port.
    await run('ip', ['netns', 'exec', REMOTE_NS, 'arping', '-U', '-c', '2', '-I', 'vx0', address], { allowFail: true });
    expect(await ping(client.ip, { ns: REMOTE_NS, timeoutS: 2 })).toBe(false);
    expect(await neigh()).toContain(`lladdr ${owner.port.mac_address}`);
    // ARP from the local IP asking for the associated port's own address passes (the exception).
    expect(await ping(owner.ip, { ns: REMOTE_NS, timeoutS: 5 })).toBe(true);
    // And locally the local IP still answers.
    expect(await ping(address, { ns: client.ns, timeoutS: 5 })).toBe(true);

    // Disassociated: the blocker is gone, and the other host's ARP reaches the client again.
    expect((await s.demo.delete(`/v2.0/local_ips/${lipId}/port_associations/${owner.port.id}`)).status).toBe(204);
    await s.dp.idle();
    expect(await filters(vxlan, 'ingress')).not.toContain('pslb');
    expect(await ping(client.ip, { ns: REMOTE_NS, timeoutS: 5 })).toBe(true);
    expect(await neigh()).toContain(`lladdr ${remoteMac}`);
  });
});
