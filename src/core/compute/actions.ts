/**
 * Server actions (POST /servers/{id}/action) that change a server's state: each starts as
 * nova/compute/api.py starts it (policy, lock, state, task_state, instance action; tasks.ts) and
 * the ComputeManager carries it out (lifecycle.ts) — at once without an instance host, when the
 * host reports it done on --dataplane netns. Rebuild, resize, snapshots and shelving have modules
 * of their own; this one holds the power and lock actions, rescue, passwords, crash dumps,
 * security groups, migrations as Nova answers them on one host, and the console log.
 */
import type { ServersTable } from '../../store/schema.js';
import { type RequestContext, systemContext } from '../context.js';
import { DomainError } from '../errors.js';
import { DEFAULT_AZ, hostZones } from './aggregates.js';
import { type ComputeCore, now } from './core.js';
import { novaBadRequest, novaConflict, novaGone, novaNotFound, policyDenied } from './errors.js';
import { readConsoleOutput } from './host.js';
import { ACTION, finishEvent, recordAction, startEvent } from './instance-actions.js';
import { recordMigration } from './migrations.js';
import { bindPorts, markPortsMigrating, resolveSecurityGroups } from './network.js';
import { computeNodes } from './nodes.js';
import { RAM_ALLOCATION_RATIO, RESERVED_HOST_MEMORY_MB, flavorResources, hostUsage } from './placement.js';
import { generatePassword } from './passwords.js';
import { adminOnly } from './policy.js';
import { NoValidHost, scheduleServer } from './scheduler.js';
import { serviceIsUp } from './services.js';
import type { Servers } from './servers.js';
import { ALLOW_HARD_REBOOT, ALLOW_REBOOT_TASKS, ALLOW_SOFT_REBOOT, ALLOW_TRIGGER_CRASH_DUMP, TASK, VM } from './states.js';
import { startAction, withSystemMetadata } from './tasks.js';

export interface LiveMigrate {
  host: string | null;
  /** 2.34: the conductor's checks run after the API answered. */
  async: boolean;
  /** The host is forced (a host before 2.30, `force` 2.30-2.67): checked, not scheduled. */
  force?: boolean;
}

export class ServerActions {
  constructor(
    private readonly core: ComputeCore,
    private readonly servers: Servers,
  ) {}

  private get store() {
    return this.core.store;
  }

  // ------------------------------------------------------------ power

  async stop(ctx: RequestContext, id: string): Promise<void> {
    await startAction(this.core, ctx, id, {
      action: 'stop',
      check: { vm: [VM.ACTIVE, VM.ERROR] },
      record: { action: ACTION.STOP, event: 'compute_stop_instance' },
      set: () => ({ task_state: TASK.POWERING_OFF, power_desired: 'stopped', progress: 0 }),
    });
  }

  async start(ctx: RequestContext, id: string): Promise<void> {
    await startAction(this.core, ctx, id, {
      action: 'start',
      check: { vm: [VM.STOPPED] },
      record: { action: ACTION.START, event: 'compute_start_instance' },
      set: () => ({ task_state: TASK.POWERING_ON, power_desired: 'running' }),
    });
  }

  /** Soft reboots need an active server with no task; a hard reboot also rescues stuck ones. */
  async reboot(ctx: RequestContext, id: string, hard: boolean): Promise<void> {
    await startAction(this.core, ctx, id, {
      action: 'reboot',
      check: hard ? { vm: ALLOW_HARD_REBOOT, task: ALLOW_REBOOT_TASKS } : { vm: ALLOW_SOFT_REBOOT, task: [null] },
      record: { action: ACTION.REBOOT, event: 'compute_reboot_instance' },
      set: (row) => ({
        task_state: hard ? TASK.REBOOTING_HARD : TASK.REBOOTING,
        power_desired: 'running',
        reboot_seq: row.reboot_seq + 1,
      }),
    });
  }

  async pause(ctx: RequestContext, id: string): Promise<void> {
    await startAction(this.core, ctx, id, {
      action: 'pause',
      check: { vm: [VM.ACTIVE] },
      record: { action: ACTION.PAUSE, event: 'compute_pause_instance' },
      set: () => ({ task_state: TASK.PAUSING, power_desired: 'paused' }),
    });
  }

