import type { LbGraph } from '../../core/loadbalancer/model.js';
import type { Desired, Snapshot } from '../../dataplane/netns/model.js';
import type { Names } from '../../dataplane/netns/names.js';
import type { RtLoadBalancer } from '../../lb/config.js';

/** What explain reasons from: the data plane's own inputs and outputs, and the engine's. */
export interface World {
  /** The store as the data plane reads it (one consistent snapshot). */
  snap: Snapshot;
  /** What the data plane gives the kernel for that snapshot (buildDesired). */
  desired: Desired;
  names: Names;
  /** number → name as iptables prints protocols. */
  protocolNames: Map<number, string>;
  /** Each load balancer's object tree and what the engine runs for it (runtimeConfig). */
  lbs: Array<{ graph: LbGraph; rt: RtLoadBalancer | null }>;
  /** Names of what the viewer may see, by id; anything else is named without its id. */
  labels: Map<string, { kind: string; name: string }>;
  /** Servers' status as Nova reports it, by id. */
  serverStatus: Map<string, string>;
}

export type Protocol = 'tcp' | 'udp' | 'icmp';

/** A resolved end of the question. */
export type Endpoint = { kind: 'internet' } | { kind: 'port'; portId: string } | { kind: 'floatingip'; fipId: string } | { kind: 'loadbalancer'; lbId: string };

export interface Ref {
  kind: string;
  /** null when the viewer may not see the object. */
  id: string | null;
  name: string;
}

export interface Hop {
  /** What this step is: `port security`, `egress rule`, `route`, `SNAT`, `listener` … */
  step: string;
  verdict: 'pass' | 'drop' | 'info';
  detail: string;
  objects?: Ref[];
  /** For a drop: what to change. */
  fix?: string;
}

/** What a real probe sees: a TCP handshake, a refusal (RST / ICMP port unreachable), silence … */
export type ProbeOutcome = 'connected' | 'refused' | 'timeout' | 'unreachable' | 'reply' | 'answer' | 'silent';

export interface Explanation {
  verdict: 'allowed' | 'denied';
  /** One sentence: what decides. */
  reason: string;
  fix?: string;
  hops: Hop[];
  /** The packet as sent: source and destination address, protocol, port. */
  packet: { src: string | null; dst: string | null; protocol: Protocol; port: number | null };
  /** Probe outcomes that agree with the verdict (null: a probe could not tell, or must not be sent). */
  expect: ProbeOutcome[] | null;
  /** Where a probe runs: a namespace of this data plane, or '' for the host. */
  probeFrom: string | null;
  probe?: { outcome: ProbeOutcome | 'not sent'; agrees: boolean | null; detail: string };
}
