import { fromJson, isUniqueViolation, type Q } from '../../store/db.js';
import type { FederationIdpsTable, FederationSpsTable } from '../../store/schema.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import { DomainError } from '../errors.js';
import { conflict, validationError } from './errors.js';
import type { Attrs, IdentityEnv } from './model.js';

export interface IdentityProvider {
  id: string;
  domain_id: string;
  enabled: boolean;
  description: string | null;
  remote_ids: string[];
  authorization_ttl: number | null;
}

export interface Protocol {
  id: string;
  idp_id: string;
  mapping_id: string;
  remote_id_attribute: string | null;
}

export interface Mapping {
  id: string;
  rules: unknown[];
}

export interface ServiceProvider {
  id: string;
  auth_url: string;
  sp_url: string;
  description: string | null;
  enabled: boolean;
  relay_state_prefix: string;
}

/** Keystone's [saml] relay_state_prefix default. */
const RELAY_STATE_PREFIX = 'ss:mem:';

const idpOf = (r: FederationIdpsTable): IdentityProvider => ({
  id: r.id,
  domain_id: r.domain_id,
  enabled: !!r.enabled,
  description: r.description,
  remote_ids: fromJson<string[]>(r.remote_ids, []),
  authorization_ttl: r.authorization_ttl,
});
const spOf = (r: FederationSpsTable): ServiceProvider => ({
  id: r.id,
  auth_url: r.auth_url,
  sp_url: r.sp_url,
  description: r.description,
  enabled: !!r.enabled,
  relay_state_prefix: r.relay_state_prefix,
});

const notFoundNamed = (what: string, id: string) => new DomainError('not_found', 'NotFound', `Could not find ${what}: ${id}.`);
const idpNotFound = (id: string) => new DomainError('not_found', 'IdentityProviderNotFound', `Could not find Identity Provider: ${id}.`);
const spNotFound = (id: string) => new DomainError('not_found', 'ServiceProviderNotFound', `Could not find Service Provider: ${id}.`);
const mappingNotFound = (id: string) => notFoundNamed('mapping', id);
const protocolNotFound = (id: string, idpId: string) =>
  new DomainError('not_found', 'FederatedProtocolNotFound', `Could not find federated protocol ${id} for Identity Provider: ${idpId}.`);

/**
 * OS-FEDERATION's configuration as Keystone keeps it: identity providers (with the domain their
 * users land in, made when none is given), their protocols and the mappings those use, and
 * service providers (shown in tokens when enabled). Federated authentication itself — SAML2,
 * OpenID Connect, K2K — is not built; its routes answer Keystone's 501.
 */
export class Federation {
  constructor(private readonly env: IdentityEnv) {}

  private get db() {
    return this.env.store.db;
  }

  // ------------------------------------------------------------ identity providers

  async idps(): Promise<IdentityProvider[]> {
    return (await this.db.selectFrom('federation_idps').selectAll().orderBy('created_at').orderBy('id').execute()).map(idpOf);
  }

  async idp(id: string, q: Q = this.db): Promise<IdentityProvider> {
    const r = await q.selectFrom('federation_idps').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw idpNotFound(id);
    return idpOf(r);
  }

  /** Remote ids belong to one identity provider only. */
  private async assertRemoteIds(ids: string[], except: string | null, q: Q): Promise<void> {
    if (ids.length === 0) return;
    for (const other of await q.selectFrom('federation_idps').select(['id', 'remote_ids']).execute()) {
      if (other.id === except) continue;
      if (fromJson<string[]>(other.remote_ids, []).some((r) => ids.includes(r))) throw conflict('identity_provider', 'Duplicate remote ID: None');
    }
  }

