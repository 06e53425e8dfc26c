import { Readable } from 'node:stream';

/**
 * Glance's in-flight format inspection (glance/common/format_inspector.py, as Debian's Zed
 * carries it): while image data streams into a store, an inspector for the image's disk_format
 * keeps only the few regions of the file it needs and, at the end, tells whether the data is that
 * format and its virtual size — what location.py's set_data records as `virtual_size`. A format
 * it cannot read (a bad header, an unsupported VMDK) only means no virtual size: inspection never
 * fails an upload.
 */

/** A byte range of the stream, captured across chunks of any size and alignment. */
class Region {
  private parts: Buffer[] = [];
  private have = 0;

  constructor(
    readonly offset: number,
    readonly length: number,
  ) {}

  get complete(): boolean {
    return this.have === this.length;
  }

  get data(): Buffer {
    return Buffer.concat(this.parts, this.have);
  }

  /** Take what `chunk`, which ends at stream position `end`, holds of the region. */
  capture(chunk: Buffer, end: number): void {
    if (this.complete) return;
    const start = end - chunk.length;
    const from = Math.max(this.offset + this.have, start);
    const to = Math.min(this.offset + this.length, end);
    if (to <= from) return;
    this.parts.push(chunk.subarray(from - start, to - start));
    this.have += to - from;
  }
}

/** Raised by a format's parser on data it refuses; the inspection stops there. */
class FormatError extends Error {}

/** One format's reader: the regions it wants, and what they say once captured. */
abstract class Inspector {
  total = 0;
  protected readonly regions = new Map<string, Region>();

  constructor() {
    this.want('header', 0, 512);
  }

  protected want(name: string, offset: number, length: number): void {
    if (!this.regions.has(name)) this.regions.set(name, new Region(offset, length));
  }

  protected region(name: string): Region | undefined {
    return this.regions.get(name);
  }

  protected header(): Buffer | undefined {
    const h = this.region('header');
    return h?.complete ? h.data : undefined;
  }

  /** Present the next chunk; a region found by `afterChunk` still sees the chunk that revealed it. */
  eat(chunk: Buffer): void {
    this.total += chunk.length;
    const before = new Set(this.regions.keys());
    for (const r of this.regions.values()) r.capture(chunk, this.total);
    this.afterChunk();
    for (const [name, r] of this.regions) if (!before.has(name)) r.capture(chunk, this.total);
  }

  /** Read what has been captured so far and ask for more regions (VMDK's descriptor, VHDX's tables). */
  protected afterChunk(): void {}

  abstract get formatMatch(): boolean;
  /** The disk's size in bytes, 0 while unknown. */
  abstract get virtualSize(): number;
}

/** A raw image is its bytes. */
class RawInspector extends Inspector {
  get formatMatch(): boolean {
    return true;
  }
  get virtualSize(): number {
    return this.total;
  }
}

/** QCOW2: magic `QFI\xfb`, the size a big-endian uint64 at byte 24. */
class QcowInspector extends Inspector {
  get formatMatch(): boolean {
    return (
      this.header()
        ?.subarray(0, 4)
        .equals(Buffer.from([0x51, 0x46, 0x49, 0xfb])) ?? false
    );
  }
  get virtualSize(): number {
    const h = this.header();
    return h && this.formatMatch ? Number(h.readBigUInt64BE(24)) : 0;
  }
}

/**
 * QED: recognised by its magic; Glance's inspector reads no size from it, so its virtual size is
 * the file's length, as its base class counts it.
 */
class QedInspector extends Inspector {
  get formatMatch(): boolean {
    return this.header()?.subarray(0, 4).equals(Buffer.from('QED\0', 'latin1')) ?? false;
  }
  get virtualSize(): number {
    return this.total;
  }
}

/** VHD (VPC): the footer copy at the start, `conectix`, the current size a big-endian uint64 at 40. */
class VhdInspector extends Inspector {
  get formatMatch(): boolean {
    return this.region('header')!.data.subarray(0, 8).toString('latin1') === 'conectix';
  }
  get virtualSize(): number {
    const h = this.header();
    return h && this.formatMatch ? Number(h.readBigUInt64BE(40)) : 0;
  }
}

/** VirtualBox VDI: magic 0xbeda107f (little-endian) at 0x40, the size a uint64 at 0x170. */
class VdiInspector extends Inspector {
  get formatMatch(): boolean {
    const h = this.header();
    return h !== undefined && h.readUInt32LE(0x40) === 0xbeda107f;
  }
  get virtualSize(): number {
    const h = this.header();
    return h && this.formatMatch ? Number(h.readBigUInt64LE(0x170)) : 0;
  }
}

/**
 * VMDK, the monolithicSparse and streamOptimized variants: the sparse header (`KDMV`, versions 1
 * to 3, the capacity in sectors at 12) and its descriptor text at sector 1, whose `createType`
 * names the variant. A header whose grain directory is at the end (a footer that would take
 * precedence) cannot be read from a stream and is refused, as Glance refuses it.
 */
class VmdkInspector extends Inspector {
  static readonly DESCRIPTOR_OFFSET = 0x200;
  static readonly DESCRIPTOR_MAX = (1 << 20) - 1;

  protected override afterChunk(): void {
    const h = this.header();
    if (!h || this.region('descriptor')) return;
    if (h.subarray(0, 4).toString('latin1') !== 'KDMV') throw new FormatError('Signature KDMV not found');
    const version = h.readUInt32LE(4);
    if (version < 1 || version > 3) throw new FormatError(`Unsupported format version ${version}`);
    if (h.readBigUInt64LE(56) === 0xffffffffffffffffn) throw new FormatError('Unsupported VMDK footer');
    const offset = Number(h.readBigUInt64LE(28)) * 512;
    if (offset !== VmdkInspector.DESCRIPTOR_OFFSET) throw new FormatError('Wrong descriptor location');
    this.want('descriptor', offset, Math.min(Number(h.readBigUInt64LE(36)) * 512, VmdkInspector.DESCRIPTOR_MAX));
  }

