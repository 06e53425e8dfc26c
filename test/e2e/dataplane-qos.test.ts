import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { type Vm, allowIngress, bootServer, eventually, makeNetwork, netnsSuite } from '../support/dataplane.js';
import { httpGet, serveTcpEcho, stopAll, webUserData } from '../support/netns.js';

/**
 * QoS and floating IP port forwarding on the netns data plane, as a user sees them: a bandwidth
 * limit slows a server's traffic both ways and goes when the policy does, a DSCP rule marks what a
 * server sends, and a forwarding makes a floating IP's port lead to a server's port.
 */
const s = netnsSuite({ runUserData: true });
const skip = s.skip;
let publicId: string;

const converge = () => s.dp.idle();
const PY = '/usr/bin/python3';

beforeAll(async () => {
  if (skip) return;
  publicId = (await s.demo.get('/v2.0/networks?name=public')).body.networks[0].id;
  await allowIngress(
    s,
    { protocol: 'tcp', port_range_min: 80, port_range_max: 80 },
    { protocol: 'tcp', port_range_min: 7007, port_range_max: 7007 },
    { protocol: 'udp', port_range_min: 7008, port_range_max: 7008 },
  );
});

afterAll(() => stopAll());

/** Seconds `size` bytes take to go from `from` to `to`'s echo server and back (one connection). */
async function echoSeconds(from: Vm, to: Vm, size: number): Promise<number> {
  const client = [
    'import socket, threading, time',
    `s = socket.create_connection(("${to.ip}", 7007), timeout=60)`,
    `data = b"x" * ${size} + b"\\n"`,
    't = time.time()',
    'threading.Thread(target=s.sendall, args=(data,)).start()',
    'got = 0',
    'while got < len(data):',
    '    b = s.recv(65536)',
    '    if not b: break',
    '    got += len(b)',
    'print(got, time.time() - t)',
  ].join('\n');
  const r = await run('ip', ['netns', 'exec', from.ns, PY, '-c', client]);
  const [got, seconds] = r.stdout.trim().split(' ');
  expect(Number(got)).toBe(size + 1);
  return Number(seconds);
}

/** The DSCP value of a UDP datagram `from` sends to `to` (as `to`'s socket receives it), or null. */
async function dscpSeen(from: Vm, to: Vm): Promise<number | null> {
  const recv = [
    'import socket, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    's.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)',
    's.bind(("", 7008)); s.settimeout(4)',
    'print("ready", flush=True)',
    'data, anc, flags, addr = s.recvmsg(64, 64)',
    'print([c[2][0] for c in anc if c[0] == socket.IPPROTO_IP and c[1] == socket.IP_TOS][0] >> 2)',
  ].join('\n');
  const receiver = run('ip', ['netns', 'exec', to.ns, PY, '-c', recv], { allowFail: true });
  await new Promise((r) => setTimeout(r, 500));
  const send = `import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"hi", ("${to.ip}", 7008))`;
  await run('ip', ['netns', 'exec', from.ns, PY, '-c', send]);
  const r = await receiver;
  const m = /^(\d+)$/m.exec(r.stdout);
  return m ? Number(m[1]) : null;
}

