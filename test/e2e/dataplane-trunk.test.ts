import { describe, expect, it } from 'vitest';
import { bootServer, eventually, makeNetwork, netnsSuite } from '../support/dataplane.js';
import { sh } from '../support/netns.js';

/**
 * A trunk on the netns data plane, as far as this host's kernel allows: the parent port wired
 * untagged as ever, the subport bound to the parent's host as `trunk:subport` (what the trunk
 * driver's RPC does), and the trunk's status following its subports' — ACTIVE when the kernel made
 * the VLAN, DEGRADED with the subport in ERROR and the kernel's reason when it has no 802.1Q.
 */
const s = netnsSuite();
const skip = s.skip;

describe.skipIf(skip)(`netns data plane: trunks${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it('wires the parent, binds the subport to its host and reports the trunk as the kernel made it', async () => {
    const a = await makeNetwork(s, 'trunk-parent', '10.96.1.0/24');
    const b = await makeNetwork(s, 'trunk-sub', '10.96.2.0/24');
    const parent = (await s.demo.post('/v2.0/ports', { port: { network_id: a.net } })).body.port;
    const sub = (await s.demo.post('/v2.0/ports', { port: { network_id: b.net } })).body.port;
    const trunk = (
      await s.demo.post('/v2.0/trunks', { trunk: { port_id: parent.id, sub_ports: [{ port_id: sub.id, segmentation_type: 'vlan', segmentation_id: 101 }] } })
    ).body.trunk;
    expect(trunk.status).toBe('DOWN');
    const vm = await bootServer(s, 'trunked', { port: parent.id });
    await s.dp.idle();
    const p = (await s.admin.get(`/v2.0/ports/${parent.id}`)).body.port;
    expect(p.status).toBe('ACTIVE');
    // The parent's NIC is untagged and carries its own network.
    expect(await sh(['ip', '-n', vm.ns, '-br', 'link', 'show', 'eth0'])).toContain(parent.mac_address);

    const bound = await eventually(
      async () => (await s.admin.get(`/v2.0/ports/${sub.id}`)).body.port,
      (x) => x['binding:host_id'] !== '' && x.status !== 'DOWN',
    );
    expect(bound['binding:host_id']).toBe(p['binding:host_id']);
    expect(bound.device_owner).toBe('trunk:subport');
    const t = (await s.demo.get(`/v2.0/trunks/${trunk.id}`)).body.trunk;
    const links = await sh(['ip', '-n', vm.ns, '-br', 'link']);
    if (bound.status === 'ACTIVE') {
      expect(t.status).toBe('ACTIVE');
      expect(links).toContain('eth0.101@eth0');
    } else {
      // No 802.1Q in this kernel: the subport says why, the trunk is degraded, the parent unharmed.
      expect(bound.status).toBe('ERROR');
      expect(t.status).toBe('DEGRADED');
      expect(links).not.toContain('eth0.101');
    }

    // Out of the trunk: unbound again.
    expect((await s.demo.put(`/v2.0/trunks/${trunk.id}/remove_subports`, { sub_ports: [{ port_id: sub.id }] })).status).toBe(200);
    await s.dp.idle();
    const unbound = await eventually(
      async () => (await s.admin.get(`/v2.0/ports/${sub.id}`)).body.port,
      (x) => x.device_owner === '',
    );
    expect([unbound['binding:host_id'], unbound.status]).toEqual(['', 'DOWN']);
    expect(
      await eventually(
        async () => (await s.demo.get(`/v2.0/trunks/${trunk.id}`)).body.trunk.status,
        (x) => x === 'ACTIVE',
      ),
    ).toBe('ACTIVE');
  });
});
