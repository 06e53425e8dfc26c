/**
 * 802.1Q tagging without the kernel's 8021q module: two tiny tc-BPF programs (direct-action,
 * on clsact ingress hooks) and the ELF relocatable object `tc … bpf da obj FILE sec SECTION`
 * loads them from (iproute2 through libbpf). Hand-assembled because the machines this runs on
 * have no clang; every constant (the VLAN id, the interface to redirect to) is baked in, so a
 * VLAN program needs no maps, relocations or BTF. (The local IP programs, localipprog.ts, do need
 * one map: bpfObject can carry one, with the BTF and relocation libbpf needs for it.)
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
export const HELPER = {
  mapLookupElem: 1,
  mapUpdateElem: 2,
  ktimeGetNs: 5,
  skbStoreBytes: 9,
  l3CsumReplace: 10,
  l4CsumReplace: 11,
  skbVlanPush: 18,
  skbVlanPop: 19,
  redirect: 23,
  skbLoadBytes: 26,
  skbPullData: 39,
} as const;

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
const SHT_REL = 9;
const SHF_WRITE = 0x1;
const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;
const STB_GLOBAL = 1;
const STT_OBJECT = 1;
const STT_FUNC = 2;
/** The relocation of a 64-bit immediate load (ld_imm64) to a symbol's address (elf.h). */
const R_BPF_64_64 = 1;

/** ld_imm64 (BPF_LD | BPF_DW | BPF_IMM): two instruction slots, the second only holding imm's upper half. */
export const LD_IMM64 = 0x18;
/** The source register of an ld_imm64 that loads a map (BPF_PSEUDO_MAP_FD): libbpf puts the map's fd in. */
export const PSEUDO_MAP_FD = 1;

/** `r{dst} = the object's map`: the two slots libbpf fills in at load (a relocation against the map's symbol). */
export const loadMap = (dst: number): Insn[] => [insn(LD_IMM64, dst, PSEUDO_MAP_FD, 0, 0), insn(0, 0, 0, 0, 0)];

/** Map types (enum bpf_map_type). */
export const MAP_TYPE = { hash: 1, lruHash: 9 } as const;
/** libbpf's `pinning` value: pinned at the pin root under the map's name, reused if already there. */
export const LIBBPF_PIN_BY_NAME = 1;

/**
 * One map, defined as libbpf's BTF map definitions define it (`struct { __uint(type, …); … } name
 * SEC(".maps")`): every field an `int (*field)[value]`, the value being the array's length.
 */
export interface BtfMap {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  pinning: number;
}

// BTF kinds (linux/btf.h).
const BTF_KIND_INT = 1;
const BTF_KIND_PTR = 2;
const BTF_KIND_ARRAY = 3;
const BTF_KIND_STRUCT = 4;
const BTF_KIND_VAR = 14;
const BTF_KIND_DATASEC = 15;
const BTF_INT_SIGNED = 1;
const BTF_VAR_GLOBAL_ALLOCATED = 1;
const BTF_MAGIC = 0xeb9f;
/** The `.maps` section's size: the definition struct, one 8-byte pointer per field. */
const mapDefSize = 5 * 8;

/**
 * The `.BTF` section describing `map` as clang describes a BTF map definition: `int`, an array of
 * int per distinct field value (its length the value) and a pointer to each, the definition's
 * anonymous struct, the variable (global, allocated: the only linkage libbpf takes for a map) and
 * the `.maps` DATASEC placing it at offset 0 with its size already fixed up (libbpf fixes sizes
 * only when zero, and still matches the variable to its ELF symbol).
 */
