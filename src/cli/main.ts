#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig, parseInterfaceMappings, type Config } from '../config.js';
import { Names } from '../dataplane/netns/names.js';
import { teardown } from '../dataplane/netns/down.js';
import { listNamespaces } from '../dataplane/netns/kernel.js';
import { preflight, releaseLock, takeLock } from '../dataplane/netns/preflight.js';
import { explanationText } from '../dashboard/explain/text.js';
import type { Explanation } from '../dashboard/explain/model.js';
import { OpenStack, credentials, dashboardUrl } from '../demo/client.js';
import { deployFractal, removeFractal } from '../demo/fractal.js';
import { LAB_ADDRESS, LAB_BRIDGE, LAB_NS, LAB_PUBLIC_ADDRESSES, LAB_PUBLIC_BRIDGE, agentArgs, labDown, labNow, labUp } from '../lab/lab.js';
import { Cloud } from '../server.js';
import { startIdleGc } from '../util/idlegc.js';
import { parseIp } from '../util/ip.js';

const USAGE = `usage: pocketstack <command> [options]

commands:
  serve           start the cloud (identity :5000, network :9696 …) on this machine
  agent           run one host's agents (heartbeats, its part of the data plane) against a
                  PostgreSQL store that a \`serve\` elsewhere shares; no API
  dataplane down  remove every namespace and host link the netns data plane owns (and nothing else)
  lab hosts N     simulated hosts on this machine (root): a lab switch and N host namespaces on
                  it, each with an underlay address; prints each host's agent command (--start
                  runs them here until Ctrl-C)
  lab down        remove the lab: each host's data plane (its agent must be stopped), its hosts, its switch
  explain SRC DST why SRC can or cannot reach DST, hop by hop (and, on netns, a real probe)
  demo fractal    deploy the Fractal app on the seed's topology (netns); --down removes it

serve options:
  --host ADDR         address to listen on (default 127.0.0.1; POCKETSTACK_HOST)
  --data-dir DIR      where state lives (default ./.pocketstack; POCKETSTACK_DATA_DIR)
  --database URL      sqlite:<file> or postgres://… (default sqlite in the data dir)
  --log-level LEVEL   trace|debug|info|warn|error (default info)
  --dataplane KIND    noop (default) or netns (root: namespaces, bridges, nftables, iptables)
  --run-user-data     accepted for compatibility (user_data always runs, as root inside its instance)
  --no-local-agent    API only: run no agents (no data plane) here; hosts run \`pocketstack agent\`
                      (POCKETSTACK_LOCAL_AGENT=false)
  --default-subnetpools  on the first start, also DevStack's shared default subnet pools and
                      \`is_default\` on public, for auto-allocated topology
                      (POCKETSTACK_DEFAULT_SUBNETPOOLS=true)
  --initial-networks  on the first start, also DevStack's \`private\` network and \`router1\` for
                      the demo project (POCKETSTACK_INITIAL_NETWORKS=true)

agent options:
  --host NAME         the host these agents are (Neutron's host; default this machine's name)
  --database URL      postgres://… the servers share (required: several hosts need one store)
  --dataplane KIND    noop (default) or netns (root)
  --dataplane-prefix XY  netns: two characters starting this agent's namespaces and host links (default ps)
  --data-dir DIR      where this host keeps instances' disks and logs (default ./.pocketstack)
  --log-level LEVEL   trace|debug|info|warn|error (default info)
  --vcpus N, --memory-mb M, --disk-gb G  what this host's nova-compute reports (os-hypervisors,
                      the scheduler; default this machine's CPUs, memory and data directory's disk)
  --tunnel-ip ADDR    this host's VXLAN endpoint (OVS/Linux bridge agent's local_ip;
                      POCKETSTACK_TUNNEL_IP): tenant networks reach other hosts over VXLAN
  --underlay-netns NS the namespace holding --tunnel-ip (default this process's own; a lab
                      host's namespace with \`pocketstack lab\`; POCKETSTACK_UNDERLAY_NETNS)
  --arp-responder     l2population's ARP responder (the Linux bridge agent's [vxlan]
                      arp_responder, off by default as there): the host answers ARP for other
                      hosts' ports itself instead of flooding it over VXLAN
                      (POCKETSTACK_VXLAN_ARP_RESPONDER)
  --physical-interface-mappings PHYSNET:IF[,…]  the Linux bridge agent's option: a flat
                      network on PHYSNET is its bridge with interface IF (in --underlay-netns)
                      enslaved, one L2 segment across hosts, not a routed host leg
                      (POCKETSTACK_PHYSICAL_INTERFACE_MAPPINGS; reported as interface_mappings)
  --bridge-mappings PHYSNET:BRIDGE[,…]  the Linux bridge agent's bridge_mappings: a flat
                      network on PHYSNET is joined to BRIDGE, an existing bridge of this
                      host's own namespace (before any interface mapping of PHYSNET)
                      (POCKETSTACK_BRIDGE_MAPPINGS; reported as bridge_mappings)
  Liveness: POCKETSTACK_REPORT_INTERVAL (s, Neutron's report_interval, 30) here, and
  POCKETSTACK_AGENT_DOWN_TIME (s, agent_down_time, 75) on the servers.

lab options:
  --database URL      postgres://… the API servers share (POCKETSTACK_DATABASE_URL); needed by --start
  --data-dir DIR      the hosts keep their instances under DIR/lab/hostK (default ./.pocketstack)
  --arp-responder     the hosts' agents run with --arp-responder (l2population's ARP responder)
  --start             run the hosts' agents as children of this command, their output prefixed
                      with their host; Ctrl-C stops them (the lab stays: \`lab down\` removes it)

explain and demo options (they act as a user: the OS_* variables of an openrc, or
<data-dir>/openrc-demo.sh when none are set):
  SRC                 an instance (name or id), a port id, or "internet"
  DST                 an instance, a port, a floating IP (address or id), a load balancer (name, id, VIP)
  --protocol P        tcp (default), udp or icmp
  --port N            destination port (tcp/udp; default 80)
  --path /P           HTTP path, to choose among a listener's L7 policies
  --no-probe          reason from the model only
  --json              print the answer as JSON
  --down              demo: remove what the demo made (everything tagged fractal-demo)
  --dashboard-url U   where the dashboard answers (default: the identity host, port 8080)

dataplane down options:
  --prefix XX         the data plane's two-character prefix (default ps; POCKETSTACK_DATAPLANE_PREFIX)
  --data-dir DIR      also remove the instances' disks and image trees kept there (default ./.pocketstack)
`;

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      database: { type: 'string' },
      'log-level': { type: 'string' },
      dataplane: { type: 'string' },
      'run-user-data': { type: 'boolean' },
      'no-local-agent': { type: 'boolean' },
      'default-subnetpools': { type: 'boolean' },
      'initial-networks': { type: 'boolean' },
    },
  });
  const overrides: Partial<Config> = {};
  if (values.host) overrides.host = values.host;
  if (values['data-dir']) overrides.dataDir = values['data-dir'];
  if (values.database) overrides.databaseUrl = values.database;
  if (values['log-level']) overrides.logLevel = values['log-level'];
  if (values.dataplane) overrides.dataplane = values.dataplane as Config['dataplane'];
  if (values['run-user-data']) overrides.runUserData = true;
  if (values['no-local-agent']) overrides.localAgent = false;
  if (values['default-subnetpools']) overrides.defaultSubnetpools = true;
  if (values['initial-networks']) overrides.initialNetworks = true;
  const config = loadConfig(overrides);
  // performance.now() counts from the process's start, so the figure printed includes Node's own
  // start and loading the modules, which is most of it: the time a user waits, not our share.
  const phases: Array<[string, number]> = [['modules', performance.now()]];
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await fn();
    phases.push([name, performance.now() - t0]);
    return r;
  };
  // Logs go to stderr as JSON lines; stdout carries the human summary below.
  const log = pino({ level: config.logLevel }, pino.destination(2));
  const cloud = await phase('store and services', () => Cloud.create(config, log));
  const boot = await phase('bootstrap', () => cloud.bootstrap());
  const endpoints = await phase('listen', () => cloud.listen());
  const dashboard = await cloud.listenDashboard();
  await phase('data plane', () => cloud.startDataPlane());
  const ms = Math.round(performance.now());

  const lines = [
    `PocketStack is up in ${ms} ms${boot.firstStart ? ' (first start: bootstrapped identity and the public network)' : ''}`,
    `  start-up       ${phases.map(([name, t]) => `${name} ${Math.round(t)} ms`).join(', ')}`,
    ...endpoints.map((e) => `  ${e.service.padEnd(14)} ${e.url}`),
    `  dashboard      ${'url' in dashboard ? dashboard.url : dashboard.error}`,
    `  data           ${config.dataDir}`,
    `  database       ${config.databaseUrl.replace(/\/\/[^@/]*@/, '//***@')}`,
    `  credentials    source ${config.dataDir}/openrc-demo.sh   (or openrc-admin.sh; clouds.yaml is there too)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  startIdleGc();
  stopOnSignals(cloud, log);
}

function stopOnSignals(cloud: Cloud, log: pino.Logger): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await cloud.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** A capacity flag: a whole number ≥ 0, or undefined when not given. */
function wholeNumber(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`${flag} needs a whole number, not '${v}'`);
  return Number(v);
}

/** `pocketstack agent`: one host's agents, against the PostgreSQL store the servers share. */
async function agent(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      database: { type: 'string' },
      dataplane: { type: 'string' },
      'dataplane-prefix': { type: 'string' },
      'data-dir': { type: 'string' },
      'log-level': { type: 'string' },
      vcpus: { type: 'string' },
      'memory-mb': { type: 'string' },
      'disk-gb': { type: 'string' },
      'tunnel-ip': { type: 'string' },
      'underlay-netns': { type: 'string' },
      'physical-interface-mappings': { type: 'string' },
      'bridge-mappings': { type: 'string' },
      'arp-responder': { type: 'boolean' },
    },
  });
  const overrides: Partial<Config> = {};
  if (values.host) overrides.agentHost = values.host;
  const env = loadConfig().hostCapacity;
  overrides.hostCapacity = {
    vcpus: wholeNumber('--vcpus', values.vcpus) ?? env.vcpus,
    memoryMb: wholeNumber('--memory-mb', values['memory-mb']) ?? env.memoryMb,
    diskGb: wholeNumber('--disk-gb', values['disk-gb']) ?? env.diskGb,
  };
  if (values['tunnel-ip']) overrides.tunnelIp = values['tunnel-ip'];
  if (values['underlay-netns']) overrides.underlayNetns = values['underlay-netns'];
  if (values['arp-responder']) overrides.vxlanArpResponder = true;
  if (values['physical-interface-mappings'] !== undefined) overrides.interfaceMappings = parseInterfaceMappings(values['physical-interface-mappings']);
  if (values['bridge-mappings'] !== undefined) overrides.bridgeMappings = parseInterfaceMappings(values['bridge-mappings'], 'bridge');
  if (values.database) overrides.databaseUrl = values.database;
  if (values.dataplane) overrides.dataplane = values.dataplane as Config['dataplane'];
  if (values['dataplane-prefix']) overrides.dataplanePrefix = values['dataplane-prefix'];
  if (values['data-dir']) overrides.dataDir = values['data-dir'];
  if (values['log-level']) overrides.logLevel = values['log-level'];
  const config = loadConfig(overrides);
  if (!/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
    throw new Error(
      'agent needs the PostgreSQL store the servers share (--database postgres://… or POCKETSTACK_DATABASE_URL): ' +
        'SQLite is one machine, whose agents `pocketstack serve` runs itself',
    );
  }
  if (config.tunnelIp !== null && !parseIp(config.tunnelIp)) throw new Error(`--tunnel-ip: '${config.tunnelIp}' is not an IP address`);
  if (config.underlayNetns !== null && !(await listNamespaces()).has(config.underlayNetns)) {
    throw new Error(`--underlay-netns: no network namespace '${config.underlayNetns}' (pocketstack lab hosts N makes the lab's)`);
  }
  const log = pino({ level: config.logLevel }, pino.destination(2));
  const cloud = await Cloud.create(config, log, 'agent');
  await cloud.startDataPlane();
  process.stdout.write(
    `PocketStack agents of host ${config.agentHost} are up (L2, DHCP, L3, metadata; data plane ${config.dataplane}` +
      `${config.dataplane === 'netns' ? `, prefix ${config.dataplanePrefix}` : ''}` +
      `${config.tunnelIp ? `, VXLAN endpoint ${config.tunnelIp}${config.underlayNetns ? ` in ${config.underlayNetns}` : ''}` : ''}` +
      `${config.interfaceMappings.size ? `, interfaces ${[...config.interfaceMappings].map(([k, v]) => `${k}:${v}`).join(',')}` : ''}), reporting every ${config.reportInterval} s\n`,
  );
  stopOnSignals(cloud, log);
}

