import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { consoleLogPath } from '../../src/core/compute/host.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { type Vm, allowIngress, bootServer, eventually, makeNetwork, netnsSuite, waitServer } from '../support/dataplane.js';
import { httpGet, namespaceUids, webUserData } from '../support/netns.js';
import { run } from '../../src/dataplane/netns/exec.js';
import { instanceDir } from '../../src/dataplane/netns/processes.js';

/**
 * Nova servers on the netns data plane: a server is a namespace with its ports; its user_data
 * runs there unprivileged, its output is the console log; stop/start/reboot/delete act on it,
 * pause/suspend freeze its processes, rescue boots it without the user's user_data, personality
 * files are written where its user_data reads them.
 */
const s = netnsSuite({ runUserData: true });
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

/** The state letters (R, S, T …) of every process inside `ns`. */
async function processStates(ns: string): Promise<string[]> {
  const pids = (await run('ip', ['netns', 'pids', ns], { allowFail: true })).stdout.split('\n').filter(Boolean);
  const states: string[] = [];
  for (const pid of pids) {
    try {
      states.push(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0]);
    } catch {
      // gone
    }
  }
  return states;
}

describe.skipIf(skip)(`netns data plane: Nova servers as namespaces${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let web: Vm;
  let client: Vm;

  it('boots a server to ACTIVE once its namespace is wired; user_data serves HTTP, unprivileged', async () => {
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
    expect(uids.every((u) => u === 65534)).toBe(true);
  });

  it("keeps the script's output as the console log os-getConsoleOutput returns", async () => {
    const out = await consoleOutput(web.id);
    expect(out).toContain('web starting as nobody');
    expect(out).toContain(`request from ${client.ip}: "GET / HTTP/1.1" 200`);
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

    const boots = (await consoleOutput(web.id)).match(/booting/g)!.length;
    expect((await s.nova.post(`/v2.1/servers/${web.id}/action`, { reboot: { type: 'SOFT' } })).status).toBe(202);
    await waitServer(s, web.id, 'ACTIVE');
    expect((await consoleOutput(web.id)).match(/booting/g)!.length).toBe(boots + 1);
    expect(
      await eventually(
        () => httpGet(`http://${web.ip}/`, { ns: client.ns }),
        (v) => v !== null,
      ),
    ).toBe(`web ${client.ip}`);
  });

  it('pause and suspend freeze the processes (SIGSTOP), unpause and resume thaw them', async () => {
    const act = (body: unknown) => s.nova.post(`/v2.1/servers/${web.id}/action`, body);
    for (const [freeze, thaw, status] of [
      ['pause', 'unpause', 'PAUSED'],
      ['suspend', 'resume', 'SUSPENDED'],
    ] as const) {
      expect((await act({ [freeze]: null })).status).toBe(202);
      await waitServer(s, web.id, status);
      expect((await s.nova.get(`/v2.1/servers/${web.id}`)).body.server['OS-EXT-STS:power_state']).toBe(status === 'PAUSED' ? 3 : 7);
      expect(new Set(await processStates(web.ns))).toEqual(new Set(['T']));
      expect(await httpGet(`http://${web.ip}/`, { ns: client.ns, timeoutS: 1 })).toBeNull();
      expect((await act({ [thaw]: null })).status).toBe(202);
      await waitServer(s, web.id, 'ACTIVE');
      expect(
        await eventually(
          () => httpGet(`http://${web.ip}/`, { ns: client.ns }),
          (v) => v !== null,
        ),
      ).toBe(`web ${client.ip}`);
    }
  });

  it("rescue boots without the user's user_data; unrescue boots the instance again", async () => {
    const act = (body: unknown) => s.nova.post(`/v2.1/servers/${web.id}/action`, body);
    expect((await act({ rescue: null })).status).toBe(200);
    await waitServer(s, web.id, 'RESCUE');
    expect(await namespaceUids(web.ns)).toEqual([]);
    expect(await consoleOutput(web.id)).toContain('booting its rescue image');
    expect((await act({ unrescue: null })).status).toBe(202);
    await waitServer(s, web.id, 'ACTIVE');
    expect(
      await eventually(
        () => httpGet(`http://${web.ip}/`, { ns: client.ns }),
        (v) => v !== null,
      ),
    ).toBe(`web ${client.ip}`);
  });

  it('writes personality files under files/ where user_data reads them', async () => {
    const res = await s.nova.post('/v2.1/servers', {
      server: {
        name: 'personal',
        flavorRef: '1',
        imageRef: s.imageId,
        networks: [{ uuid: netId }],
        personality: [{ path: '/etc/motd', contents: Buffer.from('hello from personality\n').toString('base64') }],
        user_data: Buffer.from('#!/bin/sh\ncat files/etc/motd\n').toString('base64'),
      },
    });
    expect(res.status).toBe(202);
    const id = res.body.server.id;
    await waitServer(s, id, 'ACTIVE');
    expect(
      await eventually(
        () => consoleOutput(id),
        (out) => out.includes('hello from personality'),
      ),
    ).toContain('hello from personality');
    expect(readFileSync(`${instanceDir(s.tc.dir, id)}/files/etc/motd`, 'utf8')).toBe('hello from personality\n');
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
