import { fromJson } from '../../store/db.js';
import { DomainError } from '../errors.js';
import type { IdentityEnv } from './model.js';

/**
 * Keystone's domain-specific configuration (/v3/domains/{id}/config): per-domain `identity` and
 * `ldap` options, stored and shown as keystone/resource/core.py's DomainConfigManager does
 * (sensitive options — the LDAP password — kept but never shown). PocketStack has no LDAP
 * driver, so nothing acts on what is stored, as with a Keystone whose
 * domain_specific_drivers_enabled is off.
 */
/** The defaults GET /v3/domains/config/default shows (Zed's, as its keystone.conf leaves them). */
const DEFAULTS = {
  identity: {
    driver: 'sql',
    list_limit: null,
  },
  ldap: {
    url: 'ldap://localhost',
    user: null,
    suffix: 'cn=example,cn=com',
    query_scope: 'one',
    page_size: 0,
    alias_dereferencing: 'default',
    debug_level: null,
    chase_referrals: null,
    user_tree_dn: null,
    user_filter: null,
    user_objectclass: 'inetOrgPerson',
    user_id_attribute: 'cn',
    user_name_attribute: 'sn',
    user_mail_attribute: 'mail',
    user_description_attribute: 'description',
    user_pass_attribute: 'userPassword',
    user_enabled_attribute: 'enabled',
    user_enabled_invert: false,
    user_enabled_mask: 0,
    user_enabled_default: 'True',
    user_attribute_ignore: ['default_project_id'],
    user_default_project_id_attribute: null,
    user_enabled_emulation: false,
    user_enabled_emulation_dn: null,
    user_enabled_emulation_use_group_config: false,
    user_additional_attribute_mapping: [],
    group_tree_dn: null,
    group_filter: null,
    group_objectclass: 'groupOfNames',
    group_id_attribute: 'cn',
    group_name_attribute: 'ou',
    group_members_are_ids: false,
    group_member_attribute: 'member',
    group_desc_attribute: 'description',
    group_attribute_ignore: [],
    group_additional_attribute_mapping: [],
    tls_cacertfile: null,
    tls_cacertdir: null,
    use_tls: false,
    tls_req_cert: 'demand',
    use_pool: true,
    pool_size: 10,
    pool_retry_max: 3,
    pool_retry_delay: 0.1,
    pool_connection_timeout: -1,
    pool_connection_lifetime: 600,
    use_auth_pool: true,
    auth_pool_size: 100,
    auth_pool_connection_lifetime: 60,
  },
} as const;

type Config = Record<string, Record<string, unknown>>;

const WHITELISTED: Record<string, readonly string[]> = {
  identity: Object.keys(DEFAULTS.identity),
  ldap: Object.keys(DEFAULTS.ldap),
};
const SENSITIVE: Record<string, readonly string[]> = { identity: [], ldap: ['password'] };

const invalid = (reason: string) => new DomainError('forbidden', 'InvalidDomainConfig', `Invalid domain specific configuration: ${reason}.`);
const notFoundIn = (what: string, domainId: string) =>
  new DomainError('not_found', 'DomainConfigNotFound', `Could not find ${what} in domain configuration for domain ${domainId}.`);
const what = (group?: string, option?: string) => (option ? `option ${option} in group ${group}` : group ? `group ${group}` : 'any options');

function assertGroupOption(group?: string, option?: string): void {
  if (!group) return;
  if (!Object.hasOwn(WHITELISTED, group)) throw invalid(`Group ${group} is not supported for domain specific configurations`);
  if (option && !WHITELISTED[group].includes(option) && !SENSITIVE[group].includes(option)) {
    throw invalid(`Option ${option} in group ${group} is not supported for domain specific configurations`);
  }
}

function assertConfig(config: unknown): asserts config is Config {
  if (!config || typeof config !== 'object' || Object.keys(config).length === 0) throw invalid('No options specified');
  for (const [group, options] of Object.entries(config)) {
    if (!options || typeof options !== 'object' || Array.isArray(options) || Object.keys(options).length === 0) {
      throw invalid(`The value of group ${group} specified in the config should be a dictionary of options`);
    }
    for (const option of Object.keys(options)) assertGroupOption(group, option);
  }
}

export class DomainConfigs {
  constructor(private readonly env: IdentityEnv) {}