async function dataplane(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'down') {
    process.stderr.write(`pocketstack: unknown dataplane command '${sub ?? ''}' (try: pocketstack dataplane down)\n`);
    process.exit(2);
  }
  const { values } = parseArgs({ args: rest, options: { prefix: { type: 'string' }, 'data-dir': { type: 'string' } } });
  const why = await preflight();
  if (why) throw new Error(why);
  const config = loadConfig(values['data-dir'] ? { dataDir: values['data-dir'] } : {});
  const names = new Names(values.prefix ?? config.dataplanePrefix);
  // A running server would rebuild everything at once: it has to stop first.
  takeLock(names.prefix);
  const started = performance.now();
  const removed = await teardown(names, { dataDir: config.dataDir });
  releaseLock(names.prefix);
  const ms = Math.round(performance.now() - started);
  process.stdout.write(
    `removed ${removed.namespaces.length} namespaces (${removed.machines.length} instances) and ${removed.links.length} host links in ${ms} ms` +
      `${removed.namespaces.length ? `\n  ${[...removed.namespaces, ...removed.links].join(' ')}` : ''}\n`,
  );
}

/** `pocketstack lab hosts N [--start]`, `pocketstack lab down`: simulated hosts (src/lab/lab.ts). */
async function lab(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { database: { type: 'string' }, 'data-dir': { type: 'string' }, start: { type: 'boolean' }, 'arp-responder': { type: 'boolean' } },
  });
  const why = await preflight();
  if (why) throw new Error(why);
  const config = loadConfig({ ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}), ...(values.database ? { databaseUrl: values.database } : {}) });
  const say = (line: string) => process.stdout.write(`${line}\n`);
  if (sub === 'down') {
    const hosts = await labNow();
    for (const h of hosts) {
      const names = new Names(h.prefix);
      // A running agent would build it all again: it has to stop first (the lock says if it runs).
      takeLock(names.prefix);
      try {
        await teardown(names, { dataDir: join(config.dataDir, 'lab', h.name) });
      } finally {
        releaseLock(names.prefix);
      }
    }
    await labDown();
    say(hosts.length ? `removed the lab (${hosts.map((h) => h.name).join(', ')}) and their data planes` : 'no lab here');
    return;
  }
  if (sub !== 'hosts' || positionals.length !== 1)
    throw new Error('usage: pocketstack lab hosts N [--database postgres://…] [--arp-responder] [--start] | pocketstack lab down');
  const postgres = /^postgres(ql)?:\/\//.test(config.databaseUrl);
  if (values.start && !postgres)
    throw new Error('lab --start needs the PostgreSQL store the API servers share (--database postgres://… or POCKETSTACK_DATABASE_URL)');
  const { created, hosts } = await labUp(Number(positionals[0]));
  say(`lab switch ${LAB_BRIDGE} in namespace ${LAB_NS} (${LAB_ADDRESS}); ${created.length} of ${hosts.length} hosts created now`);
  say(
    `public switch ${LAB_PUBLIC_BRIDGE} there, the public network's upstream (${LAB_PUBLIC_ADDRESSES.join(', ')}): each host's eth1, mapped to physnet public`,
  );
  for (const h of hosts) say(`  ${h.name.padEnd(6)} namespace ${h.ns}, underlay ${h.tunnelIp} (VXLAN endpoint), data-plane prefix ${h.prefix}`);
  // Run again exactly as this command was run (node with its loader, then this script).
  const self = [process.execPath, ...process.execArgv, process.argv[1]];
  const database = postgres ? config.databaseUrl : 'postgres://USER:PASSWORD@HOST/DB';
  const agentOpts = { arpResponder: values['arp-responder'] === true };
  if (!values.start) {
    say(`\nStart each host's agents (each in its own terminal, as root; stopping one is that host failing):`);
    for (const h of hosts) say(`  ${[...self, ...agentArgs(h, database, config.dataDir, agentOpts)].join(' ')}`);
    say(`and the API without an agent of its own: pocketstack serve --database ${database} --no-local-agent --dataplane netns`);
    say("Nova's scheduler spreads servers over the hosts; an admin forces one with availability_zone nova:hostK. Remove the lab: pocketstack lab down");
    return;
  }
  const children = hosts.map((h) => {
    const child = spawn(self[0], [...self.slice(1), ...agentArgs(h, config.databaseUrl, config.dataDir, agentOpts)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = (stream: NodeJS.WritableStream) => (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line) stream.write(`[${h.name}] ${line}\n`);
    };
    child.stdout.on('data', prefix(process.stdout));
    child.stderr.on('data', prefix(process.stderr));
    child.on('exit', (code, signal) => say(`[${h.name}] agent exited (${signal ?? code})`));
    return child;
  });
  const stop = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await Promise.all(children.map((c) => new Promise((r) => c.once('close', r))));
}

