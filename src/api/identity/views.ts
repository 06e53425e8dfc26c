import type { CatalogService } from '../../core/catalog.js';
import type { AccessRule, AppCred } from '../../core/identity/appcreds.js';
import type { Assignment } from '../../core/identity/assignments.js';
import type { Endpoint, EndpointGroup, Region, Service } from '../../core/identity/catalog.js';
import type { Credential } from '../../core/identity/credentials.js';
import type { Group } from '../../core/identity/groups.js';
import type { Limit, RegisteredLimit } from '../../core/identity/limits.js';
import type { Domain, Project, Role, TokenInfo, User } from '../../core/identity/model.js';
import type { Trust } from '../../core/identity/trusts.js';

/**
 * Keystone's JSON shapes, keys in the order Keystone sends them: unknown ("extra") attributes
 * first, then the resource's own, then options and links.
 */

export const domainView = (base: string, d: Domain) => ({
  ...d.extra,
  id: d.id,
  name: d.name,
  description: d.description,
  enabled: d.enabled,
  tags: d.tags,
  options: {},
  links: { self: `${base}/v3/domains/${d.id}` },
});

export const projectView = (base: string, p: Project, opts: { withExtra?: boolean } = {}) => ({
  ...p.extra,
  id: p.id,
  name: p.name,
  domain_id: p.domain_id,
  description: p.description,
  enabled: p.enabled,
  parent_id: p.parent_id,
  is_domain: false,
  tags: p.tags,
  ...(opts.withExtra ? { extra: p.extra } : {}),
  options: p.options,
  links: { self: `${base}/v3/projects/${p.id}` },
});

/** A domain as /v3/projects shows it: a project acting as a domain (is_domain). */
export const domainAsProjectView = (base: string, d: Domain) => ({
  ...d.extra,
  id: d.id,
  name: d.name,
  domain_id: null,
  description: d.description,
  enabled: d.enabled,
  parent_id: null,
  is_domain: true,
  tags: d.tags,
  options: {},
  links: { self: `${base}/v3/projects/${d.id}` },
});

export const groupView = (base: string, g: Group) => ({
  ...g.extra,
  id: g.id,
  name: g.name,
  domain_id: g.domain_id,
  description: g.description ?? '',
  links: { self: `${base}/v3/groups/${g.id}` },
});

const appCredRole = (r: Role) => ({ id: r.id, name: r.name, domain_id: r.domain_id, description: r.description, options: r.options });
export const accessRuleView = (r: AccessRule) => ({ id: r.id, service: r.service, path: r.path, method: r.method });

export const appCredView = (base: string, a: AppCred, secret?: string) => ({
  id: a.id,
  name: a.name,
  description: a.description,
  user_id: a.user_id,
  project_id: a.project_id,
  system: null,
  expires_at: a.expires_at,
  unrestricted: a.unrestricted,
  roles: a.roles.map(appCredRole),
  access_rules: a.access_rules.map(accessRuleView),
  ...(secret !== undefined ? { secret } : {}),
  links: { self: `${base}/v3/application_credentials/${a.id}` },
});

export const trustView = (base: string, t: Trust, opts: { withRoles: boolean }) => ({
  ...(opts.withRoles ? { roles: t.roles.map((r) => roleView(base, r)) } : {}),
  ...t.extra,
  id: t.id,
  trustor_user_id: t.trustor_user_id,
  trustee_user_id: t.trustee_user_id,
  project_id: t.project_id,
  impersonation: t.impersonation,
  expires_at: t.expires_at,
  remaining_uses: t.remaining_uses,
  deleted_at: t.deleted_at,
  redelegated_trust_id: t.redelegated_trust_id,
  redelegation_count: t.redelegation_count,
  // Keystone's roles_links.self misses its /OS-TRUST/trusts segment; kept as sent.
  ...(opts.withRoles ? { roles_links: { self: `${base}/v3/${t.id}/roles`, next: null, previous: null } } : {}),
  links: { self: `${base}/v3/OS-TRUST/trusts/${t.id}` },
});

export const credentialView = (base: string, c: Credential) => ({
  ...c.extra,
  id: c.id,
  user_id: c.user_id,
  project_id: c.project_id,
  type: c.type,
  blob: c.blob,
  links: { self: `${base}/v3/credentials/${c.id}` },
});

export const serviceView = (base: string, s: Service) => ({
  ...s.extra,
  id: s.id,
  type: s.type,
  enabled: s.enabled,
  links: { self: `${base}/v3/services/${s.id}` },
});

