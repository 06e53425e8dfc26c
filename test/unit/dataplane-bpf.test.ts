import { describe, expect, it } from 'vitest';
import { bpfObject, encode, popProgram, programName, pushProgram } from '../../src/dataplane/netns/bpf.js';
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
