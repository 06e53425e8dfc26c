/**
 * A live migration between simulated hosts (`pocketstack lab`, issue 18) keeps the machine
 * running: the hosts' agents run on this one kernel (they report the same boot id), so host1's
 * agent hands the running machine to host2's — its processes, memory, namespaces and writes stay
 * what they are, renamed to host2's; its NIC is unplugged from host1's switch and plugged into
 * host2's, its port bound to host2, and host3's l2population entry for its MAC moves from host1's
 * tunnel endpoint to host2's. A client on host3 (the network's DHCP namespace there) downloads a
 * rate-limited 24 MiB body from the server's busybox httpd across VXLAN while it moves, and gets
 * every byte; the server is ACTIVE on host2 with the same init process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { Names } from '../../src/dataplane/netns/names.js';
import type { LabHost } from '../../src/lab/lab.js';
import { type Client, type TestCloud, serviceClients } from '../support/cloud.js';
import { eventually } from '../support/dataplane.js';
import { type TestLab, showAgentsOnFailure, startTestLab } from '../support/lab.js';
import { sh } from '../support/netns.js';
import { E2E_POSTGRES, ROOT, missing, needsE2ePostgres } from '../support/requires.js';

const skip = missing([ROOT]) ?? needsE2ePostgres();
const SIZE = 24 * 1024 * 1024;

/** The machine's init (PID 1 inside) as the host sees it: its pid and start time. */
async function initOf(ns: string): Promise<string | null> {
  const pids = (await sh(['ip', 'netns', 'pids', ns])).split('\n').filter(Boolean);
  for (const pid of pids) {
    try {
      const m = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m?.[1].trim().split(/\s+/).at(-1) !== '1') continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return `${pid}@${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}`;
    } catch {
      // exited
    }
  }
  return null;
}

