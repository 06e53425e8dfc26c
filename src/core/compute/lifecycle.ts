/**
 * What the ComputeManager carries out (nova-conductor and nova-compute's part of every action),
 * as conditional transitions from the state it saw: the build (schedule, ports, spawn), power
 * changes, rescue, rebuild, resize and its revert, shelving and unshelving, snapshots. Every step
 * reads what it needs from the store, so a restart resumes where it left off; what cannot resume
 * (an upload cut off) ends with a fault and the action's event in Error. An instance host (the
 * netns data plane) reports what instances really do; without one, changes complete at once.
 */
import { fromJson } from '../../store/db.js';
import type { ServersTable } from '../../store/schema.js';
import { type RequestContext, systemContext } from '../context.js';
import { DomainError } from '../errors.js';
import { DEFAULT_AZ, hostZones } from './aggregates.js';
import { type BuildRequest, type ComputeCore, type Fault, now } from './core.js';
import type { InstanceReport, InstanceReports } from './host.js';
import { finishEvent, startEvent } from './instance-actions.js';
import { type MigrationType, recordMigration, rollbackLiveMigration, updateMigration } from './migrations.js';
import {
  AllocationFailed,
  DEVICE_OWNER,
  allocatePorts,
  allocationFailure,
  bindPorts,
  buildFailureOutcome,
  releasePorts,
  unbindRequestedPorts,
} from './network.js';
import { computeNodes, handoverHomes, recordBuildResult } from './nodes.js';
import { fits, flavorResources, hostUsage } from './placement.js';
import { NoValidHost, SCHEDULER_DEFAULTS, type SchedulerOptions, forcedHostOf, scheduleServer, scheduleServerWithAlternates } from './scheduler.js';
import type { Snapshots } from './snapshots.js';
import { POWER, TASK, VM } from './states.js';
import { withSystemMetadata } from './tasks.js';
import type { Work } from '../work.js';

/** Tasks the manager works on (besides builds). */
export const PENDING_TASKS: string[] = [
  TASK.POWERING_OFF,
  TASK.POWERING_ON,
  TASK.REBOOTING,
  TASK.REBOOTING_HARD,
  TASK.PAUSING,
  TASK.UNPAUSING,
  TASK.SUSPENDING,
  TASK.RESUMING,
  TASK.RESCUING,
  TASK.UNRESCUING,
  TASK.REBUILDING,
  TASK.REBUILD_SPAWNING,
  TASK.RESIZE_PREP,
  TASK.RESIZE_FINISH,
  TASK.RESIZE_REVERTING,
  TASK.SHELVING,
  TASK.SHELVING_IMAGE_UPLOADING,
  TASK.SHELVING_OFFLOADING,
  TASK.UNSHELVING,
  TASK.SPAWNING,
  TASK.IMAGE_SNAPSHOT_PENDING,
  TASK.IMAGE_PENDING_UPLOAD,
  TASK.IMAGE_UPLOADING,
  TASK.IMAGE_BACKUP,
  TASK.MIGRATING,
];

const isoSeconds = () => now().replace(/\.\d+Z$/, 'Z');

/**
 * A build's retry state (servers.build_retry): Nova's filter_properties['retry'] — the attempts
 * made, the hosts tried and the reason the last one failed — and the alternate hosts left of the
 * host_list the scheduler returned with the selected host.
 */
interface BuildRetry {
  num_attempts: number;
  hosts: string[];
  alternates: string[];
  exc_reason: string | null;
}

/** MaxRetriesExceeded (nova/exception.py): a NoValidHost whose message says the retries ran out. */
class MaxRetriesExceeded extends Error {
  constructor(reason: string) {
    super(`Exceeded maximum number of retries. ${reason}`);
  }
}

/**
 * What a RescheduledException leaves on the server (_do_build_and_run_instance): with retry
 * information, SCHEDULING again with the reason kept for the conductor (retry['exc_reason']);
 * without, ERROR with the reason as the instance fault.
 */
function rescheduleOrFail(retry: BuildRetry | null, reason: string): Partial<ServersTable> {
  if (retry) return { task_state: TASK.SCHEDULING, build_retry: JSON.stringify({ ...retry, exc_reason: reason }) };
  const fault: Fault = { code: 500, message: reason, details: reason, created: isoSeconds() };
  return { vm_state: VM.ERROR, task_state: null, power_state: POWER.NOSTATE, fault: JSON.stringify(fault), build_retry: null };
}

export class ServerLifecycle implements InstanceReports {
  /**
   * Told of every fault recorded on a server, and of every spawn a host gave up on (rescheduled
   * or not), after the change commits: the compute manager logs them, as nova-compute and the
   * conductor log a failed build, so an operator finds why a server went to ERROR.
   */
  onFault: ((server: string, fault: Fault, rescheduled: boolean) => void) | undefined;

  constructor(
    private readonly core: ComputeCore,
    private readonly snapshots: Snapshots,
  ) {}

  private get store() {
    return this.core.store;
  }

  /** Whether an instance host runs the servers (see ComputeOptions.instanceHost). */
  get managed(): boolean {
    return this.core.opts.instanceHost || this.core.hostsReport;
  }

  /** Servers with work pending (the manager's work list). */
  async pendingServers(): Promise<ServersTable[]> {
    return this.store.db
      .selectFrom('servers')
      .selectAll()
      .where((eb) => eb.or([eb('vm_state', '=', VM.BUILDING), eb('task_state', 'in', PENDING_TASKS)]))
      .orderBy('internal_id')
      .execute();
  }

