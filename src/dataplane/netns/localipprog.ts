import { createHash } from 'node:crypto';
import { parseIp, parseMac } from '../../util/ip.js';
import { type BtfMap, HELPER, type Insn, LD_IMM64, LIBBPF_PIN_BY_NAME, MAP_TYPE, encode, insn, loadMap } from './bpf.js';
import type { LocalIpBlockEntry, LocalIpEntry } from './model.js';

/**
 * The tc-BPF programs behind Neutron's `local_ip` (the OVS agent's local_ip extension,
 * neutron/agent/l2/extensions/local_ip.py, in its `static_nat` mode), hand-assembled like the VLAN
 * programs (bpf.ts) because the machines this runs on have no clang. Both sit on the switch-side
 * veth (the tap) of a port of the network — a client of the local IP — and hold every local IP of
 * that network associated with a port on this host:
 *
 *   ingress (what the client sends): an ARP request for a local IP becomes the reply the agent's
 *            ARP responder sends (install_arp_responder: the associated port's MAC) and goes
 *            straight back out of the tap; an IPv4 packet (ICMP, TCP, UDP, as the static flows
 *            match) to a local IP gets the associated port's fixed IP as destination and its MAC
 *            as destination MAC (setup_static_local_ip_translation), unless it comes from that
 *            fixed IP (_avoid_nat_to_self); its connection is learned (learn), as the flow's
 *            NXActionLearn learns the reverse flow.
 *   egress   (what reaches the client): a reply of a learned connection leaves with the local IP
 *            as source, as the learned flow rewrites it; anything else passes unchanged.
 *
 * A third, the gratuitous-ARP blocker, sits on the ingress of the network's VXLAN device (where
 * other hosts' frames enter the bridge): ARP whose sender is a local IP served here is dropped,
 * unless it asks for an associated fixed IP (install_garp_blocker, install_garp_blocker_exception).
 *
 * The learned flows are entries of a map the tap's two programs share (localIpConnMap: an LRU
 * hash, defined in BTF as libbpf wants it, bpf.ts btfSection): one per connection, keyed as the
 * learned flow matches (client IP, fixed IP, protocol, ports), with the learned flow's idle (30 s)
 * and hard (300 s) timeouts. So a client reaching the associated instance at its fixed IP, and
 * connections the instance opens to the client, are not rewritten, as in Neutron. Doing both
 * halves on the client's tap keeps the switch's conntrack (security groups, br_netfilter) seeing
 * one consistent client ↔ fixed IP connection, as the iptables hybrid firewall sees it in Neutron.
 */

// eBPF opcode fields (linux/bpf.h, linux/bpf_common.h).
const LDX = 0x01;
const ST = 0x02;
const STX = 0x03;
const ALU = 0x04;
const JMP = 0x05;
const JMP32 = 0x06;
const ALU64 = 0x07;
const MEM = 0x60;
const W = 0x00;
const H = 0x08;
const B = 0x10;
const K = 0x00;
const X = 0x08;
const DW = 0x18;
const ADD = 0x00;
const SUB = 0x10;
const AND = 0x50;
const LSH = 0x60;
const MOV = 0xb0;
const JA = 0x00;
const JEQ = 0x10;
const JGT = 0x20;
const JSGT = 0x60;
const JNE = 0x50;
const CALL = 0x80;
const EXIT = 0x90;

/** Registers: r1–r5 arguments (clobbered by calls), r6–r9 kept, r10 the frame pointer. */
const FP = 10;

/** struct __sk_buff offsets (linux/bpf.h). */
const SKB = { vlanPresent: 20, ifindex: 40, data: 76, dataEnd: 80 } as const;

/** tc verdicts (linux/pkt_cls.h): go on to the next filter (and finally pass), drop. */
const TC_ACT_UNSPEC = -1;
const TC_ACT_SHOT = 2;

/** Helper flags: the L4 checksum covers a pseudo header; a zero UDP checksum means "none". */
const BPF_F_PSEUDO_HDR = 0x10;
const BPF_F_MARK_MANGLED_0 = 0x20;

