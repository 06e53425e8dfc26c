import { describe, expect, it } from 'vitest';
import type { RtListener, RtLoadBalancer, RtMember, RtPool } from '../../src/lb/config.js';
import { haproxyConfig } from '../../src/lb/haproxy/cfg.js';
import { ADDED, DELETED, forgetServers, planServerChanges } from '../../src/lb/haproxy/serverplan.js';
import { CFG_OPTIONS, RT_HTTP_MONITOR, rtListener, rtPool } from '../support/lbconfig.js';

const listener = rtListener('L', 'P');

const member = (id: string, o: Partial<RtMember> = {}): RtMember => {
  const address = o.address ?? '10.0.0.5';
  const port = o.port ?? 80;
  return { id, address, port, weight: 1, backup: false, enabled: true, checkAddress: address, checkPort: port, ...o };
};

const monitor = RT_HTTP_MONITOR;

const pool = (members: RtMember[], o: Partial<RtPool> = {}): RtPool => rtPool('P', members, o);

const lb = (p: RtPool, l: Partial<RtListener> = {}): RtLoadBalancer => ({ id: 'lb', vipAddress: null, listeners: [{ ...listener, ...l }], pools: [p] });
const text = (x: RtLoadBalancer) => haproxyConfig(x, CFG_OPTIONS);
const plan = (a: RtLoadBalancer, b: RtLoadBalancer) => planServerChanges(text(a), text(b));
const commands = (a: RtLoadBalancer, b: RtLoadBalancer) => {
  const p = plan(a, b);
  if (p.kind !== 'runtime') throw new Error(`expected runtime commands, got a reload: ${p.reason}`);
  return p.commands;
};
const B = 'P:L';

