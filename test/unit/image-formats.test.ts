import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { inspectFormat, inspected } from '../../src/core/image/formats.js';

// Glance's in-flight format inspection (format_inspector.py): each format's size where its headers
// put it, whatever the chunking, and no size for data that is not the format claimed.

const GiB = 1024 ** 3;

function qcow2(size: number): Buffer {
  const b = Buffer.alloc(1024);
  Buffer.from([0x51, 0x46, 0x49, 0xfb]).copy(b, 0);
  b.writeUInt32BE(3, 4);
  b.writeBigUInt64BE(BigInt(size), 24);
  return b;
}

function vhd(size: number): Buffer {
  const b = Buffer.alloc(2048);
  b.write('conectix', 0, 'latin1');
  b.writeBigUInt64BE(BigInt(size), 40);
  return b;
}

function vdi(size: number): Buffer {
  const b = Buffer.alloc(1024);
  b.writeUInt32LE(0xbeda107f, 0x40);
  b.writeBigUInt64LE(BigInt(size), 0x170);
  return b;
}

function vmdk(sectors: number, createType: string, o: { version?: number; footer?: boolean } = {}): Buffer {
  const b = Buffer.alloc(512 + 1024 + 512);
  b.write('KDMV', 0, 'latin1');
  b.writeUInt32LE(o.version ?? 1, 4);
  b.writeBigUInt64LE(BigInt(sectors), 12);
  b.writeBigUInt64LE(1n, 28); // descriptor at sector 1
  b.writeBigUInt64LE(2n, 36); // two sectors of it
  b.writeBigUInt64LE(o.footer ? 0xffffffffffffffffn : 3n, 56);
  b.write(`# Disk DescriptorFile\nversion=1\ncreateType="${createType}"\nRW ${sectors} SPARSE "disk.vmdk"\n`, 512, 'latin1');
  return b;
}

/** A GUID's 16 bytes as Microsoft lays them out (first three fields little-endian). */
function guidBytes(text: string): Buffer {
  const [a, b, c, d, e] = text.split('-');
  return Buffer.concat([Buffer.from(a, 'hex').reverse(), Buffer.from(b, 'hex').reverse(), Buffer.from(c, 'hex').reverse(), Buffer.from(d + e, 'hex')]);
}

function vhdx(size: number): Buffer {
  const metaOffset = 256 * 1024;
  const b = Buffer.alloc(metaOffset + 64 * 1024 + 4096);
  b.write('vhdxfile', 0, 'latin1');
  const rt = 192 * 1024;
  b.writeUInt32LE(0x69676572, rt); // 'regi'
  b.writeUInt32LE(2, rt + 8);
  guidBytes('2DC27766-F623-4200-9D64-115E9BFD4A08').copy(b, rt + 16); // the BAT region, skipped
  guidBytes('8B7CA206-4790-4B9A-B8FE-575F050F886E').copy(b, rt + 48);
  b.writeBigUInt64LE(BigInt(metaOffset), rt + 48 + 16);
  b.write('metadata', metaOffset, 'latin1');
  b.writeUInt16LE(2, metaOffset + 10);
  guidBytes('CAA16737-FA36-4D43-B3B6-33F0AA44E76B').copy(b, metaOffset + 32); // file parameters
  guidBytes('2FA54224-CD1B-4876-B211-5DBED83BF4B8').copy(b, metaOffset + 64);
  b.writeUInt32LE(65536 + 8, metaOffset + 64 + 16);
  b.writeUInt32LE(8, metaOffset + 64 + 20);
  b.writeBigUInt64LE(BigInt(size), metaOffset + 65536 + 8);
  return b;
}

/** The virtual size Glance would record for `data` sent in `chunk`-byte pieces. */
function inspect(disk: string, data: Buffer, chunk = 4096, container = 'bare'): number | null {
  const i = inspectFormat(disk, container);
  if (!i) return null;
  for (let at = 0; at < data.length; at += chunk) i.eat(data.subarray(at, at + chunk));
  return i.virtualSize();
}

describe('format inspection', () => {
  it('reads each format’s virtual size, in chunks of any size', () => {
    for (const chunk of [1, 7, 512, 4096, 1 << 20]) {
      expect(inspect('qcow2', qcow2(GiB), chunk)).toBe(GiB);
      expect(inspect('vhd', vhd(2 * GiB), chunk)).toBe(2 * GiB);
      expect(inspect('vdi', vdi(3 * GiB), chunk)).toBe(3 * GiB);
      expect(inspect('vmdk', vmdk(2048, 'monolithicSparse'), chunk)).toBe(2048 * 512);
      expect(inspect('vmdk', vmdk(4096, 'streamOptimized'), chunk)).toBe(4096 * 512);
      expect(inspect('raw', Buffer.alloc(12345), chunk)).toBe(12345);
    }
    expect(inspect('vhdx', vhdx(5 * GiB), 7)).toBe(5 * GiB);
    expect(inspect('vhdx', vhdx(5 * GiB), 65536)).toBe(5 * GiB);
  });

  it('records nothing for data that is not the format claimed, or that Glance does not read', () => {
    expect(inspect('qcow2', vhd(GiB))).toBeNull();
    expect(inspect('vhd', qcow2(GiB))).toBeNull();
    expect(inspect('vdi', Buffer.alloc(100))).toBeNull(); // too short for its header
    expect(inspect('vmdk', vmdk(2048, 'twoGbMaxExtentSparse'))).toBeNull();
    expect(inspect('vmdk', vmdk(2048, 'monolithicSparse', { footer: true }))).toBeNull();
    expect(inspect('vmdk', vmdk(2048, 'monolithicSparse', { version: 9 }))).toBeNull();
    expect(inspect('vmdk', qcow2(GiB))).toBeNull(); // a parser refusing the data stops the inspection
    expect(inspect('qcow2', qcow2(GiB), 4096, 'ova')).toBeNull();
    expect(inspectFormat('iso', 'bare')).toBeNull();
    expect(inspectFormat(null, 'bare')).toBeNull();
  });

  it('passes the data through untouched', async () => {
    const data = qcow2(GiB);
    const i = inspectFormat('qcow2', 'bare');
    const chunks: Buffer[] = [];
    for await (const c of inspected(Readable.from([data.subarray(0, 10), data.subarray(10)], { objectMode: false }), i)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(i?.virtualSize()).toBe(GiB);
  });
});
