import { describe, expect, it } from 'vitest';
import { type BtfMap, bpfObject, btfSection, encode, insn, loadMap, popProgram, programName, pushProgram } from '../../src/dataplane/netns/bpf.js';
import { bpfObjectName } from '../support/fakekernel.js';

const hex = (b: Buffer) => b.toString('hex').match(/.{16}/g);

/** Section headers of an ELF64 object: name, type, flags, offset, size, link, info, entsize. */
function sections(o: Buffer) {
  const shoff = Number(o.readBigUInt64LE(40));
  const n = o.readUInt16LE(60);
  const raw = Array.from({ length: n }, (_, i) => {
    const at = shoff + i * 64;
    return {
      nameAt: o.readUInt32LE(at),
      type: o.readUInt32LE(at + 4),
      flags: Number(o.readBigUInt64LE(at + 8)),
      offset: Number(o.readBigUInt64LE(at + 24)),
      size: Number(o.readBigUInt64LE(at + 32)),
      link: o.readUInt32LE(at + 40),
      info: o.readUInt32LE(at + 44),
      entsize: Number(o.readBigUInt64LE(at + 56)),
    };
  });
  const names = raw[o.readUInt16LE(62)];
  return raw.map((s) => ({ ...s, name: o.subarray(names.offset + s.nameAt, o.indexOf(0, names.offset + s.nameAt)).toString() }));
}

describe('tc-BPF VLAN programs', () => {
  it('push: tag with the VLAN id (802.1Q), redirect out of the parent; drop what cannot be tagged', () => {
    expect(hex(encode(pushProgram(101, 5)))).toEqual([
      'b702000081000000', // r2 = htons(ETH_P_8021Q)
      'b703000065000000', // r3 = 101
      '8500000012000000', // call bpf_skb_vlan_push
      '5500040000000000', // if r0 != 0 goto drop
      'b701000005000000', // r1 = ifindex 5
      'b702000000000000', // r2 = 0 (egress)
      '8500000017000000', // call bpf_redirect
      '9500000000000000', // exit
      'b700000002000000', // drop: r0 = TC_ACT_SHOT
      '9500000000000000',
    ]);
  });

  it('pop: only frames tagged with the VLAN id lose their tag and go to the subinterface; the rest on (TC_ACT_UNSPEC)', () => {
    expect(hex(encode(popProgram(101, 0x1234)))).toEqual([
      'bf16000000000000', // r6 = r1 (skb)
      '6112140000000000', // r2 = skb->vlan_present
      '5502020000000000', // if r2 != 0 goto tagged
      'b7000000ffffffff', // r0 = TC_ACT_UNSPEC
      '9500000000000000',
      '6162180000000000', // tagged: r2 = skb->vlan_tci
      '57020000ff0f0000', // r2 &= VLAN_VID_MASK
      '5502fbff65000000', // if r2 != 101 goto untagged's return
      'bf61000000000000', // r1 = r6
      '8500000013000000', // call bpf_skb_vlan_pop
      '5500040000000000',
      'b701000034120000', // r1 = ifindex 0x1234
      'b702000000000000',
      '8500000017000000', // call bpf_redirect
      '9500000000000000',
      'b700000002000000',
      '9500000000000000',
    ]);
  });

  it('refuses VLAN ids and interface indexes out of range', () => {
    expect(() => pushProgram(0, 5)).toThrow(/VLAN id 0/);
    expect(() => popProgram(4095, 5)).toThrow(/VLAN id 4095/);
    expect(() => pushProgram(10, 0)).toThrow(/interface index 0/);
  });

  it('names a program by what it does and its constants, within the kernel’s 15 characters', () => {
    expect(programName('push', 101, 5)).toBe('pst065.00000005');
    expect(programName('pop', 4094, 0x7fffffff)).toBe('pspffe.7fffffff');
  });
});

