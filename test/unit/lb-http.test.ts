import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BuiltinInstance } from '../../src/lb/builtin/instance.js';
import type { RtListener, RtLoadBalancer, RtPool } from '../../src/lb/config.js';
import { freePort } from '../support/cloud.js';
import { rtListener, rtMember, rtPool } from '../support/lb.js';

/**
 * The built-in engine's HTTP/1.1 handling on the wire: framing (chunked, lengths, HEAD,
 * close-delimited), pipelining, keep-alive to members and resending when a reused member
 * connection was closed, interim responses, upgrades, timeouts and bad requests. Members are
 * scripted raw-socket servers, so every byte each side sees is known.
 */
const ADDRESS = '127.0.0.1';
let port: number;
let inst: BuiltinInstance | undefined;
const servers: net.Server[] = [];

beforeAll(async () => {
  port = await freePort();
});
afterEach(async () => {
  await inst?.stop();
  inst = undefined;
  for (const s of servers.splice(0)) s.close();
});

/** A member that answers each request with `respond(head, body, socket)`; records what it got. */
async function member(respond: (req: string, socket: net.Socket, index: number) => void): Promise<{ port: number; requests: string[]; connections: number }> {
  const rec = { port: 0, requests: [] as string[], connections: 0 };
  const server = net.createServer((s) => {
    rec.connections++;
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end + 4);
        const cl = /content-length: (\d+)/i.exec(head);
        const chunked = /transfer-encoding: chunked/i.test(head);
        let total = end + 4 + (cl ? Number(cl[1]) : 0);
        if (chunked) {
          const z = buf.indexOf('\r\n0\r\n\r\n', end);
          if (z < 0) return;
          total = z + 7;
        }
        if (buf.length < total) return;
        const req = buf.slice(0, total);
        buf = buf.slice(total);
        rec.requests.push(req);
        respond(req, s, rec.requests.length - 1);
      }
    });
    s.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, ADDRESS, () => r()));
  rec.port = (server.address() as net.AddressInfo).port;
  return rec;
}