  /** Ports of a server that are not ACTIVE yet. */
  async portsDown(id: string): Promise<number> {
    const r = await this.store.db
      .selectFrom('ports')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .where('device_id', '=', id)
      .where('device_owner', '=', DEVICE_OWNER)
      .where('status', '!=', 'ACTIVE')
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  // ------------------------------------------------------------ the build

  /** The user a server was built for, as Neutron should see it (ports are made on its behalf). */
  private buildUser(row: ServersTable, build: BuildRequest): RequestContext {
    return {
      ...systemContext(`req-build-${row.id}`),
      userId: build.user.id,
      userName: build.user.name,
      projectId: row.project_id,
      projectName: null,
      projectDomainId: null,
      roles: build.user.roles,
      isAdmin: build.user.roles.includes('admin'),
    };
  }

  /** The scheduler's options (max_attempts and the BuildFailureWeigher's). */
  private get scheduler(): SchedulerOptions {
    return this.core.opts.scheduler ?? SCHEDULER_DEFAULTS;
  }

  /** The scheduling request of a server (its request spec). */
  private schedule(row: ServersTable, extra: { ignoreHosts?: string[]; requestedHost?: string | null } = {}): Promise<string> {
    return scheduleServer(this.store.db, row, { ...extra, options: this.scheduler });
  }

  /**
   * The host a build goes to, and its retry state. The first attempt is the conductor's
   * schedule_and_build_instances: select_destinations with return_alternates (max_attempts − 1
   * alternates), then populate_retry — no retry at all when max_attempts is 1 or a host is forced.
   * A later attempt is the conductor's build_instances on a reschedule: populate_retry counts it
   * (past max_attempts: MaxRetriesExceeded with the last failure's reason), then the next
   * alternate whose resources can still be claimed in Placement is taken — the filters are not
   * run again — and none left is MaxRetriesExceeded, "Exhausted all hosts …".
   */
  private async buildHost(row: ServersTable): Promise<{ host: string; retry: BuildRetry | null }> {
    const retry = fromJson<BuildRetry | null>(row.build_retry ?? 'null', null);
    const opts = this.scheduler;
    if (!retry) {
      const hosts = await scheduleServerWithAlternates(this.store.db, row, { options: opts, count: opts.maxAttempts });
      const [host, ...alternates] = hosts;
      if (opts.maxAttempts === 1 || forcedHostOf(row)) return { host, retry: null };
      return { host, retry: { num_attempts: 1, hosts: [host], alternates, exc_reason: null } };
    }
    const attempts = retry.num_attempts + 1;
    if (attempts > opts.maxAttempts) {
      throw new MaxRetriesExceeded(
        `Exceeded max scheduling attempts ${opts.maxAttempts} for instance ${row.id}. Last exception: ${retry.exc_reason ?? 'None'}`,
      );
    }
    const nodes = await computeNodes(this.store.db);
    const usage = await hostUsage(this.store.db);
    const want = flavorResources(row.flavor);
    const alternates = [...retry.alternates];
    while (alternates.length) {
      const host = alternates.shift()!;
      const node = nodes.get(host);
      const used = usage.get(host) ?? { vcpus: 0, memoryMb: 0, diskGb: 0 };
      if (node && fits(node, used, want)) {
        return { host, retry: { num_attempts: attempts, hosts: [...retry.hosts, host], alternates, exc_reason: null } };
      }
    }
    throw new MaxRetriesExceeded(`Exhausted all hosts available for retrying build failures for instance ${row.id}.`);
  }

  /**
   * Schedule and allocate the server's ports, all in one transaction with the server's own
   * update: a failure leaves no port behind and puts the server in ERROR.
   */
  async buildNetworks(id: string): Promise<void> {
    const row = await this.store.db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || row.vm_state !== VM.BUILDING || (row.task_state !== TASK.SCHEDULING && row.task_state !== TASK.NETWORKING)) return;
    const build = fromJson<BuildRequest | null>(row.requested_networks, null);
    if (!build) return;
    let host: string;
    let retry: BuildRetry | null;
    try {
      ({ host, retry } = await this.buildHost(row));
    } catch (e) {
      if (e instanceof MaxRetriesExceeded) {
        // The conductor's _cleanup_when_reschedule_fails: ERROR with the fault; no event fails
        // (build_instances records none), so the action's message stays as it was.
        await this.fail(id, e.message, e.stack ?? e.message, { buildRetry: null });
        return;
      }
      if (!(e instanceof NoValidHost)) throw e;
      await this.fail(id, e.message, e.message, { event: 'conductor_schedule_and_build_instances' });
      return;
    }
    const admin = systemContext(`req-build-${id}`);
    try {
      await this.core.uow.run(async (w) => {
        const net = this.core.network.within(w);
        const current = await w.trx.selectFrom('servers').select(['vm_state', 'task_state']).where('id', '=', id).executeTakeFirst();
        if (!current || current.vm_state !== VM.BUILDING || current.task_state !== row.task_state) return;
        const ifaces = await allocatePorts(w, net, {
          serverId: id,
          projectId: row.project_id,
          host,
          requested: build.networks,
          securityGroupIds: build.securityGroupIds,
          user: this.buildUser(row, build),
          admin,
        });
        let position = 0;
        for (const i of ifaces) {
          await w.trx
            .insertInto('server_interfaces')
            .values({ port_id: i.portId, server_id: id, position: position++, preserve: i.preserve ? 1 : 0, tag: i.tag })
            .execute();
        }
        const zone = await w.trx
          .selectFrom('aggregate_hosts')
          .innerJoin('aggregate_metadata', 'aggregate_metadata.aggregate_id', 'aggregate_hosts.aggregate_id')
          .select('aggregate_metadata.value')
          .where('aggregate_hosts.host', '=', host)
          .where('aggregate_metadata.key', '=', 'availability_zone')
          .executeTakeFirst();
        await w.trx
          .updateTable('servers')
          .set({
            task_state: TASK.SPAWNING,
            host,
            availability_zone: zone?.value ?? DEFAULT_AZ,
            build_retry: retry ? JSON.stringify(retry) : null,
            updated_at: now(),
          })
          .where('id', '=', id)
          .execute();
        await finishEvent(w, id, 'conductor_schedule_and_build_instances');
        await startEvent(w, id, 'compute__do_build_and_run_instance', host);
        w.changed('server', id, row.project_id, 'update');
      });
    } catch (e) {
      if (e instanceof AllocationFailed) {
        await this.allocationFailed(row, host, retry, buildFailureOutcome(e));
        return;
      }
      // Anything else ends the build on the compute host (BuildAbortException, "not rescheduling"):
      // a failed build there, as _locked_do_build_and_run_instance counts FAILED results.
      const reason = e instanceof DomainError ? e.message : allocationFailure(e);
      await this.fail(id, `Build of instance ${id} aborted: ${reason}`, e instanceof Error ? (e.stack ?? reason) : reason, {
        event: 'compute__do_build_and_run_instance',
        failedOn: host,
        buildRetry: null,
      });
    }
  }

