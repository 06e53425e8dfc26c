/**
 * Remote consoles: the serial console, as Nova's serial console (nova-serialproxy) gives it — a
 * one-use-window token (consoleauth's token_ttl, 10 minutes) in a websocket URL; the proxy end
 * (src/api/compute/serial.ts) redeems it and connects the client to the instance's console.
 * Graphical consoles (VNC, SPICE, RDP, MKS) do not exist here: Nova with them disabled answers
 * "Unavailable console type".
 */
import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../context.js';
import type { ComputeCore } from './core.js';
import { novaBadRequest, novaConflict } from './errors.js';
import type { ConsoleSession } from './host.js';
import { VM } from './states.js';

/** consoleauth's token_ttl default (seconds). */
export const CONSOLE_TOKEN_TTL_S = 600;

export class RemoteConsoles {
  private readonly tokens = new Map<string, { serverId: string; expires: number }>();

  constructor(private readonly core: ComputeCore) {}

  /**
   * A serial console URL for server `id`: `wsBase` is where the serial proxy listens (the compute
   * endpoint as the client reached it, path `/serial/`). Refused as Nova refuses: not on a host yet
   * (409), or this compute service has no instance host to give consoles (400).
   */
  async serial(ctx: RequestContext, id: string, consoleType: string, wsBase: string): Promise<{ url: string }> {
    const row = await this.core.row(ctx, id);
    if (!row.host || row.vm_state === VM.BUILDING) throw novaConflict(`Instance ${id} is not ready`);
    if (consoleType !== 'serial' || !this.core.instanceHost) throw unavailable(consoleType);
    const token = randomUUID();
    const now = Date.now();
    for (const [t, v] of this.tokens) if (v.expires < now) this.tokens.delete(t);
    this.tokens.set(token, { serverId: id, expires: now + CONSOLE_TOKEN_TTL_S * 1000 });
    return { url: `${wsBase}?token=${token}` };
  }

  /** The server a token is for, while it is valid (the serial proxy's check). */
  redeem(token: string): string | null {
    const t = this.tokens.get(token);
    if (!t || t.expires < Date.now()) return null;
    return t.serverId;
  }

  /** Connect a serial proxy client to the server's console (null: no instance host runs it). */
  attach(serverId: string, onData: (b: Buffer) => void): ConsoleSession | null {
    return this.core.instanceHost ? this.core.instanceHost.serialConsole(serverId, onData) : null;
  }
}

/** Nova's ConsoleTypeUnavailable. */
export const unavailable = (type: string) => novaBadRequest(`Unavailable console type ${type}.`);
