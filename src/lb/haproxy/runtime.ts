/**
 * HAProxy as the engine: one process per load balancer (in its namespace in netns mode). A new
 * configuration is checked with `haproxy -c` first, then a new process takes the listening
 * sockets over from the running one (`-x` through the stats socket, `expose-fd listeners`) and
 * tells it to finish its connections (`-sf`): nothing is dropped, and a refused configuration
 * leaves the running process untouched. Server health survives reloads through HAProxy's
 * server-state file. Member state and counters come from the stats socket (`show stat`).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Health } from '../../core/loadbalancer/status.js';
import type { ListenerCounters } from '../../core/loadbalancer/stats.js';
import { BuiltinInstance } from '../builtin/instance.js';
import type { RtLoadBalancer } from '../config.js';
import { externalCheckScript } from '../icmp.js';
import { type LbInstance, type LbRuntime, type Placement, ZERO_COUNTERS, addCounters } from '../runtime.js';
import { type CfgOptions, haproxyConfig, tlsFiles, tlsPaths } from './cfg.js';
import { planMemberChanges } from './memberplan.js';
import { CliSession } from './cli.js';
import { type RuntimeCommand, STILL_CONNECTED, forgetServers, planServerChanges } from './serverplan.js';

/** How long after a member change made at run time the file is written (fileSoon). */
const FILE_DELAY_MS = 1000;

/** `del server` retries while a server in maintenance drops its idle connections (about 50 ms in all). */
const DEL_RETRIES = 10;
const DEL_RETRY_MS = 5;

export async function findHaproxy(): Promise<string | null> {
  for (const p of ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy']) if (existsSync(p)) return p;
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'haproxy'))) return join(dir, 'haproxy');
  return null;
}

/** One request on a HAProxy stats socket; resolves the whole answer. */
export function statsCommand(socketPath: string, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`stats socket ${socketPath}: timeout`));
    }, timeoutMs);
    s.on('connect', () => s.write(`${command}\n`));
    s.on('data', (d) => (out += d.toString()));
    s.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** The pid of the HAProxy answering on a stats socket, if one does. */
