/**
 * Health checks of the built-in engine, with HAProxy's state machine: a server starts UP with
 * health = rise; a success raises health up to rise+fall-1, a failure while UP lowers it and
 * marks the server DOWN once it would drop below rise; a DOWN server needs `rise` consecutive
 * successes to come back. Checks: TCP connect, HTTP/HTTPS request with expected codes, TLS
 * handshake, ICMP echo (the system `ping`), and UDP probes that fail on ICMP port unreachable.
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { codeMatches, type RtMember, type RtMonitor } from '../config.js';
import { pingCommand } from '../icmp.js';

export type MemberCheckState = 'UP' | 'DOWN' | 'DRAIN' | 'MAINT' | 'NOCHECK';

interface Tracked {
  member: RtMember;
  health: number;
  up: boolean;
  timer: NodeJS.Timeout | null;
  running: boolean;
  generation: number;
}

export class HealthChecker {
  private monitor: RtMonitor | null = null;
  private readonly tracked = new Map<string, Tracked>();
  private generation = 0;
  private stopped = false;

  constructor(private readonly onChange: () => void) {}

  /** (Re)configure: members whose check target and monitor did not change keep their state. */
  configure(monitor: RtMonitor | null, members: RtMember[]): void {
    const sameMonitor = JSON.stringify(monitor) === JSON.stringify(this.monitor);
    this.monitor = monitor;
    if (!sameMonitor) this.generation++;
    const keep = new Set(monitor ? members.map((m) => m.id) : []);
    for (const [id, t] of this.tracked) {
      if (!keep.has(id) || !sameMonitor) {
        if (t.timer) clearTimeout(t.timer);
        this.tracked.delete(id);
      }
    }
    if (!monitor) return;
    for (const m of members) {
      const t = this.tracked.get(m.id);
      const sameTarget = t && t.member.checkAddress === m.checkAddress && t.member.checkPort === m.checkPort;
      if (t && sameTarget) {
        t.member = m;
        continue;
      }
      if (t?.timer) clearTimeout(t.timer);
      const fresh: Tracked = { member: m, health: monitor.rise, up: true, timer: null, running: false, generation: this.generation };
      this.tracked.set(m.id, fresh);
      // First check soon, spread a little so many members do not fire at once.
      this.schedule(fresh, 20 + Math.floor(Math.random() * 80));
    }
  }

  /** Members without a monitor are always considered up. */
  isUp(id: string): boolean {
    if (!this.monitor) return true;
    const t = this.tracked.get(id);
    return t ? t.up : true;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.tracked.values()) if (t.timer) clearTimeout(t.timer);
    this.tracked.clear();
  }

  private schedule(t: Tracked, ms: number): void {
    if (this.stopped) return;
    t.timer = setTimeout(() => void this.run(t), ms);
    t.timer.unref();
  }

  private async run(t: Tracked): Promise<void> {
    const monitor = this.monitor;
    if (!monitor || this.stopped || t.generation !== this.generation || this.tracked.get(t.member.id) !== t) return;
    const started = Date.now();
    t.running = true;
    let ok = false;
    try {
      ok = await runCheck(monitor, t.member.checkAddress, t.member.checkPort);
    } catch {
      ok = false;
    }
    t.running = false;
    if (this.tracked.get(t.member.id) !== t || t.generation !== this.generation) return;
    const wasUp = t.up;
    const max = monitor.rise + monitor.fall - 1;
    if (ok) {
      if (t.health < max) t.health++;
      if (!t.up && t.health >= monitor.rise) {
        t.up = true;
        t.health = max;
      }
    } else if (t.up) {
      if (t.health > monitor.rise) t.health--;
      else {
        t.up = false;
        t.health = 0;
      }
    } else {
      t.health = 0;
    }
    if (wasUp !== t.up) this.onChange();
    const interval = Math.max(200, monitor.delay * 1000);
    this.schedule(t, Math.max(0, interval - (Date.now() - started)));
  }
}

/** One check; resolves true when the member passes. */
export function runCheck(m: RtMonitor, host: string, port: number): Promise<boolean> {
  const timeoutMs = Math.max(100, m.timeout * 1000);
  switch (m.type) {
    case 'TCP':
      return tcpCheck(host, port, timeoutMs);
    case 'HTTP':
    case 'HTTPS':
      return httpCheck(m, host, port, timeoutMs);
    case 'TLS-HELLO':
      return tlsCheck(host, port, timeoutMs);
    case 'PING':
      return pingCheck(host, m.timeout);
    case 'UDP-CONNECT':
      return udpCheck(host, port, timeoutMs);
  }
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function tlsCheck(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tls.connect({ host, port, rejectUnauthorized: false, servername: net.isIP(host) ? undefined : host });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('secureConnect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** A raw HTTP request (HAProxy's httpchk speaks HTTP/1.0 unless a version is set). */
function httpCheck(m: RtMonitor, host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s: net.Socket =
      m.type === 'HTTPS' ? tls.connect({ host, port, rejectUnauthorized: false, servername: m.domainName ?? undefined }) : net.connect({ host, port });
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once(m.type === 'HTTPS' ? 'secureConnect' : 'connect', () => {
      const hostHeader = m.domainName ?? (host.includes(':') ? `[${host}]` : host);
      const lines = [`${m.httpMethod} ${m.urlPath} HTTP/${m.httpVersion}`];
      if (m.httpVersion === '1.1' || m.domainName) lines.push(`Host: ${hostHeader}`);
      lines.push('Connection: close', 'User-Agent: pocketstack-health-check', '', '');
      s.write(lines.join('\r\n'));
    });
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const eol = buf.indexOf('\r\n');
      if (eol < 0 && buf.length < 512) return;
      const line = eol < 0 ? buf : buf.slice(0, eol);
      const mm = /^HTTP\/\d\.\d (\d{3})/.exec(line);
      done(!!mm && codeMatches(m.expectedCodes, Number(mm[1])));
    });
    s.once('error', () => done(false));
    s.once('end', () => done(false));
  });
}

function pingCheck(host: string, timeoutSeconds: number): Promise<boolean> {
  return new Promise((resolve) => {
    const [file, args] = pingCommand(host, timeoutSeconds);
    execFile(file, args, { timeout: (timeoutSeconds + 2) * 1000 }, (err) => resolve(!err));
  });
}

/** UDP: no answer is fine; an ICMP port unreachable (ECONNREFUSED) means down. */
function udpCheck(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      try {
        s.close();
      } catch {
        /* already closed */
      }
      resolve(ok);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    s.once('error', () => done(false));
    s.connect(port, host, () => {
      s.send(Buffer.alloc(0), (err) => {
        if (err) done(false);
      });
    });
    s.on('message', () => done(true));
  });
}
