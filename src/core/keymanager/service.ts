/**
 * The key manager without HTTP: a Barbican v1 slice (barbican/api/controllers in Zed) — secrets
 * with payloads, their user metadata (secretmeta.py) and consumers (microversion 1.1), containers
 * (generic, rsa, certificate) of secrets, container consumers and read ACLs — plus what the load-balancer service reads in-process: TLS material by reference, with
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
import { type EntityType, type Json, UUID_RE, isoNow, navigation, paging, parseRef } from './common.js';
import { kmErrors } from './errors.js';
import { type Guarded, type ReadAcl, mayCreate, mayList, mayRead, mayWrite } from './policy.js';
import { KeyManagerOrders } from './orders.js';
import { KeyManagerQuotas, enforceQuota } from './quotas.js';
import type { Sealer } from './seal.js';
import {
  BINARY,
  MAX_SECRET_BYTES,
  isSupported,
  normalizeContentType,
  validateAcl,
  validateContainer,
  validateContainerConsumer,
  validateNewSecret,
  validateSecretConsumer,
  validateSecretMetadata,
  validateSecretMetadatum,
} from './validators.js';

export type { EntityType } from './common.js';

/** Microversions of the v1 API (versions.VERSIONS): 1.1 adds secret consumers to a secret's fields. */
export type ApiVersion = '1.0' | '1.1';

export interface Payload {
  contentType: string;
  body: Buffer;
}

/** What the load-balancer service reads: a secret's clear payload, or a container's named secrets. */
export type Material = { kind: 'secret'; secretType: string; payload: Buffer } | { kind: 'container'; type: string; secrets: Map<string, Buffer> };

export class KeyManagerService {
  /** Orders: keys and key pairs Barbican generates (orders.ts). */
  readonly orders: KeyManagerOrders;
  /** Per-project limits, enforced on every create (quotas.ts). */
  readonly quotas: KeyManagerQuotas;

  constructor(
    readonly uow: UnitOfWork,
    private readonly sealer: Sealer,
  ) {
    this.orders = new KeyManagerOrders(uow, sealer);
    this.quotas = new KeyManagerQuotas(uow);
  }

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

