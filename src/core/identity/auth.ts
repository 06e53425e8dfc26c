import { isDict } from '../../util/json.js';
import { unauthorized } from '../errors.js';
import { KeystoneError, expecting, forbiddenAction, tokenNotFound, unsupportedAuthMethod } from './errors.js';
import { type AppCreds, timeMs } from './appcreds.js';
import type { Assignments } from './assignments.js';
import type { Domains } from './domains.js';
import { DEFAULT_DOMAIN_ID, type Scope, type TokenInfo, type User } from './model.js';
import { verifyPassword } from './passwords.js';
import type { Projects } from './projects.js';
import type { Delegation, Tokens } from './tokens.js';
import type { OAuth1, SignedRequest } from './oauth1.js';
import type { Trusts } from './trusts.js';
import type { Users } from './users.js';

/** Authentication methods this Keystone knows. */
export const AUTH_METHODS = ['password', 'token', 'oauth1', 'application_credential'];

/** What authentication reads: the identity managers and the tokens (IdentityService is one). */
export interface AuthEnv {
  readonly domains: Domains;
  readonly projects: Projects;
  readonly users: Users;
  readonly assignments: Assignments;
  readonly tokens: Tokens;
  readonly appCreds: AppCreds;
  readonly trusts: Trusts;
  readonly oauth1: OAuth1;
}

export interface AuthOutcome {
  userId: string;
  scope: Scope;
  methods: string[];
  /** The token a `token`-method request re-scoped (its expiry and audit id carry over). */
  parent?: TokenInfo;
  /** The trust or application credential the token is issued through. */
  delegation?: Delegation;
  /** The delegation's own expiry, which the token may not outlive. */
  expiresBy?: string | null;
}

/** "Error authenticating with application credential: …" (a 401 that says why). */
const appCredError = (why: string) =>
  new KeystoneError('unauthorized', 'Unauthorized', `Error authenticating with application credential: ${why}`, { identity: {} });

/**
 * `o[key]` when `o` is a JSON object with that key of its own (as Python's `key in dict`), else
 * undefined. Request bodies reach here checked against the schema (tokenIssue), but a key the
 * schema leaves open is still the client's.
 */
function member(o: unknown, key: string): unknown {
  return isDict(o) && Object.hasOwn(o, key) ? o[key] : undefined;
}

const has = (o: unknown, key: string): boolean => isDict(o) && Object.hasOwn(o, key);

/**
 * POST /v3/auth/tokens after schema validation, in Keystone's order: method payloads present
 * and supported, the requested scope resolved, then each method authenticated, then the
 * user's default project when no scope was asked for. Every credential or scope failure is a
 * bare 401.
 */
export async function authenticateV3(identity: AuthEnv, auth: Record<string, unknown> | null | undefined, signed?: SignedRequest): Promise<AuthOutcome> {
  if (!auth || Object.keys(auth).length === 0) throw expecting('auth', 'request body');
  const ident = member(auth, 'identity');
  // The schema requires identity.methods, a list of strings.
  const methods = [...new Set(member(ident, 'methods') as string[])];
  for (const m of methods) if (!has(ident, m)) throw expecting(m, 'identity');
  for (const m of methods) if (!AUTH_METHODS.includes(m)) throw unsupportedAuthMethod(AUTH_METHODS);

  const scopeRequest = member(auth, 'scope');
  const trustId = typeof scopeRequest === 'object' ? member(member(scopeRequest, 'OS-TRUST:trust'), 'id') : undefined;
  const requested = await resolveScope(identity, scopeRequest);

  let userId: string | undefined;
  let parent: TokenInfo | undefined;
  let appCred: { id: string; projectId: string; expiresAt: string | null } | undefined;
  let oauth: { id: string; projectId: string; expiresAt: string | null } | undefined;
  const methodNames: string[] = [];
  for (const m of methods) {
    let who: string;
    if (m === 'password') {
      who = await passwordUser(identity, member(ident, 'password'));
      methodNames.unshift('password');
    } else if (m === 'oauth1') {
      // The request itself is signed with an OAuth1 access token (its Authorization header).
      if (!signed) throw unauthorized();
      const at = await identity.oauth1.authenticate(signed);
      oauth = { id: at.id, projectId: at.project_id, expiresAt: at.expires_at };
      who = at.authorizing_user_id;
      methodNames.unshift('oauth1');
    } else if (m === 'application_credential') {
      if (scopeRequest !== undefined) throw appCredError('Application credentials cannot request a scope.');
      appCred = await appCredUser(identity, member(ident, 'application_credential'));
      who = (await identity.appCreds.row(appCred.id))!.user_id;
      methodNames.unshift('application_credential');
    } else {
      parent = await tokenParent(identity, member(ident, 'token'), requested);
      who = parent.user.id;
      methodNames.unshift('token');
      for (const pm of parent.methods) if (!methodNames.includes(pm)) methodNames.push(pm);
    }
    // Several methods must all name the same user.
    if (userId !== undefined && userId !== who) throw unauthorized();
    userId = who;
  }
  if (userId === undefined) throw unauthorized();
  if (parent && (parent.trust || parent.appCred || parent.oauth)) {
    throw forbiddenAction(
      parent.trust
        ? 'Using trust-scoped token to create another token. Create a new trust-scoped token instead'
        : 'Using a delegated token to create another token is not allowed.',
    );
  }

  if (oauth) {
    return {
      userId,
      scope: { kind: 'project', projectId: oauth.projectId },
      methods: methodNames,
      delegation: { oauthAccessTokenId: oauth.id },
      expiresBy: oauth.expiresAt ? oauth.expiresAt.replace(/Z$/, '') : null,
    };
  }
  if (appCred) {
    return {
      userId,
      scope: { kind: 'project', projectId: appCred.projectId },
      methods: methodNames,
      delegation: { appCredId: appCred.id },
      expiresBy: appCred.expiresAt,
    };
  }
  if (trustId !== undefined) {
    // OS-TRUST:trust: the authenticated user must be the trustee; the token is the trustor's
    // when the trust impersonates, scoped to the trust's project.
    const t = await identity.trusts.consume(String(trustId), userId);
    if (!t) throw unauthorized();
    if (!t.project_id) throw unauthorized();
    const project = await identity.projects.find(t.project_id);
    if (!project?.enabled) throw unauthorized();
    return {
      userId: t.impersonation ? t.trustor_user_id : userId,
      scope: { kind: 'project', projectId: t.project_id },
      methods: methodNames,
      parent,
      delegation: { trustId: t.id },
      expiresBy: t.expires_at,
    };
  }
  let scope: Scope = requested ?? { kind: 'unscoped' };
  if (requested === undefined) scope = await defaultScope(identity, userId);
  return { userId, scope, methods: methodNames, parent };
}

