/**
 * How a resource plugs into the Neutron API: its declaration plus the operations that are its
 * own. The generic engine (service.ts) does parsing, policy, transactions and rendering around
 * these.
 */
import type { RequestContext } from '../context.js';
import type { Work } from '../work.js';
import type { NeutronTable, Prepared, ResourceDef, RowOf } from './resource.js';

export interface ResourceOps<T extends NeutronTable = NeutronTable, C extends object = object> {
  def: ResourceDef<T, C>;
  /** Quota resource name counted on create (`network`, `port` …), if any. */
  quota?: string;
  /** Create one object inside the unit of work; returns its id. */
  create?(w: Work, ctx: RequestContext, p: Prepared): Promise<string>;
  /**
   * Apply an update to the (locked) row. It may return keys the answer echoes although the
   * stored object does not show them (Neutron answers an internal network's `is_default` so).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: most updates answer nothing beyond the row, and say so by returning nothing
  update?(w: Work, ctx: RequestContext, row: RowOf<T>, p: Prepared): Promise<void | AnswerExtras>;
  /** Delete the (locked) row and what belongs to it. */
  delete?(w: Work, ctx: RequestContext, row: RowOf<T>): Promise<void>;
  /** Called before listing (Neutron makes the listed project's default security group on first list). */
  beforeList?(ctx: RequestContext, filters: Map<string, string[]>): Promise<void>;
  /** Member actions (`PUT /routers/{id}/add_router_interface` …), by name. */
  actions?: ReadonlyMap<string, ResourceAction<T>>;
}

/**
 * Keys an update's answer carries beyond the rendered object: `inPlace` where the view's order
 * puts them, `end` after everything (the order in which Neutron's update path adds them).
 */
export interface AnswerExtras {
  inPlace?: Record<string, unknown>;
  end?: Record<string, unknown>;
}

/** A member action on the (locked, owned) row; its answer is the response body. */
export type ResourceAction<T extends NeutronTable> = (w: Work, ctx: RequestContext, row: RowOf<T>, body: unknown) => Promise<unknown>;

/** Actions by name (a Map: the name comes from the URL). */
export function actionMap<T extends NeutronTable>(actions: Record<string, ResourceAction<T>>): ReadonlyMap<string, ResourceAction<T>> {
  return new Map(Object.entries(actions));
}