/** Frame offsets (Ethernet, then IPv4 or ARP); every frame handled is at least 42 bytes. */
const F = {
  ethSrc: 6,
  ethType: 12,
  ipVhl: 14,
  ipFrag: 20,
  ipProto: 23,
  ipCsum: 24,
  ipSrc: 26,
  ipDst: 30,
  arpTypes: 14,
  arpLens: 18,
  arpOp: 20,
  arpSha: 22,
  arpSpa: 28,
  arpTha: 32,
  arpTpa: 38,
} as const;
const MIN_FRAME = 42;

// Header fields as a little-endian load sees their network-order bytes.
const LE_ETH_P_IP = 0x0008;
const LE_ETH_P_ARP = 0x0608;
/** ARP hardware type 1 (Ethernet), protocol 0x0800. */
const LE_ARP_ETHER_IP = 0x00080100;
/** Hardware length 6, protocol length 4. */
const LE_ARP_LENS = 0x0406;
const LE_ARPOP_REQUEST = 0x0100;
const LE_ARPOP_REPLY = 0x0200;
/** The fragment offset bits of the flags/offset field (0x1fff). */
const LE_FRAG_OFFSET = 0xff1f;

const IPPROTO = { icmp: 1, tcp: 6, udp: 17 } as const;
/** Where each L4 checksum is, from the start of its header. */
const CSUM_AT = { tcp: 16, udp: 6 } as const;

/** A tiny assembler: instructions, with jumps to labels resolved at the end. */
class Asm {
  private readonly out: Array<{ i: Insn; to?: string }> = [];
  private readonly labels = new Map<string, number>();

  label(name: string): void {
    if (this.labels.has(name)) throw new Error(`label ${name} twice`);
    this.labels.set(name, this.out.length);
  }
  op(code: number, dst: number, src: number, off: number, imm: number): void {
    this.out.push({ i: insn(code, dst, src, off, imm) });
  }
  jump(code: number, dst: number, src: number, imm: number, to: string): void {
    this.out.push({ i: insn(code, dst, src, 0, imm), to });
  }

  movImm = (dst: number, imm: number) => this.op(ALU64 | MOV | K, dst, 0, 0, imm);
  /** A 32-bit move zero-extends: an IPv4 address as a load from the packet reads it. */
  mov32Imm = (dst: number, imm: number) => this.op(ALU | MOV | K, dst, 0, 0, imm);
  movReg = (dst: number, src: number) => this.op(ALU64 | MOV | X, dst, src, 0, 0);
  addImm = (dst: number, imm: number) => this.op(ALU64 | ADD | K, dst, 0, 0, imm);
  andImm = (dst: number, imm: number) => this.op(ALU64 | AND | K, dst, 0, 0, imm);
  lshImm = (dst: number, imm: number) => this.op(ALU64 | LSH | K, dst, 0, 0, imm);
  load = (size: number, dst: number, src: number, off: number) => this.op(LDX | MEM | size, dst, src, off, 0);
  store = (size: number, dst: number, off: number, src: number) => this.op(STX | MEM | size, dst, src, off, 0);
  storeImm = (size: number, dst: number, off: number, imm: number) => this.op(ST | MEM | size, dst, 0, off, imm);
  call = (helper: number) => this.op(JMP | CALL, 0, 0, 0, helper);
  exit = () => this.op(JMP | EXIT, 0, 0, 0, 0);

  subReg = (dst: number, src: number) => this.op(ALU64 | SUB | X, dst, src, 0, 0);
  /** A 64-bit constant (ld_imm64: two slots). */
  ldImm64 = (dst: number, v: bigint) => {
    this.op(LD_IMM64, dst, 0, 0, Number(BigInt.asIntN(32, v)));
    this.op(0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n)));
  };
  /** The object's map (the connections, bpf.ts loadMap): libbpf puts its fd in at load. */
  ldMap = (dst: number) => {
    for (const i of loadMap(dst)) this.op(i.code, i.dst, i.src, i.off, i.imm);
  };

  build(): Insn[] {
    return this.out.map(({ i, to }, n) => {
      if (to === undefined) return i;
      const at = this.labels.get(to);
      if (at === undefined) throw new Error(`no label ${to}`);
      return { ...i, off: at - n - 1 };
    });
  }
}

/** An IPv4 address as the 32-bit immediate that equals a little-endian load of its bytes. */
function ipImm(ip: string): number {
  const p = parseIp(ip);
  if (p?.version !== 4) throw new Error(`${ip} is not an IPv4 address`);
  return Buffer.from(ip.split('.').map(Number)).readInt32LE(0);
}

