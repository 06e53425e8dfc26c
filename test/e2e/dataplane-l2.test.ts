import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teardown } from '../../src/dataplane/netns/down.js';
import type { NetnsDataPlane } from '../../src/dataplane/netns/driver.js';
import { run } from '../../src/dataplane/netns/exec.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { type Client, type TestCloud, networkClients, startCloud } from '../support/cloud.js';
import { httpGet, ping, serveHttp, serveTcpEcho, sh, stopAll, tcpProbe } from '../support/netns.js';
import { ROOT, missing } from '../support/requires.js';

/**
 * The netns data plane on the real kernel (root): L2 segments, instances, security groups,
 * convergence after tampering, restarts. Uses its own prefix (`pt`) so a developer's cloud (`ps`)
 * is never touched; everything it creates is removed in afterAll, also on failure.
 */
const PREFIX = 'pt';
const names = new Names(PREFIX);
let tc: TestCloud;
let admin: Client;
let demo: Client;
let dp: NetnsDataPlane;
let projectId: string;
let net: { id: string };
let subnet: { id: string };

const VM_A = 'a0000000-0000-4000-8000-00000000000a';
const VM_B = 'b0000000-0000-4000-8000-00000000000b';

async function boot(deviceId: string, extra: Record<string, unknown> = {}): Promise<any> {
  const res = await admin.post('/v2.0/ports', {
    port: { network_id: net.id, device_owner: 'compute:nova', device_id: deviceId, 'binding:host_id': 'pocketstack', project_id: projectId, ...extra },
  });
  if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  return res.body.port;
}

async function converge(): Promise<void> {
  await dp.idle();
}

async function status(portId: string): Promise<string> {
  return (await admin.get(`/v2.0/ports/${portId}`)).body.port.status;
}

async function startCloudNetns(dir?: string): Promise<TestCloud> {
  const t = await startCloud({ dir, config: { dataplane: 'netns', dataplanePrefix: PREFIX, dataplaneResyncMs: 60_000 } });
  dp = t.cloud.services.dataplane as NetnsDataPlane;
  return t;
}

const skip = missing([ROOT]);

