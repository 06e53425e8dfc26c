import type { Insn } from '../../src/dataplane/netns/bpf.js';

/**
 * Just enough of an eBPF interpreter to run the hand-assembled tc programs (localipprog.ts) on a
 * frame in a unit test: the instructions they use, an skb context (data, data_end, vlan_present,
 * ifindex), a stack, and the helpers they call, with the kernel's semantics for a frame whose
 * checksums are complete (CHECKSUM_NONE): bpf_l3_csum_replace / bpf_l4_csum_replace update the
 * checksum field incrementally (RFC 1624, as csum_replace4 and inet_proto_csum_replace4 do).
 * The programs' map (the local IP programs' connections) is a Map from the key's hex to the
 * value's bytes, shared by the runs given the same one, and bpf_ktime_get_ns answers `now`
 * (BOOTED_FOR if not given).
 * It does not verify the program: the kernel's verifier does that when `tc` loads it (e2e).
 */

/** A hash map's entries: key bytes as hex → value bytes (a lookup's pointer writes into them). */
export type BpfMap = Map<string, Buffer>;

type Ptr = { kind: 'ctx' | 'pkt' | 'stack' | 'map'; off: number } | { kind: 'value'; off: number; buf: Buffer };
type Val = bigint | Ptr;

export interface RunResult {
  /** The program's return value as a signed 32-bit number (TC_ACT_*). */
  verdict: number;
  frame: Buffer;
  /** The interface bpf_redirect was given, when it was called. */
  redirect?: { ifindex: number; flags: number };
}

const SKB_OFF = { vlanPresent: 20, ifindex: 40, data: 76, dataEnd: 80 };
const TC_ACT_REDIRECT = 7;
/** What bpf_ktime_get_ns answers when a run is given no time: 1000 s after boot. */
export const BOOTED_FOR = 1_000_000_000_000n;
const M64 = (1n << 64n) - 1n;
/** -EFAULT, as a helper returns it when the offset is past the frame. */
const EFAULT = -14n & M64;

/** One's-complement 16-bit sum fold of a 32-bit-or-wider value. */
const fold = (x: number) => {
  let s = x;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
};

/** The checksum field at `at` after a 32-bit field changed from `from` to `to` (network-order bytes). */
function csumReplace4(frame: Buffer, at: number, from: Buffer, to: Buffer, mangled0: boolean, partial = false): void {
  const old = frame.readUInt16BE(at);
  if (partial) {
    // The field holds the pseudo header's sum itself, not its complement.
    let sum = old;
    for (let i = 0; i < 4; i += 2) sum += (~from.readUInt16BE(i) & 0xffff) + to.readUInt16BE(i);
    frame.writeUInt16BE(fold(sum), at);
    return;
  }
  if (mangled0 && old === 0) return;
  let sum = ~old & 0xffff;
  for (let i = 0; i < 4; i += 2) sum += ~from.readUInt16BE(i) & 0xffff;
  for (let i = 0; i < 4; i += 2) sum += to.readUInt16BE(i);
  let out = ~fold(sum) & 0xffff;
  if (mangled0 && out === 0) out = 0xffff;
  frame.writeUInt16BE(out, at);
}

const le32 = (v: bigint) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(Number(v & 0xffffffffn));
  return b;
};

/**
 * `partial`: the L4 checksum is left for the device to complete (CHECKSUM_PARTIAL, what a veth
 * hands on from a local sender): its field holds the pseudo header's sum, which
 * bpf_l4_csum_replace changes only when told the address is in it (BPF_F_PSEUDO_HDR).
 */