describe.skipIf(skip)(`a live migration between lab hosts keeps the machine running${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let stop: (() => Promise<void>) | undefined;
  let server: TestCloud;
  let admin: Client;
  let nova: Client;
  let hosts: LabHost[] = [];
  let download: ChildProcess | undefined;
  let lab: TestLab;

  beforeAll(async () => {
    ({ lab, stop } = await startTestLab(3, {
      name: 'pocketstack_lab_migrate',
      adminUrl: E2E_POSTGRES!,
      agentEnv: { POCKETSTACK_REPORT_INTERVAL: '2', POCKETSTACK_DATAPLANE_RESYNC_MS: '3000' },
    }));
    ({ server, hosts } = lab);
    admin = (await serviceClients(server, 'network')).admin;
    nova = (await serviceClients(server, 'compute')).admin;
  });

  afterAll(async () => {
    if (download?.exitCode === null) download.kill();
    await stop?.();
  });

  it('moves a server from host1 to host2 while a client downloads from it: every byte arrives, the same init runs on host2', async () => {
    showAgentsOnFailure(lab);
    const [h1, h2, h3] = hosts;
    const net = (await admin.post('/v2.0/networks', { network: { name: 'lab-migrate' } })).body.network;
    const h3Dhcp = (await admin.get('/v2.0/agents?agent_type=DHCP%20agent&host=host3')).body.agents[0].id;
    expect((await admin.post(`/v2.0/agents/${h3Dhcp}/dhcp-networks`, { network_id: net.id })).status).toBe(201);
    await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.77.0.0/24', ip_version: 4 } });

    const imageRef = (await (await serviceClients(server, 'image')).admin.get('/v2/images')).body.images[0].id;
    const userData = [
      '#!/bin/sh',
      'mkdir -p /www',
      `dd if=/dev/zero of=/www/big bs=1048576 count=${SIZE / 1048576} 2>/dev/null`,
      'httpd -p 80 -h /www',
      '',
    ].join('\n');
    const created = await nova.post('/v2.1/servers', {
      server: {
        name: 'lab-mover',
        flavorRef: '1',
        imageRef,
        networks: [{ uuid: net.id }],
        availability_zone: 'nova:host1',
        user_data: Buffer.from(userData).toString('base64'),
      },
    });
    expect(created.status).toBe(202);
    const id = created.body.server.id as string;
    const s0 = await eventually(
      async () => (await nova.get(`/v2.1/servers/${id}`)).body.server,
      (x) => x?.status === 'ACTIVE' || x?.status === 'ERROR',
      90_000,
    );
    expect(s0.status, JSON.stringify(s0.fault ?? null)).toBe('ACTIVE');
    expect(s0['OS-EXT-SRV-ATTR:host']).toBe('host1');
    const port = (await admin.get(`/v2.0/ports?device_id=${id}`)).body.ports[0];
    const ip = port.fixed_ips[0].ip_address as string;
    const rule = {
      security_group_id: port.security_groups[0],
      direction: 'ingress',
      ethertype: 'IPv4',
      protocol: 'tcp',
      port_range_min: 80,
      port_range_max: 80,
    };
    expect((await admin.post('/v2.0/security-group-rules', { security_group_rule: rule })).status).toBe(201);

    // The client: host3's DHCP namespace, on the network: its traffic crosses VXLAN to host1, then host2.
    const client = new Names(h3.prefix).dhcpNs(net.id);
    const vni = net['provider:segmentation_id'] as number;
    const fdbOnHost3 = async () =>
      (
        JSON.parse(await sh(['ip', 'netns', 'exec', new Names(h3.prefix).switchNs, 'bridge', '-j', 'fdb', 'show', 'dev', `vxlan-${vni}`])) as Array<{
          mac: string;
          dst?: string;
        }>
      )
        .filter((e) => e.mac === port.mac_address && e.dst !== undefined)
        .map((e) => e.dst);
    // (the VXLAN device's own entries, l2population's: the bridge's learned ones have no endpoint)
    expect(await eventually(fdbOnHost3, (d) => d.includes(h1.tunnelIp), 15_000)).toEqual([h1.tunnelIp]);
    const url = `http://${ip}/big`;
    await eventually(
      async () => (await run('ip', ['netns', 'exec', client, 'curl', '-s', '-I', '-m', '2', url], { allowFail: true })).stdout,
      (out) => out.includes('200 OK') && out.includes(`Content-Length: ${SIZE}`),
      60_000,
    );
    const nsBefore = new Names(h1.prefix).instanceNs(id);
    const init = await initOf(nsBefore);
    expect(init).not.toBeNull();
    const inode = statSync(`/run/netns/${nsBefore}`).ino;

    // A download at 1 MiB/s: under way for the whole move.
    let out = '';
    download = spawn('ip', [
      'netns',
      'exec',
      client,
      'curl',
      '-s',
      '--limit-rate',
      '1M',
      '-m',
      '180',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{size_download}',
      url,
    ]);
    download.stdout?.on('data', (d) => (out += d));
    const finished = new Promise<number>((resolve) => download!.once('exit', (code) => resolve(code ?? -1)));
    await eventually(
      async () => sh(['ip', 'netns', 'exec', client, 'ss', '-Htn', 'state', 'established', 'dst', ip]),
      (o) => o.includes(':80'),
      10_000,
    );

    const move = await nova.post(
      `/v2.1/servers/${id}/action`,
      { 'os-migrateLive': { host: 'host2', block_migration: 'auto' } },
      { 'openstack-api-version': 'compute 2.96' },
    );
    expect(move.status).toBe(202);
    const s1 = await eventually(
      async () => (await nova.get(`/v2.1/servers/${id}`)).body.server,
      (x) => (x?.status === 'ACTIVE' && x['OS-EXT-SRV-ATTR:host'] === 'host2') || x?.status === 'ERROR',
      60_000,
    );
    expect(s1.status, JSON.stringify(s1.fault ?? null)).toBe('ACTIVE');
    // The download was still going when the server landed: it rode the move.
    expect(download.exitCode).toBeNull();
    const m = (await nova.get(`/v2.1/os-migrations?instance_uuid=${id}`, { 'openstack-api-version': 'compute 2.96' })).body.migrations[0];
    expect(m).toMatchObject({ migration_type: 'live-migration', status: 'completed', source_compute: 'host1', dest_compute: 'host2' });
    expect((await admin.get(`/v2.0/ports/${port.id}`)).body.port['binding:host_id']).toBe('host2');
    // host3 now sends the server's frames to host2 (l2population followed the binding).
    expect(await eventually(fdbOnHost3, (d) => d.length === 1 && d[0] === h2.tunnelIp, 15_000)).toEqual([h2.tunnelIp]);

    // The same machine, now host2's: its namespace (same inode) under host2's name, the same init.
    const nsAfter = new Names(h2.prefix).instanceNs(id);
    const names = [...(await listNamespaces()).keys()];
    expect(names).toContain(nsAfter);
    expect(names).not.toContain(nsBefore);
    expect(statSync(`/run/netns/${nsAfter}`).ino).toBe(inode);
    expect(await initOf(nsAfter)).toBe(init);
    // Its console (now in host2's data directory): booted once, its NIC plugged in again on host2.
    const consoleLog = readFileSync(join(lab.hostDir(h2), 'instances', id, 'console.log'), 'utf8');
    expect(consoleLog.match(/ booting /g)?.length).toBe(1);
    expect(consoleLog).toContain('NICs plugged in again');

    // Every byte arrived.
    expect(await finished).toBe(0);
    expect(out.trim()).toBe(`200 ${SIZE}`);
  });
});
