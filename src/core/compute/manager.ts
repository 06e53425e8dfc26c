import type { Logger } from 'pino';
import { Reconciler } from '../../util/reconciler.js';
import type { ChangeBus } from '../work.js';
import { REPORT_INTERVAL_S } from './services.js';
import type { ComputeService } from './service.js';

export interface ComputeManagerOptions {
  /** How long a build (or, with an instance host, an action) may wait for the host (vif_plugging_timeout and friends). */
  buildTimeoutMs: number;
  periodMs?: number;
  /**
   * Without an instance host, how long an action (reboot, pause, resize …) stays in its
   * transitional state before it completes, so clients see REBOOT, RESIZE … as on a real cloud.
   * Builds are not delayed.
   */
  actionMs?: number;
}

/**
 * The part of nova-conductor and nova-compute that moves servers along (ServerLifecycle.step
 * does each step): builds, power changes, rebuilds, resizes, shelving, snapshots. It works from
 * the store only, so a restart picks up where it left off: it runs at start, on every relevant
 * change, periodically, and when a delayed step comes due. It also reports this host's services
 * alive (os-services' heartbeat) every report_interval.
 */
export class ComputeManager {
  private readonly reconciler: Reconciler;
  private unsubscribe: Array<() => void> = [];
  private heartbeat: NodeJS.Timeout | undefined;
  private wake: NodeJS.Timeout | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  /**
   * Whether a server may be in progress: the last pass's read found one, or a server changed since
   * that read (its change also kicked a pass, which reads again). Until the first pass: unknown.
   */
  private inProgress = true;

  constructor(
    private readonly compute: ComputeService,
    private readonly changes: ChangeBus,
    private readonly log: Logger,
    private readonly opts: ComputeManagerOptions = { buildTimeoutMs: 300_000 },
  ) {
    this.reconciler = new Reconciler(
      () => this.pass(),
      (e) => this.log.error({ err: e }, 'compute manager pass failed'),
      opts.periodMs ?? 5_000,
    );
    compute.lifecycle.onFault = (server, fault, rescheduled) =>
      this.log.warn({ server, fault: fault.message, rescheduled }, rescheduled ? 'instance failed to spawn, rescheduling' : 'server in ERROR');
  }

  start(): void {
    this.unsubscribe = [
      // Port status moves BUILD → ACTIVE (nova's network-vif-plugged); a deleted port may unblock
      // one. Only while a server is in progress, though: most ports' status (a router's, a
      // floating IP's, a port no server uses yet) concerns no server, and with none in progress
      // a pass would only read that none is.
      this.changes.subscribe({ kinds: ['port'], status: true }, (c) => {
        if ((c.op === 'status' || c.op === 'delete') && this.inProgress) this.kick();
      }),
      // Servers asked to change, and instance hosts' reports of what they did.
      this.changes.subscribe({ kinds: ['server'], status: true }, () => {
        this.inProgress = true;
        this.kick();
      }),
    ];
    this.heartbeat = setInterval(() => {
      this.compute.services.heartbeat().catch((e: unknown) => this.log.warn({ err: e }, 'service heartbeat failed'));
    }, REPORT_INTERVAL_S * 1000);
    this.heartbeat.unref();
    this.reconciler.start();
  }

  kick(): void {
    this.reconciler.kick();
  }

  idle(): Promise<void> {
    return this.reconciler.idle();
  }

  async stop(): Promise<void> {
    for (const stop of this.unsubscribe) stop();
    this.unsubscribe = [];
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.wake) clearTimeout(this.wake);
    this.wake = undefined;
    await this.reconciler.stop();
  }

  /** Run again at `at` (a delayed step coming due), unless a pass is already due sooner. */
  private wakeUp(at: number): void {
    if (at >= this.wakeAt) return;
    if (this.wake) clearTimeout(this.wake);
    this.wakeAt = at;
    this.wake = setTimeout(
      () => {
        this.wake = undefined;
        this.wakeAt = Number.POSITIVE_INFINITY;
        this.kick();
      },
      Math.max(0, at - Date.now()),
    );
    this.wake.unref();
  }

  private async pass(): Promise<void> {
    const lifecycle = this.compute.lifecycle;
    let pending: Awaited<ReturnType<typeof lifecycle.pendingServers>>;
    try {
      pending = await lifecycle.pendingServers();
    } catch (e) {
      this.inProgress = true;
      throw e;
    }
    // Set as the read returns: a server changed after it sets it again (and kicks another pass).
    this.inProgress = pending.length > 0;
    for (const s of pending) {
      try {
        const due = await lifecycle.step(s, { timeoutMs: this.opts.buildTimeoutMs, actionMs: this.opts.actionMs ?? 0 });
        if (due !== undefined) this.wakeUp(due);
      } catch (e) {
        this.log.error({ err: e, server: s.id }, 'compute manager step failed');
      }
    }
  }
}
