import { type ChildProcess, spawn } from 'node:child_process';
import { type WriteStream, chmodSync, createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { pyRepr } from '../../util/pyrepr.js';
import type { SgLogSpec } from './model.js';
import { type NflogPacket, PcapNflogReader } from './nflog.js';
import { pktRepr } from './pktrepr.js';

type EventEntry = SgLogSpec['events'] extends Map<string, infer V> ? V : never;

/**
 * One line per logged packet, as the OVS log driver's packet_in_handler writes it to
 * `local_output_log_base`: `action=… project_id=… log_resource_ids=[…] vm_port=… pkt=…`.
 */
export function sgLogLine(e: EventEntry, p: NflogPacket): string {
  return `action=${e.event} project_id=${e.projectId} log_resource_ids=${pyRepr(e.logIds)} vm_port=${e.portId} pkt=${pktRepr(p.hwHeader, p.payload)}`;
}

/**
 * The switch namespace's log reader: `tcpdump -i nflog:N -U -w -` inside the namespace (tcpdump
 * is already a dependency of this host's tooling and reads NFLOG through libpcap, so no netlink
 * code of our own), its pcap stream parsed here (nflog.ts), each packet whose NFLOG prefix names
 * an event of the current plan appended to the log file (private: 0600 in a 0700 directory).
 * The plan is swapped at every pass, so a disabled or deleted log writes nothing more from then
 * on, even for packets the kernel had already queued. No events to log: no reader.
 */
export class SgLogWriter {
  private child: ChildProcess | null = null;
  private at: { ns: string; ino: number } | null = null;
  private events: SgLogSpec['events'] = new Map();
  private out: WriteStream | null = null;

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  async reconcile(spec: SgLogSpec | null, ino: number | undefined): Promise<void> {
    this.events = spec?.events ?? new Map();
    if (!spec?.events.size || ino === undefined) {
      this.stopReader();
      return;
    }
    if (this.child && this.at?.ns === spec.ns && this.at.ino === ino) return;
    this.stopReader();
    await this.startReader(spec, ino);
  }

  async close(): Promise<void> {
    this.events = new Map();
    this.stopReader();
    const out = this.out;
    this.out = null;
    if (out) await new Promise<void>((resolve) => out.end(resolve));
  }

  private stopReader(): void {
    const child = this.child;
    this.child = null;
    this.at = null;
    if (child && child.exitCode === null) child.kill('SIGTERM');
  }

  /** Resolves once tcpdump listens (so the first packet after a pass is not missed), or fails. */
  private startReader(spec: SgLogSpec, ino: number): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', spec.ns, 'tcpdump', '-n', '-i', `nflog:${spec.group}`, '-U', '-w', '-'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.at = { ns: spec.ns, ino };
    const reader = new PcapNflogReader();
    child.stdout!.on('data', (chunk: Buffer) => {
      let packets: NflogPacket[];
      try {
        packets = reader.push(chunk);
      } catch (e) {
        this.log.warn({ err: e }, 'security group log reader: unreadable capture');
        if (this.child === child) this.stopReader();
        return;
      }
      for (const p of packets) {
        const e = this.events.get(p.prefix);
        if (e) this.write(sgLogLine(e, p));
      }
    });
    return new Promise((resolve) => {
      let stderr = '';
      const timer = setTimeout(done, 5000);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('listening on')) done();
      });
      child.on('error', (e) => {
        this.log.warn({ err: e }, 'security group log reader could not start');
        if (this.child === child) this.child = null;
        done();
      });
      child.on('exit', (code) => {
        if (this.child === child) {
          this.child = null;
          this.log.warn({ code, stderr: stderr.trim().slice(-500) }, 'security group log reader exited');
        }
        done();
      });
    });
  }

  private write(line: string): void {
    if (!this.out) {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      this.out = createWriteStream(this.file, { flags: 'a', mode: 0o600 });
      this.out.on('error', (e) => this.log.warn({ err: e }, 'cannot write the security group log'));
      try {
        chmodSync(this.file, 0o600);
      } catch {
        // created by the stream in a moment, with its mode
      }
    }
    this.out.write(`${line}\n`);
  }
}
