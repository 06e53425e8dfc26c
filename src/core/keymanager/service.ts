/**
 * The key manager without HTTP: a Barbican v1 slice (barbican/api/controllers in Zed) — secrets
 * with payloads, containers (generic, rsa, certificate) of secrets, container consumers and read
 * ACLs — plus what the load-balancer service reads in-process: TLS material by reference, with
 * the caller's rights when it validates a request, with its own when the engine serves it.
 *
 * Payloads are sealed before they reach the store (seal.ts) and never logged: no method here logs,
 * and errors never quote a payload.
 */
import type { Q } from '../../store/db.js';
import type { KmContainersTable, KmSecretsTable } from '../../store/schema.js';
import { isDict } from '../../util/json.js';
import { DomainError } from '../errors.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { kmErrors } from './errors.js';
import { type Guarded, type ReadAcl, mayCreate, mayList, mayRead, mayWrite } from './policy.js';
import type { Sealer } from './seal.js';

export type EntityType = 'secret' | 'container';
type Json = Record<string, unknown>;

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const SECRET_TYPES = ['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque'];
const PLAIN_TEXT = ['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8'];
const BINARY = ['application/octet-stream', 'application/pkcs8'];
const SUPPORTED = [...PLAIN_TEXT, ...BINARY];
const pyList = (xs: readonly string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;
/** Barbican's max_allowed_secret_in_bytes default. */
const MAX_SECRET_BYTES = 10_000;
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;

/** Barbican's timestamps: Python's isoformat() of a naive UTC datetime, microseconds included. */
const isoNow = () => `${new Date().toISOString().slice(0, 23)}000`;

/** mime_types.normalize_content_type: the internal form of a content type, or it as given. */
function normalizeContentType(t: string): string {
  const parts = t.split(';').map((x) => x.trim());
  const mime = parts[0].toLowerCase();
  if (parts.length > 1) {
    const cs = parts[1].toLowerCase();
    if (!cs.includes('=')) return t;
    if (cs.split('=')[1]?.trim() !== 'utf-8') return t;
  }
  const internal = new Map([
    ['text/plain', 'text/plain'],
    ['application/octet-stream', 'application/octet-stream'],
    ['application/pkcs8', 'application/pkcs8'],
  ]);
  return internal.get(mime) ?? t;
}
const isSupported = (t: string) => SUPPORTED.includes(normalizeContentType(t));
const encodingsOf = (t: string) => (normalizeContentType(t) === 'text/plain' ? null : ['base64', 'binary']);

/** A reference Octavia (or a container) holds: `…/v1/secrets/<id>` or `…/v1/containers/<id>`. */
function parseRef(ref: string): { type: EntityType; id: string } | null {
  const m = /\/(secrets|containers)\/([0-9a-fA-F-]{32,36})\/?$/.exec(ref);
  if (!m || !UUID_RE.test(m[2])) return null;
  return { type: m[1] === 'secrets' ? 'secret' : 'container', id: m[2].toLowerCase() };
}

export interface Payload {
  contentType: string;
  body: Buffer;
}

/** What the load-balancer service reads: a secret's clear payload, or a container's named secrets. */
export type Material = { kind: 'secret'; secretType: string; payload: Buffer } | { kind: 'container'; type: string; secrets: Map<string, Buffer> };

export class KeyManagerService {
  constructor(
    readonly uow: UnitOfWork,
    private readonly sealer: Sealer,
  ) {}

  private get db() {
    return this.uow.store.db;
  }

  // ------------------------------------------------------------ ACLs

  private async readAcl(q: Q, type: EntityType, id: string): Promise<ReadAcl> {
    const row = await q
      .selectFrom('km_acls')
      .select('project_access')
      .where('entity_type', '=', type)
      .where('entity_id', '=', id)
      .where('operation', '=', 'read')
      .executeTakeFirst();
    if (!row) return { projectAccess: true, users: [] };
    const users = await q
      .selectFrom('km_acl_users')
      .select('user_id')
      .where('entity_type', '=', type)
      .where('entity_id', '=', id)
      .where('operation', '=', 'read')
      .orderBy('user_id')
      .execute();
    return { projectAccess: row.project_access === 1, users: users.map((u) => u.user_id) };
  }

  async getAcl(ctx: RequestContext, type: EntityType, id: string): Promise<Json> {
    const e = await this.entity(type, id);
    const acl = await this.readAcl(this.db, type, id);
    if (!mayRead(ctx, e, acl, false)) throw kmErrors.forbidden(`${type === 'secret' ? 'Secret' : 'Container'}ACL(s) retrieval`);
    const row = await this.db
      .selectFrom('km_acls')
      .selectAll()
      .where('entity_type', '=', type)
      .where('entity_id', '=', id)
      .where('operation', '=', 'read')
      .executeTakeFirst();
    if (!row) return { read: { 'project-access': true } };
    return { read: { 'project-access': row.project_access === 1, users: acl.users, created: row.created_at, updated: row.updated_at } };
  }

  /** PUT replaces the ACL (project-access defaults to true), PATCH changes what it names. */
  async setAcl(ctx: RequestContext, base: string, type: EntityType, id: string, body: unknown, mode: 'put' | 'patch'): Promise<Json> {
    const e = await this.entity(type, id);
    const label = `${type === 'secret' ? 'Secret' : 'Container'}ACL(s) Update`;
    if (!mayWrite(ctx, e, await this.readAcl(this.db, type, id))) throw kmErrors.forbidden(label);
    const read = validateAcl(body);
    await this.uow.run(async ({ trx }) => {
      const now = isoNow();
      const where = (t: 'km_acls' | 'km_acl_users') =>
        t === 'km_acls'
          ? trx.deleteFrom('km_acls').where('entity_type', '=', type).where('entity_id', '=', id).where('operation', '=', 'read')
          : trx.deleteFrom('km_acl_users').where('entity_type', '=', type).where('entity_id', '=', id).where('operation', '=', 'read');
      const cur = await trx
        .selectFrom('km_acls')
        .selectAll()
        .where('entity_type', '=', type)
        .where('entity_id', '=', id)
        .where('operation', '=', 'read')
        .executeTakeFirst();
      if (!read) {
        // PUT without a `read` entry drops the ACL (back to the implicit default); PATCH keeps it.
        if (mode === 'put') {
          await where('km_acl_users').execute();
          await where('km_acls').execute();
        }
        return;
      }
      const projectAccess = read.projectAccess ?? (mode === 'put' || !cur ? true : cur.project_access === 1);
      if (cur) {
        await trx
          .updateTable('km_acls')
          .set({ project_access: projectAccess ? 1 : 0, updated_at: now })
          .where('entity_type', '=', type)
          .where('entity_id', '=', id)
          .where('operation', '=', 'read')
          .execute();
      } else {
        await trx
          .insertInto('km_acls')
          .values({ entity_type: type, entity_id: id, operation: 'read', project_access: projectAccess ? 1 : 0, created_at: now, updated_at: now })
          .execute();
      }
      const users = read.users ?? (mode === 'put' ? [] : undefined);
      if (users !== undefined) {
        await where('km_acl_users').execute();
        for (const u of new Set(users))
          await trx.insertInto('km_acl_users').values({ entity_type: type, entity_id: id, operation: 'read', user_id: u }).execute();
      }
    }, ctx);
    return { acl_ref: `${base}/v1/${type}s/${id}/acl` };
  }

  async deleteAcl(ctx: RequestContext, type: EntityType, id: string): Promise<void> {
    const e = await this.entity(type, id);
    if (!mayWrite(ctx, e, await this.readAcl(this.db, type, id))) throw kmErrors.forbidden(`${type === 'secret' ? 'Secret' : 'Container'}ACL(s) deletion`);
    await this.uow.run(async ({ trx }) => {
      for (const t of ['km_acl_users', 'km_acls'] as const) await trx.deleteFrom(t).where('entity_type', '=', type).where('entity_id', '=', id).execute();
    }, ctx);
  }

  private async entity(type: EntityType, id: string): Promise<Guarded> {
    return type === 'secret' ? this.secretRow(id) : this.containerRow(id);
  }

  // ------------------------------------------------------------ secrets

  private async secretRow(id: string, q: Q = this.db): Promise<KmSecretsTable> {
    if (!UUID_RE.test(id)) throw kmErrors.invalidSecretId();
    const row = await q.selectFrom('km_secrets').selectAll().where('id', '=', id.toLowerCase()).executeTakeFirst();
    if (!row) throw kmErrors.secretNotFound();
    return row;
  }

  private renderSecret(base: string, s: KmSecretsTable): Json {
    return {
      created: s.created_at,
      updated: s.updated_at,
      status: s.status,
      name: s.name,
      secret_type: s.secret_type,
      expiration: s.expiration,
      algorithm: s.algorithm,
      bit_length: s.bit_length,
      mode: s.mode,
      creator_id: s.creator_id,
      ...(s.payload !== null && s.content_type ? { content_types: { default: s.content_type } } : {}),
      secret_ref: `${base}/v1/secrets/${s.id}`,
    };
  }

  async createSecret(ctx: RequestContext, base: string, body: unknown): Promise<{ secret_ref: string }> {
    if (!mayCreate(ctx)) throw kmErrors.forbidden('Secret creation');
    const v = validateNewSecret(body);
    const id = newUuid();
    const now = isoNow();
    await this.uow.run(async ({ trx }) => {
      await trx
        .insertInto('km_secrets')
        .values({
          id,
          project_id: ctx.projectId!,
          creator_id: ctx.userId,
          name: v.name,
          secret_type: v.secretType,
          algorithm: v.algorithm,
          bit_length: v.bitLength,
          mode: v.mode,
          expiration: v.expiration,
          status: 'ACTIVE',
          content_type: v.payload ? v.payload.contentType : null,
          payload: v.payload ? this.sealer.seal(v.payload.body, id) : null,
          created_at: now,
          updated_at: now,
        })
        .execute();
    }, ctx);
    return { secret_ref: `${base}/v1/secrets/${id}` };
  }

  async listSecrets(ctx: RequestContext, base: string, params: Map<string, string>): Promise<Json> {
    if (!mayList(ctx)) throw kmErrors.forbidden('Secret(s) retrieval');
    const { offset, limit } = paging(params);
    let qb = this.db.selectFrom('km_secrets').selectAll();
    if (params.get('acl_only') === 'true') {
      qb = qb.where('id', 'in', this.db.selectFrom('km_acl_users').select('entity_id').where('entity_type', '=', 'secret').where('user_id', '=', ctx.userId));
    } else qb = qb.where('project_id', '=', ctx.projectId!);
    const name = params.get('name');
    if (name) qb = qb.where('name', '=', name);
    const alg = params.get('alg');
    if (alg) qb = qb.where('algorithm', '=', alg);
    const mode = params.get('mode');
    if (mode) qb = qb.where('mode', '=', mode);
    const bits = Number.parseInt(params.get('bits') ?? '0', 10);
    if (bits > 0) qb = qb.where('bit_length', '=', bits);
    const type = params.get('secret_type');
    if (type) qb = qb.where('secret_type', '=', type);
    const all = await qb.orderBy('created_at').orderBy('id').execute();
    const page = all.slice(offset, offset + limit);
    return navigation(
      base,
      'secrets',
      offset,
      limit,
      all.length,
      page.map((s) => this.renderSecret(base, s)),
    );
  }

  async getSecret(ctx: RequestContext, base: string, id: string): Promise<Json> {
    const s = await this.secretRow(id);
    if (!mayRead(ctx, s, await this.readAcl(this.db, 'secret', s.id), false)) throw kmErrors.forbidden('Secret retrieval');
    return this.renderSecret(base, s);
  }

  /**
   * The payload in the content type asked for (`accept`: none or `*\/*` means the stored one),
   * as plugin/util/translations.denormalize_after_decryption gives it.
   */
  async getPayload(ctx: RequestContext, id: string, accept: string | undefined, operation = 'Secret payload retrieval'): Promise<Payload> {
    const s = await this.secretRow(id);
    if (!mayRead(ctx, s, await this.readAcl(this.db, 'secret', s.id), true)) throw kmErrors.forbidden(operation);
    if (s.payload === null || !s.content_type) throw kmErrors.noPayload();
    let want = accept && accept !== '*/*' ? accept : s.content_type;
    if (isSupported(want)) want = normalizeContentType(want);
    const body = this.sealer.open(s.payload, s.id);
    if (want === 'text/plain') {
      if (!isUtf8(body)) throw kmErrors.notAcceptable(`${operation} issue seen - Secret Accept of '${want}' not supported.`);
      return { contentType: 'text/plain; charset=utf-8', body };
    }
    if (BINARY.includes(want)) return { contentType: want, body };
    throw kmErrors.notAcceptable(`${operation} issue seen - Secret Content Type of '${want}' not supported.`);
  }

  /** PUT /v1/secrets/{id}: the payload of a secret created without one. */
  async putPayload(ctx: RequestContext, id: string, contentType: string | undefined, encoding: string | undefined, body: Buffer): Promise<void> {
    const s = await this.secretRow(id);
    if (!mayWrite(ctx, s, await this.readAcl(this.db, 'secret', s.id))) throw kmErrors.forbidden('Secret update');
    const allowed = ['application/octet-stream', 'text/plain'];
    if (!contentType || contentType === 'application/json') throw kmErrors.contentType(allowed);
    if (body.length === 0) throw kmErrors.issue('bad_request', 'Secret update', 'No data supplied to process');
    if (body.length > MAX_SECRET_BYTES) throw kmErrors.issue('too_large', 'Secret update', 'Provided information too large to process');
    if (s.payload !== null) throw kmErrors.conflict('Secret already has data, cannot modify it.');
    const type = normalizeContentType(contentType);
    let clear = body;
    if (encoding === 'base64') {
      if (type === 'text/plain') throw kmErrors.issue('bad_request', 'Secret update', 'Content-Encoding of base64 is not supported for text/plain');
      clear = Buffer.from(body.toString('latin1'), 'base64');
    }
    await this.uow.run(async ({ trx }) => {
      await trx
        .updateTable('km_secrets')
        .set({ content_type: type === 'text/plain' ? 'text/plain' : type, payload: this.sealer.seal(clear, s.id), updated_at: isoNow() })
        .where('id', '=', s.id)
        .execute();
    }, ctx);
  }

  async deleteSecret(ctx: RequestContext, id: string): Promise<void> {
    const s = await this.secretRow(id);
    if (!mayWrite(ctx, s, await this.readAcl(this.db, 'secret', s.id))) throw kmErrors.forbidden('Secret deletion');
    await this.uow.run(async ({ trx }) => {
      for (const t of ['km_acl_users', 'km_acls'] as const) await trx.deleteFrom(t).where('entity_type', '=', 'secret').where('entity_id', '=', s.id).execute();
      await trx.deleteFrom('km_secrets').where('id', '=', s.id).execute();
    }, ctx);
  }

  // ------------------------------------------------------------ containers

  private async containerRow(id: string, q: Q = this.db): Promise<KmContainersTable> {
    if (!UUID_RE.test(id)) throw kmErrors.invalidContainerId();
    const row = await q.selectFrom('km_containers').selectAll().where('id', '=', id.toLowerCase()).executeTakeFirst();
    if (!row) throw kmErrors.containerNotFound();
    return row;
  }

  private async renderContainers(base: string, rows: KmContainersTable[]): Promise<Json[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id);
    const refs = await this.db.selectFrom('km_container_secrets').selectAll().where('container_id', 'in', ids).orderBy('position').execute();
    const consumers = await this.db.selectFrom('km_container_consumers').selectAll().where('container_id', 'in', ids).orderBy('created_at').execute();
    return rows.map((c) => ({
      created: c.created_at,
      updated: c.updated_at,
      status: c.status,
      name: c.name,
      type: c.type,
      creator_id: c.creator_id,
      secret_refs: refs.filter((r) => r.container_id === c.id).map((r) => ({ name: r.name, secret_ref: `${base}/v1/secrets/${r.secret_id}` })),
      consumers: consumers.filter((x) => x.container_id === c.id).map((x) => ({ name: x.name, URL: x.url })),
      container_ref: `${base}/v1/containers/${c.id}`,
    }));
  }

  async createContainer(ctx: RequestContext, base: string, body: unknown): Promise<{ container_ref: string }> {
    if (!mayCreate(ctx)) throw kmErrors.forbidden('Container creation');
    const v = validateContainer(body);
    const id = newUuid();
    const now = isoNow();
    await this.uow.run(async ({ trx }) => {
      // Every secret must be the caller's project's (secret_repo.get with the external project id).
      for (const r of v.refs) {
        const s = await trx.selectFrom('km_secrets').select('id').where('id', '=', r.secretId).where('project_id', '=', ctx.projectId!).executeTakeFirst();
        if (!s) throw kmErrors.notFound(`Secret provided for '${r.name ?? 'None'}' doesn't exist.`);
      }
      await trx
        .insertInto('km_containers')
        .values({ id, project_id: ctx.projectId!, creator_id: ctx.userId, name: v.name, type: v.type, status: 'ACTIVE', created_at: now, updated_at: now })
        .execute();
      let i = 0;
      for (const r of v.refs)
        await trx.insertInto('km_container_secrets').values({ container_id: id, name: r.name, secret_id: r.secretId, position: i++ }).execute();
    }, ctx);
    return { container_ref: `${base}/v1/containers/${id}` };
  }

  async listContainers(ctx: RequestContext, base: string, params: Map<string, string>): Promise<Json> {
    if (!mayList(ctx)) throw kmErrors.forbidden('Containers(s) retrieval');
    const { offset, limit } = paging(params);
    let qb = this.db.selectFrom('km_containers').selectAll().where('project_id', '=', ctx.projectId!);
    const name = params.get('name');
    if (name) qb = qb.where('name', '=', name);
    const type = params.get('type');
    if (type) qb = qb.where('type', '=', type);
    const all = await qb.orderBy('created_at').orderBy('id').execute();
    const page = all.slice(offset, offset + limit);
    return navigation(base, 'containers', offset, limit, all.length, await this.renderContainers(base, page));
  }

  async getContainer(ctx: RequestContext, base: string, id: string): Promise<Json> {
    const c = await this.containerRow(id);
    if (!mayRead(ctx, c, await this.readAcl(this.db, 'container', c.id), false)) throw kmErrors.forbidden('Container retrieval');
    return (await this.renderContainers(base, [c]))[0];
  }

  async deleteContainer(ctx: RequestContext, id: string): Promise<void> {
    const c = await this.containerRow(id);
    if (!mayWrite(ctx, c, await this.readAcl(this.db, 'container', c.id))) throw kmErrors.forbidden('Container deletion');
    await this.uow.run(async ({ trx }) => {
      for (const t of ['km_acl_users', 'km_acls'] as const)
        await trx.deleteFrom(t).where('entity_type', '=', 'container').where('entity_id', '=', c.id).execute();
      await trx.deleteFrom('km_container_consumers').where('container_id', '=', c.id).execute();
      await trx.deleteFrom('km_container_secrets').where('container_id', '=', c.id).execute();
      await trx.deleteFrom('km_containers').where('id', '=', c.id).execute();
    }, ctx);
  }

  /**
   * POST/DELETE /v1/containers/{id}/secrets: a secret of the project put into (or taken out of) a
   * generic container under a name. The same secret may be there under several names.
   */
  async containerSecret(ctx: RequestContext, base: string, id: string, body: unknown, op: 'add' | 'remove'): Promise<{ container_ref: string } | null> {
    const c = await this.containerRow(id);
    const label = op === 'add' ? 'Container Secret creation' : 'Container Secret deletion';
    if (!mayWrite(ctx, c, await this.readAcl(this.db, 'container', c.id))) throw kmErrors.forbidden(label);
    if (op === 'add' && c.type !== 'generic') throw new DomainError('bad_request', 'HTTPBadRequest', "Only 'generic' containers can be modified.");
    const b = isDict(body) ? body : {};
    if (typeof b.secret_ref !== 'string' || !b.secret_ref) throw kmErrors.invalidObject('ContainerSecret', "'secret_ref' is a required property", 'None');
    const name = typeof b.name === 'string' ? b.name : null;
    const ref = b.secret_ref;
    const secretId = ref.replace(/\/$/, '').split('/').pop()!.toLowerCase();
    return this.uow.run(async ({ trx }) => {
      const s = await trx.selectFrom('km_secrets').select('id').where('id', '=', secretId).where('project_id', '=', c.project_id).executeTakeFirst();
      if (!s) throw kmErrors.notFound(op === 'add' ? "Secret provided doesn't exist." : `Secret '${name ?? 'None'}' with reference '${ref}' doesn't exist.`);
      const same = (q: ReturnType<typeof trx.selectFrom<'km_container_secrets'>>) =>
        q
          .where('container_id', '=', c.id)
          .where('secret_id', '=', secretId)
          .where((eb) => (name === null ? eb('name', 'is', null) : eb('name', '=', name)));
      const found = await same(trx.selectFrom('km_container_secrets')).select('position').executeTakeFirst();
      if (op === 'remove') {
        if (!found) throw kmErrors.notFound('Secret provided is not in the container');
        await trx
          .deleteFrom('km_container_secrets')
          .where('container_id', '=', c.id)
          .where('secret_id', '=', secretId)
          .where('position', '=', found.position)
          .execute();
        return null;
      }
      if (found) {
        throw kmErrors.conflict(
          'Conflict. A secret with that name and ID is already stored in this container. The same secret can exist in a container as long as the name is unique.',
        );
      }
      const last = await trx
        .selectFrom('km_container_secrets')
        .select(({ fn }) => fn.max<number>('position').as('p'))
        .where('container_id', '=', c.id)
        .executeTakeFirst();
      await trx
        .insertInto('km_container_secrets')
        .values({ container_id: c.id, name, secret_id: secretId, position: Number(last?.p ?? -1) + 1 })
        .execute();
      return { container_ref: `${base}/v1/containers/${c.id}` };
    }, ctx);
  }

  /** POST/DELETE /v1/containers/{id}/consumers: a service registering (or dropping) its use. */
  async consumer(ctx: RequestContext, base: string, id: string, body: unknown, op: 'add' | 'remove'): Promise<Json> {
    const c = await this.containerRow(id);
    const label = op === 'add' ? 'ContainerConsumer creation' : 'ContainerConsumer deletion';
    if (!mayRead(ctx, c, await this.readAcl(this.db, 'container', c.id), false)) throw kmErrors.forbidden(label);
    const b = isDict(body) ? body : null;
    const name = typeof b?.name === 'string' ? b.name.trim() : '';
    const url = typeof b?.URL === 'string' ? b.URL.trim() : '';
    if (!name) throw kmErrors.invalidObject('Consumer', "'name' is a required property", 'name');
    if (!url) throw kmErrors.invalidObject('Consumer', "'URL' is a required property", 'URL');
    await this.uow.run(async ({ trx }) => {
      const cur = await trx
        .selectFrom('km_container_consumers')
        .select('name')
        .where('container_id', '=', c.id)
        .where('name', '=', name)
        .where('url', '=', url)
        .executeTakeFirst();
      if (op === 'add' && !cur) await trx.insertInto('km_container_consumers').values({ container_id: c.id, name, url, created_at: isoNow() }).execute();
      if (op === 'remove') {
        if (!cur) throw kmErrors.notFound('Consumer not found.');
        await trx.deleteFrom('km_container_consumers').where('container_id', '=', c.id).where('name', '=', name).where('url', '=', url).execute();
      }
    }, ctx);
    return this.getContainer(ctx, base, c.id);
  }

  async listConsumers(ctx: RequestContext, base: string, id: string, params: Map<string, string>): Promise<Json> {
    const c = await this.containerRow(id);
    if (!mayRead(ctx, c, await this.readAcl(this.db, 'container', c.id), false)) throw kmErrors.forbidden('ContainerConsumers(s) retrieval');
    const { offset, limit } = paging(params);
    const all = await this.db.selectFrom('km_container_consumers').selectAll().where('container_id', '=', c.id).orderBy('created_at').execute();
    const page = all.slice(offset, offset + limit).map((x) => ({ created: x.created_at, updated: x.created_at, status: 'ACTIVE', name: x.name, URL: x.url }));
    return navigation(`${base}/v1/containers/${c.id}`, 'consumers', offset, limit, all.length, page, true);
  }

  // ------------------------------------------------------------ for the load-balancer service

  /**
   * What a reference holds, if `ctx` may read it (null: absent, not a key-manager reference, or
   * not readable by the caller). `ctx` null is the load-balancer service itself (Octavia's
   * service user, to which Octavia grants itself read access on every reference it accepts).
   * `q`: the caller's transaction, when it reads inside one.
   */
  async material(ref: string, ctx: RequestContext | null, q: Q = this.db): Promise<Material | null> {
    const r = parseRef(ref);
    if (!r) return null;
    const row =
      r.type === 'secret'
        ? await q.selectFrom('km_secrets').selectAll().where('id', '=', r.id).executeTakeFirst()
        : await q.selectFrom('km_containers').selectAll().where('id', '=', r.id).executeTakeFirst();
    if (!row) return null;
    if (ctx && !mayRead(ctx, row, await this.readAcl(q, r.type, r.id), true)) return null;
    if (r.type === 'secret') {
      const s = row as KmSecretsTable;
      if (s.payload === null) return null;
      return { kind: 'secret', secretType: s.secret_type, payload: this.sealer.open(s.payload, s.id) };
    }
    const refs = await q
      .selectFrom('km_container_secrets as c')
      .innerJoin('km_secrets as s', 's.id', 'c.secret_id')
      .select(['c.name', 's.id', 's.payload'])
      .where('c.container_id', '=', r.id)
      .orderBy('c.position')
      .execute();
    const secrets = new Map<string, Buffer>();
    for (const x of refs) {
      // Reading a container reads its secrets: each needs the caller's read right too.
      if (x.payload === null) continue;
      if (ctx) {
        const s = await this.secretRow(x.id, q);
        if (!mayRead(ctx, s, await this.readAcl(q, 'secret', s.id), true)) return null;
      }
      secrets.set(x.name ?? '', this.sealer.open(x.payload, x.id));
    }
    return { kind: 'container', type: (row as KmContainersTable).type, secrets };
  }
}