  /**
   * The build's network allocation failed on its host. Nova allocates the network asynchronously,
   * so the failure surfaces in spawn, inside _build_and_run_instance's except clauses
   * (buildFailureOutcome): most become a RescheduledException with the exception's text as its
   * reason (a port Neutron could not bind on the host, PortBindingFailed; a fixed IP taken; the
   * port quota), handled as spawnFailed handles a spawn that failed; the others a
   * BuildAbortException, which _do_build_and_run_instance records as the fault ("Build of instance
   * … aborted: …") before it returns FAILED: ERROR on no host, not rescheduled. The ports made
   * for the attempt are gone with its transaction (deallocate_for_instance deletes them) and the
   * client's ports are unbound (unbindRequestedPorts: one whose binding had failed before, which
   * _validate_requested_port_ids refuses, binds on the next host), the conductor's event finishes as the build was
   * cast to the host, and the host's `compute__do_build_and_run_instance` starts and finishes
   * Success. With retry information the conductor builds on an alternate; without, ERROR with the
   * reason as the fault.
   */
  private async allocationFailed(row: ServersTable, host: string, retry: BuildRetry | null, outcome: { reschedule: boolean; reason: string }): Promise<void> {
    const reason = outcome.reschedule ? outcome.reason : `Build of instance ${row.id} aborted: ${outcome.reason}`;
    const rescheduled = outcome.reschedule && retry !== null;
    let failed: Fault | undefined;
    await this.core.uow.run(async (w) => {
      const cur = await w.trx.selectFrom('servers').select(['vm_state', 'task_state']).where('id', '=', row.id).executeTakeFirst();
      if (!cur || cur.vm_state !== VM.BUILDING || cur.task_state !== row.task_state) return;
      await recordBuildResult(w.trx, host, false, this.scheduler.consecutiveBuildServiceDisableThreshold);
      const build = fromJson<BuildRequest | null>(row.requested_networks, null);
      if (build) await unbindRequestedPorts(w, this.core.network.within(w), row.id, build.networks, systemContext(`req-build-${row.id}`));
      await finishEvent(w, row.id, 'conductor_schedule_and_build_instances');
      await startEvent(w, row.id, 'compute__do_build_and_run_instance', host);
      await finishEvent(w, row.id, 'compute__do_build_and_run_instance');
      await w.trx
        .updateTable('servers')
        .set({ ...rescheduleOrFail(rescheduled ? retry : null, reason), updated_at: now() })
        .where('id', '=', row.id)
        .execute();
      w.changed('server', row.id, row.project_id, 'update');
      failed = { code: 500, message: reason, details: reason, created: isoSeconds() };
    });
    if (failed) this.onFault?.(row.id, failed, rescheduled);
  }

  /**
   * The instance's host could not spawn it (the driver's spawn raised: RescheduledException in
   * _build_and_run_instance). As _do_build_and_run_instance handles it: the host counts a failed
   * build; with retry information, the networks allocated for it are cleaned up (ports Nova made
   * deleted, the client's unbound), the server leaves the host (no host, SCHEDULING, its
   * allocation gone) and the conductor builds it on an alternate (buildNetworks); without (a
   * forced host, max_attempts 1), it goes to ERROR with the reason as its fault. Either way
   * `compute__do_build_and_run_instance` finishes with Success: the exception is caught inside the
   * method its EventReporter wraps.
   */
  private async spawnFailed(row: ServersTable, reason: string): Promise<void> {
    const host = row.host;
    const retry = fromJson<BuildRetry | null>(row.build_retry ?? 'null', null);
    const admin = systemContext(`req-build-${row.id}`);
    let failed: Fault | undefined;
    await this.core.uow.run(async (w) => {
      const cur = await w.trx.selectFrom('servers').select(['vm_state', 'task_state', 'host']).where('id', '=', row.id).executeTakeFirst();
      if (!cur || cur.vm_state !== VM.BUILDING || cur.task_state !== TASK.SPAWNING || cur.host !== host) return;
      if (host) await recordBuildResult(w.trx, host, false, this.scheduler.consecutiveBuildServiceDisableThreshold);
      await releasePorts(w, this.core.network.within(w), row.id, admin);
      await w.trx.deleteFrom('server_interfaces').where('server_id', '=', row.id).execute();
      const set: Partial<ServersTable> = { host: null, updated_at: now(), ...rescheduleOrFail(retry, reason) };
      // The next host boots a new generation: a late report of this attempt is told apart.
      if (retry) set.reboot_seq = row.reboot_seq + 1;
      await w.trx.updateTable('servers').set(set).where('id', '=', row.id).execute();
      await finishEvent(w, row.id, 'compute__do_build_and_run_instance');
      w.changed('server', row.id, row.project_id, 'update');
      failed = { code: 500, message: reason, details: reason, created: isoSeconds() };
    });
    if (failed) this.onFault?.(row.id, failed, retry !== null);
  }

  /** Put a server in ERROR with a fault (Nova's instance fault), its pending event in Error. */
  async fail(
    id: string,
    message: string,
    details?: string,
    o: { event?: string; code?: number; failedOn?: string | null; buildRetry?: null } = {},
  ): Promise<void> {
    const fault: Fault = { code: o.code ?? 500, message, details, created: isoSeconds() };
    let recorded = false;
    await this.core.uow.run(async (w) => {
      const row = await w.trx
        .updateTable('servers')
        .set({
          vm_state: VM.ERROR,
          task_state: null,
          power_state: POWER.NOSTATE,
          fault: JSON.stringify(fault),
          ...(o.buildRetry === null ? { build_retry: null } : {}),
          updated_at: now(),
        })
        .where('id', '=', id)
        .returning('project_id')
        .executeTakeFirst();
      // A build that failed on its compute host counts against it (BuildFailureWeigher).
      if (row && o.failedOn) await recordBuildResult(w.trx, o.failedOn, false, this.scheduler.consecutiveBuildServiceDisableThreshold);
      if (o.event) await finishEvent(w, id, o.event, { message, traceback: details });
      if (row) w.changed('server', id, row.project_id, 'update');
      recorded = row !== undefined;
    });
    if (recorded) this.onFault?.(id, fault, false);
  }

  /**
   * An action that could not be carried out: the task is reverted (the server keeps its
   * vm_state, as Nova's reverts_task_state does), the fault recorded, the event in Error.
   */
  async revertTask(row: ServersTable, event: string, message: string, set: Partial<ServersTable> = {}): Promise<void> {
    const fault: Fault = { code: 500, message, details: message, created: isoSeconds() };
    await this.core.uow.run(async (w) => {
      const res = await w.trx
        .updateTable('servers')
        .set({ task_state: null, fault: JSON.stringify(fault), ...set, updated_at: now() })
        .where('id', '=', row.id)
        .where('task_state', '=', row.task_state)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return;
      await finishEvent(w, row.id, event, { message });
      w.changed('server', row.id, row.project_id, 'update');
    });
  }

