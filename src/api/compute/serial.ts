/**
 * The serial console proxy (nova-serialproxy's part): a websocket at `/serial/?token=…` on the
 * compute endpoint, bridging the client and the instance's console once the token (from
 * remote-consoles or os-getSerialConsole) checks out. Binary frames either way; websockify's
 * `base64` subprotocol is honoured when the client asks for it (older clients do).
 *
 * RFC 6455, server side, as much as a console needs: the handshake, masked client frames
 * (fragments reassembled), ping/pong, close.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ComputeService } from '../../core/compute/service.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function reject(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** One frame, server to client (never masked). */
export function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (len < 126) head[1] = len;
  else if (len < 65536) {
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

/** Client frames out of a byte stream: complete ones are returned, the rest stays buffered. */
export class FrameReader {
  private buf = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private partOpcode = 0;

  push(chunk: Buffer): Array<{ opcode: number; payload: Buffer }> {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Array<{ opcode: number; payload: Buffer }> = [];
    for (;;) {
      if (this.buf.length < 2) break;
      const fin = (this.buf[0] & 0x80) !== 0;
      const opcode = this.buf[0] & 0x0f;
      const masked = (this.buf[1] & 0x80) !== 0;
      let len = this.buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) break;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) break;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      const maskLen = masked ? 4 : 0;
      if (this.buf.length < off + maskLen + len) break;
      const mask = masked ? this.buf.subarray(off, off + 4) : null;
      const payload = Buffer.from(this.buf.subarray(off + maskLen, off + maskLen + len));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
      this.buf = this.buf.subarray(off + maskLen + len);
      if (opcode >= 0x8) {
        out.push({ opcode, payload });
        continue;
      }
      if (opcode !== 0) this.partOpcode = opcode;
      this.parts.push(payload);
      if (fin) {
        out.push({ opcode: this.partOpcode, payload: Buffer.concat(this.parts) });
        this.parts = [];
      }
    }
    return out;
  }
}

export function attachSerialProxy(server: Server, compute: ComputeService, log: Logger): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/serial/' && url.pathname !== '/serial') return reject(socket, '404 Not Found');
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || (req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return reject(socket, '400 Bad Request');
    const serverId = compute.consoles.redeem(url.searchParams.get('token') ?? '');
    if (!serverId) return reject(socket, '401 Unauthorized');
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const protocol = offered.includes('binary') ? 'binary' : offered.includes('base64') ? 'base64' : null;
    const send = (b: Buffer) => {
      if (!socket.writable) return;
      socket.write(protocol === 'base64' ? encodeFrame(0x1, Buffer.from(b.toString('base64'))) : encodeFrame(0x2, b));
    };
    let session: ReturnType<typeof compute.consoles.attach>;
    try {
      session = compute.consoles.attach(serverId, send);
    } catch (e) {
      log.warn({ err: e, server: serverId }, 'serial console unavailable');
      return reject(socket, '503 Service Unavailable');
    }
    if (!session) return reject(socket, '503 Service Unavailable');
    const accept = createHash('sha1').update(`${key}${GUID}`).digest('base64');
    socket.write(
      [
        'HTTP/1.1 101 Switching Protocols',
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Accept: ${accept}`,
        ...(protocol ? [`Sec-WebSocket-Protocol: ${protocol}`] : []),
        '',
        '',
      ].join('\r\n'),
    );
    const reader = new FrameReader();
    const onBytes = (chunk: Buffer) => {
      for (const f of reader.push(chunk)) {
        if (f.opcode === 0x8) {
          socket.end(encodeFrame(0x8, f.payload.subarray(0, 2)));
          return;
        }
        if (f.opcode === 0x9) socket.write(encodeFrame(0xa, f.payload));
        else if (f.opcode === 0x1) session?.write(protocol === 'base64' ? Buffer.from(f.payload.toString(), 'base64') : f.payload);
        else if (f.opcode === 0x2) session?.write(f.payload);
      }
    };
    if (head.length) onBytes(head);
    socket.on('data', onBytes);
    const done = () => session?.close();
    // A client that goes away half-closes: finish our side too, or the connection (and the
    // compute server's close) would wait forever.
    socket.on('end', () => {
      done();
      socket.end();
    });
    socket.on('close', done);
    socket.on('error', done);
  });
}
