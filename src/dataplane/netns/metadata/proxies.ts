/**
 * Neutron's metadata proxies: one listener on 169.254.169.254:80 inside each router namespace
 * (the router's instances reach it through their default gateway) and inside the DHCP namespace
 * of each network with an isolated subnet (dnsmasq gives its instances a route there). Neutron
 * runs an haproxy per namespace that adds the router or network id and forwards to its metadata
 * agent; here the listening socket is made inside the namespace by a short-lived helper and
 * handed to this process (IPC handle passing), which answers on it: the namespace it came from
 * says which router or network, the socket's peer says which address — nothing the instance
 * sends decides who it is. No process stays in the namespaces.
 */
import { spawn } from 'node:child_process';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { Logger } from 'pino';
import { TOOL_PATH } from '../../../util/which.js';
import { METADATA_ADDRESS } from '../dhcp/dnsmasq.js';
import type { MetadataProxySpec } from '../model.js';

/** Where a request came through, and from which address: what the metadata service answers by. */
export type MetadataHandler = (via: MetadataProxySpec['via'], address: string, req: IncomingMessage, res: ServerResponse) => void;

/** The helper: listen inside the namespace it was started in, hand the socket over, exit. */
const LISTENER = `
const net = require('node:net');
const s = net.createServer();
s.on('error', (e) => { process.send({ error: String(e && e.message || e) }, () => process.exit(1)); });
s.listen({ host: process.argv[1], port: Number(process.argv[2]), exclusive: true }, () => {
  process.send({ listening: true }, s, () => { s.close(); process.exit(0); });
});
`;

/** Listen on `host:port` inside namespace `ns` (a listening socket of that namespace, held here). */
export function listenIn(ns: string, host: string, port: number, timeoutMs = 10_000): Promise<NetServer> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', LISTENER, host, String(port)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { PATH: TOOL_PATH, LC_ALL: 'C' },
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`listening in ${ns} timed out`));
    }, timeoutMs);
    child.on('message', (m: { listening?: boolean; error?: string }, handle: unknown) => {
      clearTimeout(timer);
      if (m.listening && handle) resolve(handle as NetServer);
      else reject(new Error(`cannot listen on ${host}:${port} in ${ns}: ${m.error ?? 'no socket'}`));
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code) => {
      if (code !== 0) {
        clearTimeout(timer);
        reject(new Error(`cannot listen in ${ns}: ${stderr.trim() || `exit ${code}`}`));
      }
    });
  });
}

const peer = (req: IncomingMessage) => (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');

interface Proxy {
  via: MetadataProxySpec['via'];
  ino: number;
  server: Server | null;
  starting: Promise<void> | null;
}

export class MetadataProxies {
  private readonly proxies = new Map<string, Proxy>();

  constructor(
    private readonly handler: MetadataHandler,
    private readonly log: Logger,
  ) {}

  /** Listeners for exactly `specs` (namespace → inode: a recreated namespace gets a new listener). Errors per namespace. */
  async reconcile(specs: MetadataProxySpec[], inodes: Map<string, number>): Promise<Map<string, string>> {
    const errors = new Map<string, string>();
    const wanted = new Map(specs.filter((s) => inodes.has(s.ns)).map((s) => [s.ns, s]));
    for (const [ns, p] of this.proxies) {
      const w = wanted.get(ns);
      if (!w || inodes.get(ns) !== p.ino || JSON.stringify(w.via) !== JSON.stringify(p.via)) {
        p.server?.close();
        this.proxies.delete(ns);
      }
    }
    await Promise.all(
      [...wanted.values()].map(async (spec) => {
        let p = this.proxies.get(spec.ns);
        if (!p) {
          p = { via: spec.via, ino: inodes.get(spec.ns)!, server: null, starting: null };
          this.proxies.set(spec.ns, p);
        }
        if (p.server) return;
        p.starting ??= this.start(spec.ns, p);
        try {
          await p.starting;
        } catch (e) {
          errors.set(spec.ns, (e as Error).message);
          if (this.proxies.get(spec.ns) === p) this.proxies.delete(spec.ns);
        }
      }),
    );
    return errors;
  }

  private async start(ns: string, p: Proxy): Promise<void> {
    const socket = await listenIn(ns, METADATA_ADDRESS, 80);
    if (this.proxies.get(ns) !== p) {
      socket.close();
      return;
    }
    const server = createServer((req, res) => this.handler(p.via, peer(req), req, res));
    server.keepAliveTimeout = 5000;
    server.on('error', (e) => this.log.warn({ err: e, namespace: ns }, 'metadata proxy error'));
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    p.server = server;
    this.log.debug({ namespace: ns, via: p.via }, 'metadata proxy listening');
  }

  async close(): Promise<void> {
    for (const p of this.proxies.values()) p.server?.close();
    this.proxies.clear();
  }
}