  /**
   * Conditional state change: only from the state it was seen in (a concurrent change wins).
   * `event` finishes with Success when the change is made; `also` runs in the same transaction.
   */
  async transition(
    id: string,
    from: { vm: string; task: string | null },
    to: Partial<ServersTable>,
    o: { event?: string; also?: (w: Work, row: { project_id: string }) => Promise<void> } = {},
  ): Promise<boolean> {
    return this.core.uow.run(async (w) => {
      let qb = w.trx
        .updateTable('servers')
        .set({ ...to, updated_at: now() })
        .where('id', '=', id)
        .where('vm_state', '=', from.vm);
      qb = from.task === null ? qb.where('task_state', 'is', null) : qb.where('task_state', '=', from.task);
      const row = await qb.returning('project_id').executeTakeFirst();
      if (row) {
        if (o.event) await finishEvent(w, id, o.event);
        await o.also?.(w, row);
        w.changed('server', id, row.project_id, 'update');
      }
      return row !== undefined;
    });
  }

  /** Whether the instance host has done the latest restart asked for, in the desired power state. */
  private settled(s: ServersTable, power: 'running' | 'stopped'): boolean {
    if (!this.managed) return true;
    if (s.reboot_done_seq < s.reboot_seq) return false;
    return power === 'running' ? s.power_state === POWER.RUNNING : s.power_state !== POWER.RUNNING;
  }

  // ------------------------------------------------------------ one step of one server

  /**
   * Move a server along (the manager calls this for every pending server, on every pass). Without
   * an instance host an action completes `actionMs` after it started, so its transitional status
   * is seen; the time it comes due is returned when it is not yet.
   */
  async step(s: ServersTable, o: { timeoutMs: number; actionMs: number }): Promise<number | undefined> {
    const timeoutMs = o.timeoutMs;
    const from = { vm: s.vm_state, task: s.task_state };
    const managed = this.managed;
    if (s.vm_state === VM.BUILDING) {
      if (s.task_state === TASK.SCHEDULING || s.task_state === TASK.NETWORKING) {
        await this.buildNetworks(s.id);
        return;
      }
      if (s.task_state !== TASK.SPAWNING) return;
      const waiting = (await this.portsDown(s.id)) > 0 || (managed && s.power_state !== POWER.RUNNING);
      if (!waiting) {
        await this.transition(
          s.id,
          from,
          { vm_state: VM.ACTIVE, task_state: null, power_state: POWER.RUNNING, launched_at: now(), build_retry: null },
          {
            event: 'compute__do_build_and_run_instance',
            // A successful build resets its host's failed builds (ResourceTracker.build_succeeded).
            also: async (w) => {
              if (s.host) await recordBuildResult(w.trx, s.host, true, this.scheduler.consecutiveBuildServiceDisableThreshold);
            },
          },
        );
        return;
      }
      if (Date.now() - Date.parse(s.updated_at) > timeoutMs) {
        await this.fail(s.id, `Build of instance ${s.id} aborted: Failed to allocate the network(s), not rescheduling.`, undefined, {
          event: 'compute__do_build_and_run_instance',
          failedOn: s.host,
          buildRetry: null,
        });
      }
      return;
    }
    if (!managed && o.actionMs > 0) {
      const due = Date.parse(s.updated_at) + o.actionMs;
      if (due > Date.now()) return due;
    }
    await this.act(s, timeoutMs);
    return undefined;
  }

