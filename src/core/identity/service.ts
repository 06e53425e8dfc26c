import type { Store, Tx } from '../../store/db.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import type { CatalogService } from '../catalog.js';
import type { RequestContext } from '../context.js';
import { unauthorized } from '../errors.js';
import type { UnitOfWork } from '../work.js';
import { AppCreds } from './appcreds.js';
import { Assignments, SYSTEM_ALL } from './assignments.js';
import { type AuthEnv, type AuthOutcome, authenticateV2, authenticateV3 } from './auth.js';
import { Catalog } from './catalog.js';
import { BlobCipher, Credentials, credentialKey } from './credentials.js';
import { DomainConfigs } from './domainconfigs.js';
import { Domains } from './domains.js';
import { Federation } from './federation.js';
import { Groups } from './groups.js';
import { Limits } from './limits.js';
import { DEFAULT_DOMAIN_ID, type IdentityChange, type IdentityEnv, type Scope, type TokenInfo } from './model.js';
import { generatePassword, hashPassword, verifyPassword } from './passwords.js';
import { Policies } from './policies.js';
import { OAuth1, type SignedRequest } from './oauth1.js';
import { Projects } from './projects.js';
import { Roles } from './roles.js';
import { ec2Authenticate } from './ec2tokens.js';
import { s3Authenticate } from './s3tokens.js';
import type { SignedAuthOutcome } from './signedauth.js';
import { type Delegation, type TokenLookup, Tokens } from './tokens.js';
import { Trusts } from './trusts.js';
import { Users } from './users.js';

export { DEFAULT_DOMAIN_ID } from './model.js';
export type { Scope, TokenInfo } from './model.js';
export type { TokenLookup } from './tokens.js';

export interface IdentityOptions {
  tokenTtlSeconds: number;
  /** PocketStack's own services, put in the (writable) catalog at bootstrap. */
  catalog: () => CatalogService[];
  /** Where the credential encryption key lives (`credential.key`). */
  dataDir: string;
}

/** The name of the demo user's application credential written to clouds.yaml. */
const DEMO_APP_CREDENTIAL = 'pocketstack-cli';

export interface BootstrapResult {
  adminPassword: string | null;
  demoPassword: string | null;
  firstStart: boolean;
}

/**
 * Identity: domains, projects, users, roles, grants and tokens (tokens.ts), with bootstrap and
 * one way to write. Every write forgets the cached token validations once it has committed.
 */
export class IdentityService implements IdentityEnv, AuthEnv {
  readonly domains: Domains;
  readonly projects: Projects;
  readonly users: Users;
  readonly roles: Roles;
  readonly assignments: Assignments;
  readonly tokens: Tokens;
  readonly groups: Groups;
  readonly appCreds: AppCreds;
  readonly trusts: Trusts;
  readonly credentials: Credentials;
  readonly catalog: Catalog;
  readonly limits: Limits;
  readonly federation: Federation;
  readonly policies: Policies;
  readonly oauth1: OAuth1;
  readonly domainConfigs: DomainConfigs;

  constructor(
    readonly uow: UnitOfWork,
    readonly opts: IdentityOptions,
  ) {
    this.domains = new Domains(this);
    this.projects = new Projects(this);
    this.users = new Users(this);
    this.roles = new Roles(this);
    this.assignments = new Assignments(this);
    this.groups = new Groups(this);
    this.appCreds = new AppCreds(this, this.assignments);
    this.trusts = new Trusts(this, this.assignments);
    const cipher = new BlobCipher(credentialKey(opts.dataDir));
    this.credentials = new Credentials(this, cipher);
    this.oauth1 = new OAuth1(this, cipher, this.assignments);
    this.catalog = new Catalog(this);
    this.limits = new Limits(this);
    this.federation = new Federation(this);
    this.policies = new Policies(this);
    this.domainConfigs = new DomainConfigs(this);
    this.tokens = new Tokens(this, { assignments: this.assignments, trusts: this.trusts, appCreds: this.appCreds, oauth1: this.oauth1 }, opts.tokenTtlSeconds);
  }

  get store(): Store {
    return this.uow.store;
  }

  /** The catalog a token carries (or /v3/auth/catalog shows), read from the store now. */
  catalogFor(info: TokenInfo): Promise<CatalogService[]> {
    return this.catalog.forToken({ userId: info.user.id, projectId: info.project?.id ?? null });
  }