const USER_OPTIONS = {
  'data-dir': { type: 'string' },
  'dashboard-url': { type: 'string' },
  protocol: { type: 'string' },
  port: { type: 'string' },
  path: { type: 'string' },
  'no-probe': { type: 'boolean' },
  json: { type: 'boolean' },
  down: { type: 'boolean' },
} as const;

async function asUser(dataDir: string | undefined): Promise<OpenStack> {
  return OpenStack.login(credentials(process.env, dataDir ?? loadConfig().dataDir));
}

/** Exit codes: 0 allowed, 3 denied, 4 the kernel disagreed with the model. */
async function explain(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: USER_OPTIONS, allowPositionals: true });
  if (positionals.length !== 2) throw new Error('usage: pocketstack explain SRC DST [--protocol tcp|udp|icmp] [--port N]');
  const os = await asUser(values['data-dir']);
  const base = dashboardUrl(values['dashboard-url'], os.authUrl, process.env);
  const protocol = values.protocol ?? 'tcp';
  const q = new URLSearchParams({ from: positionals[0], to: positionals[1], protocol });
  if (protocol !== 'icmp') q.set('port', values.port ?? '80');
  if (values.path) q.set('path', values.path);
  if (values['no-probe']) q.set('probe', 'false');
  const res = await fetch(`${base}/explain?${q}`, { headers: { 'x-auth-token': os.token } }).catch((e: Error) => {
    throw new Error(`cannot reach the dashboard at ${base}: ${e.message} (--dashboard-url)`);
  });
  const body = (await res.json()) as Explanation & { error?: { message: string } };
  if (!res.ok) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
  process.stdout.write(values.json ? `${JSON.stringify(body, null, 2)}\n` : explanationText(body));
  process.exitCode = body.probe?.agrees === false ? 4 : body.verdict === 'allowed' ? 0 : 3;
}

