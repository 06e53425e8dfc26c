/**
 * The seed's topology on the real data plane, built with the real `openstack` and `nova` clients
 * against `pocketstack serve --dataplane netns` (a separate process, so it can be killed -9):
 * three tenant networks, project_router with the public gateway and three interfaces, a worker,
 * two web servers serving HTTP from their user_data, floating IPs on the web servers. Every
 * assertion is made from the host (or from inside the cloud's own instance namespaces).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ping } from '../../src/bench/icmp.js';
import { teardown } from '../../src/dataplane/netns/down.js';
import { run as exec } from '../../src/dataplane/netns/exec.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { ADMIN_PASSWORD, DEMO_PASSWORD } from '../support/cloud.js';
import { httpGet, webUserData } from '../support/netns.js';
import { fieldMap, openrcV3, run } from '../support/osc.js';
import { type ServicePorts, freeServicePorts } from '../../src/util/ports.js';
import { type ServerProcess, startServerProcess } from '../support/process.js';
import { lockPublicNetwork } from '../support/hostlock.js';
import { NOVA_CLIENT, OPENSTACK_CLIENT, ROOT, missing } from '../support/requires.js';
import { until } from '../support/poll.js';

const PREFIX = 'pt';
const names = new Names(PREFIX);
const skip = missing([ROOT, OPENSTACK_CLIENT, NOVA_CLIENT]);

let dir: string;
let server: ServerProcess;
let env: Record<string, string>;
let serverEnv: Record<string, string>;
let ports: ServicePorts;
let listener: Server;
let listenerPort: number;
/** Who connected to the host's listener last (the source address the host saw). */
let lastPeer = '';

const osc = async (...args: string[]) => {
  const r = await run('openstack', args, env);
  if (r.code !== 0) throw new Error(`openstack ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
};
const nova = async (...args: string[]) => {
  const r = await run('nova', args, env);
  if (r.code !== 0) throw new Error(`nova ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
};
const value = async (...args: string[]) => (await osc(...args, '-f', 'value')).trim();

const serverStatus = (name: string) => value('server', 'show', name, '-c', 'status');

interface Vm {
  id: string;
  ns: string;
  ip: string;
}

async function vm(name: string): Promise<Vm> {
  const id = await value('server', 'show', name, '-c', 'id');
  const addresses = await value('server', 'show', name, '-c', 'addresses');
  const ip = /(\d+\.\d+\.\d+\.\d+)/.exec(addresses)![1];
  return { id, ns: names.instanceNs(id), ip };
}

/** Everything of ours in the kernel, normalised, to compare before and after a restart. */
async function inventory(): Promise<string> {
  const out: string[] = [];
  const nss = [...(await listNamespaces()).keys()].filter((n) => names.ownsNamespace(n)).sort();
  for (const ns of nss) {
    out.push(`## ${ns}`);
    out.push((await exec('ip', ['-n', ns, '-br', 'link'])).stdout.replace(/@\S+/g, '').split('\n').sort().join('\n'));
    out.push((await exec('ip', ['-n', ns, '-br', 'addr'])).stdout.replace(/@\S+/g, '').split('\n').sort().join('\n'));
    out.push((await exec('ip', ['-n', ns, 'route', 'show', 'table', 'all'])).stdout.split('\n').sort().join('\n'));
    out.push((await exec('ip', ['netns', 'exec', ns, 'nft', 'list', 'ruleset'])).stdout.replace(/counter packets \d+ bytes \d+/g, 'counter'));
    if (ns === names.switchNs) {
      for (const t of ['iptables-save', 'ip6tables-save']) {
        out.push((await exec('ip', ['netns', 'exec', ns, t])).stdout.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, ''));
      }
    }
  }
  out.push(
    (await exec('ip', ['-br', 'addr'])).stdout
      .split('\n')
      .filter((l) => l.startsWith(`${PREFIX}x-`))
      .join('\n'),
  );
  return out.join('\n');
}

let unlock: (() => void) | undefined;