  private async act(s: ServersTable, timeoutMs: number): Promise<void> {
    const from = { vm: s.vm_state, task: s.task_state };
    const managed = this.managed;
    const stuck = () => Date.now() - Date.parse(s.updated_at) > timeoutMs;
    const running = !managed || s.power_state === POWER.RUNNING;
    switch (s.task_state) {
      case TASK.POWERING_OFF:
        if (!managed || s.power_state !== POWER.RUNNING) {
          await this.transition(s.id, from, { vm_state: VM.STOPPED, task_state: null, power_state: POWER.SHUTDOWN }, { event: 'compute_stop_instance' });
        } else if (stuck()) await this.revertTask(s, 'compute_stop_instance', 'Timed out waiting for the instance to stop');
        return;
      case TASK.POWERING_ON:
        if (running) {
          await this.transition(s.id, from, { vm_state: VM.ACTIVE, task_state: null, power_state: POWER.RUNNING }, { event: 'compute_start_instance' });
        } else if (stuck()) await this.revertTask(s, 'compute_start_instance', 'Timed out waiting for the instance to start');
        return;
      case TASK.REBOOTING:
      case TASK.REBOOTING_HARD:
        if (this.settled(s, 'running')) {
          await this.transition(s.id, from, { vm_state: VM.ACTIVE, task_state: null, power_state: POWER.RUNNING }, { event: 'compute_reboot_instance' });
        } else if (stuck()) await this.fail(s.id, 'Timed out waiting for the instance to reboot', undefined, { event: 'compute_reboot_instance' });
        return;
      case TASK.PAUSING:
        if (!managed || s.power_state === POWER.PAUSED) {
          await this.transition(s.id, from, { vm_state: VM.PAUSED, task_state: null, power_state: POWER.PAUSED }, { event: 'compute_pause_instance' });
        } else if (stuck()) await this.revertTask(s, 'compute_pause_instance', 'Timed out waiting for the instance to pause', { power_desired: 'running' });
        return;
      case TASK.UNPAUSING:
      case TASK.RESUMING: {
        const event = s.task_state === TASK.UNPAUSING ? 'compute_unpause_instance' : 'compute_resume_instance';
        if (running) await this.transition(s.id, from, { vm_state: VM.ACTIVE, task_state: null, power_state: POWER.RUNNING }, { event });
        else if (stuck()) await this.revertTask(s, event, 'Timed out waiting for the instance to resume');
        return;
      }
      case TASK.SUSPENDING:
        if (!managed || s.power_state === POWER.SUSPENDED) {
          await this.transition(s.id, from, { vm_state: VM.SUSPENDED, task_state: null, power_state: POWER.SUSPENDED }, { event: 'compute_suspend_instance' });
        } else if (stuck()) await this.revertTask(s, 'compute_suspend_instance', 'Timed out waiting for the instance to suspend', { power_desired: 'running' });
        return;
      case TASK.RESCUING:
        if (this.settled(s, 'running')) {
          await this.transition(s.id, from, { vm_state: VM.RESCUED, task_state: null, power_state: POWER.RUNNING }, { event: 'compute_rescue_instance' });
        } else if (stuck())
          await this.fail(s.id, 'Timed out waiting for the instance to boot its rescue image', undefined, { event: 'compute_rescue_instance' });
        return;
      case TASK.UNRESCUING:
        if (this.settled(s, 'running')) {
          await this.transition(
            s.id,
            from,
            {
              vm_state: VM.ACTIVE,
              task_state: null,
              power_state: POWER.RUNNING,
              system_metadata: withSystemMetadata(s, { old_vm_state: null, rescue_image_ref: null }),
            },
            { event: 'compute_unrescue_instance' },
          );
        } else if (stuck()) await this.fail(s.id, 'Timed out waiting for the instance to leave rescue', undefined, { event: 'compute_unrescue_instance' });
        return;
      case TASK.REBUILDING:
        return this.rebuildSpawn(s);
      case TASK.REBUILD_SPAWNING: {
        const power = s.power_desired === 'stopped' ? 'stopped' : 'running';
        if (this.settled(s, power)) {
          await this.transition(
            s.id,
            from,
            {
              vm_state: power === 'stopped' ? VM.STOPPED : VM.ACTIVE,
              task_state: null,
              power_state: power === 'stopped' ? POWER.SHUTDOWN : POWER.RUNNING,
              launched_at: now(),
            },
            {
              event: 'compute_rebuild_instance',
              // An evacuation's migration is done once the server runs on its new host.
              also: async (w) => {
                const m = await w.trx
                  .selectFrom('migrations')
                  .select('status')
                  .where('instance_uuid', '=', s.id)
                  .where('migration_type', '=', 'evacuation')
                  .orderBy('id', 'desc')
                  .executeTakeFirst();
                if (m?.status === 'pre-migrating') await updateMigration(w, s.id, ['evacuation'], 'done');
              },
            },
          );
        } else if (stuck()) await this.fail(s.id, 'Timed out waiting for the rebuilt instance to boot', undefined, { event: 'compute_rebuild_instance' });
        return;
      }
      case TASK.RESIZE_PREP:
        return this.resizePrep(s);
      case TASK.RESIZE_FINISH: {
        const power = s.power_desired === 'stopped' ? 'stopped' : 'running';
        if (this.settled(s, power)) {
          await this.transition(
            s.id,
            from,
            { vm_state: VM.RESIZED, task_state: null, power_state: power === 'stopped' ? POWER.SHUTDOWN : POWER.RUNNING },
            {
              event: 'compute_finish_resize',
              also: async (w) => {
                await updateMigration(w, s.id, ['resize', 'migration'], 'finished');
              },
            },
          );
        } else if (stuck()) await this.fail(s.id, 'Timed out waiting for the resized instance to boot', undefined, { event: 'compute_finish_resize' });
        return;
      }
      case TASK.RESIZE_REVERTING:
        return this.revertResize(s);
      case TASK.MIGRATING:
        return this.liveMigration(s, stuck());
      case TASK.SHELVING:
      case TASK.SHELVING_IMAGE_UPLOADING:
        return this.shelve(s);
      case TASK.SHELVING_OFFLOADING:
        return this.offload(s, 'compute_shelve_offload_instance');
      case TASK.UNSHELVING:
        return this.unshelve(s);
      case TASK.SPAWNING:
        if (s.vm_state === VM.SHELVED_OFFLOADED || s.vm_state === VM.SHELVED) {
          if ((await this.portsDown(s.id)) === 0 && this.settled(s, 'running')) {
            const sys = fromJson<Record<string, string>>(s.system_metadata, {});
            const image = sys.shelved_image_id;
            const done = await this.transition(
              s.id,
              from,
              {
                vm_state: VM.ACTIVE,
                task_state: null,
                power_state: POWER.RUNNING,
                launched_at: now(),
                system_metadata: withSystemMetadata(s, { shelved_at: null, shelved_image_id: null, shelved_host: null }),
              },
              { event: 'compute_unshelve_instance' },
            );
            if (done && image) await this.snapshots.discard(image);
          } else if (stuck()) await this.fail(s.id, 'Timed out waiting for the unshelved instance to boot', undefined, { event: 'compute_unshelve_instance' });
        }
        return;
      case TASK.IMAGE_SNAPSHOT_PENDING:
      case TASK.IMAGE_PENDING_UPLOAD:
      case TASK.IMAGE_UPLOADING:
      case TASK.IMAGE_BACKUP:
        return this.snapshot(s);
      default:
    }
  }

  // ------------------------------------------------------------ rebuild

  /** REBUILDING: a server with no host (a failed build) is scheduled first; then the instance restarts. */
  private async rebuildSpawn(s: ServersTable): Promise<void> {
    const from = { vm: s.vm_state, task: s.task_state };
    if (s.host) {
      await this.transition(s.id, from, { task_state: TASK.REBUILD_SPAWNING });
      return;
    }
    const build = fromJson<BuildRequest | null>(s.requested_networks, null);
    let host: string;
    try {
      host = await this.schedule(s);
    } catch (e) {
      if (!(e instanceof NoValidHost)) throw e;
      await this.fail(s.id, e.message, e.message, { event: 'compute_rebuild_instance' });
      return;
    }
    try {
      await this.core.uow.run(async (w) => {
        const net = this.core.network.within(w);
        const has = await w.trx.selectFrom('ports').select('id').where('device_id', '=', s.id).execute();
        if (!has.length && build) {
          const ifaces = await allocatePorts(w, net, {
            serverId: s.id,
            projectId: s.project_id,
            host,
            requested: build.networks,
            securityGroupIds: build.securityGroupIds,
            user: this.buildUser(s, build),
            admin: systemContext(`req-rebuild-${s.id}`),
          });
          let position = 0;
          for (const i of ifaces) {
            await w.trx
              .insertInto('server_interfaces')
              .values({ port_id: i.portId, server_id: s.id, position: position++, preserve: i.preserve ? 1 : 0, tag: i.tag })
              .execute();
          }
        } else {
          await bindPorts(w, net, s.id, host, systemContext(`req-rebuild-${s.id}`));
        }
        await w.trx.updateTable('servers').set({ host, task_state: TASK.REBUILD_SPAWNING, updated_at: now() }).where('id', '=', s.id).execute();
        w.changed('server', s.id, s.project_id, 'update');
      });
    } catch (e) {
      const reason = e instanceof DomainError ? e.message : allocationFailure(e);
      await this.fail(s.id, reason, e instanceof Error ? (e.stack ?? reason) : reason, { event: 'compute_rebuild_instance' });
    }
  }