export const endpointView = (base: string, e: Endpoint) => ({
  ...e.extra,
  id: e.id,
  interface: e.interface,
  region_id: e.region_id,
  service_id: e.service_id,
  url: e.url,
  enabled: e.enabled,
  region: e.region_id,
  links: { self: `${base}/v3/endpoints/${e.id}` },
});

export const regionView = (base: string, r: Region) => ({
  ...r.extra,
  id: r.id,
  description: r.description,
  parent_region_id: r.parent_region_id,
  links: { self: `${base}/v3/regions/${r.id}` },
});

export const endpointGroupView = (base: string, g: EndpointGroup) => ({
  id: g.id,
  name: g.name,
  description: g.description,
  filters: g.filters,
  links: { self: `${base}/v3/OS-EP-FILTER/endpoint_groups/${g.id}` },
});

export const registeredLimitView = (base: string, r: RegisteredLimit) => ({
  id: r.id,
  service_id: r.service_id,
  region_id: r.region_id,
  resource_name: r.resource_name,
  default_limit: r.default_limit,
  description: r.description,
  links: { self: `${base}/v3/registered_limits/${r.id}` },
});

export const limitView = (base: string, l: Limit) => ({
  id: l.id,
  project_id: l.project_id,
  domain_id: l.domain_id,
  resource_limit: l.resource_limit,
  description: l.description,
  service_id: l.service_id,
  region_id: l.region_id,
  resource_name: l.resource_name,
  links: { self: `${base}/v3/limits/${l.id}` },
});

export const userView = (base: string, u: User, opts: { withExtra?: boolean } = {}) => ({
  ...u.extra,
  id: u.id,
  name: u.name,
  domain_id: u.domain_id,
  enabled: u.enabled,
  ...(u.default_project_id ? { default_project_id: u.default_project_id } : {}),
  password_expires_at: null,
  ...(opts.withExtra ? { extra: u.extra } : {}),
  options: u.options,
  links: { self: `${base}/v3/users/${u.id}` },
});

export const roleView = (base: string, r: Role) => ({
  ...r.extra,
  id: r.id,
  name: r.name,
  domain_id: r.domain_id,
  description: r.description,
  options: r.options,
  links: { self: `${base}/v3/roles/${r.id}` },
});

/** The v3 catalog as tokens and /v3/auth/catalog carry it. */
export const catalogView = (catalog: CatalogService[]) =>
  catalog.map((s) => ({
    endpoints: s.endpoints.map((e) => ({ id: e.id, interface: e.interface, region_id: e.region_id, url: e.url, region: e.region })),
    id: s.id,
    type: s.type,
    name: s.name,
  }));

/** `{"token": …}` of POST/GET /v3/auth/tokens. */
export function tokenView(info: TokenInfo, catalog: CatalogService[] | null, serviceProviders: Array<{ auth_url: string; id: string; sp_url: string }> = []) {
  const t: Record<string, unknown> = {
    methods: info.methods,
    user: { domain: info.user.domain, id: info.user.id, name: info.user.name, password_expires_at: null },
    audit_ids: info.auditIds,
    expires_at: info.expiresAt,
    issued_at: info.issuedAt,
  };
  // A trust-scoped token shows its roles whole, as Keystone's trust token does.
  const roles = info.roles.map((r) =>
    r.full ? { id: r.id, name: r.name, domain_id: r.full.domain_id, description: r.full.description, options: r.full.options } : { id: r.id, name: r.name },
  );
  switch (info.scope.kind) {
    case 'project':
      if (info.trust) {
        t['OS-TRUST:trust'] = {
          id: info.trust.id,
          trustor_user: { id: info.trust.trustorId },
          trustee_user: { id: info.trust.trusteeId },
          impersonation: info.trust.impersonation,
        };
      }
      t.project = { domain: info.project!.domain, id: info.project!.id, name: info.project!.name };
      if (!info.trust) t.is_domain = false;
      t.roles = roles;
      break;
    case 'domain':
      t.domain = info.domain;
      t.roles = roles;
      break;
    case 'system':
      t.roles = roles;
      t.system = { all: true };
      break;
    case 'unscoped':
      break;
  }
  if (info.scope.kind !== 'unscoped' && catalog) t.catalog = catalogView(catalog);
  // Keystone lists the enabled OS-FEDERATION service providers (K2K) in every token, then
  // what the token was delegated through (common/render_token.py's order).
  if (serviceProviders.length) t.service_providers = serviceProviders;
  if (info.oauth) t['OS-OAUTH1'] = { access_token_id: info.oauth.accessTokenId, consumer_id: info.oauth.consumerId };
  if (info.appCred) {
    t.application_credential = {
      id: info.appCred.id,
      name: info.appCred.name,
      restricted: info.appCred.restricted,
      ...(info.appCred.accessRules.length ? { access_rules: info.appCred.accessRules.map(accessRuleView) } : {}),
    };
  }
  return { token: t };
}

