import { randomBytes } from 'node:crypto';
import { fromJson, isUniqueViolation, type Q } from '../../store/db.js';
import type { ApplicationCredentialsTable } from '../../store/schema.js';
import { nextId } from '../../store/sequences.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import type { Assignments } from './assignments.js';
import { accessRuleNotFound, appCredNotFound, conflict, forbiddenNotSecurity, validationAmended, validationError } from './errors.js';
import { type IdentityEnv, type Role, roleOf } from './model.js';
import { hashPassword } from './passwords.js';

export interface AccessRule {
  id: string;
  service: string;
  path: string;
  method: string;
}

export interface AppCred {
  id: string;
  name: string;
  description: string | null;
  user_id: string;
  project_id: string;
  expires_at: string | null;
  unrestricted: boolean | null;
  roles: Role[];
  access_rules: AccessRule[];
}

/** The stored row, with the secret's hash (for authentication only). */
export type AppCredRow = ApplicationCredentialsTable;

/** Keystone's secret: 64 random bytes, URL-safe base64 without padding. */
const generateSecret = () => randomBytes(64).toString('base64url');

/**
 * Keystone's expires_at (utils.parse_expiration_date) as it keeps it: naive UTC with
 * microseconds ("2027-01-01T00:00:00.000000"). Refused when unparseable or past.
 */
export function expiryOf(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  const d = parseKeystoneTime(String(v));
  if (!d) throw validationAmended('Timestamp not in expected format.');
  if (timeMs(d) < Date.now()) throw validationAmended("The 'expires_at' must not be before now.");
  return d;
}

/** oslo's parse_isotime (a subset): ISO 8601 with optional fraction and zone; naive is UTC. Returns "…SS.ffffff". */
export function parseKeystoneTime(s: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, sec = '00', frac = '', zone] = m;
  const base = Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec);
  if (Number.isNaN(base)) return null;
  let offset = 0;
  if (zone && zone !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
    offset = (z[1] === '+' ? 1 : -1) * (+z[2] * 60 + +z[3]) * 60_000;
  }
  const date = new Date(base - offset);
  if (Number.isNaN(date.getTime())) return null;
  return `${date.toISOString().slice(0, 19)}.${frac.padEnd(6, '0')}`;
}

/** A naive Keystone time ("…SS.ffffff") in ms. */
export const timeMs = (s: string) => Date.parse(`${s.slice(0, 23)}Z`);

/**
 * Application credentials: a secret bound to one user on one project with a subset of the
 * user's roles there. The secret is shown once at creation and stored as a scrypt hash, like a
 * password (Keystone hashes it the same way); a database copy cannot be used to authenticate.
 * Access rules are per user and shared by the credentials that name the same rule.
 */
export class AppCreds {
  constructor(
    private readonly env: IdentityEnv,
    private readonly assignments: Assignments,
  ) {}

  private async roles(ids: string[], q: Q): Promise<Role[]> {
    if (ids.length === 0) return [];
    const rows = await q.selectFrom('roles').selectAll().where('id', 'in', ids).execute();
    return ids.flatMap((id) => rows.filter((r) => r.id === id).map(roleOf));
  }

  private async rulesOf(appCredId: string, q: Q): Promise<AccessRule[]> {
    return q
      .selectFrom('access_rules as r')
      .innerJoin('application_credential_access_rules as l', 'l.access_rule_id', 'r.id')
      .select(['r.id', 'r.service', 'r.path', 'r.method'])
      .where('l.application_credential_id', '=', appCredId)
      .orderBy('r.seq')
      .execute();
  }

  private async view(r: AppCredRow, q: Q): Promise<AppCred> {
    return {
      id: r.id,
      name: r.name,
      description: r.description,
      user_id: r.user_id,
      project_id: r.project_id,
      expires_at: r.expires_at,
      unrestricted: r.unrestricted === 2 ? null : !!r.unrestricted,
      roles: await this.roles(fromJson<string[]>(r.roles, []), q),
      access_rules: await this.rulesOf(r.id, q),
    };
  }

  async list(userId: string): Promise<AppCred[]> {
    const db = this.env.store.db;
    const rows = await db.selectFrom('application_credentials').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
    return Promise.all(rows.map((r) => this.view(r, db)));
  }

