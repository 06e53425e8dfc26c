import { rmSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Config } from '../../src/config.js';
import { teardown } from '../../src/dataplane/netns/down.js';
import { run } from '../../src/dataplane/netns/exec.js';
import type { NetnsDataPlane } from '../../src/dataplane/netns/driver.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { type Client, type TestCloud, serviceClients, startCloud } from './cloud.js';
import { lockPublicNetwork } from './hostlock.js';
import { stopAll } from './netns.js';
import { ROOT, missing } from './requires.js';

/**
 * An in-process cloud on the netns data plane for one test file: its own prefix (`pt`), the
 * host's public network held for the file's duration, everything it built removed afterwards
 * (also on failure), and the few things every data-plane test does with servers.
 */
export const PREFIX = 'pt';
export const names = new Names(PREFIX);

export interface NetnsSuite {
  /** Why the suite is skipped (not root, outside CI), or undefined. */
  skip: string | undefined;
  tc: TestCloud;
  dp: NetnsDataPlane;
  admin: Client;
  demo: Client;
  nova: Client;
  /** The admin's compute client (flavors). */
  adminNova: Client;
  /** The demo user's image client. */
  image: Client;
  names: Names;
  imageId: string;
  /** Stop this cloud and start another on the same data directory (a restart). */
  restart(): Promise<void>;
}

export interface Vm {
  id: string;
  ns: string;
  ip: string;
  port: any;
}

export function netnsSuite(opts: { runUserData?: boolean; listen?: boolean; config?: Partial<Config> } = {}): NetnsSuite {
  const skip = missing([ROOT]);
  const suite = { skip, names } as NetnsSuite;
  let unlock: (() => void) | undefined;
  const start = async (dir?: string) => {
    suite.tc = await startCloud({
      dir,
      listen: opts.listen,
      config: { dataplane: 'netns', dataplanePrefix: PREFIX, dataplaneResyncMs: 60_000, runUserData: opts.runUserData ?? false, ...opts.config },
    });
    suite.dp = suite.tc.cloud.services.dataplane as NetnsDataPlane;
    ({ admin: suite.admin, demo: suite.demo } = await serviceClients(suite.tc, 'network'));
    ({ demo: suite.nova, admin: suite.adminNova } = await serviceClients(suite.tc, 'compute'));
    suite.image = (await serviceClients(suite.tc, 'image')).demo;
  };
  suite.restart = async () => {
    await suite.tc.cloud.close();
    await start(suite.tc.dir);
  };
  beforeAll(async () => {
    if (skip) return;
    unlock = await lockPublicNetwork();
    await teardown(names);
    await start();
    suite.imageId = (await (await serviceClients(suite.tc, 'image')).demo.get('/v2/images')).body.images[0].id;
  });
  afterAll(async () => {
    if (skip) return;
    try {
      stopAll();
      const t0 = Date.now();
      await suite.tc?.cloud.close();
      if (process.env.TEST_TIMING) console.log('cloud closed in', Date.now() - t0);
      await teardown(names, { dataDir: suite.tc?.dir });
      if (process.env.TEST_TIMING) console.log('torn down in', Date.now() - t0);
      if (suite.tc) rmSync(suite.tc.dir, { recursive: true, force: true });
    } finally {
      unlock?.();
    }
  });
  return suite;
}

/** Poll until `fn` gives what `ok` accepts (or the time is up; the caller asserts the value). */
export async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    v = await fn();
  }
  return v;
}

export async function waitServer(s: NetnsSuite, id: string, want: string): Promise<any> {
  const server = await eventually(
    async () => (await s.nova.get(`/v2.1/servers/${id}`)).body.server,
    (x) => x?.status === want,
    10_000,
  );
  if (server?.status !== want) throw new Error(`server ${id} is ${server?.status}, not ${want}: ${JSON.stringify(server?.fault ?? null)}`);
  return server;
}

/** A Nova server on a network (or on a port made beforehand), waited for until `want`. */
export async function bootServer(
  s: NetnsSuite,
  name: string,
  nic: { network: string } | { port: string },
  opts: { userData?: string; want?: string } = {},
): Promise<Vm> {
  const res = await s.nova.post('/v2.1/servers', {
    server: {
      name,
      flavorRef: '1',
      imageRef: s.imageId,
      networks: ['port' in nic ? { port: nic.port } : { uuid: nic.network }],
      ...(opts.userData ? { user_data: Buffer.from(opts.userData).toString('base64') } : {}),
    },
  });
  expect(res.status).toBe(202);
  const server = await waitServer(s, res.body.server.id, opts.want ?? 'ACTIVE');
  const port = (await s.admin.get(`/v2.0/ports?device_id=${server.id}`)).body.ports[0];
  const vm = { id: server.id, ns: names.instanceNs(server.id), ip: port.fixed_ips[0].ip_address, port };
  if (server.status === 'ACTIVE' && !vm.ip.includes(':')) await waitGuestAddress(vm);
  return vm;
}

/**
 * ACTIVE is Nova's word that the machine runs; its address is the guest's own to configure (its
 * init asks DHCP), as on a cloud a user waits for ping or ssh before connecting. Tests that
 * connect to or from a server start once the guest has its IPv4 address.
 */
async function waitGuestAddress(vm: { ns: string; ip: string }): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await run('ip', ['-n', vm.ns, '-o', '-4', 'addr', 'show'], { allowFail: true });
    if (r.stdout.includes(` ${vm.ip}/`)) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`the guest in ${vm.ns} did not configure ${vm.ip} within 20 s`);
}

/** A tenant network with one IPv4 subnet. */
export async function makeNetwork(s: NetnsSuite, name: string, cidr: string): Promise<{ net: string; subnet: string; projectId: string }> {
  const net = (await s.demo.post('/v2.0/networks', { network: { name } })).body.network;
  const subnet = (await s.demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr, ip_version: 4 } })).body.subnet.id;
  return { net: net.id, subnet, projectId: net.project_id };
}

/** Let the project's default group admit more, e.g. `{ protocol: 'icmp' }`. */
export async function allowIngress(s: NetnsSuite, ...rules: Array<Record<string, unknown>>): Promise<void> {
  const sg = (await s.demo.get('/v2.0/security-groups?name=default')).body.security_groups[0];
  for (const r of rules) {
    const res = await s.demo.post('/v2.0/security-group-rules', {
      security_group_rule: { security_group_id: sg.id, direction: 'ingress', ethertype: 'IPv4', ...r },
    });
    expect(res.status).toBe(201);
  }
}
