import { createHash, randomBytes } from 'node:crypto';
import type { Store, Tx } from '../../store/db.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import type { CatalogService } from '../catalog.js';
import type { RequestContext } from '../context.js';
import { unauthorized } from '../errors.js';
import { generatePassword, hashPassword, verifyPassword } from './passwords.js';

export const DEFAULT_DOMAIN_ID = 'default';

export interface IdentityOptions {
  tokenTtlSeconds: number;
  catalog: () => CatalogService[];
}

export type Scope =
  | { kind: 'project'; projectId: string }
  | { kind: 'domain'; domainId: string }
  | { kind: 'system' }
  | { kind: 'unscoped' };

export interface RoleRef {
  id: string;
  name: string;
}

export interface NamedRef {
  id: string;
  name: string;
  domain: { id: string; name: string };
}

/** Everything a token stands for, resolved against the current store. */
export interface TokenInfo {
  methods: string[];
  user: NamedRef;
  auditIds: string[];
  issuedAt: string;
  expiresAt: string;
  scope: Scope;
  project?: NamedRef;
  domain?: { id: string; name: string };
  roles: RoleRef[];
}

export interface BootstrapResult {
  adminPassword: string | null;
  demoPassword: string | null;
  firstStart: boolean;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Keystone audit ids: 22 URL-safe characters. */
const auditId = () => randomBytes(16).toString('base64url').slice(0, 22);

/** How long a validated token is trusted without looking at the store again. */
const CACHE_MS = 2000;

/**
 * Identity: users, projects, roles and tokens. Tokens are random opaque strings; the store keeps
 * only their SHA-256, so a copy of the database holds no usable token. Roles are resolved when a
 * token is validated (as Keystone's fernet tokens are), so a removed role or user stops working
 * at once, not at token expiry.
 */
export class IdentityService {
  private readonly cache = new Map<string, { info: TokenInfo; until: number }>();

  constructor(
    readonly store: Store,
    readonly opts: IdentityOptions,
  ) {}

  get catalog(): CatalogService[] {
    return this.opts.catalog();
  }

  // ------------------------------------------------------------ bootstrap

  /**
   * First start: domain Default, projects admin and demo, users admin (role admin) and demo
   * (role member), roles admin → member → reader (implied) and the Octavia roles. Passwords come
   * from the caller or are generated; they are returned (to write the openrc files) only when
   * they were set now.
   */
  async bootstrap(opts: { adminPassword?: string; demoPassword?: string }): Promise<BootstrapResult> {
    const now = isoMicros();
    const adminHash = opts.adminPassword ? await hashPassword(opts.adminPassword) : undefined;
    const demoHash = opts.demoPassword ? await hashPassword(opts.demoPassword) : undefined;
    return this.store.tx(async (trx) => {
      const existing = await trx.selectFrom('domains').select('id').where('id', '=', DEFAULT_DOMAIN_ID).executeTakeFirst();
      if (!existing) {
        await trx.insertInto('domains').values({ id: DEFAULT_DOMAIN_ID, name: 'Default', description: 'The default domain', enabled: 1, created_at: now }).execute();
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
            .values({ id: roleIds[name], name, domain_id: null, description: null, options: JSON.stringify(immutable ? { immutable: true } : {}) })
            .execute();
        }
      }
      for (const [prior, implied] of [['admin', 'member'], ['member', 'reader']]) {
        const has = await trx.selectFrom('implied_roles').select('prior_role_id').where('prior_role_id', '=', roleIds[prior]).where('implied_role_id', '=', roleIds[implied]).executeTakeFirst();
        if (!has) await trx.insertInto('implied_roles').values({ prior_role_id: roleIds[prior], implied_role_id: roleIds[implied] }).execute();
      }
      const result: BootstrapResult = { adminPassword: null, demoPassword: null, firstStart: !existing };
      for (const [name, role, given, hash] of [
        ['admin', 'admin', opts.adminPassword, adminHash],
        ['demo', 'member', opts.demoPassword, demoHash],
      ] as const) {
        let project = await trx.selectFrom('projects').select('id').where('domain_id', '=', DEFAULT_DOMAIN_ID).where('name', '=', name).executeTakeFirst();
        if (!project) {
          project = { id: hexId() };
          await trx
            .insertInto('projects')
            .values({ id: project.id, name, domain_id: DEFAULT_DOMAIN_ID, description: name === 'admin' ? 'Bootstrap project for initializing the cloud.' : '', enabled: 1, parent_id: DEFAULT_DOMAIN_ID, tags: '[]', extra: '{}', created_at: now })
            .execute();
        }
        let user = await trx.selectFrom('users').select(['id', 'password_hash']).where('domain_id', '=', DEFAULT_DOMAIN_ID).where('name', '=', name).executeTakeFirst();
        let password: string | null = null;
        if (!user) {
          password = given ?? generatePassword();
          const h = hash ?? (await hashPassword(password));
          user = { id: hexId(), password_hash: h };
          await trx
            .insertInto('users')
            .values({ id: user.id, name, domain_id: DEFAULT_DOMAIN_ID, password_hash: h, enabled: 1, default_project_id: project.id, extra: '{}', created_at: now })
            .execute();
        } else if (given && hash && !(await verifyPassword(given, user.password_hash))) {
          // A password given in the environment wins over the stored one.
          await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', user.id).execute();
          password = given;
        } else if (given) {
          password = given;
        }
        if (name === 'admin') result.adminPassword = password;
        else result.demoPassword = password;
        await this.grant(trx, user.id, 'project', project.id, roleIds[role]);
        if (name === 'admin') await this.grant(trx, user.id, 'domain', DEFAULT_DOMAIN_ID, roleIds.admin);
      }
      return result;
    });
  }

