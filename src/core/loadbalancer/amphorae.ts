/**
 * Octavia's amphora API (admin only). Here an "amphora" is what serves one load balancer: its
 * namespace with HAProxy or the built-in proxy on the host its VIP port is bound to (hosts.ts;
 * nothing at all for a noop VIP). There is no Nova server (so no `compute_flavor`, `image_id` or
 * `cached_zone`; the host shows as the VIP port's `binding:host_id`): `compute_id` identifies
 * the engine instance and changes when a failover rebuilds it; there is no management network:
 * `lb_network_ip` is where the engine listens when that is not the VIP (a loopback address with
 * the noop data plane), else null; no agent certificate.
 */
import type { LbAmphoraeTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import { isLbAdmin } from './access.js';
import { PROVISIONING } from './constants.js';
import type { LbDeps } from './deps.js';
import { lbErrors } from './errors.js';
import { type ListSpec, type Listing, listPage } from './query.js';
import type { Rendered } from './render.js';
import { canonicalUuid } from './wsme.js';

const LIST: ListSpec<'lb_amphorae'> = {
  table: 'lb_amphorae',
  columns: {
    id: { column: 'id' },
    loadbalancer_id: { column: 'loadbalancer_id' },
    compute_id: { column: 'compute_id' },
    status: { column: 'status' },
    role: { column: 'role' },
    lb_network_ip: { column: 'lb_network_ip' },
    vrrp_ip: { column: 'vrrp_ip' },
    ha_ip: { column: 'ha_ip' },
    vrrp_port_id: { column: 'vrrp_port_id' },
    ha_port_id: { column: 'ha_port_id' },
    created_at: { column: 'created_at' },
    updated_at: { column: 'updated_at' },
  },
};

function render(r: LbAmphoraeTable, fields?: string[]): Rendered {
  const out: Rendered = {
    id: r.id,
    loadbalancer_id: r.loadbalancer_id,
    compute_id: r.compute_id,
    lb_network_ip: r.lb_network_ip,
    vrrp_ip: r.vrrp_ip,
    ha_ip: r.ha_ip,
    vrrp_port_id: r.vrrp_port_id,
    ha_port_id: r.ha_port_id,
    cert_expiration: null,
    cert_busy: false,
    role: r.role,
    status: r.status,
    vrrp_interface: null,
    vrrp_id: 1,
    vrrp_priority: null,
    cached_zone: null,
    created_at: r.created_at,
    updated_at: r.updated_at,
    image_id: null,
    compute_flavor: null,
  };
  if (!fields) return out;
  return Object.fromEntries(Object.entries(out).filter(([k]) => fields.includes(k)));
}

function requireAdmin(ctx: RequestContext): void {
  if (!isLbAdmin(ctx)) throw lbErrors.policyForbidden();
}

export class Amphorae {
  constructor(private readonly deps: LbDeps) {}

  private async get(id: string): Promise<LbAmphoraeTable> {
    const row = await this.deps.store.db
      .selectFrom('lb_amphorae')
      .selectAll()
      .where('id', '=', canonicalUuid(id) ?? id)
      .executeTakeFirst();
    if (!row) throw lbErrors.notFound('Amphora', id);
    return row;
  }

  async list(ctx: RequestContext, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    requireAdmin(ctx);
    // Octavia filters amphorae by their load balancer's project (an amphora has none of its own).
    const rest = new Map(params);
    const project = rest.get('project_id');
    rest.delete('project_id');
    const { db } = this.deps.store;
    const page = await listPage(
      db,
      LIST,
      rest,
      url,
      project && ((eb) => eb('lb_amphorae.loadbalancer_id', 'in', db.selectFrom('lb_loadbalancers').select('id').where('project_id', 'in', project))),
    );
    return { items: page.rows.map((r) => render(r, page.fields)), links: page.links };
  }

  async show(ctx: RequestContext, id: string, fields?: string[]): Promise<Rendered> {
    requireAdmin(ctx);
    return render(await this.get(id), fields);
  }

  /** PUT /amphorae/{id}/config: apply the load balancer's configuration again. */
  async configure(ctx: RequestContext, id: string): Promise<void> {
    requireAdmin(ctx);
    const amp = await this.get(id);
    const lb = await this.deps.store.db.selectFrom('lb_loadbalancers').select('project_id').where('id', '=', amp.loadbalancer_id).executeTakeFirst();
    if (lb) this.deps.uow.announce([{ kind: 'loadbalancer', id: amp.loadbalancer_id, projectId: lb.project_id, op: 'update' }], ctx);
  }

  /** PUT /amphorae/{id}/failover: rebuild what serves the load balancer. */
  async failover(ctx: RequestContext, id: string): Promise<void> {
    requireAdmin(ctx);
    const amp = await this.get(id);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      const res = await trx
        .updateTable('lb_loadbalancers')
        .set({ provisioning_status: PROVISIONING.PENDING_UPDATE })
        .where('id', '=', amp.loadbalancer_id)
        .where('provisioning_status', '=', PROVISIONING.ACTIVE)
        .returning('project_id')
        .executeTakeFirst();
      if (!res) throw lbErrors.immutable('Load Balancer', amp.loadbalancer_id);
      w.changed('loadbalancer', amp.loadbalancer_id, res.project_id, 'failover');
    }, ctx);
  }

  /** GET /amphorae/{id}/stats: the listener counters of its load balancer. */
  async stats(ctx: RequestContext, id: string) {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    const amp = await db
      .selectFrom('lb_amphorae')
      .selectAll()
      .where('id', '=', canonicalUuid(id) ?? id)
      .executeTakeFirst();
    const rows = amp ? await db.selectFrom('lb_listener_stats').selectAll().where('loadbalancer_id', '=', amp.loadbalancer_id).execute() : [];
    if (!amp || !rows.length) throw lbErrors.notFound('Amphora stats for', id);
    return rows.map((r) => ({
      id: amp.id,
      listener_id: r.listener_id,
      loadbalancer_id: amp.loadbalancer_id,
      active_connections: Number(r.active_connections),
      bytes_in: Number(r.bytes_in),
      bytes_out: Number(r.bytes_out),
      request_errors: Number(r.request_errors),
      total_connections: Number(r.total_connections),
    }));
  }
}
