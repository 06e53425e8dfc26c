import type { Logger } from 'pino';
import type { ServersTable } from '../../store/schema.js';
import { Reconciler } from '../../util/reconciler.js';
import type { ChangeBus } from '../work.js';
import type { ComputeService } from './service.js';
import { POWER, TASK, VM } from './states.js';

/**
 * The part of nova-compute/conductor that moves servers along: schedule and allocate ports
 * (BUILD), wait until every port is ACTIVE (and, with an instance host, until the instance runs),
 * then ACTIVE; complete stop/start/reboot. It works from the store only, so a restart picks up
 * where it left off: it runs at start, on every relevant change and periodically.
 */
export class ComputeManager {
  private readonly reconciler: Reconciler;
  private unsubscribe: Array<() => void> = [];

  constructor(
    private readonly compute: ComputeService,
    private readonly changes: ChangeBus,
    private readonly log: Logger,
    private readonly opts: { buildTimeoutMs: number; periodMs?: number } = { buildTimeoutMs: 300_000 },
  ) {
    this.reconciler = new Reconciler(
      () => this.pass(),
      (e) => this.log.error({ err: e }, 'compute manager pass failed'),
      opts.periodMs ?? 5_000,
    );
  }

  start(): void {
    this.unsubscribe = [
      // Port status moves BUILD → ACTIVE; a deleted port may unblock nothing but costs little.
      this.changes.subscribe({ kinds: ['port'], status: true }, (c) => {
        if (c.op === 'status' || c.op === 'delete') this.kick();
      }),
      // Servers asked to change, and instance hosts' reports of what they did.
      this.changes.subscribe({ kinds: ['server'], status: true }, () => this.kick()),
    ];
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
    await this.reconciler.stop();
  }

  private async pass(): Promise<void> {
    for (const s of await this.compute.lifecycle.pendingServers()) {
      try {
        await this.step(s);
      } catch (e) {
        this.log.error({ err: e, server: s.id }, 'compute manager step failed');
      }
    }
  }

  private async step(s: ServersTable): Promise<void> {
    const c = this.compute.lifecycle;
    const managed = c.managed;
    const from = { vm: s.vm_state, task: s.task_state };
    if (s.vm_state === VM.BUILDING) {
      if (s.task_state === TASK.SCHEDULING || s.task_state === TASK.NETWORKING) {
        await c.buildNetworks(s.id);
        return;
      }
      if (s.task_state !== TASK.SPAWNING) return;
      const waiting = (await c.portsDown(s.id)) > 0 || (managed && s.power_state !== POWER.RUNNING);
      if (!waiting) {
        await c.transition(s.id, from, { vm_state: VM.ACTIVE, task_state: null, power_state: POWER.RUNNING, launched_at: new Date().toISOString() });
        return;
      }
      if (Date.now() - Date.parse(s.updated_at) > this.opts.buildTimeoutMs) {
        await c.fail(s.id, `Build of instance ${s.id} aborted: Failed to allocate the network(s), not rescheduling.`);
      }
      return;
    }
    switch (s.task_state) {
      case TASK.POWERING_OFF:
        if (!managed || s.power_state !== POWER.RUNNING) {
          await c.transition(s.id, from, { vm_state: VM.STOPPED, task_state: null, power_state: POWER.SHUTDOWN });
        }
        return;
      case TASK.POWERING_ON:
        if (!managed || s.power_state === POWER.RUNNING) {
          await c.transition(s.id, from, { vm_state: VM.ACTIVE, task_state: null, power_state: POWER.RUNNING });
        }
        return;
      case TASK.REBOOTING:
      case TASK.REBOOTING_HARD:
        if (!managed || (s.reboot_done_seq >= s.reboot_seq && s.power_state === POWER.RUNNING)) {
          await c.transition(s.id, from, { vm_state: VM.ACTIVE, task_state: null, power_state: POWER.RUNNING });
        }
        return;
      default:
    }
  }
}
