import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { consoleLogPath } from '../../src/core/compute/host.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { type Vm, allowIngress, bootServer, eventually, makeNetwork, netnsSuite, waitServer } from '../support/dataplane.js';
import { httpGet, namespaceUids, webUserData } from '../support/netns.js';
import { run } from '../../src/dataplane/netns/exec.js';

/**
 * Nova servers on the netns data plane: a server is a machine with its ports; its user_data
 * runs there as root inside its own user namespace (unprivileged ids on the host), its output is
 * the console log; stop/start/reboot/delete act on it, pause/suspend freeze its control group,
 * rescue boots the rescue image with its own disk at /mnt/disk, rebuild gives it a fresh root,
 * createImage saves its disk, personality files are in its root before anything runs.
 */
const s = netnsSuite();
const skip = s.skip;
let netId: string;

async function consoleOutput(id: string): Promise<string> {
  const r = await s.nova.post(`/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': {} });
  expect(r.status).toBe(200);
  return r.body.output;
}

const boot = async (name: string, userData?: string) => {
  if (!netId) {
    netId = (await makeNetwork(s, 'computenet', '10.91.0.0/24')).net;
    await allowIngress(s, { protocol: 'tcp', port_range_min: 80, port_range_max: 80 });
  }
  return bootServer(s, name, { network: netId }, { userData });
};

/** Run busybox inside a machine's own mount namespace (found through a process of its network namespace). */
async function inMachine(ns: string, ...argv: string[]): Promise<string> {
  const pid = (await run('ip', ['netns', 'pids', ns], { allowFail: true })).stdout.split('\n').find(Boolean);
  if (!pid) return '';
  return (await run('nsenter', ['-t', pid, '-m', '--', '/.ps/busybox', ...argv], { allowFail: true })).stdout;
}

/** Whether the machine's control group is frozen: cgroup v2's cgroup.events `frozen 1`, v1's freezer.state `FROZEN`. */
async function frozen(ns: string): Promise<boolean> {
  const pid = (await run('ip', ['netns', 'pids', ns], { allowFail: true })).stdout.split('\n').find(Boolean);
  if (!pid) return false;
  const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  const v1 = cgroups.match(/^\d+:freezer:(.*)$/m)?.[1];
  if (v1 !== undefined) return readFileSync(`/sys/fs/cgroup/freezer${v1}/freezer.state`, 'utf8').trim() === 'FROZEN';
  const v2 = cgroups.match(/^0::(.*)$/m)?.[1];
  return v2 !== undefined && readFileSync(`/sys/fs/cgroup${v2}/cgroup.events`, 'utf8').includes('frozen 1');
}

/** The last `boots: N` a machine's user_data printed. */
const lastBoots = (out: string) => Number([...out.matchAll(/boots: (\d+)/g)].pop()?.[1] ?? 0);

describe.skipIf(skip)(`netns data plane: Nova servers as namespaces${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let web: Vm;
  let client: Vm;

  it('boots a server to ACTIVE once its namespace is wired; user_data serves HTTP, as root inside, unprivileged on the host', async () => {
    web = await boot('web', webUserData('web'));
    client = await boot('client');
    expect((await listNamespaces()).has(web.ns)).toBe(true);
    expect(
      await eventually(
        () => httpGet(`http://${web.ip}/`, { ns: client.ns }),
        (v) => v !== null,
      ),
    ).toBe(`web ${client.ip}`);
    const uids = await namespaceUids(web.ns);
    expect(uids.length).toBeGreaterThan(0);
    expect(uids.every((u) => u >= 1_000_000_000)).toBe(true);
  });

  it("keeps the script's output as the console log os-getConsoleOutput returns", async () => {
    const out = await consoleOutput(web.id);
    expect(out).toContain('web starting as root');
    expect(out).toContain(`request from ${client.ip}: "GET /" 200`);
    expect(existsSync(consoleLogPath(s.tc.dir, web.id))).toBe(true);
  });

  it('stop ends the process tree, start runs user_data again, reboot restarts it', async () => {
    expect((await s.nova.post(`/v2.1/servers/${web.id}/action`, { 'os-stop': null })).status).toBe(202);
    await waitServer(s, web.id, 'SHUTOFF');
    expect(await namespaceUids(web.ns)).toEqual([]);
    expect(await httpGet(`http://${web.ip}/`, { ns: client.ns, timeoutS: 1 })).toBeNull();

    expect((await s.nova.post(`/v2.1/servers/${web.id}/action`, { 'os-start': null })).status).toBe(202);
    await waitServer(s, web.id, 'ACTIVE');
    expect(
      await eventually(
        () => httpGet(`http://${web.ip}/`, { ns: client.ns }),
        (v) => v !== null,
      ),
    ).toBe(`web ${client.ip}`);

    const boots = (await consoleOutput(web.id)).match(/\[pocketstack\].*booting/g)!.length;
    expect((await s.nova.post(`/v2.1/servers/${web.id}/action`, { reboot: { type: 'SOFT' } })).status).toBe(202);
    await waitServer(s, web.id, 'ACTIVE');
    expect((await consoleOutput(web.id)).match(/\[pocketstack\].*booting/g)!.length).toBe(boots + 1);
    expect(
      await eventually(
        () => httpGet(`http://${web.ip}/`, { ns: client.ns }),
        (v) => v !== null,
      ),
    ).toBe(`web ${client.ip}`);
  });

  it('pause and suspend freeze the control group, unpause and resume thaw it', async () => {
    const act = (body: unknown) => s.nova.post(`/v2.1/servers/${web.id}/action`, body);
    for (const [freeze, thaw, status] of [
      ['pause', 'unpause', 'PAUSED'],
      ['suspend', 'resume', 'SUSPENDED'],
    ] as const) {
      expect((await act({ [freeze]: null })).status).toBe(202);
      await waitServer(s, web.id, status);
      expect((await s.nova.get(`/v2.1/servers/${web.id}`)).body.server['OS-EXT-STS:power_state']).toBe(status === 'PAUSED' ? 3 : 7);
      expect(await frozen(web.ns)).toBe(true);
      expect(await httpGet(`http://${web.ip}/`, { ns: client.ns, timeoutS: 1 })).toBeNull();
      expect((await act({ [thaw]: null })).status).toBe(202);
      await waitServer(s, web.id, 'ACTIVE');
      expect(await frozen(web.ns)).toBe(false);
      expect(
        await eventually(
          () => httpGet(`http://${web.ip}/`, { ns: client.ns }),
          (v) => v !== null,
        ),
      ).toBe(`web ${client.ip}`);
    }
  });

  it('personality files are in the root file system; createImage saves the disk; rescue keeps it at /mnt/disk; rebuild starts afresh', async () => {
    const userData = '#!/bin/sh\ncat /etc/motd\nmkdir -p /root\necho boot >> /root/boots\necho "boots: $(wc -l < /root/boots)"\n';
    const res = await s.nova.post('/v2.1/servers', {
      server: {
        name: 'personal',
        flavorRef: '1',
        imageRef: s.imageId,
        networks: [{ uuid: netId }],
        personality: [{ path: '/etc/motd', contents: Buffer.from('hello from personality\n').toString('base64') }],
        user_data: Buffer.from(userData).toString('base64'),
      },
    });
    expect(res.status).toBe(202);
    const id = res.body.server.id;
    const ns = s.names.instanceNs(id);
    const act = (body: unknown, headers?: Record<string, string>) => s.nova.post(`/v2.1/servers/${id}/action`, body, headers);
    await waitServer(s, id, 'ACTIVE');
    let out = await eventually(
      () => consoleOutput(id),
      (o) => o.includes('boots: 1'),
    );
    expect(out).toContain('personality file /etc/motd written');
    expect(out).toContain('hello from personality');

    // createImage: the machine's disk (its image and its writes) becomes a Glance image that boots.
    const snap = await act({ createImage: { name: 'personal-snap' } }, { 'x-openstack-nova-api-version': '2.45' });
    expect(snap.status).toBe(202);
    const imageId = snap.body.image_id;
    const image = await eventually(
      async () => (await s.image.get(`/v2/images/${imageId}`)).body,
      (i) => i.status === 'active',
      30_000,
    );
    expect([image.container_format, image.disk_format]).toEqual(['docker', 'raw']);
    await waitServer(s, id, 'ACTIVE');
    const restored = await s.nova.post('/v2.1/servers', {
      server: {
        name: 'restored',
        flavorRef: '1',
        imageRef: imageId,
        networks: [{ uuid: netId }],
        user_data: Buffer.from('#!/bin/sh\necho "restored: $(wc -l < /root/boots) $(cat /etc/motd)"\n').toString('base64'),
      },
    });
    const rid = restored.body.server.id;
    await waitServer(s, rid, 'ACTIVE');
    expect(
      await eventually(
        () => consoleOutput(rid),
        (o) => o.includes('restored: 1 hello from personality'),
      ),
    ).toContain('restored: 1 hello from personality');
    expect((await s.nova.delete(`/v2.1/servers/${rid}`)).status).toBe(204);

    // Rescue: the rescue image boots, nothing of the user's runs, the instance's disk is /mnt/disk.
    expect((await act({ rescue: null })).status).toBe(200);
    await waitServer(s, id, 'RESCUE');
    out = await eventually(
      () => consoleOutput(id),
      (o) => o.includes('rescue: booted the rescue image'),
    );
    expect(out.slice(out.lastIndexOf('booting its rescue image'))).not.toContain('boots:');
    expect(
      await eventually(
        () => inMachine(ns, 'cat', '/mnt/disk/root/boots'),
        (v) => v !== '',
      ),
    ).toBe('boot\n');
    expect((await act({ unrescue: null })).status).toBe(202);
    await waitServer(s, id, 'ACTIVE');
    out = await eventually(
      () => consoleOutput(id),
      (o) => lastBoots(o) === 2,
    );

    // Rebuild: a fresh root from the image (the writes are gone), personality written again.
    const rebuilt = await act({ rebuild: { imageRef: s.imageId } });
    expect(rebuilt.status).toBe(202);
    await waitServer(s, id, 'ACTIVE');
    out = await eventually(
      () => consoleOutput(id),
      (o) => o.lastIndexOf('boots: 1') > o.lastIndexOf('boots: 2'),
    );
    expect(lastBoots(out)).toBe(1);
    expect((await s.nova.delete(`/v2.1/servers/${id}`)).status).toBe(204);
  });

  it('delete kills the process tree and removes the namespace and the working directory', async () => {
    expect((await s.nova.delete(`/v2.1/servers/${web.id}`)).status).toBe(204);
    await eventually(
      async () => (await s.nova.get(`/v2.1/servers/${web.id}`)).status,
      (s) => s === 404,
    );
    await s.dp.resync();
    expect((await listNamespaces()).has(web.ns)).toBe(false);
    expect(existsSync(consoleLogPath(s.tc.dir, web.id))).toBe(false);
    expect(await httpGet(`http://${web.ip}/`, { ns: client.ns, timeoutS: 1 })).toBeNull();
  });
});
