/**
 * Choosing the load-balancer engine for a configuration: HAProxy when it is installed (or asked
 * for), else the built-in proxy; placed in the VIP port's namespace with the netns data plane,
 * on loopback addresses with the noop data plane.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { LoadBalancerService } from '../core/loadbalancer/service.js';
import { resolveUser } from '../dataplane/netns/users.js';
import { BuiltinRuntime } from './builtin/instance.js';
import { type EngineOptions, LbEngine, type PlacementProvider } from './engine.js';
import { type NamespaceHost, NetnsPlacement } from './netns.js';
import { LoopbackPlacement } from './placement.js';
import type { LbRuntime } from './runtime.js';

export async function createLbEngine(
  config: Config,
  service: LoadBalancerService,
  log: Logger,
  netns: NamespaceHost | null = null,
  host?: EngineOptions['host'],
): Promise<LbEngine> {
  let engine: LbEngine | undefined;
  const onHealthChange = (lbId: string) => engine?.kickHealth(lbId);
  const onLost = (lbId: string) => engine?.kick(lbId);
  let runtime: LbRuntime;
  if (config.lbEngine === 'builtin') runtime = new BuiltinRuntime(log, onHealthChange, onLost);
  else {
    const { findHaproxy, HaproxyRuntime } = await import('./haproxy/runtime.js');
    const bin = await findHaproxy();
    if (!bin && config.lbEngine === 'haproxy') throw new Error('POCKETSTACK_LB_ENGINE=haproxy but no haproxy binary was found');
    // Unix socket paths are limited to 108 bytes: keep the run directory short.
    const runDir = join(tmpdir(), `pocketstack-lb-${createHash('sha1').update(resolve(config.dataDir)).digest('hex').slice(0, 10)}`);
    runtime = bin
      ? new HaproxyRuntime(bin, runDir, log, onHealthChange, join(resolve(config.dataDir), 'lb-tls'))
      : new BuiltinRuntime(log, onHealthChange, onLost);
  }
  let placement: PlacementProvider;
  if (netns) {
    // As root, the proxies drop to an unprivileged user of their own (they parse tenants' traffic).
    const user = process.getuid?.() === 0 ? resolveUser(config.lbUser) : undefined;
    placement = new NetnsPlacement(netns, service.store, log, { user: user ? { uid: user.uid, gid: user.gid } : undefined });
  } else placement = new LoopbackPlacement();
  engine = new LbEngine(service, runtime, placement, log, host ? { host } : {});
  log.info({ runtime: runtime.name, placement: placement.kind, host: host?.name }, 'load-balancer engine');
  return engine;
}