/**
 * The application_credential method: the credential by id, or by name with its user (by id, or
 * name and domain), and its secret, checked against the stored scrypt hash.
 */
async function appCredUser(identity: AuthEnv, payload: unknown): Promise<{ id: string; projectId: string; expiresAt: string | null }> {
  const id = member(payload, 'id');
  const name = member(payload, 'name');
  const secret = member(payload, 'secret');
  let row: Awaited<ReturnType<AppCreds['row']>>;
  if (id) {
    row = await identity.appCreds.row(String(id));
  } else {
    if (!name) throw expecting('id or name', 'application credential');
    if (!has(payload, 'user')) throw expecting('user', 'application credential');
    const u = member(payload, 'user');
    let user: User | undefined;
    if (member(u, 'id')) user = await identity.users.find(String(member(u, 'id')));
    else {
      if (!has(u, 'domain')) throw expecting('domain', 'user');
      const domain = await enabledDomain(identity, member(u, 'domain'));
      user = await identity.users.findByName(String(member(u, 'name')), domain.id);
    }
    if (!user) throw unauthorized();
    row = await identity.appCreds.rowByName(user.id, String(name));
  }
  if (!row) throw unauthorized();
  if (typeof secret !== 'string' || !(await verifyPassword(secret, row.secret_hash))) throw unauthorized();
  if (row.expires_at && timeMs(row.expires_at) <= Date.now()) throw appCredError('Application credential has expired.');
  const user = await identity.users.find(row.user_id);
  if (!user?.enabled) throw unauthorized();
  await enabledDomain(identity, { id: user.domain_id });
  return { id: row.id, projectId: row.project_id, expiresAt: row.expires_at };
}

/** `auth.scope` → a scope; undefined when none was given (explicit "unscoped" is unscoped). */
async function resolveScope(identity: AuthEnv, scope: unknown): Promise<Scope | undefined> {
  if (scope === undefined) return undefined;
  // Keystone tests membership with Python's `in`: on a string that is a substring test.
  const hasKey = (k: string) => (typeof scope === 'string' ? scope.includes(k) : has(scope, k));
  const kinds = ['project', 'domain', 'unscoped', 'system', 'OS-TRUST:trust'].filter(hasKey);
  if (kinds.length !== 1) throw expecting('system, project, domain, OS-TRUST:trust or unscoped', 'scope');
  switch (kinds[0]) {
    case 'system':
      return { kind: 'system' };
    case 'unscoped':
      return { kind: 'unscoped' };
    case 'project': {
      const p = member(scope, 'project');
      const name = member(p, 'name');
      let projectId: string;
      if (name) {
        if (!has(p, 'domain')) throw expecting('domain', 'project');
        const domain = await enabledDomain(identity, member(p, 'domain'));
        const project = await identity.projects.findByName(String(name), domain.id);
        if (!project) throw unauthorized();
        if (!project.enabled) throw unauthorized();
        projectId = project.id;
      } else {
        const project = await identity.projects.find(String(member(p, 'id')));
        if (!project) throw unauthorized();
        await enabledDomain(identity, { id: project.domain_id });
        if (!project.enabled) throw unauthorized();
        projectId = project.id;
      }
      return { kind: 'project', projectId };
    }
    case 'domain': {
      const domain = await enabledDomain(identity, member(scope, 'domain'));
      return { kind: 'domain', domainId: domain.id };
    }
    default:
      // OS-TRUST:trust: resolved once the user is authenticated (authenticateV3).
      return undefined;
  }
}