  get formatMatch(): boolean {
    return this.region('header')!.data.subarray(0, 4).toString('latin1') === 'KDMV';
  }

  get virtualSize(): number {
    const d = this.region('descriptor');
    if (!d?.complete) return 0;
    const type = /createType="([^"]{0,63})"/.exec(d.data.toString('latin1'))?.[1];
    if (type !== 'monolithicSparse' && type !== 'streamOptimized') return 0;
    return Number(this.header()!.readBigUInt64LE(12)) * 512;
  }
}

/** A Microsoft GUID as text (its first three fields little-endian). */
function guid(b: Buffer): string {
  const hex = (x: Buffer) => x.toString('hex').toUpperCase();
  return `${hex(Buffer.from(b.subarray(0, 4)).reverse())}-${hex(Buffer.from(b.subarray(4, 6)).reverse())}-${hex(Buffer.from(b.subarray(6, 8)).reverse())}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`;
}

/**
 * VHDX: `vhdxfile` at the start; the region table at 192 KiB names the metadata region, whose
 * table names the Virtual Disk Size item, a little-endian uint64. Glance's limits: at most 2,047
 * regions and metadata entries.
 */
class VhdxInspector extends Inspector {
  static readonly METADATA_REGION = '8B7CA206-4790-4B9A-B8FE-575F050F886E';
  static readonly VIRTUAL_DISK_SIZE = '2FA54224-CD1B-4876-B211-5DBED83BF4B8';
  static readonly TABLE_MAX = 32 * 2048;

  constructor() {
    super();
    this.want('regions', 192 * 1024, 64 * 1024);
  }

  protected override afterChunk(): void {
    const regions = this.region('regions')!;
    if (regions.complete && !this.region('metadata')) {
      const t = regions.data;
      if (t.readUInt32LE(0) !== 0x69676572) throw new FormatError('Region signature not found');
      const count = t.readUInt32LE(8);
      if (count >= 2048) throw new FormatError(`Region count is ${count} (limit 2047)`);
      for (let i = 0; i < count; i++) {
        const e = t.subarray(16 + i * 32, 48 + i * 32);
        if (guid(e) === VhdxInspector.METADATA_REGION) {
          this.want('metadata', Number(e.readBigUInt64LE(16)), VhdxInspector.TABLE_MAX);
          return;
        }
      }
      return;
    }
    const meta = this.region('metadata');
    if (!meta || this.region('size')) return;
    const m = meta.data;
    if (m.length < 32) return;
    if (m.subarray(0, 8).toString('latin1') !== 'metadata') throw new FormatError('Invalid signature for metadata region');
    const count = m.readUInt16LE(10);
    if (count >= 2048) throw new FormatError(`Metadata item count is ${count} (limit 2047)`);
    if (m.length < 32 + count * 32) return;
    for (let i = 0; i < count; i++) {
      const e = m.subarray(32 + i * 32, 64 + i * 32);
      if (guid(e) === VhdxInspector.VIRTUAL_DISK_SIZE) {
        this.want('size', meta.offset + e.readUInt32LE(16), 8);
        return;
      }
    }
  }

  get formatMatch(): boolean {
    return this.region('header')!.data.subarray(0, 8).toString('latin1') === 'vhdxfile';
  }

  get virtualSize(): number {
    const s = this.region('size');
    return s?.complete ? Number(s.data.readBigUInt64LE(0)) : 0;
  }
}

const INSPECTORS = new Map<string, () => Inspector>([
  ['raw', () => new RawInspector()],
  ['qcow2', () => new QcowInspector()],
  ['vhd', () => new VhdInspector()],
  ['vhdx', () => new VhdxInspector()],
  ['vmdk', () => new VmdkInspector()],
  ['vdi', () => new VdiInspector()],
  ['qed', () => new QedInspector()],
]);

/** One upload's inspection: feed it every chunk, then ask for the virtual size. */
export interface FormatInspection {
  eat(chunk: Buffer): void;
  /** The virtual size when the data was the format and it could be read, else null. */
  virtualSize(): number | null;
}

/**
 * The inspection of an upload of `diskFormat` data in `containerFormat`, or null where Glance
 * inspects nothing (another container than `bare`, a format it has no inspector for: iso, ami,
 * aki, ari, ploop). A parser that refuses the data stops the inspection, as Glance's InfoWrapper
 * stops calling a failed inspector and lets the upload go on.
 */
export function inspectFormat(diskFormat: string | null, containerFormat: string | null): FormatInspection | null {
  const make = diskFormat ? INSPECTORS.get(diskFormat) : undefined;
  if (!make || containerFormat !== 'bare') return null;
  const inspector = make();
  let failed = false;
  return {
    eat(chunk) {
      if (failed) return;
      try {
        inspector.eat(chunk);
      } catch {
        failed = true;
      }
    },
    virtualSize() {
      if (failed || !inspector.formatMatch) return null;
      return inspector.virtualSize || null;
    },
  };
}

/** `data` as it flows, shown to `inspection` on the way (no inspection: `data` itself). */
export function inspected(data: Readable, inspection: FormatInspection | null): Readable {
  if (!inspection) return data;
  return Readable.from(
    (async function* () {
      for await (const chunk of data) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        inspection.eat(b);
        yield b;
      }
    })(),
    { objectMode: false },
  );
}