/** A MAC as the two immediates of its first four and last two bytes (little-endian loads). */
function macImm(mac: string): [number, number] {
  const m = parseMac(mac);
  if (!m) throw new Error(`${mac} is not a MAC address`);
  const b = Buffer.from(m.split(':').map((x) => Number.parseInt(x, 16)));
  return [b.readInt32LE(0), b.readUInt16LE(4)];
}

/**
 * The common start: the skb in r6, the frame's first 42 bytes linear and readable from r7, an
 * 802.1Q frame (a trunk's subport, another network) left alone; r2 is the EtherType.
 */
function prologue(a: Asm): void {
  a.movReg(6, 1);
  a.movImm(2, MIN_FRAME);
  a.call(HELPER.skbPullData); // a shorter frame is not ours: the bounds check below says so
  a.load(W, 2, 6, SKB.vlanPresent);
  a.jump(JMP | JNE | K, 2, 0, 0, 'pass');
  a.load(W, 7, 6, SKB.data);
  a.load(W, 8, 6, SKB.dataEnd);
  a.movReg(2, 7);
  a.addImm(2, MIN_FRAME);
  a.jump(JMP | JGT | X, 2, 8, 0, 'pass');
  a.load(H, 2, 7, F.ethType);
}

/**
 * The rewrite of one IPv4 address field (`field`) from r9 to r8, with the L3 checksum and, for
 * TCP and UDP (not for a later fragment, which has no L4 header), the L4 checksum whose pseudo
 * header holds it; ICMP's checksum covers no address. The new address is at fp-8, a new
 * destination MAC (when `mac`) at fp-16. Other protocols are left alone, as the agent's flows
 * match only these three.
 */
function rewrite(a: Asm, field: number, mac: boolean): void {
  a.load(B, 3, 7, F.ipVhl);
  a.andImm(3, 0x0f);
  a.lshImm(3, 2);
  a.addImm(3, F.ipVhl); // r3: where the L4 header starts
  a.load(H, 4, 7, F.ipFrag);
  a.andImm(4, LE_FRAG_OFFSET); // r4: non-zero for a later fragment
  a.load(B, 5, 7, F.ipProto);
  a.jump(JMP | JEQ | K, 5, 0, IPPROTO.tcp, 'tcp');
  a.jump(JMP | JEQ | K, 5, 0, IPPROTO.udp, 'udp');
  a.jump(JMP | JEQ | K, 5, 0, IPPROTO.icmp, 'l3');
  a.jump(JMP | JA, 0, 0, 0, 'pass');
  a.label('tcp');
  a.movReg(2, 3);
  a.addImm(2, CSUM_AT.tcp);
  a.movImm(5, BPF_F_PSEUDO_HDR | 4);
  a.jump(JMP | JA, 0, 0, 0, 'l4');
  a.label('udp');
  a.movReg(2, 3);
  a.addImm(2, CSUM_AT.udp);
  a.movImm(5, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4);
  a.label('l4');
  a.jump(JMP | JNE | K, 4, 0, 0, 'l3');
  a.movReg(1, 6);
  a.movReg(3, 9);
  a.movReg(4, 8);
  a.call(HELPER.l4CsumReplace);
  a.jump(JMP | JNE | K, 0, 0, 0, 'drop');
  a.label('l3');
  a.movReg(1, 6);
  a.movImm(2, F.ipCsum);
  a.movReg(3, 9);
  a.movReg(4, 8);
  a.movImm(5, 4);
  a.call(HELPER.l3CsumReplace);
  a.jump(JMP | JNE | K, 0, 0, 0, 'drop');
  a.movReg(1, 6);
  a.movImm(2, field);
  a.movReg(3, FP);
  a.addImm(3, -8);
  a.movImm(4, 4);
  a.movImm(5, 0);
  a.call(HELPER.skbStoreBytes);
  a.jump(JMP | JNE | K, 0, 0, 0, 'drop');
  if (mac) {
    a.movReg(1, 6);
    a.movImm(2, 0);
    a.movReg(3, FP);
    a.addImm(3, -16);
    a.movImm(4, 6);
    a.movImm(5, 0);
    a.call(HELPER.skbStoreBytes);
    a.jump(JMP | JNE | K, 0, 0, 0, 'drop');
  }
  a.jump(JMP | JA, 0, 0, 0, 'pass');
}

