import { existsSync } from 'node:fs';
import { run, which } from './exec.js';

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
];

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

/** br_netfilter makes bridged packets visible to iptables (security groups); load it if needed. */
export async function ensureBrNetfilter(): Promise<string | null> {
  if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) return null;
  await run('modprobe', ['br_netfilter'], { allowFail: true });
  if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) return null;
  return 'the kernel lacks br_netfilter (CONFIG_BRIDGE_NETFILTER): security groups cannot be enforced; modprobe br_netfilter failed';
}
