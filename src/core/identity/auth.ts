import { unauthorized } from '../errors.js';
import { expecting, forbiddenAction, tokenNotFound, unsupportedAuthMethod } from './errors.js';
import { DEFAULT_DOMAIN_ID, type Scope, type TokenInfo } from './model.js';
import type { IdentityService } from './service.js';
import { verifyPassword } from './passwords.js';

/** Authentication methods this Keystone knows. */
export const AUTH_METHODS = ['password', 'token'];

export interface AuthOutcome {
  userId: string;
  scope: Scope;
  methods: string[];
  /** The token a `token`-method request re-scoped (its expiry and audit id carry over). */
  parent?: TokenInfo;
}

type Obj = Record<string, any>;

/**
 * POST /v3/auth/tokens after schema validation, in Keystone's order: method payloads present
 * and supported, the requested scope resolved, then each method authenticated, then the
 * user's default project when no scope was asked for. Every credential or scope failure is a
 * bare 401.
 */
export async function authenticateV3(identity: IdentityService, auth: Obj | null | undefined): Promise<AuthOutcome> {
  if (!auth || Object.keys(auth).length === 0) throw expecting('auth', 'request body');
  const ident = auth.identity as Obj;
  const methods = [...new Set<string>(ident.methods)];
  for (const m of methods) if (!(m in ident)) throw expecting(m, 'identity');
  for (const m of methods) if (!AUTH_METHODS.includes(m)) throw unsupportedAuthMethod(AUTH_METHODS);

  const requested = await resolveScope(identity, auth.scope);

  let userId: string | undefined;
  let parent: TokenInfo | undefined;
  const methodNames: string[] = [];
  for (const m of methods) {
    let who: string;
    if (m === 'password') {
      who = await passwordUser(identity, ident.password as Obj);
      methodNames.unshift('password');
    } else {
      parent = await tokenParent(identity, ident.token as Obj, requested);
      who = parent.user.id;
      methodNames.unshift('token');
      for (const pm of parent.methods) if (!methodNames.includes(pm)) methodNames.push(pm);
    }
    // Several methods must all name the same user.
    if (userId !== undefined && userId !== who) throw unauthorized();
    userId = who;
  }
  if (userId === undefined) throw unauthorized();

  let scope: Scope = requested ?? { kind: 'unscoped' };
  if (requested === undefined) scope = await defaultScope(identity, userId);
  return { userId, scope, methods: methodNames, parent };
}

/** `auth.scope` → a scope; undefined when none was given (explicit "unscoped" is unscoped). */
async function resolveScope(identity: IdentityService, scope: unknown): Promise<Scope | undefined> {
  if (scope === undefined) return undefined;
  // Keystone tests membership with Python's `in`: on a string that is a substring test.
  const hasKey = (k: string) => (typeof scope === 'string' ? scope.includes(k) : Object.hasOwn(scope as object, k));
  const kinds = ['project', 'domain', 'unscoped', 'system', 'OS-TRUST:trust'].filter(hasKey);
  if (kinds.length !== 1) throw expecting('system, project, domain, OS-TRUST:trust or unscoped', 'scope');
  const s = scope as Obj;
  switch (kinds[0]) {
    case 'system':
      return { kind: 'system' };
    case 'unscoped':
      return { kind: 'unscoped' };
    case 'project': {
      const p = s.project as Obj;
      let projectId: string;
      if (p.name) {
        if (!('domain' in p)) throw expecting('domain', 'project');
        const domain = await enabledDomain(identity, p.domain as Obj);
        const project = await identity.projects.findByName(p.name, domain.id);
        if (!project) throw unauthorized();
        if (!project.enabled) throw unauthorized();
        projectId = project.id;
      } else {
        const project = await identity.projects.find(String(p.id));
        if (!project) throw unauthorized();
        await enabledDomain(identity, { id: project.domain_id });
        if (!project.enabled) throw unauthorized();
        projectId = project.id;
      }
      return { kind: 'project', projectId };
    }
    case 'domain': {
      const domain = await enabledDomain(identity, s.domain as Obj);
      return { kind: 'domain', domainId: domain.id };
    }
    default:
      // Trusts are not built, so no trust id can be found: Keystone answers that with a 401.
      throw unauthorized();
  }
}

async function enabledDomain(identity: IdentityService, ref: Obj): Promise<{ id: string }> {
  const d = ref.name ? await identity.domains.findByName(String(ref.name)) : await identity.domains.find(String(ref.id));
  if (!d || !d.enabled) throw unauthorized();
  return d;
}