  // ------------------------------------------------------------ resize and cold migration

  /**
   * RESIZE_PREP: the conductor's MigrationTask — a migration record, a host (a resize may stay
   * on this one, allow_resize_to_same_host; a cold migration must leave it), then the compute
   * side: the server restarts with its new flavor (RESIZE_FINISH until the host has done so).
   */
  private async resizePrep(s: ServersTable): Promise<void> {
    const from = { vm: s.vm_state, task: s.task_state };
    const newFlavor = s.new_flavor ? (JSON.parse(s.new_flavor) as { id: string }) : null;
    const type: MigrationType = newFlavor ? 'resize' : 'migration';
    const sys = fromJson<Record<string, string>>(s.system_metadata, {});
    const existing = await this.store.db
      .selectFrom('migrations')
      .select(['id', 'status'])
      .where('instance_uuid', '=', s.id)
      .where('migration_type', '=', type)
      .orderBy('id', 'desc')
      .executeTakeFirst();
    if (existing?.status !== 'pre-migrating') {
      await this.core.uow.run(async (w) => {
        await recordMigration(w, s, { type, status: 'pre-migrating', oldFlavorId: s.flavor_id, newFlavorId: newFlavor?.id ?? s.flavor_id });
      });
    }
    let host: string;
    try {
      host = await this.schedule(s, { ignoreHosts: type === 'migration' ? [s.host ?? ''] : [], requestedHost: sys.migrate_host ?? null });
    } catch (e) {
      if (!(e instanceof NoValidHost)) throw e;
      const message = new NoValidHost(type === 'migration' ? 'No valid host found for cold migrate' : 'No valid host found for resize').message;
      await this.revertTask(s, 'conductor_migrate_server', message, {
        new_flavor: null,
        system_metadata: withSystemMetadata(s, { migrate_host: null }),
      });
      await this.core.uow.run(async (w) => {
        await updateMigration(w, s.id, [type], 'error');
      });
      return;
    }
    await this.transition(
      s.id,
      from,
      {
        task_state: TASK.RESIZE_FINISH,
        host,
        flavor: s.new_flavor ?? s.flavor,
        flavor_id: newFlavor?.id ?? s.flavor_id,
        old_flavor: s.flavor,
        new_flavor: s.new_flavor ?? s.flavor,
        reboot_seq: s.reboot_seq + 1,
        system_metadata: withSystemMetadata(s, { migrate_host: null }),
      },
      {
        event: 'conductor_migrate_server',
        also: async (w) => {
          await updateMigration(w, s.id, [type], 'post-migrating', host);
          await startEvent(w, s.id, 'compute_finish_resize', host);
          // Another host: the ports follow (finish_resize's migrate_instance_finish), its zone too.
          if (host !== s.host) await this.moveTo(w, s, host, `req-resize-${s.id}`);
        },
      },
    );
  }

  /**
   * The server is on `host` now: its ports bound there (binding:host_id; a live migration's
   * migrating_to dropped) and its availability zone that host's. The server's own row is the
   * caller's update.
   */
  private async moveTo(w: Work, s: ServersTable, host: string, requestId: string): Promise<void> {
    await bindPorts(w, this.core.network.within(w), s.id, host, systemContext(requestId));
    const zone = (await hostZones(w.trx)).get(host) ?? DEFAULT_AZ;
    await w.trx.updateTable('servers').set({ availability_zone: zone }).where('id', '=', s.id).execute();
  }

  /** RESIZE_REVERTING: the old flavor back (the instance restarts on it), then its state before the resize. */
  private async revertResize(s: ServersTable): Promise<void> {
    const from = { vm: s.vm_state, task: s.task_state };
    if (s.new_flavor !== null && s.old_flavor !== null) {
      const old = JSON.parse(s.old_flavor) as { id: string };
      // Back to the source host (revert_resize: the instance is finished there, its ports rebound).
      const m = await this.store.db
        .selectFrom('migrations')
        .select('source_compute')
        .where('instance_uuid', '=', s.id)
        .where('migration_type', 'in', ['resize', 'migration'])
        .orderBy('id', 'desc')
        .executeTakeFirst();
      const source = m?.source_compute ?? s.host;
      await this.transition(
        s.id,
        from,
        { flavor: s.old_flavor, flavor_id: old.id, old_flavor: null, new_flavor: null, reboot_seq: s.reboot_seq + 1, host: source },
        {
          also: async (w) => {
            if (source && source !== s.host) await this.moveTo(w, s, source, `req-revert-${s.id}`);
          },
        },
      );
      return;
    }
    const sys = fromJson<Record<string, string>>(s.system_metadata, {});
    const stopped = sys.old_vm_state === VM.STOPPED;
    if (this.settled(s, stopped ? 'stopped' : 'running')) {
      await this.transition(
        s.id,
        from,
        {
          vm_state: stopped ? VM.STOPPED : VM.ACTIVE,
          task_state: null,
          power_state: stopped ? POWER.SHUTDOWN : POWER.RUNNING,
          system_metadata: withSystemMetadata(s, { old_vm_state: null }),
        },
        {
          event: 'compute_finish_revert_resize',
          also: async (w) => {
            await updateMigration(w, s.id, ['resize', 'migration'], 'reverted');
          },
        },
      );
    } else if (Date.now() - Date.parse(s.updated_at) > 300_000) {
      await this.fail(s.id, 'Timed out waiting for the reverted instance to boot', undefined, { event: 'compute_finish_revert_resize' });
    }
  }

  // ------------------------------------------------------------ live migration