export async function runningPid(socketPath: string): Promise<number | null> {
  if (!existsSync(socketPath)) return null;
  try {
    const m = /^Pid: (\d+)$/m.exec(await statsCommand(socketPath, 'show info', 500));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * `show stat` CSV → rows keyed by header names: only `columns` when given (a row has about 90, and
 * the health poll reads every server's row every second).
 */
export function parseStat(csv: string, columns?: readonly string[]): Array<Record<string, string>> {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  if (!lines.length || !lines[0].startsWith('# ')) return [];
  const head = lines[0].slice(2).split(',');
  const wanted = (columns ?? head).map((h) => [h, head.indexOf(h)] as const).filter(([, i]) => i >= 0);
  // Only as far as the last wanted column: a server row has about 90 and the health poll wants
  // three of the first 18 (splitting every field was most of the poll's cost at 1,000 servers).
  const last = Math.max(-1, ...wanted.map(([, i]) => i));
  return lines.slice(1).map((l) => {
    const cols: string[] = [];
    let from = 0;
    while (cols.length <= last) {
      const comma = l.indexOf(',', from);
      cols.push(comma < 0 ? l.slice(from) : l.slice(from, comma));
      if (comma < 0) break;
      from = comma + 1;
    }
    const row: Record<string, string> = {};
    for (const [h, i] of wanted) row[h] = cols[i] ?? '';
    return row;
  });
}

/** HAProxy server status words → the engine's member states. */
export function memberState(status: string): 'UP' | 'DOWN' | 'DRAIN' | 'MAINT' | 'NOCHECK' {
  const s = status.trim().toUpperCase();
  if (s.startsWith('MAINT')) return 'MAINT';
  if (s.startsWith('DRAIN')) return 'DRAIN';
  if (s === 'NO CHECK') return 'NOCHECK';
  // "UP 1/3" is still up (going down); "DOWN 1/2" still down (coming up).
  if (s.startsWith('UP') || s === 'NOLB') return 'UP';
  return 'DOWN';
}

class HaproxyInstance implements LbInstance {
  private proc: ChildProcess | null = null;
  /**
   * What the running process serves: its configuration, and the file's text for it (null: not
   * rendered yet, `render` makes it; see fileSoon).
   */
  private served: { cfg: RtLoadBalancer; text: string | null; render: () => string } | null = null;
  private fileTimer: NodeJS.Timeout | null = null;
  private fileWrite: Promise<void> = Promise.resolve();
  private udp: BuiltinInstance | null = null;
  /** Counters of earlier HAProxy processes of this load balancer (a reload restarts them). */
  private readonly base = new Map<string, ListenerCounters>();
  private readonly dir: string;
  private readonly cfgPath: string;
  private readonly sock: string;
  private readonly stateFile: string;
  private readonly pingScript: string;
  /** Certificates, keys, CAs and CRLs: `<data dir>/lb-tls/<load balancer>/`, 0700 and 0600. */
  private readonly tlsDir: string;
  private stopped = false;
  private made = false;

  constructor(
    private readonly bin: string,
    readonly lbId: string,
    private readonly placement: Placement,
    baseDir: string,
    tlsBase: string,
    private readonly log: Logger,
    private readonly onHealthChange: () => void,
  ) {
    this.dir = join(baseDir, lbId);
    this.tlsDir = join(tlsBase, lbId);
    this.cfgPath = join(this.dir, 'haproxy.cfg');
    this.sock = join(this.dir, 'stats.sock');
    this.stateFile = join(this.dir, 'servers-state');
    this.pingScript = join(this.dir, 'ping-check.sh');
  }

  private command(args: string[]): [string, string[]] {
    return this.placement.netns ? ['ip', ['netns', 'exec', this.placement.netns, this.bin, ...args]] : [this.bin, args];
  }

  async apply(cfg: RtLoadBalancer): Promise<void> {
    if (this.stopped) throw new Error('instance stopped');
    // Once: a recursive mkdir of an existing directory still costs a syscall per apply.
    if (!this.made) await mkdir(this.dir, { recursive: true });
    this.made = true;
    // UDP is not HAProxy's: the built-in engine serves those listeners beside it.
    const udp = cfg.listeners.filter((l) => l.protocol === 'UDP');
    if (udp.length || this.udp) {
      this.udp ??= new BuiltinInstance(this.lbId, this.placement, this.onHealthChange, (l) => l.protocol === 'UDP');
      await this.udp.apply(cfg);
    }
    if (cfg.pools.some((p) => p.monitor?.type === 'PING')) {
      const timeout = Math.max(...cfg.pools.filter((p) => p.monitor?.type === 'PING').map((p) => p.monitor!.timeout));
      await writeFile(this.pingScript, externalCheckScript(timeout));
      await chmod(this.pingScript, 0o755);
    }
    const paths = tlsPaths(this.tlsDir);
    const files = tlsFiles(cfg, paths);
    await this.writeTls(files);
    const options: CfgOptions = {
      bindAddress: this.placement.address,
      statsSocket: this.sock,
      pingScript: this.pingScript,
      user: this.placement.user,
      tls: files.size ? paths : null,
    };
    await this.settleFile();
    try {
      await this.serve(cfg, options, files);
    } finally {
      // Runtime changes leave the file to be written (fileSoon): also when a later step failed.
      if (this.served?.text === null && !this.stopped) this.fileSoon();
    }
  }

  private async serve(cfg: RtLoadBalancer, options: CfgOptions, files: Map<string, string>): Promise<void> {
    if (!cfg.listeners.some((l) => l.protocol !== 'UDP')) {
      await this.stopProcess();
      this.served = null;
      return;
    }
    const running = this.proc !== null && this.proc.exitCode === null;
    let forget = new Set<string>();
    let refused = false;
    // Members alone changed: planned from their lines (memberplan.ts), without the whole text.
    const members = running && this.served ? planMemberChanges(this.served.cfg, cfg, options) : null;
    if (members?.kind === 'runtime') {
      if (!members.commands.length) return;
      const failure = await this.runCommands(members.commands);
      if (!failure) {
        this.served = { cfg, text: null, render: () => this.render(cfg, options, files) };
        return;
      }
      // Some commands may have run: the checked reload below makes the process and the file agree.
      this.log.warn({ lb: this.lbId, reason: failure }, 'haproxy runtime change refused; reloading');
      forget = new Set(members.added);
      refused = true;
    }
    const text = this.render(cfg, options, files);
    const lastText = this.served ? (this.served.text ?? this.served.render()) : '';
    if (text === lastText && running) return;
    const next = `${this.cfgPath}.next`;
    await writeFile(next, text);
    const plan = running && !refused && members?.kind !== 'reload' ? planServerChanges(lastText, text) : null;
    if (plan?.kind === 'runtime') {
      const failure = plan.commands.length ? await this.runCommands(plan.commands) : null;
      if (!failure) {
        // HAProxy now runs what the file says: a later reload or restart starts from the same servers.
        await rename(next, this.cfgPath);
        this.served = { cfg, text, render: () => text };
        return;
      }
      // Some commands may have run: the checked reload below makes the process and the file agree.
      this.log.warn({ lb: this.lbId, reason: failure }, 'haproxy runtime change refused; reloading');
      forget = new Set(plan.added);
    }
    await this.check(next);
    await this.saveServerState(forget);
    await rename(next, this.cfgPath);
    await this.start();
    this.served = { cfg, text, render: () => text };
    // The new process has read its files: those no configuration names any more can go.
    await this.pruneTls(files);
  }

  /** The whole file for `cfg`: haproxyConfig's text with the server-state lines and the TLS digest. */
  private render(cfg: RtLoadBalancer, options: CfgOptions, files: Map<string, string>): string {
    let text = haproxyConfig(cfg, options);
    text = text.replace('defaults\n', `    server-state-file ${this.stateFile}\ndefaults\n    load-server-state-from-file global\n`);
    // HAProxy reads certificates at start: new TLS files need a reload even when the text is the same.
    if (files.size) {
      const digest = createHash('sha256');
      for (const [path, content] of [...files].sort(([x], [y]) => x.localeCompare(y))) digest.update(`${path}\0${content}\0`);
      text += `# tls ${digest.digest('hex')}\n`;
    }
    return text;
  }

  /**
   * After member changes made at run time, the file is written a moment later (FILE_DELAY_MS), once
   * for a burst of them: rendering and writing every server line on each member add is what made
   * it cost more the more members a pool had (issue 17). HAProxy reads the file only when it
   * starts, and every reload or start writes it first (apply); until then the running process,
   * not the file, holds the latest servers.
   */
  private fileSoon(): void {
    if (this.fileTimer) return;
    this.fileTimer = setTimeout(() => {
      this.fileTimer = null;
      this.fileWrite = this.writeServed().catch((e) => this.log.warn({ err: e, lb: this.lbId }, 'haproxy configuration file not written'));
    }, FILE_DELAY_MS);
    this.fileTimer.unref();
  }

  /** Write what runs into the file, if it is not there yet. */
  private async writeServed(): Promise<void> {
    const served = this.served;
    if (!served || served.text !== null || this.stopped) return;
    const text = served.render();
    const next = `${this.cfgPath}.next`;
    await writeFile(next, text);
    await rename(next, this.cfgPath);
    served.text = text;
  }

  /**
   * Before an apply touches the file: no write in flight, none pending (the apply writes the file,
   * or leaves it to be written after its own runtime change).
   */
  private async settleFile(): Promise<void> {
    if (this.fileTimer) clearTimeout(this.fileTimer);
    this.fileTimer = null;
    await this.fileWrite.catch(() => undefined);
  }

  /**
   * Write the TLS files (private keys among them) readable by their owner only: PocketStack, or
   * the load-balancer user HAProxy drops to when PocketStack is root. Written beside and renamed,
   * so a running HAProxy never sees half a file; never logged.
   */
  private async writeTls(files: Map<string, string>): Promise<void> {
    if (!files.size) return;
    await mkdir(this.tlsDir, { recursive: true, mode: 0o700 });
    await chmod(this.tlsDir, 0o700);
    const owner = this.placement.user;
    if (owner) await chown(this.tlsDir, owner.uid, owner.gid);
    for (const [path, content] of files) {
      const tmp = `${path}.next`;
      await writeFile(tmp, content, { mode: 0o600 });
      await chmod(tmp, 0o600);
      if (owner) await chown(tmp, owner.uid, owner.gid);
      await rename(tmp, path);
    }
  }

  private async pruneTls(keep: Map<string, string>): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.tlsDir);
    } catch {
      return;
    }
    for (const n of names) if (!keep.has(join(this.tlsDir, n))) await rm(join(this.tlsDir, n), { force: true });
    if (!keep.size) await rmdir(this.tlsDir).catch(() => undefined);
  }

  /** `haproxy -c`: a configuration HAProxy refuses never replaces the running one. */
  private check(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile(this.bin, ['-c', '-q', '-f', path], (err, _stdout, stderr) => {
        if (err)
          reject(
            new Error(
              `haproxy refused the configuration: ${
                stderr
                  .trim()
                  .split('\n')
                  .filter((l) => /ALERT/.test(l))
                  .join('; ') || stderr.trim()
              }`,
            ),
          );
        else resolve();
      });
    });
  }

  /**
   * Member changes through the stats socket (serverplan.ts says which and why). Resolves null when
   * every command answered as it should, else what went wrong; stops at the first refusal.
   */
  private async runCommands(commands: RuntimeCommand[]): Promise<string | null> {
    let cli: CliSession;
    try {
      cli = await CliSession.open(this.sock);
    } catch (e) {
      return `stats socket: ${(e as Error).message}`;
    }
    try {
      for (const c of commands) {
        let answer = await cli.send(c.command);
        // A server put in maintenance drops its idle connections a moment later: `del server`
        // refuses it until then. One with connections in flight stays refused, and the reload
        // lets the old process finish them, as Octavia's reload does.
        for (let i = 0; answer === STILL_CONNECTED && i < DEL_RETRIES; i++) {
          await new Promise((r) => setTimeout(r, DEL_RETRY_MS));
          answer = await cli.send(c.command);
        }
        if (answer !== c.expect) return `${c.command.split(' ').slice(0, 3).join(' ')}: ${answer || 'no answer'}`;
      }
      return null;
    } catch (e) {
      return (e as Error).message;
    } finally {
      cli.close();
    }
  }

  /** Carry health and runtime state over a reload, without the servers in `forget` (serverplan.ts, forgetServers). */
  private async saveServerState(forget: ReadonlySet<string>): Promise<void> {
    if (!this.proc) return;
    try {
      await writeFile(this.stateFile, forgetServers(await statsCommand(this.sock, 'show servers state'), forget));
    } catch {
      /* no state to carry over */
    }
  }

  private async start(): Promise<void> {
    const old = this.proc && this.proc.exitCode === null ? this.proc : null;
    const oldCounters = old ? await this.readCounters().catch(() => undefined) : undefined;
    // A process left by an earlier PocketStack (killed, or restarted) hands its sockets over too.
    const oldPid = old?.pid ?? (await runningPid(this.sock));
    const args = ['-db', '-f', this.cfgPath];
    if (oldPid) args.push('-x', this.sock, '-sf', String(oldPid));
    const [file, argv] = this.command(args);
    const child = spawn(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 8192) stderr = stderr.slice(-8192);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const ready = await this.waitReady(child.pid!, exited);
    if (!ready) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not start: ${stderr.trim().split('\n').slice(-3).join('; ')}`);
    }
    child.once('exit', (code, signal) => {
      if (this.proc === child && !this.stopped) this.log.warn({ lb: this.lbId, code, signal, stderr: stderr.slice(-500) }, 'haproxy exited');
    });
    if (oldCounters) for (const [id, c] of oldCounters) this.base.set(id, addCounters(this.base.get(id) ?? ZERO_COUNTERS, { ...c, active_connections: 0 }));
    this.proc = child;
  }

  /** Ready when the stats socket answers with the new process's pid. */
  private async waitReady(pid: number, exited: Promise<number | null>): Promise<boolean> {
    let gone = false;
    void exited.then(() => (gone = true));
    for (let i = 0; i < 250 && !gone; i++) {
      try {
        const info = await statsCommand(this.sock, 'show info', 500);
        if (new RegExp(`^Pid: ${pid}$`, 'm').test(info)) return true;
      } catch {
        /* not up yet */
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  private async stopProcess(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
    if (p.exitCode === null) p.kill('SIGKILL');
  }

  /**
   * Frontends and servers for health, frontends alone for counters (`show stat -1 <type> -1`:
   * 1 frontends, 4 servers): the counters poll need not read a row per member.
   */
  private async stat(what: 'health' | 'counters'): Promise<Array<Record<string, string>>> {
    if (!this.proc || this.proc.exitCode !== null) return [];
    return what === 'health'
      ? parseStat(await statsCommand(this.sock, 'show stat -1 5 -1'), ['pxname', 'svname', 'status'])
      : parseStat(await statsCommand(this.sock, 'show stat -1 1 -1'), ['pxname', 'svname', 'bin', 'bout', 'scur', 'stot', 'ereq']);
  }

  async health(): Promise<Health> {
    const members = new Map<string, 'UP' | 'DOWN' | 'DRAIN' | 'MAINT' | 'NOCHECK'>();
    const listeners = new Map<string, 'OPEN' | 'FULL' | 'STOPPED'>();
    for (const r of await this.stat('health').catch(() => [])) {
      if (r.svname === 'FRONTEND') listeners.set(r.pxname, r.status === 'FULL' ? 'FULL' : r.status === 'OPEN' ? 'OPEN' : 'STOPPED');
      else if (r.svname !== 'BACKEND' && !members.has(r.svname)) members.set(r.svname, memberState(r.status));
    }
    if (this.udp) {
      const h = await this.udp.health();
      for (const [k, v] of h.members) if (!members.has(k)) members.set(k, v);
      for (const [k, v] of h.listeners) listeners.set(k, v);
    }
    return { members, listeners };
  }

  private async readCounters(): Promise<Map<string, ListenerCounters>> {
    const out = new Map<string, ListenerCounters>();
    for (const r of await this.stat('counters')) {
      if (r.svname !== 'FRONTEND') continue;
      out.set(r.pxname, {
        bytes_in: Number(r.bin) || 0,
        bytes_out: Number(r.bout) || 0,
        active_connections: Number(r.scur) || 0,
        total_connections: Number(r.stot) || 0,
        request_errors: Number(r.ereq) || 0,
      });
    }
    return out;
  }

  async counters(): Promise<Map<string, ListenerCounters>> {
    const out = new Map<string, ListenerCounters>(this.base);
    for (const [id, c] of await this.readCounters().catch(() => new Map<string, ListenerCounters>()))
      out.set(id, addCounters(this.base.get(id) ?? ZERO_COUNTERS, c));
    if (this.udp) for (const [id, c] of await this.udp.counters()) out.set(id, c);
    return out;
  }

  processIds(): number[] {
    return this.proc?.pid && this.proc.exitCode === null ? [this.proc.pid] : [];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.fileTimer) clearTimeout(this.fileTimer);
    this.fileTimer = null;
    await this.fileWrite.catch(() => undefined);
    await this.stopProcess();
    await this.udp?.stop();
    await rm(this.dir, { recursive: true, force: true });
    await rm(this.tlsDir, { recursive: true, force: true });
  }
}

export class HaproxyRuntime implements LbRuntime {
  readonly name = 'haproxy' as const;
  constructor(
    private readonly bin: string,
    private readonly baseDir: string,
    private readonly log: Logger,
    private readonly onHealthChange: (lbId: string) => void = () => undefined,
    /** Where TLS files go: under the data directory (not /tmp: they hold private keys). */
    private readonly tlsBase: string = join(baseDir, 'tls'),
  ) {}

  create(lbId: string, placement: Placement): LbInstance {
    return new HaproxyInstance(this.bin, lbId, placement, this.baseDir, this.tlsBase, this.log, () => this.onHealthChange(lbId));
  }

  /** At shutdown (every load balancer stopped): the run directory goes when it is empty. */
  async close(): Promise<void> {
    await rmdir(this.baseDir).catch(() => undefined);
  }

  /** Stop processes an earlier PocketStack left for load balancers that no longer exist. */
  async cleanup(keep: Set<string>): Promise<void> {
    for (const id of await readdir(this.tlsBase).catch(() => [] as string[])) {
      if (!keep.has(id)) await rm(join(this.tlsBase, id), { recursive: true, force: true });
    }
    let entries: string[] = [];
    try {
      entries = await readdir(this.baseDir);
    } catch {
      return;
    }
    for (const id of entries) {
      if (keep.has(id)) continue;
      const pid = await runningPid(join(this.baseDir, id, 'stats.sock'));
      if (pid) {
        try {
          process.kill(pid, 'SIGTERM');
          this.log.info({ lb: id, pid }, 'stopped haproxy of a load balancer that no longer exists');
        } catch {
          /* already gone */
        }
      }
      await rm(join(this.baseDir, id), { recursive: true, force: true });
    }
  }
}
