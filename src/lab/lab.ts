/**
 * `pocketstack lab` (issue 18): simulated hosts on one machine. The lab is a physical network in
 * miniature — one namespace (`pslab`) holding the underlay switch (bridge `br-lab`, which also
 * has the lab's own address, .1), and per host a namespace (`pslab-hK`) whose `eth0` is cabled
 * to that switch with the host's underlay address. Each host's agent runs as an ordinary
 * `pocketstack agent` process with its own host name and data-plane prefix, and its VXLAN
 * endpoint is that underlay address in that namespace (`--tunnel-ip`, `--underlay-netns`), so
 * tenant traffic between two lab hosts really crosses the lab switch encapsulated, as it would
 * cross a data-centre network between real hosts.
 *
 * The lab is the hosts' upstream on the public network too: a second switch (`br-pub`) with the
 * public subnets' gateway addresses (172.24.4.1, 2001:db8::2: DevStack's, which `serve` puts on
 * its public network), and per host an `eth1` cabled to it that the host's agent maps to physical
 * network `public` (`--physical-interface-mappings public:eth1`, the Linux bridge agent's
 * option). Every host's public network is then one L2 segment with the upstream: a router's
 * gateway and floating IPs work on whichever host its L3 agent is, and the lab namespace is the
 * outside world they are reached from (`ip netns exec pslab ping <floating IP>`).
 *
 * The underlay is 198.18.0.0/24, in the range RFC 2544 sets aside for benchmarking network
 * interconnect devices: nothing else of PocketStack uses it (tenant networks are the user's,
 * the public network is 172.24.4.0/24, metadata 169.254.169.254), and no real LAN should.
 */
import { deleteNamespace, listNamespaces } from '../dataplane/netns/kernel.js';
import { run } from '../dataplane/netns/exec.js';

export const LAB_NS = 'pslab';
export const LAB_BRIDGE = 'br-lab';
const UNDERLAY = '198.18.0';
export const LAB_ADDRESS = `${UNDERLAY}.1/24`;
/** The lab's public switch: the upstream side of every host's public network. */
export const LAB_PUBLIC_BRIDGE = 'br-pub';
/** The upstream's addresses there: the gateways of DevStack's public subnets (server.ts createPublicNetwork). */
export const LAB_PUBLIC_ADDRESSES = ['172.24.4.1/24', '2001:db8::2/64'];
/** The physical network the hosts map their public interface to, and that interface's name. */
const LAB_PUBLIC_PHYSNET = 'public';
const PUBLIC_IF = 'eth1';
/** Prefixes are two characters: `l1` … `l9`. */
export const MAX_LAB_HOSTS = 9;

export interface LabHost {
  /** Its index (1-based). */
  index: number;
  /** The host name its agents report (Neutron's `host`, Nova's compute host). */
  name: string;
  /** The namespace that stands for the machine: its underlay interface lives here. */
  ns: string;
  /** Its underlay address (the VXLAN endpoint). */
  tunnelIp: string;
  /** Its data plane's prefix (distinct per host: they share this machine's namespace list). */
  prefix: string;
}

export function labHost(index: number): LabHost {
  return { index, name: `host${index}`, ns: `${LAB_NS}-h${index}`, tunnelIp: `${UNDERLAY}.${10 + index}`, prefix: `l${index}` };
}

export function labHosts(n: number): LabHost[] {
  if (!Number.isInteger(n) || n < 1 || n > MAX_LAB_HOSTS) throw new Error(`a lab has 1 to ${MAX_LAB_HOSTS} hosts, not '${n}'`);
  return Array.from({ length: n }, (_, i) => labHost(i + 1));
}

/** The index of a lab host's namespace (`pslab-h3` → 3), or null for any other name. */
export function labHostIndex(ns: string): number | null {
  const m = new RegExp(`^${LAB_NS}-h([1-9])$`).exec(ns);
  return m ? Number(m[1]) : null;
}

/**
 * The arguments of one host's agent (after the command that runs pocketstack). Its data
 * directory is its own: an agent removes the instance files of servers that are not its own.
 */