/**
 * The connections a client tap's programs share (one LRU hash map per tap, bpf.ts btfSection),
 * standing for the reverse flows the agent's `learn` action installs. Key (16 bytes, at fp-32):
 * client IP, fixed IP, client port, server port (network order; 0 for ICMP, as the ICMP flow's
 * learn specs match the protocol only), protocol, 3 zero bytes. Value (24 bytes, at fp-56 while
 * built): when the flow was last learned and when it was last hit (bpf_ktime_get_ns), and the
 * local IP its replies come from.
 */
const KEY = -32;
const KEY_AT = { client: 0, fixed: 4, clientPort: 8, serverPort: 10, proto: 12 } as const;
const VALUE = -56;
const VAL = { learned: 0, seen: 8, localIp: 16 } as const;
/** Where the ports are read to (bpf_skb_load_bytes). */
const SCRATCH = -64;
export const CONN_KEY_SIZE = 16;
export const CONN_VALUE_SIZE = 24;
/**
 * Connections tracked per client tap. OVS has no such bound; an LRU map (preallocated, so about
 * 1 MiB per tap) drops the least recently used when full, whose replies then pass unrewritten.
 */
export const CONN_MAX_ENTRIES = 8192;
/** The learned flows' idle_timeout (30 s) and hard_timeout (300 s), in nanoseconds. */
export const IDLE_NS = 30_000_000_000n;
export const HARD_NS = 300_000_000_000n;

/**
 * The connection map of the client tap `dev`: ours (`pslm` and a digest of the tap, 15
 * characters: unique per tap, the kernel's map name length) and pinned by name, so the tap's two
 * programs, loaded by two `tc filter` lines of one batch, get the same map (tc pins it under
 * /sys/fs/bpf/tc/globals/ and the second load finds it there). `tc -n` works in a mount
 * namespace of its own with a bpffs of its own, so the pin goes with the batch; the map lives as
 * long as a program holds it, and goes with the tap's programs.
 */
export function localIpConnMap(dev: string): BtfMap {
  return {
    name: `pslm${createHash('sha1').update(dev).digest('hex').slice(0, 11)}`,
    type: MAP_TYPE.lruHash,
    keySize: CONN_KEY_SIZE,
    valueSize: CONN_VALUE_SIZE,
    maxEntries: CONN_MAX_ENTRIES,
    pinning: LIBBPF_PIN_BY_NAME,
  };
}

/**
 * The connection's key at fp-32 from the packet: `learn` (client to local IP) reads client and
 * server in source, destination order, `reply` the other way round, as the learned flow's specs
 * swap them. `fixed` is the register holding the fixed IP. Only ICMP, TCP and UDP are learned (the
 * static flows' protocols); a later fragment carries no ports, so no learned flow matches it (OVS
 * reads its ports as 0): those, and ports that cannot be read, go to `miss`.
 */
function connKey(a: Asm, dir: 'learn' | 'reply', fixed: number, miss: string): void {
  a.storeImm(DW, FP, KEY, 0);
  a.storeImm(DW, FP, KEY + 8, 0);
  a.load(W, 2, 7, dir === 'learn' ? F.ipSrc : F.ipDst);
  a.store(W, FP, KEY + KEY_AT.client, 2);
  a.store(W, FP, KEY + KEY_AT.fixed, fixed);
  a.load(B, 2, 7, F.ipProto);
  a.store(B, FP, KEY + KEY_AT.proto, 2);
  a.jump(JMP | JEQ | K, 2, 0, IPPROTO.icmp, 'keyed');
  a.jump(JMP | JEQ | K, 2, 0, IPPROTO.tcp, 'ports');
  a.jump(JMP | JNE | K, 2, 0, IPPROTO.udp, miss);
  a.label('ports');
  a.load(H, 2, 7, F.ipFrag);
  a.andImm(2, LE_FRAG_OFFSET);
  a.jump(JMP | JNE | K, 2, 0, 0, miss);
  a.load(B, 2, 7, F.ipVhl);
  a.andImm(2, 0x0f);
  a.lshImm(2, 2);
  a.addImm(2, F.ipVhl); // where the L4 header starts: its first 4 bytes are the ports
  a.movReg(1, 6);
  a.movReg(3, FP);
  a.addImm(3, SCRATCH);
  a.movImm(4, 4);
  a.call(HELPER.skbLoadBytes);
  a.jump(JMP | JNE | K, 0, 0, 0, miss);
  const [first, second] = dir === 'learn' ? [KEY_AT.clientPort, KEY_AT.serverPort] : [KEY_AT.serverPort, KEY_AT.clientPort];
  a.load(H, 2, FP, SCRATCH);
  a.store(H, FP, KEY + first, 2);
  a.load(H, 2, FP, SCRATCH + 2);
  a.store(H, FP, KEY + second, 2);
  a.label('keyed');
}

