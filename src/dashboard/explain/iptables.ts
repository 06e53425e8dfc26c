import { cidrContains, parseCidr, parseIp } from '../../util/ip.js';

/**
 * A reader of the iptables rules the netns data plane renders (secgroups.ts, in `iptables-save`
 * form): explain runs a packet through exactly the chains the kernel is given, so its verdict on a
 * security group is the kernel's, not a second reading of the Neutron rules. Only the matches
 * that rendering produces are understood; a line with anything else never matches (and says so).
 */
export interface Packet {
  src: string;
  dst: string;
  /** IP protocol number (6 tcp, 17 udp, 1 icmp). */
  proto: number;
  /** Destination port (tcp/udp), or ICMP type. */
  dport: number | null;
  /** Source MAC (anti-spoofing). */
  mac: string;
}

export interface ChainStep {
  chain: string;
  line: string;
  /** What the line did: matched and jumped, matched and decided, or set the mark. */
  effect: 'jump' | 'return' | 'drop' | 'accept' | 'mark';
}

export interface ChainResult {
  /** Passed (the port chain returned with the mark set or an explicit RETURN) or dropped. */
  verdict: 'pass' | 'drop';
  /** Lines that matched, in order. */
  steps: ChainStep[];
}

const PROTO_NAMES: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, 'ipv6-icmp': 58, sctp: 132, udplite: 136, esp: 50, ah: 51, dccp: 33 };

function inRange(spec: string, n: number | null): boolean {
  if (n === null) return false;
  const [lo, hi] = spec.split(':').map(Number);
  return n >= lo && n <= (hi ?? lo);
}

function addrMatches(spec: string, ip: string): boolean {
  const c = parseCidr(spec.includes('/') ? spec : `${spec}/${spec.includes(':') ? 128 : 32}`);
  const a = parseIp(ip);
  return !!c && !!a && c.version === a.version && cidrContains(c, a);
}

/** Does `line`'s match part admit the packet (given the mark bit)? */
export function lineMatches(line: string, p: Packet, mark: boolean, protoNumbers: Map<string, number>): boolean {
  const t = line.split(' ');
  for (let i = 0; i < t.length; i++) {
    const k = t[i];
    const v = t[i + 1];
    switch (k) {
      case '-s':
        if (!addrMatches(v, p.src)) return false;
        i++;
        break;
      case '-d':
        if (!addrMatches(v, p.dst)) return false;
        i++;
        break;
      case '-p': {
        const n = /^\d+$/.test(v) ? Number(v) : (PROTO_NAMES[v] ?? protoNumbers.get(v));
        if (n !== p.proto) return false;
        i++;
        break;
      }
      case '-m':
        i++;
        break;
      case '--dport':
      case '--dports':
        if (!inRange(v, p.dport)) return false;
        i++;
        break;
      // Our probes come from an ephemeral port: never DHCP's 67/68.
      case '--sport':
        return false;
      case '--icmp-type':
      case '--icmpv6-type':
        if (Number(v.split('/')[0]) !== p.dport) return false;
        i++;
        break;
      case '--mac-source':
        if (v.toLowerCase() !== p.mac.toLowerCase()) return false;
        i++;
        break;
      case '--ctstate':
        // A first packet: NEW, never ESTABLISHED/RELATED/INVALID.
        if (!v.split(',').includes('NEW')) return false;
        i++;
        break;
      case '--mark':
        if (!mark) return false;
        i++;
        break;
      case '-j':
        return true;
      default:
        return false;
    }
  }
  return true;
}

/** The target of a line: `-j X …`. */
function target(line: string): string[] {
  const i = line.indexOf('-j ');
  return i < 0 ? [] : line.slice(i + 3).split(' ');
}

/**
 * Run `p` through `chain` of a rendered filter table as the kernel would (user chains return at
 * their end; the MARK target sets or clears bit 0x1, the way the group chains OR their rules).
 */
export function runChain(table: Map<string, string[]>, chain: string, p: Packet, protoNumbers: Map<string, number> = new Map()): ChainResult {
  const steps: ChainStep[] = [];
  let mark = false;
  const walk = (name: string, depth: number): 'return' | 'drop' | 'accept' => {
    if (depth > 8) return 'drop';
    for (const line of table.get(name) ?? []) {
      if (!lineMatches(line, p, mark, protoNumbers)) continue;
      const [tgt, ...args] = target(line);
      if (tgt === 'MARK') {
        const set = args[1]?.startsWith('0x1/');
        mark = !!set;
        if (set) steps.push({ chain: name, line, effect: 'mark' });
        continue;
      }
      if (tgt === 'RETURN') {
        steps.push({ chain: name, line, effect: 'return' });
        return 'return';
      }
      if (tgt === 'DROP') {
        steps.push({ chain: name, line, effect: 'drop' });
        return 'drop';
      }
      if (tgt === 'ACCEPT') {
        steps.push({ chain: name, line, effect: 'accept' });
        return 'accept';
      }
      if (tgt && table.has(tgt)) {
        steps.push({ chain: name, line, effect: 'jump' });
        const r = walk(tgt, depth + 1);
        if (r !== 'return') return r;
      }
    }
    return 'return';
  };
  const r = walk(chain, 0);
  return { verdict: r === 'drop' ? 'drop' : 'pass', steps };
}