  /**
   * MIGRATING, once the conductor chose the destination (its migration `queued`): the compute
   * side of a live migration (ComputeManager.live_migration, then _post_live_migration).
   *
   * Between two hosts whose instance hosts share one kernel (nodes.ts handoverHomes: the lab's
   * simulated hosts) the running machine is handed over: the migration goes `running` with the
   * server still on its source, whose agent hands the machine to the destination's and switches
   * the server there (`handedOver`: host, ports bound, migrating_to dropped —
   * post_live_migration_at_destination —, migration `post-migrating`); it is `completed` once the
   * destination reports the machine it adopted. Its processes, memory and disk never stop.
   *
   * Otherwise (different kernels, or no instance host) the server switches to the destination at
   * once (migration `running`) and the destination's agent starts it again from its image while
   * the source's lets it go (a new boot generation): `completed` when the destination reports it
   * running. Memory is not copied between machines.
   */
  private async liveMigration(s: ServersTable, stuck: boolean): Promise<void> {
    const from = { vm: s.vm_state, task: s.task_state };
    const m = await this.liveMigrationOf(s.id);
    if (!m?.dest_compute) return;
    const dest = m.dest_compute;
    const handover = this.managed ? await handoverHomes(this.store.db, m.source_compute, dest) : null;
    if (m.status === 'queued' || m.status === 'preparing') {
      await this.transition(s.id, from, handover ? {} : { host: dest, reboot_seq: s.reboot_seq + 1 }, {
        also: async (w) => {
          if (!handover) await this.moveTo(w, s, dest, `req-live-migration-${s.id}`);
          await updateMigration(w, s.id, ['live-migration'], 'running');
        },
      });
      return;
    }
    const power = s.vm_state === VM.PAUSED ? POWER.PAUSED : POWER.RUNNING;
    const landed = s.host === dest && (!this.managed || (s.reboot_done_seq >= s.reboot_seq && s.power_state === power));
    if ((m.status === 'running' || m.status === 'post-migrating') && landed) {
      await this.transition(
        s.id,
        from,
        { task_state: null, power_state: power },
        {
          event: 'compute_live_migration',
          also: async (w) => {
            await updateMigration(w, s.id, ['live-migration'], 'completed');
          },
        },
      );
    } else if (stuck && m.status === 'running' && s.host !== dest) {
      // The source never handed it over: it keeps running there (_rollback_live_migration).
      await this.rollbackLiveMigration(s, 'error', `Timed out waiting for ${m.source_compute ?? 'the source'} to hand the instance over to ${dest}`);
    } else if (stuck) {
      await this.core.uow.run(async (w) => {
        await updateMigration(w, s.id, ['live-migration'], 'failed');
      });
      await this.fail(s.id, `Timed out waiting for the instance to start on ${dest}`, undefined, { event: 'compute_live_migration' });
    }
  }

  private liveMigrationOf(id: string) {
    return this.store.db
      .selectFrom('migrations')
      .selectAll()
      .where('instance_uuid', '=', id)
      .where('migration_type', '=', 'live-migration')
      .orderBy('id', 'desc')
      .executeTakeFirst();
  }

  /** _rollback_live_migration after a failure: the server stays on its source (migrations.ts). */
  private async rollbackLiveMigration(s: ServersTable, status: 'error', message: string): Promise<boolean> {
    return this.core.uow.run((w) => rollbackLiveMigration(w, this.core.network.within(w), s.id, status, message));
  }

  /**
   * The source's agent handed the machine over (host.ts Handover): the server is the
   * destination's from this transaction on — its host and zone, its ports bound there with
   * migrating_to dropped, a boot generation the destination adopts the machine at —, the
   * migration `post-migrating`. Refused (false) unless the migration is still `running` with the
   * server on its source: an abort that committed first wins, and the source takes it back.
   */
  async handedOver(id: string, migration: string): Promise<boolean> {
    return this.core.uow.run(async (w) => {
      const m = await w.trx.selectFrom('migrations').selectAll().where('uuid', '=', migration).executeTakeFirst();
      const s = await w.trx.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst();
      if (!m || !s || m.instance_uuid !== id || m.migration_type !== 'live-migration' || m.status !== 'running' || !m.dest_compute) return false;
      if (s.task_state !== TASK.MIGRATING || s.host !== m.source_compute) return false;
      await w.trx
        .updateTable('servers')
        .set({ host: m.dest_compute, reboot_seq: s.reboot_seq + 1, updated_at: now() })
        .where('id', '=', id)
        .execute();
      await this.moveTo(w, s, m.dest_compute, `req-live-migration-${id}`);
      await w.trx.updateTable('migrations').set({ status: 'post-migrating', updated_at: now() }).where('id', '=', m.id).execute();
      w.changed('server', id, s.project_id, 'update');
      return true;
    });
  }

  // ------------------------------------------------------------ shelving

  /**
   * SHELVING: the instance stops, its snapshot uploads (`<name>-shelved`), then it is offloaded at
   * once (Nova's default shelved_offload_time is 0).
   */
  private async shelve(s: ServersTable): Promise<void> {
    const from = { vm: s.vm_state, task: s.task_state };
    const sys = fromJson<Record<string, string>>(s.system_metadata, {});
    if (s.task_state === TASK.SHELVING) {
      if (this.managed && s.power_state === POWER.RUNNING) return;
      await this.transition(s.id, from, { task_state: TASK.SHELVING_IMAGE_UPLOADING, power_state: POWER.SHUTDOWN });
      return;
    }
    const image = sys.shelved_image_id;
    const status = image ? await this.snapshots.status(image) : null;
    if (image && status === 'queued') await this.snapshots.upload(s, image);
    else if (image && status !== 'active') {
      // An upload cut off (a restart) or the image deleted meanwhile: the shelve cannot complete.
      if (status !== null) await this.snapshots.discard(image);
      await this.revertTask(s, 'compute_shelve_instance', `Image ${image} could not be uploaded: the shelve was interrupted`, {
        power_desired: 'running',
        system_metadata: withSystemMetadata(s, { shelved_image_id: null, shelved_at: null, shelved_host: null }),
      });
      return;
    }
    const shelvedAt = now();
    const moved = await this.transition(
      s.id,
      from,
      {
        vm_state: VM.SHELVED,
        task_state: TASK.SHELVING_OFFLOADING,
        power_state: POWER.SHUTDOWN,
        system_metadata: withSystemMetadata(s, { shelved_at: shelvedAt, shelved_host: s.host ?? '' }),
      },
      {
        event: 'compute_shelve_instance',
        also: async (w) => {
          await startEvent(w, s.id, 'compute_shelve_offload_instance', s.host);
        },
      },
    );
    if (moved) {
      const now2 = await this.store.db.selectFrom('servers').selectAll().where('id', '=', s.id).executeTakeFirst();
      if (now2) await this.offload(now2, 'compute_shelve_offload_instance');
    }
  }

