import { describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { bootServer, eventually, makeNetwork, netnsSuite } from '../support/dataplane.js';
import { capture, ping, sh } from '../support/netns.js';

/**
 * A trunk on the netns data plane: the parent port wired untagged as ever, the subport bound to
 * the parent's host as `trunk:subport` (what the trunk driver's RPC does) and made a VLAN
 * subinterface of the parent on both sides — `eth0.101` in the instance, the subport's tap on its
 * network's bridge in the switch — so that the wire between them carries 802.1Q frames tagged
 * with the segmentation id. With 802.1Q in the kernel those are VLAN devices; without (this CI's
 * kernel has no 8021q) veth pairs joined to the parent by tc-BPF. Either way the subport carries
 * its own network's traffic, and the trunk is ACTIVE.
 */
const s = netnsSuite();
const skip = s.skip;

/** The ingress bpf filters on a link: `tc filter show` text (empty when none, or no clsact). */
const ingressFilters = async (ns: string, dev: string) =>
  (await run('tc', ['-n', ns, 'filter', 'show', 'dev', dev, 'ingress'], { allowFail: true })).stdout.trim();

describe.skipIf(skip)(`netns data plane: trunks${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it("carries the subport's network as 802.1Q VLAN 101 on the parent's wire; removing the subport or the trunk takes it down", async () => {
    const a = await makeNetwork(s, 'trunk-parent', '10.96.1.0/24');
    const b = await makeNetwork(s, 'trunk-sub', '10.96.2.0/24');
    const parent = (await s.demo.post('/v2.0/ports', { port: { network_id: a.net } })).body.port;
    const sub = (await s.demo.post('/v2.0/ports', { port: { network_id: b.net } })).body.port;
    const subIp = sub.fixed_ips[0].ip_address as string;
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
    expect([bound['binding:host_id'], bound.device_owner, bound.status]).toEqual([p['binding:host_id'], 'trunk:subport', 'ACTIVE']);
    expect((await s.demo.get(`/v2.0/trunks/${trunk.id}`)).body.trunk.status).toBe('ACTIVE');
    // The subinterface, with the subport's MAC (how a guest tells which VLAN is which).
    expect(await sh(['ip', '-n', vm.ns, '-br', 'link', 'show', 'eth0.101'])).toContain(sub.mac_address);

    // Without 802.1Q, the hidden ends of the pairs are silent: no addresses of their own (no
    // IPv6 link-local chatter onto the subport's network).
    for (const [ns, dev] of [
      [vm.ns, 'vt-eth0.101'],
      [s.names.switchNs, `vt-${s.names.tap(sub.id).slice(3)}`],
    ]) {
      const r = await run('ip', ['-n', ns, '-o', 'addr', 'show', 'dev', dev], { allowFail: true });
      if (r.code === 0) expect(r.stdout.trim()).toBe('');
    }

    // The guest configures its subinterface (Nova's network_data.json of this era has no
    // subports): the subport network's DHCP server answers on it with the subport's address.
    const lease = await run('ip', ['netns', 'exec', vm.ns, 'busybox', 'udhcpc', '-i', 'eth0.101', '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', '/bin/true'], {
      allowFail: true,
    });
    expect(`${lease.stdout}${lease.stderr}`).toContain(`lease of ${subIp} obtained`);
    await sh(['ip', '-n', vm.ns, 'addr', 'add', `${subIp}/24`, 'dev', 'eth0.101']);

    // From the instance to the subport network's DHCP port, seen tagged on the parent's tap.
    const dhcp = (await s.admin.get(`/v2.0/ports?network_id=${b.net}&device_owner=network:dhcp`)).body.ports[0];
    const dhcpIp = dhcp.fixed_ips[0].ip_address as string;
    const tap = s.names.tap(parent.id);
    const cap = capture(s.names.switchNs, tap);
    await cap.ready;
    try {
      expect(await ping(dhcpIp, { ns: vm.ns, timeoutS: 5 })).toBe(true);
      const seen = await eventually(
        async () => cap.out(),
        (t) => /vlan 101, .*ICMP echo reply/.test(t),
      );
      expect(seen).toMatch(
        new RegExp(
          `ethertype 802\\.1Q \\(0x8100\\), length \\d+: vlan 101, p 0, ethertype IPv4 \\(0x0800\\), ${subIp.replaceAll('.', '\\.')} > ${dhcpIp.replaceAll('.', '\\.')}: ICMP echo request`,
        ),
      );
      expect(seen).toMatch(/vlan 101, p 0, ethertype IPv4 .*ICMP echo reply/);
    } finally {
      cap.proc.kill();
    }
    // Converged: reading everything back (programs included) changes nothing.
    await s.dp.resync();
    expect(s.dp.lastFullPass).toMatchObject({ full: true, changes: 0, errors: 0 });
    // The parent's own network still flows untagged beside it.
    const dhcpA = (await s.admin.get(`/v2.0/ports?network_id=${a.net}&device_owner=network:dhcp`)).body.ports[0];
    expect(await ping(dhcpA.fixed_ips[0].ip_address, { ns: vm.ns, timeoutS: 5 })).toBe(true);

    // Out of the trunk: unbound again, its subinterface gone and with it its traffic.
    expect((await s.demo.put(`/v2.0/trunks/${trunk.id}/remove_subports`, { sub_ports: [{ port_id: sub.id }] })).status).toBe(200);
    await s.dp.idle();
    const unbound = await eventually(
      async () => (await s.admin.get(`/v2.0/ports/${sub.id}`)).body.port,
      (x) => x.device_owner === '',
    );
    expect([unbound['binding:host_id'], unbound.status]).toEqual(['', 'DOWN']);
    expect(await sh(['ip', '-n', vm.ns, '-br', 'link'])).not.toContain('eth0.101');
    expect(await ping(dhcpIp, { ns: vm.ns, timeoutS: 2 })).toBe(false);
    expect(await ingressFilters(s.names.switchNs, tap)).not.toContain('bpf');
    expect(
      await eventually(
        async () => (await s.demo.get(`/v2.0/trunks/${trunk.id}`)).body.trunk.status,
        (x) => x === 'ACTIVE',
      ),
    ).toBe('ACTIVE');

    // Back in, then the trunk deleted: the subinterface and the programs on the parent go.
    expect(
      (await s.demo.put(`/v2.0/trunks/${trunk.id}/add_subports`, { sub_ports: [{ port_id: sub.id, segmentation_type: 'vlan', segmentation_id: 101 }] })).status,
    ).toBe(200);
    await s.dp.idle();
    expect(await sh(['ip', '-n', vm.ns, '-br', 'link'])).toContain('eth0.101');
    expect((await s.demo.delete(`/v2.0/trunks/${trunk.id}`)).status).toBe(204);
    await s.dp.idle();
    await eventually(
      async () => (await s.admin.get(`/v2.0/ports/${sub.id}`)).body.port.device_owner,
      (x) => x === '',
    );
    const links = await sh(['ip', '-n', vm.ns, '-br', 'link']);
    expect(links).not.toContain('eth0.101');
    expect(links).not.toContain('vt-eth0.101');
    expect(await ingressFilters(vm.ns, 'eth0')).toBe('');
    expect(await ingressFilters(s.names.switchNs, tap)).toBe('');
    expect(await sh(['ip', '-n', s.names.switchNs, '-br', 'link'])).not.toContain(s.names.tap(sub.id));
  });
});
