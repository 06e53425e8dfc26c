/**
 * Load balancing on the real data plane, with the real clients, once with HAProxy and once with
 * the built-in engine: the seed's load-balancing section (`neutron lb-*`, members at the web
 * servers' floating IPs) and the same with `openstack loadbalancer …` (members at fixed IPs),
 * two web instances booted with `nova boot --min-count 2`, an HTTP monitor (delay 3, timeout 3,
 * max-retries 3), the VIP reached from the host through a floating IP. A member is killed under
 * an open-loop stream of 20 requests a second: no request may fail, the member must be reported
 * down within delay × max-retries + timeout, and back after the instance reboots.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { teardown } from '../../src/dataplane/netns/down.js';
import { run as exec } from '../../src/dataplane/netns/exec.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { ADMIN_PASSWORD, DEMO_PASSWORD } from '../support/cloud.js';
import { lockPublicNetwork } from '../support/hostlock.js';
import { httpGet, webUserData, namespaceUids } from '../support/netns.js';
import { fieldMap, listRows, openrcV2, openrcV3, run } from '../support/osc.js';
import { type ServicePorts, freeServicePorts } from '../../src/util/ports.js';
import { type ServerProcess, startServerProcess } from '../support/process.js';
import { NEUTRON_CLIENT, NOVA_CLIENT, OPENSTACK_CLIENT, ROOT, missing } from '../support/requires.js';
import { until } from '../support/poll.js';

const PREFIX = 'pl';
const names = new Names(PREFIX);
const skip = missing([ROOT, OPENSTACK_CLIENT, NOVA_CLIENT, NEUTRON_CLIENT]);
/** The monitor: delay 3 s, timeout 3 s, 3 retries → down within 3 × 3 + 3 = 12 s. */
const DOWN_WITHIN_MS = (3 * 3 + 3) * 1000;

/** A web server answering "<instance id> <client address>" on port 80 (user_data). */
/** Each web server answers with its own id, read from the metadata service. */
const WEB_USER_DATA = webUserData(null);

/** GET `url` every 1/rps seconds whatever the previous requests do (an open-loop client). */
function openLoop(url: string, rps: number) {
  const results: Array<{ ok: boolean; body: string; ms: number }> = [];
  let sent = 0;
  const timer = setInterval(() => {
    sent++;
    const t0 = Date.now();
    const done = (ok: boolean, body: string) => results.push({ ok, body, ms: Date.now() - t0 });
    const req = http.get(url, { agent: false, timeout: 20_000 }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => done(res.statusCode === 200, b.trim() || `HTTP ${res.statusCode}`));
      res.on('error', (e) => done(false, e.message));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => done(false, e.message));
  }, 1000 / rps);
  return {
    async stop() {
      clearInterval(timer);
      await until(
        'the stream to drain',
        async () => results.length,
        (n) => n === sent,
        30_000,
      );
      return results;
    },
  };
}

/** The instances' answers, by instance id, for `n` requests on fresh connections. */
async function answers(url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(((await httpGet(url, { timeoutS: 5 })) ?? 'FAILED').split(' ')[0]);
  return out;
}