describe('the ELF object tc loads', () => {
  const insns = pushProgram(101, 5);
  const o = bpfObject('pst065.00000005', insns);

  it('is an ELF64 little-endian relocatable object for EM_BPF', () => {
    expect(o.subarray(0, 7).toString('hex')).toBe('7f454c46020101');
    expect([o.readUInt16LE(16), o.readUInt16LE(18), o.readUInt32LE(20)]).toEqual([1, 247, 1]);
  });

  it('holds the program in an executable section, a GPL license and one global function symbol naming it', () => {
    const s = sections(o);
    expect(s.map((x) => [x.name, x.type, x.flags])).toEqual([
      ['', 0, 0],
      ['tc', 1, 0x6], // PROGBITS, ALLOC|EXECINSTR
      ['license', 1, 0x3], // PROGBITS, ALLOC|WRITE
      ['.symtab', 2, 0],
      ['.strtab', 3, 0],
      ['.shstrtab', 3, 0],
    ]);
    const text = s[1];
    expect(o.subarray(text.offset, text.offset + text.size)).toEqual(encode(insns));
    expect(o.subarray(s[2].offset, s[2].offset + s[2].size).toString()).toBe('GPL\0');
    const symtab = s[3];
    expect([symtab.link, symtab.info, symtab.entsize, symtab.size]).toEqual([4, 1, 24, 48]);
    const sym = symtab.offset + 24;
    expect(o[sym + 4]).toBe(0x12); // STB_GLOBAL, STT_FUNC
    expect(o.readUInt16LE(sym + 6)).toBe(1); // in section `tc`
    expect(o.readBigUInt64LE(sym + 16)).toBe(BigInt(text.size));
    expect(bpfObjectName(o)).toBe('pst065.00000005');
  });

  it('refuses a name the kernel would not keep', () => {
    expect(() => bpfObject('a-name-that-is-far-too-long', insns)).toThrow(/not a BPF object name/);
  });
});