describe('member changes as HAProxy runtime commands', () => {
  const two = [member('A'), member('B', { address: '10.0.0.6' })];

  it('adds a member with add server, then takes it out of the maintenance it arrives in', () => {
    const c = commands(lb(pool(two)), lb(pool([...two, member('C', { address: '10.0.0.7', port: 8080, weight: 5 })])));
    expect(c).toEqual([
      { command: `add server ${B}/C 10.0.0.7:8080 weight 5`, expect: ADDED },
      { command: `enable server ${B}/C`, expect: '' },
    ]);
    expect(plan(lb(pool(two)), lb(pool([...two, member('C')])))).toMatchObject({ added: [`${B}/C`] });
  });

  it('turns the health check on for a member added to a monitored pool, and leaves an admin-down one in maintenance', () => {
    const before = lb(pool(two, { monitor }));
    const c = commands(before, lb(pool([...two, member('C', { enabled: false, checkPort: 9000 })], { monitor })));
    expect(c).toEqual([
      { command: `add server ${B}/C 10.0.0.5:80 weight 1 check inter 2000 fall 3 rise 2 port 9000 disabled`, expect: ADDED },
      { command: `enable health ${B}/C`, expect: '' },
    ]);
  });

  it('removes a member: maintenance first, then del server', () => {
    expect(commands(lb(pool(two)), lb(pool([two[0]])))).toEqual([
      { command: `disable server ${B}/B`, expect: '' },
      { command: `del server ${B}/B`, expect: DELETED },
    ]);
  });

  it('changes weight and admin state in place, in one plan with removals first and additions last', () => {
    const after = [member('A', { weight: 0 }), member('B', { address: '10.0.0.6', enabled: false }), member('C')];
    expect(commands(lb(pool(two)), lb(pool(after))).map((c) => c.command)).toEqual([
      `set server ${B}/A weight 0`,
      `set server ${B}/B state maint`,
      `add server ${B}/C 10.0.0.5:80 weight 1`,
      `enable server ${B}/C`,
    ]);
    expect(commands(lb(pool(after)), lb(pool(two))).map((c) => c.command)).toEqual([
      `disable server ${B}/C`,
      `del server ${B}/C`,
      `set server ${B}/A weight 1`,
      `set server ${B}/B state ready`,
    ]);
  });

  it('moves where a member is checked with set server check-addr', () => {
    const before = lb(pool(two, { monitor }));
    const moved = [member('A', { checkAddress: '10.0.0.9', checkPort: 81 }), two[1]];
    expect(commands(before, lb(pool(moved, { monitor }))).map((c) => c.command)).toEqual([`set server ${B}/A check-addr 10.0.0.9 port 81`]);
    // Back to the member's own address and port.
    expect(commands(lb(pool(moved, { monitor })), before).map((c) => c.command)).toEqual([`set server ${B}/A check-addr 10.0.0.5 port 80`]);
    const v6 = [member('A', { address: 'fd00::5', checkPort: 81 })];
    expect(commands(lb(pool(v6, { monitor })), lb(pool([member('A', { address: 'fd00::5' })], { monitor }))).map((c) => c.command)).toEqual([
      `set server ${B}/A check-addr fd00::5 port 80`,
    ]);
  });

  it('says explicitly how an added member of a TLS or PROXY-protocol pool is checked, as the file implies', () => {
    const tls = commands(lb(pool(two, { monitor, tls: true })), lb(pool([...two, member('C')], { monitor, tls: true })));
    expect(tls[0].command).toBe(`add server ${B}/C 10.0.0.5:80 weight 1 check inter 2000 fall 3 rise 2 ssl verify none check-ssl`);
    const proxy = commands(lb(pool(two, { monitor, protocol: 'PROXYV2' })), lb(pool([...two, member('C')], { monitor, protocol: 'PROXYV2' })));
    expect(proxy[0].command).toBe(`add server ${B}/C 10.0.0.5:80 weight 1 check inter 2000 fall 3 rise 2 send-proxy-v2 check-send-proxy`);
    // Checked elsewhere: neither, as in the file.
    const elsewhere = commands(lb(pool(two, { monitor, tls: true })), lb(pool([...two, member('C', { checkPort: 9 })], { monitor, tls: true })));
    expect(elsewhere[0].command).toBe(`add server ${B}/C 10.0.0.5:80 weight 1 check inter 2000 fall 3 rise 2 port 9 ssl verify none`);
  });

  it('has nothing to run when nothing but the order of members changed', () => {
    expect(commands(lb(pool(two)), lb(pool([two[1], two[0]])))).toEqual([]);
  });

  it('reloads for anything beyond server lines: listeners, timeouts, algorithm, persistence, monitor, pool state', () => {
    const base = lb(pool(two));
    const withC = [...two, member('C')];
    expect(plan(base, lb(pool(withC), { timeoutClientData: 1000 }))).toMatchObject({ kind: 'reload', reason: 'more than servers changed' });
    expect(plan(base, lb(pool(two, { algorithm: 'LEAST_CONNECTIONS' })))).toMatchObject({ kind: 'reload' });
    expect(plan(base, lb(pool(two, { monitor })))).toMatchObject({ kind: 'reload' });
    expect(plan(base, lb(pool(two, { persistence: { type: 'SOURCE_IP', cookieName: null, timeout: null } })))).toMatchObject({ kind: 'reload' });
    // The stick table's type follows the members' address family: an IPv6 member changes it.
    const sticky = { persistence: { type: 'SOURCE_IP' as const, cookieName: null, timeout: null } };
    expect(plan(lb(pool(two, sticky)), lb(pool(withC, sticky)))).toMatchObject({ kind: 'runtime' });
    expect(plan(lb(pool(two, sticky)), lb(pool([...two, member('C', { address: 'fd00::7' })], sticky)))).toMatchObject({ kind: 'reload' });
    // Members of a disabled pool wait for the reload that enables it.
    expect(plan(lb(pool(two, { enabled: false })), lb(pool(withC, { enabled: false })))).toMatchObject({ kind: 'reload', reason: `backend ${B} is disabled` });
    // TLS files changed: the digest line differs.
    expect(planServerChanges(text(base), `${text(base)}# tls 00\n`)).toMatchObject({ kind: 'reload' });
    expect(planServerChanges('', text(base))).toMatchObject({ kind: 'reload' });
  });

  it('reloads pools whose algorithm is not dynamic (add server refuses them, map-based hashing ignores weights)', () => {
    for (const algorithm of ['SOURCE_IP', 'SOURCE_IP_PORT'] as const) {
      expect(plan(lb(pool(two, { algorithm })), lb(pool([...two, member('C')], { algorithm })))).toMatchObject({
        kind: 'reload',
        reason: `backend ${B}: its algorithm is not dynamic`,
      });
      expect(plan(lb(pool(two, { algorithm })), lb(pool([member('A', { weight: 3 }), two[1]], { algorithm })))).toMatchObject({ kind: 'reload' });
    }
    expect(plan(lb(pool(two, { algorithm: 'LEAST_CONNECTIONS' })), lb(pool([...two, member('C')], { algorithm: 'LEAST_CONNECTIONS' })))).toMatchObject({
      kind: 'runtime',
    });
  });

  it('reloads a member add with a keyword add server refuses (cookie persistence), yet changes those members in place', () => {
    const cookie = { persistence: { type: 'HTTP_COOKIE' as const, cookieName: null, timeout: null } };
    expect(plan(lb(pool(two, cookie)), lb(pool([...two, member('C')], cookie)))).toEqual({
      kind: 'reload',
      reason: `backend ${B}: 'cookie' is not accepted for a dynamic server`,
    });
    expect(commands(lb(pool(two, cookie)), lb(pool([member('A', { weight: 7 }), two[1]], cookie))).map((c) => c.command)).toEqual([
      `set server ${B}/A weight 7`,
    ]);
    expect(commands(lb(pool(two, cookie)), lb(pool([two[0]], cookie))).map((c) => c.command)).toEqual([`disable server ${B}/B`, `del server ${B}/B`]);
  });

  it('reloads what a running server cannot change: backup, address, check timing, check encapsulation', () => {
    const base = lb(pool(two, { monitor, tls: true }));
    const one = (m: Partial<RtMember>) => lb(pool([member('A', m), two[1]], { monitor, tls: true }));
    expect(plan(base, one({ backup: true }))).toMatchObject({ kind: 'reload' });
    expect(plan(base, one({ address: '10.0.0.8', checkAddress: '10.0.0.8' }))).toMatchObject({ kind: 'reload' });
    expect(plan(base, one({ port: 81, checkPort: 81 }))).toMatchObject({ kind: 'reload' });
    // A TLS member checked on its own port has TLS checks; checked elsewhere, plain ones.
    expect(plan(base, one({ checkPort: 81 }))).toMatchObject({ kind: 'reload', reason: expect.stringContaining('encapsulation') });
    // The monitor's delay is every server's `inter`: a reload, though only server lines changed.
    const slower = lb(pool(two, { monitor: { ...monitor, delay: 5 }, tls: true }));
    expect(plan(base, slower)).toMatchObject({ kind: 'reload', reason: expect.stringContaining('beyond weight') });
  });

  it('reloads server lines it does not understand rather than guess', () => {
    const t = text(lb(pool(two)));
    const odd = t.replace('server A 10.0.0.5:80 weight 1', 'server A 10.0.0.5:80 weight 1 slowstart 10s');
    expect(planServerChanges(t, odd)).toMatchObject({ kind: 'reload' });
    const twice = t.replace('server A 10.0.0.5:80 weight 1', 'server A 10.0.0.5:80 weight 1\n    server A 10.0.0.9:80 weight 1');
    expect(planServerChanges(t, twice)).toMatchObject({ kind: 'reload' });
    const withC = text(lb(pool([...two, member('C')])));
    const semicolon = withC.replace('server C 10.0.0.5:80 weight 1', 'server C 10.0.0.5:80 weight 1 ssl ciphers A;B');
    expect(planServerChanges(t, semicolon)).toMatchObject({ kind: 'reload', reason: 'a command would hold a ";"' });
  });
});

describe('server state carried over a reload', () => {
  it('forgets the servers named, keeps the rest of show servers state', () => {
    const state = ['1', '# be_id be_name srv_id srv_name srv_addr', '3 P:L 1 A 10.0.0.5 2 0', '3 P:L 2 C 10.0.0.7 0 1', '4 Q:L 1 C 10.0.0.8 2 0', ''].join(
      '\n',
    );
    expect(forgetServers(state, new Set(['P:L/C']))).toBe(
      ['1', '# be_id be_name srv_id srv_name srv_addr', '3 P:L 1 A 10.0.0.5 2 0', '4 Q:L 1 C 10.0.0.8 2 0', ''].join('\n'),
    );
    expect(forgetServers(state, new Set())).toBe(state);
  });
});
