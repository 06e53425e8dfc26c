/**
 * Views of what compute records: instance actions and their events, migrations, tenant usage and
 * server groups, per microversion (nova/api/openstack/compute/{instance_actions,migrations,
 * server_migrations,simple_tenant_usage,server_groups}.py).
 */
import type { InstanceAction } from '../../core/compute/instance-actions.js';
import { flavorInternalId } from '../../core/compute/migrations.js';
import { hostIdOf } from '../../core/compute/network.js';
import type { ServerGroup } from '../../core/compute/servergroups.js';
import type { InstanceActionsTable, MigrationsTable } from '../../store/schema.js';
import { naiveTime } from './hostviews.js';
import type { ApiVersion } from './version.js';

/** An action's fields (ACTION_KEYS; 2.58 adds updated_at). */
export function instanceActionView(v: ApiVersion, a: InstanceActionsTable) {
  const out: Record<string, unknown> = {
    action: a.action,
    instance_uuid: a.instance_uuid,
    request_id: a.request_id,
    user_id: a.user_id,
    project_id: a.project_id,
    start_time: naiveTime(a.start_time),
    message: a.message,
  };
  if (v.gte('2.58')) out.updated_at = naiveTime(a.updated_at);
  return out;
}

/**
 * One action with its events: before 2.51 only admins see them; from 2.51 everyone, the
 * traceback (and host, 2.62) only admins; hostId from 2.62, details (2.84) for admins.
 */
export function instanceActionDetailView(v: ApiVersion, a: InstanceAction & { projectId: string }, admin: boolean) {
  const out = instanceActionView(v, a.action);
  if (admin || v.gte('2.51')) {
    out.events = a.events.map((e) => {
      const ev: Record<string, unknown> = {
        event: e.event,
        start_time: naiveTime(e.start_time),
        finish_time: naiveTime(e.finish_time),
        result: e.result,
      };
      if (admin) ev.traceback = e.traceback;
      if (admin && v.gte('2.62')) ev.host = e.host;
      if (v.gte('2.62')) ev.hostId = hostIdOf(e.host, a.projectId);
      if (admin && v.gte('2.84')) ev.details = e.details;
      return ev;
    });
  }
  return out;
}

/** A migration (Nova's _output): 2.23 type and links, 2.59 uuid, 2.80 user and project. */
export function migrationView(v: ApiVersion, m: MigrationsTable, o: { base: string; list: boolean }) {
  const out: Record<string, unknown> = {
    id: m.id,
    source_compute: m.source_compute,
    dest_compute: m.dest_compute,
    source_node: m.source_node,
    dest_node: m.dest_node,
    dest_host: m.dest_host,
    old_instance_type_id: flavorInternalId(m.old_flavor_id),
    new_instance_type_id: flavorInternalId(m.new_flavor_id),
    instance_uuid: m.instance_uuid,
    status: m.status,
    created_at: naiveTime(m.created_at),
    updated_at: naiveTime(m.updated_at),
  };
  if (v.gte('2.23')) out.migration_type = m.migration_type;
  if (v.gte('2.59')) out.uuid = m.uuid;
  if (v.gte('2.80')) {
    out.user_id = m.user_id;
    out.project_id = m.project_id;
  }
  if (o.list && v.gte('2.23') && m.migration_type === 'live-migration' && ['queued', 'preparing', 'running', 'post-migrating'].includes(m.status)) {
    out.links = [
      { rel: 'self', href: `${o.base}/v2.1/servers/${m.instance_uuid}/migrations/${m.id}` },
      { rel: 'bookmark', href: `${o.base}/servers/${m.instance_uuid}/migrations/${m.id}` },
    ];
  }
  return out;
}

/** A server group: 2.13 project and user, 2.64 policy and rules instead of policies and metadata. */
export function serverGroupView(v: ApiVersion, g: ServerGroup) {
  const out: Record<string, unknown> = { id: g.row.id, name: g.row.name };
  if (v.gte('2.64')) {
    out.policy = g.row.policy;
    out.rules = g.rules;
  } else {
    out.policies = [g.row.policy];
    out.metadata = {};
  }
  out.members = g.members;
  if (v.gte('2.13')) {
    out.project_id = g.row.project_id;
    out.user_id = g.row.user_id;
  }
  return out;
}
