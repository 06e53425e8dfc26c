import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { which } from '../../util/which.js';
import { run } from './exec.js';
import { detectCgroups } from './machines/cgroups.js';
import { staticBusybox } from './machines/cirros.js';

/** Tools the netns data plane runs, and the Debian package that provides each. */
export const REQUIRED_TOOLS: Array<{ tool: string; pkg: string }> = [
  { tool: 'ip', pkg: 'iproute2' },
  { tool: 'nft', pkg: 'nftables' },
  { tool: 'iptables-save', pkg: 'iptables' },
  { tool: 'iptables-restore', pkg: 'iptables' },
  { tool: 'ip6tables-save', pkg: 'iptables' },
  { tool: 'ip6tables-restore', pkg: 'iptables' },
  { tool: 'conntrack', pkg: 'conntrack' },
  { tool: 'sysctl', pkg: 'procps' },
  { tool: 'setpriv', pkg: 'util-linux' },
  // Routers announce the addresses they add with gratuitous ARPs (garp.ts), as Neutron's L3 agent
  // does with the same tool.
  { tool: 'arping', pkg: 'iputils-arping' },
];

/** Tools instances (machines) need beyond the network's. */
export const MACHINE_TOOLS: Array<{ tool: string; pkg: string }> = [
  { tool: 'unshare', pkg: 'util-linux' },
  { tool: 'nsenter', pkg: 'util-linux' },
  { tool: 'script', pkg: 'bsdutils' },
  { tool: 'mount', pkg: 'mount' },
  { tool: 'tar', pkg: 'tar' },
  { tool: 'blkid', pkg: 'util-linux' },
  { tool: 'mkfifo', pkg: 'coreutils' },
];

/**
 * Why servers cannot run as machines here, or null: the tools above, a static busybox (every
 * instance's init), control groups with the memory, cpu and pids controllers (and freezer on v1).
 */
export function machinePreflight(
  opts: { which?: (t: string) => string | null; busybox?: () => { why: string } | { path: string }; cgroups?: () => unknown } = {},
): string | null {
  const find = opts.which ?? which;
  const missing = MACHINE_TOOLS.filter((t) => !find(t.tool));
  if (missing.length) {
    return `instances need ${missing.map((m) => m.tool).join(', ')}: apt-get install ${[...new Set(missing.map((m) => m.pkg))].join(' ')}`;
  }
  const bb = (opts.busybox ?? staticBusybox)();
  if ('why' in bb) return `instances need a static busybox for their init: ${bb.why}`;
  if (!(opts.cgroups ?? detectCgroups)()) {
    return 'instances need control groups (v2 with the memory, cpu and pids controllers, or v1 memory, cpu, pids and freezer mounts under /sys/fs/cgroup) to enforce flavors';
  }
  return null;
}

/** Why the netns data plane cannot run here, or null. Checked before anything is touched. */
export async function preflight(opts: { uid?: number; which?: (t: string) => string | null } = {}): Promise<string | null> {
  const uid = opts.uid ?? process.getuid?.() ?? -1;
  if (uid !== 0) {
    return 'the netns data plane needs root (network namespaces, bridges, nftables); run as root or use --dataplane noop';
  }
  const find = opts.which ?? which;
  const missing = REQUIRED_TOOLS.filter((t) => !find(t.tool));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))];
    return `the netns data plane needs ${missing.map((m) => m.tool).join(', ')}: apt-get install ${pkgs.join(' ')}`;
  }
  return null;
}

/**
 * The bridges of bridge_mappings must exist in the host's namespace, as the Linux bridge agent's
 * validate_bridge_mappings requires (it exits naming the first missing one): the data plane
 * joins networks to them and never makes or deletes them. Null when all are bridges.
 */
export async function missingMappedBridges(mappings: ReadonlyMap<string, string> | undefined): Promise<string | null> {
  for (const [physnet, bridge] of mappings ?? []) {
    const r = await run('ip', ['-j', '-d', 'link', 'show', 'dev', bridge], { allowFail: true });
    const link = r.code === 0 ? (JSON.parse(r.stdout || '[]') as Array<{ linkinfo?: { info_kind?: string } }>)[0] : undefined;
    if (link?.linkinfo?.info_kind !== 'bridge') return `Linux bridge ${bridge} for physical network ${physnet} does not exist`;
  }
  return null;
}

/** br_netfilter makes bridged packets visible to iptables (security groups); load it if needed. */
export async function ensureBrNetfilter(): Promise<string | null> {
  if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) return null;
  await run('modprobe', ['br_netfilter'], { allowFail: true });
  if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) return null;
  return 'the kernel lacks br_netfilter (CONFIG_BRIDGE_NETFILTER): security groups cannot be enforced; modprobe br_netfilter failed';
}

export const LOCK_DIR = '/run/pocketstack';

/** Where a running data plane records its pid, per prefix. */
export const lockPath = (prefix: string, dir = LOCK_DIR): string => `${dir}/dataplane-${prefix}.pid`;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Two data planes with one prefix would undo each other's work: the second refuses to start.
 * A pid file left by a killed process (kill -9) is taken over.
 */
export function takeLock(prefix: string, pid = process.pid, dir = LOCK_DIR): void {
  const path = lockPath(prefix, dir);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  try {
    const other = Number(readFileSync(path, 'utf8').trim());
    if (other && other !== pid && alive(other)) {
      throw new Error(
        `another PocketStack (pid ${other}) runs the netns data plane with prefix '${prefix}'; stop it or choose another POCKETSTACK_DATAPLANE_PREFIX`,
      );
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  writeFileSync(path, `${pid}\n`);
}

export function releaseLock(prefix: string, pid = process.pid, dir = LOCK_DIR): void {
  const path = lockPath(prefix, dir);
  try {
    if (Number(readFileSync(path, 'utf8').trim()) === pid) rmSync(path, { force: true });
  } catch {
    // not ours or gone
  }
}