export function agentArgs(h: LabHost, databaseUrl: string, dataDir: string, opts: { arpResponder?: boolean } = {}): string[] {
  return [
    'agent',
    '--host',
    h.name,
    '--database',
    databaseUrl,
    '--dataplane',
    'netns',
    '--dataplane-prefix',
    h.prefix,
    '--tunnel-ip',
    h.tunnelIp,
    '--underlay-netns',
    h.ns,
    '--physical-interface-mappings',
    `${LAB_PUBLIC_PHYSNET}:${PUBLIC_IF}`,
    '--data-dir',
    `${dataDir}/lab/${h.name}`,
    // `lab hosts N --arp-responder`: l2population's ARP responder on every host.
    ...(opts.arpResponder ? ['--arp-responder'] : []),
  ];
}

/**
 * `ip` argument lists (for the root namespace) that cable host `h` to the lab switch (`eth0`,
 * its underlay address) and to the public switch (`eth1`, no address: its agent enslaves it to
 * the public network's bridge).
 */
function hostLines(h: LabHost): string[] {
  return [
    `link add h${h.index} netns ${LAB_NS} type veth peer name eth0 netns ${h.ns}`,
    `-n ${LAB_NS} link set h${h.index} master ${LAB_BRIDGE} up`,
    `link add p${h.index} netns ${LAB_NS} type veth peer name ${PUBLIC_IF} netns ${h.ns}`,
    `-n ${LAB_NS} link set p${h.index} master ${LAB_PUBLIC_BRIDGE} up`,
    `-n ${h.ns} link set ${PUBLIC_IF} up`,
    `-n ${h.ns} link set lo up`,
    `-n ${h.ns} addr add ${h.tunnelIp}/24 dev eth0`,
    `-n ${h.ns} link set eth0 up`,
  ];
}

const ip = (args: string[]) => run('ip', args);

/**
 * Make the lab have `n` hosts: the switch when missing and the hosts that are missing (cabled
 * and addressed); hosts that exist are left as they are (their agents keep running). A lab with
 * more hosts than asked is refused: its extra hosts' agents may run (`lab down` first).
 */
export async function labUp(n: number): Promise<{ created: LabHost[]; hosts: LabHost[] }> {
  const hosts = labHosts(n);
  const extra = (await labNow()).filter((h) => h.index > n);
  if (extra.length) throw new Error(`the lab already has ${extra.map((h) => h.name).join(', ')}; take it down first (pocketstack lab down)`);
  const have = await listNamespaces();
  if (!have.has(LAB_NS)) {
    await ip(['netns', 'add', LAB_NS]);
    await ip(['-n', LAB_NS, 'link', 'set', 'lo', 'up']);
    await ip(['-n', LAB_NS, 'link', 'add', LAB_BRIDGE, 'type', 'bridge']);
    await ip(['-n', LAB_NS, 'addr', 'add', LAB_ADDRESS, 'dev', LAB_BRIDGE]);
    await ip(['-n', LAB_NS, 'link', 'set', LAB_BRIDGE, 'up']);
    await ip(['-n', LAB_NS, 'link', 'add', LAB_PUBLIC_BRIDGE, 'type', 'bridge']);
    for (const a of LAB_PUBLIC_ADDRESSES) await ip(['-n', LAB_NS, 'addr', 'add', a, 'dev', LAB_PUBLIC_BRIDGE, ...(a.includes(':') ? ['nodad'] : [])]);
    await ip(['-n', LAB_NS, 'link', 'set', LAB_PUBLIC_BRIDGE, 'up']);
  }
  const created: LabHost[] = [];
  for (const h of hosts) {
    if (have.has(h.ns)) continue;
    await ip(['netns', 'add', h.ns]);
    for (const line of hostLines(h)) await ip(line.split(' '));
    created.push(h);
  }
  return { created, hosts };
}

/** Hosts the lab has now (by their namespaces). */
export async function labNow(): Promise<LabHost[]> {
  const have = await listNamespaces();
  return [...have.keys()]
    .map(labHostIndex)
    .filter((k): k is number => k !== null)
    .sort((a, b) => a - b)
    .map(labHost);
}

/**
 * The whole lab: every host's namespace (with its underlay interface; VXLAN devices whose socket
 * lived there go with it, wherever they were moved), then the switch. The hosts' data planes
 * are the caller's to remove first (their agents must have stopped).
 */
export async function labDown(): Promise<LabHost[]> {
  const hosts = await labNow();
  for (const h of hosts) await deleteNamespace(h.ns);
  if ((await listNamespaces()).has(LAB_NS)) await deleteNamespace(LAB_NS);
  return hosts;
}
