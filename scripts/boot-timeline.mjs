#!/usr/bin/env node
/**
 * Where one instance boot's time goes on the netns data plane: `sudo node scripts/boot-timeline.mjs
 * [--boots N] [--serial]` (root, from a built tree; needs tcpdump and python3). It starts its own
 * PocketStack (prefix `pt`, debug log), a tenant network behind a router, and per boot a port
 * with a floating IP, then creates a server on it and prints, in ms from the create request:
 *
 *   - what the API said (202) and what a client polling every 20 ms saw (server and port status);
 *   - each data-plane pass (its start, length, namespaces touched, phases; from its debug line);
 *   - the machine's boot steps on the host ('machine boot': disk, guest files, group, console,
 *     spawn until the init's PID namespace exists);
 *   - the guest's DHCP exchange, its metadata requests, its first echo reply and the first SYN-ACK
 *     of its ssh server, as tcpdump saw them on the switch's bridge and taps;
 *   - when the floating IP first answered ICMP echo from the host, and when port 22 gave a banner.
 *
 * `--serial` deletes the previous server and makes the next port just before each create, as
 * `npm run bench`'s netns scenario does (so a boot waits for that teardown's pass); otherwise
 * the data plane is left idle between boots. Everything it made is removed at the end
 * (`pocketstack dataplane down`), on failure too.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { freeServicePorts, servicePortEnv } = await import(join(root, 'dist/util/ports.js'));
const { startProber } = await import(join(root, 'dist/bench/icmp.js'));
const { values } = parseArgs({ options: { boots: { type: 'string', default: '3' }, serial: { type: 'boolean', default: false } } });
const boots = Number(values.boots);
const PREFIX = 'pt';
const bin = join(root, 'bin', 'pocketstack');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'pocketstack-timeline-'));
const logFile = join(dir, 'server.log');
const ports = await freeServicePorts();
const server = spawn(bin, ['serve', '--data-dir', dir, '--log-level', 'debug'], {
  env: {
    ...process.env,
    ...servicePortEnv(ports),
    POCKETSTACK_ADMIN_PASSWORD: 'timeline',
    POCKETSTACK_QUOTA_PORT: '-1',
    POCKETSTACK_QUOTA_FLOATINGIP: '-1',
    POCKETSTACK_DATAPLANE: 'netns',
    POCKETSTACK_DATAPLANE_PREFIX: PREFIX,
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
const log = createWriteStream(logFile);
let started = '';
for (const s of [server.stdout, server.stderr]) {
  s.on('data', (d) => {
    if (started.length < 100_000) started += d;
    log.write(d);
  });
}
let tcpdump = null;

async function cleanup() {
  tcpdump?.kill();
  if (server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  await new Promise((r) => spawn(bin, ['dataplane', 'down', '--prefix', PREFIX, '--data-dir', dir], { stdio: 'ignore' }).once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

/** Lines of the server's debug log (JSON) between two times. */
function serverLog(from, to) {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        const j = JSON.parse(l);
        return j.time >= from && j.time <= to ? [j] : [];
      } catch {
        return [];
      }
    });
}

/** What a tcpdump line (`-tt -e -n`, on the switch) seen on the guest's `tap` says that matters to a boot, or null. */
function packet(body, tap) {
  const dev = body.split(' ')[0];
  if (dev !== tap) return null; // each packet once: on the guest's tap, not again on the bridge and other taps
  if (/BOOTP\/DHCP, Request/.test(body)) return `${dev}: DHCP request (DISCOVER or REQUEST) from the guest`;
  if (/BOOTP\/DHCP, Reply/.test(body)) return `${dev}: DHCP reply (OFFER or ACK) from dnsmasq`;
  if (/ICMP echo reply/.test(body)) return `${dev}: ICMP echo reply`;
  if (/\.80: Flags \[S\],/.test(body)) return `${dev}: SYN to port 80 (metadata)`;
  if (/\.22 > .*Flags \[S\.\],/.test(body)) return `${dev}: SYN-ACK from port 22 (ssh)`;
  return null;
}

