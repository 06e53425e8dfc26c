/** os-interface: a server's ports, and attaching or detaching one (a new port on a network, or an existing port). */
import { type RequestContext, systemContext } from '../context.js';
import type { DomainError } from '../errors.js';
import type { ComputeCore } from './core.js';
import { invalidState, novaBadRequest, novaConflict, novaForbidden, novaNotFound } from './errors.js';
import { AllocationFailed, PORT_BINDING_FAILED, type RequestedNetworks, type ServerPort, allocatePorts, serverPorts } from './network.js';
import { VM } from './states.js';

/** What to attach: a network (a new port, optionally with a fixed IP), a port, or neither (Nova picks). */
export interface InterfaceAttach {
  networkId?: string;
  portId?: string;
  fixedIp?: string;
  tag?: string;
}

export class Interfaces {
  constructor(private readonly core: ComputeCore) {}

  private get store() {
    return this.core.store;
  }

  async list(ctx: RequestContext, id: string): Promise<ServerPort[]> {
    await this.core.row(ctx, id);
    return serverPorts(this.store.db, [id]);
  }

  async get(ctx: RequestContext, id: string, portId: string): Promise<ServerPort> {
    await this.core.row(ctx, id);
    const port = (await serverPorts(this.store.db, [id])).find((p) => p.id === portId);
    if (!port) {
      const exists = await this.store.db.selectFrom('ports').select(['id', 'project_id']).where('id', '=', portId).executeTakeFirst();
      if (!exists || (!ctx.isAdmin && exists.project_id !== ctx.projectId)) throw novaNotFound(`Port id ${portId} could not be found.`);
      throw novaNotFound(`Instance ${id} does not have a port with id ${portId}`);
    }
    return port;
  }

  /** Attach a network (a new port) or an existing port, in one transaction. */
  async attach(ctx: RequestContext, id: string, a: InterfaceAttach): Promise<ServerPort> {
    if (a.networkId && a.portId) throw novaBadRequest('Must not input both network_id and port_id');
    if (a.fixedIp && !a.networkId) throw novaBadRequest('Must input network_id when request IP address');
    const row = await this.core.row(ctx, id);
    this.core.checkLocked(ctx, row);
    const okStates: string[] = [VM.ACTIVE, 'paused', VM.STOPPED];
    if (!okStates.includes(row.vm_state) || row.task_state !== null) {
      throw invalidState(
        id,
        'attach_interface',
        row.task_state !== null && okStates.includes(row.vm_state) ? 'task_state' : 'vm_state',
        row.task_state !== null && okStates.includes(row.vm_state) ? row.task_state : row.vm_state,
      );
    }
    let requested: RequestedNetworks;
    if (a.portId) {
      const port = await this.store.db.selectFrom('ports').selectAll().where('id', '=', a.portId).executeTakeFirst();
      if (!port || (!ctx.isAdmin && port.project_id !== ctx.projectId)) throw novaNotFound(`Port id ${a.portId} could not be found.`);
      if (port.device_id) throw novaConflict(`Port ${a.portId} is still in use.`);
      requested = { kind: 'list', items: [{ portId: a.portId, tag: a.tag }] };
    } else if (a.networkId) {
      const net = await this.store.db
        .selectFrom('networks')
        .select(['id', 'project_id', 'shared', 'external'])
        .where('id', '=', a.networkId)
        .executeTakeFirst();
      if (!net || (!ctx.isAdmin && net.project_id !== ctx.projectId && !net.shared && !net.external))
        throw novaNotFound(`Network ${a.networkId} could not be found.`);
      requested = { kind: 'list', items: [{ networkId: a.networkId, fixedIp: a.fixedIp, tag: a.tag }] };
    } else {
      requested = { kind: 'auto' };
    }
    const admin = systemContext(ctx.requestId);
    let portId = '';
    try {
      await this.core.uow.run(async (w) => {
        const [iface] = await allocatePorts(w, this.core.network.within(w), {
          serverId: id,
          projectId: row.project_id,
          host: row.host ?? this.core.hostname,
          requested,
          securityGroupIds: [],
          user: ctx,
          admin,
        });
        if (!iface) throw novaBadRequest(`No specific network was requested and none are available for project '${row.project_id}'.`);
        const max = await w.trx
          .selectFrom('server_interfaces')
          .select(({ fn }) => fn.max<number>('position').as('m'))
          .where('server_id', '=', id)
          .executeTakeFirst();
        await w.trx
          .insertInto('server_interfaces')
          .values({ port_id: iface.portId, server_id: id, position: Number(max?.m ?? -1) + 1, preserve: iface.preserve ? 1 : 0, tag: iface.tag })
          .execute();
        portId = iface.portId;
        w.changed('server', id, row.project_id, 'update');
      }, ctx);
    } catch (e) {
      if (e instanceof AllocationFailed && e.type !== PORT_BINDING_FAILED) throw this.attachError(e.message, a.fixedIp);
      throw e;
    }
    return this.get(ctx, id, portId);
  }

  /** Build-time wording → the attach API's statuses (Nova maps its exceptions the same way). */
  private attachError(msg: string, fixedIp?: string): DomainError {
    if (msg.startsWith('Maximum number of ports')) return novaForbidden(msg);
    if (fixedIp && msg.includes('already in use')) return novaConflict(`Fixed IP address ${fixedIp} is already in use on instance.`);
    if (msg.startsWith('Multiple possible networks')) return novaConflict(msg);
    return novaBadRequest(msg);
  }

  async detach(ctx: RequestContext, id: string, portId: string): Promise<void> {
    const row = await this.core.row(ctx, id);
    this.core.checkLocked(ctx, row);
    const okStates: string[] = [VM.ACTIVE, 'paused', VM.STOPPED];
    if (!okStates.includes(row.vm_state) || row.task_state !== null) throw invalidState(id, 'detach_interface', 'vm_state', row.vm_state);
    const admin = systemContext(ctx.requestId);
    await this.core.uow.run(async (w) => {
      const net = this.core.network.within(w);
      const port = await w.trx.selectFrom('ports').select(['id', 'device_id']).where('id', '=', portId).executeTakeFirst();
      if (!port || port.device_id !== id) throw novaNotFound(`Port id ${portId} could not be found.`);
      const iface = await w.trx.selectFrom('server_interfaces').select('preserve').where('port_id', '=', portId).executeTakeFirst();
      if (iface?.preserve === 1) {
        await net.update(admin, 'ports', portId, { port: { device_id: '', device_owner: '', 'binding:host_id': null } });
      } else {
        await net.delete(admin, 'ports', portId);
      }
      await w.trx.deleteFrom('server_interfaces').where('port_id', '=', portId).execute();
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
  }
}
