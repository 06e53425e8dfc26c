import { createHash, randomBytes } from 'node:crypto';
import type { Store, Tx } from '../../store/db.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import type { CatalogService } from '../catalog.js';
import type { RequestContext } from '../context.js';
import { unauthorized } from '../errors.js';
import { Assignments, SYSTEM_ALL } from './assignments.js';
import { type AuthOutcome, authenticateV2, authenticateV3 } from './auth.js';
import { Domains } from './domains.js';
import { DEFAULT_DOMAIN_ID, type IdentityChange, type IdentityEnv, type Scope, type TokenInfo } from './model.js';
import type { UnitOfWork } from '../work.js';
import { generatePassword, hashPassword, verifyPassword } from './passwords.js';
import { Projects } from './projects.js';
import { Roles } from './roles.js';
import { Users } from './users.js';

export { DEFAULT_DOMAIN_ID } from './model.js';
export type { NamedRef, RoleRef, Scope, TokenInfo } from './model.js';

export interface IdentityOptions {
  tokenTtlSeconds: number;
  catalog: () => CatalogService[];
}

export interface BootstrapResult {
  adminPassword: string | null;
  demoPassword: string | null;
  firstStart: boolean;
}

/** A token looked up: valid (with what it stands for), known but no longer valid, or unknown. */
export type TokenLookup = { status: 'valid'; info: TokenInfo } | { status: 'invalid' } | { status: 'unknown' };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Keystone audit ids: 22 URL-safe characters. */
const auditId = () => randomBytes(16).toString('base64url').slice(0, 22);

/**
 * How long a validated token is trusted without looking at the store again. Changes made
 * through this process clear the cache at once; another server sharing the database sees
 * them within this window.
 */
const CACHE_MS = 2000;
const CACHE_MAX = 10_000;

/**
 * Identity: domains, projects, users, roles, grants and tokens. Tokens are random opaque strings;
 * the store keeps only their SHA-256, so a copy of the database holds no usable token. What a
 * token stands for (user, scope, roles) is resolved when it is validated, as Keystone's fernet
 * tokens are, so a removed role, user or project stops its tokens at once, not at expiry.
 */
export class IdentityService implements IdentityEnv {
  private readonly cache = new Map<string, { info: TokenInfo; until: number }>();
  /** Bumped by every change; a validation that raced with one is not cached. */
  private generation = 0;
  readonly domains: Domains;
  readonly projects: Projects;
  readonly users: Users;
  readonly roles: Roles;
  readonly assignments: Assignments;

  constructor(
    readonly uow: UnitOfWork,
    readonly opts: IdentityOptions,
  ) {
    this.domains = new Domains(this);
    this.projects = new Projects(this);
    this.users = new Users(this);
    this.roles = new Roles(this);
    this.assignments = new Assignments(this);
  }

  get store(): Store {
    return this.uow.store;
  }

  get catalog(): CatalogService[] {
    return this.opts.catalog();
  }

  /** Something a token depends on changed: forget every cached validation. */
  private changed(): void {
    this.generation++;
    this.cache.clear();
  }

  async write<T>(change: IdentityChange, fn: (trx: Tx) => Promise<T>): Promise<T> {
    return this.uow.run(async (w) => {
      const out = await fn(w.trx);
      w.changed('identity', change.id, change.projectId ?? null, change.op);
      w.afterCommit(() => this.changed());
      return out;
    });
  }

  // ------------------------------------------------------------ bootstrap

