/**
 * Keystone tokens: random opaque strings of which the store keeps only the SHA-256, so a copy of
 * the database holds no usable token. What a token stands for (user, scope, roles) is resolved
 * when it is validated, as Keystone's fernet tokens are, so a removed role, user or project stops
 * its tokens at once, not at expiry; a validation is cached briefly and forgotten on any change.
 */
import { hash, randomBytes } from 'node:crypto';
import { fromJson, type Store } from '../../store/db.js';
import { isoMicros } from '../../util/time.js';
import { unauthorized } from '../errors.js';
import { timeMs } from './appcreds.js';
import type { AppCreds } from './appcreds.js';
import { type Assignments, SYSTEM_ALL } from './assignments.js';
import type { RoleRef, Scope, TokenInfo } from './model.js';
import type { OAuth1 } from './oauth1.js';
import type { Trusts } from './trusts.js';

/** What a token may be issued through besides the user's own roles. */
export interface Delegation {
  trustId?: string;
  appCredId?: string;
  oauthAccessTokenId?: string;
}

/** A token looked up: valid (with what it stands for), known but no longer valid, or unknown. */
export type TokenLookup = { status: 'valid'; info: TokenInfo } | { status: 'invalid' } | { status: 'unknown' };

/** Node's one-shot digest: a quarter of createHash().update().digest()'s cost, paid on every request's token. */
const sha256 = (s: string) => hash('sha256', s, 'hex');

/** Keystone audit ids: 22 URL-safe characters. */
const auditId = () => randomBytes(16).toString('base64url').slice(0, 22);

/**
 * How long a validated token is trusted without looking at the store again. Changes made
 * through this process clear the cache at once; another server sharing the database sees
 * them within this window.
 */
const CACHE_MS = 2000;
const CACHE_MAX = 10_000;

export class Tokens {
  /**
   * By token hash: the validation, until when it is trusted, and the token's expiry in ms (parsed
   * once, not per request). Keyed by the hash, as keystonemiddleware keys its token cache: the
   * map keeps up to CACHE_MAX entries past their two seconds, and a heap dump or core file of the
   * server should hold no usable token (the digest costs about 3 µs a request).
   */
  private readonly cache = new Map<string, { info: TokenInfo; until: number; expires: number }>();
  /** Bumped by every change; a validation that raced with one is not cached. */
  private generation = 0;

  constructor(
    private readonly env: { readonly store: Store },
    private readonly deps: { assignments: Assignments; trusts: Trusts; appCreds: AppCreds; oauth1: OAuth1 },
    private readonly ttlSeconds: number,
  ) {}

  private get assignments(): Assignments {
    return this.deps.assignments;
  }

  private get store(): Store {
    return this.env.store;
  }

  /** Something a token depends on changed: forget every cached validation. */
  forget(): void {
    this.generation++;
    this.cache.clear();
  }

