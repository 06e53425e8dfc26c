import { mkdtemp, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runIn } from './exec.js';
import { ROOT_NS } from './model.js';
import { L3_TABLE, type L3State, parseL3State } from './l3ext.js';
import { type NatState, parseNatState } from './nat.js';
import { type OverlayState, parseOverlayState } from './overlay.js';
import { type QosState, parseQosState } from './qos.js';
import { bpfObject } from './bpf.js';
import { type ClsactState, parseHookFilters } from './localip.js';
import { localIpConnMap, localIpEgressProgram, localIpIngressProgram, localIpProgramName } from './localipprog.js';
import { NAT_TABLE } from './names.js';
import type { Owner } from './owners.js';
import { type Line, batchErrors, batchFailures } from './plan.js';
import { type NsState, READ_BATCH, parseIptablesSave, parseNsRead } from './state.js';
import { OBJECT_TOKEN, type TcLine, type VlanTagState, parseClsact, parseIngressFilters } from './vlantag.js';

/** Where `ip netns` keeps its named namespaces. */
export const NETNS_DIR = '/run/netns';

const ipArgs = (ns: string): string[] => (ns === ROOT_NS ? [] : ['-n', ns]);

/** Named namespaces → inode (the inode identifies one incarnation: a recreated one differs). */
export async function listNamespaces(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let names: string[];
  try {
    names = await readdir(NETNS_DIR);
  } catch {
    return out;
  }
  await Promise.all(
    names.map(async (n) => {
      try {
        out.set(n, (await stat(`${NETNS_DIR}/${n}`)).ino);
      } catch {
        // vanished meanwhile
      }
    }),
  );
  return out;
}

export async function readNs(ns: string): Promise<NsState> {
  const r = await run('ip', ['-d', '-j', ...ipArgs(ns), '-batch', '-'], { input: READ_BATCH });
  return parseNsRead(r.stdout);
}

/**
 * Run `lines` as one `ip -force -batch` (one process for the whole namespace). Returns the
 * failures as owner → reason; tolerant lines never count.
 */
export async function ipBatch(ns: string, lines: Line[]): Promise<Map<Owner, string>> {
  if (lines.length === 0) return new Map();
  const r = await run('ip', [...ipArgs(ns), '-force', '-batch', '-'], { input: `${lines.map((l) => l.cmd).join('\n')}\n`, allowFail: true });
  if (r.code === 0) return new Map();
  return batchErrors(lines, batchFailures(r.stderr), r.stderr.trim() || `ip exited ${r.code}`);
}

export async function createNamespace(name: string, sysctls: Array<[string, string]>, opts: { nsid?: boolean } = {}): Promise<void> {
  await run('ip', ['netns', 'add', name]);
  if (opts.nsid) await assignNsid(name);
  if (sysctls.length) await setSysctls(name, sysctls);
}

/** An id in the root namespace lets the root's link monitor see this namespace's events. */
export async function assignNsid(ns: string): Promise<void> {
  await run('ip', ['netns', 'set', ns, 'auto'], { allowFail: true });
}

async function setSysctls(ns: string, sysctls: Array<[string, string]>): Promise<void> {
  await runIn(ns, 'sysctl', ['-q', '-w', ...sysctls.map(([k, v]) => `${k}=${v}`)]);
}

/** Processes whose network namespace is `ns` (compared by inode, as `ip netns pids` does). */
export async function namespacePids(ns: string): Promise<number[]> {
  let ino: number;
  try {
    ino = (await stat(`${NETNS_DIR}/${ns}`)).ino;
  } catch {
    return [];
  }
  const want = `net:[${ino}]`;
  const pids: number[] = [];
  const entries = await readdir('/proc');
  await Promise.all(
    entries.map(async (e) => {
      if (!/^\d+$/.test(e)) return;
      try {
        if ((await readlink(`/proc/${e}/ns/net`)) === want) pids.push(Number(e));
      } catch {
        // exited, or a kernel thread
      }
    }),
  );
  return pids.sort((a, b) => a - b);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM every process in the namespace, SIGKILL what is left after `graceMs`. */
export async function killNamespaceProcesses(ns: string, graceMs = 1000): Promise<number> {
  let pids = await namespacePids(ns);
  const n = pids.length;
  if (n === 0) return 0;
  const signal = (sig: NodeJS.Signals) => {
    for (const p of pids) {
      try {
        process.kill(p, sig);
      } catch {
        // already gone
      }
    }
  };
  signal('SIGTERM');
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    await sleep(25);
    pids = await namespacePids(ns);
    if (pids.length === 0) return n;
  }
  signal('SIGKILL');
  for (let i = 0; i < 40 && (await namespacePids(ns)).length; i++) await sleep(25);
  return n;
}