  async unpause(ctx: RequestContext, id: string): Promise<void> {
    await startAction(this.core, ctx, id, {
      action: 'unpause',
      check: { vm: [VM.PAUSED] },
      record: { action: ACTION.UNPAUSE, event: 'compute_unpause_instance' },
      set: () => ({ task_state: TASK.UNPAUSING, power_desired: 'running' }),
    });
  }

  async suspend(ctx: RequestContext, id: string): Promise<void> {
    await startAction(this.core, ctx, id, {
      action: 'suspend',
      check: { vm: [VM.ACTIVE] },
      record: { action: ACTION.SUSPEND, event: 'compute_suspend_instance' },
      set: () => ({ task_state: TASK.SUSPENDING, power_desired: 'suspended' }),
    });
  }

  /** resume has no check_instance_lock in Nova: a locked server can be resumed. */
  async resume(ctx: RequestContext, id: string): Promise<void> {
    await startAction(this.core, ctx, id, {
      action: 'resume',
      check: { vm: [VM.SUSPENDED] },
      lock: false,
      record: { action: ACTION.RESUME, event: 'compute_resume_instance' },
      set: () => ({ task_state: TASK.RESUMING, power_desired: 'running' }),
    });
  }

  // ------------------------------------------------------------ rescue

  /** Boot the rescue image (the server's own unless another is named); returns the rescue password. */
  async rescue(ctx: RequestContext, id: string, r: { adminPass?: string; rescueImageRef?: string }): Promise<string> {
    const password = r.adminPass ?? generatePassword();
    let imageId: string | undefined;
    if (r.rescueImageRef !== undefined) {
      imageId = r.rescueImageRef.split('/').pop()!;
      const image = await this.core.images.forBoot(ctx, imageId);
      if (!image) throw novaBadRequest(`Image ${imageId} is unacceptable: Unable to rescue instance`);
    }
    await startAction(this.core, ctx, id, {
      action: 'rescue',
      check: { vm: [VM.ACTIVE, VM.STOPPED, VM.ERROR] },
      record: { action: ACTION.RESCUE, event: 'compute_rescue_instance' },
      set: (row) => ({
        task_state: TASK.RESCUING,
        power_desired: 'running',
        rescue: 1,
        reboot_seq: row.reboot_seq + 1,
        system_metadata: withSystemMetadata(row, { old_vm_state: row.vm_state, rescue_image_ref: imageId ?? row.image_id }),
      }),
    });
    return password;
  }

  async unrescue(ctx: RequestContext, id: string): Promise<void> {
    await startAction(this.core, ctx, id, {
      action: 'unrescue',
      check: { vm: [VM.RESCUED] },
      record: { action: ACTION.UNRESCUE, event: 'compute_unrescue_instance' },
      set: (row) => ({ task_state: TASK.UNRESCUING, power_desired: 'running', rescue: 0, reboot_seq: row.reboot_seq + 1 }),
    });
  }

  // ------------------------------------------------------------ lock

  /** lock (2.73: with a reason); a project's own lock cannot be re-locked, an admin's can. */
  async lock(ctx: RequestContext, id: string, reason: string | null): Promise<void> {
    await this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      const isOwner = row.project_id === ctx.projectId;
      if (row.locked_by && isOwner) return;
      await recordAction(w, ctx, row, ACTION.LOCK, { name: 'api_lock', host: this.core.hostname });
      await w.trx
        .updateTable('servers')
        .set({
          locked_by: isOwner ? 'owner' : 'admin',
          system_metadata: reason ? withSystemMetadata(row, { locked_reason: reason }) : row.system_metadata,
          updated_at: now(),
        })
        .where('id', '=', id)
        .execute();
      await finishEvent(w, row.id, 'api_lock');
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
  }

