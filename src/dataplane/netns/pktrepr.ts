import { ipToString, parseIp } from '../../util/ip.js';

/**
 * A packet as Neutron's OVS log driver writes it after `pkt=`: `str()` of a ryu Packet, each
 * protocol as ryu's StringifyMixin prints it (`name(attr=repr,…)`, attributes in name order),
 * protocols joined by `, `, and what no parser took as Python bytes. Ethernet, IPv4, IPv6, TCP
 * (with ryu's option classes), UDP, ICMP and ICMPv6 are decoded; other payloads stay bytes.
 */
export function pktRepr(hwHeader: Buffer | null, payload: Buffer): string {
  const parts: string[] = [];
  if (hwHeader && hwHeader.length >= 14) {
    const ethertype = hwHeader.readUInt16BE(12);
    parts.push(`ethernet(dst=${q(mac(hwHeader, 0))},ethertype=${ethertype},src=${q(mac(hwHeader, 6))})`);
  }
  // ryu keeps what it could not parse unless it is all padding.
  const rest = l3(payload, parts);
  if (rest.some((b) => b !== 0)) parts.push(pyBytes(rest));
  return parts.join(', ');
}

const q = (s: string) => `'${s}'`;

function mac(b: Buffer, at: number): string {
  return [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function ip(b: Buffer): string {
  const a = parseIp([...b].join('.'));
  if (b.length === 4 && a) return ipToString(a);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  const v6 = parseIp(groups.join(':'));
  return v6 ? ipToString(v6) : groups.join(':');
}

/** Python's repr() of bytes. */
export function pyBytes(b: Buffer): string {
  const quote = b.includes(0x27) && !b.includes(0x22) ? '"' : "'";
  let s = '';
  for (const c of b) {
    if (c === 0x5c) s += '\\\\';
    else if (c === quote.charCodeAt(0)) s += `\\${quote}`;
    else if (c === 0x09) s += '\\t';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `b${quote}${s}${quote}`;
}

/** The network layer and what it carries; returns what is left unparsed. */
function l3(p: Buffer, parts: string[]): Buffer {
  const version = p.length ? p[0] >> 4 : 0;
  if (version === 4 && p.length >= 20) {
    const ihl = p[0] & 0xf;
    const hlen = ihl * 4;
    if (p.length < hlen) return p;
    const flagsOff = p.readUInt16BE(6);
    const total = p.readUInt16BE(2);
    const option = hlen > 20 ? pyBytes(p.subarray(20, hlen)) : 'None';
    parts.push(
      `ipv4(csum=${p.readUInt16BE(10)},dst=${q(ip(p.subarray(16, 20)))},flags=${flagsOff >> 13},header_length=${ihl},identification=${p.readUInt16BE(4)},offset=${flagsOff & 0x1fff},option=${option},proto=${p[9]},src=${q(ip(p.subarray(12, 16)))},tos=${p[1]},total_length=${total},ttl=${p[8]},version=4)`,
    );
    // Later fragments carry no transport header.
    if ((flagsOff & 0x1fff) !== 0) return p.subarray(hlen);
    return l4(p[9], p.subarray(hlen, Math.max(hlen, Math.min(total, p.length))), parts, 4);
  }
  if (version === 6 && p.length >= 40) {
    const w = p.readUInt32BE(0);
    parts.push(
      `ipv6(dst=${q(ip(p.subarray(24, 40)))},ext_hdrs=[],flow_label=${w & 0xfffff},hop_limit=${p[7]},nxt=${p[6]},payload_length=${p.readUInt16BE(4)},src=${q(ip(p.subarray(8, 24)))},traffic_class=${(w >> 20) & 0xff},version=6)`,
    );
    return l4(p[6], p.subarray(40), parts, 6);
  }
  return p;
}

function l4(proto: number, p: Buffer, parts: string[], family: 4 | 6): Buffer {
  if (proto === 6 && p.length >= 20) {
    const offset = p[12] >> 4;
    const len = offset * 4;
    const bits = p.readUInt16BE(12) & 0x1ff;
    const option = len > 20 && p.length >= len ? `[${tcpOptions(p.subarray(20, len)).join(', ')}]` : 'None';
    parts.push(
      `tcp(ack=${p.readUInt32BE(8)},bits=${bits},csum=${p.readUInt16BE(16)},dst_port=${p.readUInt16BE(2)},offset=${offset},option=${option},seq=${p.readUInt32BE(4)},src_port=${p.readUInt16BE(0)},urgent=${p.readUInt16BE(18)},window_size=${p.readUInt16BE(14)})`,
    );
    return p.subarray(Math.min(len, p.length));
  }
  if (proto === 17 && p.length >= 8) {
    parts.push(`udp(csum=${p.readUInt16BE(6)},dst_port=${p.readUInt16BE(2)},src_port=${p.readUInt16BE(0)},total_length=${p.readUInt16BE(4)})`);
    return p.subarray(8);
  }
  if ((proto === 1 && family === 4) || (proto === 58 && family === 6)) {
    if (p.length < 4) return p;
    const type = p[0];
    const echo = family === 4 ? type === 0 || type === 8 : type === 128 || type === 129;
    const data =
      echo && p.length >= 8
        ? `echo(data=${pyBytes(p.subarray(8))},id=${p.readUInt16BE(4)},seq=${p.readUInt16BE(6)})`
        : p.length > 4
          ? pyBytes(p.subarray(4))
          : 'None';
    parts.push(
      family === 4
        ? `icmp(code=${p[1]},csum=${p.readUInt16BE(2)},data=${data},type=${type})`
        : `icmpv6(code=${p[1]},csum=${p.readUInt16BE(2)},data=${data},type_=${type})`,
    );
    return Buffer.alloc(0);
  }
  return p;
}

/** TCP options as ryu's TCPOption classes print them. */
function tcpOptions(b: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < b.length) {
    const kind = b[at];
    if (kind === 0 || kind === 1) {
      out.push(kind === 0 ? 'TCPOptionEndOfOptionList(kind=0,length=1)' : 'TCPOptionNoOperation(kind=1,length=1)');
      at++;
      continue;
    }
    const length = b[at + 1];
    if (length === undefined || length < 2 || at + length > b.length) {
      out.push(pyBytes(b.subarray(at)));
      break;
    }
    const v = b.subarray(at + 2, at + length);
    if (kind === 2 && length === 4) out.push(`TCPOptionMaximumSegmentSize(kind=2,length=4,max_seg_size=${v.readUInt16BE(0)})`);
    else if (kind === 3 && length === 3) out.push(`TCPOptionWindowScale(kind=3,length=3,shift_cnt=${v[0]})`);
    else if (kind === 4 && length === 2) out.push('TCPOptionSACKPermitted(kind=4,length=2)');
    else if (kind === 8 && length === 10) out.push(`TCPOptionTimestamps(kind=8,length=10,ts_ecr=${v.readUInt32BE(4)},ts_val=${v.readUInt32BE(0)})`);
    else out.push(`TCPOptionUnknown(kind=${kind},length=${length},value=${pyBytes(v)})`);
    at += length;
  }
  return out;
}