  /**
   * First start, as `keystone-manage bootstrap` plus DevStack's demo: domain Default, projects
   * admin and demo, users admin (role admin on project admin, domain Default and the system)
   * and demo (role member on demo, its default project), roles admin → member → reader
   * (implied, immutable) and the Octavia roles. Passwords come from the caller or are
   * generated; they are returned (to write the openrc files) only when they were set now.
   */
  async bootstrap(opts: { adminPassword?: string; demoPassword?: string }): Promise<BootstrapResult> {
    const now = isoMicros();
    const adminHash = opts.adminPassword ? await hashPassword(opts.adminPassword) : undefined;
    const demoHash = opts.demoPassword ? await hashPassword(opts.demoPassword) : undefined;
    const result = await this.write({ id: DEFAULT_DOMAIN_ID, op: 'update' }, async (trx) => {
      const existing = await trx.selectFrom('domains').select('id').where('id', '=', DEFAULT_DOMAIN_ID).executeTakeFirst();
      if (!existing) {
        await trx
          .insertInto('domains')
          .values({ id: DEFAULT_DOMAIN_ID, name: 'Default', description: 'The default domain', enabled: 1, tags: '[]', extra: '{}', created_at: now })
          .execute();
      }
      const roleIds: Record<string, string> = {};
      for (const name of ['admin', 'member', 'reader', 'load-balancer_admin', 'load-balancer_member']) {
        const r = await trx.selectFrom('roles').select('id').where('name', '=', name).executeTakeFirst();
        if (r) roleIds[name] = r.id;
        else {
          roleIds[name] = hexId();
          const immutable = ['admin', 'member', 'reader'].includes(name);
          await trx
            .insertInto('roles')
            .values({ id: roleIds[name], name, domain_id: null, description: null, extra: '{}', options: JSON.stringify(immutable ? { immutable: true } : {}) })
            .execute();
        }
      }
      for (const [prior, implied] of [
        ['admin', 'member'],
        ['member', 'reader'],
      ]) {
        if (!(await this.roles.implies(roleIds[prior], roleIds[implied], trx))) {
          await trx.insertInto('implied_roles').values({ prior_role_id: roleIds[prior], implied_role_id: roleIds[implied] }).execute();
        }
      }
      const result: BootstrapResult = { adminPassword: null, demoPassword: null, firstStart: !existing };
      for (const [name, role, given, hash, description] of [
        ['admin', 'admin', opts.adminPassword, adminHash, 'Bootstrap project for initializing the cloud.'],
        ['demo', 'member', opts.demoPassword, demoHash, 'Demo project'],
      ] as const) {
        let project = await trx.selectFrom('projects').select('id').where('domain_id', '=', DEFAULT_DOMAIN_ID).where('name', '=', name).executeTakeFirst();
        if (!project) {
          project = { id: hexId() };
          await trx
            .insertInto('projects')
            .values({
              id: project.id,
              name,
              domain_id: DEFAULT_DOMAIN_ID,
              description,
              enabled: 1,
              parent_id: DEFAULT_DOMAIN_ID,
              tags: '[]',
              extra: '{}',
              options: '{}',
              created_at: now,
            })
            .execute();
        }
        let user = await trx
          .selectFrom('users')
          .select(['id', 'password_hash'])
          .where('domain_id', '=', DEFAULT_DOMAIN_ID)
          .where('name', '=', name)
          .executeTakeFirst();
        let password: string | null = null;
        if (!user) {
          password = given ?? generatePassword();
          const h = hash ?? (await hashPassword(password));
          user = { id: hexId(), password_hash: h };
          await trx
            .insertInto('users')
            .values({
              id: user.id,
              name,
              domain_id: DEFAULT_DOMAIN_ID,
              password_hash: h,
              enabled: 1,
              // keystone-manage bootstrap gives admin no default project; DevStack's demo has one.
              default_project_id: name === 'demo' ? project.id : null,
              extra: '{}',
              options: '{}',
              created_at: now,
            })
            .execute();
        } else if (given && hash && !(await verifyPassword(given, user.password_hash))) {
          // A password given in the environment wins over the stored one.
          await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', user.id).execute();
          await trx.updateTable('tokens').set({ revoked: 1 }).where('user_id', '=', user.id).execute();
          password = given;
        } else if (given) {
          password = given;
        }
        if (name === 'admin') result.adminPassword = password;
        else result.demoPassword = password;
        await this.assignments.grant(user.id, 'project', project.id, roleIds[role], trx);
        if (name === 'admin') {
          await this.assignments.grant(user.id, 'domain', DEFAULT_DOMAIN_ID, roleIds.admin, trx);
          await this.assignments.grant(user.id, 'system', SYSTEM_ALL, roleIds.admin, trx);
        }
      }
      return result;
    });
    return result;
  }

  // ------------------------------------------------------------ authentication

  /** POST /v3/auth/tokens (body validated by the edge): authenticate and issue. */
  async authenticateV3(auth: Record<string, unknown> | null | undefined): Promise<{ token: string; info: TokenInfo }> {
    return this.issueFor(await authenticateV3(this, auth));
  }

  /** POST /v2.0/tokens. */
  async authenticateV2(body: unknown): Promise<{ token: string; info: TokenInfo }> {
    return this.issueFor(await authenticateV2(this, body));
  }

  private issueFor(a: AuthOutcome): Promise<{ token: string; info: TokenInfo }> {
    return this.issueToken({ userId: a.userId, scope: a.scope, methods: a.methods, parent: a.parent });
  }

  /**
   * Issue a token for an authenticated user. Refused (401) when the user has no role on the
   * requested project, domain or system, as Keystone refuses it.
   */
  async issueToken(args: { userId: string; scope: Scope; methods: string[]; parent?: TokenInfo }): Promise<{ token: string; info: TokenInfo }> {
    const token = `gAAAAA${randomBytes(96).toString('base64url')}`;
    const issued = new Date();
    // A re-scoped token keeps its parent's expiry and audit chain.
    const expires = args.parent ? args.parent.expiresAt : isoMicros(new Date(issued.getTime() + this.opts.tokenTtlSeconds * 1000));
    const audit = [auditId(), ...(args.parent ? [args.parent.auditIds.at(-1)!] : [])];
    const scope = args.scope;
    await this.store.db
      .insertInto('tokens')
      .values({
        id_hash: sha256(token),
        user_id: args.userId,
        project_id: scope.kind === 'project' ? scope.projectId : null,
        domain_id: scope.kind === 'domain' ? scope.domainId : null,
        system_scope: scope.kind === 'system' ? 1 : 0,
        methods: JSON.stringify(args.methods),
        audit_ids: JSON.stringify(audit),
        issued_at: isoMicros(issued),
        expires_at: expires,
        revoked: 0,
      })
      .execute();
    const found = await this.inspect(token);
    if (found.status !== 'valid') {
      await this.store.db.deleteFrom('tokens').where('id_hash', '=', sha256(token)).execute();
      throw unauthorized();
    }
    return { token, info: found.info };
  }