beforeAll(async () => {
  if (skip) return;
  await teardown(names);
  tc = await startCloudNetns();
  ({ admin, demo } = await networkClients(tc));
  net = (await demo.post('/v2.0/networks', { network: { name: 'l2net' } })).body.network;
  subnet = (await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.90.1.0/24', ip_version: 4, name: 'l2sub' } })).body.subnet;
  projectId = (net as any).project_id;
});

afterAll(async () => {
  if (skip) return;
  stopAll();
  await tc?.cloud.close();
  await teardown(names);
  if (tc) rmSync(tc.dir, { recursive: true, force: true });
});

describe.skipIf(skip)(`netns data plane: L2, instances, security groups${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let a: any;
  let b: any;

  it('wires two instances on one network; their ports go ACTIVE and they reach each other', async () => {
    a = await boot(VM_A);
    b = await boot(VM_B);
    await converge();
    expect(await status(a.id)).toBe('ACTIVE');
    expect(await status(b.id)).toBe('ACTIVE');
    const nsA = names.instanceNs(VM_A);
    const nsB = names.instanceNs(VM_B);
    const all = await listNamespaces();
    expect(all.has(nsA) && all.has(nsB) && all.has(names.switchNs)).toBe(true);
    // The instance end has the port's MAC and fixed IP, MTU of the network, route via the gateway.
    const link = JSON.parse(await sh(['ip', '-j', '-n', nsA, 'addr', 'show', 'eth0']))[0];
    expect(link.address).toBe(a.mac_address);
    expect(link.mtu).toBe(1450);
    expect(link.addr_info.filter((x: any) => x.family === 'inet').map((x: any) => `${x.local}/${x.prefixlen}`)).toEqual([`${a.fixed_ips[0].ip_address}/24`]);
    expect(await sh(['ip', '-n', nsA, 'route', 'show', 'default'])).toContain('via 10.90.1.1 dev eth0');
    expect(await ping(b.fixed_ips[0].ip_address, { ns: nsA })).toBe(true);
  });

  it('makes no change on a second full pass (idempotent)', async () => {
    await dp.resync();
    expect(dp.lastPass).toMatchObject({ full: true, changes: 0, errors: 0 });
  });

  it('enforces security groups: only what a rule admits reaches the port', async () => {
    const sg = (await demo.post('/v2.0/security-groups', { security_group: { name: 'web' } })).body.security_group;
    for (const r of [
      { protocol: 'tcp', port_range_min: 80, port_range_max: 80 },
      { protocol: 'icmp' },
    ]) {
      const res = await demo.post('/v2.0/security-group-rules', { security_group_rule: { security_group_id: sg.id, direction: 'ingress', ethertype: 'IPv4', ...r } });
      expect(res.status).toBe(201);
    }
    expect((await demo.put(`/v2.0/ports/${b.id}`, { port: { security_groups: [sg.id] } })).status).toBe(200);
    await converge();
    const nsA = names.instanceNs(VM_A);
    const nsB = names.instanceNs(VM_B);
    await serveHttp(nsB, 80, 'web');
    await serveHttp(nsB, 8080, 'secret');
    const ipB = b.fixed_ips[0].ip_address;
    expect(await httpGet(`http://${ipB}/`, { ns: nsA })).toBe(`web ${a.fixed_ips[0].ip_address}`);
    expect(await httpGet(`http://${ipB}:8080/`, { ns: nsA, timeoutS: 1 })).toBeNull();
    // The server does listen there: the group, not the instance, refuses.
    expect(await httpGet('http://127.0.0.1:8080/', { ns: nsB })).toBe('secret 127.0.0.1');
    expect(await ping(ipB, { ns: nsA })).toBe(true);
  });

  it('drops packets from an address the port does not own (anti-spoofing) unless it is an allowed pair or port security is off', async () => {
    const nsA = names.instanceNs(VM_A);
    const ipB = b.fixed_ips[0].ip_address;
    // Tamper inside the instance: a second address the port was never given.
    await sh(['ip', '-n', nsA, 'addr', 'add', '10.90.1.250/24', 'dev', 'eth0']);
    expect(await httpGet(`http://${ipB}/`, { ns: nsA, source: '10.90.1.250', timeoutS: 1 })).toBeNull();
    // An allowed address pair makes it legitimate.
    await demo.put(`/v2.0/ports/${a.id}`, { port: { allowed_address_pairs: [{ ip_address: '10.90.1.250' }] } });
    await converge();
    await sh(['ip', '-n', nsA, 'addr', 'replace', '10.90.1.250/24', 'dev', 'eth0']);
    expect(await httpGet(`http://${ipB}/`, { ns: nsA, source: '10.90.1.250' })).toBe('web 10.90.1.250');
    await demo.put(`/v2.0/ports/${a.id}`, { port: { allowed_address_pairs: [] } });
    await converge();
    expect(await httpGet(`http://${ipB}/`, { ns: nsA, source: '10.90.1.250', timeoutS: 1 })).toBeNull();
    // Port security off: no filtering at all on that port.
    const off = await demo.put(`/v2.0/ports/${a.id}`, { port: { port_security_enabled: false, security_groups: [] } });
    expect(off.status).toBe(200);
    await converge();
    expect(await httpGet(`http://${ipB}/`, { ns: nsA, source: '10.90.1.250' })).toBe('web 10.90.1.250');
    const on = await demo.put(`/v2.0/ports/${a.id}`, { port: { port_security_enabled: true, security_groups: b.security_groups } });
    expect(on.status).toBe(200);
    await converge();
    expect(await httpGet(`http://${ipB}/`, { ns: nsA, source: '10.90.1.250', timeoutS: 1 })).toBeNull();
    // The reconciler removes the address it never wanted on the next full pass.
    await dp.resync();
    expect(await sh(['ip', '-n', nsA, '-br', 'addr', 'show', 'eth0'])).not.toContain('10.90.1.250');
  });

  it('cuts an established connection when the rule that admitted it is removed', async () => {
    const sg = (await demo.get(`/v2.0/ports/${b.id}`)).body.port.security_groups[0];
    const rule = (
      await demo.post('/v2.0/security-group-rules', {
        security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 7000, port_range_max: 7000 },
      })
    ).body.security_group_rule;
    await converge();
    const nsB = names.instanceNs(VM_B);
    await serveTcpEcho(nsB, 7000);
    const probe = await tcpProbe(names.instanceNs(VM_A), b.fixed_ips[0].ip_address, 7000);
    try {
      expect(await probe.send('one')).toBe('one');
      expect((await demo.delete(`/v2.0/security-group-rules/${rule.id}`)).status).toBe(204);
      await converge();
      expect(await probe.send('two')).toBe('TIMEOUT');
    } finally {
      probe.close();
    }
  });

  it('puts a port the kernel refuses in ERROR and keeps wiring the others', async () => {
    // A multicast MAC passes the API but no Ethernet device may use it.
    const bad = await boot('c0000000-0000-4000-8000-00000000000c', { mac_address: '01:00:5e:00:00:42' });
    const good = await boot('d0000000-0000-4000-8000-00000000000d');
    await converge();
    expect(await status(bad.id)).toBe('ERROR');
    expect(dp.portErrors.get(bad.id)).toMatch(/address|Cannot assign/i);
    expect(await status(good.id)).toBe('ACTIVE');
    expect(await ping(good.fixed_ips[0].ip_address, { ns: names.instanceNs(VM_A) })).toBe(true);
    await admin.delete(`/v2.0/ports/${bad.id}`);
    await admin.delete(`/v2.0/ports/${good.id}`);
    await converge();
    const all = await listNamespaces();
    expect(all.has(names.instanceNs('d0000000-0000-4000-8000-00000000000d'))).toBe(false);
  });

  it('rebuilds a namespace deleted behind its back, and routes a link flap flushed', async () => {
    const nsA = names.instanceNs(VM_A);
    await run('ip', ['netns', 'del', nsA]);
    // The watcher on /run/netns notices without waiting for the periodic resync.
    for (let i = 0; i < 100 && !(await listNamespaces()).has(nsA); i++) await new Promise((r) => setTimeout(r, 20));
    await converge();
    expect(await ping(b.fixed_ips[0].ip_address, { ns: nsA })).toBe(true);
    await sh(['ip', '-n', nsA, 'link', 'set', 'eth0', 'down']);
    await sh(['ip', '-n', nsA, 'link', 'set', 'eth0', 'up']);
    expect(await sh(['ip', '-n', nsA, 'route', 'show', 'default'])).toBe('');
    await dp.resync();
    expect(await sh(['ip', '-n', nsA, 'route', 'show', 'default'])).toContain('via 10.90.1.1');
    await dp.resync();
    expect(dp.lastPass).toMatchObject({ changes: 0, errors: 0 });
  });

  it('takes an administratively down port off the wire', async () => {
    await demo.put(`/v2.0/ports/${b.id}`, { port: { admin_state_up: false } });
    await converge();
    expect(await status(b.id)).toBe('DOWN');
    expect(await ping(b.fixed_ips[0].ip_address, { ns: names.instanceNs(VM_A), timeoutS: 1 })).toBe(false);
    await demo.put(`/v2.0/ports/${b.id}`, { port: { admin_state_up: true } });
    await converge();
    expect(await status(b.id)).toBe('ACTIVE');
    expect(await ping(b.fixed_ips[0].ip_address, { ns: names.instanceNs(VM_A) })).toBe(true);
  });

  it('after a restart converges with nothing duplicated and nothing changed', async () => {
    await tc.cloud.close();
    tc = await startCloudNetns(tc.dir);
    ({ admin, demo } = await networkClients(tc));
    await converge();
    expect(dp.lastPass).toMatchObject({ full: true, changes: 0, errors: 0 });
    expect(await ping(b.fixed_ips[0].ip_address, { ns: names.instanceNs(VM_A) })).toBe(true);
  });

  it('removes what a deleted port leaves behind (its namespace when it was the last)', async () => {
    await admin.delete(`/v2.0/ports/${b.id}`);
    await converge();
    expect((await listNamespaces()).has(names.instanceNs(VM_B))).toBe(false);
    const sw = await sh(['ip', '-n', names.switchNs, '-br', 'link']);
    expect(sw).not.toContain(names.tap(b.id));
    expect(await sh(['ip', 'netns', 'exec', names.switchNs, 'iptables-save'])).not.toContain(names.portIngressChain(b.id));
  });
});

describe.skipIf(skip)('pocketstack dataplane down', () => {
  it('removes every object with its prefix and nothing else', async () => {
    await run('ip', ['netns', 'add', 'pz-keep']);
    try {
      await tc.cloud.close();
      const removed = await teardown(names);
      expect(removed.namespaces).toContain(names.switchNs);
      expect(removed.namespaces).toContain(names.instanceNs(VM_A));
      const left = await listNamespaces();
      expect([...left.keys()].filter((n) => names.ownsNamespace(n))).toEqual([]);
      expect(left.has('pz-keep')).toBe(true);
      expect((await sh(['ip', '-br', 'link'])).split('\n').filter((l) => l.startsWith(`${PREFIX}x-`))).toEqual([]);
    } finally {
      await run('ip', ['netns', 'del', 'pz-keep'], { allowFail: true });
      tc = await startCloudNetns(tc.dir);
    }
  });
});