beforeAll(async () => {
  if (skip) return;
  unlock = await lockPublicNetwork();
  await teardown(names);
  dir = mkdtempSync(join(tmpdir(), 'pocketstack-seed-dp-'));
  ports = await freeServicePorts();
  serverEnv = {
    POCKETSTACK_DATAPLANE: 'netns',
    POCKETSTACK_DATAPLANE_PREFIX: PREFIX,
    POCKETSTACK_RUN_USER_DATA: '1',
    POCKETSTACK_ADMIN_PASSWORD: ADMIN_PASSWORD,
    POCKETSTACK_DEMO_PASSWORD: DEMO_PASSWORD,
  };
  server = await startServerProcess(dir, ports, serverEnv);
  env = openrcV3(server.identityUrl, 'demo', DEMO_PASSWORD);
  listener = createServer((req, res) => {
    lastPeer = req.socket.remoteAddress ?? '';
    res.end(`host saw ${lastPeer}\n`);
  });
});

afterAll(async () => {
  if (skip) return;
  try {
    listener?.close();
    await server?.stop();
    await teardown(names);
    if (dir) rmSync(dir, { recursive: true, force: true });
  } finally {
    unlock?.();
  }
});

describe.skipIf(skip)(`seed topology on the netns data plane (openstack, nova)${skip ? ` — skipped: ${skip}` : ''}`, () => {
  const fips: Record<string, string> = {};
  let routerGw = '';

  it('builds the networks, the router with its gateway and interfaces, and a security group', async () => {
    for (const [net, sub, cidr] of [
      ['worker_network', 'worker_subnet', '10.0.1.0/24'],
      ['webserver_network', 'webserver_subnet', '10.0.2.0/24'],
      ['api_network', 'api_subnet', '10.0.3.0/24'],
    ]) {
      await osc('network', 'create', net);
      await osc('subnet', 'create', sub, '--network', net, '--subnet-range', cidr);
    }
    await osc('router', 'create', 'project_router');
    await osc('router', 'set', 'project_router', '--external-gateway', 'public');
    for (const sub of ['worker_subnet', 'api_subnet', 'webserver_subnet']) await osc('router', 'add', 'subnet', 'project_router', sub);
    const gw = fieldMap(await osc('router', 'show', 'project_router')).get('external_gateway_info')!;
    routerGw = /"ip_address": "(172\.24\.4\.\d+)"/.exec(gw)![1];
    await osc('security', 'group', 'create', 'web');
    await osc('security', 'group', 'rule', 'create', '--protocol', 'tcp', '--dst-port', '80', 'web');
    await osc('security', 'group', 'rule', 'create', '--protocol', 'icmp', 'web');
  });

  it('boots a worker (nova boot) and two web servers serving HTTP from user_data', async () => {
    const worker = await value('network', 'show', 'worker_network', '-c', 'id');
    await nova('boot', '--flavor', 'm1.tiny', '--image', 'cirros-0.3.3-x86_64-disk', '--nic', `net-id=${worker}`, 'worker1');
    for (const name of ['web1', 'web2']) {
      const file = join(dir, `${name}.sh`);
      writeFileSync(file, webUserData(name, [80, 8080]));
      await osc(
        'server',
        'create',
        '--flavor',
        'm1.tiny',
        '--image',
        'cirros-0.3.3-x86_64-disk',
        '--network',
        'webserver_network',
        '--security-group',
        'web',
        '--user-data',
        file,
        name,
      );
    }
    for (const name of ['worker1', 'web1', 'web2'])
      await until(
        `${name} ACTIVE`,
        () => serverStatus(name),
        (s) => s === 'ACTIVE',
      );
  });

  it('gives the web servers floating IPs that answer ping and HTTP from the host', async () => {
    for (const name of ['web1', 'web2']) {
      fips[name] = await value('floating', 'ip', 'create', 'public', '-c', 'floating_ip_address');
      await osc('server', 'add', 'floating', 'ip', name, fips[name]);
    }
    for (const name of ['web1', 'web2']) {
      expect(await ping(fips[name], { timeoutS: 10 })).toBe(true);
      // The web server sees the host's own address on the public network as the client.
      expect(
        await until(
          `HTTP ${name}`,
          () => httpGet(`http://${fips[name]}/`),
          (v) => v !== null,
        ),
      ).toBe(`${name} 172.24.4.1`);
    }
  });

  it('leaves an address without a floating IP unanswered', async () => {
    const used = new Set([...Object.values(fips), routerGw, '172.24.4.1']);
    const free = ['172.24.4.250', '172.24.4.249', '172.24.4.248'].find((a) => !used.has(a))!;
    expect(await ping(free, { timeoutS: 1 })).toBe(false);
  });

  it('routes the worker to a web server across subnets, seen with its fixed address (no NAT east-west)', async () => {
    const worker = await vm('worker1');
    const web1 = await vm('web1');
    expect(
      await until(
        'east-west HTTP',
        () => httpGet(`http://${web1.ip}/`, { ns: worker.ns }),
        (v) => v !== null,
      ),
    ).toBe(`web1 ${worker.ip}`);
    // And the same request is in web1's console log, with the worker's fixed address.
    expect(await osc('console', 'log', 'show', 'web1')).toContain(`request from ${worker.ip}`);
  });

  it("sends the worker's outbound traffic from the router's gateway address, a web server's from its floating IP", async () => {
    await new Promise<void>((resolve) => listener.listen(0, '172.24.4.1', resolve));
    listenerPort = (listener.address() as { port: number }).port;
    const worker = await vm('worker1');
    const web1 = await vm('web1');
    expect(await httpGet(`http://172.24.4.1:${listenerPort}/`, { ns: worker.ns })).toBe(`host saw ${routerGw}`);
    expect(await httpGet(`http://172.24.4.1:${listenerPort}/`, { ns: web1.ns })).toBe(`host saw ${fips.web1}`);
    // Hairpin: one instance reaches another's floating IP through the router.
    expect(await httpGet(`http://${fips.web2}/`, { ns: worker.ns })).toBe(`web2 ${routerGw}`);
  });

  it('blocks tcp/8080 with a group allowing only tcp/80 and icmp, while the server listens there', async () => {
    const web1 = await vm('web1');
    expect(await httpGet(`http://${fips.web1}:8080/`, { timeoutS: 1 })).toBeNull();
    expect(await httpGet(`http://127.0.0.1:8080/`, { ns: web1.ns })).toBe('web1 127.0.0.1');
  });

  it('stops answering on a floating IP once it is removed', async () => {
    await osc('server', 'remove', 'floating', 'ip', 'web1', fips.web1);
    await until(
      'web1 unreachable',
      () => ping(fips.web1, { timeoutS: 0.5 }),
      (ok) => !ok,
    );
    expect(await httpGet(`http://${fips.web1}/`, { timeoutS: 1 })).toBeNull();
  });

  it('removes the namespace of a deleted server', async () => {
    const web1 = await vm('web1');
    await osc('server', 'delete', '--wait', 'web1');
    await until(
      'web1 namespace gone',
      async () => (await listNamespaces()).has(web1.ns),
      (has) => !has,
    );
  });

  it('keeps everything reachable, nothing duplicated, through a kill -9 of the server and a restart', async () => {
    await until('settled', inventory, () => true);
    const before = await inventory();
    await server.kill9();
    // The data plane is the kernel's: it keeps passing traffic while no server runs.
    expect(await httpGet(`http://${fips.web2}/`)).toBe('web2 172.24.4.1');
    server = await startServerProcess(dir, ports, serverEnv);
    await until(
      'web2 via its floating IP',
      () => httpGet(`http://${fips.web2}/`),
      (v) => v === 'web2 172.24.4.1',
    );
    await new Promise((r) => setTimeout(r, 500));
    expect((await inventory()).split('\n')).toEqual(before.split('\n'));
    // The instance did not reboot: its init booted once (the host's own line says so too).
    const log = await osc('console', 'log', 'show', 'web2');
    expect(log.match(/\[init\] PocketStack instance \S+ booting/g)?.length).toBe(1);
    expect(log.match(/^\[pocketstack\] \S+ instance \S+ booting/gm)?.length).toBe(1);
    expect(await serverStatus('web2')).toBe('ACTIVE');
  });
});
