import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { consoleLogPath } from '../../src/core/compute/host.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { type Vm, allowIngress, bootServer, eventually, makeNetwork, netnsSuite, waitServer } from '../support/dataplane.js';
import { httpGet, namespaceUids, webUserData } from '../support/netns.js';

/**
 * Nova servers on the netns data plane: a server is a machine with its ports; its user_data
 * runs there as root inside its own user namespace (unprivileged ids on the host), its output is
 * the console log; stop/start/reboot/delete act on it.
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