  /** Offload: the server leaves its host (its ports unbound, the instance host removes it). */
  private async offload(s: ServersTable, event: string): Promise<void> {
    await this.core.uow.run(async (w) => {
      const cur = await w.trx.selectFrom('servers').select(['vm_state', 'task_state']).where('id', '=', s.id).executeTakeFirst();
      if (!cur || cur.task_state !== TASK.SHELVING_OFFLOADING) return;
      await bindPorts(w, this.core.network.within(w), s.id, null, systemContext(`req-offload-${s.id}`));
      await w.trx
        .updateTable('servers')
        .set({ vm_state: VM.SHELVED_OFFLOADED, task_state: null, host: null, power_state: POWER.SHUTDOWN, updated_at: now() })
        .where('id', '=', s.id)
        .execute();
      await finishEvent(w, s.id, event);
      w.changed('server', s.id, s.project_id, 'update');
    });
  }

  /** UNSHELVING: the conductor schedules the server again; the compute host spawns it from its snapshot. */
  private async unshelve(s: ServersTable): Promise<void> {
    if (s.vm_state === VM.SHELVED && s.host) {
      await this.transition(
        s.id,
        { vm: s.vm_state, task: s.task_state },
        { task_state: TASK.SPAWNING, power_desired: 'running', reboot_seq: s.reboot_seq + 1 },
        { event: 'conductor_unshelve_instance' },
      );
      return;
    }
    let host: string;
    try {
      host = await this.schedule(s);
    } catch (e) {
      if (!(e instanceof NoValidHost)) throw e;
      await this.revertTask(s, 'conductor_unshelve_instance', e.message);
      return;
    }
    await this.core.uow.run(async (w) => {
      const cur = await w.trx.selectFrom('servers').select(['vm_state', 'task_state']).where('id', '=', s.id).executeTakeFirst();
      if (!cur || cur.task_state !== TASK.UNSHELVING) return;
      await bindPorts(w, this.core.network.within(w), s.id, host, systemContext(`req-unshelve-${s.id}`));
      await w.trx
        .updateTable('servers')
        .set({ host, task_state: TASK.SPAWNING, power_desired: 'running', reboot_seq: s.reboot_seq + 1, updated_at: now() })
        .where('id', '=', s.id)
        .execute();
      await finishEvent(w, s.id, 'conductor_unshelve_instance');
      await startEvent(w, s.id, 'compute_unshelve_instance', host);
      w.changed('server', s.id, s.project_id, 'update');
    });
  }

  // ------------------------------------------------------------ snapshots

  /** IMAGE_*: upload the snapshot (or backup, then rotate), then the server is as it was. */
  private async snapshot(s: ServersTable): Promise<void> {
    const sys = fromJson<Record<string, string>>(s.system_metadata, {});
    const image = sys.snapshot_image_id;
    const backup = s.task_state === TASK.IMAGE_BACKUP;
    const event = backup ? 'compute_backup_instance' : 'compute_snapshot_instance';
    const status = image ? await this.snapshots.status(image) : null;
    if (!image || (status !== 'queued' && status !== 'active')) {
      if (image && status !== null) await this.snapshots.discard(image);
      await this.revertTask(s, event, `Image ${image ?? ''} could not be uploaded: the snapshot was interrupted`, {
        system_metadata: withSystemMetadata(s, { snapshot_image_id: null, backup_type: null, backup_rotation: null }),
      });
      return;
    }
    if (status === 'queued') {
      await this.transition(s.id, { vm: s.vm_state, task: s.task_state }, { task_state: backup ? TASK.IMAGE_BACKUP : TASK.IMAGE_UPLOADING });
      await this.snapshots.upload(s, image);
    }
    if (backup && sys.backup_type !== undefined) await this.snapshots.rotate(s, sys.backup_type, Number(sys.backup_rotation ?? 0));
    await this.core.uow.run(async (w) => {
      const res = await w.trx
        .updateTable('servers')
        .set({
          task_state: null,
          system_metadata: withSystemMetadata(s, { snapshot_image_id: null, backup_type: null, backup_rotation: null }),
          updated_at: now(),
        })
        .where('id', '=', s.id)
        .where('task_state', 'in', [TASK.IMAGE_SNAPSHOT_PENDING, TASK.IMAGE_PENDING_UPLOAD, TASK.IMAGE_UPLOADING, TASK.IMAGE_BACKUP])
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return;
      await finishEvent(w, s.id, event);
      w.changed('server', s.id, s.project_id, 'update');
    });
  }

  // ------------------------------------------------------------ the instance host's reports

  /** An instance host's report about what an instance is really doing. */
  async reportInstance(id: string, r: InstanceReport): Promise<void> {
    const row = await this.store.db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return;
    if (r.error && row.vm_state === VM.BUILDING) {
      // A late report of an earlier attempt (a host the build has left) changes nothing.
      if (r.rebootSeq < row.reboot_seq) return;
      if (r.spawnFailed && row.task_state === TASK.SPAWNING && row.host) {
        await this.spawnFailed(row, r.error);
        return;
      }
      // An image the host cannot use, a port it cannot plug: BuildAbortException, not rescheduled.
      await this.fail(id, `Build of instance ${id} aborted: ${r.error}`, undefined, {
        event: 'compute__do_build_and_run_instance',
        failedOn: row.host,
        buildRetry: null,
      });
      return;
    }
    const power =
      r.power === 'running'
        ? POWER.RUNNING
        : r.power === 'paused'
          ? POWER.PAUSED
          : r.power === 'suspended'
            ? POWER.SUSPENDED
            : r.power === 'crashed'
              ? POWER.CRASHED
              : POWER.SHUTDOWN;
    // A report may complete a pending change (the manager decides which): it is published even
    // when nothing in the row changed.
    await this.core.uow.run(async (w) => {
      if (row.power_state !== power || row.reboot_done_seq !== r.rebootSeq) {
        await w.trx.updateTable('servers').set({ power_state: power, reboot_done_seq: r.rebootSeq, updated_at: now() }).where('id', '=', id).execute();
      }
      w.changed('server', id, row.project_id, 'status');
    });
  }
}
