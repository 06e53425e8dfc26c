import type { FastifyReply, FastifyRequest } from 'fastify';
import { novaBadRequest } from '../../../core/compute/errors.js';
import { type ComputeEdge, NOT_FOUND } from '../edge.js';
import {
  ADD_FIXED_IP_SCHEMA,
  ADD_FLOATING_IP_SCHEMA,
  ANY_ARGUMENT,
  CHANGE_PASSWORD_SCHEMA,
  CONSOLE_OUTPUT_SCHEMA,
  CREATE_BACKUP_SCHEMA,
  CREATE_IMAGE_SCHEMA,
  REBOOT_SCHEMA,
  SERIAL_CONSOLE_SCHEMA,
  REMOVE_FIXED_IP_SCHEMA,
  REMOVE_FLOATING_IP_SCHEMA,
  RESCUE_SCHEMA,
  RESET_STATE_SCHEMA,
  RESIZE_SCHEMA,
  TRIGGER_CRASH_DUMP_SCHEMA,
  consoleActionSchema,
  evacuateSchema,
  lockSchema,
  migrateLiveSchema,
  migrateSchema,
  rebuildSchema,
  securityGroupActionSchema,
  truthy,
  unshelveSchema,
  validateBody,
} from '../schemas.js';
import type { Schema } from '../../../util/jsonschema.js';
import type { ApiVersion } from '../version.js';
import { serverView } from '../views.js';
import { canonicalIp } from './servers.js';
import { serialBase } from './consoles.js';

type Arg = Record<string, unknown>;

/** What an action answers: a status and, for some, a body or a Location. */
interface Answer {
  status: number;
  body?: unknown;
  location?: string;
}

interface ActionRoute {
  /** The microversions that have it (Nova's api_version on the action): outside them 404. */
  since?: string;
  until?: string;
  schema: (v: ApiVersion) => Schema;
  run: (req: FastifyRequest, id: string, arg: unknown, v: ApiVersion) => Promise<Answer>;
}

const accepted: Answer = { status: 202 };

/**
 * POST /servers/{id}/action: the body's one key names the action. Each is validated with Nova's
 * schema for the request's microversion, then carried out by the compute service; an action
 * outside its microversions is 404 and an unknown one 400, as Nova's router answers.
 */