// ------------------------------------------------------------ request validation

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

function paging(params: Map<string, string>): { offset: number; limit: number } {
  const int = (k: string, d: number) => {
    const v = params.get(k);
    if (v === undefined || v === '') return d;
    const n = Number.parseInt(v, 10);
    return Number.isFinite(n) ? n : d;
  };
  // Barbican clamps: a negative offset is 0, a limit outside 1..max_limit_paging its default/maximum.
  const offset = Math.max(0, int('offset', 0));
  let limit = int('limit', DEFAULT_LIMIT);
  if (limit < 1) limit = DEFAULT_LIMIT;
  return { offset, limit: Math.min(limit, MAX_LIMIT) };
}

/** hrefs.add_nav_hrefs: `previous`/`next` links, and the total. */
function navigation(base: string, name: string, offset: number, limit: number, total: number, items: Json[], nested = false): Json {
  const href = (o: number) => `${nested ? base : `${base}/v1`}/${name}?limit=${limit}&offset=${o}`;
  const out: Json = { [name]: items };
  if (items.length) {
    if (offset > 0) out.previous = href(Math.max(0, offset - limit));
    if (total > offset + limit) out.next = href(offset + limit);
  }
  out.total = total;
  return out;
}

interface NewSecret {
  name: string | null;
  secretType: string;
  algorithm: string | null;
  bitLength: number | null;
  mode: string | null;
  expiration: string | null;
  payload: { contentType: string; body: Buffer } | null;
}