/** A domain named by `{name}` or `{id}`, which must exist and be enabled. */
async function enabledDomain(identity: AuthEnv, ref: unknown): Promise<{ id: string }> {
  const name = member(ref, 'name');
  const d = name ? await identity.domains.findByName(String(name)) : await identity.domains.find(String(member(ref, 'id')));
  if (!d?.enabled) throw unauthorized();
  return d;
}

/** The password method: find the user (by id, or name + domain) and check the password. */
async function passwordUser(identity: AuthEnv, payload: unknown): Promise<string> {
  if (!has(payload, 'user')) throw expecting('user', 'password');
  const u = member(payload, 'user');
  const id = member(u, 'id');
  const name = member(u, 'name');
  if (!id && !name) throw expecting('id or name', 'user');
  let user: User | undefined;
  if (name) {
    if (!has(u, 'domain')) throw expecting('domain', 'user');
    const d = member(u, 'domain');
    if (!member(d, 'id') && !member(d, 'name')) throw expecting('id or name', 'domain');
    const domain = await enabledDomain(identity, d);
    user = await identity.users.findByName(String(name), domain.id);
  } else {
    user = await identity.users.find(String(id));
    if (user) await enabledDomain(identity, { id: user.domain_id });
  }
  // One password check whatever was found, so an unknown or disabled user answers as slowly as a
  // wrong password does (the time must not tell which user names exist).
  const hash = user?.enabled ? await identity.users.passwordHash(user.id) : null;
  const password = member(u, 'password');
  const ok = await verifyPassword(typeof password === 'string' ? password : '', hash);
  if (!user?.enabled || typeof password !== 'string' || !ok) throw unauthorized();
  return user.id;
}

/** The token method: a valid token of the same user; a system token cannot become a project or domain one. */
async function tokenParent(identity: AuthEnv, payload: unknown, requested: Scope | undefined): Promise<TokenInfo> {
  if (!has(payload, 'id')) throw expecting('id', 'token');
  const found = await identity.tokens.inspect(String(member(payload, 'id')));
  if (found.status === 'unknown') throw tokenNotFound('Could not recognize Fernet token');
  if (found.status === 'invalid') throw tokenNotFound('Failed to validate token');
  const parent = found.info;
  if (parent.scope.kind === 'system' && (requested?.kind === 'project' || requested?.kind === 'domain')) {
    throw forbiddenAction('Using a system-scoped token to create a project-scoped or domain-scoped token is not allowed.');
  }
  return parent;
}

/** No scope asked for: the user's default project if it is usable, else unscoped. */
async function defaultScope(identity: AuthEnv, userId: string): Promise<Scope> {
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
export async function authenticateV2(identity: AuthEnv, body: unknown): Promise<AuthOutcome> {
  const auth = member(body, 'auth');
  if (!isDict(auth)) throw expecting('auth', 'request body');
  let userId: string;
  let parent: TokenInfo | undefined;
  let methods: string[];
  const credentials = member(auth, 'passwordCredentials');
  const token = member(auth, 'token');
  if (credentials && typeof credentials === 'object') {
    const password = member(credentials, 'password');
    const byId = member(credentials, 'userId');
    const byName = member(credentials, 'username');
    if (typeof password !== 'string') throw expecting('password', 'passwordCredentials');
    let user: User | undefined;
    if (typeof byId === 'string') user = await identity.users.find(byId);
    else if (typeof byName === 'string') user = await identity.users.findByName(byName, DEFAULT_DOMAIN_ID);
    else throw expecting('username', 'passwordCredentials');
    // One password check whatever was found (see passwordUser).
    const ok = await verifyPassword(password, user?.enabled ? await identity.users.passwordHash(user.id) : null);
    if (!user?.enabled) throw unauthorized();
    await enabledDomain(identity, { id: user.domain_id });
    if (!ok) throw unauthorized();
    userId = user.id;
    methods = ['password'];
  } else if (token && typeof token === 'object') {
    const found = await identity.tokens.inspect(String(member(token, 'id') ?? ''));
    if (found.status !== 'valid') throw unauthorized();
    parent = found.info;
    userId = parent.user.id;
    methods = ['token', ...parent.methods.filter((m) => m !== 'token')];
  } else {
    throw expecting('passwordCredentials or token', 'auth');
  }
  let scope: Scope = { kind: 'unscoped' };
  const tenantId = member(auth, 'tenantId');
  const tenantName = member(auth, 'tenantName');
  if (typeof tenantId === 'string' || typeof tenantName === 'string') {
    const project =
      typeof tenantId === 'string' ? await identity.projects.find(tenantId) : await identity.projects.findByName(String(tenantName), DEFAULT_DOMAIN_ID);
    if (!project?.enabled) throw unauthorized();
    await enabledDomain(identity, { id: project.domain_id });
    scope = { kind: 'project', projectId: project.id };
  }
  return { userId, scope, methods, parent };
}
