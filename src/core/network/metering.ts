/**
 * Metering labels and rules (Neutron's `metering`): which traffic of a project's routers to
 * count. This is the API and its rules, as Neutron's metering service plugin keeps them; like
 * Neutron with its default (noop) metering driver, nothing here reads counters — Neutron only
 * ever reports them as notifications to a telemetry service, which PocketStack does not run.
 */
import { uuid as newUuid } from '../../util/ids.js';
import { cidrsOverlap, parseCidr } from '../../util/ip.js';
import { DomainError, conflict, notFound } from '../errors.js';
import { string, subnetCidrOrNone, toBoolean, uuid, values as valuesV } from './attributes.js';
import type { ResourceOps } from './registry.js';
import { type ResourceDef, policyError, standardAttrs } from './resource.js';

const labelNotFound = (id: string) => notFound('MeteringLabelNotFound', `Metering label '${id}' does not exist.`);
const ruleNotFound = (id: string) => notFound('MeteringLabelRuleNotFound', `Metering label rule '${id}' does not exist.`);

export const meteringLabelDef: ResourceDef<'metering_labels'> = {
  name: 'metering_label',
  collection: 'metering_labels',
  path: 'metering/metering-labels',
  table: 'metering_labels',
  label: 'Metering label',
  notFound: labelNotFound,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: { post: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    description: { post: true, default: '', filter: true, sort: true, column: 'description', validate: string(1024) },
    shared: { post: true, default: false, filter: true, sort: true, column: 'shared', codec: 'bool', convert: toBoolean },
    project_id: standardAttrs().project_id,
    tenant_id: standardAttrs().tenant_id,
  },
};

export const meteringLabelRuleDef: ResourceDef<'metering_label_rules'> = {
  name: 'metering_label_rule',
  collection: 'metering_label_rules',
  path: 'metering/metering-label-rules',
  table: 'metering_label_rules',
  label: 'Metering label rule',
  notFound: ruleNotFound,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    metering_label_id: { post: true, filter: true, sort: true, column: 'metering_label_id', validate: uuid },
    direction: { post: true, filter: true, sort: true, column: 'direction', validate: valuesV(['ingress', 'egress']) },
    remote_ip_prefix: { post: true, default: null, filter: true, sort: true, column: 'remote_ip_prefix', validate: subnetCidrOrNone },
    // metering_source_and_destination_fields.
    source_ip_prefix: { post: true, default: null, filter: true, sort: true, column: 'source_ip_prefix', validate: subnetCidrOrNone },
    destination_ip_prefix: { post: true, default: null, filter: true, sort: true, column: 'destination_ip_prefix', validate: subnetCidrOrNone },
    excluded: { post: true, default: false, filter: true, sort: true, column: 'excluded', codec: 'bool', convert: toBoolean },
    // Rules carry no project of their own (their label's is used); accepted, never shown.
    tenant_id: { ...standardAttrs().tenant_id, visible: false, filter: false, sort: false },
    project_id: { ...standardAttrs().project_id, visible: false, filter: false, sort: false },
  },
};

export function meteringLabelOps(): ResourceOps<'metering_labels'> {
  return {
    def: meteringLabelDef,
    async create(w, ctx, p) {
      const { trx } = w;
      if (!ctx.isAdmin) throw policyError('create_metering_label');
      const v = p.values;
      const id = newUuid();
      await trx
        .insertInto('metering_labels')
        .values({ id, project_id: v.project_id as string, name: v.name as string, description: v.description as string, shared: v.shared ? 1 : 0 })
        .execute();
      return id;
    },
    async delete(w, ctx, row) {
      const { trx } = w;
      if (!ctx.isAdmin) throw policyError('delete_metering_label');
      await trx.deleteFrom('metering_label_rules').where('metering_label_id', '=', row.id).execute();
      await trx.deleteFrom('metering_labels').where('id', '=', row.id).execute();
    },
  };
}

export function meteringLabelRuleOps(): ResourceOps<'metering_label_rules'> {
  return {
    def: meteringLabelRuleDef,
    async create(w, ctx, p) {
      const { trx } = w;
      if (!ctx.isAdmin) throw policyError('create_metering_label_rule');
      const v = p.values;
      const label = await trx
        .selectFrom('metering_labels')
        .select(['id', 'project_id'])
        .where('id', '=', v.metering_label_id as string)
        .executeTakeFirst();
      if (!label) throw labelNotFound(v.metering_label_id as string);
      const prefix = v.remote_ip_prefix as string | null;
      const source = v.source_ip_prefix as string | null;
      const destination = v.destination_ip_prefix as string | null;
      // MeteringPlugin.validate_metering_label_rule.
      const invalid = (msg: string) => new DomainError('bad_request', 'Invalid', msg);
      if (prefix && (source || destination)) throw invalid("Cannot use 'remote-ip-prefix' in conjunction with 'source-ip-prefix' or 'destination-ip-prefix'.");
      if (!prefix && !source && !destination) {
        throw invalid("You must define at least one of the following parameters 'remote_ip_prefix', or 'source_ip_prefix' or 'destination_ip_prefix'.");
      }
      const excluded = v.excluded ? 1 : 0;
      // Neutron's metering plugin refuses rules whose prefixes overlap for one label, direction and kind.
      const siblings = await trx
        .selectFrom('metering_label_rules')
        .select('remote_ip_prefix')
        .where('metering_label_id', '=', label.id)
        .where('direction', '=', v.direction as string)
        .where('excluded', '=', excluded)
        .execute();
      const mine = prefix ? parseCidr(prefix) : null;
      if (mine && siblings.some((s) => s.remote_ip_prefix && cidrsOverlap(parseCidr(s.remote_ip_prefix)!, mine))) {
        throw conflict('MeteringLabelRuleOverlaps', `Metering label rule with remote_ip_prefix '${prefix}' overlaps another.`);
      }
      const id = newUuid();
      await trx
        .insertInto('metering_label_rules')
        .values({
          id,
          project_id: label.project_id,
          metering_label_id: label.id,
          direction: v.direction as string,
          remote_ip_prefix: prefix,
          source_ip_prefix: source,
          destination_ip_prefix: destination,
          excluded,
        })
        .execute();
      return id;
    },
    async delete(w, ctx, row) {
      const { trx } = w;
      if (!ctx.isAdmin) throw policyError('delete_metering_label_rule');
      await trx.deleteFrom('metering_label_rules').where('id', '=', row.id).execute();
    },
  };
}
