/**
 * The part of the service the ComputeManager drives and instance hosts report to: the build
 * (schedule, allocate ports, SPAWNING), conditional state transitions, faults, and what an
 * instance host says an instance really does.
 */
import type { ServersTable } from '../../store/schema.js';
import { fromJson } from '../../store/db.js';
import { type RequestContext, systemContext } from '../context.js';
import { DomainError } from '../errors.js';
import { type BuildRequest, type ComputeCore, type Fault, now } from './core.js';
import type { InstanceReport, InstanceReports } from './host.js';
import { DEVICE_OWNER, allocatePorts, allocationFailure } from './network.js';
import { POWER, TASK, VM } from './states.js';

export class ServerLifecycle implements InstanceReports {
  constructor(private readonly core: ComputeCore) {}

  private get store() {
    return this.core.store;
  }

  /** Whether an instance host runs the servers (see ComputeOptions.instanceHost). */
  get managed(): boolean {
    return this.core.opts.instanceHost;
  }

  /** Servers a port belongs to that are waiting for it (the manager's work list). */
  async pendingServers(): Promise<ServersTable[]> {
    return this.store.db
      .selectFrom('servers')
      .selectAll()
      .where((eb) =>
        eb.or([eb('vm_state', '=', VM.BUILDING), eb('task_state', 'in', [TASK.POWERING_OFF, TASK.POWERING_ON, TASK.REBOOTING, TASK.REBOOTING_HARD])]),
      )
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

  /**
   * Schedule to this host and allocate the server's ports, all in one transaction with the
   * server's own update: a failure leaves no port behind and puts the server in ERROR.
   */
  async buildNetworks(id: string): Promise<void> {
    const row = await this.store.db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || row.vm_state !== VM.BUILDING || (row.task_state !== TASK.SCHEDULING && row.task_state !== TASK.NETWORKING)) return;
    const build = fromJson<BuildRequest | null>(row.requested_networks, null);
    if (!build) return;
    const user: RequestContext = {
      ...systemContext(`req-build-${id}`),
      userId: build.user.id,
      userName: build.user.name,
      projectId: row.project_id,
      projectName: null,
      projectDomainId: null,
      roles: build.user.roles,
      isAdmin: build.user.roles.includes('admin'),
    };
    const admin = systemContext(`req-build-${id}`);
    const host = this.core.hostname;
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
          user,
          admin,
        });
        let position = 0;
        for (const i of ifaces) {
          await w.trx
            .insertInto('server_interfaces')
            .values({ port_id: i.portId, server_id: id, position: position++, preserve: i.preserve ? 1 : 0, tag: i.tag })
            .execute();
        }
        await w.trx.updateTable('servers').set({ task_state: TASK.SPAWNING, host, updated_at: now() }).where('id', '=', id).execute();
        w.changed('server', id, row.project_id, 'update');
      });
    } catch (e) {
      const reason = e instanceof DomainError ? e.message : allocationFailure(e);
      await this.fail(id, `Build of instance ${id} aborted: ${reason}`, e instanceof Error ? (e.stack ?? reason) : reason);
      return;
    }
  }

  /** Put a server in ERROR with a fault (Nova's instance fault). */
  async fail(id: string, message: string, details?: string): Promise<void> {
    const fault: Fault = { code: 500, message, details, created: now().replace(/\.\d+Z$/, 'Z') };
    await this.core.uow.run(async (w) => {
      const row = await w.trx
        .updateTable('servers')
        .set({ vm_state: VM.ERROR, task_state: null, power_state: POWER.NOSTATE, fault: JSON.stringify(fault), updated_at: now() })
        .where('id', '=', id)
        .returning('project_id')
        .executeTakeFirst();
      if (row) w.changed('server', id, row.project_id, 'update');
    });
  }

  /** Conditional state change: only from the state it was seen in (a concurrent change wins). */
  async transition(id: string, from: { vm: string; task: string | null }, to: Partial<ServersTable>): Promise<boolean> {
    return this.core.uow.run(async (w) => {
      let qb = w.trx
        .updateTable('servers')
        .set({ ...to, updated_at: now() })
        .where('id', '=', id)
        .where('vm_state', '=', from.vm);
      qb = from.task === null ? qb.where('task_state', 'is', null) : qb.where('task_state', '=', from.task);
      const row = await qb.returning('project_id').executeTakeFirst();
      if (row) w.changed('server', id, row.project_id, 'update');
      return row !== undefined;
    });
  }

  /** An instance host's report about what an instance is really doing. */
  async reportInstance(id: string, r: InstanceReport): Promise<void> {
    const row = await this.store.db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return;
    if (r.error && row.vm_state === VM.BUILDING) {
      await this.fail(id, `Build of instance ${id} aborted: ${r.error}`);
      return;
    }
    const power = r.power === 'running' ? POWER.RUNNING : r.power === 'crashed' ? POWER.CRASHED : r.power === 'paused' ? POWER.PAUSED : POWER.SHUTDOWN;
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