const strOrNull = (v: unknown) => (typeof v === 'string' ? v.trim() : null);

/** validators.NewSecretValidator: the JSON schema first, then Barbican's own checks, in its order. */
function validateNewSecret(raw: unknown): NewSecret {
  const S = 'Secret';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${JSON.stringify(raw)} is not of type 'object'`, 'None');
  const b = raw;
  const str = (k: string, max: number, nullable = false) => {
    if (!Object.hasOwn(b, k)) return;
    const v = b[k];
    if (v === null && nullable) return;
    if (typeof v !== 'string') throw kmErrors.invalidObject(S, `${JSON.stringify(v)} is not of type 'string'`, k);
    if (v.length > max) throw kmErrors.invalidObject(S, `'${v}' is too long`, k);
  };
  str('name', 255, true);
  str('algorithm', 255);
  str('mode', 255);
  str('expiration', 255);
  str('payload', Number.MAX_SAFE_INTEGER);
  str('payload_content_type', 255, true);
  if (Object.hasOwn(b, 'bit_length')) {
    const v = b.bit_length;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw kmErrors.invalidObject(S, `${JSON.stringify(v)} is not of type 'integer'`, 'bit_length');
    if (v < 1) throw kmErrors.invalidObject(S, `${v} is less than the minimum of 1`, 'bit_length');
    if (v > 32767) throw kmErrors.invalidObject(S, `${v} is greater than the maximum of 32767`, 'bit_length');
  }
  if (Object.hasOwn(b, 'secret_type') && (typeof b.secret_type !== 'string' || !SECRET_TYPES.includes(b.secret_type))) {
    throw kmErrors.invalidObject(S, `${JSON.stringify(b.secret_type)} is not one of ${pyList(SECRET_TYPES)}`, 'secret_type');
  }
  if (Object.hasOwn(b, 'payload_content_encoding') && b.payload_content_encoding !== 'base64') {
    throw kmErrors.invalidObject(S, `${JSON.stringify(b.payload_content_encoding)} is not one of ['base64']`, 'payload_content_encoding');
  }
  let expiration: string | null = null;
  const rawExp = strOrNull(b.expiration);
  if (rawExp) {
    const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(rawExp) ? rawExp : `${rawExp}Z`);
    if (Number.isNaN(t)) throw kmErrors.invalidObject(S, "Invalid date for 'expiration'", 'expiration');
    if (t <= Date.now()) throw kmErrors.invalidObject(S, "'expiration' is before current time", 'expiration');
    expiration = new Date(t).toISOString().slice(0, 19);
  }
  const contentType = typeof b.payload_content_type === 'string' ? b.payload_content_type : null;
  let payload: NewSecret['payload'] = null;
  if (Object.hasOwn(b, 'payload')) {
    const encoding = typeof b.payload_content_encoding === 'string' ? b.payload_content_encoding : null;
    if (contentType === null)
      throw kmErrors.invalidObject(S, "If 'payload' is supplied, 'payload_content_type' must also be supplied.", 'payload_content_type');
    if (!isSupported(contentType)) throw kmErrors.invalidObject(S, `payload_content_type is not one of ${pyList(SUPPORTED)}`, 'payload_content_type');
    const encodings = encodingsOf(contentType);
    if (encodings ? !encodings.includes(encoding ?? '') : encoding !== null) {
      throw kmErrors.invalidObject(S, `payload_content_encoding is not one of ${encodings ? pyList(encodings) : 'None'}`, 'payload_content_encoding');
    }
    const text = (b.payload as string).trim();
    if (Buffer.byteLength(text) > MAX_SECRET_BYTES) throw kmErrors.issue('too_large', 'Secret creation', 'Provided information too large to process');
    if (!text) throw kmErrors.invalidObject(S, "If 'payload' specified, must be non empty", 'payload');
    if (encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(text.replace(/\s/g, ''))) {
      throw kmErrors.invalidObject(S, 'Invalid payload for payload_content_encoding', 'payload');
    }
    const type = normalizeContentType(contentType);
    payload = { contentType: type, body: encoding === 'base64' ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8') };
  } else if (Object.hasOwn(b, 'payload_content_type')) {
    throw kmErrors.invalidObject(S, 'payload must be provided when payload_content_type is specified', 'payload');
  }
  return {
    name: strOrNull(b.name),
    secretType: typeof b.secret_type === 'string' ? b.secret_type : 'opaque',
    algorithm: strOrNull(b.algorithm),
    bitLength: typeof b.bit_length === 'number' ? b.bit_length : null,
    mode: strOrNull(b.mode),
    expiration,
    payload,
  };
}

interface NewContainer {
  name: string | null;
  type: string;
  refs: Array<{ name: string | null; secretId: string }>;
}

/** validators.ContainerValidator. */
function validateContainer(raw: unknown): NewContainer {
  const S = 'Container';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${JSON.stringify(raw)} is not of type 'object'`, 'None');
  const b = raw;
  if (b.name !== undefined && b.name !== null && (typeof b.name !== 'string' || b.name.length > 255)) {
    throw kmErrors.invalidObject(S, `${JSON.stringify(b.name)} is not of type 'string', 'null'`, 'name');
  }
  if (!Object.hasOwn(b, 'type')) throw kmErrors.invalidObject(S, "'type' is a required property", 'None');
  const types = ['generic', 'rsa', 'certificate'];
  if (typeof b.type !== 'string' || !types.includes(b.type))
    throw kmErrors.invalidObject(S, `${JSON.stringify(b.type)} is not one of ${pyList(types)}`, 'type');
  const list = b.secret_refs ?? [];
  if (!Array.isArray(list)) throw kmErrors.invalidObject(S, `${JSON.stringify(list)} is not of type 'array'`, 'secret_refs');
  const refs: NewContainer['refs'] = [];
  for (const r of list) {
    if (!isDict(r) || typeof r.secret_ref !== 'string' || r.secret_ref.length < 1) {
      throw kmErrors.invalidObject(S, "'secret_ref' is a required property", 'secret_refs');
    }
    const name = typeof r.name === 'string' ? r.name.trim() : null;
    const parsed = parseRef(r.secret_ref.trim());
    const id = parsed?.type === 'secret' ? parsed.id : r.secret_ref.trim().replace(/\/$/, '').split('/').pop()!;
    refs.push({ name, secretId: id });
  }
  if (refs.length) {
    const names = new Set(refs.map((r) => r.name ?? ''));
    if (names.size !== refs.length) throw kmErrors.invalidObject(S, 'Duplicate reference names are not allowed', 'secret_refs');
    if (new Set(refs.map((r) => r.secretId)).size !== refs.length) throw kmErrors.invalidObject(S, 'Duplicate secret ids are not allowed', 'secret_refs');
    const only = (allowed: string[]) => [...names].every((n) => allowed.includes(n));
    if (b.type === 'rsa') {
      if (!only(['public_key', 'private_key', 'private_key_passphrase'])) {
        throw kmErrors.invalidObject(
          S,
          "only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type",
          'secret_refs',
        );
      }
      if (!names.has('public_key') || !names.has('private_key')) {
        throw kmErrors.invalidObject(S, "The minimum required reference names are 'public_key' and'private_key' for RSA type", 'secret_refs');
      }
    } else if (b.type === 'certificate') {
      if (!only(['certificate', 'private_key', 'private_key_passphrase', 'intermediates'])) {
        throw kmErrors.invalidObject(
          S,
          "only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type",
          'secret_refs',
        );
      }
      if (!names.has('certificate'))
        throw kmErrors.invalidObject(S, "The minimum required reference name is 'certificate' for Certificate type", 'secret_refs');
    }
  }
  return { name: typeof b.name === 'string' ? b.name.trim() : null, type: b.type, refs };
}

