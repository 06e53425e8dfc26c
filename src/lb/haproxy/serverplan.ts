/**
 * Member changes as HAProxy 2.6 runtime commands instead of a reload: pure, from the running
 * configuration's text and the next one's.
 *
 * A reload (`haproxy -c`, then a new process taking the sockets over with `-x`/`-sf`) costs about
 * 60 ms of HAProxy start-up and has both processes parse every server: at 1,000 members a member
 * add took 1.3–1.4× what it took at 50. When the only difference between the two texts is in the
 * `server` lines of backends, the stats socket's runtime API (management.txt §9.3: `add server`,
 * `del server`, `set server`) makes the same change in the running process, and the new file is
 * written so a later reload or restart starts from the same servers.
 *
 * Octavia's amphora agent differs here: it writes the new haproxy.cfg and reloads for every change
 * (octavia/amphorae/backends/agent/api_server/loadbalancer.py, `upload_haproxy_config` then
 * `start_stop_lb` with `reload`). What a user sees through the API and through the load
 * balancer is the same either way — the members that serve, their weights and states, the
 * connections in flight that finish — only the process churn differs, and that churn is what made
 * a member add slower the more members a pool had.
 *
 * Anything this module does not prove equivalent is a reload: a change outside server lines
 * (listeners, algorithm, persistence, monitor settings, timeouts, TLS — the `# tls` digest line is
 * part of the text), a backend whose algorithm is not dynamic (`add server` refuses them, and a
 * map-based hash ignores weight changes), a server keyword `add server` does not accept in 2.6
 * (`cookie`), or a change to what a running server cannot change (backup, health-check timing,
 * TLS, PROXY protocol).
 */

/** One runtime command and the answer that means it worked (HAProxy answers nothing to most). */
export interface RuntimeCommand {
  command: string;
  expect: string;
}

export type ServerPlan = { kind: 'runtime'; commands: RuntimeCommand[]; added: string[] } | { kind: 'reload'; reason: string };

/** Answers of the runtime API (HAProxy 2.6 src/server.c, `cli_parse_add_server`, `cli_parse_delete_server`). */
export const ADDED = 'New server registered.';
export const DELETED = 'Server deleted.';
/** `del server` while connections (in flight, or idle ones being purged) are attached to the server. */
export const STILL_CONNECTED = 'Server still has connections attached to it, cannot remove it.';

/**
 * Server keywords cfg.ts writes: how many values each takes, and whether HAProxy 2.6's `add server`
 * accepts it (management.txt, "add server": the list of supported keywords; `cookie` is answered
 * "'cookie' option is not accepted for dynamic server").
 */
const KEYWORDS = new Map<string, { values: 0 | 1; dynamic: boolean }>([
  ['weight', { values: 1, dynamic: true }],
  ['check', { values: 0, dynamic: true }],
  ['inter', { values: 1, dynamic: true }],
  ['fall', { values: 1, dynamic: true }],
  ['rise', { values: 1, dynamic: true }],
  ['addr', { values: 1, dynamic: true }],
  ['port', { values: 1, dynamic: true }],
  ['check-ssl', { values: 0, dynamic: true }],
  ['verify', { values: 1, dynamic: true }],
  ['backup', { values: 0, dynamic: true }],
  ['disabled', { values: 0, dynamic: true }],
  ['cookie', { values: 1, dynamic: false }],
  ['send-proxy', { values: 0, dynamic: true }],
  ['send-proxy-v2', { values: 0, dynamic: true }],
  ['ssl', { values: 0, dynamic: true }],
  ['crt', { values: 1, dynamic: true }],
  ['ca-file', { values: 1, dynamic: true }],
  ['crl-file', { values: 1, dynamic: true }],
  ['ssl-min-ver', { values: 1, dynamic: true }],
  ['ssl-max-ver', { values: 1, dynamic: true }],
  ['ciphers', { values: 1, dynamic: true }],
  ['ciphersuites', { values: 1, dynamic: true }],
  ['alpn', { values: 1, dynamic: true }],
]);

/** Keywords a running server can change: weight, administrative state, where it is checked. */
const MUTABLE = new Set(['weight', 'disabled', 'addr', 'port']);

/**
 * Algorithms HAProxy calls dynamic (configuration.txt, `balance`): `add server` requires one
 * ("Backend must use a dynamic load balancing to support dynamic servers."), and only they apply
 * a weight changed at run time. cfg.ts writes `balance source` and `balance hash …` (map-based)
 * for SOURCE_IP and SOURCE_IP_PORT: those pools reload.
 */