  private async grant(trx: Tx, actor: string, targetType: string, target: string, roleId: string): Promise<void> {
    const has = await trx
      .selectFrom('role_assignments')
      .select('role_id')
      .where('actor_id', '=', actor)
      .where('target_type', '=', targetType)
      .where('target_id', '=', target)
      .where('role_id', '=', roleId)
      .executeTakeFirst();
    if (!has) await trx.insertInto('role_assignments').values({ actor_id: actor, target_type: targetType, target_id: target, role_id: roleId }).execute();
  }

  // ------------------------------------------------------------ authentication

  /** Check a user's password; returns the user id, or throws 401 (never saying which part was wrong). */
  async checkPassword(userId: string, password: string): Promise<string> {
    const user = await this.store.db.selectFrom('users').select(['id', 'password_hash', 'enabled', 'domain_id']).where('id', '=', userId).executeTakeFirst();
    if (!user || !user.enabled || !(await verifyPassword(password, user.password_hash))) throw unauthorized();
    const domain = await this.store.db.selectFrom('domains').select('enabled').where('id', '=', user.domain_id).executeTakeFirst();
    if (!domain?.enabled) throw unauthorized();
    return user.id;
  }

  /** Effective roles (with implied ones) of a user on a project or domain. */
  async effectiveRoles(userId: string, targetType: 'project' | 'domain', targetId: string): Promise<RoleRef[]> {
    const direct = await this.store.db
      .selectFrom('role_assignments as a')
      .innerJoin('roles as r', 'r.id', 'a.role_id')
      .select(['r.id', 'r.name'])
      .where('a.actor_id', '=', userId)
      .where('a.target_type', '=', targetType)
      .where('a.target_id', '=', targetId)
      .execute();
    if (direct.length === 0) return [];
    const implied = await this.store.db
      .selectFrom('implied_roles as i')
      .innerJoin('roles as r', 'r.id', 'i.implied_role_id')
      .select(['i.prior_role_id', 'r.id', 'r.name'])
      .execute();
    const out = new Map<string, RoleRef>(direct.map((r) => [r.id, r]));
    for (let changed = true; changed; ) {
      changed = false;
      for (const i of implied) {
        if (out.has(i.prior_role_id) && !out.has(i.id)) {
          out.set(i.id, { id: i.id, name: i.name });
          changed = true;
        }
      }
    }
    return [...out.values()];
  }