/**
 * To `to` when the entry `v` (a register holding the map value) has timed out at `now` (a
 * register): idle 30 s since its last hit or 300 s since it was last learned, as OVS expires a
 * learned flow (a learn of an existing flow refreshes its `modified` time, the hard timeout's
 * start; only the flow's own hits its `used` time). Signed, so a time read on another CPU a little
 * behind the entry's is not taken for an old one. Uses r1 and r2.
 */
function expired(a: Asm, v: number, now: number, to: string): void {
  a.movReg(1, now);
  a.load(DW, 2, v, VAL.seen);
  a.subReg(1, 2);
  a.ldImm64(2, IDLE_NS);
  a.jump(JMP | JSGT | X, 1, 2, 0, to);
  a.movReg(1, now);
  a.load(DW, 2, v, VAL.learned);
  a.subReg(1, 2);
  a.ldImm64(2, HARD_NS);
  a.jump(JMP | JSGT | X, 1, 2, 0, to);
}

/**
 * The `learn` action of the static translation flows, for a packet from a client to the local IP
 * in r9 that goes to the fixed IP in r8: a live entry for the connection is learned again (its
 * learned time and local IP renewed, its last hit kept), otherwise — none, or timed out, which
 * OVS would have deleted — a new one is made, hit now. A full map's LRU makes room.
 */
function learn(a: Asm): void {
  connKey(a, 'learn', 8, 'learned');
  a.call(HELPER.ktimeGetNs);
  a.store(DW, FP, VALUE + VAL.learned, 0);
  a.store(DW, FP, VALUE + VAL.seen, 0);
  a.store(W, FP, VALUE + VAL.localIp, 9);
  a.storeImm(W, FP, VALUE + VAL.localIp + 4, 0);
  a.ldMap(1);
  a.movReg(2, FP);
  a.addImm(2, KEY);
  a.call(HELPER.mapLookupElem);
  a.jump(JMP | JEQ | K, 0, 0, 0, 'fresh');
  a.load(DW, 3, FP, VALUE + VAL.learned); // now
  expired(a, 0, 3, 'fresh');
  a.store(DW, 0, VAL.learned, 3);
  a.store(W, 0, VAL.localIp, 9);
  a.jump(JMP | JA, 0, 0, 0, 'learned');
  a.label('fresh');
  a.ldMap(1);
  a.movReg(2, FP);
  a.addImm(2, KEY);
  a.movReg(3, FP);
  a.addImm(3, VALUE);
  a.movImm(4, 0); // BPF_ANY
  a.call(HELPER.mapUpdateElem);
  a.label('learned');
}

function epilogue(a: Asm): void {
  a.label('pass');
  a.movImm(0, TC_ACT_UNSPEC);
  a.exit();
  a.label('drop');
  a.movImm(0, TC_ACT_SHOT);
  a.exit();
}

function checkEntries(entries: LocalIpEntry[]): void {
  if (!entries.length) throw new Error('a local IP program needs at least one local IP');
  if (new Set(entries.map((e) => e.localIp)).size !== entries.length) throw new Error('a local IP is given twice');
  // Both programs take every entry whole, though each encodes only some of its fields.
  for (const e of entries) {
    ipImm(e.localIp);
    ipImm(e.fixedIp);
    macImm(e.mac);
  }
}

