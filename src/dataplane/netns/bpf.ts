/**
 * 802.1Q tagging without the kernel's 8021q module: two tiny tc-BPF programs (direct-action,
 * on clsact ingress hooks) and the ELF relocatable object `tc … bpf da obj FILE sec SECTION`
 * loads them from (iproute2 through libbpf). Hand-assembled because the machines this runs on
 * have no clang; every constant (the VLAN id, the interface to redirect to) is baked in, so a
 * program needs no maps, relocations or BTF.
 *
 *   push (on the hidden peer of a subport's interface, its ingress): tag what the subport sends
 *        with its VLAN id (bpf_skb_vlan_push) and send it out of the parent (bpf_redirect).
 *   pop  (on the parent's ingress, one per subport): a frame tagged with that VLAN id loses its
 *        tag (bpf_skb_vlan_pop) and goes out of the hidden peer, so it arrives on the subport's
 *        interface; anything else goes on to the next filter, and finally to the parent itself.
 *
 * Together they make a veth pair behave as a VLAN subinterface of the parent, the wire between
 * instance and switch carrying real 802.1Q frames, as Neutron's Linux bridge trunk driver
 * (neutron/services/trunk/drivers/linuxbridge) makes it with VLAN devices.
 */

// eBPF instruction classes and fields (linux/bpf.h, linux/bpf_common.h).
const BPF_ALU64 = 0x07;
const BPF_JMP = 0x05;
const BPF_LDX = 0x01;
const BPF_W = 0x00;
const BPF_MEM = 0x60;
const BPF_K = 0x00;
const BPF_X = 0x08;
const BPF_MOV = 0xb0;
const BPF_AND = 0x50;
const BPF_JNE = 0x50;
const BPF_CALL = 0x80;
const BPF_EXIT = 0x90;

/** Helper ids (enum bpf_func_id). */
export const HELPER = { skbStoreBytes: 9, l3CsumReplace: 10, l4CsumReplace: 11, skbVlanPush: 18, skbVlanPop: 19, redirect: 23, skbPullData: 39 } as const;

/** tc verdicts (linux/pkt_cls.h). */
const TC_ACT_UNSPEC = -1;
const TC_ACT_SHOT = 2;

/** struct __sk_buff offsets (linux/bpf.h): vlan_present, vlan_tci. */
const SKB_VLAN_PRESENT = 20;
const SKB_VLAN_TCI = 24;

/** ETH_P_8021Q as the __be16 bpf_skb_vlan_push takes, in a little-endian register. */
const ETH_P_8021Q_BE = 0x0081;

export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

export const insn = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });
const movImm = (dst: number, imm: number) => insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
const movReg = (dst: number, src: number) => insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
const andImm = (dst: number, imm: number) => insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm);
const loadWord = (dst: number, src: number, off: number) => insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
const jneImm = (dst: number, imm: number, off: number) => insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm);
const call = (helper: number) => insn(BPF_JMP | BPF_CALL, 0, 0, 0, helper);
const exit = () => insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

/** Instructions as the kernel reads them: 8 bytes each, little-endian (x86-64, arm64). */
export function encode(insns: Insn[]): Buffer {
  const out = Buffer.alloc(insns.length * 8);
  insns.forEach((i, n) => {
    out[n * 8] = i.code;
    out[n * 8 + 1] = ((i.src & 0xf) << 4) | (i.dst & 0xf);
    out.writeInt16LE(i.off, n * 8 + 2);
    out.writeInt32LE(i.imm, n * 8 + 4);
  });
  return out;
}

const checkVid = (vid: number) => {
  if (!Number.isInteger(vid) || vid < 1 || vid > 4094) throw new Error(`VLAN id ${vid} is not in 1..4094`);
};
const checkIfindex = (ifindex: number) => {
  if (!Number.isInteger(ifindex) || ifindex < 1 || ifindex > 0x7fffffff) throw new Error(`interface index ${ifindex} is not valid`);
};

/** Tag with `vid`, then out of interface `toIfindex`; a frame that cannot be tagged is dropped. */
export function pushProgram(vid: number, toIfindex: number): Insn[] {
  checkVid(vid);
  checkIfindex(toIfindex);
  return [
    // r1 (the skb) stays the first argument; r2, r3: the tag.
    movImm(2, ETH_P_8021Q_BE),
    movImm(3, vid),
    call(HELPER.skbVlanPush),
    jneImm(0, 0, 4),
    movImm(1, toIfindex),
    movImm(2, 0),
    call(HELPER.redirect), // TC_ACT_REDIRECT
    exit(),
    movImm(0, TC_ACT_SHOT),
    exit(),
  ];
}

/**
 * A frame tagged `vid` (the receive path took the tag into the skb's metadata before tc sees
 * it) loses its tag and goes out of `toIfindex`; anything else: TC_ACT_UNSPEC, the next filter.
 */
export function popProgram(vid: number, toIfindex: number): Insn[] {
  checkVid(vid);
  checkIfindex(toIfindex);
  return [
    movReg(6, 1),
    loadWord(2, 1, SKB_VLAN_PRESENT),
    jneImm(2, 0, 2),
    movImm(0, TC_ACT_UNSPEC), // untagged
    exit(),
    loadWord(2, 6, SKB_VLAN_TCI),
    andImm(2, 0x0fff),
    jneImm(2, vid, -5), // another VLAN: TC_ACT_UNSPEC
    movReg(1, 6),
    call(HELPER.skbVlanPop),
    jneImm(0, 0, 4),
    movImm(1, toIfindex),
    movImm(2, 0),
    call(HELPER.redirect),
    exit(),
    movImm(0, TC_ACT_SHOT),
    exit(),
  ];
}

