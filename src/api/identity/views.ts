import type { CatalogService } from '../../core/catalog.js';
import type { Assignment } from '../../core/identity/assignments.js';
import type { Domain, Project, Role, TokenInfo, User } from '../../core/identity/model.js';

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
export function tokenView(info: TokenInfo, catalog: CatalogService[] | null) {
  const t: Record<string, unknown> = {
    methods: info.methods,
    user: { domain: info.user.domain, id: info.user.id, name: info.user.name, password_expires_at: null },
    audit_ids: info.auditIds,
    expires_at: info.expiresAt,
    issued_at: info.issuedAt,
  };
  const roles = info.roles.map((r) => ({ id: r.id, name: r.name }));
  switch (info.scope.kind) {
    case 'project':
      t.project = { domain: info.project!.domain, id: info.project!.id, name: info.project!.name };
      t.is_domain = false;
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
  projects: Map<string, { name: string; domain: { id: string; name: string } }>;
  domains: Map<string, string>;
  roles: Map<string, string>;
}

/** One entry of GET /v3/role_assignments. */
export function assignmentView(base: string, a: Assignment, names?: AssignmentNames) {
  const scope =
    a.targetType === 'project'
      ? { project: { id: a.targetId, ...(names ? { name: names.projects.get(a.targetId)?.name, domain: names.projects.get(a.targetId)?.domain } : {}) } }
      : a.targetType === 'domain'
        ? { domain: { id: a.targetId, ...(names ? { name: names.domains.get(a.targetId) } : {}) } }
        : { system: { all: true } };
  const targetPath = a.targetType === 'system' ? '/system' : `/${a.targetType}s/${a.targetId}`;
  // The assignment link names the granted role; an inferred one also links the rule. Keystone
  // writes that rule link with the implied role first.
  const links: Record<string, string> = { assignment: `${base}/v3${targetPath}/users/${a.userId}/roles/${a.priorRoleId ?? a.roleId}` };
  if (a.priorRoleId) links.prior_role = `${base}/v3/prior_role/${a.roleId}/implies/${a.priorRoleId}`;
  const user = names ? { id: a.userId, name: names.users.get(a.userId)?.name, domain: names.users.get(a.userId)?.domain } : { id: a.userId };
  const role = names ? { id: a.roleId, name: names.roles.get(a.roleId) } : { id: a.roleId };
  return { links, scope, user, role };
}