export function btfSection(map: BtfMap): Buffer {
  const strings: string[] = [''];
  const strAt = new Map<string, number>([['', 0]]);
  let strLen = 1;
  const str = (s: string): number => {
    const known = strAt.get(s);
    if (known !== undefined) return known;
    strAt.set(s, strLen);
    strings.push(s);
    strLen += Buffer.byteLength(s) + 1;
    return strLen - Buffer.byteLength(s) - 1;
  };
  const types: Buffer[] = [];
  const type = (nameOff: number, kind: number, vlen: number, sizeOrType: number, extra: number[]): number => {
    const b = Buffer.alloc(12 + extra.length * 4);
    b.writeUInt32LE(nameOff, 0);
    b.writeUInt32LE(((kind & 0x1f) << 24) | (vlen & 0xffff), 4);
    b.writeUInt32LE(sizeOrType, 8);
    for (const [i, x] of extra.entries()) b.writeUInt32LE(x >>> 0, 12 + i * 4);
    types.push(b);
    return types.length; // type ids start at 1 (0 is void)
  };
  const int = type(str('int'), BTF_KIND_INT, 0, 4, [(BTF_INT_SIGNED << 24) | 32]);
  const fields: Array<[string, number]> = [
    ['type', map.type],
    ['max_entries', map.maxEntries],
    ['key_size', map.keySize],
    ['value_size', map.valueSize],
    ['pinning', map.pinning],
  ];
  const ptrTo = new Map<number, number>();
  for (const [, v] of fields) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`map field value ${v} is not a u32`);
    if (ptrTo.has(v)) continue;
    const arr = type(0, BTF_KIND_ARRAY, 0, 0, [int, int, v]);
    ptrTo.set(v, type(0, BTF_KIND_PTR, 0, arr, []));
  }
  const def = type(
    0,
    BTF_KIND_STRUCT,
    fields.length,
    mapDefSize,
    fields.flatMap(([name, v], i) => [str(name), ptrTo.get(v)!, i * 64]),
  );
  const v = type(str(map.name), BTF_KIND_VAR, 0, def, [BTF_VAR_GLOBAL_ALLOCATED]);
  type(str(MAPS_SECTION), BTF_KIND_DATASEC, 1, mapDefSize, [v, 0, mapDefSize]);
  const typeData = Buffer.concat(types);
  const strData = Buffer.from(`${strings.join('\0')}\0`);
  const header = Buffer.alloc(24);
  header.writeUInt16LE(BTF_MAGIC, 0);
  header[2] = 1; // version
  header[3] = 0; // flags
  header.writeUInt32LE(24, 4); // hdr_len
  header.writeUInt32LE(0, 8); // type_off
  header.writeUInt32LE(typeData.length, 12);
  header.writeUInt32LE(typeData.length, 16); // str_off
  header.writeUInt32LE(strData.length, 20);
  return Buffer.concat([header, typeData, strData]);
}

/** The section libbpf reads BTF map definitions from. */
export const MAPS_SECTION = '.maps';

const OBJECT_NAME = /^[A-Za-z0-9_.]{1,15}$/;

/**
 * An ELF64 relocatable object for EM_BPF holding one program, as clang would emit it: the program
 * in section `SECTION` (allocated, executable), a global function symbol naming it (libbpf makes
 * one program per such symbol and refuses static ones), the `license` section (GPL, which every
 * helper accepts) and the symbol and string tables. With `map`, also what clang emits for one BTF
 * map definition: the `.maps` section (zeroes: the definition lives in the BTF), a global object
 * symbol naming the map there, the `.BTF` section (btfSection), and `.rel` + `SECTION` with one
 * R_BPF_64_64 relocation against that symbol per ld_imm64 of the map in the program (loadMap), which
 * libbpf resolves to the map's fd at load.
 */