  /** Issue a token. The caller has authenticated the user and checked the scope. */
  async issueToken(args: { userId: string; scope: Scope; methods: string[]; parent?: TokenInfo }): Promise<{ token: string; info: TokenInfo }> {
    const token = `gAAAAA${randomBytes(96).toString('base64url')}`;
    const issued = new Date();
    const expires = args.parent ? args.parent.expiresAt : isoMicros(new Date(issued.getTime() + this.opts.tokenTtlSeconds * 1000));
    const audit = [auditId(), ...(args.parent ? [args.parent.auditIds[0]] : [])];
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
    const info = await this.validate(token);
    if (!info) throw unauthorized();
    return { token, info };
  }

  /** Resolve a token; null when unknown, revoked, expired, or its user/project/role is gone. */
  async validate(token: string): Promise<TokenInfo | null> {
    const key = sha256(token);
    const hit = this.cache.get(key);
    const now = Date.now();
    if (hit && hit.until > now) {
      if (Date.parse(hit.info.expiresAt) > now) return hit.info;
      this.cache.delete(key);
      return null;
    }
    const t = await this.store.db.selectFrom('tokens').selectAll().where('id_hash', '=', key).executeTakeFirst();
    if (!t || t.revoked || Date.parse(t.expires_at) <= now) return null;
    const user = await this.store.db.selectFrom('users as u').innerJoin('domains as d', 'd.id', 'u.domain_id').select(['u.id', 'u.name', 'u.enabled', 'd.id as domain_id', 'd.name as domain_name', 'd.enabled as domain_enabled']).where('u.id', '=', t.user_id).executeTakeFirst();
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
      const p = await this.store.db.selectFrom('projects as p').innerJoin('domains as d', 'd.id', 'p.domain_id').select(['p.id', 'p.name', 'p.enabled', 'd.id as domain_id', 'd.name as domain_name']).where('p.id', '=', t.project_id).executeTakeFirst();
      if (!p || !p.enabled) return null;
      info.scope = { kind: 'project', projectId: p.id };
      info.project = { id: p.id, name: p.name, domain: { id: p.domain_id, name: p.domain_name } };
      info.roles = await this.effectiveRoles(user.id, 'project', p.id);
      if (info.roles.length === 0) return null;
    } else if (t.domain_id) {
      const d = await this.store.db.selectFrom('domains').select(['id', 'name', 'enabled']).where('id', '=', t.domain_id).executeTakeFirst();
      if (!d || !d.enabled) return null;
      info.scope = { kind: 'domain', domainId: d.id };
      info.domain = { id: d.id, name: d.name };
      info.roles = await this.effectiveRoles(user.id, 'domain', d.id);
      if (info.roles.length === 0) return null;
    } else if (t.system_scope) {
      info.scope = { kind: 'system' };
      info.roles = await this.effectiveRoles(user.id, 'domain', DEFAULT_DOMAIN_ID);
    }
    this.cache.set(key, { info, until: now + CACHE_MS });
    if (this.cache.size > 10000) this.cache.delete(this.cache.keys().next().value!);
    return info;
  }

  async revoke(token: string): Promise<boolean> {
    const key = sha256(token);
    this.cache.delete(key);
    const res = await this.store.db.updateTable('tokens').set({ revoked: 1 }).where('id_hash', '=', key).where('revoked', '=', 0).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Forget cached validations (after users, projects or grants change). */
  invalidateCache(): void {
    this.cache.clear();
  }

  /** Drop expired token rows; called periodically. */
  async purgeExpired(): Promise<void> {
    await this.store.db.deleteFrom('tokens').where('expires_at', '<', isoMicros(new Date(Date.now() - 24 * 3600 * 1000))).execute();
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
