/**
 * How a resource plugs into the Neutron API: its declaration plus the operations that are its
 * own. The generic engine (service.ts) does parsing, policy, transactions and rendering around
 * these.
 */
import type { Tx } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import type { Prepared, ResourceDef, Row } from './resource.js';

export interface ResourceOps {
  def: ResourceDef;
  /** Quota resource name counted on create (`network`, `port` …), if any. */
  quota?: string;
  /** Create one object inside the transaction; returns its id. */
  create?(trx: Tx, ctx: RequestContext, p: Prepared): Promise<string>;
  /** Apply an update to the (locked) row. */
  update?(trx: Tx, ctx: RequestContext, row: Row, p: Prepared): Promise<void>;
  /** Delete the (locked) row and what belongs to it. */
  delete?(trx: Tx, ctx: RequestContext, row: Row): Promise<void>;
  /** Called before listing (Neutron makes the listed project's default security group on first list). */
  beforeList?(ctx: RequestContext, filters: Map<string, string[]>): Promise<void>;
  /** Member actions: `PUT /routers/{id}/add_router_interface` … */
  actions?: Record<string, (trx: Tx, ctx: RequestContext, row: Row, body: unknown) => Promise<unknown>>;
}

/** What changed, for the data plane and anything else that reacts to the store. */
export interface ChangeEvent {
  resource: string;
  id: string;
  op: 'create' | 'update' | 'delete' | 'action' | 'status';
}