export function bpfObject(name: string, insns: Insn[], map?: BtfMap): Buffer {
  if (!OBJECT_NAME.test(name)) throw new Error(`program name ${name} is not a BPF object name`);
  if (map && (!OBJECT_NAME.test(map.name) || map.name === name)) throw new Error(`map name ${map.name} is not a BPF object name`);
  const text = encode(insns);
  const mapLoads = insns.flatMap((i, n) => (i.code === LD_IMM64 && i.src === PSEUDO_MAP_FD ? [n] : []));
  if (mapLoads.length && !map) throw new Error('the program loads a map the object does not define');
  const license = Buffer.from('GPL\0');
  const strtab = Buffer.from(map ? `\0${name}\0${map.name}\0` : `\0${name}\0`);
  const secNames = map
    ? [SECTION, 'license', MAPS_SECTION, `.rel${SECTION}`, '.BTF', '.symtab', '.strtab', '.shstrtab']
    : [SECTION, 'license', '.symtab', '.strtab', '.shstrtab'];
  const index = (s: string) => secNames.indexOf(s) + 1;
  const shstrtab = Buffer.from(`\0${secNames.join('\0')}\0`);
  const nameOf = (s: string) => shstrtab.indexOf(Buffer.from(`\0${s}\0`)) + 1;
  // Symbols: the null one, the program, then the map (all global: the table's first global is 1).
  const symbol = (nameOff: number, info: number, shndx: number, size: number) => {
    const b = Buffer.alloc(24);
    b.writeUInt32LE(nameOff, 0); // st_name
    b[4] = info; // st_info
    b.writeUInt16LE(shndx, 6); // st_shndx
    b.writeBigUInt64LE(0n, 8); // st_value
    b.writeBigUInt64LE(BigInt(size), 16); // st_size
    return b;
  };
  const symtab = Buffer.concat([
    Buffer.alloc(24),
    symbol(1, (STB_GLOBAL << 4) | STT_FUNC, index(SECTION), text.length),
    ...(map ? [symbol(name.length + 2, (STB_GLOBAL << 4) | STT_OBJECT, index(MAPS_SECTION), mapDefSize)] : []),
  ]);
  const rel = Buffer.alloc(mapLoads.length * 16);
  mapLoads.forEach((n, i) => {
    rel.writeBigUInt64LE(BigInt(n * 8), i * 16); // r_offset: the instruction's byte offset
    rel.writeBigUInt64LE((2n << 32n) | BigInt(R_BPF_64_64), i * 16 + 8); // r_info: symbol 2 (the map)
  });

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
  const section = (name: string, type: number, flags: number, data: Buffer, link: number, info: number, align: number, entsize: number) => {
    const off = place(data, align);
    const b = Buffer.alloc(64);
    b.writeUInt32LE(nameOf(name), 0);
    b.writeUInt32LE(type, 4);
    b.writeBigUInt64LE(BigInt(flags), 8);
    b.writeBigUInt64LE(BigInt(off), 24);
    b.writeBigUInt64LE(BigInt(data.length), 32);
    b.writeUInt32LE(link, 40);
    b.writeUInt32LE(info, 44);
    b.writeBigUInt64LE(BigInt(align), 48);
    b.writeBigUInt64LE(BigInt(entsize), 56);
    return b;
  };
  const sections = [
    Buffer.alloc(64),
    section(SECTION, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, text, 0, 0, 8, 0),
    section('license', SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, license, 0, 0, 1, 0),
    ...(map
      ? [
          section(MAPS_SECTION, SHT_PROGBITS, SHF_ALLOC | SHF_WRITE, Buffer.alloc(mapDefSize), 0, 0, 8, 0),
          section(`.rel${SECTION}`, SHT_REL, 0, rel, index('.symtab'), index(SECTION), 8, 16),
          section('.BTF', SHT_PROGBITS, 0, btfSection(map), 0, 0, 4, 0),
        ]
      : []),
    section('.symtab', SHT_SYMTAB, 0, symtab, index('.strtab'), 1, 8, 24),
    section('.strtab', SHT_STRTAB, 0, strtab, 0, 0, 1, 0),
    section('.shstrtab', SHT_STRTAB, 0, shstrtab, 0, 0, 1, 0),
  ];
  const shoff = place(Buffer.alloc(0), 8);
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