/** What a client sends: ARP for a local IP answered, IPv4 to it sent to the associated port. */
export function localIpIngressProgram(entries: LocalIpEntry[]): Insn[] {
  checkEntries(entries);
  const a = new Asm();
  prologue(a);
  a.jump(JMP | JEQ | K, 2, 0, LE_ETH_P_ARP, 'arp');
  a.jump(JMP | JNE | K, 2, 0, LE_ETH_P_IP, 'pass');
  a.load(W, 9, 7, F.ipDst);
  for (const [i, e] of entries.entries()) a.jump(JMP32 | JEQ | K, 9, 0, ipImm(e.localIp), `ip${i}`);
  a.jump(JMP | JA, 0, 0, 0, 'pass');
  entries.forEach((e, i) => {
    const [lo, hi] = macImm(e.mac);
    a.label(`ip${i}`);
    a.mov32Imm(8, ipImm(e.fixedIp));
    a.storeImm(W, FP, -8, ipImm(e.fixedIp));
    a.storeImm(W, FP, -16, lo);
    a.storeImm(H, FP, -12, hi);
    a.jump(JMP | JA, 0, 0, 0, 'dnat');
  });
  a.label('dnat');
  // From the fixed IP itself (an address pair, a second address of the port): untouched.
  a.load(W, 1, 7, F.ipSrc);
  a.jump(JMP32 | JEQ | X, 1, 8, 0, 'pass');
  learn(a);
  rewrite(a, F.ipDst, true);

  // ARP: a request (Ethernet/IPv4) for a local IP becomes the reply, back out of this interface.
  a.label('arp');
  passUnlessEthernetIpv4Arp(a);
  a.load(H, 2, 7, F.arpOp);
  a.jump(JMP | JNE | K, 2, 0, LE_ARPOP_REQUEST, 'pass');
  a.load(W, 9, 7, F.arpTpa);
  for (const [i, e] of entries.entries()) a.jump(JMP32 | JEQ | K, 9, 0, ipImm(e.localIp), `arp${i}`);
  a.jump(JMP | JA, 0, 0, 0, 'pass');
  entries.forEach((e, i) => {
    const [lo, hi] = macImm(e.mac);
    a.label(`arp${i}`);
    a.mov32Imm(8, ipImm(e.localIp));
    a.mov32Imm(3, lo);
    a.mov32Imm(4, hi);
    a.jump(JMP | JA, 0, 0, 0, 'reply');
  });
  a.label('reply');
  a.load(W, 2, 7, F.ethSrc); // Ethernet destination: the asker
  a.store(W, 7, 0, 2);
  a.load(H, 2, 7, F.ethSrc + 4);
  a.store(H, 7, 4, 2);
  a.store(W, 7, F.ethSrc, 3); // Ethernet source: the answer
  a.store(H, 7, F.ethSrc + 4, 4);
  a.load(W, 2, 7, F.arpSha); // target: the asker
  a.store(W, 7, F.arpTha, 2);
  a.load(H, 2, 7, F.arpSha + 4);
  a.store(H, 7, F.arpTha + 4, 2);
  a.load(W, 2, 7, F.arpSpa);
  a.store(W, 7, F.arpTpa, 2);
  a.store(W, 7, F.arpSha, 3); // sender: the local IP at the answer's MAC
  a.store(H, 7, F.arpSha + 4, 4);
  a.store(W, 7, F.arpSpa, 8);
  a.movImm(2, LE_ARPOP_REPLY);
  a.store(H, 7, F.arpOp, 2);
  a.load(W, 1, 6, SKB.ifindex);
  a.movImm(2, 0);
  a.call(HELPER.redirect); // TC_ACT_REDIRECT: out of this interface, to the client
  a.exit();
  epilogue(a);
  return a.build();
}

/**
 * What reaches a client: a reply of a connection the ingress program learned (its key, reversed,
 * in the map, neither timeout passed) comes from the local IP, as the learned flow rewrites it; the
 * hit starts the entry's idle timer again, as a learned flow's own hits do. Anything else from an
 * associated fixed IP — the client reaching it at its fixed IP, connections it opens to the client,
 * a later fragment, a connection idle for 30 s — passes unchanged, as no learned flow matches it.
 */
