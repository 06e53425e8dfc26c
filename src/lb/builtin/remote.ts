/**
 * A load balancer served by the built-in engine in a worker process: the way it runs inside a
 * network namespace (`ip netns exec`), as an unprivileged user when PocketStack is root. The
 * worker holds the listeners and health checks; this side forwards configurations and reads
 * health and counters. A worker that dies is replaced at the next apply (`onLost` asks for one).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ListenerCounters } from '../../core/loadbalancer/stats.js';
import type { Health } from '../../core/loadbalancer/status.js';
import type { RtLoadBalancer } from '../config.js';
import { type LbInstance, type Placement, ZERO_COUNTERS, addCounters } from '../runtime.js';
import { type WireHealth, type WorkerCall, type WorkerReply, type WorkerRequest, healthFromWire } from './protocol.js';
import { PROJECT_ROOT } from '../../util/root.js';

/** From the sources (tests, `tsx`) the worker needs the TypeScript loader; from the build it does not. */
const FROM_SOURCES = import.meta.url.endsWith('.ts');
// Named from the project, not from this module: in the one-file bundle this module is not in lb/builtin/.
const ENTRY = FROM_SOURCES ? join(PROJECT_ROOT, 'src', 'lb', 'builtin', 'worker.ts') : join(PROJECT_ROOT, 'dist', 'lb', 'builtin', 'worker.js');
const CALL_TIMEOUT_MS = 10_000;

export interface WorkerHooks {
  onHealthChange: () => void;
  /** The worker exited on its own: the load balancer needs applying again. */
  onLost: () => void;
}

/** The argv that starts a worker for `placement` (exported for tests). */
export function workerCommand(lbId: string, placement: Placement): string[] {
  const argv: string[] = [];
  if (placement.netns) argv.push('ip', 'netns', 'exec', placement.netns);
  if (placement.user) argv.push('setpriv', `--reuid=${placement.user.uid}`, `--regid=${placement.user.gid}`, '--clear-groups', '--no-new-privs');
  argv.push(process.execPath, ...(FROM_SOURCES ? ['--import', 'tsx'] : []), ENTRY, lbId, placement.address);
  return argv;
}

export class WorkerInstance implements LbInstance {
  private child: ChildProcess | null = null;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private stopped = false;
  /** Counters of workers that exited (a new worker starts from zero; totals never go back). */
  private readonly base = new Map<string, ListenerCounters>();
  private last = new Map<string, ListenerCounters>();

  constructor(
    readonly lbId: string,
    private readonly placement: Placement,
    private readonly hooks: WorkerHooks,
    private readonly log: Logger,
  ) {}

  private alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.connected;
  }

  private start(): Promise<void> {
    const [file, ...args] = workerCommand(this.lbId, this.placement);
    const child = spawn(file, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4096);
    });
    return new Promise<void>((resolveReady, rejectReady) => {
      let ready = false;
      child.on('message', (m: WorkerReply) => {
        if ('event' in m) {
          if (m.event === 'ready') {
            ready = true;
            resolveReady();
          } else this.hooks.onHealthChange();
          return;
        }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.result);
        else p.reject(new Error(m.error));
      });
      child.once('error', (e) => {
        if (!ready) rejectReady(e);
      });
      child.once('exit', (code, signal) => {
        const why = new Error(`built-in worker exited (${signal ?? code}): ${stderr.trim().split('\n').slice(-3).join('; ')}`);
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(why);
        }
        this.pending.clear();
        if (this.child === child) {
          this.child = null;
          for (const [id, c] of this.last) this.base.set(id, addCounters(this.base.get(id) ?? ZERO_COUNTERS, { ...c, active_connections: 0 }));
          this.last = new Map();
        }
        if (!ready) rejectReady(why);
        else if (!this.stopped) {
          this.log.warn({ lb: this.lbId, code, signal, stderr: stderr.slice(-500) }, 'built-in worker exited; applying again');
          this.hooks.onLost();
        }
      });
    });
  }

  private call(req: WorkerCall): Promise<unknown> {
    const child = this.child;
    if (!child || !this.alive()) return Promise.reject(new Error('built-in worker not running'));
    const id = ++this.seq;
    return new Promise((resolveCall, rejectCall) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        rejectCall(new Error(`built-in worker: no answer to ${req.op} within ${CALL_TIMEOUT_MS} ms`));
      }, CALL_TIMEOUT_MS);
      this.pending.set(id, { resolve: resolveCall, reject: rejectCall, timer });
      child.send({ ...req, id } as WorkerRequest);
    });
  }

  async apply(cfg: RtLoadBalancer): Promise<void> {
    if (this.stopped) throw new Error('instance stopped');
    if (!this.alive()) await this.start();
    await this.call({ op: 'apply', cfg });
  }

  async health(): Promise<Health> {
    if (!this.alive()) return { members: new Map(), listeners: new Map() };
    return healthFromWire((await this.call({ op: 'health' })) as WireHealth);
  }

  async counters(): Promise<Map<string, ListenerCounters>> {
    if (this.alive()) this.last = new Map((await this.call({ op: 'counters' })) as Array<[string, ListenerCounters]>);
    const out = new Map(this.base);
    for (const [id, c] of this.last) out.set(id, addCounters(this.base.get(id) ?? ZERO_COUNTERS, c));
    return out;
  }

  processIds(): number[] {
    return this.child?.pid && this.alive() ? [this.child.pid] : [];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (!child) return;
    const exited = child.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));
    try {
      if (this.alive()) await this.call({ op: 'stop' });
    } catch {
      /* it is going anyway */
    }
    if (child.connected) child.disconnect();
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}
