/**
 * Server actions (POST /servers/{id}/action): power, reboot, lock, security groups, reset state,
 * the console log, and the actions Nova has that this slice does not.
 */
import { type RequestContext, systemContext } from '../context.js';
import { DomainError } from '../errors.js';
import { type ComputeCore, now } from './core.js';
import { invalidState, novaBadRequest, novaConflict, novaNotFound, policyDenied } from './errors.js';
import { readConsoleOutput } from './host.js';
import { resolveSecurityGroups } from './network.js';
import { adminOnly } from './policy.js';
import type { Servers } from './servers.js';
import { TASK, VM } from './states.js';

/**
 * Actions Nova has that this slice does not implement, with the instance states Nova accepts them
 * in (its check_instance_state): the state check answers first (409), as in Nova; an action
 * that would be valid is a clear 501 instead of pretending. A Map: the action name is the client's.
 */
const UNIMPLEMENTED_ACTIONS = new Map<string, string[] | null>([
  ['resize', ['active', 'stopped']],
  ['confirmResize', ['resized']],
  ['revertResize', ['resized']],
  ['rebuild', ['active', 'stopped', 'error']],
  ['createImage', ['active', 'stopped', 'paused', 'suspended']],
  ['createBackup', ['active', 'stopped', 'paused', 'suspended']],
  ['changePassword', ['active']],
  ['pause', ['active']],
  ['unpause', ['paused']],
  ['suspend', ['active']],
  ['resume', ['suspended']],
  ['rescue', ['active', 'stopped', 'error']],
  ['unrescue', ['rescued']],
  ['shelve', ['active', 'stopped', 'paused', 'suspended']],
  ['shelveOffload', ['shelved']],
  ['unshelve', ['shelved', 'shelved_offloaded']],
  ['restore', ['soft_deleted']],
  ['trigger_crash_dump', ['active', 'paused', 'rescued', 'resized', 'error']],
  ['migrate', null],
  ['os-migrateLive', null],
  ['evacuate', null],
  ['resetNetwork', null],
  ['injectNetworkInfo', null],
  ['os-getVNCConsole', null],
  ['os-getSPICEConsole', null],
  ['os-getRDPConsole', null],
  ['os-getSerialConsole', null],
  ['addFixedIp', null],
  ['removeFixedIp', null],
  ['addFloatingIp', null],
  ['removeFloatingIp', null],
]);

export class ServerActions {
  constructor(
    private readonly core: ComputeCore,
    private readonly servers: Servers,
  ) {}

  private get store() {
    return this.core.store;
  }

  /** Run the action `name` (the body's one key) with its argument `body[name]`. */
  async run(ctx: RequestContext, id: string, name: string, body: Record<string, unknown>): Promise<void> {
    switch (name) {
      case 'os-stop':
        return this.power(ctx, id, 'stop');
      case 'os-start':
        return this.power(ctx, id, 'start');
      case 'reboot':
        return this.reboot(ctx, id, String((body.reboot as { type: string }).type).toUpperCase() === 'HARD');
      case 'lock':
        return this.lock(ctx, id, true);
      case 'unlock':
        return this.lock(ctx, id, false);
      case 'forceDelete':
        // There is no soft delete here, so every server is deleted at once: force-deleting is deleting.
        return this.servers.delete(ctx, id);
      case 'addSecurityGroup':
      case 'removeSecurityGroup':
        return this.securityGroupAction(ctx, id, name, body[name]);
      case 'os-resetState':
        return this.resetState(ctx, id, body[name]);
      default: {
        const states = UNIMPLEMENTED_ACTIONS.get(name);
        if (states === undefined) throw novaBadRequest(`There is no such action: ${name}`);
        const row = await this.core.row(ctx, id);
        if (states && !states.includes(row.vm_state)) throw invalidState(id, name, 'vm_state', row.vm_state);
        if (states && row.task_state !== null) throw invalidState(id, name, 'task_state', row.task_state);
        throw new DomainError('not_implemented', 'HTTPNotImplemented', `Action '${name}' is not implemented by this compute service.`);
      }
    }
  }