describe.skipIf(skip)(`netns data plane: QoS and port forwarding${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let a: Vm;
  let b: Vm;
  let net: { net: string; subnet: string };

  it('limits a port bandwidth both ways while its policy has a limit, and not after', async () => {
    net = await makeNetwork(s, 'qos', '10.93.1.0/24');
    a = await bootServer(s, 'a', { network: net.net }, { userData: webUserData('a') });
    b = await bootServer(s, 'b', { network: net.net });
    await serveTcpEcho(a.ns, 7007);
    const size = 600_000;
    // Unlimited, the echo is near instant.
    expect(await echoSeconds(b, a, size)).toBeLessThan(1);

    // 600 kB at 2 Mbit/s (250 kB/s): 2.4 s each way it is limited, less what the policer's bucket
    // lets through at once (nftables' byte limit holds a second of the rate plus the burst).
    const policy = (await s.admin.post('/v2.0/qos/policies', { policy: { name: 'slow', shared: true } })).body.policy;
    const limit = async (direction: string) => {
      const res = await s.admin.post(`/v2.0/qos/policies/${policy.id}/bandwidth_limit_rules`, {
        bandwidth_limit_rule: { max_kbps: 2000, max_burst_kbps: 100, direction },
      });
      expect(res.status).toBe(201);
      return res.body.bandwidth_limit_rule.id as string;
    };
    // What the server sends (its egress): policed.
    const egress = await limit('egress');
    expect((await s.demo.put(`/v2.0/ports/${a.port.id}`, { port: { qos_policy_id: policy.id } })).status).toBe(200);
    await converge();
    expect((await s.demo.get(`/v2.0/ports/${a.port.id}`)).body.port.status).toBe('ACTIVE');
    const egressOnly = await echoSeconds(b, a, size);
    expect(egressOnly).toBeGreaterThan(1);
    // And what reaches it (its ingress): shaped, on top.
    await limit('ingress');
    await converge();
    expect(await echoSeconds(b, a, size)).toBeGreaterThan(egressOnly + 2);
    // A full pass reads the shaper and the table back and finds nothing to change.
    await s.dp.resync();
    expect(s.dp.lastFullPass).toMatchObject({ full: true, changes: 0, errors: 0 });
    // Only the ingress limit left: shaped, no bucket to start with.
    expect((await s.admin.delete(`/v2.0/qos/policies/${policy.id}/bandwidth_limit_rules/${egress}`)).status).toBe(204);
    await converge();
    expect(await echoSeconds(b, a, size)).toBeGreaterThan(2);

    // No policy: fast again.
    await s.demo.put(`/v2.0/ports/${a.port.id}`, { port: { qos_policy_id: null } });
    await converge();
    expect(await echoSeconds(b, a, size)).toBeLessThan(1);
  });

  it("marks what a port's server sends with its network policy's DSCP value", async () => {
    expect(await dscpSeen(a, b)).toBe(0);
    const policy = (await s.admin.post('/v2.0/qos/policies', { policy: { name: 'af31', shared: true } })).body.policy;
    expect((await s.admin.post(`/v2.0/qos/policies/${policy.id}/dscp_marking_rules`, { dscp_marking_rule: { dscp_mark: 26 } })).status).toBe(201);
    expect((await s.admin.put(`/v2.0/networks/${net.net}`, { network: { qos_policy_id: policy.id } })).status).toBe(200);
    await converge();
    expect(await dscpSeen(a, b)).toBe(26);
    // A rule change is the policy's: the new mark without touching the network or the port.
    const rule = (await s.admin.get(`/v2.0/qos/policies/${policy.id}/dscp_marking_rules`)).body.dscp_marking_rules[0];
    await s.admin.put(`/v2.0/qos/policies/${policy.id}/dscp_marking_rules/${rule.id}`, { dscp_marking_rule: { dscp_mark: 10 } });
    await converge();
    expect(await dscpSeen(a, b)).toBe(10);
    await s.admin.put(`/v2.0/networks/${net.net}`, { network: { qos_policy_id: null } });
    await converge();
    expect(await dscpSeen(a, b)).toBe(0);
  });

  it("forwards a floating IP's port to a server's port (ACTIVE), and stops when the forwarding goes", async () => {
    const router = (await s.demo.post('/v2.0/routers', { router: { name: 'pfr', external_gateway_info: { network_id: publicId } } })).body.router;
    expect((await s.demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: net.subnet })).status).toBe(200);
    const fip = (await s.demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId } })).body.floatingip;
    const pf = await s.demo.post(`/v2.0/floatingips/${fip.id}/port_forwardings`, {
      port_forwarding: { protocol: 'tcp', internal_port_id: a.port.id, internal_ip_address: a.ip, internal_port: 80, external_port: 2280 },
    });
    expect(pf.status).toBe(201);
    await converge();
    expect((await s.demo.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip.status).toBe('ACTIVE');
    expect(
      await eventually(
        () => httpGet(`http://${fip.floating_ip_address}:2280/`),
        (v) => v !== null,
      ),
    ).toBe('a 172.24.4.1');
    await s.dp.resync();
    expect(s.dp.lastFullPass).toMatchObject({ full: true, changes: 0, errors: 0 });
    // Only the forwarded port leads anywhere.
    expect(await httpGet(`http://${fip.floating_ip_address}:80/`, { timeoutS: 1 })).toBeNull();

    // Moved to another external port.
    const id = pf.body.port_forwarding.id;
    expect((await s.demo.put(`/v2.0/floatingips/${fip.id}/port_forwardings/${id}`, { port_forwarding: { external_port: 2281 } })).status).toBe(200);
    await converge();
    expect(await httpGet(`http://${fip.floating_ip_address}:2281/`)).toBe('a 172.24.4.1');
    expect(await httpGet(`http://${fip.floating_ip_address}:2280/`, { timeoutS: 1 })).toBeNull();

    expect((await s.demo.delete(`/v2.0/floatingips/${fip.id}/port_forwardings/${id}`)).status).toBe(204);
    await converge();
    expect(await httpGet(`http://${fip.floating_ip_address}:2281/`, { timeoutS: 1 })).toBeNull();
    expect((await s.demo.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip.status).toBe('DOWN');
  });
});