async function demo(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name !== 'fractal') throw new Error(`unknown demo '${name ?? ''}' (try: pocketstack demo fractal)`);
  const { values } = parseArgs({ args: rest, options: USER_OPTIONS });
  const os = await asUser(values['data-dir']);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  if (values.down) {
    say('Removing the Fractal demo (everything tagged fractal-demo):');
    const n = await removeFractal(os, say);
    say(n ? 'done.' : 'nothing to remove.');
    return;
  }
  const dashboard = dashboardUrl(values['dashboard-url'], os.authUrl, process.env);
  say("Deploying the Fractal app on the seed's topology, through the APIs:");
  const started = Date.now();
  const d = await deployFractal(os, { say, dashboard });
  say('');
  say(`The Fractal app is up (${((Date.now() - started) / 1000).toFixed(1)} s): ${d.url}`);
  say(`  web UI          ${d.url}   (load balancer fractal-lb, VIP ${d.ids.vip_address}, members web1 web2)`);
  say(`  an image        ${d.imageUrl}`);
  say(`  API tier        http://${d.ids.api_floating_ip_address}/v1/fractal   (api1; workers worker1 worker2)`);
  say(`  dashboard       ${dashboard}/`);
  say(`  explain         pocketstack explain internet ${d.ids.vip_floating_ip_address} --port 80`);
  say('  remove it       pocketstack demo fractal --down');
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'serve':
      await serve(rest);
      break;
    case 'agent':
      await agent(rest);
      break;
    case 'dataplane':
      await dataplane(rest);
      break;
    case 'lab':
      await lab(rest);
      break;
    case 'explain':
      await explain(rest);
      break;
    case 'demo':
      await demo(rest);
      break;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      break;
    default:
      process.stderr.write(`pocketstack: unknown command '${cmd}'\n${USAGE}`);
      process.exit(2);
  }
}

main().catch((e) => {
  process.stderr.write(`pocketstack: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