for (const engine of ['haproxy', 'builtin'] as const) {
  describe.skipIf(skip)(`load balancing on the netns data plane with ${engine}${skip ? ` — skipped: ${skip}` : ''}`, () => {
    let dir: string;
    let ports: ServicePorts;
    let server: ServerProcess;
    let v3: Record<string, string>;
    let v2: Record<string, string>;
    let token = '';
    let subnetId = '';
    const instances: Array<{ name: string; id: string; ip: string; fip: string; portId: string }> = [];
    let unlock: (() => void) | undefined;

    const osc = async (...args: string[]) => {
      const r = await run('openstack', args, v3);
      if (r.code !== 0) throw new Error(`openstack ${args.join(' ')}: ${r.stderr || r.stdout}`);
      return r.stdout;
    };
    const value = async (...args: string[]) => (await osc(...args, '-f', 'value')).trim();
    const neutron = async (...args: string[]) => {
      const r = await run('neutron', args, v2);
      if (r.code !== 0) throw new Error(`neutron ${args.join(' ')}: ${r.stderr || r.stdout}`);
      return r.stdout;
    };
    const api = async (url: string) => {
      const res = await fetch(url, { headers: { 'x-auth-token': token } });
      return (await res.json()) as Record<string, unknown>;
    };
    // Lookups and status polls go to the APIs: each `openstack`/`neutron` run costs 2–6 s of
    // Python start-up on a busy 2-core machine, and the clients' own calls are what the actions
    // below (the seed's and the tutorial's commands) exercise.
    const lbApi = (path: string) => api(`http://127.0.0.1:${ports.loadBalancer}/v2/lbaas/${path}`);
    const netApi = (path: string) => api(`http://127.0.0.1:${ports.network}/v2.0/${path}`);
    const novaApi = (path: string) => api(`http://127.0.0.1:${ports.compute}/v2.1/${path}`);

    /**
     * Kill the web server of an instance (its busybox httpd), as a crash would. Only that: the
     * machine's init and the rest keep running, so the server stays ACTIVE and can be rebooted.
     */
    const killWeb = async (id: string) => {
      const pids = (await exec('ip', ['netns', 'pids', names.instanceNs(id)])).stdout.split('\n').filter(Boolean);
      const web = pids.filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'httpd';
        } catch {
          return false; // it ended meanwhile
        }
      });
      expect(web.length).toBeGreaterThan(0);
      // busybox httpd forks a child per connection (the health monitor's among them); a child
      // may finish between the listing and the kill, which is no failure: the listener dies.
      for (const pid of web) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      }
    };

    beforeAll(async () => {
      if (skip) return;
      unlock = await lockPublicNetwork();
      await teardown(names);
      dir = mkdtempSync(join(tmpdir(), `pocketstack-lb-netns-${engine}-`));
      ports = await freeServicePorts();
      server = await startServerProcess(dir, ports, {
        POCKETSTACK_DATAPLANE: 'netns',
        POCKETSTACK_DATAPLANE_PREFIX: PREFIX,
        POCKETSTACK_RUN_USER_DATA: '1',
        POCKETSTACK_LB_ENGINE: engine,
        POCKETSTACK_ADMIN_PASSWORD: ADMIN_PASSWORD,
        POCKETSTACK_DEMO_PASSWORD: DEMO_PASSWORD,
      });
      v3 = openrcV3(server.identityUrl, 'demo', DEMO_PASSWORD);
      v2 = openrcV2(server.identityUrl, 'demo', DEMO_PASSWORD);
      token = await value('token', 'issue', '-c', 'id');
    }, 10 * 60_000);

    afterAll(async () => {
      if (skip) return;
      try {
        await server?.stop();
        await teardown(names);
        if (dir) rmSync(dir, { recursive: true, force: true });
      } finally {
        unlock?.();
      }
    });

    it('builds the web network behind a router and boots two web servers with nova boot --min-count 2', async () => {
      await osc('network', 'create', 'webserver_network');
      subnetId = await value('subnet', 'create', 'webserver_subnet', '--network', 'webserver_network', '--subnet-range', '10.0.2.0/24', '-c', 'id');
      await osc('router', 'create', 'project_router');
      await osc('router', 'set', 'project_router', '--external-gateway', 'public');
      await osc('router', 'add', 'subnet', 'project_router', 'webserver_subnet');
      await osc('security', 'group', 'create', 'web');
      await osc('security', 'group', 'rule', 'create', '--protocol', 'tcp', '--dst-port', '80', 'web');
      const file = join(dir, 'web.sh');
      writeFileSync(file, WEB_USER_DATA);
      const nova = await run(
        'nova',
        ['boot', '--flavor', '1', '--image', 'cirros-0.3.3-x86_64-disk', '--min-count', '2', '--security-groups', 'web', '--user-data', file, 'test'],
        v3,
      );
      expect(nova.code, nova.stderr).toBe(0);
      for (const name of ['test-1', 'test-2']) {
        const server = await until(
          `${name} ACTIVE`,
          async () => ((await novaApi(`servers/detail?name=^${name}$`)).servers as Array<{ id: string; status: string }>)[0],
          (s) => s?.status === 'ACTIVE',
        );
        const id = server.id;
        const port = ((await netApi(`ports?device_id=${id}`)).ports as Array<{ id: string; fixed_ips: Array<{ ip_address: string }> }>)[0];
        const ip = port.fixed_ips[0].ip_address;
        // The seed's "openstack floating ip create public --fixed-ip-address … --port …".
        const fip = await value('floating', 'ip', 'create', 'public', '--fixed-ip-address', ip, '--port', port.id, '-c', 'floating_ip_address');
        instances.push({ name, id, ip, fip, portId: port.id });
      }
      for (const i of instances)
        expect(
          await until(
            `${i.name} on its floating IP`,
            () => httpGet(`http://${i.fip}/`),
            (v) => v !== null,
          ),
        ).toMatch(new RegExp(`^${i.id} `));
    }, 180_000);

    it("runs the seed's neutron lb-* section verbatim: members at the floating IPs, a VIP reached through a floating IP", async () => {
      await neutron('lb-pool-create', '--lb-method', 'ROUND_ROBIN', '--name', 'mypool', '--protocol', 'HTTP', '--subnet-id', subnetId);
      for (const i of instances)
        expect(fieldMap(await neutron('lb-member-create', '--address', i.fip, '--protocol-port', '80', 'mypool')).get('status')).toBe('PENDING_CREATE');
      await until(
        'members ACTIVE',
        async () => (await netApi('lb/members')).members as Array<{ status: string }>,
        (rows) => rows.length === 2 && rows.every((r) => r.status === 'ACTIVE'),
      );
      const hm = fieldMap(await neutron('lb-healthmonitor-create', '--delay', '3', '--type', 'HTTP', '--max-retries', '3', '--timeout', '3'));
      expect((await neutron('lb-healthmonitor-associate', hm.get('id')!, 'mypool')).trim()).toBe(`Associated health monitor ${hm.get('id')}`);
      const vip = fieldMap(await neutron('lb-vip-create', '--name', 'myvip', '--protocol-port', '80', '--protocol', 'HTTP', '--subnet-id', subnetId, 'mypool'));
      expect(vip.get('address')).toMatch(/^10\.0\.2\.\d+$/);
      await until(
        'VIP ACTIVE',
        async () => ((await netApi(`lb/vips/${vip.get('id')}`)).vip as { status: string }).status,
        (status) => status === 'ACTIVE',
      );
      const listed = listRows(await neutron('lb-vip-list'))[0];
      expect([...listed.slice(1, 4), listed[5]]).toEqual(['myvip', vip.get('address'), 'HTTP', 'ACTIVE']);
      // The VIP port is wired into the load balancer's namespace: ACTIVE, owned by LBaaS v1.
      const port = (await netApi(`ports/${vip.get('port_id')}`)).port as { status: string; device_owner: string };
      expect(port.status).toBe('ACTIVE');
      expect(port.device_owner).toBe('neutron:LOADBALANCER');
      const ns = names.loadBalancerNs(vip.get('port_id')!);
      expect((await listNamespaces()).has(ns)).toBe(true);
      // The proxy runs as the load balancers' own unprivileged user.
      const uids = await namespaceUids(ns);
      expect(uids.length).toBeGreaterThan(0);
      expect(uids.every((u) => u !== 0 && u !== 65534)).toBe(true);

      const fip = await value('floating', 'ip', 'create', 'public', '--port', vip.get('port_id')!, '-c', 'floating_ip_address');
      const url = `http://${fip}/`;
      await until(
        'the VIP through its floating IP',
        () => httpGet(url),
        (v) => v !== null,
      );
      const seen = await answers(url, 100);
      expect(seen.filter((x) => x === instances[0].id)).toHaveLength(50);
      for (let k = 1; k < seen.length; k++) expect(seen[k]).not.toBe(seen[k - 1]);

      // Kill test-2's web server under 20 requests a second.
      const victim = instances[1];
      const memberId = ((await netApi(`lb/members?address=${victim.fip}`)).members as Array<{ id: string }>)[0].id;
      const stream = openLoop(url, 20);
      await new Promise((r) => setTimeout(r, 1000));
      const killedAt = Date.now();
      await killWeb(victim.id);
      await until(
        'member INACTIVE',
        async () => ((await netApi(`lb/members/${memberId}`)).member as { status: string }).status,
        (s) => s === 'INACTIVE',
        DOWN_WITHIN_MS + 1000,
      );
      const downAfter = Date.now() - killedAt;
      expect(listRows(await neutron('lb-member-list')).find((r) => r[0] === memberId)![5]).toBe('INACTIVE');
      await osc('server', 'reboot', victim.name);
      await until(
        'member ACTIVE again',
        async () => ((await netApi(`lb/members/${memberId}`)).member as { status: string }).status,
        (s) => s === 'ACTIVE',
        30_000,
      );
      await new Promise((r) => setTimeout(r, 1000));
      const results = await stream.stop();
      const failed = results.filter((r) => !r.ok);
      expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
      expect(results.length).toBeGreaterThan(20 * 5);
      expect(downAfter).toBeLessThanOrEqual(DOWN_WITHIN_MS);
      console.log(
        `[${engine}] v1: member INACTIVE ${downAfter} ms after the kill; ${results.length} requests, ${failed.length} failed, slowest ${Math.max(...results.map((r) => r.ms))} ms`,
      );
      expect(new Set(await answers(url, 4))).toEqual(new Set(instances.map((i) => i.id)));
    }, 240_000);

    it('does the same with openstack loadbalancer …: members at fixed IPs, status tree DEGRADED (load balancer, pool) while one is down', async () => {
      const lb = fieldMap(await osc('loadbalancer', 'create', '--name', 'lb1', '--vip-subnet-id', 'webserver_subnet', '--wait'));
      expect(lb.get('provisioning_status')).toBe('ACTIVE');
      await osc('loadbalancer', 'listener', 'create', '--name', 'listener1', '--protocol', 'HTTP', '--protocol-port', '80', '--wait', 'lb1');
      await osc(
        'loadbalancer',
        'pool',
        'create',
        '--name',
        'pool1',
        '--lb-algorithm',
        'ROUND_ROBIN',
        '--listener',
        'listener1',
        '--protocol',
        'HTTP',
        '--wait',
      );
      for (const i of instances)
        await osc(
          'loadbalancer',
          'member',
          'create',
          '--name',
          i.name,
          '--subnet-id',
          'webserver_subnet',
          '--address',
          i.ip,
          '--protocol-port',
          '80',
          '--wait',
          'pool1',
        );
      await osc(
        'loadbalancer',
        'healthmonitor',
        'create',
        '--name',
        'hm1',
        '--delay',
        '3',
        '--timeout',
        '3',
        '--max-retries',
        '3',
        '--type',
        'HTTP',
        '--wait',
        'pool1',
      );
      const poolId = ((await lbApi('pools?name=pool1')).pools as Array<{ id: string }>)[0].id;
      await until(
        'members ONLINE',
        async () => (await lbApi(`pools/${poolId}/members`)).members as Array<{ operating_status: string }>,
        (rows) => rows.length === 2 && rows.every((r) => r.operating_status === 'ONLINE'),
      );
      const vipPort = lb.get('vip_port_id')!;
      expect(((await netApi(`ports/${vipPort}`)).port as { device_owner: string }).device_owner).toBe('Octavia');
      const fip = await value('floating', 'ip', 'create', 'public', '--port', vipPort, '-c', 'floating_ip_address');
      const url = `http://${fip}/`;
      await until(
        'the VIP through its floating IP',
        () => httpGet(url),
        (v) => v !== null,
      );
      const seen = await answers(url, 100);
      expect(seen.filter((x) => x === instances[0].id)).toHaveLength(50);
      for (let k = 1; k < seen.length; k++) expect(seen[k]).not.toBe(seen[k - 1]);
      // Members at fixed IPs on the VIP's network see the load balancer's VIP as the client.
      expect((await httpGet(url))!.split(' ')[1]).toBe(lb.get('vip_address'));

      const victim = instances[0];
      const memberId = ((await lbApi(`pools/${poolId}/members?name=${victim.name}`)).members as Array<{ id: string }>)[0].id;
      const stream = openLoop(url, 20);
      await new Promise((r) => setTimeout(r, 1000));
      const killedAt = Date.now();
      await killWeb(victim.id);
      const memberStatus = async () => ((await lbApi(`pools/${poolId}/members/${memberId}`)).member as { operating_status: string }).operating_status;
      await until('member ERROR', memberStatus, (s) => s === 'ERROR', DOWN_WITHIN_MS + 1000);
      const downAfter = Date.now() - killedAt;
      const tree = JSON.parse(await osc('loadbalancer', 'status', 'show', 'lb1'));
      const lbTree = tree.loadbalancer;
      expect(lbTree.operating_status).toBe('DEGRADED');
      // As Octavia's health manager: the listener's own status is its frontend's (still OPEN).
      expect(lbTree.listeners[0].operating_status).toBe('ONLINE');
      expect(lbTree.listeners[0].pools[0].operating_status).toBe('DEGRADED');
      const byName = new Map(lbTree.listeners[0].pools[0].members.map((m: { name: string; operating_status: string }) => [m.name, m.operating_status]));
      expect(byName).toEqual(
        new Map([
          [victim.name, 'ERROR'],
          [instances[1].name, 'ONLINE'],
        ]),
      );
      await osc('server', 'reboot', victim.name);
      await until('member ONLINE again', memberStatus, (s) => s === 'ONLINE', 30_000);
      await new Promise((r) => setTimeout(r, 1000));
      const results = await stream.stop();
      const failed = results.filter((r) => !r.ok);
      expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
      expect(downAfter).toBeLessThanOrEqual(DOWN_WITHIN_MS);
      console.log(
        `[${engine}] v2: member ERROR ${downAfter} ms after the kill; ${results.length} requests, ${failed.length} failed, slowest ${Math.max(...results.map((r) => r.ms))} ms`,
      );
      expect(JSON.parse(await osc('loadbalancer', 'status', 'show', 'lb1')).loadbalancer.operating_status).toBe('ONLINE');
      const stats = fieldMap(await osc('loadbalancer', 'stats', 'show', 'lb1'));
      expect(Number(stats.get('total_connections'))).toBeGreaterThan(100);
    }, 240_000);

    it('removes the namespace and the proxy with the load balancers (cascade delete)', async () => {
      const vipPort = ((await lbApi('loadbalancers?name=lb1')).loadbalancers as Array<{ vip_port_id: string }>)[0].vip_port_id;
      const ns = names.loadBalancerNs(vipPort);
      expect((await listNamespaces()).has(ns)).toBe(true);
      await osc('loadbalancer', 'delete', '--cascade', '--wait', 'lb1');
      await until(
        'load balancer namespace gone',
        async () => (await listNamespaces()).has(ns),
        (has) => !has,
      );
      await neutron('lb-vip-delete', 'myvip');
      await until(
        'no load balancer namespace left',
        async () => [...(await listNamespaces()).keys()].filter((n) => n.startsWith(`${PREFIX}l-`)),
        (l) => l.length === 0,
      );
    }, 120_000);
  });
}