const DYNAMIC_BALANCE = new Set(['balance roundrobin', 'balance leastconn']);

interface ServerLine {
  /** `host:port` or `ipv6@host:port`, as cfg.ts writes it. */
  address: string;
  /** Keyword → value ('' for flags), in the line's order. */
  options: Map<string, string>;
  /** Everything after the name, as written. */
  args: string;
}

interface Backend {
  lines: string[];
  /** Name → the line after `server <name> ` (null: the name is given twice); parsed only when it changed. */
  servers: Map<string, string | null>;
}

interface Parsed {
  /** The text without the server lines of backends. */
  skeleton: string;
  backends: Map<string, Backend>;
}

/** A server line's arguments, or null when it holds a keyword this module does not know. */
function parseServer(line: string | null | undefined): ServerLine | null {
  if (!line) return null;
  const args = line.split(' ');
  const options = new Map<string, string>();
  for (let i = 1; i < args.length; i++) {
    const k = KEYWORDS.get(args[i]);
    if (!k || options.has(args[i])) return null;
    if (k.values === 1 && i + 1 >= args.length) return null;
    options.set(args[i], k.values === 1 ? args[++i] : '');
  }
  return { address: args[0], options, args: args.join(' ') };
}

function parse(text: string): Parsed {
  const skeleton: string[] = [];
  const backends = new Map<string, Backend>();
  let current: Backend | null = null;
  for (const line of text.split('\n')) {
    if (!/^\s/.test(line)) {
      const b = /^backend (\S+)$/.exec(line);
      current = b ? { lines: [], servers: new Map() } : null;
      if (b && current) backends.set(b[1], current);
      skeleton.push(line);
      continue;
    }
    const server = current && /^\s+server (\S+) (\S.*)$/.exec(line);
    if (current && server) {
      // A name given twice is HAProxy's to refuse: the reload's `haproxy -c` says so.
      current.servers.set(server[1], current.servers.has(server[1]) ? null : server[2].trim().replace(/\s+/g, ' '));
      continue;
    }
    current?.lines.push(line.trim());
    skeleton.push(line);
  }
  return { skeleton: skeleton.join('\n'), backends };
}

/** The address part of a server line: `ipv6@fd00::5:80` → `fd00::5`, `10.0.0.5:80` → `10.0.0.5`. */
function hostPort(address: string): { host: string; port: string } | null {
  const m = /^(?:ipv6@)?(.+):(\d+)$/.exec(address);
  return m ? { host: m[1], port: m[2] } : null;
}

/**
 * `add server` arguments for a line. HAProxy reuses a server's TLS and PROXY protocol for its
 * checks only when it is checked on its own address and port, and "the implicit configuration of
 * ssl and PROXY protocol is not performed for dynamic servers" (configuration.txt, `check`): the
 * added server says explicitly what the configuration file implies.
 */
function addArgs(s: ServerLine): string {
  const extra: string[] = [];
  const o = s.options;
  if (o.has('check') && !o.has('addr') && !o.has('port')) {
    if (o.has('ssl') && !o.has('check-ssl')) extra.push('check-ssl');
    if (o.has('send-proxy') || o.has('send-proxy-v2')) extra.push('check-send-proxy');
  }
  return [s.args, ...extra].join(' ');
}

/** Two option maps equal but for the keywords in `except`. */
function sameBut(a: Map<string, string>, b: Map<string, string>, except: Set<string>): boolean {
  const keys = new Set([...a.keys(), ...b.keys()]);
  for (const k of keys) if (!except.has(k) && a.get(k) !== b.get(k)) return false;
  return true;
}