/** validators.ACLValidator: `{"read": {"users": [...], "project-access": bool}}`. */
function validateAcl(raw: unknown): { users?: string[]; projectAccess?: boolean } | null {
  const S = 'ACL';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${JSON.stringify(raw)} is not of type 'object'`, 'None');
  for (const k of Object.keys(raw)) if (k !== 'read') throw kmErrors.invalidObject(S, `Additional properties are not allowed ('${k}' was unexpected)`, 'None');
  const read = raw.read;
  if (read === undefined || read === null) return null;
  if (!isDict(read)) throw kmErrors.invalidObject(S, `${JSON.stringify(read)} is not of type 'object'`, 'read');
  const out: { users?: string[]; projectAccess?: boolean } = {};
  if (Object.hasOwn(read, 'users')) {
    const u = read.users;
    if (!Array.isArray(u) || u.some((x) => typeof x !== 'string' || x.length > 255))
      throw kmErrors.invalidObject(S, `${JSON.stringify(u)} is not of type 'array'`, 'read');
    out.users = u as string[];
  }
  if (Object.hasOwn(read, 'project-access')) {
    if (typeof read['project-access'] !== 'boolean')
      throw kmErrors.invalidObject(S, `${JSON.stringify(read['project-access'])} is not of type 'boolean'`, 'read');
    out.projectAccess = read['project-access'];
  }
  return out;
}
