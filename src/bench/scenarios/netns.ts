import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectCgroups, listGroups, readGroupFile, usageFile } from '../../dataplane/netns/machines/cgroups.js';
import { cgroupParentOf } from '../../dataplane/netns/machines/paths.js';
import { type Many, type One, runConcurrent } from '../client.js';
import { startProber } from '../icmp.js';
import type { BenchContext, Result, Scenario } from '../scenario.js';
import { round, summarize } from '../stats.js';

/**
 * The real data plane (`--dataplane netns`, root): how fast what the API records passes traffic,
 * with instances that are machines (their own root file system, DHCP, metadata). Every figure is
 * measured from the host, as a user would check:
 *   - server create → its floating IP answers ping (the port and its floating IP are made first,
 *     so the figure is the server's boot: namespaces, root file system, veth, security group,
 *     then its init's DHCP — the address is the instance's own once dnsmasq answered);
 *   - server create → `ssh -i key cirros@<floating IP>` logs in (DHCP, metadata with the key
 *     pair, dropbear);
 *   - floating IP associate → it answers;
 *   - 50 servers created at once → all their floating IPs answer; then deleted → all gone;
 *   - memory per idle instance (its control group's charge: processes, page cache, kernel) and
 *     kernel memory per instance (Slab + Percpu before and after the 50).
 */
const PREFIX = 'pb';

/** Kernel memory that namespaces, veths, routes and rules live in: slab caches and per-CPU data. */
async function kernelMemoryKiB(): Promise<{ kernel: number; available: number }> {
  const text = await readFile('/proc/meminfo', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { kernel: kb('Slab') + kb('Percpu'), available: kb('MemAvailable') };
}

async function instanceNamespaces(): Promise<number> {
  try {
    return (await readdir('/run/netns')).filter((n) => n.startsWith(`${PREFIX}i-`)).length;
  } catch {
    return 0;
  }
}

/** Whether something on `host:22` answers with an SSH banner (dropbear is up behind the floating IP). */
function sshBanner(host: string, timeoutMs = 200): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(22, host);
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('data', (b: Buffer) => done(b.toString().startsWith('SSH-')));
    sock.once('error', () => done(false));
  });
}

