/**
 * Packets logged by netfilter's NFLOG, as `tcpdump -i nflog:N -w -` writes them: a pcap stream
 * (link type 239, LINKTYPE_NFLOG) whose records are an nfgenmsg header (family, version,
 * resource id) followed by TLVs (length and type in host byte order, values padded to 4 bytes).
 * Parsed here rather than by tcpdump's own text so nothing depends on its print format.
 */

const LINKTYPE_NFLOG = 239;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;
const NFULA_HWHEADER = 16;

export interface NflogPacket {
  /** Seconds since the epoch (the capture's timestamp). */
  time: number;
  /** NFPROTO_IPV4 (2) or NFPROTO_IPV6 (10). */
  family: number;
  prefix: string;
  /** The link-layer header, when netfilter had one (a bridged packet's Ethernet header). */
  hwHeader: Buffer | null;
  /** The network-layer packet. */
  payload: Buffer;
}

/**
 * Incremental reader of a pcap stream: feed it chunks, get whole records back. Refuses a stream
 * of another link type (not NFLOG) or an unknown magic.
 */
export class PcapNflogReader {
  private buf: Buffer = Buffer.alloc(0);
  private le: boolean | null = null;
  private nanos = false;

  push(chunk: Buffer): NflogPacket[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: NflogPacket[] = [];
    if (this.le === null) {
      if (this.buf.length < 24) return out;
      const magic = this.buf.readUInt32LE(0);
      if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) this.le = true;
      else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) this.le = false;
      else throw new Error(`not a pcap stream (magic ${magic.toString(16)})`);
      this.nanos = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
      const link = this.u32(20) & 0x0fffffff;
      if (link !== LINKTYPE_NFLOG) throw new Error(`pcap link type ${link}, not NFLOG`);
      this.buf = this.buf.subarray(24);
    }
    while (this.buf.length >= 16) {
      const caplen = this.u32(8);
      if (this.buf.length < 16 + caplen) break;
      const time = this.u32(0) + this.u32(4) / (this.nanos ? 1e9 : 1e6);
      const rec = this.buf.subarray(16, 16 + caplen);
      this.buf = this.buf.subarray(16 + caplen);
      const p = parseNflog(rec, time);
      if (p) out.push(p);
    }
    return out;
  }

  private u32(at: number): number {
    return this.le ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }
}

/**
 * One NFLOG record. libpcap writes the TLVs in the capturing host's byte order (it is this one):
 * a record from another is not expected on this stream.
 */
export function parseNflog(rec: Buffer, time = 0): NflogPacket | null {
  if (rec.length < 4) return null;
  const family = rec[0];
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  let prefix = '';
  let hwHeader: Buffer | null = null;
  let payload: Buffer | null = null;
  let at = 4;
  while (at + 4 <= rec.length) {
    const len = le ? rec.readUInt16LE(at) : rec.readUInt16BE(at);
    const type = (le ? rec.readUInt16LE(at + 2) : rec.readUInt16BE(at + 2)) & 0x7fff;
    if (len < 4 || at + len > rec.length) break;
    const value = rec.subarray(at + 4, at + len);
    if (type === NFULA_PREFIX) {
      const nul = value.indexOf(0);
      prefix = value.subarray(0, nul < 0 ? value.length : nul).toString('latin1');
    } else if (type === NFULA_HWHEADER) hwHeader = Buffer.from(value);
    else if (type === NFULA_PAYLOAD) payload = Buffer.from(value);
    at += (len + 3) & ~3;
  }
  if (!payload) return null;
  return { time, family, prefix, hwHeader, payload };
}