  /** addSecurityGroup / removeSecurityGroup: the group on (or off) every port of the server. */
  private async securityGroupAction(ctx: RequestContext, id: string, action: string, arg: unknown): Promise<void> {
    const row = await this.core.row(ctx, id);
    if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) throw novaBadRequest('Missing parameter dict');
    const name = (arg as { name?: unknown }).name;
    if (name === undefined) throw novaBadRequest('Security group not specified');
    if (typeof name !== 'string' || name.trim() === '') throw novaBadRequest('Security group name cannot be empty');
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
        if (action === 'addSecurityGroup') {
          if (p.port_security_enabled !== 1)
            throw novaBadRequest('Network requires port_security_enabled and subnet associated in order to apply security groups.');
          await net.update(admin, 'ports', p.id, { port: { security_groups: [...groups, groupId] } });
        } else if (groups.includes(groupId)) {
          await net.update(admin, 'ports', p.id, { port: { security_groups: groups.filter((g) => g !== groupId) } });
          found = true;
        }
      }
      if (action === 'removeSecurityGroup' && !found) throw novaNotFound(`Security group ${name} not associated with the instance ${id}`);
    });
  }

  /** os-resetState (admins): force vm_state active or error and clear the task. */
  private async resetState(ctx: RequestContext, id: string, arg: unknown): Promise<void> {
    adminOnly(ctx, 'os_compute_api:os-admin-actions:reset_state');
    const state = (arg as { state?: unknown } | null)?.state;
    if (state !== 'active' && state !== 'error') {
      throw novaBadRequest(`Invalid input for field/attribute state. Value: ${String(state)}. '${String(state)}' is not one of ['active', 'error']`);
    }
    await this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      await w.trx.updateTable('servers').set({ vm_state: state, task_state: null, updated_at: now() }).where('id', '=', id).execute();
      w.changed('server', id, row.project_id, 'update');
    });
  }

  private async power(ctx: RequestContext, id: string, what: 'stop' | 'start'): Promise<void> {
    await this.core.uow.run(async (w) => {
      const { trx } = w;
      const row = await this.core.row(ctx, id, w);
      this.core.checkLocked(ctx, row);
      if (what === 'stop') {
        if (row.vm_state !== VM.ACTIVE && row.vm_state !== VM.ERROR) throw invalidState(id, 'stop', 'vm_state', row.vm_state);
        if (row.task_state !== null) throw invalidState(id, 'stop', 'task_state', row.task_state);
        await trx.updateTable('servers').set({ task_state: TASK.POWERING_OFF, power_desired: 'stopped', updated_at: now() }).where('id', '=', id).execute();
      } else {
        if (row.vm_state !== VM.STOPPED) throw invalidState(id, 'start', 'vm_state', row.vm_state);
        if (row.task_state !== null) throw invalidState(id, 'start', 'task_state', row.task_state);
        await trx.updateTable('servers').set({ task_state: TASK.POWERING_ON, power_desired: 'running', updated_at: now() }).where('id', '=', id).execute();
      }
      w.changed('server', id, row.project_id, 'update');
    });
  }

  private async reboot(ctx: RequestContext, id: string, hard: boolean): Promise<void> {
    await this.core.uow.run(async (w) => {
      const { trx } = w;
      const row = await this.core.row(ctx, id, w);
      this.core.checkLocked(ctx, row);
      const vmOk = hard ? [VM.ACTIVE, VM.STOPPED, VM.ERROR, 'paused', 'suspended'] : [VM.ACTIVE];
      if (!vmOk.includes(row.vm_state as 'active')) throw invalidState(id, 'reboot', 'vm_state', row.vm_state);
      const taskOk = hard ? [null, TASK.REBOOTING, TASK.REBOOTING_HARD] : [null];
      if (!taskOk.includes(row.task_state as null)) throw invalidState(id, 'reboot', 'task_state', row.task_state);
      await trx
        .updateTable('servers')
        .set({ task_state: hard ? TASK.REBOOTING_HARD : TASK.REBOOTING, power_desired: 'running', reboot_seq: row.reboot_seq + 1, updated_at: now() })
        .where('id', '=', id)
        .execute();
      w.changed('server', id, row.project_id, 'update');
    });
  }

  private async lock(ctx: RequestContext, id: string, lock: boolean): Promise<void> {
    await this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      if (!lock && row.locked_by === 'admin' && !ctx.isAdmin) throw policyDenied('os_compute_api:os-lock-server:unlock:unlock_override');
      const by = lock ? (row.project_id === ctx.projectId ? 'owner' : 'admin') : null;
      if (lock && row.locked_by && row.project_id === ctx.projectId) return;
      await w.trx.updateTable('servers').set({ locked_by: by, updated_at: now() }).where('id', '=', id).execute();
      w.changed('server', id, row.project_id, 'update');
    });
  }

  /** os-getConsoleOutput: the instance host's console log, or empty when none runs it. */
  async consoleOutput(ctx: RequestContext, id: string, length?: number | null): Promise<string> {
    const row = await this.core.row(ctx, id);
    if (!row.host) throw novaConflict(`Instance ${id} is not ready`);
    return readConsoleOutput(this.core.opts.dataDir, id, length === -1 ? null : length);
  }
}