try {
  while (!started.includes('PocketStack is up')) {
    if (server.exitCode !== null) throw new Error(`the server did not start:\n${started}`);
    await sleep(50);
  }
  const url = (port, path) => `http://127.0.0.1:${port}${path}`;
  const auth = await fetch(url(ports.identity, '/v3/auth/tokens'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: 'timeline' } } },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } },
      },
    }),
  });
  const token = auth.headers.get('x-subject-token');
  const call = async (method, port, path, body) => {
    const r = await fetch(url(port, path), {
      method,
      headers: { 'x-auth-token': token, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const N = ports.network;
  const C = ports.compute;
  const pub = (await call('GET', N, '/v2.0/networks?name=public')).networks[0].id;
  const net = (await call('POST', N, '/v2.0/networks', { network: { name: 'timeline' } })).network.id;
  const subnet = (await call('POST', N, '/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.203.0.0/16' } })).subnet.id;
  const router = (await call('POST', N, '/v2.0/routers', { router: { name: 'timeline', external_gateway_info: { network_id: pub } } })).router;
  await call('PUT', C, `/v2.1/os-quota-sets/${router.project_id}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
  await call('PUT', N, `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet });
  const sg = (await call('POST', N, '/v2.0/security-groups', { security_group: { name: 'timeline' } })).security_group.id;
  for (const rule of [{ protocol: 'icmp' }, { protocol: 'tcp', port_range_min: 22, port_range_max: 22 }]) {
    await call('POST', N, '/v2.0/security-group-rules', { security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', ...rule } });
  }
  await call('POST', C, '/v2.1/os-keypairs', { keypair: { name: 'timeline' } });
  const image = (await call('GET', ports.image, '/v2/images?name=cirros-0.3.3-x86_64-disk')).images[0].id;
  // One boot first, not shown: it unpacks the image's tree once (later boots share it).
  const warm = async () => {
    const port = (await call('POST', N, '/v2.0/ports', { port: { network_id: net, security_groups: [sg] } })).port;
    const fip = (await call('POST', N, '/v2.0/floatingips', { floatingip: { floating_network_id: pub, port_id: port.id } })).floatingip;
    return { port: port.id, fip };
  };
  const first = await warm();
  const firstServer = (await call('POST', C, '/v2.1/servers', { server: { name: 'warm', flavorRef: '1', imageRef: image, networks: [{ port: first.port }] } }))
    .server.id;
  const p0 = await startProber([first.fip.floating_ip_address], { timeoutS: 60, intervalS: 0.01 });
  await p0.result;
  await call('DELETE', C, `/v2.1/servers/${firstServer}`);
  await call('DELETE', N, `/v2.0/floatingips/${first.fip.id}`);
  await sleep(1500);

  tcpdump = spawn(
    'ip',
    ['netns', 'exec', `${PREFIX}-sw`, 'tcpdump', '-i', 'any', '-n', '-tt', '-l', '-e', 'udp port 67 or udp port 68 or icmp or tcp port 80 or tcp port 22'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  let dump = '';
  tcpdump.stdout.on('data', (d) => (dump += d));
  await sleep(1000);

  let previous = null;
  for (let k = 0; k < boots; k++) {
    if (previous && values.serial) {
      await call('DELETE', C, `/v2.1/servers/${previous.server}`);
      await call('DELETE', N, `/v2.0/floatingips/${previous.fip}`);
    }
    const { port, fip } = await warm();
    if (!values.serial) await sleep(700);
    const events = [];
    const mark = (what, t = Date.now()) => events.push([t, what]);
    const prober = await startProber([fip.floating_ip_address], { timeoutS: 30, intervalS: 0.002 });
    const t0 = Date.now();
    mark('POST /v2.1/servers sent', t0);
    const id = (
      await call('POST', C, '/v2.1/servers', { server: { name: `timeline-${k}`, flavorRef: '1', imageRef: image, key_name: 'timeline', networks: [{ port }] } })
    ).server.id;
    mark('202 Accepted');
    let done = false;
    const poll = (async () => {
      let s0 = '';
      let p0 = '';
      while (!done) {
        const s = (await call('GET', C, `/v2.1/servers/${id}`)).server;
        const st = `server ${s.status} task=${s['OS-EXT-STS:task_state']} power=${s['OS-EXT-STS:power_state']}`;
        if (st !== s0) {
          s0 = st;
          mark(st);
        }
        const p = (await call('GET', N, `/v2.0/ports/${port}`)).port;
        const pt = `port ${p.status} binding:host_id=${p['binding:host_id'] || '-'}`;
        if (pt !== p0) {
          p0 = pt;
          mark(pt);
        }
        await sleep(20);
      }
    })();
    const ssh = (async () => {
      while (!done) {
        const banner = await new Promise((resolve) => {
          const sock = connect(22, fip.floating_ip_address);
          const end = (v) => {
            sock.destroy();
            resolve(v);
          };
          sock.setTimeout(200, () => end(false));
          sock.once('data', (b) => end(b.toString().startsWith('SSH-')));
          sock.once('error', () => end(false));
        });
        if (banner) return mark('port 22 gives an SSH banner (through the floating IP)');
        await sleep(10);
      }
    })();
    const answered = (await prober.result).get(fip.floating_ip_address);
    if (answered.at === null) throw new Error(`server ${id}: ${fip.floating_ip_address} never answered`);
    mark(`floating IP ${fip.floating_ip_address} answers ICMP echo (from the host)`, Math.round(answered.at));
    await Promise.race([ssh, sleep(5000)]);
    done = true;
    await poll;
    for (const l of serverLog(t0 - 1000, t0 + 6000)) {
      if (l.msg === 'data plane pass') {
        const p = l.pass;
        let t = l.time - p.ms;
        mark(
          `data-plane pass (${p.full ? 'full' : 'incremental'}, ${Math.round(p.ms)} ms, ${p.namespacesTouched} namespaces, ${p.execs} processes)`,
          Math.round(t),
        );
        for (const [phase, ms] of Object.entries(p.phases)) {
          t += ms;
          if (ms >= 5) mark(`  … ${phase} done (${ms} ms)`, Math.round(t));
        }
      } else if (l.msg === 'machine boot') mark(`machine spawned: its init's PID namespace exists (${l.ms} ms: ${JSON.stringify(l.steps)})`, l.time);
      else if (l.msg === 'removed namespaces') mark(`removed namespaces ${l.namespaces.join(' ')}`, l.time);
    }
    for (const line of dump.split('\n')) {
      const m = /^(\d+\.\d+) (.*)$/.exec(line);
      if (!m) continue;
      const t = Math.round(Number(m[1]) * 1000);
      const what = t >= t0 && t <= t0 + 6000 ? packet(m[2], `tap${port.slice(0, 11)}`) : null;
      if (what) mark(`packet ${what}`, t);
    }
    events.sort((a, b) => a[0] - b[0]);
    console.log(`\n=== boot ${k + 1}: server ${id}`);
    for (const [t, what] of events) console.log(`${String(t - t0).padStart(6)} ms  ${what}`);
    previous = { server: id, fip: fip.id };
    if (!values.serial) {
      await call('DELETE', C, `/v2.1/servers/${id}`);
      await call('DELETE', N, `/v2.0/floatingips/${fip.id}`);
      await sleep(1500);
    }
  }
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await cleanup();
}