  async row(id: string, q: Q = this.env.store.db): Promise<AppCredRow | undefined> {
    return q.selectFrom('application_credentials').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async rowByName(userId: string, name: string): Promise<AppCredRow | undefined> {
    return this.env.store.db.selectFrom('application_credentials').selectAll().where('user_id', '=', userId).where('name', '=', name).executeTakeFirst();
  }

  async get(id: string): Promise<AppCred> {
    const r = await this.row(id);
    if (!r) throw appCredNotFound(id);
    return this.view(r, this.env.store.db);
  }

  /**
   * Create for `userId` on `projectId` (the caller's token scope) with `roleIds` (the caller's
   * token roles when none are asked for). Every role must be one the user holds there.
   */
  async create(args: {
    userId: string;
    projectId: string;
    name: string;
    description: string | null;
    secret?: string | null;
    expiresAt: string | null;
    unrestricted: boolean | null;
    roleIds: string[];
    accessRules?: Array<{ id?: string; service?: string; path?: string; method?: string }>;
  }): Promise<AppCred & { secret: string }> {
    const secret = args.secret || generateSecret();
    const hash = await hashPassword(secret);
    const id = hexId();
    return this.env.write({ id, projectId: args.projectId, op: 'create' }, async (trx) => {
      const held = new Set((await this.assignments.effectiveRoles(args.userId, 'project', args.projectId, trx)).map((r) => r.id));
      for (const r of args.roleIds) {
        if (!held.has(r)) {
          throw validationError(
            `Invalid application credential: Could not find role assignment with role: ${r}, user or group: ${args.userId}, project, domain, or system: ${args.projectId}.`,
          );
        }
      }
      try {
        await trx
          .insertInto('application_credentials')
          .values({
            id,
            name: args.name,
            user_id: args.userId,
            project_id: args.projectId,
            secret_hash: hash,
            description: args.description,
            expires_at: args.expiresAt,
            // 2 = not given (Keystone shows null), else 0/1.
            unrestricted: args.unrestricted === null ? 2 : args.unrestricted ? 1 : 0,
            roles: JSON.stringify(args.roleIds),
            created_at: isoMicros(),
          })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('application_credential', `Duplicate entry found with name ${args.name}`);
        throw e;
      }
      // Keystone answers the create with the rules in the order asked (its session's list), and
      // later reads in the order the rules were first made (their autoincrement id: `seq`).
      const asked: string[] = [];
      for (const rule of args.accessRules ?? []) {
        let ruleId: string | undefined;
        if (rule.id) {
          const have = await trx.selectFrom('access_rules').selectAll().where('id', '=', rule.id).executeTakeFirst();
          if (have && have.user_id !== args.userId) throw accessRuleNotFound(rule.id);
          if (have) ruleId = have.id;
          else if (!rule.service) throw accessRuleNotFound(rule.id);
        }
        if (!ruleId) {
          const same = await trx
            .selectFrom('access_rules')
            .select('id')
            .where('user_id', '=', args.userId)
            .where('service', '=', rule.service ?? '')
            .where('path', '=', rule.path ?? '')
            .where('method', '=', rule.method ?? '')
            .executeTakeFirst();
          ruleId = same?.id;
        }
        if (!ruleId) {
          ruleId = rule.id || hexId();
          await trx
            .insertInto('access_rules')
            .values({
              id: ruleId,
              seq: await nextId(trx, 'access_rules'),
              user_id: args.userId,
              service: rule.service ?? '',
              path: rule.path ?? '',
              method: rule.method ?? '',
            })
            .execute();
        }
        await trx.insertInto('application_credential_access_rules').values({ application_credential_id: id, access_rule_id: ruleId }).execute();
        asked.push(ruleId);
      }
      const row = (await this.row(id, trx))!;
      const made = await this.view(row, trx);
      const byId = new Map(made.access_rules.map((r) => [r.id, r]));
      return { ...made, access_rules: asked.flatMap((r) => byId.get(r) ?? []), secret };
    });
  }

  async delete(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      const res = await trx.deleteFrom('application_credentials').where('id', '=', id).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw appCredNotFound(id);
      await trx.deleteFrom('application_credential_access_rules').where('application_credential_id', '=', id).execute();
      await trx.updateTable('tokens').set({ revoked: 1 }).where('app_cred_id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ access rules

  async rules(userId: string): Promise<AccessRule[]> {
    return this.env.store.db.selectFrom('access_rules').select(['id', 'service', 'path', 'method']).where('user_id', '=', userId).orderBy('seq').execute();
  }

  async rule(userId: string, id: string): Promise<AccessRule> {
    const r = await this.env.store.db
      .selectFrom('access_rules')
      .select(['id', 'service', 'path', 'method'])
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!r) throw accessRuleNotFound(id);
    return r;
  }

  async deleteRule(userId: string, id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      const r = await trx.selectFrom('access_rules').select('id').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      if (!r) throw accessRuleNotFound(id);
      const used = await trx.selectFrom('application_credential_access_rules').select('access_rule_id').where('access_rule_id', '=', id).executeTakeFirst();
      if (used) throw forbiddenNotSecurity('May not delete access rule in use');
      await trx.deleteFrom('access_rules').where('id', '=', id).execute();
    });
  }
}