/** A BTF section's types, decoded as far as btfSection writes them: kind, name, size/type, extra words. */
function btfTypes(b: Buffer) {
  expect([b.readUInt16LE(0), b[2], b[3], b.readUInt32LE(4)]).toEqual([0xeb9f, 1, 0, 24]);
  const [typeOff, typeLen, strOff, strLen] = [8, 12, 16, 20].map((at) => b.readUInt32LE(at));
  const strs = b.subarray(24 + strOff, 24 + strOff + strLen);
  const str = (at: number) => strs.subarray(at, strs.indexOf(0, at)).toString();
  const extraWords: Record<number, (vlen: number) => number> = { 1: () => 1, 2: () => 0, 3: () => 3, 4: (v) => 3 * v, 14: () => 1, 15: (v) => 3 * v };
  const out: Array<{ kind: number; name: string; vlen: number; sizeOrType: number; extra: number[] }> = [];
  for (let at = 24 + typeOff; at < 24 + typeOff + typeLen; ) {
    const info = b.readUInt32LE(at + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const n = extraWords[kind](vlen);
    out.push({
      kind,
      name: str(b.readUInt32LE(at)),
      vlen,
      sizeOrType: b.readUInt32LE(at + 8),
      extra: Array.from({ length: n }, (_, i) => b.readUInt32LE(at + 12 + i * 4)),
    });
    at += 12 + n * 4;
  }
  return { types: out, str };
}

describe('the ELF object with a BTF-defined map (libbpf’s `.maps` conventions)', () => {
  const map: BtfMap = { name: 'pslmabcdef01234', type: 9, keySize: 16, valueSize: 24, maxEntries: 8192, pinning: 1 };
  const insns = [insn(0x7a, 10, 0, -8, 0), ...loadMap(1), insn(0xb7, 0, 0, 0, -1), insn(0x95, 0, 0, 0, 0)];
  const o = bpfObject('pslitest', insns, map);
  const s = sections(o);

  it('adds `.maps`, the program section’s relocations and `.BTF` to the sections', () => {
    expect(s.map((x) => [x.name, x.type, x.flags, x.link, x.info, x.entsize])).toEqual([
      ['', 0, 0, 0, 0, 0],
      ['tc', 1, 0x6, 0, 0, 0],
      ['license', 1, 0x3, 0, 0, 0],
      ['.maps', 1, 0x3, 0, 0, 0], // PROGBITS, ALLOC|WRITE, as clang emits it
      ['.reltc', 9, 0, 6, 1, 16], // SHT_REL: symbols in .symtab (6), applying to `tc` (1)
      ['.BTF', 1, 0, 0, 0, 0],
      ['.symtab', 2, 0, 7, 1, 24],
      ['.strtab', 3, 0, 0, 0, 0],
      ['.shstrtab', 3, 0, 0, 0, 0],
    ]);
    expect(o.subarray(s[3].offset, s[3].offset + s[3].size)).toEqual(Buffer.alloc(40));
    expect(bpfObjectName(o)).toBe('pslitest');
  });

  it('names the map with a global object symbol at offset 0 of `.maps`, and relocates the ld_imm64 to it', () => {
    const symtab = s[6];
    const strtab = s[7];
    expect(symtab.size).toBe(3 * 24);
    const sym = symtab.offset + 48;
    const nameAt = strtab.offset + o.readUInt32LE(sym);
    expect(o.subarray(nameAt, o.indexOf(0, nameAt)).toString()).toBe(map.name);
    expect([o[sym + 4], o.readUInt16LE(sym + 6), o.readBigUInt64LE(sym + 8), o.readBigUInt64LE(sym + 16)]).toEqual([0x11, 3, 0n, 40n]);
    const rel = s[4];
    expect(rel.size).toBe(16);
    expect(o.readBigUInt64LE(rel.offset)).toBe(8n); // the second instruction
    expect(o.readBigUInt64LE(rel.offset + 8)).toBe((2n << 32n) | 1n); // symbol 2, R_BPF_64_64
    // r1 = the map: ld_imm64, src BPF_PSEUDO_MAP_FD, imm 0 until libbpf puts the map's fd in
    expect(encode(insns).subarray(8, 24).toString('hex')).toBe('18110000000000000000000000000000');
  });

  it('describes the map as clang does `__uint(type, 9); __uint(max_entries, …); …; __uint(pinning, LIBBPF_PIN_BY_NAME)`', () => {
    const btf = s[5];
    const { types } = btfTypes(o.subarray(btf.offset, btf.offset + btf.size));
    expect(types[0]).toEqual({ kind: 1, name: 'int', vlen: 0, sizeOrType: 4, extra: [(1 << 24) | 32] });
    const def = types.find((t) => t.kind === 4)!;
    expect(def.sizeOrType).toBe(40);
    const fields = Array.from({ length: def.vlen }, (_, i) => {
      const [, ptr, bitOffset] = def.extra.slice(i * 3, i * 3 + 3);
      const p = types[ptr - 1];
      expect(p.kind).toBe(2); // PTR
      const arr = types[p.sizeOrType - 1];
      expect([arr.kind, arr.extra[0], arr.extra[1]]).toEqual([3, 1, 1]); // ARRAY of int, indexed by int
      return [bitOffset, arr.extra[2]];
    });
    const names = ['type', 'max_entries', 'key_size', 'value_size', 'pinning'];
    const { str } = btfTypes(o.subarray(btf.offset, btf.offset + btf.size));
    expect(Array.from({ length: def.vlen }, (_, i) => str(def.extra[i * 3]))).toEqual(names);
    expect(fields).toEqual([
      [0, 9],
      [64, 8192],
      [128, 16],
      [192, 24],
      [256, 1],
    ]);
    const defId = types.indexOf(def) + 1;
    const v = types.find((t) => t.kind === 14)!;
    expect([v.name, v.sizeOrType, v.extra]).toEqual([map.name, defId, [1]]); // global, allocated
    const sec = types[types.length - 1];
    expect([sec.kind, sec.name, sec.vlen, sec.sizeOrType, sec.extra]).toEqual([15, '.maps', 1, 40, [types.indexOf(v) + 1, 0, 40]]);
  });

  it('shares one array type among fields of one value', () => {
    const { types } = btfTypes(btfSection({ ...map, keySize: 8, valueSize: 8 }));
    expect(types.filter((t) => t.kind === 3).map((t) => t.extra[2])).toEqual([9, 8192, 8, 1]);
  });

  it('refuses a program that loads a map the object lacks, and map names the kernel would not keep', () => {
    expect(() => bpfObject('pslitest', insns)).toThrow(/does not define/);
    expect(() => bpfObject('pslitest', insns, { ...map, name: 'a-map' })).toThrow(/not a BPF object name/);
    expect(() => bpfObject('pslitest', insns, { ...map, name: 'pslitest' })).toThrow(/not a BPF object name/);
  });
});