  async createIdp(id: string, input: Attrs): Promise<IdentityProvider> {
    return this.env.write({ id, op: 'create' }, async (trx) => {
      if (await trx.selectFrom('federation_idps').select('id').where('id', '=', id).executeTakeFirst())
        throw conflict('identity_provider', `Duplicate ID, ${id}`);
      const remoteIds = (input.remote_ids as string[] | null | undefined) ?? [];
      await this.assertRemoteIds(remoteIds, null, trx);
      let domainId = input.domain_id as string | null | undefined;
      if (domainId) {
        if (!(await trx.selectFrom('domains').select('id').where('id', '=', domainId).executeTakeFirst()))
          throw validationError(`Could not find domain: ${domainId}.`);
      } else {
        // Keystone makes a domain for the provider's users when none is named.
        domainId = hexId();
        await trx
          .insertInto('domains')
          .values({
            id: domainId,
            name: domainId,
            description: `Auto generated federated domain for Identity Provider: ${id}`,
            enabled: 1,
            tags: '[]',
            extra: '{}',
            created_at: isoMicros(),
          })
          .execute();
      }
      await trx
        .insertInto('federation_idps')
        .values({
          id,
          domain_id: domainId,
          enabled: input.enabled === true ? 1 : 0,
          description: (input.description as string | null | undefined) ?? null,
          authorization_ttl: (input.authorization_ttl as number | null | undefined) ?? null,
          remote_ids: JSON.stringify(remoteIds),
          created_at: isoMicros(),
        })
        .execute();
      return this.idp(id, trx);
    });
  }

