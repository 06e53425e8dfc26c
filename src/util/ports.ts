import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Free loopback ports for servers started by tests and the benchmark. Asking the kernel for port
 * 0 gives an *ephemeral* port, which an outgoing connection may take between the check and the
 * server's listen (EADDRINUSE, now and then). So pick from below the ephemeral range, where only
 * listeners live, and check each with a real bind.
 */
function ephemeralStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

const taken = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  const hi = Math.min(ephemeralStart(), 65536) - 1;
  const lo = Math.max(10_000, hi - 20_000);
  for (let i = 0; i < 200; i++) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    if (taken.has(port)) continue;
    if (await canBind(port)) {
      // Never hand the same port out twice from this process, even once it is free again.
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port below the ephemeral range');
}

/**
 * `n` distinct free ports. scripts/free-ports.mjs calls this through tsx, where knip cannot see it:
 * @public
 */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await freePort());
  return out;
}

/** One listening port per PocketStack API. */
export interface ServicePorts {
  identity: number;
  network: number;
  compute: number;
  image: number;
  loadBalancer: number;
  keyManager: number;
}

export async function freeServicePorts(): Promise<ServicePorts> {
  return {
    identity: await freePort(),
    network: await freePort(),
    compute: await freePort(),
    image: await freePort(),
    loadBalancer: await freePort(),
    keyManager: await freePort(),
  };
}

/** The environment that puts `pocketstack serve`'s APIs on `ports` (see src/config.ts). */
export function servicePortEnv(ports: ServicePorts): Record<string, string> {
  return {
    POCKETSTACK_IDENTITY_PORT: String(ports.identity),
    POCKETSTACK_NETWORK_PORT: String(ports.network),
    POCKETSTACK_COMPUTE_PORT: String(ports.compute),
    POCKETSTACK_IMAGE_PORT: String(ports.image),
    POCKETSTACK_LOAD_BALANCER_PORT: String(ports.loadBalancer),
    POCKETSTACK_KEY_MANAGER_PORT: String(ports.keyManager),
  };
}
