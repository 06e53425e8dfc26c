/**
 * Choosing the load-balancer engine for a configuration: HAProxy when it is installed (or asked
 * for), else the built-in proxy; placed on loopback addresses with the noop data plane.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { LoadBalancerService } from '../core/loadbalancer/service.js';
import { BuiltinRuntime } from './builtin/instance.js';
import { LbEngine } from './engine.js';
import { LoopbackPlacement } from './placement.js';
import type { LbRuntime } from './runtime.js';

export async function createLbEngine(config: Config, service: LoadBalancerService, log: Logger): Promise<LbEngine> {
  let engine: LbEngine | undefined;
  const onHealthChange = (lbId: string) => engine?.kickHealth(lbId);
  let runtime: LbRuntime;
  if (config.lbEngine === 'builtin') runtime = new BuiltinRuntime(onHealthChange);
  else {
    const { findHaproxy, HaproxyRuntime } = await import('./haproxy/runtime.js');
    const bin = await findHaproxy();
    if (!bin && config.lbEngine === 'haproxy') throw new Error('POCKETSTACK_LB_ENGINE=haproxy but no haproxy binary was found');
    // Unix socket paths are limited to 108 bytes: keep the run directory short.
    const runDir = join(tmpdir(), `pocketstack-lb-${createHash('sha1').update(resolve(config.dataDir)).digest('hex').slice(0, 10)}`);
    runtime = bin ? new HaproxyRuntime(bin, runDir, log, onHealthChange) : new BuiltinRuntime(onHealthChange);
  }
  engine = new LbEngine(service, runtime, new LoopbackPlacement(), log);
  log.info({ runtime: runtime.name, placement: 'loopback' }, 'load-balancer engine');
  return engine;
}
