/**
 * Instances that are machines (issue 15), on the real data plane: the seed's web network behind
 * a router with a floating IP per instance; two instances from the default image and one from
 * an image this test makes from a tar archive. Each gets its address by DHCP from the network's
 * `network:dhcp` port, reads its metadata, runs its user_data as root inside (seen on its console
 * and over HTTP through its floating IP), accepts ssh with its key pair and refuses without it,
 * cannot read a file put on the host nor reach the host's loopback, runs as unprivileged host
 * ids, is OOM-killed inside its own control group past its flavor's RAM, gives a serial console,
 * and a snapshot of one boots again with its changes. Everything is checked from the host.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemContext } from '../../src/core/context.js';
import { run } from '../../src/dataplane/netns/exec.js';
import { BUSYBOX } from '../../src/dataplane/netns/machines/cirros.js';
import { type TarEntry, writeTar } from '../../src/dataplane/netns/machines/tar.js';
import { encodeFrame, FrameReader } from '../../src/api/compute/serial.js';
import { type Vm, netnsSuite, waitServer } from '../support/dataplane.js';
import { httpGet, namespaceUids, ping } from '../support/netns.js';
import { until } from '../support/poll.js';

const s = netnsSuite({ listen: true });
const skip = s.skip;
const work = mkdtempSync(join(tmpdir(), 'ps-instances-'));
/** A file on the host no instance may read. */
const SECRET = join(work, 'host-secret');
writeFileSync(SECRET, 'the host says hello\n');

afterAll(() => rmSync(work, { recursive: true, force: true }));