  async updateIdp(id: string, patch: Attrs): Promise<IdentityProvider> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.idp(id, trx);
      const remoteIds = patch.remote_ids !== undefined ? ((patch.remote_ids as string[] | null) ?? []) : old.remote_ids;
      await this.assertRemoteIds(remoteIds, id, trx);
      await trx
        .updateTable('federation_idps')
        .set({
          enabled: patch.enabled !== undefined ? (patch.enabled ? 1 : 0) : old.enabled ? 1 : 0,
          description: patch.description !== undefined ? ((patch.description as string | null) ?? null) : old.description,
          authorization_ttl: patch.authorization_ttl !== undefined ? ((patch.authorization_ttl as number | null) ?? null) : old.authorization_ttl,
          remote_ids: JSON.stringify(remoteIds),
        })
        .where('id', '=', id)
        .execute();
      return this.idp(id, trx);
    });
  }

  async deleteIdp(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.idp(id, trx);
      await trx.deleteFrom('federation_protocols').where('idp_id', '=', id).execute();
      await trx.deleteFrom('federation_idps').where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ protocols

  async protocols(idpId: string): Promise<Protocol[]> {
    await this.idp(idpId);
    return this.db.selectFrom('federation_protocols').selectAll().where('idp_id', '=', idpId).orderBy('id').execute();
  }

  async protocol(idpId: string, id: string, q: Q = this.db): Promise<Protocol> {
    await this.idp(idpId, q);
    const r = await q.selectFrom('federation_protocols').selectAll().where('idp_id', '=', idpId).where('id', '=', id).executeTakeFirst();
    if (!r) throw protocolNotFound(id, idpId);
    return r;
  }

  private async assertMapping(id: string, q: Q): Promise<void> {
    if (!(await q.selectFrom('federation_mappings').select('id').where('id', '=', id).executeTakeFirst())) throw validationError(`Invalid mapping id: ${id}`);
  }

  async createProtocol(idpId: string, id: string, input: Attrs): Promise<Protocol> {
    return this.env.write({ id: idpId, op: 'update' }, async (trx) => {
      await this.idp(idpId, trx);
      await this.assertMapping(String(input.mapping_id), trx);
      try {
        await trx
          .insertInto('federation_protocols')
          .values({ idp_id: idpId, id, mapping_id: String(input.mapping_id), remote_id_attribute: (input.remote_id_attribute as string | undefined) ?? null })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('federation_protocol', `Duplicate ID, ${id}`);
        throw e;
      }
      return this.protocol(idpId, id, trx);
    });
  }

  async updateProtocol(idpId: string, id: string, patch: Attrs): Promise<Protocol> {
    return this.env.write({ id: idpId, op: 'update' }, async (trx) => {
      const old = await this.protocol(idpId, id, trx);
      if (patch.mapping_id !== undefined) await this.assertMapping(String(patch.mapping_id), trx);
      await trx
        .updateTable('federation_protocols')
        .set({
          mapping_id: patch.mapping_id !== undefined ? String(patch.mapping_id) : old.mapping_id,
          remote_id_attribute: patch.remote_id_attribute !== undefined ? String(patch.remote_id_attribute) : old.remote_id_attribute,
        })
        .where('idp_id', '=', idpId)
        .where('id', '=', id)
        .execute();
      return this.protocol(idpId, id, trx);
    });
  }

  async deleteProtocol(idpId: string, id: string): Promise<void> {
    await this.env.write({ id: idpId, op: 'update' }, async (trx) => {
      await this.protocol(idpId, id, trx);
      await trx.deleteFrom('federation_protocols').where('idp_id', '=', idpId).where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ mappings

  async mappings(): Promise<Mapping[]> {
    return (await this.db.selectFrom('federation_mappings').selectAll().orderBy('id').execute()).map((r) => ({
      id: r.id,
      rules: fromJson<unknown[]>(r.rules, []),
    }));
  }

  async mapping(id: string, q: Q = this.db): Promise<Mapping> {
    const r = await q.selectFrom('federation_mappings').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw mappingNotFound(id);
    return { id: r.id, rules: fromJson<unknown[]>(r.rules, []) };
  }

  async putMapping(id: string, rules: unknown[], create: boolean): Promise<Mapping> {
    return this.env.write({ id, op: create ? 'create' : 'update' }, async (trx) => {
      const have = await trx.selectFrom('federation_mappings').select('id').where('id', '=', id).executeTakeFirst();
      if (create && have) throw conflict('mapping', `Duplicate ID, ${id}`);
      if (!create && !have) throw mappingNotFound(id);
      if (create)
        await trx
          .insertInto('federation_mappings')
          .values({ id, rules: JSON.stringify(rules) })
          .execute();
      else
        await trx
          .updateTable('federation_mappings')
          .set({ rules: JSON.stringify(rules) })
          .where('id', '=', id)
          .execute();
      return this.mapping(id, trx);
    });
  }

  async deleteMapping(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.mapping(id, trx);
      await trx.deleteFrom('federation_mappings').where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ service providers

  async sps(): Promise<ServiceProvider[]> {
    return (await this.db.selectFrom('federation_sps').selectAll().orderBy('created_at').orderBy('id').execute()).map(spOf);
  }

  async sp(id: string, q: Q = this.db): Promise<ServiceProvider> {
    const r = await q.selectFrom('federation_sps').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw spNotFound(id);
    return spOf(r);
  }

  async createSp(id: string, input: Attrs): Promise<ServiceProvider> {
    return this.env.write({ id, op: 'create' }, async (trx) => {
      if (await trx.selectFrom('federation_sps').select('id').where('id', '=', id).executeTakeFirst())
        throw conflict('service_provider', `Duplicate ID, ${id}`);
      await trx
        .insertInto('federation_sps')
        .values({
          id,
          auth_url: String(input.auth_url),
          sp_url: String(input.sp_url),
          description: (input.description as string | null | undefined) ?? null,
          enabled: input.enabled === true ? 1 : 0,
          relay_state_prefix: (input.relay_state_prefix as string | null | undefined) ?? RELAY_STATE_PREFIX,
          created_at: isoMicros(),
        })
        .execute();
      return this.sp(id, trx);
    });
  }

  async updateSp(id: string, patch: Attrs): Promise<ServiceProvider> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.sp(id, trx);
      await trx
        .updateTable('federation_sps')
        .set({
          auth_url: patch.auth_url !== undefined ? String(patch.auth_url) : old.auth_url,
          sp_url: patch.sp_url !== undefined ? String(patch.sp_url) : old.sp_url,
          description: patch.description !== undefined ? ((patch.description as string | null) ?? null) : old.description,
          enabled: patch.enabled !== undefined ? (patch.enabled ? 1 : 0) : old.enabled ? 1 : 0,
          relay_state_prefix:
            patch.relay_state_prefix !== undefined ? ((patch.relay_state_prefix as string | null) ?? RELAY_STATE_PREFIX) : old.relay_state_prefix,
        })
        .where('id', '=', id)
        .execute();
      return this.sp(id, trx);
    });
  }

  async deleteSp(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.sp(id, trx);
      await trx.deleteFrom('federation_sps').where('id', '=', id).execute();
    });
  }

  /** The enabled service providers a token lists (Keystone's `service_providers`), empty when none. */
  async enabledSps(): Promise<Array<{ auth_url: string; id: string; sp_url: string }>> {
    const rows = await this.db
      .selectFrom('federation_sps')
      .select(['auth_url', 'id', 'sp_url'])
      .where('enabled', '=', 1)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ auth_url: r.auth_url, id: r.id, sp_url: r.sp_url }));
  }
}