  /** unlock: a lock taken by the other side (owner/admin) needs unlock_override (admins). */
  async unlock(ctx: RequestContext, id: string): Promise<void> {
    await this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      const expected = row.project_id === ctx.projectId ? 'owner' : 'admin';
      if (row.locked_by && row.locked_by !== expected && !ctx.isAdmin) throw policyDenied('os_compute_api:os-lock-server:unlock:unlock_override');
      await recordAction(w, ctx, row, ACTION.UNLOCK, { name: 'api_unlock', host: this.core.hostname });
      await w.trx
        .updateTable('servers')
        .set({ locked_by: null, system_metadata: withSystemMetadata(row, { locked_reason: null }), updated_at: now() })
        .where('id', '=', id)
        .execute();
      await finishEvent(w, row.id, 'api_unlock');
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
  }

  // ------------------------------------------------------------ guest agent and crash dumps

  /**
   * changePassword: set_admin_password is a synchronous call to the compute host, whose driver
   * needs a guest agent; instances here have none, so it fails as libvirt without the QEMU guest
   * agent does (409 InstanceAgentNotEnabled) and the server is left as it was.
   */
  async changePassword(ctx: RequestContext, id: string): Promise<void> {
    await startAction(this.core, ctx, id, {
      action: 'changePassword',
      check: { vm: [VM.ACTIVE] },
      record: { action: ACTION.CHANGE_PASSWORD, event: 'compute_set_admin_password' },
      set: () => ({ task_state: TASK.UPDATING_PASSWORD }),
    });
    const message = 'Guest agent is not enabled for the instance';
    await this.core.uow.run(async (w) => {
      const row = await w.trx.selectFrom('servers').select(['project_id', 'task_state']).where('id', '=', id).executeTakeFirst();
      if (!row) return;
      if (row.task_state === TASK.UPDATING_PASSWORD) {
        await w.trx.updateTable('servers').set({ task_state: null, updated_at: now() }).where('id', '=', id).execute();
      }
      await finishEvent(w, id, 'compute_set_admin_password', { message: `nova.exception.InstanceAgentNotEnabled: ${message}` });
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
    throw novaConflict(message);
  }

  /** trigger_crash_dump: an NMI to the instance (recorded; the instance host logs it). */
  async triggerCrashDump(ctx: RequestContext, id: string): Promise<void> {
    await this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      this.core.checkLocked(ctx, row);
      if (!row.host) throw novaConflict(`Instance ${id} is not ready`);
      this.core.checkState(row, 'trigger_crash_dump', { vm: ALLOW_TRIGGER_CRASH_DUMP });
      await recordAction(w, ctx, row, ACTION.TRIGGER_CRASH_DUMP, { name: 'compute_trigger_crash_dump', host: row.host });
      await finishEvent(w, row.id, 'compute_trigger_crash_dump');
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
  }

  // ------------------------------------------------------------ moving servers

  /**
   * os-migrateLive: the API starts it (task MIGRATING, the action), the conductor's
   * LiveMigrationTask picks and checks the destination, then the compute manager moves the server
   * (lifecycle.ts). A forced host (a `host` before 2.30, `force` to 2.67) is checked as Nova checks
   * it — not the source, its service up, enough free memory —; otherwise the scheduler chooses,
   * among the other hosts (or only the one asked for). A refusal puts the migration in `error`
   * and leaves the server where it was: before 2.34 the API answers it (400), from 2.34 it has
   * already answered 202.
   */
  async liveMigrate(ctx: RequestContext, id: string, m: LiveMigrate): Promise<void> {
    adminOnly(ctx, `os_compute_api:os-migrate-server:migrate_live${m.host ? ':host' : ''}`);
    if (m.host) {
      const svc = await this.store.db
        .selectFrom('compute_services')
        .select('host')
        .where('host', '=', m.host)
        .where('binary', '=', 'nova-compute')
        .executeTakeFirst();
      if (!svc) throw novaBadRequest(`Compute host ${m.host} could not be found.`);
    }
    const row = await startAction(this.core, ctx, id, {
      action: 'os-migrateLive',
      check: { vm: [VM.ACTIVE, VM.PAUSED] },
      record: { action: ACTION.LIVE_MIGRATION, event: 'conductor_live_migrate_instance' },
      set: () => ({ task_state: TASK.MIGRATING }),
    });
    let dest: string;
    try {
      dest = await this.liveDestination(row, m);
    } catch (e) {
      if (!(e instanceof MoveRefused) && !(e instanceof NoValidHost)) throw e;
      await this.core.uow.run(async (w) => {
        await recordMigration(w, row, { type: 'live-migration', status: 'error', dest: m.host && m.host !== row.host ? m.host : null });
        await w.trx.updateTable('servers').set({ task_state: null, updated_at: now() }).where('id', '=', id).where('task_state', '=', TASK.MIGRATING).execute();
        await finishEvent(w, id, 'conductor_live_migrate_instance', { message: e.message });
        w.changed('server', id, row.project_id, 'update');
      }, ctx);
      if (!m.async) throw novaBadRequest(e.message);
      return;
    }
    const admin = systemContext(ctx.requestId);
    await this.core.uow.run(async (w) => {
      await recordMigration(w, row, { type: 'live-migration', status: 'queued', dest });
      // setup_networks_on_host(dest): the ports say where they are going while bound here.
      await markPortsMigrating(w, this.core.network.within(w), id, dest, admin);
      await finishEvent(w, id, 'conductor_live_migrate_instance');
      await startEvent(w, id, 'compute_live_migration', row.host);
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
  }

  /** LiveMigrationTask._execute's checks and destination. */
  private async liveDestination(row: ServersTable, m: LiveMigrate): Promise<string> {
    const db = this.store.db;
    const service = (host: string) =>
      db.selectFrom('compute_services').selectAll().where('host', '=', host).where('binary', '=', 'nova-compute').executeTakeFirst();
    const up = async (host: string) => {
      const svc = await service(host);
      if (!svc || !serviceIsUp(svc)) throw new MoveRefused(`Compute service of ${host} is unavailable at this time.`);
    };
    const source = row.host ?? '';
    await up(source);
    if (!m.host || !m.force) return scheduleServer(db, row, { ignoreHosts: [source], requestedHost: m.host });
    if (m.host === source) throw new MoveRefused(`Unable to migrate instance (${row.id}) to current host (${source}).`);
    await up(m.host);
    // _check_destination_has_enough_memory: the node's free RAM (after reserved_host_memory_mb)
    // against the flavor's, as Python prints the float it computes.
    const node = (await computeNodes(db)).get(m.host);
    const used = (await hostUsage(db)).get(m.host)?.memoryMb ?? 0;
    const ram = flavorResources(row.flavor).memoryMb;
    const avail = node ? (node.memory_mb - RESERVED_HOST_MEMORY_MB - used) * RAM_ALLOCATION_RATIO : 0;
    if (!ram || avail <= ram) {
      const shown = Number.isInteger(avail) ? avail.toFixed(1) : String(avail);
      throw new MoveRefused(`Migration pre-check error: Unable to migrate ${row.id} to ${m.host}: Lack of memory(host:${shown} <= instance:${ram})`);
    }
    return m.host;
  }

  /**
   * evacuate (admins): rebuild elsewhere a server whose compute service is down. While its
   * host's service is up Nova refuses (400 ComputeServiceInUse); once it is down (forced down, or
   * no heartbeat) the conductor schedules it to another host — none: the server goes to ERROR with
   * NoValidHost. Returns the admin password before 2.14.
   */
  async evacuate(ctx: RequestContext, id: string, e: { host: string | null; adminPass?: string }): Promise<string> {
    const row0 = await this.core.row(ctx, id);
    adminOnly(ctx, 'os_compute_api:os-evacuate');
    const password = e.adminPass ?? generatePassword();
    if (e.host !== null) {
      const svc = await this.store.db
        .selectFrom('compute_services')
        .select('host')
        .where('host', '=', e.host)
        .where('binary', '=', 'nova-compute')
        .executeTakeFirst();
      if (!svc) throw novaNotFound(`Compute host ${e.host} not found.`);
    }
    if (row0.host === e.host) throw novaBadRequest("The target host can't be the same one.");
    const row = await startAction(this.core, ctx, id, {
      action: 'evacuate',
      check: { vm: [VM.ACTIVE, VM.STOPPED, VM.ERROR], task: [null] },
      lock: false,
      verify: async (r, w) => {
        const svc = r.host
          ? await w.trx.selectFrom('compute_services').selectAll().where('host', '=', r.host).where('binary', '=', 'nova-compute').executeTakeFirst()
          : undefined;
        if (svc && serviceIsUp(svc)) throw novaBadRequest(`Compute service of ${r.host} is still in use.`);
      },
      record: { action: ACTION.EVACUATE, event: 'conductor_rebuild_server' },
      set: () => ({ task_state: TASK.REBUILDING }),
    });
    // The conductor's rebuild_instance for an evacuation: scheduled away from the dead host (or to
    // the one asked for), the server is rebuilt there — its ports bound there, a fresh root file
    // system (non-shared storage) its agent boots; the migration is done when it runs.
    let dest: string | null = null;
    let reason = new NoValidHost().message;
    try {
      dest = await scheduleServer(this.store.db, row, { ignoreHosts: [row.host ?? ''], requestedHost: e.host });
    } catch (err) {
      if (!(err instanceof NoValidHost)) throw err;
      reason = err.message;
    }
    if (dest !== null) {
      const to = dest;
      const admin = systemContext(ctx.requestId);
      await this.core.uow.run(async (w) => {
        await recordMigration(w, row, { type: 'evacuation', status: 'pre-migrating', dest: to });
        await bindPorts(w, this.core.network.within(w), id, to, admin);
        const zone = (await hostZones(w.trx)).get(to) ?? DEFAULT_AZ;
        await w.trx
          .updateTable('servers')
          .set({ host: to, availability_zone: zone, reboot_seq: row.reboot_seq + 1, rebuild_seq: row.rebuild_seq + 1, updated_at: now() })
          .where('id', '=', id)
          .execute();
        await finishEvent(w, id, 'conductor_rebuild_server');
        await startEvent(w, id, 'compute_rebuild_instance', to);
        w.changed('server', id, row.project_id, 'update');
      }, ctx);
      return password;
    }
    await this.core.uow.run(async (w) => {
      await recordMigration(w, row, { type: 'evacuation', status: 'error', dest: e.host });
      const fault = { code: 500, message: reason, details: reason, created: now().replace(/\.\d+Z$/, 'Z') };
      await w.trx
        .updateTable('servers')
        .set({ vm_state: VM.ERROR, task_state: null, fault: JSON.stringify(fault), updated_at: now() })
        .where('id', '=', id)
        .execute();
      await finishEvent(w, id, 'conductor_rebuild_server', { message: reason });
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
    return password;
  }

  // ------------------------------------------------------------ admin actions

  /** os-resetState (admins): force vm_state active or error and clear the task. */
  async resetState(ctx: RequestContext, id: string, state: 'active' | 'error'): Promise<void> {
    adminOnly(ctx, 'os_compute_api:os-admin-actions:reset_state');
    await this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      await recordAction(w, ctx, row, ACTION.RESET_STATE);
      await w.trx.updateTable('servers').set({ vm_state: state, task_state: null, updated_at: now() }).where('id', '=', id).execute();
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
  }

  async injectNetworkInfo(ctx: RequestContext, id: string): Promise<void> {
    adminOnly(ctx, 'os_compute_api:os-admin-actions:inject_network_info');
    const row = await this.core.row(ctx, id);
    this.core.checkLocked(ctx, row);
  }

  /** resetNetwork was removed from Nova (23.0.0): 410 at every microversion. */
  resetNetwork(): never {
    throw novaGone();
  }

  /** forceDelete: there is no soft delete here, so every server is deleted at once. */
  async forceDelete(ctx: RequestContext, id: string): Promise<void> {
    const row = await this.core.row(ctx, id);
    this.core.checkLocked(ctx, row);
    this.core.checkState(row, 'forceDelete', { vm: null, task: [null], launched: false });
    return this.servers.delete(ctx, id);
  }

  /** restore: only a soft-deleted server can be restored, and none are (reclaim_instance_interval 0). */
  async restore(ctx: RequestContext, id: string): Promise<void> {
    const row = await this.core.row(ctx, id);
    this.core.checkLocked(ctx, row);
    this.core.checkState(row, 'restore', { vm: [VM.SOFT_DELETED] });
  }

  // ------------------------------------------------------------ security groups

  /** addSecurityGroup / removeSecurityGroup: the group on (or off) every port of the server. */
  async securityGroup(ctx: RequestContext, id: string, add: boolean, name: string): Promise<void> {
    const row = await this.core.row(ctx, id);
    let groupId: string;
    try {
      [groupId] = await resolveSecurityGroups(this.store, { ...ctx, projectId: row.project_id }, [name]);
    } catch (e) {
      if (e instanceof DomainError && e.status === 400) throw novaNotFound(e.message);
      throw e;
    }
    if (groupId === undefined) {
      // `default` is resolved by Neutron on create; here it must be looked up like any other.
      const g = await this.store.db
        .selectFrom('security_groups')
        .select('id')
        .where('project_id', '=', row.project_id)
        .where('name', '=', name)
        .executeTakeFirst();
      if (!g) throw novaNotFound(`Security group ${name} is not found for project ${row.project_id}`);
      groupId = g.id;
    }
    const admin = systemContext(ctx.requestId);
    await this.core.uow.run(async (w) => {
      const net = this.core.network.within(w);
      const ports = await w.trx.selectFrom('ports').select(['id', 'port_security_enabled']).where('device_id', '=', id).execute();
      if (!ports.length) throw novaNotFound(`instance_id ${id} could not be found as device id on any ports`);
      let found = false;
      for (const p of ports) {
        const groups = (await w.trx.selectFrom('port_security_groups').select('security_group_id').where('port_id', '=', p.id).execute()).map(
          (g) => g.security_group_id,
        );
        if (add) {
          if (p.port_security_enabled !== 1)
            throw novaBadRequest('Network requires port_security_enabled and subnet associated in order to apply security groups.');
          if (!groups.includes(groupId)) await net.update(admin, 'ports', p.id, { port: { security_groups: [...groups, groupId] } });
        } else if (groups.includes(groupId)) {
          await net.update(admin, 'ports', p.id, { port: { security_groups: groups.filter((g) => g !== groupId) } });
          found = true;
        }
      }
      if (!add && !found) throw novaNotFound(`Security group ${name} not associated with the instance ${id}`);
    }, ctx);
  }

  // ------------------------------------------------------------ consoles

  /** os-getConsoleOutput: the instance host's console log, or empty when none runs it. */
  async consoleOutput(ctx: RequestContext, id: string, length?: number | null): Promise<string> {
    const row = await this.core.row(ctx, id);
    if (!row.host) throw novaConflict(`Instance ${id} is not ready`);
    return readConsoleOutput(this.core.opts.dataDir, id, length === -1 ? null : length);
  }

  /**
   * Remote consoles (VNC, SPICE, RDP, serial, MKS): none is enabled on this cloud, so the compute
   * host answers as Nova's does with [vnc]/[spice]/[serial_console] enabled = False.
   */
  async remoteConsole(ctx: RequestContext, id: string, type: string): Promise<never> {
    const row = await this.core.row(ctx, id);
    if (!row.host) throw novaConflict(`Instance ${id} is not ready`);
    if (row.task_state === TASK.DELETING || row.task_state === TASK.MIGRATING) {
      throw novaConflict(`Cannot 'get_${type}_console' instance ${id} while it is in task_state ${row.task_state}`);
    }
    throw novaBadRequest(`Unavailable console type ${type}.`);
  }

  /** os-console-auth-tokens/{token} (admins, 2.31+): no console is ever opened here, so no token is known. */
  async consoleAuthToken(ctx: RequestContext, token: string): Promise<never> {
    adminOnly(ctx, 'os_compute_api:os-console-auth-tokens');
    if (!token) throw novaBadRequest('token not provided');
    throw novaNotFound('Token not found');
  }

  /** Record that a server's actions moved on (used by other modules in their transactions). */
  static async event(w: Parameters<typeof startEvent>[0], serverId: string, event: string, host: string | null): Promise<void> {
    await startEvent(w, serverId, event, host);
  }
}

/** A move the conductor refuses before it starts (ComputeServiceUnavailable, UnableToMigrateToSelf, MigrationPreCheckError). */
class MoveRefused extends Error {}