export async function deleteNamespace(name: string): Promise<void> {
  await killNamespaceProcesses(name, 500);
  await run('ip', ['netns', 'del', name], { allowFail: true });
}

/** A router's L3-extension table (l3ext.ts) and its NDP proxy entries. */
export async function readL3(ns: string): Promise<L3State> {
  const [table, proxies] = await Promise.all([
    runIn(ns, 'nft', ['-j', 'list', 'table', 'inet', L3_TABLE], { allowFail: true }),
    runIn(ns, 'ip', ['-j', '-6', 'neigh', 'show', 'proxy'], { allowFail: true }),
  ]);
  return parseL3State(table.code === 0 ? table.stdout : '', proxies.code === 0 ? proxies.stdout : '[]');
}

export async function readNat(ns: string): Promise<NatState | null> {
  const r = await runIn(ns, 'nft', ['-j', 'list', 'table', 'ip', NAT_TABLE], { allowFail: true });
  if (r.code !== 0) return null;
  return parseNatState(r.stdout);
}

/** The switch's QoS: tbf shapers (`tc -j qdisc show`) and our netdev tables (`nft -j list ruleset netdev`). */
export async function readQos(ns: string): Promise<QosState> {
  const [tc, nft] = await Promise.all([
    run('tc', [...ipArgs(ns), '-j', 'qdisc', 'show']),
    runIn(ns, 'nft', ['-j', 'list', 'ruleset', 'netdev'], { allowFail: true }),
  ]);
  return parseQosState(tc.stdout, nft.code === 0 ? nft.stdout : '');
}

/**
 * `lines` as one `tc -force -batch` in `ns`: every line runs; the failures come back as owner →
 * reason. A line's BPF object is written to a directory only root can read, for `tc` to load.
 * `tc -n` runs in a mount namespace of its own with a bpffs of its own: a map pinned by name
 * (the local IP programs' connections) is shared by the lines of this batch only, and no pin
 * outlives it.
 */
