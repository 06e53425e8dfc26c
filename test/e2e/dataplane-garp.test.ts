import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { eventually, makeNetwork, names, netnsSuite } from '../support/dataplane.js';
import { capture, ping } from '../support/netns.js';

/**
 * Gratuitous ARPs on the netns data plane, on the real kernel: a router announces a floating IP
 * as it lands on its gateway leg, as Neutron's L3 agent does (ip_lib.send_ip_addr_adv_notif:
 * `arping -U` and `arping -A`, three rounds), so what the public segment holds for the address
 * follows it when it moves to another router. Seen from the public network's side: a capture on
 * the switch end of the host's leg, and the host's own neighbour table, which is never written by
 * the data plane — it learns the move from the announcement alone, without sending anything.
 */
const s = netnsSuite();
const skip = s.skip;
let publicId: string;

beforeAll(async () => {
  if (skip) return;
  publicId = (await s.demo.get('/v2.0/networks?name=public')).body.networks[0].id;
});

const esc = (x: string) => x.replaceAll('.', '\\.');

/** The host's neighbour entry for `ip` on its public leg: `<mac> <state>`, or '' when it has none. */
const hostNeighbour = async (ip: string): Promise<string> => {
  const r = await run('ip', ['-j', 'neigh', 'show', 'to', ip, 'dev', names.hostLeg(publicId)], { allowFail: true });
  const e = (JSON.parse(r.stdout || '[]') as Array<{ lladdr?: string; state?: string[] }>)[0];
  return e ? `${e.lladdr ?? ''} ${(e.state ?? []).join(',')}` : '';
};

describe.skipIf(skip)(`netns data plane: gratuitous ARPs for a router's addresses${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it('announces a floating IP from the router that takes it, on association and again when it moves to another router', async () => {
    // Two routers on public, each with one tenant network and a port on it.
    const sides = [];
    for (const [i, cidr] of [
      [1, '10.93.1.0/24'],
      [2, '10.93.2.0/24'],
    ] as const) {
      const net = await makeNetwork(s, `garp${i}`, cidr);
      const router = (await s.demo.post('/v2.0/routers', { router: { name: `garp-r${i}`, external_gateway_info: { network_id: publicId } } })).body.router;
      expect((await s.demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: net.subnet })).status).toBe(200);
      const port = (await s.demo.post('/v2.0/ports', { port: { network_id: net.net, name: `garp-p${i}` } })).body.port;
      const gw = (await s.admin.get(`/v2.0/ports?device_id=${router.id}&device_owner=network:router_gateway`)).body.ports[0];
      sides.push({ router, port, mac: gw.mac_address as string, gwIp: gw.fixed_ips.find((f: any) => f.ip_address.includes('.')).ip_address as string });
    }
    await s.dp.idle();
    const [r1, r2] = sides;

    const tap = capture(names.switchNs, names.hostLegSwitchEnd(publicId));
    try {
      await tap.ready;
      const requests = (mac: string, ip: string) =>
        tap.out().match(new RegExp(`^.*${mac} > ff:ff:ff:ff:ff:ff, ethertype ARP.*Request who-has ${esc(ip)} .*tell ${esc(ip)},.*$`, 'gm')) ?? [];
      const replies = (mac: string, ip: string) =>
        tap.out().match(new RegExp(`^.*${mac} > ff:ff:ff:ff:ff:ff, ethertype ARP.*Reply ${esc(ip)} is-at ${mac},.*$`, 'gm')) ?? [];

      const fip = (await s.demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: r1.port.id } })).body.floatingip;
      const ip = fip.floating_ip_address as string;
      await s.dp.idle();
      // Router 1 announces it from its gateway leg: an unsolicited request and an unsolicited reply.
      await eventually(
        async () => requests(r1.mac, ip).length > 0 && replies(r1.mac, ip).length > 0,
        (v) => v,
        10_000,
      );
      expect(requests(r1.mac, ip).length).toBeGreaterThan(0);
      expect(replies(r1.mac, ip).length).toBeGreaterThan(0);

      // The host resolves the address (its ping is DNATed to a port no machine holds: no answer,
      // but the ARP exchange gives the host an entry for router 1).
      await ping(ip, { timeoutS: 1 });
      expect(
        await eventually(
          () => hostNeighbour(ip),
          (v) => v.startsWith(`${r1.mac} `),
        ),
      ).toMatch(new RegExp(`^${r1.mac} `));

      // Moved behind router 2: router 2 announces it (three rounds, 2 s apart), and the host's
      // entry follows without the host asking — no traffic to the address until it has.
      expect((await s.demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: r2.port.id } })).status).toBe(200);
      await s.dp.idle();
      expect(
        await eventually(
          () => hostNeighbour(ip),
          (v) => v.startsWith(`${r2.mac} `),
          10_000,
        ),
      ).toMatch(new RegExp(`^${r2.mac} `));
      await eventually(
        async () => requests(r2.mac, ip).length >= 3 && replies(r2.mac, ip).length >= 3,
        (v) => v,
        20_000,
      );
      expect(requests(r2.mac, ip)).toHaveLength(3);
      expect(replies(r2.mac, ip)).toHaveLength(3);

      // The routers' own gateway addresses were announced when they were added (before this
      // capture); a router added now announces its gateway address.
      const r3 = (await s.demo.post('/v2.0/routers', { router: { name: 'garp-r3', external_gateway_info: { network_id: publicId } } })).body.router;
      await s.dp.idle();
      const gw3 = (await s.admin.get(`/v2.0/ports?device_id=${r3.id}&device_owner=network:router_gateway`)).body.ports[0];
      const gw3Ip = gw3.fixed_ips.find((f: any) => f.ip_address.includes('.')).ip_address as string;
      expect(
        await eventually(
          async () => requests(gw3.mac_address, gw3Ip).length,
          (n) => n > 0,
          10_000,
        ),
      ).toBeGreaterThan(0);
      await s.demo.delete(`/v2.0/floatingips/${fip.id}`);
      await s.demo.delete(`/v2.0/routers/${r3.id}`);
    } finally {
      tap.proc.kill();
    }
  });
});
