import { existsSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleLogPath } from '../../src/core/compute/host.js';
import { teardown } from '../../src/dataplane/netns/down.js';
import type { NetnsDataPlane } from '../../src/dataplane/netns/driver.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { type Client, type TestCloud, networkClients, serviceClients, startCloud } from '../support/cloud.js';
import { httpGet, namespaceUids, webUserData } from '../support/netns.js';
import { ROOT, missing } from '../support/requires.js';

/**
 * Nova servers on the netns data plane: a server is a namespace with its ports; its user_data
 * runs there unprivileged, its output is the console log; stop/start/reboot/delete act on it.
 */
const names = new Names('pt');
const skip = missing([ROOT]);
let tc: TestCloud;
let nova: Client;
let neutron: Client;
let dp: NetnsDataPlane;
let netId: string;
let imageId: string;

async function waitStatus(id: string, want: string): Promise<any> {
  let s: any;
  for (let i = 0; i < 500; i++) {
    s = (await nova.get(`/v2.1/servers/${id}`)).body.server;
    if (s?.status === want) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`server ${id} is ${s?.status}, not ${want}: ${JSON.stringify(s?.fault ?? null)}`);
}

async function boot(name: string, userData?: string): Promise<{ id: string; ip: string; ns: string }> {
  const res = await nova.post('/v2.1/servers', {
    server: { name, flavorRef: '1', imageRef: imageId, networks: [{ uuid: netId }], ...(userData ? { user_data: Buffer.from(userData).toString('base64') } : {}) },
  });
  expect(res.status).toBe(202);
  const s = await waitStatus(res.body.server.id, 'ACTIVE');
  return { id: s.id, ip: (Object.values(s.addresses)[0] as Array<{ addr: string }>)[0].addr, ns: names.instanceNs(s.id) };
}

async function consoleOutput(id: string): Promise<string> {
  const r = await nova.post(`/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': {} });
  expect(r.status).toBe(200);
  return r.body.output;
}

/** Poll until `fn` gives what `ok` accepts (servers start asynchronously after ACTIVE). */
async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    v = await fn();
  }
  return v;
}

beforeAll(async () => {
  if (skip) return;
  await teardown(names);
  tc = await startCloud({ config: { dataplane: 'netns', dataplanePrefix: 'pt', dataplaneResyncMs: 60_000, runUserData: true } });
  dp = tc.cloud.services.dataplane as NetnsDataPlane;
  nova = (await serviceClients(tc, 'compute')).demo;
  neutron = (await networkClients(tc)).demo;
  netId = (await neutron.post('/v2.0/networks', { network: { name: 'computenet' } })).body.network.id;
  await neutron.post('/v2.0/subnets', { subnet: { network_id: netId, cidr: '10.91.0.0/24', ip_version: 4 } });
  const sg = (await neutron.get('/v2.0/security-groups?name=default')).body.security_groups[0];
  await neutron.post('/v2.0/security-group-rules', { security_group_rule: { security_group_id: sg.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 80, port_range_max: 80 } });
  imageId = (await (await serviceClients(tc, 'image')).demo.get('/v2/images')).body.images[0].id;
});

afterAll(async () => {
  if (skip) return;
  await tc?.cloud.close();
  await teardown(names);
  if (tc) rmSync(tc.dir, { recursive: true, force: true });
});

describe.skipIf(skip)(`netns data plane: Nova servers as namespaces${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let web: { id: string; ip: string; ns: string };
  let client: { id: string; ip: string; ns: string };

  it('boots a server to ACTIVE once its namespace is wired; user_data serves HTTP, unprivileged', async () => {
    web = await boot('web', webUserData('web'));
    client = await boot('client');
    expect((await listNamespaces()).has(web.ns)).toBe(true);
    expect(await eventually(() => httpGet(`http://${web.ip}/`, { ns: client.ns }), (v) => v !== null)).toBe(`web ${client.ip}`);
    const uids = await namespaceUids(web.ns);
    expect(uids.length).toBeGreaterThan(0);
    expect(uids.every((u) => u === 65534)).toBe(true);
  });

  it("keeps the script's output as the console log os-getConsoleOutput returns", async () => {
    const out = await consoleOutput(web.id);
    expect(out).toContain('web starting as nobody');
    expect(out).toContain(`request from ${client.ip}: "GET / HTTP/1.1" 200`);
    expect(existsSync(consoleLogPath(tc.dir, web.id))).toBe(true);
  });

  it('stop ends the process tree, start runs user_data again, reboot restarts it', async () => {
    expect((await nova.post(`/v2.1/servers/${web.id}/action`, { 'os-stop': null })).status).toBe(202);
    await waitStatus(web.id, 'SHUTOFF');
    expect(await namespaceUids(web.ns)).toEqual([]);
    expect(await httpGet(`http://${web.ip}/`, { ns: client.ns, timeoutS: 1 })).toBeNull();

    expect((await nova.post(`/v2.1/servers/${web.id}/action`, { 'os-start': null })).status).toBe(202);
    await waitStatus(web.id, 'ACTIVE');
    expect(await eventually(() => httpGet(`http://${web.ip}/`, { ns: client.ns }), (v) => v !== null)).toBe(`web ${client.ip}`);

    const boots = (await consoleOutput(web.id)).match(/booting/g)!.length;
    expect((await nova.post(`/v2.1/servers/${web.id}/action`, { reboot: { type: 'SOFT' } })).status).toBe(202);
    await waitStatus(web.id, 'ACTIVE');
    expect((await consoleOutput(web.id)).match(/booting/g)!.length).toBe(boots + 1);
    expect(await eventually(() => httpGet(`http://${web.ip}/`, { ns: client.ns }), (v) => v !== null)).toBe(`web ${client.ip}`);
  });

  it('delete kills the process tree and removes the namespace and the working directory', async () => {
    expect((await nova.delete(`/v2.1/servers/${web.id}`)).status).toBe(204);
    await eventually(async () => (await nova.get(`/v2.1/servers/${web.id}`)).status, (s) => s === 404);
    await dp.resync();
    expect((await listNamespaces()).has(web.ns)).toBe(false);
    expect(existsSync(consoleLogPath(tc.dir, web.id))).toBe(false);
    expect(await httpGet(`http://${web.ip}/`, { ns: client.ns, timeoutS: 1 })).toBeNull();
  });
});
