/**
 * Security group logging objects (Neutron's `logging`): which group's (or port's) events to log.
 * The API and its rules; the netns data plane writes the events (dataplane/netns/sglog.ts), the
 * noop one none, as a Neutron whose agents have no logging extension.
 */
import { uuid as newUuid } from '../../util/ids.js';
import { DomainError, notFound } from '../errors.js';
import type { Work } from '../work.js';
import { string, toBoolean, uuidOrNone, uuid, values as valuesV } from './attributes.js';
import type { ResourceOps } from './registry.js';
import { type ResourceDef, insertRow, policyError, standardAttrs, toColumns, updateRow } from './resource.js';

/** The resource types a log may name (GET /v2.0/log/loggable-resources). */
export const LOGGABLE_RESOURCES = ['security_group'];

export const logDef: ResourceDef<'logs'> = {
  name: 'log',
  collection: 'logs',
  path: 'log/logs',
  table: 'logs',
  label: 'Log',
  notFound: (id) => notFound('LogResourceNotFound', `Log resource ${id} could not be found.`),
  // Logging is the admin's (Neutron's default policy).
  adminOnly: true,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    project_id: standardAttrs().project_id,
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    resource_type: { post: true, filter: true, sort: true, column: 'resource_type', validate: string(255) },
    resource_id: { post: true, default: null, filter: true, sort: true, column: 'resource_id', validate: uuidOrNone },
    target_id: { post: true, default: null, filter: true, sort: true, column: 'target_id', validate: uuidOrNone },
    event: { post: true, default: 'ALL', filter: true, column: 'event', validate: valuesV(['ACCEPT', 'DROP', 'ALL']) },
    enabled: { post: true, put: true, default: true, filter: true, sort: true, column: 'enabled', codec: 'bool', convert: toBoolean },
    revision_number: standardAttrs().revision_number,
    description: standardAttrs().description,
    created_at: standardAttrs().created_at,
    updated_at: standardAttrs().updated_at,
    tenant_id: standardAttrs().tenant_id,
  },
};

export function logOps(): ResourceOps<'logs'> {
  return {
    def: logDef,
    async create(w, ctx, p) {
      if (!ctx.isAdmin) throw policyError('create_log');
      const v = p.values;
      const type = v.resource_type as string;
      if (!LOGGABLE_RESOURCES.includes(type)) throw new DomainError('bad_request', 'InvalidLogResourceType', `Invalid log resource_type: ${type}.`);
      const resource = v.resource_id as string | null;
      if (resource && !(await w.trx.selectFrom('security_groups').select('id').where('id', '=', resource).executeTakeFirst())) {
        throw notFound('ResourceNotFound', `Resource ${resource} could not be found.`);
      }
      const target = v.target_id as string | null;
      if (target && !(await w.trx.selectFrom('ports').select('id').where('id', '=', target).executeTakeFirst())) {
        throw notFound('TargetResourceNotFound', `Target resource ${target} could not be found.`);
      }
      const id = newUuid();
      await insertRow(w.trx, logDef, id, {
        project_id: v.project_id as string,
        name: v.name as string,
        description: v.description as string,
        resource_type: type,
        resource_id: resource,
        target_id: target,
        event: v.event as string,
        enabled: v.enabled ? 1 : 0,
      });
      return id;
    },
    async update(w, ctx, row, p) {
      if (!ctx.isAdmin) throw policyError('update_log');
      await updateRow(w.trx, logDef, row, toColumns(logDef, p.values));
    },
    async delete(w, ctx, row) {
      if (!ctx.isAdmin) throw policyError('delete_log');
      await w.trx.deleteFrom('logs').where('id', '=', row.id).execute();
    },
  };
}

/**
 * The enabled security-group logs bound to a deleted security group (`resource_id`) or port
 * (`target_id`) go with it (LoggingPlugin._clean_logs_by_resource_id / _by_target_id).
 */
export async function dropBoundLogs(w: Work, bound: { securityGroupId: string } | { portId: string }): Promise<void> {
  const column = 'securityGroupId' in bound ? 'resource_id' : 'target_id';
  const id = 'securityGroupId' in bound ? bound.securityGroupId : bound.portId;
  const logs = await w.trx
    .selectFrom('logs')
    .select(['id', 'project_id'])
    .where('resource_type', '=', 'security_group')
    .where('enabled', '=', 1)
    .where(column, '=', id)
    .execute();
  for (const log of logs) {
    await w.trx.deleteFrom('logs').where('id', '=', log.id).execute();
    w.changed('log', log.id, log.project_id, 'delete');
  }
}