export function runProgram(
  insns: Insn[],
  input: Buffer,
  skb: { ifindex: number; vlanPresent?: boolean; partial?: boolean; map?: BpfMap; now?: bigint; keySize?: number; valueSize?: number } = { ifindex: 1 },
): RunResult {
  const map = skb.map ?? new Map<string, Buffer>();
  const [keySize, valueSize] = [skb.keySize ?? 16, skb.valueSize ?? 24];
  const frame = Buffer.from(input);
  const stack = Buffer.alloc(512);
  const r: Val[] = Array.from({ length: 11 }, () => 0n);
  r[1] = { kind: 'ctx', off: 0 };
  r[10] = { kind: 'stack', off: 512 };
  let redirect: RunResult['redirect'];
  const scalar = (v: Val): bigint => {
    if (typeof v !== 'bigint') throw new Error('a pointer where a number was expected');
    return v;
  };
  const mem = (p: Val): { buf: Buffer; at: number } => {
    if (typeof p === 'bigint') throw new Error('a number where a pointer was expected');
    if (p.kind === 'pkt') return { buf: frame, at: p.off };
    if (p.kind === 'stack') return { buf: stack, at: p.off };
    if (p.kind === 'value') return { buf: p.buf, at: p.off };
    throw new Error(`no direct access to ${p.kind} here`);
  };
  const size = (code: number) => [4, 2, 1, 8][(code & 0x18) >> 3];
  const read = (buf: Buffer, at: number, n: number) => {
    if (at < 0 || at + n > buf.length) throw new Error(`access at ${at}+${n} out of bounds`);
    return BigInt(n === 4 ? buf.readUInt32LE(at) : n === 2 ? buf.readUInt16LE(at) : n === 1 ? buf[at] : Number(buf.readBigUInt64LE(at)));
  };
  const write = (buf: Buffer, at: number, n: number, v: bigint) => {
    if (at < 0 || at + n > buf.length) throw new Error(`access at ${at}+${n} out of bounds`);
    if (n === 4) buf.writeUInt32LE(Number(v & 0xffffffffn), at);
    else if (n === 2) buf.writeUInt16LE(Number(v & 0xffffn), at);
    else if (n === 1) buf[at] = Number(v & 0xffn);
    else buf.writeBigUInt64LE(v & M64, at);
  };
  /** A helper's return value; null when it set r0 itself (a pointer). */
  const helper = (id: number): bigint | null => {
    const a = (i: number) => scalar(r[i]);
    switch (id) {
      case 1: {
        // bpf_map_lookup_elem(map, key): a pointer into the entry, or NULL
        if (typeof r[1] === 'bigint' || r[1].kind !== 'map') throw new Error('lookup without the map');
        const { buf, at } = mem(r[2]);
        const v = map.get(buf.subarray(at, at + keySize).toString('hex'));
        if (!v) return 0n;
        r[0] = { kind: 'value', off: 0, buf: v };
        return null;
      }
      case 2: {
        // bpf_map_update_elem(map, key, value, flags): BPF_ANY only
        if (typeof r[1] === 'bigint' || r[1].kind !== 'map') throw new Error('update without the map');
        if (a(4) !== 0n) throw new Error(`update flags ${a(4)}`);
        const k = mem(r[2]);
        const v = mem(r[3]);
        map.set(k.buf.subarray(k.at, k.at + keySize).toString('hex'), Buffer.from(v.buf.subarray(v.at, v.at + valueSize)));
        return 0n;
      }
      case 5: // bpf_ktime_get_ns
        return skb.now ?? BOOTED_FOR;
      case 26: {
        // bpf_skb_load_bytes(skb, offset, to, len): the buffer zeroed when out of the frame
        const { buf, at } = mem(r[3]);
        const [from, n] = [Number(a(2)), Number(a(4))];
        if (from + n > frame.length) {
          buf.fill(0, at, at + n);
          return EFAULT;
        }
        frame.copy(buf, at, from, from + n);
        return 0n;
      }
      case 39: // bpf_skb_pull_data: the frame is linear already
        return a(2) > BigInt(frame.length) ? -12n & M64 : 0n;
      case 9: {
        // bpf_skb_store_bytes(skb, offset, from, len, flags)
        const { buf, at } = mem(r[3]);
        const n = Number(a(4));
        if (Number(a(2)) + n > frame.length) return EFAULT;
        buf.copy(frame, Number(a(2)), at, at + n);
        return 0n;
      }
      case 10: // bpf_l3_csum_replace(skb, offset, from, to, size)
      case 11: {
        // bpf_l4_csum_replace(skb, offset, from, to, flags)
        const flags = Number(a(5));
        if ((flags & 0xf) !== 4) throw new Error(`checksum replace of size ${flags & 0xf}`);
        if (Number(a(2)) + 2 > frame.length) return EFAULT;
        if (id === 11 && skb.partial && (flags & 0x10) === 0) return 0n;
        csumReplace4(frame, Number(a(2)), le32(a(3)), le32(a(4)), id === 11 && (flags & 0x20) !== 0, id === 11 && skb.partial);
        return 0n;
      }
      case 23: // bpf_redirect(ifindex, flags)
        redirect = { ifindex: Number(a(1)), flags: Number(a(2)) };
        return BigInt(TC_ACT_REDIRECT);
      default:
        throw new Error(`helper ${id} not emulated`);
    }
  };

  for (let pc = 0, steps = 0; pc < insns.length; pc++) {
    if (++steps > 10_000) throw new Error('runaway program');
    const { code, dst, src, off, imm } = insns[pc];
    const cls = code & 0x07;
    const k = BigInt(imm) & M64;
    if (code === 0x18) {
      // ld_imm64: the map (BPF_PSEUDO_MAP_FD, as libbpf relocates it) or a 64-bit constant
      if (pc + 1 >= insns.length) throw new Error('ld_imm64 without its second slot');
      r[dst] = src === 1 ? { kind: 'map', off: 0 } : ((BigInt(insns[pc + 1].imm) & 0xffffffffn) << 32n) | (k & 0xffffffffn);
      pc++;
      continue;
    }
    if (cls === 0x07 || cls === 0x04) {
      const op = code & 0xf0;
      const useX = (code & 0x08) !== 0;
      if (op === 0xb0) {
        if (useX) r[dst] = r[src];
        else r[dst] = cls === 0x04 ? k & 0xffffffffn : k;
        continue;
      }
      const d = r[dst];
      const operand = useX ? scalar(r[src]) : k;
      if (typeof d !== 'bigint') {
        if (op !== 0x00) throw new Error('only addition on pointers');
        r[dst] = { ...d, off: d.off + Number(BigInt.asIntN(64, operand)) };
        continue;
      }
      const v = op === 0x00 ? d + operand : op === 0x10 ? d - operand : op === 0x50 ? d & operand : op === 0x60 ? d << operand : null;
      if (v === null) throw new Error(`ALU op ${op.toString(16)}`);
      r[dst] = cls === 0x04 ? v & 0xffffffffn : v & M64;
    } else if (cls === 0x01) {
      const p = r[src];
      if (typeof p !== 'bigint' && p.kind === 'ctx') {
        if (off === SKB_OFF.data) r[dst] = { kind: 'pkt', off: 0 };
        else if (off === SKB_OFF.dataEnd) r[dst] = { kind: 'pkt', off: frame.length };
        else if (off === SKB_OFF.vlanPresent) r[dst] = skb.vlanPresent ? 1n : 0n;
        else if (off === SKB_OFF.ifindex) r[dst] = BigInt(skb.ifindex);
        else throw new Error(`skb field at ${off}`);
        continue;
      }
      const { buf, at } = mem(p);
      r[dst] = read(buf, at + off, size(code));
    } else if (cls === 0x02 || cls === 0x03) {
      const { buf, at } = mem(r[dst]);
      write(buf, at + off, size(code), cls === 0x02 ? k : scalar(r[src]));
    } else if (cls === 0x05 || cls === 0x06) {
      const op = code & 0xf0;
      if (op === 0x90) return { verdict: Number(BigInt.asIntN(32, scalar(r[0]))), frame, redirect };
      if (op === 0x80) {
        const v = helper(imm);
        if (v !== null) r[0] = v;
        for (let i = 1; i <= 5; i++) r[i] = 0n;
        continue;
      }
      if (op === 0x00) {
        pc += off;
        continue;
      }
      const a = r[dst];
      const b = (code & 0x08) !== 0 ? r[src] : cls === 0x06 ? BigInt(imm >>> 0) : k;
      // Packet pointers compare by offset (bounds checks); a map value's address is never NULL.
      const num = (v: Val) => (typeof v === 'bigint' ? (cls === 0x06 ? v & 0xffffffffn : v) : BigInt(v.off) + (v.kind === 'value' ? 1n << 48n : 0n));
      const [x, y] = [num(a), num(b)];
      const signed = (v: bigint) => (cls === 0x06 ? BigInt.asIntN(32, v) : BigInt.asIntN(64, v));
      const taken = op === 0x10 ? x === y : op === 0x50 ? x !== y : op === 0x20 ? x > y : op === 0x60 ? signed(x) > signed(y) : null;
      if (taken === null) throw new Error(`jump op ${op.toString(16)}`);
      if (taken) pc += off;
    } else throw new Error(`instruction class ${cls}`);
  }
  throw new Error('fell off the end of the program');
}