/**
 * The program's name (its ELF symbol; the kernel keeps 15 characters): what it does and its two
 * constants, so a filter read back tells whether it still does what is wanted (the interface it
 * redirects to is made again with another index when its link is).
 */
export function programName(kind: 'push' | 'pop', vid: number, toIfindex: number): string {
  return `ps${kind === 'push' ? 't' : 'p'}${vid.toString(16).padStart(3, '0')}.${toIfindex.toString(16).padStart(8, '0')}`;
}

/** Section the programs are in (`tc … sec`). */
export const SECTION = 'tc';

// ELF constants (elf.h).
const ET_REL = 1;
const EM_BPF = 247;
const SHT_PROGBITS = 1;
const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHF_WRITE = 0x1;
const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;
const STB_GLOBAL = 1;
const STT_FUNC = 2;

/**
 * An ELF64 relocatable object for EM_BPF holding one program, as clang would emit it without
 * debug information: the program in section `SECTION` (allocated, executable), a global function
 * symbol naming it (libbpf makes one program per such symbol and refuses static ones), the
 * `license` section (GPL, which every helper accepts) and the symbol and string tables.
 */
export function bpfObject(name: string, insns: Insn[]): Buffer {
  if (!/^[A-Za-z0-9_.]{1,15}$/.test(name)) throw new Error(`program name ${name} is not a BPF object name`);
  const text = encode(insns);
  const license = Buffer.from('GPL\0');
  const strtab = Buffer.from(`\0${name}\0`);
  const shstrtab = Buffer.from(`\0${SECTION}\0license\0.symtab\0.strtab\0.shstrtab\0`);
  const nameOf = (s: string) => shstrtab.indexOf(Buffer.from(`\0${s}\0`)) + 1;
  // Symbols: the null one, then the program (global, so the symbol table's first global is 1).
  const symtab = Buffer.alloc(48);
  symtab.writeUInt32LE(1, 24); // st_name
  symtab[28] = (STB_GLOBAL << 4) | STT_FUNC; // st_info
  symtab.writeUInt16LE(1, 30); // st_shndx: the program's section
  symtab.writeBigUInt64LE(0n, 32); // st_value
  symtab.writeBigUInt64LE(BigInt(text.length), 40); // st_size

  const chunks: Buffer[] = [];
  let offset = 64;
  const place = (b: Buffer, align: number): number => {
    const pad = (align - (offset % align)) % align;
    if (pad) chunks.push(Buffer.alloc(pad));
    offset += pad;
    const at = offset;
    chunks.push(b);
    offset += b.length;
    return at;
  };
  const at = {
    text: place(text, 8),
    license: place(license, 1),
    symtab: place(symtab, 8),
    strtab: place(strtab, 1),
    shstrtab: place(shstrtab, 1),
  };
  const shoff = place(Buffer.alloc(0), 8);
  const section = (name: number, type: number, flags: number, off: number, size: number, link: number, info: number, align: number, entsize: number) => {
    const b = Buffer.alloc(64);
    b.writeUInt32LE(name, 0);
    b.writeUInt32LE(type, 4);
    b.writeBigUInt64LE(BigInt(flags), 8);
    b.writeBigUInt64LE(BigInt(off), 24);
    b.writeBigUInt64LE(BigInt(size), 32);
    b.writeUInt32LE(link, 40);
    b.writeUInt32LE(info, 44);
    b.writeBigUInt64LE(BigInt(align), 48);
    b.writeBigUInt64LE(BigInt(entsize), 56);
    return b;
  };
  const sections = [
    Buffer.alloc(64),
    section(nameOf(SECTION), SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, at.text, text.length, 0, 0, 8, 0),
    section(nameOf('license'), SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, at.license, license.length, 0, 0, 1, 0),
    section(nameOf('.symtab'), SHT_SYMTAB, 0, at.symtab, symtab.length, 4, 1, 8, 24),
    section(nameOf('.strtab'), SHT_STRTAB, 0, at.strtab, strtab.length, 0, 0, 1, 0),
    section(nameOf('.shstrtab'), SHT_STRTAB, 0, at.shstrtab, shstrtab.length, 0, 0, 1, 0),
  ];
  const header = Buffer.alloc(64);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2 /* ELFCLASS64 */, 1 /* ELFDATA2LSB */, 1 /* EV_CURRENT */]);
  header.writeUInt16LE(ET_REL, 16);
  header.writeUInt16LE(EM_BPF, 18);
  header.writeUInt32LE(1, 20); // e_version
  header.writeBigUInt64LE(BigInt(shoff), 40); // e_shoff
  header.writeUInt16LE(64, 52); // e_ehsize
  header.writeUInt16LE(64, 58); // e_shentsize
  header.writeUInt16LE(sections.length, 60);
  header.writeUInt16LE(sections.length - 1, 62); // e_shstrndx
  return Buffer.concat([header, ...chunks, ...sections]);
}