/** Keystone v2.0's `access` document, as keystoneauth's v2 plugin reads it. */
export function accessView(token: string, info: TokenInfo, catalog: CatalogService[]) {
  const scoped = info.scope.kind === 'project';
  return {
    access: {
      token: {
        issued_at: info.issuedAt,
        // v2.0 expiry has whole seconds.
        expires: info.expiresAt.replace(/\.\d+Z$/, 'Z'),
        id: token,
        audit_ids: info.auditIds,
        ...(scoped ? { tenant: { id: info.project!.id, name: info.project!.name, description: info.project!.description, enabled: true } } : {}),
      },
      serviceCatalog: scoped
        ? catalog.map((s) => {
            const regions = [...new Set(s.endpoints.map((e) => e.region))];
            return {
              endpoints: regions.map((region) => {
                const url = (iface: string) => s.endpoints.find((e) => e.region === region && e.interface === iface)?.url;
                const pub = s.endpoints.find((e) => e.region === region && e.interface === 'public');
                return { id: pub?.id, region, publicURL: url('public'), internalURL: url('internal'), adminURL: url('admin') };
              }),
              endpoints_links: [],
              type: s.type,
              name: s.name,
            };
          })
        : [],
      user: {
        id: info.user.id,
        name: info.user.name,
        username: info.user.name,
        roles_links: [],
        roles: info.roles.map((r) => ({ name: r.name })),
      },
      metadata: { is_admin: 0, roles: info.roles.map((r) => r.id) },
    },
  };
}

export interface AssignmentNames {
  users: Map<string, { name: string; domain: { id: string; name: string } }>;
  groups: Map<string, { name: string; domain: { id: string; name: string } }>;
  projects: Map<string, { name: string; domain: { id: string; name: string } }>;
  domains: Map<string, string>;
  roles: Map<string, { name: string; domain?: { id: string; name: string } }>;
}

/** One entry of GET /v3/role_assignments. */
export function assignmentView(base: string, a: Assignment, names?: AssignmentNames) {
  const scope =
    a.targetType === 'project'
      ? { project: { id: a.targetId, ...(names ? { name: names.projects.get(a.targetId)?.name, domain: names.projects.get(a.targetId)?.domain } : {}) } }
      : a.targetType === 'domain'
        ? { domain: { id: a.targetId, ...(names ? { name: names.domains.get(a.targetId) } : {}) } }
        : { system: { all: true } };
  // The grant's own target: for an assignment a project inherits, the domain or ancestor granted on.
  const granted = a.inherited?.from ?? { type: a.targetType, id: a.targetId };
  const targetPath = granted.type === 'system' ? '/system' : `/${granted.type}s/${granted.id}`;
  // The assignment link names the granted role (and the group it came through); an inferred one
  // also links the rule. Keystone writes that rule link with the implied role first. An inherited
  // grant (stored, or what a project inherits from it) is marked in the scope and linked at its
  // OS-INHERIT path, as keystone/api/role_assignments.py formats it.
  const actorPath = a.groupId ? `/groups/${a.groupId}` : `/users/${a.userId}`;
  const links: Record<string, string> = {};
  if (a.userId && a.groupId) links.membership = `${base}/v3/groups/${a.groupId}/users/${a.userId}`;
  const grantPath = `${targetPath}${actorPath}/roles/${a.priorRoleId ?? a.roleId}`;
  links.assignment = a.inherited ? `${base}/v3/OS-INHERIT${grantPath}/inherited_to_projects` : `${base}/v3${grantPath}`;
  if (a.inherited) Object.assign(scope, { 'OS-INHERIT:inherited_to': 'projects' });
  if (a.priorRoleId) links.prior_role = `${base}/v3/prior_role/${a.roleId}/implies/${a.priorRoleId}`;
  const actor = a.userId
    ? { user: names ? { id: a.userId, name: names.users.get(a.userId)?.name, domain: names.users.get(a.userId)?.domain } : { id: a.userId } }
    : { group: names ? { id: a.groupId!, name: names.groups.get(a.groupId!)?.name, domain: names.groups.get(a.groupId!)?.domain } : { id: a.groupId! } };
  const roleName = names?.roles.get(a.roleId);
  const role = names ? { id: a.roleId, name: roleName?.name, ...(roleName?.domain ? { domain: roleName.domain } : {}) } : { id: a.roleId };
  return { links, scope, ...actor, role };
}
