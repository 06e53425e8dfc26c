import type { Caller, S } from '../scenario.js';

/** An external network (admin) with one IPv4 subnet `cidr` (a /24, gateway .1, no DHCP): binds `${v}` and `${v}Sub`. */
export function extNet(s: S, v: string, name: string, cidr: string) {
  s.post(
    'admin',
    `make external network ${name}`,
    '/v2.0/networks',
    { network: { name, 'router:external': true } },
    { bind: { [v]: 'network.id' }, expect: 201 },
  );
  s.post(
    'admin',
    `make external subnet ${name}`,
    '/v2.0/subnets',
    { subnet: { name: `${name}-subnet`, network_id: `\${${v}}`, cidr, ip_version: 4, enable_dhcp: false } },
    { bind: { [`${v}Sub`]: 'subnet.id' }, expect: 201 },
  );
}

/** A network with one IPv4 subnet, made by `as`: binds `${v}` and `${v}Sub`. */
export function tenantNet(s: S, as: Caller, v: string, name: string, cidr: string, extra: Record<string, unknown> = {}) {
  s.post(as, `make network ${name}`, '/v2.0/networks', { network: { name, ...extra } }, { bind: { [v]: 'network.id' }, expect: 201 });
  s.post(
    as,
    `make subnet ${name}`,
    '/v2.0/subnets',
    { subnet: { name: `${name}-subnet`, network_id: `\${${v}}`, cidr, ip_version: 4 } },
    { bind: { [`${v}Sub`]: 'subnet.id' }, expect: 201 },
  );
}

/** A router of `as` with a gateway on `${ext}` and an interface on `${subVar}`: binds `${v}`. */
export function routerOn(s: S, as: Caller, v: string, name: string, ext: string, subVar: string) {
  s.post(
    as,
    `make router ${name}`,
    '/v2.0/routers',
    { router: { name, external_gateway_info: { network_id: `\${${ext}}` } } },
    { bind: { [v]: 'router.id' }, expect: 201 },
  );
  s.put(
    as,
    `router ${name} interface`,
    `/v2.0/routers/\${${v}}/add_router_interface`,
    { subnet_id: `\${${subVar}}` },
    { bind: { [`${v}If`]: 'port_id' }, expect: 200 },
  );
}

export const NOT_A_UUID = 'not-a-uuid';
export const MISSING = '11111111-2222-3333-4444-555555555555';
