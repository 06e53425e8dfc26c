import type { DomainError } from '../errors.js';
import type { Store, Tx } from '../../store/db.js';
import { fromJson, isUniqueViolation } from '../../store/db.js';
import type { DomainsTable, ProjectsTable, RolesTable, UsersTable } from '../../store/schema.js';

export const DEFAULT_DOMAIN_ID = 'default';

/** The object an identity write changes, as its change is published (kind `identity`). */
export interface IdentityChange {
  id: string;
  /** The project it concerns, if one (a project, a grant on one). */
  projectId?: string | null;
  op: 'create' | 'update' | 'delete';
}

/** What each identity manager needs: the store, and one way to write. */
export interface IdentityEnv {
  readonly store: Store;
  /**
   * Run `fn` as one unit of work recording `change`; once committed, cached token validations
   * are forgotten (any identity change can invalidate a token: user, project, domain, grant, role).
   */
  write<T>(change: IdentityChange, fn: (trx: Tx) => Promise<T>): Promise<T>;
}

export type Attrs = Record<string, unknown>;

export interface Domain {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  tags: string[];
  extra: Attrs;
}

export interface Project {
  id: string;
  name: string;
  domain_id: string;
  description: string;
  enabled: boolean;
  parent_id: string;
  tags: string[];
  extra: Attrs;
  options: Attrs;
}

export interface User {
  id: string;
  name: string;
  domain_id: string;
  enabled: boolean;
  default_project_id: string | null;
  extra: Attrs;
  options: Attrs;
}

export interface Role {
  id: string;
  name: string;
  domain_id: string | null;
  description: string | null;
  extra: Attrs;
  options: Attrs;
}

export const domainOf = (r: DomainsTable): Domain => ({
  id: r.id,
  name: r.name,
  description: r.description,
  enabled: !!r.enabled,
  tags: fromJson<string[]>(r.tags, []),
  extra: fromJson<Attrs>(r.extra, {}),
});

export const projectOf = (r: ProjectsTable): Project => ({
  id: r.id,
  name: r.name,
  domain_id: r.domain_id,
  description: r.description,
  enabled: !!r.enabled,
  parent_id: r.parent_id ?? r.domain_id,
  tags: fromJson<string[]>(r.tags, []),
  extra: fromJson<Attrs>(r.extra, {}),
  options: fromJson<Attrs>(r.options, {}),
});

export const userOf = (r: Omit<UsersTable, 'password_hash'>): User => ({
  id: r.id,
  name: r.name,
  domain_id: r.domain_id,
  enabled: !!r.enabled,
  default_project_id: r.default_project_id,
  extra: fromJson<Attrs>(r.extra, {}),
  options: fromJson<Attrs>(r.options, {}),
});

export const roleOf = (r: RolesTable): Role => ({
  id: r.id,
  name: r.name,
  domain_id: r.domain_id,
  description: r.description,
  extra: fromJson<Attrs>(r.extra, {}),
  options: fromJson<Attrs>(r.options, {}),
});

/** Columns of `users` that may leave the store (never the password hash). */
export const USER_COLUMNS = ['id', 'name', 'domain_id', 'enabled', 'default_project_id', 'extra', 'options', 'created_at'] as const;

/** Keystone reads boolean query filters leniently: these words mean false, anything else true. */
export function queryBool(v: string): boolean {
  return !['0', 'false', 'f', 'no', 'n', 'off'].includes(v.trim().toLowerCase());
}

/** Split a request's attributes into the known columns and the rest ("extra"). */
export function splitExtra(input: Attrs, known: readonly string[]): Attrs {
  const extra: Attrs = {};
  for (const [k, v] of Object.entries(input)) if (!known.includes(k)) extra[k] = v;
  return extra;
}

/** The `extra` column after a PATCH: old unknown attributes overlaid with the new ones, or undefined if none. */
export function mergedExtra(old: Attrs, patch: Attrs, known: readonly string[]): string | undefined {
  const extra = splitExtra(patch, known);
  return Object.keys(extra).length ? JSON.stringify({ ...old, ...extra }) : undefined;
}

/** UPDATE one identity row by id (nothing when `set` is empty); a name clash becomes `onConflict()`. */
export async function updateRow(
  trx: Tx,
  table: 'domains' | 'projects' | 'users' | 'roles',
  id: string,
  set: Record<string, unknown>,
  onConflict: () => DomainError,
): Promise<void> {
  const values = Object.fromEntries(Object.entries(set).filter(([, v]) => v !== undefined));
  if (Object.keys(values).length === 0) return;
  try {
    await trx
      .updateTable(table)
      .set(values as never)
      .where('id', '=', id)
      .execute();
  } catch (e) {
    if (isUniqueViolation(e)) throw onConflict();
    throw e;
  }
}

export type Scope = { kind: 'project'; projectId: string } | { kind: 'domain'; domainId: string } | { kind: 'system' } | { kind: 'unscoped' };

export interface RoleRef {
  id: string;
  name: string;
  /** The whole role, for the tokens that show it whole (trust-scoped ones). */
  full?: Role;
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
  project?: NamedRef & { description: string; enabled: boolean };
  domain?: { id: string; name: string };
  roles: RoleRef[];
  /** The trust a trust-scoped token was issued through. */
  trust?: { id: string; trustorId: string; trusteeId: string; impersonation: boolean };
  /** The OAuth1 access token the token was issued through. */
  oauth?: { accessTokenId: string; consumerId: string };
  /** The application credential the token was issued through. */
  appCred?: { id: string; name: string; restricted: boolean; accessRules: Array<{ id: string; service: string; path: string; method: string }> };
}
