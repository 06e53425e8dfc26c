/**
 * os-server-groups: groups of servers with a placement policy (affinity, anti-affinity and their
 * soft forms; anti-affinity's max_server_per_host rule), counted against the server_groups and
 * server_group_members quotas. A server joins a group with the `group` scheduler hint; the
 * scheduler (scheduler.ts) applies the policy.
 */
import type { Q } from '../../store/db.js';
import type { ServerGroupsTable } from '../../store/schema.js';
import { uuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { now } from './core.js';
import { novaBadRequest, novaForbidden, novaNotFound, policyDenied } from './errors.js';
import { computeQuotaLimits } from './quotas.js';

export type GroupPolicy = 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity';

export interface ServerGroup {
  row: ServerGroupsTable;
  rules: Record<string, number>;
  members: string[];
}

export interface GroupCreate {
  name: string;
  policy: GroupPolicy;
  rules: Record<string, number>;
}

export async function groupMembers(q: Q, groupIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(groupIds.map((g) => [g, []]));
  if (!groupIds.length) return out;
  const rows = await q
    .selectFrom('server_group_members')
    .innerJoin('servers', 'servers.id', 'server_group_members.server_id')
    .select(['server_group_members.group_id', 'server_group_members.server_id'])
    .where('server_group_members.group_id', 'in', groupIds)
    .orderBy('servers.internal_id')
    .execute();
  for (const r of rows) out.get(r.group_id)?.push(r.server_id);
  return out;
}

export class ServerGroups {
  constructor(private readonly uow: UnitOfWork) {}

  private get db() {
    return this.uow.store.db;
  }

  private async load(q: Q, rows: ServerGroupsTable[]): Promise<ServerGroup[]> {
    const members = await groupMembers(
      q,
      rows.map((r) => r.id),
    );
    return rows.map((row) => ({ row, rules: JSON.parse(row.rules) as Record<string, number>, members: members.get(row.id) ?? [] }));
  }

  /** A group by id (any project's: policy decides who may see it), or Nova's 404. */
  async row(q: Q, id: string): Promise<ServerGroupsTable> {
    const row = await q.selectFrom('server_groups').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw novaNotFound(`Instance group ${id} could not be found.`);
    return row;
  }

  private mayUse(ctx: RequestContext, row: ServerGroupsTable, action: string): void {
    if (!ctx.isAdmin && row.project_id !== ctx.projectId) throw policyDenied(`os_compute_api:os-server-groups:${action}`);
  }

  async list(ctx: RequestContext, o: { allProjects: boolean; limit?: number; offset?: number }): Promise<ServerGroup[]> {
    let qb = this.db.selectFrom('server_groups').selectAll();
    if (!(o.allProjects && ctx.isAdmin)) qb = qb.where('project_id', '=', ctx.projectId ?? '');
    let rows = await qb.orderBy('internal_id').execute();
    // common.limited: offset, then at most limit (max_limit 1000).
    const offset = o.offset ?? 0;
    rows = rows.slice(offset, offset + Math.min(o.limit ?? 1000, 1000));
    return this.load(this.db, rows);
  }

  async show(ctx: RequestContext, id: string): Promise<ServerGroup> {
    const row = await this.row(this.db, id);
    this.mayUse(ctx, row, 'show');
    return (await this.load(this.db, [row]))[0];
  }

  async create(ctx: RequestContext, g: GroupCreate): Promise<ServerGroup> {
    const project = ctx.projectId ?? '';
    if (g.policy !== 'anti-affinity' && Object.keys(g.rules).length) throw novaBadRequest('Only anti-affinity policy supports rules.');
    const id = await this.uow.run(async ({ trx }) => {
      const limits = await computeQuotaLimits(trx, project);
      const n = await trx
        .selectFrom('server_groups')
        .select(({ fn }) => fn.countAll<number>().as('n'))
        .where('project_id', '=', project)
        .executeTakeFirst();
      if (limits.server_groups >= 0 && Number(n?.n ?? 0) + 1 > limits.server_groups) throw novaForbidden('Quota exceeded, too many server groups.');
      const max = await trx
        .selectFrom('server_groups')
        .select(({ fn }) => fn.max<number>('internal_id').as('m'))
        .executeTakeFirst();
      const id = uuid();
      await trx
        .insertInto('server_groups')
        .values({
          id,
          internal_id: Number(max?.m ?? 0) + 1,
          project_id: project,
          user_id: ctx.userId,
          name: g.name,
          policy: g.policy,
          rules: JSON.stringify(g.rules),
          created_at: now(),
        })
        .execute();
      return id;
    }, ctx);
    return this.show(ctx, id);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    await this.uow.run(async ({ trx }) => {
      const row = await this.row(trx, id);
      this.mayUse(ctx, row, 'delete');
      await trx.deleteFrom('server_groups').where('id', '=', id).execute();
    }, ctx);
  }

  /**
   * The group a create request names in its `group` hint: it must exist (InstanceGroupNotFound,
   * 400 at create) and have room for `count` more members (server_group_members quota, 403).
   */
  async forCreate(q: Q, ctx: RequestContext, id: string, count: number): Promise<ServerGroupsTable> {
    const row = await q.selectFrom('server_groups').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || (!ctx.isAdmin && row.project_id !== ctx.projectId)) throw novaBadRequest(`Instance group ${id} could not be found.`);
    const limits = await computeQuotaLimits(q, ctx.projectId ?? '');
    const members = (await groupMembers(q, [id])).get(id) ?? [];
    if (limits.server_group_members >= 0 && members.length + count > limits.server_group_members) {
      throw novaForbidden('Quota exceeded, too many servers in group');
    }
    return row;
  }
}