const consoleOf = async (id: string): Promise<string> => (await s.nova.post(`/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': {} })).body.output;
const consoleSays = (id: string, what: RegExp | string, ms = 30_000) =>
  until(
    `console of ${id} to say ${what}`,
    () => consoleOf(id),
    (o) => (typeof what === 'string' ? o.includes(what) : what.test(o)),
    ms,
    200,
  );

/** ssh from the host: exit code and output. */
async function ssh(key: string | null, user: string, host: string, cmd: string): Promise<{ code: number; out: string }> {
  const args = [
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-o',
    'LogLevel=ERROR',
  ];
  if (key) args.push('-o', 'IdentitiesOnly=yes', '-i', key);
  else args.push('-o', 'PubkeyAuthentication=no');
  const r = await run('ssh', [...args, `${user}@${host}`, cmd], { allowFail: true, timeoutMs: 20_000 });
  return { code: r.code, out: (r.stdout + r.stderr).trim() };
}

/** What every web instance runs: who it is, what the host looks like from inside, a web page with both. */
function userData(name: string): string {
  return [
    '#!/bin/sh',
    `echo "user_data of ${name} runs as $(id -un) (uid $(id -u))"`,
    `cat ${SECRET} 2>&1 | sed 's/^/host file: /'`,
    'wget -q -O - http://127.0.0.1:22/ >/dev/null 2>&1 || echo "host loopback: unreachable"',
    'echo "changed by user_data" > /etc/marker',
    'mkdir -p /www',
    `{ echo "${name} uid=$(id -u)"; wget -q -O - http://169.254.169.254/latest/meta-data/hostname; echo; } > /www/index.html`,
    'httpd -p 80 -h /www',
    '',
  ].join('\n');
}

/** A root file system made here: the host's static busybox and a few of its applets. */
function tarImage(): Buffer {
  const applets = ['sh', 'id', 'cat', 'echo', 'mkdir', 'sed', 'wget', 'httpd', 'head', 'tr', 'sleep', 'ls'];
  const entries: TarEntry[] = [
    ...['bin', 'etc', 'proc', 'sys', 'dev', 'run', 'tmp', 'root', 'mnt'].map((d): TarEntry => ({ type: 'dir', path: d, mode: d === 'tmp' ? 0o1777 : 0o755 })),
    { type: 'file', path: 'bin/busybox', mode: 0o755, data: readFileSync(BUSYBOX) },
    ...applets.map((a): TarEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
    { type: 'file', path: 'etc/passwd', mode: 0o644, data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
    { type: 'file', path: 'etc/group', mode: 0o644, data: Buffer.from('root:x:0:\n') },
  ];
  return writeTar(entries);
}

/** A websocket client for the serial proxy: sends text, collects what comes back. */
async function serialSession(port: number, token: string): Promise<{ send(text: string): void; output(): string; close(): void }> {
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(
    `GET /serial/?token=${token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n`,
  );
  let received = '';
  let handshake = '';
  const reader = new FrameReader();
  sock.on('data', (b: Buffer) => {
    if (!handshake.includes('\r\n\r\n')) {
      handshake += b.toString('latin1');
      const end = handshake.indexOf('\r\n\r\n');
      if (end < 0) return;
      b = Buffer.from(handshake.slice(end + 4), 'latin1');
    }
    for (const f of reader.push(b)) if (f.opcode === 2) received += f.payload.toString();
  });
  await until(
    'serial console handshake',
    async () => handshake,
    (h) => h.includes('\r\n\r\n'),
    5000,
  );
  expect(handshake).toMatch(/^HTTP\/1\.1 101 /);
  const frame = (text: string) => {
    const payload = Buffer.from(text);
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((c, i) => c ^ mask[i % 4]));
    const head = encodeFrame(2, Buffer.alloc(0)).subarray(0, 1);
    return Buffer.concat([head, Buffer.from([0x80 | payload.length]), mask, masked]);
  };
  return { send: (text) => sock.write(frame(text)), output: () => received, close: () => sock.destroy() };
}

describe.skipIf(skip)(`instances are machines${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let netId: string;
  let dhcpIp: string;
  let keyFile: string;
  const vms: Record<string, Vm & { fip: string }> = {};

  it('builds the web network behind a router; its DHCP port comes from Neutron IPAM as the DHCP agent makes it', async () => {
    const net = (await s.demo.post('/v2.0/networks', { network: { name: 'webserver_network' } })).body.network;
    netId = net.id;
    const subnet = (await s.demo.post('/v2.0/subnets', { subnet: { network_id: netId, name: 'webserver_subnet', cidr: '10.0.2.0/24', ip_version: 4 } })).body
      .subnet;
    const router = (await s.demo.post('/v2.0/routers', { router: { name: 'project_router' } })).body.router;
    const pub = (await s.admin.get('/v2.0/networks?name=public')).body.networks[0];
    await s.demo.put(`/v2.0/routers/${router.id}`, { router: { external_gateway_info: { network_id: pub.id } } });
    await s.demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
    const sg = (await s.demo.get('/v2.0/security-groups?name=default')).body.security_groups[0];
    for (const rule of [
      { protocol: 'tcp', port_range_min: 22, port_range_max: 22 },
      { protocol: 'tcp', port_range_min: 80, port_range_max: 80 },
      { protocol: 'icmp' },
    ]) {
      await s.demo.post('/v2.0/security-group-rules', { security_group_rule: { security_group_id: sg.id, direction: 'ingress', ethertype: 'IPv4', ...rule } });
    }
    const dhcp = await until(
      'the DHCP port',
      async () => (await s.admin.get(`/v2.0/ports?network_id=${netId}&device_owner=network:dhcp`)).body.ports,
      (p) => p.length === 1 && p[0].status === 'ACTIVE',
      10_000,
    );
    dhcpIp = dhcp[0].fixed_ips[0].ip_address;
    expect(dhcp[0].device_id).toMatch(new RegExp(`^dhcp[0-9a-f-]{36}-${netId}$`));
    const key = (await s.nova.post('/v2.1/os-keypairs', { keypair: { name: 'mykey' } })).body.keypair;
    keyFile = join(work, 'mykey.pem');
    writeFileSync(keyFile, key.private_key, { mode: 0o600 });
  });

  const boot = async (name: string, opts: { image?: string; flavor?: string } = {}) => {
    const res = await s.nova.post('/v2.1/servers', {
      server: {
        name,
        flavorRef: opts.flavor ?? '1',
        imageRef: opts.image ?? s.imageId,
        key_name: 'mykey',
        networks: [{ uuid: netId }],
        user_data: Buffer.from(userData(name)).toString('base64'),
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const server = await waitServer(s, res.body.server.id, 'ACTIVE');
    const port = (await s.admin.get(`/v2.0/ports?device_id=${server.id}`)).body.ports[0];
    const pub = (await s.admin.get('/v2.0/networks?name=public')).body.networks[0].id;
    const fip = (await s.demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: pub, port_id: port.id } })).body.floatingip;
    vms[name] = { id: server.id, ns: s.names.instanceNs(server.id), ip: port.fixed_ips[0].ip_address, port, fip: fip.floating_ip_address };
    return vms[name];
  };

  it('boots two instances from the default image and one from a tar archive made by the test', async () => {
    const img = (await s.image.post('/v2/images', { name: 'busybox-tar', container_format: 'docker', disk_format: 'raw' })).body;
    expect((await s.image.put(`/v2/images/${img.id}/file`, tarImage(), { 'content-type': 'application/octet-stream' })).status).toBe(204);
    await Promise.all([boot('web1'), boot('web2'), boot('tarball', { image: img.id })]);
    for (const v of Object.values(vms)) {
      expect((await s.admin.get(`/v2.0/ports/${v.port.id}`)).body.port.status).toBe('ACTIVE');
    }
  });

  it('gets its address by DHCP from the network:dhcp port and reads its metadata', async () => {
    for (const [name, v] of Object.entries(vms)) {
      await consoleSays(v.id, `eth0: ${v.ip}/24 by DHCP from ${dhcpIp}`);
      await consoleSays(v.id, `metadata from the metadata service: instance ${v.id}, hostname ${name}.novalocal`);
    }
  });

  it('runs user_data as root inside: seen on the console and over HTTP through its floating IP', async () => {
    for (const [name, v] of Object.entries(vms)) {
      await consoleSays(v.id, `user_data of ${name} runs as root (uid 0)`);
      const page = await until(
        `${name} on ${v.fip}`,
        () => httpGet(`http://${v.fip}/`),
        (p) => p !== null,
        15_000,
      );
      expect(page).toBe(`${name} uid=0\n${name}.novalocal`);
    }
  });

  it("cannot read the host's files nor reach the host's loopback; its processes run as unprivileged host ids", async () => {
    for (const v of Object.values(vms)) {
      const out = await consoleSays(v.id, 'host loopback: unreachable');
      expect(out).toContain(`host file: cat: can't open '${SECRET}': No such file or directory`);
      expect(out).not.toContain('the host says hello');
      const uids = await namespaceUids(v.ns);
      expect(uids.length).toBeGreaterThan(0);
      expect(uids.every((u) => u >= 1_000_000_000 && u < 1_000_065_536)).toBe(true);
    }
  });

  it('accepts ssh with its key pair as the image user, refuses without it; only where the security group admits port 22', async () => {
    const web1 = vms.web1;
    const ok = await until(
      'ssh to web1',
      () => ssh(keyFile, 'cirros', web1.fip, 'id -un; hostname'),
      (r) => r.code === 0,
      15_000,
    );
    expect(ok.out).toBe('cirros\nweb1.novalocal');
    expect((await ssh(null, 'cirros', web1.fip, 'id')).code).not.toBe(0);
    const other = join(work, 'other.pem');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    expect((await ssh(other, 'cirros', web1.fip, 'id')).code).not.toBe(0);
    const sg = (await s.demo.get('/v2.0/security-groups?name=default')).body.security_groups[0];
    const rule = sg.security_group_rules.find((r: { port_range_min: number | null }) => r.port_range_min === 22);
    expect((await s.demo.delete(`/v2.0/security-group-rules/${rule.id}`)).status).toBe(204);
    await s.dp.idle();
    expect((await ssh(keyFile, 'cirros', web1.fip, 'id')).code).not.toBe(0);
  });

  it('gives a serial console (remote-consoles, protocol serial) that logs in', async () => {
    const r = await s.nova.post(
      `/v2.1/servers/${vms.web2.id}/remote-consoles`,
      { remote_console: { protocol: 'serial', type: 'serial' } },
      {
        'OpenStack-API-Version': 'compute 2.6',
      },
    );
    expect(r.status).toBe(200);
    expect(r.body.remote_console).toMatchObject({ protocol: 'serial', type: 'serial' });
    const token = new URL(r.body.remote_console.url).searchParams.get('token')!;
    const con = await serialSession(s.tc.config.ports.compute, token);
    try {
      con.send('\n');
      await until(
        'a login prompt',
        async () => con.output(),
        (o) => /login: $/m.test(o),
        10_000,
      );
      con.send('cirros\n');
      await until(
        'a password prompt',
        async () => con.output(),
        (o) => /Password: ?$/m.test(o),
        10_000,
      );
      con.send('cubswin:)\n');
      con.send('id -un\n');
      await until(
        'a shell',
        async () => con.output(),
        (o) => /^cirros\r?$/m.test(o),
        10_000,
      );
    } finally {
      con.close();
    }
  });

  it("is killed inside its own control group past its flavor's RAM, and its console says so", async () => {
    const flavor = (await s.adminNova.post('/v2.1/flavors', { flavor: { name: 'small', ram: 64, vcpus: 1, disk: 1 } })).body.flavor;
    const res = await s.nova.post('/v2.1/servers', {
      server: {
        name: 'hog',
        flavorRef: flavor.id,
        imageRef: s.imageId,
        networks: [{ uuid: netId }],
        user_data: Buffer.from(['#!/bin/sh', 'x=$(head -c 200000000 /dev/zero | tr "\\0" x)', 'echo "survived $(echo "$x" | wc -c)"', ''].join('\n')).toString(
          'base64',
        ),
      },
    });
    const hog = await waitServer(s, res.body.server.id, 'ACTIVE');
    const out = await consoleSays(hog.id, '[pocketstack] out of memory', 30_000);
    expect(out).not.toContain('survived');
    await consoleSays(hog.id, /user_data exited with status 1\d\d/);
    expect((await s.nova.get(`/v2.1/servers/${hog.id}`)).body.server['OS-EXT-STS:power_state']).toBe(1);
    expect(await ping(vms.web1.fip)).toBe(true);
  });

  it('a snapshot of an instance boots again with its changes', async () => {
    const img = (await s.image.post('/v2/images', { name: 'web1-snapshot', container_format: 'docker', disk_format: 'raw' })).body;
    const data = await s.dp.snapshotDisk(vms.web1.id);
    await s.tc.cloud.services.image.upload({ ...systemContext(), isAdmin: true }, img.id, data);
    const res = await s.nova.post('/v2.1/servers', {
      server: {
        name: 'restored',
        flavorRef: '1',
        imageRef: img.id,
        networks: [{ uuid: netId }],
        user_data: Buffer.from('#!/bin/sh\ncat /etc/marker\n').toString('base64'),
      },
    });
    const restored = await waitServer(s, res.body.server.id, 'ACTIVE');
    const out = await consoleSays(restored.id, 'user_data exited with status 0');
    expect(out.slice(out.indexOf('running user_data as root'))).toContain('changed by user_data');
  });

  it('an image that is not a file system puts the server in ERROR with the reason, leaving no namespace behind', async () => {
    const img = (await s.image.post('/v2/images', { name: 'junk', container_format: 'bare', disk_format: 'raw' })).body;
    await s.image.put(`/v2/images/${img.id}/file`, Buffer.from('not a file system, not an archive'.repeat(100)), {
      'content-type': 'application/octet-stream',
    });
    const res = await s.nova.post('/v2.1/servers', { server: { name: 'junk', flavorRef: '1', imageRef: img.id, networks: [{ uuid: netId }] } });
    const server = await waitServer(s, res.body.server.id, 'ERROR');
    expect(server.fault.message).toMatch(/not a usable root file system/);
    await s.dp.resync();
    expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(s.names.instanceNs(server.id));
  });
});
