/**
 * Auto-allocated topology (Neutron's `auto-allocated-topology`, with `default-subnetpools`): on
 * first ask, a project gets a network with a subnet from each default subnet pool and a router
 * from them to the default external network, made with the caller's rights in one unit of work.
 */
import type { RequestContext } from '../context.js';
import { DomainError, neutronBadRequest } from '../errors.js';
import type { Work } from '../work.js';
import type { NetworkService } from './service.js';

const failure = (reason: string) => new DomainError('conflict', 'AutoAllocationFailure', `Deployment error: ${reason}.`);

/** `dry-run`: the only field a GET may name. */
const CHECK_REQUIREMENTS = 'dry-run';

export class AutoAllocation {
  constructor(private readonly network: NetworkService) {}

  /** The topology's project: `None` (a client that sent none) is the caller's; another is the admin's to ask for. */
  private project(ctx: RequestContext, projectId: string): string {
    const project = projectId === 'None' ? (ctx.projectId ?? '') : projectId;
    if (!ctx.isAdmin && project !== ctx.projectId) throw new DomainError('forbidden', 'NotAuthorized', 'Not authorized.');
    return project;
  }

  private async defaultExternal(w: Work): Promise<string> {
    const net = await w.trx.selectFrom('networks').select('id').where('external', '=', 1).where('is_default', '=', 1).orderBy('created_at').executeTakeFirst();
    if (!net) throw failure('No default router:external network');
    return net.id;
  }

  /** The default pools a project can use, IPv4 then IPv6. */
  private async defaultPools(w: Work, ctx: RequestContext): Promise<Array<{ id: string; ip_version: number }>> {
    const pools = await w.trx
      .selectFrom('subnetpools')
      .select(['id', 'ip_version', 'project_id', 'shared'])
      .where('is_default', '=', 1)
      .orderBy('ip_version')
      .execute();
    const usable = [];
    for (const p of pools) {
      const visible = ctx.isAdmin || p.project_id === ctx.projectId || p.shared === 1;
      if (visible) usable.push({ id: p.id, ip_version: p.ip_version });
    }
    return usable;
  }

  async get(ctx: RequestContext, projectId: string, fields: string[]): Promise<Record<string, unknown>> {
    const project = this.project(ctx, projectId);
    return this.network.uow.run(async (w) => {
      if (fields.includes(CHECK_REQUIREMENTS)) {
        await this.defaultExternal(w);
        if ((await this.defaultPools(w, ctx)).length === 0) throw failure('No default subnetpools defined');
        return { id: 'dry-run=pass', tenant_id: project };
      }
      if (fields.length) throw neutronBadRequest('auto_allocate', 'Unrecognized field');
      const existing = await w.trx.selectFrom('auto_allocated_topologies').select('network_id').where('project_id', '=', project).executeTakeFirst();
      if (existing) return { id: existing.network_id, tenant_id: project, project_id: project };
      const external = await this.defaultExternal(w);
      const networkId = await this.build(w, ctx, project, external);
      return { id: networkId, tenant_id: project, project_id: project };
    }, ctx);
  }

  private async build(w: Work, ctx: RequestContext, project: string, external: string): Promise<string> {
    const ops = this.network.within(w);
    const pools = await this.defaultPools(w, ctx);
    const [networkId] = await ops.create(ctx, 'networks', {
      network: { name: 'auto_allocated_network', admin_state_up: false, tenant_id: project, shared: false },
    });
    const subnets: string[] = [];
    try {
      if (pools.length === 0) throw failure('No default subnetpools defined');
      for (const pool of pools) {
        const [id] = await ops.create(ctx, 'subnets', {
          subnet: {
            name: `auto_allocated_subnet_v${pool.ip_version}`,
            network_id: networkId,
            tenant_id: project,
            ip_version: pool.ip_version,
            subnetpool_id: pool.id,
          },
        });
        subnets.push(id);
      }
    } catch (e) {
      if (e instanceof DomainError && ['bad_request', 'not_found', 'internal'].includes(e.kind)) throw failure('Unable to provide tenant private network');
      throw e;
    }
    let routerId: string;
    try {
      [routerId] = await ops.create(ctx, 'routers', {
        router: { name: 'auto_allocated_router', external_gateway_info: { network_id: external }, tenant_id: project, admin_state_up: true },
      });
      for (const subnet of subnets) await this.network.actionWithin(w, ctx, 'routers', routerId, 'add_router_interface', { subnet_id: subnet });
    } catch (e) {
      if (e instanceof DomainError && e.kind === 'bad_request') throw failure('Unable to provide external connectivity');
      throw e;
    }
    await w.trx.insertInto('auto_allocated_topologies').values({ project_id: project, network_id: networkId, router_id: routerId }).execute();
    await ops.update(ctx, 'networks', networkId, { network: { admin_state_up: true } });
    return networkId;
  }

  async delete(ctx: RequestContext, projectId: string): Promise<void> {
    const project = this.project(ctx, projectId);
    await this.network.uow.run(async (w) => {
      const topology = await w.trx.selectFrom('auto_allocated_topologies').selectAll().where('project_id', '=', project).executeTakeFirst();
      if (!topology) return;
      const ops = this.network.within(w);
      const subnets = await w.trx.selectFrom('subnets').select('id').where('network_id', '=', topology.network_id).execute();
      if (topology.router_id) {
        const router = await w.trx.selectFrom('routers').select('id').where('id', '=', topology.router_id).executeTakeFirst();
        if (router) {
          for (const s of subnets) {
            await this.network.actionWithin(w, ctx, 'routers', router.id, 'remove_router_interface', { subnet_id: s.id }).catch((e: unknown) => {
              if (!(e instanceof DomainError && e.kind === 'not_found')) throw e;
            });
          }
          await ops.delete(ctx, 'routers', router.id);
        }
      }
      await w.trx.deleteFrom('auto_allocated_topologies').where('project_id', '=', project).execute();
      const network = await w.trx.selectFrom('networks').select('id').where('id', '=', topology.network_id).executeTakeFirst();
      if (network) await ops.delete(ctx, 'networks', network.id);
    }, ctx);
  }
}