export function actionRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;
  const c = (req: FastifyRequest) => edge.caller(req);

  const simple = (schemaName: string, run: (req: FastifyRequest, id: string) => Promise<void>, extra: Partial<ActionRoute> = {}): ActionRoute => ({
    schema: () => ANY_ARGUMENT(schemaName),
    run: async (req, id) => {
      await run(req, id);
      return accepted;
    },
    ...extra,
  });

  const consoles = (name: string, types: string[], kind: string): ActionRoute => ({
    until: '2.5',
    schema: () => consoleActionSchema(name, types),
    run: async (req, id, arg) => compute.actions.remoteConsole(c(req), id, String((arg as Arg).type ?? kind)),
  });

  const ACTIONS = new Map<string, ActionRoute>([
    ['os-stop', simple('os-stop', (req, id) => compute.actions.stop(c(req), id))],
    ['os-start', simple('os-start', (req, id) => compute.actions.start(c(req), id))],
    [
      'reboot',
      {
        schema: () => REBOOT_SCHEMA,
        run: async (req, id, arg) => {
          await compute.actions.reboot(c(req), id, String((arg as Arg).type).toUpperCase() === 'HARD');
          return accepted;
        },
      },
    ],
    ['pause', simple('pause', (req, id) => compute.actions.pause(c(req), id))],
    ['unpause', simple('unpause', (req, id) => compute.actions.unpause(c(req), id))],
    ['suspend', simple('suspend', (req, id) => compute.actions.suspend(c(req), id))],
    ['resume', simple('resume', (req, id) => compute.actions.resume(c(req), id))],
    [
      'lock',
      {
        schema: lockSchema,
        run: async (req, id, arg, v) => {
          const reason = v.gte('2.73') && arg && typeof arg === 'object' ? ((arg as Arg).locked_reason as string | undefined) : undefined;
          await compute.actions.lock(c(req), id, reason ?? null);
          return accepted;
        },
      },
    ],
    ['unlock', simple('unlock', (req, id) => compute.actions.unlock(c(req), id))],
    [
      'rescue',
      {
        schema: () => RESCUE_SCHEMA,
        run: async (req, id, arg) => {
          const a = (arg ?? {}) as Arg;
          const adminPass = await compute.actions.rescue(c(req), id, {
            adminPass: a.adminPass as string | undefined,
            rescueImageRef: a.rescue_image_ref as string | undefined,
          });
          return { status: 200, body: { adminPass } };
        },
      },
    ],
    ['unrescue', simple('unrescue', (req, id) => compute.actions.unrescue(c(req), id))],
    [
      'changePassword',
      {
        schema: () => CHANGE_PASSWORD_SCHEMA,
        run: async (req, id) => {
          await compute.actions.changePassword(c(req), id);
          return accepted;
        },
      },
    ],
    [
      'trigger_crash_dump',
      {
        since: '2.17',
        schema: () => TRIGGER_CRASH_DUMP_SCHEMA,
        run: async (req, id) => {
          await compute.actions.triggerCrashDump(c(req), id);
          return accepted;
        },
      },
    ],
    [
      'rebuild',
      {
        schema: rebuildSchema,
        run: async (req, id, arg, v) => {
          const a = arg as Arg;
          const has = (k: string) => Object.hasOwn(a, k);
          const { server, adminPass } = await compute.rebuilds.rebuild(c(req), id, {
            imageRef: String(a.imageRef),
            adminPass: a.adminPass as string | undefined,
            name: a.name as string | undefined,
            description: v.gte('2.19') && has('description') ? ((a.description as string | null) ?? null) : undefined,
            metadata: a.metadata as Record<string, string> | undefined,
            accessIPv4: canonicalIp(a.accessIPv4),
            accessIPv6: canonicalIp(a.accessIPv6),
            autoDiskConfig: a['OS-DCF:diskConfig'] === undefined ? undefined : a['OS-DCF:diskConfig'] === 'AUTO',
            personality: a.personality as Array<{ path: string; contents: string }> | undefined,
            keyName: v.gte('2.54') && has('key_name') ? ((a.key_name as string | null) ?? null) : undefined,
            userData: v.gte('2.57') && has('user_data') ? ((a.user_data as string | null) ?? null) : undefined,
            trustedCerts: v.gte('2.63') && has('trusted_image_certificates') ? ((a.trusted_image_certificates as string[] | null) ?? null) : undefined,
            hostname: v.gte('2.90') ? (a.hostname as string | undefined) : undefined,
          });
          const view = serverView(edge.view(req), server, 'rebuild');
          view.adminPass = adminPass;
          if (v.gte('2.57')) view.user_data = server.row.user_data;
          return { status: 202, body: { server: view }, location: `${edge.base(req)}/v2.1/servers/${id}` };
        },
      },
    ],
    [
      'resize',
      {
        schema: () => RESIZE_SCHEMA,
        run: async (req, id, arg) => {
          const a = arg as Arg;
          await compute.resizes.resize(c(req), id, {
            flavorRef: String(a.flavorRef),
            autoDiskConfig: a['OS-DCF:diskConfig'] === undefined ? undefined : a['OS-DCF:diskConfig'] === 'AUTO',
          });
          return accepted;
        },
      },
    ],
    [
      'confirmResize',
      {
        schema: () => ANY_ARGUMENT('confirmResize'),
        run: async (req, id) => {
          await compute.resizes.confirm(c(req), id);
          return { status: 204 };
        },
      },
    ],
    ['revertResize', simple('revertResize', (req, id) => compute.resizes.revert(c(req), id))],
    [
      'migrate',
      {
        schema: migrateSchema,
        run: async (req, id, arg, v) => {
          const host = v.gte('2.56') && arg && typeof arg === 'object' ? (((arg as Arg).host as string | null | undefined) ?? null) : null;
          await compute.resizes.migrate(c(req), id, host);
          return accepted;
        },
      },
    ],
    [
      'os-migrateLive',
      {
        schema: migrateLiveSchema,
        run: async (req, id, arg, v) => {
          const a = arg as Arg;
          const host = (a.host as string | null) ?? null;
          const force = v.gte('2.30') && !v.gte('2.68') && a.force !== undefined && truthy(a.force);
          if (force && !host) throw novaBadRequest("Can't force to a non-provided destination");
          // Before 2.30 a host is always forced (the scheduler is bypassed), as `force` does after.
          await compute.actions.liveMigrate(c(req), id, { host, async: v.gte('2.34'), force: force || (host !== null && !v.gte('2.30')) });
          return accepted;
        },
      },
    ],
    [
      'evacuate',
      {
        schema: evacuateSchema,
        run: async (req, id, arg, v) => {
          const a = arg as Arg;
          const host = (a.host as string | undefined) ?? null;
          if (v.gte('2.29') && !v.gte('2.68') && a.force !== undefined && truthy(a.force) && !host) {
            throw novaBadRequest("Can't force to a non-provided destination");
          }
          const adminPass = await compute.actions.evacuate(c(req), id, { host, adminPass: a.adminPass as string | undefined });
          return v.gte('2.14') ? { status: 200 } : { status: 200, body: { adminPass } };
        },
      },
    ],
    [
      'createImage',
      {
        schema: () => CREATE_IMAGE_SCHEMA,
        run: async (req, id, arg, v) => {
          const a = arg as Arg;
          const imageId = await compute.images.createImage(c(req), id, {
            name: String(a.name),
            metadata: (a.metadata as Record<string, string> | undefined) ?? {},
            checkQuota: !v.gte('2.39'),
          });
          if (v.gte('2.45')) return { status: 202, body: { image_id: imageId } };
          return { status: 202, location: `${edge.base(req)}/v2/images/${imageId}` };
        },
      },
    ],
    [
      'createBackup',
      {
        schema: () => CREATE_BACKUP_SCHEMA,
        run: async (req, id, arg, v) => {
          const a = arg as Arg;
          const rotation = Number(a.rotation);
          const imageId = await compute.images.createBackup(c(req), id, {
            name: String(a.name),
            backupType: String(a.backup_type),
            rotation,
            metadata: (a.metadata as Record<string, string> | undefined) ?? {},
            checkQuota: !v.gte('2.39'),
          });
          if (v.gte('2.45')) return { status: 202, body: { image_id: imageId } };
          return rotation > 0 ? { status: 202, location: `${edge.base(req)}/v2.1/images/${imageId}` } : accepted;
        },
      },
    ],
    ['shelve', simple('shelve', (req, id) => compute.images.shelve(c(req), id))],
    ['shelveOffload', simple('shelveOffload', (req, id) => compute.images.shelveOffload(c(req), id))],
    [
      'unshelve',
      {
        schema: unshelveSchema,
        run: async (req, id, arg, v) => {
          const a = arg && typeof arg === 'object' ? (arg as Arg) : null;
          await compute.images.unshelve(c(req), id, {
            availabilityZone: v.gte('2.77') && a && Object.hasOwn(a, 'availability_zone') ? ((a.availability_zone as string | null) ?? null) : undefined,
            host: v.gte('2.91') && a ? (a.host as string | undefined) : undefined,
          });
          return accepted;
        },
      },
    ],
    [
      'os-resetState',
      {
        schema: () => RESET_STATE_SCHEMA,
        run: async (req, id, arg) => {
          await compute.actions.resetState(c(req), id, (arg as Arg).state as 'active' | 'error');
          return accepted;
        },
      },
    ],
    ['injectNetworkInfo', simple('injectNetworkInfo', (req, id) => compute.actions.injectNetworkInfo(c(req), id))],
    ['resetNetwork', { schema: () => ({}), run: async () => compute.actions.resetNetwork() }],
    ['forceDelete', simple('forceDelete', (req, id) => compute.actions.forceDelete(c(req), id))],
    ['restore', simple('restore', (req, id) => compute.actions.restore(c(req), id))],
    [
      'addSecurityGroup',
      {
        schema: () => securityGroupActionSchema('addSecurityGroup'),
        run: async (req, id, arg) => {
          await compute.actions.securityGroup(c(req), id, true, String((arg as Arg).name).trim());
          return accepted;
        },
      },
    ],
    [
      'removeSecurityGroup',
      {
        schema: () => securityGroupActionSchema('removeSecurityGroup'),
        run: async (req, id, arg) => {
          await compute.actions.securityGroup(c(req), id, false, String((arg as Arg).name).trim());
          return accepted;
        },
      },
    ],
    [
      'addFloatingIp',
      {
        until: '2.43',
        schema: () => ADD_FLOATING_IP_SCHEMA,
        run: async (req, id, arg) => {
          const a = arg as Arg;
          await compute.proxies.addFloatingIp(c(req), id, String(a.address), a.fixed_address as string | undefined);
          return accepted;
        },
      },
    ],
    [
      'removeFloatingIp',
      {
        until: '2.43',
        schema: () => REMOVE_FLOATING_IP_SCHEMA,
        run: async (req, id, arg) => {
          await compute.proxies.removeFloatingIp(c(req), id, String((arg as Arg).address));
          return accepted;
        },
      },
    ],
    [
      'addFixedIp',
      {
        until: '2.43',
        schema: () => ADD_FIXED_IP_SCHEMA,
        run: async (req, id, arg) => {
          await compute.proxies.addFixedIp(c(req), id, String((arg as Arg).networkId));
          return accepted;
        },
      },
    ],
    [
      'removeFixedIp',
      {
        until: '2.43',
        schema: () => REMOVE_FIXED_IP_SCHEMA,
        run: async (req, id, arg) => {
          await compute.proxies.removeFixedIp(c(req), id, String((arg as Arg).address));
          return accepted;
        },
      },
    ],
    [
      'os-getConsoleOutput',
      {
        schema: () => CONSOLE_OUTPUT_SCHEMA,
        run: async (req, id, arg) => {
          const raw = ((arg ?? {}) as { length?: number | string | null }).length;
          const output = await compute.actions.consoleOutput(c(req), id, raw === undefined || raw === null ? null : Number(raw));
          return { status: 200, body: { output } };
        },
      },
    ],
    ['os-getVNCConsole', consoles('os-getVNCConsole', ['novnc', 'xvpvnc'], 'novnc')],
    ['os-getSPICEConsole', consoles('os-getSPICEConsole', ['spice-html5'], 'spice-html5')],
    ['os-getRDPConsole', consoles('os-getRDPConsole', ['rdp-html5'], 'rdp-html5')],
    [
      'os-getSerialConsole',
      {
        until: '2.5',
        schema: () => SERIAL_CONSOLE_SCHEMA,
        run: async (req, id, arg) => {
          // The serial console is real here (consoles.ts, serial.ts): a websocket to the instance's console.
          const type = String((arg as Arg).type);
          const { url } = await compute.consoles.serial(c(req), id, type, serialBase(req));
          return { status: 200, body: { console: { type, url } } };
        },
      },
    ],
  ]);

  const answer = (reply: FastifyReply, a: Answer) => {
    reply.status(a.status);
    if (a.location) reply.header('location', a.location);
    return a.body === undefined ? reply.send() : a.body;
  };

  app.post('/v2.1/servers/:id/action', async (req, reply) => {
    const id = edge.params(req).id;
    const v = edge.version(req);
    // Nova's action_peek: the body's first key names the action.
    const [name, b] = edge.actionBody(req);
    const route = ACTIONS.get(name);
    if (!route) throw novaBadRequest(`There is no such action: ${name}`);
    if ((route.since && !v.gte(route.since)) || (route.until && v.gte(nextMinor(route.until)))) throw NOT_FOUND();
    validateBody(route.schema(v), b);
    return answer(reply, await route.run(req, id, b[name], v));
  });
}

/** The microversion after `v` ("2.43" → "2.44"): actions with an upper bound end there. */
function nextMinor(v: string): string {
  const [major, minor] = v.split('.').map(Number);
  return `${major}.${minor + 1}`;
}