export function localIpEgressProgram(entries: LocalIpEntry[]): Insn[] {
  checkEntries(entries);
  const a = new Asm();
  prologue(a);
  a.jump(JMP | JNE | K, 2, 0, LE_ETH_P_IP, 'pass');
  a.load(W, 9, 7, F.ipSrc);
  for (const fixed of new Set(entries.map((e) => e.fixedIp))) a.jump(JMP32 | JEQ | K, 9, 0, ipImm(fixed), 'conn');
  a.jump(JMP | JA, 0, 0, 0, 'pass');
  a.label('conn');
  connKey(a, 'reply', 9, 'pass');
  a.ldMap(1);
  a.movReg(2, FP);
  a.addImm(2, KEY);
  a.call(HELPER.mapLookupElem);
  a.jump(JMP | JEQ | K, 0, 0, 0, 'pass');
  a.movReg(8, 0); // the entry
  a.call(HELPER.ktimeGetNs);
  expired(a, 8, 0, 'pass');
  a.store(DW, 8, VAL.seen, 0);
  a.load(W, 1, 8, VAL.localIp);
  a.store(W, FP, -8, 1);
  a.movReg(8, 1);
  rewrite(a, F.ipSrc, false);
  epilogue(a);
  return a.build();
}

/** On to `pass` unless the ARP packet is Ethernet/IPv4 (hardware and protocol types and lengths). */
function passUnlessEthernetIpv4Arp(a: Asm): void {
  a.load(W, 2, 7, F.arpTypes);
  a.jump(JMP32 | JNE | K, 2, 0, LE_ARP_ETHER_IP, 'pass');
  a.load(H, 2, 7, F.arpLens);
  a.jump(JMP | JNE | K, 2, 0, LE_ARP_LENS, 'pass');
}

/**
 * The gratuitous-ARP blocker, for what enters the network's bridge from other hosts. The agent
 * drops, at priority 10 of br-int's LOCAL_SWITCHING table, ARP carrying the network's local VLAN
 * whose sender protocol address is the local IP (br_int.py install_garp_blocker: any opcode, so
 * gratuitous announcements, requests and replies alike), and lets through at priority 11 what
 * also has an associated port's fixed IP as target (install_garp_blocker_exception), so a host
 * that really has the address (the port a local IP was made from) still reaches that port. Only
 * Ethernet/IPv4 ARP has these fields (OpenFlow's arp_spa/arp_tpa); anything else goes on.
 */
export function localIpBlockerProgram(entries: LocalIpBlockEntry[]): Insn[] {
  if (!entries.length) throw new Error('a local IP program needs at least one local IP');
  if (new Set(entries.map((e) => e.localIp)).size !== entries.length) throw new Error('a local IP is given twice');
  const a = new Asm();
  prologue(a);
  a.jump(JMP | JNE | K, 2, 0, LE_ETH_P_ARP, 'pass');
  passUnlessEthernetIpv4Arp(a);
  a.load(W, 9, 7, F.arpSpa);
  for (const [i, e] of entries.entries()) a.jump(JMP32 | JEQ | K, 9, 0, ipImm(e.localIp), `spa${i}`);
  a.jump(JMP | JA, 0, 0, 0, 'pass');
  entries.forEach((e, i) => {
    a.label(`spa${i}`);
    if (e.except.length) a.load(W, 8, 7, F.arpTpa);
    for (const ip of e.except) a.jump(JMP32 | JEQ | K, 8, 0, ipImm(ip), 'pass');
    a.jump(JMP | JA, 0, 0, 0, 'drop');
  });
  epilogue(a);
  return a.build();
}

/** Which program a name is of: what a client sends, what reaches it, the blocker. */
export type LocalIpProgramKind = 'ingress' | 'egress' | 'blocker';
const KIND_LETTER = { ingress: 'i', egress: 'e', blocker: 'b' } as const;

/**
 * A program's name (its ELF symbol; the kernel keeps 15 characters): its kind and a digest of its
 * instructions, so a filter read back tells whether it still does exactly what is wanted.
 */
export function localIpProgramName(kind: LocalIpProgramKind, insns: Insn[]): string {
  return `psl${KIND_LETTER[kind]}${createHash('sha1').update(encode(insns)).digest('hex').slice(0, 11)}`;
}

/** Our programs' names: only these are ever replaced or removed by the local IP planner. */
export const LOCAL_IP_PROGRAM = /^psl[ieb][0-9a-f]{11}$/;