/** What takes the running configuration `before` to `after`: runtime commands, or a reload. */
export function planServerChanges(before: string, after: string): ServerPlan {
  if (!before) return { kind: 'reload', reason: 'no running configuration' };
  const a = parse(before);
  const b = parse(after);
  if (a.skeleton !== b.skeleton) return { kind: 'reload', reason: 'more than servers changed' };
  const removals: RuntimeCommand[] = [];
  const changes: RuntimeCommand[] = [];
  const additions: RuntimeCommand[] = [];
  const added: string[] = [];
  for (const [name, next] of b.backends) {
    const prev = a.backends.get(name)!;
    const changed =
      prev.servers.size !== next.servers.size || [...next.servers].some(([id, s]) => !prev.servers.has(id) || prev.servers.get(id) !== s || s === null);
    if (!changed) continue;
    if (!next.lines.some((l) => DYNAMIC_BALANCE.has(l))) return { kind: 'reload', reason: `backend ${name}: its algorithm is not dynamic` };
    if (next.lines.includes('disabled')) return { kind: 'reload', reason: `backend ${name} is disabled` };
    for (const [id, old] of prev.servers) {
      if (next.servers.has(id)) continue;
      if (!parseServer(old)) return { kind: 'reload', reason: `backend ${name}: server ${id} not understood` };
      // Maintenance first: `del server` refuses a server that is not in it.
      removals.push({ command: `disable server ${name}/${id}`, expect: '' }, { command: `del server ${name}/${id}`, expect: DELETED });
    }
    for (const [id, line] of next.servers) {
      const known = prev.servers.has(id);
      if (known && line !== null && prev.servers.get(id) === line) continue;
      const s = parseServer(line);
      if (!s) return { kind: 'reload', reason: `backend ${name}: server ${id} not understood` };
      const ref = `${name}/${id}`;
      if (!known) {
        const refused = [...s.options.keys()].find((k) => !KEYWORDS.get(k)?.dynamic);
        if (refused) return { kind: 'reload', reason: `backend ${name}: '${refused}' is not accepted for a dynamic server` };
        // A dynamic server arrives in maintenance with its health check off (management.txt,
        // "add server"): the check first, so the server is checked from the moment it serves.
        additions.push({ command: `add server ${ref} ${addArgs(s)}`, expect: ADDED });
        if (s.options.has('check')) additions.push({ command: `enable health ${ref}`, expect: '' });
        if (!s.options.has('disabled')) additions.push({ command: `enable server ${ref}`, expect: '' });
        added.push(ref);
        continue;
      }
      const old = parseServer(prev.servers.get(id));
      if (!old) return { kind: 'reload', reason: `backend ${name}: server ${id} not understood` };
      if (old.address !== s.address || !sameBut(old.options, s.options, MUTABLE))
        return { kind: 'reload', reason: `backend ${name}: server ${id} changed beyond weight, state and check address` };
      const o = old.options;
      const n = s.options;
      if (o.get('weight') !== n.get('weight')) {
        if (!n.has('weight')) return { kind: 'reload', reason: `backend ${name}: server ${id} lost its weight` };
        changes.push({ command: `set server ${ref} weight ${n.get('weight')}`, expect: '' });
      }
      if (o.get('addr') !== n.get('addr') || o.get('port') !== n.get('port')) {
        // A TLS or PROXY-protocol server checked on its own address and port has its checks
        // encapsulated the same way; moved elsewhere, they are not (configuration.txt, `check`).
        // A running server keeps how its checks were set up: only a reload re-decides it.
        if (n.has('ssl') || n.has('send-proxy') || n.has('send-proxy-v2'))
          return { kind: 'reload', reason: `backend ${name}: server ${id}'s check encapsulation depends on its check address` };
        const own = hostPort(s.address);
        if (!own) return { kind: 'reload', reason: `backend ${name}: server ${id} address not understood` };
        changes.push({ command: `set server ${ref} check-addr ${n.get('addr') ?? own.host} port ${n.get('port') ?? own.port}`, expect: '' });
      }
      if (o.has('disabled') !== n.has('disabled')) changes.push({ command: `set server ${ref} state ${n.has('disabled') ? 'maint' : 'ready'}`, expect: '' });
    }
  }
  const commands = [...removals, ...changes, ...additions];
  // The CLI splits a line on `;` (management.txt §9.3): nothing cfg.ts writes holds one, and
  // anything that did would be two commands.
  if (commands.some((c) => c.command.includes(';'))) return { kind: 'reload', reason: 'a command would hold a ";"' };
  return { kind: 'runtime', commands, added };
}

/**
 * A `show servers state` dump without the servers named `backend/server`. Before a reload that
 * follows a runtime change that failed half-way: a server added in maintenance and never enabled
 * would otherwise carry that forced maintenance into the new process (HAProxy keeps a state-file
 * maintenance the configuration does not contradict), so it starts from its configuration line.
 */
export function forgetServers(state: string, refs: ReadonlySet<string>): string {
  if (!refs.size) return state;
  return state
    .split('\n')
    .filter((line) => {
      // `be_id be_name srv_id srv_name …` (management.txt, "show servers state").
      const f = line.split(' ');
      return line.startsWith('#') || f.length < 4 || !refs.has(`${f[1]}/${f[3]}`);
    })
    .join('\n');
}