  /** GET /v3/domains/config[/{group}[/{option}]]/default. */
  defaults(group?: string, option?: string): Record<string, unknown> {
    assertGroupOption(group, option);
    if (!group) return DEFAULTS;
    const g = DEFAULTS[group as keyof typeof DEFAULTS] as Record<string, unknown>;
    if (!option) return { [group]: g };
    return { [option]: g[option] ?? null };
  }

  private async rows(domainId: string) {
    return this.env.store.db.selectFrom('domain_configs').selectAll().where('domain_id', '=', domainId).orderBy('grp').orderBy('option').execute();
  }

  /** The stored config (sensitive options left out), narrowed to a group or option. */
  async get(domainId: string, group?: string, option?: string): Promise<Record<string, unknown>> {
    assertGroupOption(group, option);
    const config: Config = {};
    for (const r of await this.rows(domainId)) {
      if (r.sensitive) continue;
      if (group && r.grp !== group) continue;
      if (option && r.option !== option) continue;
      config[r.grp] ??= {};
      config[r.grp][r.option] = fromJson<unknown>(r.value, null);
    }
    if (Object.keys(config).length === 0) throw notFoundIn(what(group, option), domainId);
    return option ? { [option]: config[group!][option] } : config;
  }

  private async write(domainId: string, config: Config, replace: boolean): Promise<void> {
    await this.env.write({ id: domainId, op: 'update' }, async (trx) => {
      if (replace) await trx.deleteFrom('domain_configs').where('domain_id', '=', domainId).execute();
      for (const [group, options] of Object.entries(config)) {
        for (const [option, value] of Object.entries(options)) {
          await trx.deleteFrom('domain_configs').where('domain_id', '=', domainId).where('grp', '=', group).where('option', '=', option).execute();
          await trx
            .insertInto('domain_configs')
            .values({ domain_id: domainId, grp: group, option, value: JSON.stringify(value), sensitive: SENSITIVE[group].includes(option) ? 1 : 0 })
            .execute();
        }
      }
    });
  }

  /** PUT: the whole config, replacing any; `created` when there was none. */
  async create(domainId: string, config: unknown): Promise<{ config: Record<string, unknown>; created: boolean }> {
    assertConfig(config);
    const created = (await this.rows(domainId)).length === 0;
    await this.write(domainId, config, true);
    return { config: await this.get(domainId), created };
  }

  /** PATCH: merge options in; a group or option in the path limits the update to it, which must exist. */
  async update(domainId: string, body: unknown, group?: string, option?: string): Promise<Record<string, unknown>> {
    const config = (group && option ? { [group]: body } : body) as Config;
    assertConfig(config);
    assertGroupOption(group, option);
    if (group) {
      if (Object.keys(config).length !== 1 || (option && Object.keys(config[group] ?? {}).length !== 1)) {
        throw invalid(
          option
            ? `Trying to update option ${option} in group ${group}, so that, and only that, option must be specified  in the config`
            : `Trying to update group ${group}, so that, and only that, group must be specified in the config`,
        );
      }
      if (!Object.hasOwn(config, group))
        throw invalid(`request to update group ${group}, but config provided contains group ${Object.keys(config)[0]} instead`);
      if (option && !Object.hasOwn(config[group], option)) {
        throw invalid(`Trying to update option ${option} in group ${group}, but config provided contains option ${Object.keys(config[group])[0]} instead`);
      }
      const have = (await this.rows(domainId)).some((r) => r.grp === group && (!option || r.option === option));
      if (!have) throw notFoundIn(what(group, option), domainId);
    }
    await this.write(domainId, config, false);
    return this.get(domainId);
  }

  async delete(domainId: string, group?: string, option?: string): Promise<void> {
    assertGroupOption(group, option);
    const rows = (await this.rows(domainId)).filter((r) => (!group || r.grp === group) && (!option || r.option === option));
    if (rows.length === 0) throw notFoundIn(what(group, option), domainId);
    await this.env.write({ id: domainId, op: 'update' }, async (trx) => {
      let q = trx.deleteFrom('domain_configs').where('domain_id', '=', domainId);
      if (group) q = q.where('grp', '=', group);
      if (option) q = q.where('option', '=', option);
      await q.execute();
    });
  }
}