export async function tcBatch(ns: string, lines: TcLine[]): Promise<Map<Owner, string>> {
  if (lines.length === 0) return new Map();
  const dir = lines.some((l) => l.object) ? await mkdtemp(join(tmpdir(), 'ps-bpf-')) : null;
  try {
    const cmds = await Promise.all(
      lines.map(async (l, i) => {
        if (!l.object || !dir) return l.cmd;
        const file = join(dir, `${i}.o`);
        await writeFile(file, l.object, { mode: 0o600 });
        return l.cmd.replace(OBJECT_TOKEN, file);
      }),
    );
    const r = await run('tc', [...ipArgs(ns), '-force', '-batch', '-'], { input: `${cmds.join('\n')}\n`, allowFail: true });
    if (r.code === 0) return new Map();
    return batchErrors(lines, batchFailures(r.stderr), r.stderr.trim() || `tc exited ${r.code}`);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** A namespace's clsact qdiscs and, on those devices, the ingress bpf filters (vlantag.ts). */
export async function readVlanTags(ns: string): Promise<VlanTagState> {
  const clsact = parseClsact((await run('tc', [...ipArgs(ns), '-j', 'qdisc', 'show'])).stdout);
  const filters = await Promise.all(
    [...clsact].map(async (dev) =>
      parseIngressFilters(dev, (await run('tc', [...ipArgs(ns), '-j', 'filter', 'show', 'dev', dev, 'ingress'], { allowFail: true })).stdout),
    ),
  );
  return { clsact, filters: filters.flat() };
}

let vlanProbe: Promise<boolean> | null = null;

/**
 * Whether this kernel makes 802.1Q VLAN devices: tried once, in a network namespace of its own
 * that ends with the probe (a kernel without 8021q answers "Unknown device type" or EOPNOTSUPP).
 */
export function vlanDevices(): Promise<boolean> {
  vlanProbe ??= run('unshare', ['--net', 'ip', '-batch', '-'], {
    input: 'link add psprobe0 type veth peer name psprobe1\nlink add link psprobe0 name psprobe0.1 type vlan id 1\n',
    allowFail: true,
  }).then(
    (r) => r.code === 0,
    () => false,
  );
  return vlanProbe;
}

/** A namespace's clsact qdiscs and, on those devices, the bpf filters of both hooks (localip.ts). */
export async function readClsact(ns: string): Promise<ClsactState> {
  const clsact = parseClsact((await run('tc', [...ipArgs(ns), '-j', 'qdisc', 'show'])).stdout);
  const filters = await Promise.all(
    [...clsact].flatMap((dev) =>
      (['ingress', 'egress'] as const).map(async (hook) =>
        parseHookFilters(dev, hook, (await run('tc', [...ipArgs(ns), '-j', 'filter', 'show', 'dev', dev, hook], { allowFail: true })).stdout),
      ),
    ),
  );
  return { clsact, filters: filters.flat() };
}

let localIpProbe: Promise<string | null> | null = null;

/**
 * Whether `tc` loads the local IP programs on this kernel (probed once, in network and mount
 * namespaces of their own that end with the probe): null when it does, else what it answered.
 * Both programs of a tap are loaded as the planner loads them, one batch sharing their connection
 * map (a BTF-defined LRU hash pinned by name), so a kernel or a libbpf that refuses the map, its
 * BTF or a helper the programs call is found here. In the mount namespace the probe mounts a
 * bpffs of its own for `tc` to pin the map in, as `tc -n` does: a host's /sys/fs/bpf (mounted by
 * systemd, or by an earlier `tc`) would otherwise keep the probe's pin, and its map, after it.
 */
export function localIpPrograms(): Promise<string | null> {
  localIpProbe ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ps-bpf-'));
    try {
      const entries = [{ localIp: '192.0.2.1', fixedIp: '192.0.2.2', mac: 'fa:16:3e:00:00:01' }];
      const map = localIpConnMap('psprobe0');
      const files = [];
      for (const [hook, insns] of [
        ['ingress', localIpIngressProgram(entries)],
        ['egress', localIpEgressProgram(entries)],
      ] as const) {
        const file = join(dir, `${hook}.o`);
        await writeFile(file, bpfObject(localIpProgramName(hook, insns), insns, map), { mode: 0o600 });
        files.push(file);
      }
      const script =
        'mount -t bpf bpf /sys/fs/bpf && ip link add psprobe0 type veth peer name psprobe1 && tc qdisc add dev psprobe0 clsact && ' +
        'printf "filter add dev psprobe0 ingress bpf direct-action obj %s sec tc\\nfilter add dev psprobe0 egress bpf direct-action obj %s sec tc\\n" "$1" "$2" | tc -batch -';
      const r = await run('unshare', ['--net', '--mount', 'sh', '-c', script, 'sh', ...files], { allowFail: true });
      return r.code === 0 ? null : r.stderr.trim() || `exit ${r.code}`;
    } catch (e) {
      return (e as Error).message;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return localIpProbe;
}

export async function nftApply(ns: string, script: string): Promise<void> {
  await runIn(ns, 'nft', ['-f', '-'], { input: script });
}

export async function iptablesSave(ns: string, family: 4 | 6): Promise<Map<string, Map<string, string[]>>> {
  const r = await runIn(ns, family === 4 ? 'iptables-save' : 'ip6tables-save', []);
  return parseIptablesSave(r.stdout);
}

export async function iptablesRestore(ns: string, family: 4 | 6, text: string): Promise<void> {
  await runIn(ns, family === 4 ? 'iptables-restore' : 'ip6tables-restore', ['--noflush', '-w', '5'], { input: text });
}

/** Drop conntrack entries of one address in one zone (after a rule that admitted them went away). */
export async function conntrackForget(ns: string, zone: number, ip: string): Promise<void> {
  const family = ip.includes(':') ? ['-f', 'ipv6'] : [];
  for (const dir of ['-s', '-d']) {
    // Exit 1 just means no entry matched.
    await runIn(ns, 'conntrack', ['-D', ...family, '-w', String(zone), dir, ip], { allowFail: true });
  }
}

/** Drop a router's conntrack entries of a floating IP (its association went away or moved). */
export async function conntrackForgetFloating(ns: string, ip: string): Promise<void> {
  // Inbound flows were addressed to it; outbound ones were answered to it (after SNAT).
  for (const dir of ['--orig-dst', '--reply-dst']) {
    await runIn(ns, 'conntrack', ['-D', dir, ip], { allowFail: true });
  }
}

/** The switch's VXLAN devices and their forwarding entries (overlay.ts). */
export async function readOverlay(ns: string): Promise<OverlayState> {
  const [links, fdb, neigh] = await Promise.all([
    run('ip', [...ipArgs(ns), '-d', '-j', 'link', 'show', 'type', 'vxlan']),
    runIn(ns, 'bridge', ['-j', 'fdb', 'show']),
    run('ip', [...ipArgs(ns), '-j', 'neigh', 'show', 'nud', 'permanent']),
  ]);
  return parseOverlayState(links.stdout, fdb.stdout, neigh.stdout);
}

/** `lines` as one `bridge -force -batch` in `ns` (forwarding entries); failures as owner → reason. */
export async function bridgeBatch(ns: string, lines: Line[]): Promise<Map<Owner, string>> {
  if (lines.length === 0) return new Map();
  const r = await runIn(ns, 'bridge', ['-force', '-batch', '-'], { input: `${lines.map((l) => l.cmd).join('\n')}\n`, allowFail: true });
  if (r.code === 0) return new Map();
  return batchErrors(lines, batchFailures(r.stderr), r.stderr.trim() || `bridge exited ${r.code}`);
}
