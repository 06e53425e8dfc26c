/**
 * rebuild (compute API's rebuild): the server restarts from a new image (or the same one) and
 * keeps its id, ports, addresses and flavor; its name, metadata, access IPs, key pair (2.54),
 * user_data (2.57), personality (≤ 2.56), trusted certificates (2.63) and hostname (2.90) may
 * change with it. Quotas are checked for what the rebuild brings (metadata items, personality).
 */
import type { ServersTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import { type ComputeCore, type Server, now } from './core.js';
import { novaBadRequest, novaForbidden } from './errors.js';
import { ACTION } from './instance-actions.js';
import { type PersonalityFile, checkPersonality, computeQuotaLimits } from './quotas.js';
import { generatePassword } from './passwords.js';
import { systemMetadataFromImage } from './snapshots.js';
import { TASK, VM } from './states.js';
import { startAction } from './tasks.js';
import { fromJson } from '../../store/db.js';

export interface RebuildRequest {
  imageRef: string;
  adminPass?: string;
  name?: string;
  /** 2.19: present (possibly null) when the request names it. */
  description?: string | null;
  metadata?: Record<string, string>;
  accessIPv4?: string;
  accessIPv6?: string;
  autoDiskConfig?: boolean;
  personality?: PersonalityFile[];
  /** 2.54: present when the request names it; null removes the key pair. */
  keyName?: string | null;
  /** 2.57: present when the request names it; null removes the user data. */
  userData?: string | null;
  /** 2.63. */
  trustedCerts?: string[] | null;
  /** 2.90. */
  hostname?: string;
}

export class Rebuilds {
  constructor(private readonly core: ComputeCore) {}

  async rebuild(ctx: RequestContext, id: string, r: RebuildRequest): Promise<{ server: Server; adminPass: string }> {
    const adminPass = r.adminPass ?? generatePassword();
    const imageId = r.imageRef.split('/').pop()!;
    // Read before the transaction (the store has one connection: nothing outside it may be read
    // while it is open); refused in it, after the state checks, as Nova orders them.
    const image = await this.core.images.forBoot(ctx, imageId);
    await startAction(this.core, ctx, id, {
      action: 'rebuild',
      check: { vm: [VM.ACTIVE, VM.STOPPED, VM.ERROR] },
      record: { action: ACTION.REBUILD, event: 'compute_rebuild_instance' },
      verify: async (row, w) => {
        const limits = await computeQuotaLimits(w.trx, row.project_id);
        if (r.metadata && limits.metadata_items >= 0 && Object.keys(r.metadata).length > limits.metadata_items) {
          throw novaForbidden(`Maximum number of metadata items exceeds ${limits.metadata_items}`);
        }
        if (r.personality) checkPersonality(limits, r.personality);
      },
      set: async (row, w) => {
        if (!image) throw novaBadRequest('Cannot find image for rebuild');
        if (image.status !== 'active') throw novaBadRequest(`Image ${image.id} is not active.`);
        const flavor = JSON.parse(row.flavor) as { ram: number; disk: number };
        if (image.min_ram > flavor.ram) throw novaBadRequest("Flavor's memory is too small for requested image.");
        if (flavor.disk > 0 && image.min_disk > flavor.disk) {
          throw novaBadRequest(
            `Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is ${flavor.disk * 1024 ** 3} bytes, minimum size is ${image.min_disk * 1024 ** 3} bytes.`,
          );
        }
        const set: Partial<ServersTable> = {
          task_state: TASK.REBUILDING,
          image_id: image.id,
          progress: 0,
          reboot_seq: row.reboot_seq + 1,
          rescue: 0,
        };
        // The image's properties replace the old ones in the system metadata (_reset_image_metadata).
        const sys = fromJson<Record<string, string>>(row.system_metadata, {});
        for (const k of Object.keys(sys)) if (k.startsWith('image_')) delete sys[k];
        set.system_metadata = JSON.stringify({ ...sys, ...systemMetadataFromImage(image) });
        if (r.name !== undefined) set.name = r.name;
        if (r.description !== undefined) set.description = r.description;
        if (r.metadata !== undefined) set.metadata = JSON.stringify(r.metadata);
        if (r.accessIPv4 !== undefined) set.access_ipv4 = r.accessIPv4;
        if (r.accessIPv6 !== undefined) set.access_ipv6 = r.accessIPv6;
        if (r.autoDiskConfig !== undefined) set.auto_disk_config = r.autoDiskConfig ? 1 : 0;
        if (r.personality !== undefined) set.personality = JSON.stringify(r.personality);
        if (r.userData !== undefined) set.user_data = r.userData;
        if (r.trustedCerts !== undefined) set.trusted_certs = r.trustedCerts === null ? null : JSON.stringify(r.trustedCerts);
        if (r.hostname !== undefined) set.hostname = r.hostname;
        if (r.keyName !== undefined) {
          if (r.keyName === null) Object.assign(set, { key_name: null, key_data: null });
          else {
            const key = await w.trx
              .selectFrom('keypairs')
              .select(['name', 'public_key'])
              .where('user_id', '=', ctx.userId)
              .where('name', '=', r.keyName)
              .executeTakeFirst();
            if (!key) throw novaBadRequest('Invalid key_name provided.');
            Object.assign(set, { key_name: key.name, key_data: key.public_key });
          }
        }
        // A failed build left no host: the conductor schedules the rebuild (lifecycle's REBUILDING step).
        if (row.vm_state === VM.ERROR) set.fault = null;
        set.updated_at = now();
        return set;
      },
    });
    return { server: await this.core.get(ctx, id), adminPass };
  }
}