  /**
   * A secret's fields (augment_fields_with_content_types); `consumers` as of microversion 1.1
   * (SecretController.on_get drops them for 1.0), read from `consumers` when the caller has them.
   */
  private renderSecret(base: string, s: KmSecretsTable, consumers?: Json[]): Json {
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
      ...(consumers ? { consumers } : {}),
      secret_ref: `${base}/v1/secrets/${s.id}`,
    };
  }

  /** Each secret's consumers, oldest first (models.Secret's `consumers`). */
  private async consumersOf(ids: string[]): Promise<Map<string, Json[]>> {
    const out = new Map<string, Json[]>(ids.map((id) => [id, []]));
    if (!ids.length) return out;
    const rows = await this.db
      .selectFrom('km_secret_consumers')
      .selectAll()
      .where('secret_id', 'in', ids)
      .orderBy('created_at')
      .orderBy('service')
      .orderBy('resource_type')
      .orderBy('resource_id')
      .execute();
    for (const c of rows) out.get(c.secret_id)?.push({ service: c.service, resource_type: c.resource_type, resource_id: c.resource_id });
    return out;
  }

  async createSecret(ctx: RequestContext, base: string, body: unknown): Promise<{ secret_ref: string }> {
    if (!mayCreate(ctx)) throw kmErrors.forbidden('Secret creation');
    const v = validateNewSecret(body);
    const id = newUuid();
    const now = isoNow();
    await this.uow.run(async ({ trx }) => {
      await enforceQuota(trx, ctx.projectId!, 'secrets', 'Secret creation');
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

  async listSecrets(ctx: RequestContext, base: string, params: Map<string, string>, version: ApiVersion = '1.0'): Promise<Json> {
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
    const consumers = version === '1.1' ? await this.consumersOf(page.map((s) => s.id)) : null;
    return navigation(
      base,
      'secrets',
      offset,
      limit,
      all.length,
      page.map((s) => this.renderSecret(base, s, consumers?.get(s.id))),
    );
  }

  async getSecret(ctx: RequestContext, base: string, id: string, version: ApiVersion = '1.0'): Promise<Json> {
    const s = await this.secretRow(id);
    if (!mayRead(ctx, s, await this.readAcl(this.db, 'secret', s.id), false)) throw kmErrors.forbidden('Secret retrieval');
    return this.renderSecret(base, s, version === '1.1' ? (await this.consumersOf([s.id])).get(s.id) : undefined);
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
      // models.Secret's children go with it: user metadata, and (Zed, before 1.2) its consumers.
      await trx.deleteFrom('km_secret_metadata').where('secret_id', '=', s.id).execute();
      await trx.deleteFrom('km_secret_consumers').where('secret_id', '=', s.id).execute();
      await trx.deleteFrom('km_secrets').where('id', '=', s.id).execute();
    }, ctx);
  }

  // ------------------------------------------------------------ secret metadata (secretmeta.py)

  private async metadataOf(q: Q, secretId: string): Promise<Map<string, string>> {
    const rows = await q.selectFrom('km_secret_metadata').select(['key', 'value']).where('secret_id', '=', secretId).orderBy('key').execute();
    return new Map(rows.map((r) => [r.key, r.value]));
  }

  /** A secret whose user metadata the caller may read (secret_meta:get) or change (…:put/post/delete). */
  private async metaSecret(ctx: RequestContext, id: string, write: boolean, operation: string): Promise<KmSecretsTable> {
    const s = await this.secretRow(id);
    const acl = await this.readAcl(this.db, 'secret', s.id);
    if (!(write ? mayWrite(ctx, s, acl) : mayRead(ctx, s, acl, false))) throw kmErrors.forbidden(operation);
    return s;
  }

  /** Called once the caller's rights are known, so that a refusal comes before a bad body. */
  async getMetadata(ctx: RequestContext, id: string): Promise<Json> {
    const s = await this.metaSecret(ctx, id, false, 'Secret metadata retrieval');
    return { metadata: Object.fromEntries(await this.metadataOf(this.db, s.id)) };
  }

  /** PUT /metadata: replaces the whole set (create_replace_user_metadata). */
  async putMetadata(ctx: RequestContext, base: string, id: string, body: () => unknown): Promise<Json> {
    const s = await this.metaSecret(ctx, id, true, 'Secret metadata creation');
    const metadata = validateSecretMetadata(body());
    await this.uow.run(async ({ trx }) => {
      const now = isoNow();
      await trx.deleteFrom('km_secret_metadata').where('secret_id', '=', s.id).execute();
      for (const [key, value] of metadata)
        await trx.insertInto('km_secret_metadata').values({ secret_id: s.id, key, value, created_at: now, updated_at: now }).execute();
    }, ctx);
    return { metadata_ref: `${base}/v1/secrets/${s.id}/metadata` };
  }

  /** POST /metadata: one new key (409 if the secret has it already). */
  async addMetadatum(ctx: RequestContext, base: string, id: string, body: () => unknown): Promise<{ location: string; body: Json }> {
    const s = await this.metaSecret(ctx, id, true, 'Secret metadatum creation');
    const { key, value } = validateSecretMetadatum(body());
    await this.uow.run(async ({ trx }) => {
      if ((await this.metadataOf(trx, s.id)).has(key)) throw kmErrors.conflict('Conflict. Key in request is already in the secret metadata');
      const now = isoNow();
      await trx.insertInto('km_secret_metadata').values({ secret_id: s.id, key, value, created_at: now, updated_at: now }).execute();
    }, ctx);
    return { location: `${base}/v1/secrets/${s.id}/metadata/${key}`, body: { key, value } };
  }

  async getMetadatum(ctx: RequestContext, id: string, key: string): Promise<Json> {
    const s = await this.metaSecret(ctx, id, false, 'Secret metadatum retrieval');
    const value = (await this.metadataOf(this.db, s.id)).get(key);
    if (value === undefined) throw kmErrors.secretMetadataNotFound();
    return { key, value };
  }

  /** PUT /metadata/{key}: an existing key, named the same in the body. */
  async updateMetadatum(ctx: RequestContext, id: string, urlKey: string, body: () => unknown): Promise<Json> {
    const s = await this.metaSecret(ctx, id, true, 'Secret metadatum update');
    const metadata = await this.metadataOf(this.db, s.id);
    const { key, value } = validateSecretMetadatum(body());
    if (!metadata.has(urlKey)) throw kmErrors.secretMetadataNotFound();
    // SecretMetadatumController.on_put's message is cut short in Barbican itself (its second
    // string literal is a statement of its own), and so it is here.
    if (urlKey !== key) throw kmErrors.conflict('Key in request data does not match key in the ');
    await this.uow.run(async ({ trx }) => {
      await trx.updateTable('km_secret_metadata').set({ value, updated_at: isoNow() }).where('secret_id', '=', s.id).where('key', '=', key).execute();
    }, ctx);
    return { key, value };
  }

  /** DELETE /metadata/{key}: 204 whether or not the key was there (delete_metadatum). */
  async deleteMetadatum(ctx: RequestContext, id: string, key: string): Promise<void> {
    const s = await this.metaSecret(ctx, id, true, 'Secret metadatum removal');
    await this.uow.run(async ({ trx }) => {
      await trx.deleteFrom('km_secret_metadata').where('secret_id', '=', s.id).where('key', '=', key).execute();
    }, ctx);
  }

  // ------------------------------------------------------------ secret consumers (consumers.py)

  /** GET /v1/secrets/{id}/consumers. */
  async listSecretConsumers(ctx: RequestContext, base: string, id: string, params: Map<string, string>): Promise<Json> {
    const s = await this.secretRow(id);
    if (!mayRead(ctx, s, await this.readAcl(this.db, 'secret', s.id), false)) throw kmErrors.forbidden('SecretConsumers(s) retrieval');
    const { offset, limit } = paging(params);
    const all = await this.db
      .selectFrom('km_secret_consumers')
      .selectAll()
      .where('secret_id', '=', s.id)
      .orderBy('created_at')
      .orderBy('service')
      .orderBy('resource_type')
      .orderBy('resource_id')
      .execute();
    const page = all.slice(offset, offset + limit).map((x) => ({
      created: x.created_at,
      updated: x.created_at,
      status: 'ACTIVE',
      service: x.service,
      resource_type: x.resource_type,
      resource_id: x.resource_id,
    }));
    return navigation(`${base}/v1/secrets/${s.id}`, 'consumers', offset, limit, all.length, page, true);
  }

  /**
   * POST/DELETE /v1/secrets/{id}/consumers: a service registering (idempotently) or dropping its
   * use of a secret; the answer is the secret with its consumers. A registration counts against
   * the registering project's `consumers` quota; only it or the secret's project may drop it.
   */
  async secretConsumer(ctx: RequestContext, base: string, id: string, body: () => unknown, op: 'add' | 'remove'): Promise<Json> {
    const s = await this.secretRow(id);
    const label = op === 'add' ? 'SecretConsumer creation' : 'SecretConsumer deletion';
    if (!mayRead(ctx, s, await this.readAcl(this.db, 'secret', s.id), false)) throw kmErrors.forbidden(label);
    const v = validateSecretConsumer(body());
    await this.uow.run(async ({ trx }) => {
      const same = trx
        .selectFrom('km_secret_consumers')
        .select('project_id')
        .where('secret_id', '=', s.id)
        .where('service', '=', v.service)
        .where('resource_type', '=', v.resourceType)
        .where('resource_id', '=', v.resourceId);
      const cur = await same.executeTakeFirst();
      const now = isoNow();
      if (op === 'add') {
        await enforceQuota(trx, ctx.projectId ?? '', 'consumers', label);
        if (!cur)
          await trx
            .insertInto('km_secret_consumers')
            .values({
              secret_id: s.id,
              project_id: ctx.projectId ?? '',
              service: v.service,
              resource_type: v.resourceType,
              resource_id: v.resourceId,
              created_at: now,
            })
            .execute();
        // SecretConsumerRepo.create_or_update_from touches the secret.
        await trx.updateTable('km_secrets').set({ updated_at: now }).where('id', '=', s.id).execute();
        return;
      }
      if (!cur) throw kmErrors.consumerNotFound();
      if (cur.project_id !== ctx.projectId && s.project_id !== ctx.projectId) throw kmErrors.consumerNotOwned();
      await trx
        .deleteFrom('km_secret_consumers')
        .where('secret_id', '=', s.id)
        .where('service', '=', v.service)
        .where('resource_type', '=', v.resourceType)
        .where('resource_id', '=', v.resourceId)
        .execute();
    }, ctx);
    // _return_secret_data: the secret's fields, consumers included whatever the microversion.
    const fresh = await this.secretRow(s.id);
    return this.renderSecret(base, fresh, (await this.consumersOf([s.id])).get(s.id));
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
      await enforceQuota(trx, ctx.projectId!, 'containers', 'Container creation');
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

  /**
   * POST/DELETE /v1/containers/{id}/consumers: a service registering (or dropping) its use. A
   * registration counts against the registering project's `consumers` quota; only that project or
   * the container's may drop it (ContainerConsumersController.on_delete).
   */
  async consumer(ctx: RequestContext, base: string, id: string, body: unknown, op: 'add' | 'remove'): Promise<Json> {
    const c = await this.containerRow(id);
    const label = op === 'add' ? 'ContainerConsumer creation' : 'ContainerConsumer deletion';
    if (!mayRead(ctx, c, await this.readAcl(this.db, 'container', c.id), false)) throw kmErrors.forbidden(label);
    const { name, url } = validateContainerConsumer(body);
    await this.uow.run(async ({ trx }) => {
      const cur = await trx
        .selectFrom('km_container_consumers')
        .select(['name', 'project_id'])
        .where('container_id', '=', c.id)
        .where('name', '=', name)
        .where('url', '=', url)
        .executeTakeFirst();
      if (op === 'add') {
        await enforceQuota(trx, ctx.projectId ?? '', 'consumers', label, true);
        if (!cur)
          await trx.insertInto('km_container_consumers').values({ container_id: c.id, name, url, project_id: ctx.projectId, created_at: isoNow() }).execute();
        return;
      }
      if (!cur) throw kmErrors.consumerNotFound();
      if (cur.project_id !== null && cur.project_id !== ctx.projectId && c.project_id !== ctx.projectId) throw kmErrors.consumerNotOwned();
      await trx.deleteFrom('km_container_consumers').where('container_id', '=', c.id).where('name', '=', name).where('url', '=', url).execute();
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