/** `ssh -i key user@host true`: true when it logged in. */
function sshLogin(key: string, user: string, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const args = [
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=2',
      '-o',
      'LogLevel=ERROR',
    ];
    const child = spawn('ssh', [...args, '-o', 'IdentitiesOnly=yes', '-i', key, `${user}@${host}`, 'true'], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

/** Memory charged to each instance's control group now (bytes), by namespace. */
function instanceMemory(): number[] {
  const layout = detectCgroups();
  if (!layout) return [];
  const parent = cgroupParentOf(PREFIX);
  const out: number[] = [];
  for (const ns of listGroups(layout, parent)) {
    const v = readGroupFile(layout, usageFile(layout, parent, ns));
    if (v !== null) out.push(Number(v.trim()));
  }
  return out;
}

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const netnsScenario: Scenario = {
  name: 'netns',
  description: 'real data plane: boot → floating IP answers, associate → answers, 50 instances, teardown, memory',
  async run(ctx: BenchContext): Promise<Result[]> {
    const c = ctx.client;
    const compute = ctx.computeUrl;
    if (!compute || !ctx.imageUrl) throw new Error('the netns scenario needs its own PocketStack: npm run bench -- --dataplane netns');
    const out: Result[] = [];
    const name = this.name;

    // A tenant network behind a router on `public`, and a group that admits ICMP.
    const pub = (await c.expect<Many<'networks'>>(200, 'GET', '/v2.0/networks?name=public')).body.networks[0].id;
    const net = (await c.expect<One<'network'>>(201, 'POST', '/v2.0/networks', { network: { name: 'bench-dp' } })).body.network.id;
    const subnet = (await c.expect<One<'subnet'>>(201, 'POST', '/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.201.0.0/16' } })).body
      .subnet.id;
    const routerRow = (
      await c.expect<One<'router', { id: string; project_id: string }>>(201, 'POST', '/v2.0/routers', {
        router: { name: 'bench-dp', external_gateway_info: { network_id: pub } },
      })
    ).body.router;
    const router = routerRow.id;
    // Nova's default quota is 10 instances; the benchmark's project may have as many as it needs.
    await c.expect(200, 'PUT', `${compute}/v2.1/os-quota-sets/${routerRow.project_id}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
    await c.expect(200, 'PUT', `/v2.0/routers/${router}/add_router_interface`, { subnet_id: subnet });
    const sg = (await c.expect<One<'security_group'>>(201, 'POST', '/v2.0/security-groups', { security_group: { name: 'bench-icmp' } })).body.security_group.id;
    for (const rule of [{ protocol: 'icmp' }, { protocol: 'tcp', port_range_min: 22, port_range_max: 22 }]) {
      await c.expect(201, 'POST', '/v2.0/security-group-rules', {
        security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', ...rule },
      });
    }
    const keyDir = mkdtempSync(join(tmpdir(), 'pocketstack-bench-key-'));
    const keyFile = join(keyDir, 'bench.pem');
    const keypair = (await c.expect<One<'keypair', { private_key: string }>>(200, 'POST', `${compute}/v2.1/os-keypairs`, { keypair: { name: 'bench' } })).body
      .keypair;
    writeFileSync(keyFile, keypair.private_key, { mode: 0o600 });
    const imageId = (await c.expect<Many<'images'>>(200, 'GET', `${ctx.imageUrl}/v2/images?name=cirros-0.3.3-x86_64-disk`)).body.images[0].id;

    const portWithFip = async (associate: boolean) => {
      const port = (await c.expect<One<'port'>>(201, 'POST', '/v2.0/ports', { port: { network_id: net, security_groups: [sg] } })).body.port.id;
      const fip = (
        await c.expect<One<'floatingip', { id: string; floating_ip_address: string }>>(201, 'POST', '/v2.0/floatingips', {
          floatingip: { floating_network_id: pub, ...(associate ? { port_id: port } : {}) },
        })
      ).body.floatingip;
      return { port, fip: fip.id, address: fip.floating_ip_address };
    };
    const boot = async (port: string, i: number) =>
      (
        await c.expect<One<'server'>>(202, 'POST', `${compute}/v2.1/servers`, {
          server: { name: `bench-${i}`, flavorRef: '1', imageRef: imageId, key_name: 'bench', networks: [{ port }] },
        })
      ).body.server.id;
    /** Why servers failed, as Nova says it (a server in ERROR never answers on its floating IP). */
    const faults = async (ids: string[]) => {
      const said = new Set<string>();
      for (const id of ids) {
        const s = (await c.expect<One<'server', { status: string; fault?: { message?: string } }>>(200, 'GET', `${compute}/v2.1/servers/${id}`)).body.server;
        if (s.status === 'ERROR') said.add(s.fault?.message ?? 'ERROR');
      }
      return said.size ? ` (servers in ERROR: ${[...said].join('; ')})` : '';
    };
    const removeServer = async (id: string) => c.expect(204, 'DELETE', `${compute}/v2.1/servers/${id}`);

    // Boot → floating IP answers.
    const bootMs: number[] = [];
    const n = ctx.quick ? 5 : 20;
    for (let i = 0; i < n; i++) {
      const { port, fip, address } = await portWithFip(true);
      const prober = await startProber([address], { timeoutS: 30, intervalS: 0.002 });
      const t0 = Date.now();
      const server = await boot(port, i);
      const at = (await prober.result).get(address)!.at;
      if (at === null) throw new Error(`server ${server}: floating IP ${address} never answered${await faults([server])}`);
      bootMs.push(at - t0);
      await removeServer(server);
      await c.expect(204, 'DELETE', `/v2.0/floatingips/${fip}`);
    }
    const b = summarize(bootMs);
    out.push({
      scenario: name,
      metric: 'server create → floating IP answers ping, median',
      value: round(b.p50, 0),
      unit: `ms (p99 ${round(b.p99, 0)} ms, n=${n})`,
      goal: '< 300',
      reference: 'Nova + Neutron ≈ 28 s',
    });

    // Boot → ssh logs in with the key pair.
    if (existsSync('/usr/bin/ssh')) {
      const sshMs: number[] = [];
      const m = ctx.quick ? 3 : 10;
      for (let i = 0; i < m; i++) {
        const { port, fip, address } = await portWithFip(true);
        const t0 = Date.now();
        const server = await boot(port, 100 + i);
        await waitFor(`ssh banner on ${address}`, () => sshBanner(address), 30_000);
        await waitFor(`ssh login on ${address}`, () => sshLogin(keyFile, 'cirros', address), 30_000);
        sshMs.push(Date.now() - t0);
        await removeServer(server);
        await c.expect(204, 'DELETE', `/v2.0/floatingips/${fip}`);
      }
      const sm = summarize(sshMs);
      out.push({
        scenario: name,
        metric: 'server create → ssh -i key cirros@floating IP logs in, median',
        value: round(sm.p50, 0),
        unit: `ms (p99 ${round(sm.p99, 0)} ms, n=${m})`,
        goal: '< 1000',
      });
    }

    // Floating IP associate → answers.
    const { port: fixedPort } = await portWithFip(false);
    const target = await boot(fixedPort, 999);
    await waitFor(
      'target server ACTIVE',
      async () =>
        (await c.call<Partial<One<'server', { status: string }>> | undefined>('GET', `${compute}/v2.1/servers/${target}`)).body?.server?.status === 'ACTIVE',
    );
    const assocMs: number[] = [];
    for (let i = 0; i < n; i++) {
      const fip = (
        await c.expect<One<'floatingip', { id: string; floating_ip_address: string }>>(201, 'POST', '/v2.0/floatingips', {
          floatingip: { floating_network_id: pub },
        })
      ).body.floatingip;
      const prober = await startProber([fip.floating_ip_address], { timeoutS: 30, intervalS: 0.002 });
      const t0 = Date.now();
      await c.expect(200, 'PUT', `/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: fixedPort } });
      const at = (await prober.result).get(fip.floating_ip_address)!.at;
      if (at === null) throw new Error(`floating IP ${fip.floating_ip_address} never answered`);
      assocMs.push(at - t0);
      await c.expect(204, 'DELETE', `/v2.0/floatingips/${fip.id}`);
    }
    const a = summarize(assocMs);
    out.push({
      scenario: name,
      metric: 'floating IP associate → answers ping, median',
      value: round(a.p50, 0),
      unit: `ms (p99 ${round(a.p99, 0)} ms, n=${n})`,
      goal: '< 50',
    });
    await removeServer(target);

    // 50 instances at once.
    const count = ctx.quick ? 10 : 50;
    await waitFor('earlier instances gone', async () => (await instanceNamespaces()) === 0);
    const made: Array<{ port: string; fip: string; address: string }> = [];
    for (let i = 0; i < count; i++) made.push(await portWithFip(true));
    const before = await kernelMemoryKiB();
    const prober = await startProber(
      made.map((m) => m.address),
      { timeoutS: 120, intervalS: 0.01 },
    );
    const t0 = Date.now();
    const servers: string[] = [];
    await runConcurrent(count, 8, async (i) => {
      const started = performance.now();
      servers.push(await boot(made[i].port, 1000 + i));
      return performance.now() - started;
    });
    const replies = await prober.result;
    const missing = [...replies].filter(([, r]) => r.at === null).map(([addr]) => addr);
    if (missing.length) throw new Error(`${missing.length} of ${count} floating IPs never answered${await faults(servers)}`);
    const last = Math.max(...[...replies.values()].map((r) => r.at!));
    out.push({ scenario: name, metric: `${count} servers created at once → all floating IPs answer`, value: round((last - t0) / 1000, 2), unit: 's' });
    // Idle: give the inits time to finish booting, then read what each instance's group is charged.
    await new Promise((r) => setTimeout(r, ctx.quick ? 2000 : 5000));
    const charged = instanceMemory();
    if (charged.length) {
      const mem = summarize(charged.map((x) => x / 1024));
      out.push({
        scenario: name,
        metric: 'memory per idle instance (its control group: processes, page cache, kernel)',
        value: round(mem.p50, 0),
        unit: `KiB median of ${charged.length} (max ${round(mem.max, 0)} KiB)`,
        reference: 'cirros on a VM: 64 MiB flavor minimum',
      });
    }
    const after = await kernelMemoryKiB();
    out.push({
      scenario: name,
      metric: 'kernel memory per instance (Slab + Percpu)',
      value: round((after.kernel - before.kernel) / count, 0),
      unit: `KiB (MemAvailable ${round((before.available - after.available) / count, 0)} KiB, noisy on a shared host)`,
      reference: 'feasibility study: Slab +319, Percpu +7 KiB',
    });

    // Teardown: delete them all; done when no instance namespace is left.
    const t1 = Date.now();
    await runConcurrent(servers.length, 8, async (i) => {
      const started = performance.now();
      await removeServer(servers[i]);
      return performance.now() - started;
    });
    await waitFor('namespaces removed', async () => (await instanceNamespaces()) === 0);
    out.push({ scenario: name, metric: `${count} servers deleted → namespaces gone`, value: round((Date.now() - t1) / 1000, 2), unit: 's' });
    for (const m of made) await c.call('DELETE', `/v2.0/floatingips/${m.fip}`);
    rmSync(keyDir, { recursive: true, force: true });
    return out;
  },
};