  /** Resolve a token; null when unknown, revoked, expired, or its user/project/role is gone. */
  async validate(token: string): Promise<TokenInfo | null> {
    const found = await this.inspect(token);
    return found.status === 'valid' ? found.info : null;
  }

  /** Like validate(), but tells an unknown token from one that is no longer valid. */
  async inspect(token: string): Promise<TokenLookup> {
    const key = sha256(token);
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) {
      if (Date.parse(hit.info.expiresAt) > now) return { status: 'valid', info: hit.info };
      this.cache.delete(key);
      return { status: 'invalid' };
    }
    const generation = this.generation;
    const info = await this.resolve(key, now);
    if (info === 'unknown') return { status: 'unknown' };
    if (!info) return { status: 'invalid' };
    if (generation === this.generation) this.cache.set(key, { info, until: now + CACHE_MS });
    if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    return { status: 'valid', info };
  }

  private async resolve(key: string, now: number): Promise<TokenInfo | null | 'unknown'> {
    const db = this.store.db;
    const t = await db.selectFrom('tokens').selectAll().where('id_hash', '=', key).executeTakeFirst();
    if (!t) return 'unknown';
    if (t.revoked || Date.parse(t.expires_at) <= now) return null;
    const user = await db
      .selectFrom('users as u')
      .innerJoin('domains as d', 'd.id', 'u.domain_id')
      .select(['u.id', 'u.name', 'u.enabled', 'd.id as domain_id', 'd.name as domain_name', 'd.enabled as domain_enabled'])
      .where('u.id', '=', t.user_id)
      .executeTakeFirst();
    if (!user || !user.enabled || !user.domain_enabled) return null;
    const info: TokenInfo = {
      methods: JSON.parse(t.methods),
      user: { id: user.id, name: user.name, domain: { id: user.domain_id, name: user.domain_name } },
      auditIds: JSON.parse(t.audit_ids),
      issuedAt: t.issued_at,
      expiresAt: t.expires_at,
      scope: { kind: 'unscoped' },
      roles: [],
    };
    if (t.project_id) {
      const p = await db
        .selectFrom('projects as p')
        .innerJoin('domains as d', 'd.id', 'p.domain_id')
        .select(['p.id', 'p.name', 'p.description', 'p.enabled', 'd.id as domain_id', 'd.name as domain_name', 'd.enabled as domain_enabled'])
        .where('p.id', '=', t.project_id)
        .executeTakeFirst();
      if (!p || !p.enabled || !p.domain_enabled) return null;
      info.scope = { kind: 'project', projectId: p.id };
      info.project = { id: p.id, name: p.name, description: p.description, enabled: true, domain: { id: p.domain_id, name: p.domain_name } };
      info.roles = await this.assignments.effectiveRoles(user.id, 'project', p.id);
    } else if (t.domain_id) {
      const d = await db.selectFrom('domains').select(['id', 'name', 'enabled']).where('id', '=', t.domain_id).executeTakeFirst();
      if (!d || !d.enabled) return null;
      info.scope = { kind: 'domain', domainId: d.id };
      info.domain = { id: d.id, name: d.name };
      info.roles = await this.assignments.effectiveRoles(user.id, 'domain', d.id);
    } else if (t.system_scope) {
      info.scope = { kind: 'system' };
      info.roles = await this.assignments.effectiveRoles(user.id, 'system', SYSTEM_ALL);
    }
    if (info.scope.kind !== 'unscoped' && info.roles.length === 0) return null;
    return info;
  }

  /** Revoke a token; false when it was not valid. */
  async revoke(token: string): Promise<boolean> {
    const key = sha256(token);
    this.cache.delete(key);
    const res = await this.store.db.updateTable('tokens').set({ revoked: 1 }).where('id_hash', '=', key).where('revoked', '=', 0).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Drop token rows a day past expiry; called periodically. */
  async purgeExpired(): Promise<void> {
    await this.store.db
      .deleteFrom('tokens')
      .where('expires_at', '<', isoMicros(new Date(Date.now() - 24 * 3600 * 1000)))
      .execute();
  }

  /** TokenAuthenticator for the other services' edges. */
  async authenticate(token: string, requestId: string): Promise<RequestContext> {
    const info = await this.validate(token);
    if (!info) throw unauthorized();
    return contextOf(info, requestId);
  }
}

export function contextOf(info: TokenInfo, requestId: string): RequestContext {
  const roles = info.roles.map((r) => r.name);
  return {
    userId: info.user.id,
    userName: info.user.name,
    userDomainId: info.user.domain.id,
    projectId: info.project?.id ?? null,
    projectName: info.project?.name ?? null,
    projectDomainId: info.project?.domain.id ?? null,
    roles,
    isAdmin: roles.includes('admin'),
    requestId,
    expiresAt: info.expiresAt,
  };
}