  /**
   * Issue a token for an authenticated user. Refused (401) when the user has no role on the
   * requested project, domain or system, as Keystone refuses it.
   */
  async issue(args: { userId: string; scope: Scope; methods: string[]; parent?: TokenInfo; delegation?: Delegation; expiresBy?: string | null }): Promise<{
    token: string;
    info: TokenInfo;
  }> {
    const token = `gAAAAA${randomBytes(96).toString('base64url')}`;
    const issued = new Date();
    // A re-scoped token keeps its parent's expiry and audit chain.
    let expires = args.parent ? args.parent.expiresAt : isoMicros(new Date(issued.getTime() + this.ttlSeconds * 1000));
    // A token never outlives the trust or application credential it was issued through.
    if (args.expiresBy && timeMs(args.expiresBy) < Date.parse(expires)) expires = `${args.expiresBy.slice(0, 26)}Z`;
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
        app_cred_id: args.delegation?.appCredId ?? null,
        trust_id: args.delegation?.trustId ?? null,
        oauth_access_token_id: args.delegation?.oauthAccessTokenId ?? null,
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

  /**
   * validate() answered from the cache, without waiting: the token's validation when it is cached
   * and still trusted (null when it has expired since), undefined when the store must be asked.
   * Every request with a recently seen token takes this path, so the auth hook need not be async.
   */
  cachedValidation(token: string): TokenInfo | null | undefined {
    const found = this.cached(sha256(token), Date.now());
    return found === undefined ? undefined : found.status === 'valid' ? found.info : null;
  }

  private cached(key: string, now: number): TokenLookup | undefined {
    const hit = this.cache.get(key);
    if (!hit || hit.until <= now) return undefined;
    if (hit.expires > now) return { status: 'valid', info: hit.info };
    this.cache.delete(key);
    return { status: 'invalid' };
  }

  /** Like validate(), but tells an unknown token from one that is no longer valid. */
  async inspect(token: string): Promise<TokenLookup> {
    const now = Date.now();
    const key = sha256(token);
    const hit = this.cached(key, now);
    if (hit) return hit;
    const generation = this.generation;
    const info = await this.resolve(key, now);
    if (info === 'unknown') return { status: 'unknown' };
    if (!info) return { status: 'invalid' };
    if (generation === this.generation) this.cache.set(key, { info, until: now + CACHE_MS, expires: Date.parse(info.expiresAt) });
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
    if (!user?.enabled || !user.domain_enabled) return null;
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
      if (!p?.enabled || !p.domain_enabled) return null;
      info.scope = { kind: 'project', projectId: p.id };
      info.project = { id: p.id, name: p.name, description: p.description, enabled: true, domain: { id: p.domain_id, name: p.domain_name } };
      if (t.trust_id) {
        const roles = await this.trustRoles(t.trust_id, info);
        if (!roles) return null;
        info.roles = roles;
      } else if (t.oauth_access_token_id) {
        const roles = await this.oauthRoles(t.oauth_access_token_id, user.id, p.id, info);
        if (!roles) return null;
        info.roles = roles;
      } else if (t.app_cred_id) {
        const roles = await this.appCredRoles(t.app_cred_id, user.id, p.id, info);
        if (!roles) return null;
        info.roles = roles;
      } else {
        info.roles = await this.assignments.effectiveRoles(user.id, 'project', p.id);
      }
    } else if (t.domain_id) {
      const d = await db.selectFrom('domains').select(['id', 'name', 'enabled']).where('id', '=', t.domain_id).executeTakeFirst();
      if (!d?.enabled) return null;
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

  /**
   * A trust-scoped token's roles: the trust's that its trustor still holds; null when the trust
   * is gone, expired, or one of its users disabled.
   */
  private async trustRoles(trustId: string, info: TokenInfo): Promise<RoleRef[] | null> {
    const t = await this.deps.trusts.row(trustId);
    if (!t) return null;
    if (t.expires_at && timeMs(t.expires_at) <= Date.now()) return null;
    const users = await this.store.db.selectFrom('users').select(['id', 'enabled']).where('id', 'in', [t.trustor_user_id, t.trustee_user_id]).execute();
    if (users.length < (t.trustor_user_id === t.trustee_user_id ? 1 : 2) || users.some((u) => !u.enabled)) return null;
    const roles = await this.deps.trusts.effectiveRoles(t);
    if (roles.length === 0) return null;
    info.trust = { id: t.id, trustorId: t.trustor_user_id, trusteeId: t.trustee_user_id, impersonation: !!t.impersonation };
    return roles.map((r) => ({ id: r.id, name: r.name, full: r }));
  }

  /**
   * An application credential token's roles: the credential's that the user still holds on the
   * project; null when the credential is gone or expired, or none of its roles is left.
   */
  private async appCredRoles(appCredId: string, userId: string, projectId: string, info: TokenInfo): Promise<RoleRef[] | null> {
    const ac = await this.deps.appCreds.row(appCredId);
    if (!ac || ac.user_id !== userId || ac.project_id !== projectId) return null;
    if (ac.expires_at && timeMs(ac.expires_at) <= Date.now()) return null;
    const held = new Set((await this.assignments.effectiveRoles(userId, 'project', projectId)).map((r) => r.id));
    const granted = await this.assignments.closure(fromJson<string[]>(ac.roles, []));
    const roles = await this.assignments.globalRoles(granted.filter((r) => held.has(r)));
    if (roles.length === 0) return null;
    const view = await this.deps.appCreds.get(appCredId);
    info.appCred = { id: ac.id, name: ac.name, restricted: ac.unrestricted !== 1, accessRules: view.access_rules };
    return roles;
  }

  /** An OAuth1 token's roles: the access token's that its user still holds; null when the access token is gone. */
  private async oauthRoles(accessTokenId: string, userId: string, projectId: string, info: TokenInfo): Promise<RoleRef[] | null> {
    const at = await this.deps.oauth1.accessTokenRow(accessTokenId);
    if (!at || at.authorizing_user_id !== userId || at.project_id !== projectId) return null;
    if (at.expires_at && Date.parse(at.expires_at) <= Date.now()) return null;
    const held = new Set((await this.assignments.effectiveRoles(userId, 'project', projectId)).map((r) => r.id));
    const granted = await this.assignments.closure(at.role_ids);
    const roles = await this.assignments.globalRoles(granted.filter((r) => held.has(r)));
    if (roles.length === 0) return null;
    info.oauth = { accessTokenId: at.id, consumerId: at.consumer_id };
    return roles;
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
}