const ok = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n${extra}\r\n${body}`;

function config(ports: number[], listener: Partial<RtListener> = {}, pool: Partial<RtPool> = {}): RtLoadBalancer {
  const members = ports.map((p, i) => rtMember(`m${i}`, p));
  return { id: 'lb', vipAddress: null, listeners: [rtListener(port, listener)], pools: [rtPool(members, pool)] };
}

async function start(cfg: RtLoadBalancer): Promise<void> {
  inst = new BuiltinInstance('lb', { address: ADDRESS });
  await inst.apply(cfg);
}

/** A raw client connection: send bytes, read until `until` matches what arrived. */
async function client() {
  const s = net.connect(port, ADDRESS);
  await new Promise((r) => s.once('connect', r));
  let got = '';
  let closed = false;
  s.on('data', (d) => (got += d.toString('latin1')));
  s.on('close', () => (closed = true));
  s.on('error', () => undefined);
  return {
    send: (t: string) => s.write(t),
    async read(until: (text: string) => boolean, ms = 3000): Promise<string> {
      const end = Date.now() + ms;
      while (!until(got) && !closed && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      const out = got;
      got = '';
      return out;
    },
    closed: () => closed,
    end: () => s.end(),
    destroy: () => s.destroy(),
  };
}

const responses = (n: number) => (t: string) => (t.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= n && /\r\n\r\n/.test(t);

describe('built-in HTTP/1.1 proxying on the wire', () => {
  it('reuses member connections, rewrites hop-by-hop headers and adds X-Forwarded-For', async () => {
    const m = await member((_req, s) => s.write(ok('hello')));
    await start(config([m.port]));
    const c = await client();
    for (let i = 0; i < 3; i++) {
      c.send('GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nKeep-Alive: 300\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n');
      const res = await c.read(responses(1));
      expect(res).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(res).toMatch(/\r\n\r\nhello$/);
      expect(res.toLowerCase()).not.toContain('keep-alive');
    }
    expect(m.connections).toBe(1);
    expect(m.requests[0]).toMatch(/^GET \/a HTTP\/1\.1\r\n/);
    expect(m.requests[0]).toContain('X-Forwarded-For: 10.9.9.9, 127.0.0.1\r\n');
    expect(m.requests[0].toLowerCase()).not.toContain('keep-alive: 300');
    c.destroy();
  });

  it('forwards request heads field by field as `Name: value`, inserted fields last', async () => {
    const m = await member((_req, s) => s.write(ok('x')));
    const send = async (req: string) => {
      const c = await client();
      c.send(req);
      await c.read(responses(1));
      c.destroy();
      return m.requests.at(-1);
    };
    await start(config([m.port], { insertHeaders: { forwardedFor: false, forwardedPort: false, forwardedProto: false } }));
    // Already `Name: value`: the member gets the same bytes.
    expect(await send('GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Empty: \r\nAccept: */*\r\n\r\n')).toBe(
      'GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Empty: \r\nAccept: */*\r\n\r\n',
    );
    // Other spacing is rewritten, as HAProxy does.
    expect(await send('GET / HTTP/1.1\r\nHost:x\r\nX-Odd:   spaced \t\r\nX-Empty:\r\n\r\n')).toBe(
      'GET / HTTP/1.1\r\nHost: x\r\nX-Odd: spaced\r\nX-Empty: \r\n\r\n',
    );
    await inst!.apply(config([m.port], { insertHeaders: { forwardedFor: true, forwardedPort: true, forwardedProto: true } }));
    expect(await send('GET /f HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(
      `GET /f HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Port: ${port}\r\nX-Forwarded-Proto: http\r\n\r\n`,
    );
    expect(await send('GET /g HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1\r\nHost: x\r\n\r\n')).toBe(
      `GET /g HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.1\r\nX-Forwarded-Port: ${port}\r\nX-Forwarded-Proto: http\r\n\r\n`,
    );
    // HTTP/1.0 keeps its member connection open by asking for it.
    expect(await send('GET /h HTTP/1.0\r\nHost: x\r\n\r\n')).toBe(
      `GET /h HTTP/1.0\r\nHost: x\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Port: ${port}\r\nX-Forwarded-Proto: http\r\nConnection: keep-alive\r\n\r\n`,
    );
  });

  it('answers pipelined requests in order, with chunked bodies both ways', async () => {
    const m = await member((req, s, i) => {
      if (req.startsWith('POST'))
        s.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nposted\r\n1\r\n${i}\r\n0\r\n\r\n`.replace('5\r\nposted', '6\r\nposted'));
      else s.write(ok(`get${i}`));
    });
    await start(config([m.port]));
    const c = await client();
    c.send(
      'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const res = await c.read(responses(3));
    const bodies = res.split(/HTTP\/1\.1 200 OK\r\n/).slice(1);
    expect(bodies[0]).toMatch(/get0$/);
    expect(bodies[1]).toContain('Transfer-Encoding: chunked\r\n\r\n6\r\nposted\r\n1\r\n1\r\n0\r\n\r\n');
    expect(bodies[2]).toMatch(/get2$/);
    expect(m.requests[1]).toContain('\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    c.destroy();
  });

  it('resends a request on a fresh connection when the member had closed the reused one', async () => {
    // The member closes its side after every answer, without saying so.
    const m = await member((_req, s) => {
      s.write(ok('fresh'));
      setTimeout(() => s.destroy(), 20);
    });
    await start(config([m.port]));
    const c = await client();
    for (let i = 0; i < 3; i++) {
      c.send('POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody');
      expect(await c.read(responses(1))).toMatch(/\r\n\r\nfresh$/);
      await new Promise((r) => setTimeout(r, 60));
    }
    expect(m.requests).toHaveLength(3);
    expect(m.requests.every((r) => r.endsWith('\r\n\r\nbody'))).toBe(true);
    c.destroy();
  });

  it('retries on another member when one refuses, answers 503 when none can', async () => {
    const dead = await freePort();
    const m = await member((_req, s) => s.write(ok('alive')));
    await start(config([dead, m.port]));
    const c = await client();
    for (let i = 0; i < 4; i++) {
      c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await c.read(responses(1))).toMatch(/alive$/);
    }
    await inst!.apply(config([dead]));
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const res = await c.read((t) => t.includes('</html>'));
    expect(res).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    c.destroy();
  });

  it('passes interim 100 Continue, HEAD answers without a body, and close-delimited bodies', async () => {
    const m = await member((req, s) => {
      if (req.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      else if (req.includes('/old')) s.end('HTTP/1.0 200 OK\r\n\r\nuntil the end');
      else s.write(ok('done'));
    });
    await start(config([m.port]));
    const c = await client();
    c.send('HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    const head = await c.read((t) => t.endsWith('\r\n\r\n'));
    expect(head).toContain('Content-Length: 1000');
    c.send('GET /old HTTP/1.1\r\nHost: x\r\n\r\n');
    const old = await c.read(() => c.closed());
    expect(old).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(old).toContain('Connection: close');
    expect(old).toMatch(/until the end$/);
    expect(c.closed()).toBe(true);

    const m2 = await member((req, s) => {
      if (/expect: 100-continue/i.test(req)) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    // A member that sends 100 before reading the body.
    const early = net.createServer((s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 100 Continue\r\n\r\n');
        s.once('data', (d) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${d.length}\r\n\r\n${d}`));
      });
    });
    servers.push(early);
    await new Promise<void>((r) => early.listen(0, ADDRESS, () => r()));
    await inst!.apply(config([(early.address() as net.AddressInfo).port]));
    const c2 = await client();
    c2.send('PUT /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
    expect(await c2.read((t) => t.includes('100 Continue\r\n\r\n'))).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n$/);
    c2.send('hello');
    expect(await c2.read(responses(1))).toMatch(/\r\n\r\nhello$/);
    c2.destroy();
    expect(m2.requests).toHaveLength(0);
  });

  it('passes a head split across reads and large bodies to a slow client byte for byte', async () => {
    // Member connections are read into one shared buffer: whatever outlives a read (a partial
    // head, body bytes a slow client has not taken yet) must have been copied out of it.
    const body = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 12)) & 0xff;
    const m = await member((_req, s) => {
      const head = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Split: yes\r\n\r\n`;
      s.write(head.slice(0, 20));
      setTimeout(() => {
        s.write(head.slice(20));
        // Odd-sized pieces, so reads end mid-way through the body.
        for (let at = 0; at < body.length; at += 77_777) s.write(body.subarray(at, at + 77_777));
      }, 30);
    });
    await start(config([m.port]));
    const s = net.connect(port, ADDRESS);
    await new Promise((r) => s.once('connect', r));
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    const received = () => Buffer.concat(chunks);
    for (let round = 0; round < 2; round++) {
      chunks.length = 0;
      s.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
      // The client reads nothing for a while: the proxy's writes to it back up.
      s.pause();
      await new Promise((r) => setTimeout(r, 300));
      s.resume();
      const end = Date.now() + 5000;
      for (;;) {
        const got = received();
        const h = got.indexOf('\r\n\r\n');
        if ((h >= 0 && got.length >= h + 4 + body.length) || Date.now() > end) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const got = received();
      const h = got.indexOf('\r\n\r\n');
      expect(got.toString('latin1', 0, h)).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*X-Split: yes/);
      expect(got.length).toBe(h + 4 + body.length);
      expect(got.subarray(h + 4).equals(body)).toBe(true);
    }
    expect(m.connections).toBe(1);
    s.destroy();
  });

  it('tunnels an upgrade (WebSocket handshake) after 101', async () => {
    const ws = net.createServer((s) => {
      s.once('data', (d) => {
        expect(d.toString()).toContain('Upgrade: websocket');
        s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
        s.on('data', (x) => s.write(`echo:${x}`));
      });
    });
    servers.push(ws);
    await new Promise<void>((r) => ws.listen(0, ADDRESS, () => r()));
    await start(config([(ws.address() as net.AddressInfo).port]));
    const c = await client();
    c.send('GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    const hs = await c.read((t) => t.endsWith('\r\n\r\n'));
    expect(hs).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(hs).toContain('Upgrade: websocket');
    c.send('frame1');
    expect(await c.read((t) => t.includes('frame1'))).toBe('echo:frame1');
    c.destroy();
  });

  it('refuses ambiguous or malformed requests with 400, oversized heads with 431', async () => {
    const m = await member((_req, s) => s.write(ok('never')));
    await start(config([m.port]));
    for (const bad of [
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n',
      'GET / HTTP/1.1\r\nBad Header: x\r\n\r\n',
      'NOT A REQUEST\r\n\r\n',
    ]) {
      const c = await client();
      c.send(bad);
      const res = await c.read(() => c.closed());
      expect(res).toMatch(/^HTTP\/1\.1 400 Bad request\r\n/);
    }
    const c = await client();
    c.send(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`);
    expect(await c.read(() => c.closed())).toMatch(/^HTTP\/1\.1 431 /);
    expect(m.requests).toHaveLength(0);
    expect((await inst!.counters()).get('l1')!.request_errors).toBe(5);
  });

  it('times out a silent member with 504 and an idle client by closing it', async () => {
    const m = await member(() => undefined);
    await start(config([m.port], { timeoutMemberData: 300, timeoutClientData: 400 }));
    const c = await client();
    c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const res = await c.read((t) => t.includes('</html>'), 2000);
    expect(res).toMatch(/^HTTP\/1\.1 504 Gateway Time-out\r\n/);
    const idle = await client();
    await idle.read(() => idle.closed(), 2000);
    expect(idle.closed()).toBe(true);
  });
});