/** The password method: find the user (by id, or name + domain) and check the password. */
async function passwordUser(identity: IdentityService, payload: Obj): Promise<string> {
  if (!('user' in payload)) throw expecting('user', 'password');
  const u = payload.user as Obj;
  if (!u.id && !u.name) throw expecting('id or name', 'user');
  let user;
  if (u.name) {
    if (!('domain' in u)) throw expecting('domain', 'user');
    const d = u.domain as Obj;
    if (!d.id && !d.name) throw expecting('id or name', 'domain');
    const domain = await enabledDomain(identity, d);
    user = await identity.users.findByName(String(u.name), domain.id);
  } else {
    user = await identity.users.find(String(u.id));
    if (user) await enabledDomain(identity, { id: user.domain_id });
  }
  if (!user || !user.enabled) throw unauthorized();
  const hash = await identity.users.passwordHash(user.id);
  if (typeof u.password !== 'string' || !(await verifyPassword(u.password, hash))) throw unauthorized();
  return user.id;
}

/** The token method: a valid token of the same user; a system token cannot become a project or domain one. */
async function tokenParent(identity: IdentityService, payload: Obj, requested: Scope | undefined): Promise<TokenInfo> {
  if (!('id' in payload)) throw expecting('id', 'token');
  const found = await identity.inspect(String(payload.id));
  if (found.status === 'unknown') throw tokenNotFound('Could not recognize Fernet token');
  if (found.status === 'invalid') throw tokenNotFound('Failed to validate token');
  const parent = found.info;
  if (parent.scope.kind === 'system' && (requested?.kind === 'project' || requested?.kind === 'domain')) {
    throw forbiddenAction('Using a system-scoped token to create a project-scoped or domain-scoped token is not allowed.');
  }
  return parent;
}

/** No scope asked for: the user's default project if it is usable, else unscoped. */
async function defaultScope(identity: IdentityService, userId: string): Promise<Scope> {
  const user = await identity.users.find(userId);
  if (!user?.default_project_id) return { kind: 'unscoped' };
  const project = await identity.projects.find(user.default_project_id);
  if (!project?.enabled) return { kind: 'unscoped' };
  const domain = await identity.domains.find(project.domain_id);
  if (!domain?.enabled) return { kind: 'unscoped' };
  const roles = await identity.assignments.effectiveRoles(userId, 'project', project.id);
  return roles.length ? { kind: 'project', projectId: project.id } : { kind: 'unscoped' };
}

// ------------------------------------------------------------ v2.0

/**
 * POST /v2.0/tokens as keystoneauth's v2 plugins send it: `passwordCredentials` (username or
 * userId) or `token`, plus `tenantName` or `tenantId`. v2.0 has no domains: names are looked up
 * in the default domain.
 */
export async function authenticateV2(identity: IdentityService, body: unknown): Promise<AuthOutcome> {
  const auth = (body as Obj | undefined)?.auth;
  if (!auth || typeof auth !== 'object' || Array.isArray(auth)) throw expecting('auth', 'request body');
  let userId: string;
  let parent: TokenInfo | undefined;
  let methods: string[];
  if (auth.passwordCredentials && typeof auth.passwordCredentials === 'object') {
    const pc = auth.passwordCredentials as Obj;
    if (typeof pc.password !== 'string') throw expecting('password', 'passwordCredentials');
    let user;
    if (typeof pc.userId === 'string') user = await identity.users.find(pc.userId);
    else if (typeof pc.username === 'string') user = await identity.users.findByName(pc.username, DEFAULT_DOMAIN_ID);
    else throw expecting('username', 'passwordCredentials');
    if (!user || !user.enabled) throw unauthorized();
    await enabledDomain(identity, { id: user.domain_id });
    if (!(await verifyPassword(pc.password, await identity.users.passwordHash(user.id)))) throw unauthorized();
    userId = user.id;
    methods = ['password'];
  } else if (auth.token && typeof auth.token === 'object') {
    const found = await identity.inspect(String((auth.token as Obj).id ?? ''));
    if (found.status !== 'valid') throw unauthorized();
    parent = found.info;
    userId = parent.user.id;
    methods = ['token', ...parent.methods.filter((m) => m !== 'token')];
  } else {
    throw expecting('passwordCredentials or token', 'auth');
  }
  let scope: Scope = { kind: 'unscoped' };
  if (typeof auth.tenantId === 'string' || typeof auth.tenantName === 'string') {
    const project =
      typeof auth.tenantId === 'string' ? await identity.projects.find(auth.tenantId) : await identity.projects.findByName(auth.tenantName, DEFAULT_DOMAIN_ID);
    if (!project || !project.enabled) throw unauthorized();
    await enabledDomain(identity, { id: project.domain_id });
    scope = { kind: 'project', projectId: project.id };
  }
  return { userId, scope, methods, parent };
}