  async write<T>(change: IdentityChange, fn: (trx: Tx) => Promise<T>): Promise<T> {
    return this.uow.run(async (w) => {
      const out = await fn(w.trx);
      w.changed('identity', change.id, change.projectId ?? null, change.op);
      w.afterCommit(() => this.tokens.forget());
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
    const result = await this.write({ id: DEFAULT_DOMAIN_ID, op: 'update' }, async (trx) => {
      const existing = await trx.selectFrom('domains').select('id').where('id', '=', DEFAULT_DOMAIN_ID).executeTakeFirst();
      if (!existing) {
        await trx
          .insertInto('domains')
          .values({ id: DEFAULT_DOMAIN_ID, name: 'Default', description: 'The default domain', enabled: 1, tags: '[]', extra: '{}', created_at: now })
          .execute();
      }
      await this.catalog.seed(this.opts.catalog(), trx);
      const roleIds: Record<string, string> = {};
      for (const name of ['admin', 'member', 'reader', 'load-balancer_admin', 'load-balancer_member']) {
        const r = await trx.selectFrom('roles').select('id').where('name', '=', name).where('domain_id', 'is', null).executeTakeFirst();
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
      for (const [name, role, given, description] of [
        ['admin', 'admin', opts.adminPassword, 'Bootstrap project for initializing the cloud.'],
        ['demo', 'member', opts.demoPassword, 'Demo project'],
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
          const h = await hashPassword(password);
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
        } else if (given && !(await verifyPassword(given, user.password_hash))) {
          // A password given in the environment wins over the stored one. Hashed only here: each
          // scrypt is about 70 ms of a start-up on an existing data directory (issue 17's goal of
          // 1 s), and the usual restart gives the password already stored.
          const hash = await hashPassword(given);
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

  /**
   * The application credential of clouds.yaml's `pocketstack-appcred` cloud: the demo user's,
   * on project demo, with the demo user's roles there, restricted, no expiry. Made anew (the
   * previous one deleted) each time clouds.yaml is written, since a secret cannot be read back.
   */
  async demoAppCredential(): Promise<{ id: string; secret: string } | null> {
    const user = await this.users.findByName('demo', DEFAULT_DOMAIN_ID);
    const project = await this.projects.findByName('demo', DEFAULT_DOMAIN_ID);
    if (!user || !project) return null;
    const roles = await this.assignments.effectiveRoles(user.id, 'project', project.id);
    if (roles.length === 0) return null;
    const old = await this.appCreds.rowByName(user.id, DEMO_APP_CREDENTIAL);
    if (old) await this.appCreds.delete(old.id);
    const created = await this.appCreds.create({
      userId: user.id,
      projectId: project.id,
      name: DEMO_APP_CREDENTIAL,
      description: 'clouds.yaml: pocketstack-appcred',
      expiresAt: null,
      unrestricted: false,
      roleIds: roles.map((r) => r.id),
    });
    return { id: created.id, secret: created.secret };
  }

  // ------------------------------------------------------------ authentication

  /** POST /v3/auth/tokens (body validated by the edge): authenticate and issue. */
  async authenticateV3(auth: Record<string, unknown> | null | undefined, signed?: SignedRequest): Promise<{ token: string; info: TokenInfo }> {
    return this.issueFor(await authenticateV3(this, auth, signed));
  }

  /** POST /v3/s3tokens: a token for the user of the EC2 credential that signed an S3 request. */
  async authenticateS3(body: unknown): Promise<{ token: string; info: TokenInfo }> {
    return this.issueSigned(await s3Authenticate(this, body));
  }

  /** POST /v3/ec2tokens: a token for the user of the EC2 credential that signed an EC2 API request. */
  async authenticateEc2(body: unknown): Promise<{ token: string; info: TokenInfo }> {
    return this.issueSigned(await ec2Authenticate(this, body));
  }

  /** The token a signed request earns: method `ec2credential`, on the credential's project. */
  private issueSigned(a: SignedAuthOutcome): Promise<{ token: string; info: TokenInfo }> {
    return this.issueToken({
      userId: a.userId,
      scope: { kind: 'project', projectId: a.projectId },
      methods: ['ec2credential'],
      delegation: a.delegation,
      expiresBy: a.expiresBy,
    });
  }

  /** POST /v2.0/tokens. */
  async authenticateV2(body: unknown): Promise<{ token: string; info: TokenInfo }> {
    return this.issueFor(await authenticateV2(this, body));
  }

  private issueFor(a: AuthOutcome): Promise<{ token: string; info: TokenInfo }> {
    return this.issueToken({ userId: a.userId, scope: a.scope, methods: a.methods, parent: a.parent, delegation: a.delegation, expiresBy: a.expiresBy });
  }

  /** Issue a token for an authenticated user (401 without a role on the requested scope). */
  issueToken(args: {
    userId: string;
    scope: Scope;
    methods: string[];
    parent?: TokenInfo;
    delegation?: Delegation;
    expiresBy?: string | null;
  }): Promise<{ token: string; info: TokenInfo }> {
    return this.tokens.issue(args);
  }

  /** Resolve a token; null when unknown, revoked, expired, or its user/project/role is gone. */
  validate(token: string): Promise<TokenInfo | null> {
    return this.tokens.validate(token);
  }

  /** Like validate(), but tells an unknown token from one that is no longer valid. */
  inspect(token: string): Promise<TokenLookup> {
    return this.tokens.inspect(token);
  }

  /** Revoke a token; false when it was not valid. */
  revoke(token: string): Promise<boolean> {
    return this.tokens.revoke(token);
  }

  /** Drop token rows a day past expiry; called periodically. */
  purgeExpired(): Promise<void> {
    return this.tokens.purgeExpired();
  }

  /** validate() when the token's validation is cached (see Tokens.cachedValidation); undefined when it is not. */
  cachedValidation(token: string): TokenInfo | null | undefined {
    return this.tokens.cachedValidation(token);
  }

  /** TokenAuthenticator for the other services' edges. */
  async authenticate(token: string, requestId: string): Promise<RequestContext> {
    const info = await this.validate(token);
    if (!info) throw unauthorized();
    return contextOf(info, requestId);
  }

  /** TokenAuthenticator.cachedCaller: authenticate() without waiting when the token's validation is cached. */
  cachedCaller(token: string, requestId: string): RequestContext | undefined {
    const info = this.tokens.cachedValidation(token);
    if (info === undefined) return undefined;
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
