import { describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { bootServer, makeNetwork, netnsSuite } from '../support/dataplane.js';
import { httpGet, ping, serveHttp, sh } from '../support/netns.js';

/**
 * A local IP on the netns data plane, as the OVS agent's local_ip extension makes it in its
 * static-NAT mode: on the host of the associated port, the network's other ports reach the local
 * IP at the associated port (ARP answered with its MAC, packets to its fixed IP, replies from the
 * local IP); the association gone, the programs go and the local IP answers nothing.
 */
const s = netnsSuite();
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
});
