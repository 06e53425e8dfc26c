/** Messages between the engine and a built-in worker process (JSON over Node's IPC channel). */
import type { Health } from '../../core/loadbalancer/status.js';
import type { RtLoadBalancer } from '../config.js';

export type WorkerCall = { op: 'apply'; cfg: RtLoadBalancer } | { op: 'health' | 'counters' | 'stop' };
export type WorkerRequest = WorkerCall & { id: number };

export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: string }
  /** Unsolicited: `ready` once listening for requests, `health` when a member changed state. */
  | { event: 'ready' | 'health' };

export type WireHealth = { members: Array<[string, string]>; listeners: Array<[string, string]> };

export const healthToWire = (h: Health): WireHealth => ({ members: [...h.members], listeners: [...h.listeners] });

export const healthFromWire = (w: WireHealth): Health => ({
  members: new Map(w.members) as Health['members'],
  listeners: new Map(w.listeners) as Health['listeners'],
});
