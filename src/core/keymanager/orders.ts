/**
 * Orders (barbican/api/controllers/orders.py, tasks/resources.py BeginTypeOrder): a request for
 * Barbican to generate a symmetric key (`key`) or a key pair (`asymmetric`, kept in a container
 * of `private_key`, `public_key` and, with a passphrase, `private_key_passphrase`). As Barbican
 * without a worker queue does it (queue.client._DirectTaskInvokerClient, DevStack's setting), the
 * order is committed PENDING, then processed within the same request: it is ACTIVE with its
 * secret or container when the POST answers 202, or ERROR with the code and reason Barbican
 * records. Generated keys are sealed at rest like every payload (seal.ts).
 */
import type { Q } from '../../store/db.js';
import type { KmOrdersTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { type Json, isoNow, navigation, paging } from './common.js';
import { kmErrors } from './errors.js';
import { GenerationFailure, generateAsymmetric, generateSymmetric } from './keygen.js';
import { mayCreate, mayDeleteOrder, mayListOrders, mayReadOrder } from './policy.js';
import { enforceQuota } from './quotas.js';
import type { Sealer } from './seal.js';
import { type NewOrder, validateOrder } from './validators.js';

/** The task's name in its error reasons ("Process TypeOrder issue seen - …."). */
const TASK = 'Process TypeOrder';

export class KeyManagerOrders {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly sealer: Sealer,
  ) {}

  private get db() {
    return this.uow.store.db;
  }

  private render(base: string, o: KmOrdersTable): Json {
    return {
      created: o.created_at,
      updated: o.updated_at,
      status: o.status,
      type: o.type,
      meta: JSON.parse(o.meta) as Json,
      ...(o.secret_id ? { secret_ref: `${base}/v1/secrets/${o.secret_id}` } : {}),
      ...(o.container_id ? { container_ref: `${base}/v1/containers/${o.container_id}` } : {}),
      ...(o.error_status_code ? { error_status_code: o.error_status_code } : {}),
      ...(o.error_reason ? { error_reason: o.error_reason } : {}),
      ...(o.creator_id ? { creator_id: o.creator_id } : {}),
      order_ref: `${base}/v1/orders/${o.id}`,
    };
  }

  /** OrdersController._lookup: only the caller's project's orders exist for it. */
  private async row(ctx: RequestContext, id: string): Promise<KmOrdersTable> {
    const o = ctx.projectId
      ? await this.db.selectFrom('km_orders').selectAll().where('id', '=', id).where('project_id', '=', ctx.projectId).executeTakeFirst()
      : undefined;
    if (!o) throw kmErrors.orderNotFound();
    return o;
  }

  async create(ctx: RequestContext, base: string, body: unknown): Promise<{ order_ref: string }> {
    if (!mayCreate(ctx)) throw kmErrors.forbidden('Order creation');
    const order = validateOrder(body);
    const id = newUuid();
    const projectId = ctx.projectId!;
    await this.uow.run(async ({ trx }) => {
      await enforceQuota(trx, projectId, 'orders', 'Order creation');
      const now = isoNow();
      await trx
        .insertInto('km_orders')
        .values({
          id,
          project_id: projectId,
          creator_id: ctx.userId,
          type: order.type,
          status: 'PENDING',
          meta: JSON.stringify(order.meta),
          secret_id: null,
          container_id: null,
          error_status_code: null,
          error_reason: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
    }, ctx);
    await this.process(ctx, id, projectId, order);
    return { order_ref: `${base}/v1/orders/${id}` };
  }

  /** BeginTypeOrder: generate, store, and mark the order ACTIVE — or ERROR, as handle_error does. */
  private async process(ctx: RequestContext, id: string, projectId: string, order: NewOrder): Promise<void> {
    const s = order.secret;
    const contentType = s.contentType ?? 'application/octet-stream';
    try {
      if (order.type === 'key') {
        const key = generateSymmetric(s.algorithm!, s.bitLength!, s.mode);
        await this.uow.run(async ({ trx }) => {
          const secretId = await this.insertSecret(trx, ctx, projectId, order, 'symmetric', contentType, key);
          await trx.updateTable('km_orders').set({ status: 'ACTIVE', secret_id: secretId, updated_at: isoNow() }).where('id', '=', id).execute();
        }, ctx);
      } else {
        const pair = await generateAsymmetric(s.algorithm!, s.bitLength!, order.passphrase);
        await this.uow.run(async ({ trx }) => {
          const refs: Array<[string, string]> = [
            ['private_key', await this.insertSecret(trx, ctx, projectId, order, 'private', contentType, pair.privateKey)],
            ['public_key', await this.insertSecret(trx, ctx, projectId, order, 'public', contentType, pair.publicKey)],
          ];
          if (pair.passphrase)
            refs.push(['private_key_passphrase', await this.insertSecret(trx, ctx, projectId, order, 'passphrase', contentType, pair.passphrase)]);
          // plugin.resources._create_container_for_asymmetric_secret: named after the order, typed after its algorithm.
          const containerId = newUuid();
          const now = isoNow();
          await trx
            .insertInto('km_containers')
            .values({
              id: containerId,
              project_id: projectId,
              creator_id: ctx.userId,
              name: s.name,
              type: s.algorithm!.toLowerCase(),
              status: 'ACTIVE',
              created_at: now,
              updated_at: now,
            })
            .execute();
          let position = 0;
          for (const [name, secretId] of refs)
            await trx.insertInto('km_container_secrets').values({ container_id: containerId, name, secret_id: secretId, position: position++ }).execute();
          await trx.updateTable('km_orders').set({ status: 'ACTIVE', container_id: containerId, updated_at: now }).where('id', '=', id).execute();
        }, ctx);
      }
    } catch (e) {
      const f = e instanceof GenerationFailure ? e : new GenerationFailure(500, null);
      // api.generate_safe_exception_message: a client message for Barbican's own exceptions only.
      const reason = f.clientMessage ? `${TASK} issue seen - ${f.clientMessage}.` : `${TASK} failure seen - please contact site administrator.`;
      await this.uow.run(async ({ trx }) => {
        await trx
          .updateTable('km_orders')
          .set({ status: 'ERROR', error_status_code: String(f.status), error_reason: reason.slice(0, 255), updated_at: isoNow() })
          .where('id', '=', id)
          .execute();
      }, ctx);
    }
  }

  /** models.Secret(spec) with the generated payload, sealed. */
  private async insertSecret(
    trx: Q,
    ctx: RequestContext,
    projectId: string,
    order: NewOrder,
    secretType: string,
    contentType: string,
    payload: Buffer,
  ): Promise<string> {
    const s = order.secret;
    const id = newUuid();
    const now = isoNow();
    await trx
      .insertInto('km_secrets')
      .values({
        id,
        project_id: projectId,
        creator_id: ctx.userId,
        name: s.name,
        secret_type: secretType,
        algorithm: s.algorithm,
        bit_length: s.bitLength,
        mode: s.mode,
        expiration: s.expiration,
        status: 'ACTIVE',
        content_type: contentType,
        payload: this.sealer.seal(payload, id),
        created_at: now,
        updated_at: now,
      })
      .execute();
    return id;
  }

  async list(ctx: RequestContext, base: string, params: Map<string, string>): Promise<Json> {
    if (!mayListOrders(ctx)) throw kmErrors.forbidden('Order(s) retrieval');
    const { offset, limit } = paging(params);
    const rows = await this.db.selectFrom('km_orders').selectAll().where('project_id', '=', ctx.projectId!).orderBy('created_at').orderBy('id').execute();
    // get_by_create_date(meta_arg=…): Order.meta.contains(meta), a substring of the stored JSON text.
    const meta = params.get('meta');
    const all = meta ? rows.filter((o) => o.meta.includes(meta)) : rows;
    const page = all.slice(offset, offset + limit).map((o) => this.render(base, o));
    return navigation(base, 'orders', offset, limit, all.length, page);
  }

  async get(ctx: RequestContext, base: string, id: string): Promise<Json> {
    const o = await this.row(ctx, id);
    if (!mayReadOrder(ctx)) throw kmErrors.forbidden('Order retrieval');
    return this.render(base, o);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    const o = await this.row(ctx, id);
    if (!mayDeleteOrder(ctx)) throw kmErrors.forbidden('Order deletion');
    // An order's secret or container outlives it (OrderRepo.delete_entity_by_id removes the order only).
    await this.uow.run(async ({ trx }) => {
      await trx.deleteFrom('km_orders').where('id', '=', o.id).execute();
    }, ctx);
  }

  /** PUT /v1/orders: orders:put, then "Order update is not supported." (certificate orders only ever were). */
  updateNotSupported(ctx: RequestContext): never {
    if (!mayCreate(ctx)) throw kmErrors.forbidden('Order update');
    throw kmErrors.methodNotAllowedWith('Order update is not supported.');
  }
}
