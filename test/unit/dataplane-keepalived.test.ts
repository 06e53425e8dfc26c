/**
 * keepalived.conf as Neutron renders it: the expectations are neutron/tests/unit/agent/linux/
 * test_keepalived.py's (KeepalivedConfTestCase, KeepalivedInstanceRoutesTestCase,
 * get_free_range's cases), and an HA router's instance as ha_router.py builds one.
 */
import { describe, expect, it } from 'vitest';
import { checkVrrpOptions, virtualRoutes } from '../../src/dataplane/netns/harouter.js';
import {
  type KeepalivedInstanceSpec,
  checkScriptPath,
  freeRange,
  primaryVip,
  renderCheckScript,
  renderKeepalivedConf,
} from '../../src/dataplane/netns/keepalivedconf.js';

const GLOBAL = ['global_defs {', '    notification_email_from neutron@openstack.local', '    router_id neutron', '}'].join('\n');

/** KeepalivedConfBaseMixin._get_config. */
function neutronConfig(): KeepalivedInstanceSpec[] {
  const v = (cidr: string, dev: string) => ({ cidr, dev, track: false });
  return [
    {
      state: 'MASTER',
      interface: 'eth0',
      vrid: 1,
      haCidrs: ['169.254.192.0/18'],
      advertInt: 5,
      auth: { type: 'AH', password: 'pass123' },
      trackInterfaces: ['eth0'],
      vips: [v('192.168.1.0/24', 'eth1'), v('192.168.2.0/24', 'eth2'), v('192.168.3.0/24', 'eth2'), v('192.168.55.0/24', 'eth10')],
      routes: [{ destination: '0.0.0.0/0', nexthop: '192.168.1.1', dev: 'eth1' }],
    },
    {
      state: 'MASTER',
      interface: 'eth4',
      vrid: 2,
      haCidrs: ['169.254.192.0/18'],
      mcastSrcIp: '224.0.0.1',
      trackInterfaces: ['eth4'],
      vips: [v('192.168.3.0/24', 'eth6'), v('192.168.2.0/24', 'eth2'), v('192.168.55.0/24', 'eth10')],
      routes: [],
    },
  ];
}

const EXPECTED = `${GLOBAL}
vrrp_instance VR_1 {
    state MASTER
    interface eth0
    virtual_router_id 1
    priority 50
    garp_master_delay 60
    advert_int 5
    authentication {
        auth_type AH
        auth_pass pass123
    }
    track_interface {
        eth0
    }
    virtual_ipaddress {
        169.254.0.1/24 dev eth0
    }
    virtual_ipaddress_excluded {
        192.168.1.0/24 dev eth1 no_track
        192.168.2.0/24 dev eth2 no_track
        192.168.3.0/24 dev eth2 no_track
        192.168.55.0/24 dev eth10 no_track
    }
    virtual_routes {
        0.0.0.0/0 via 192.168.1.1 dev eth1 no_track protocol static
    }
}
vrrp_instance VR_2 {
    state MASTER
    interface eth4
    virtual_router_id 2
    priority 50
    garp_master_delay 60
    mcast_src_ip 224.0.0.1
    track_interface {
        eth4
    }
    virtual_ipaddress {
        169.254.0.2/24 dev eth4
    }
    virtual_ipaddress_excluded {
        192.168.2.0/24 dev eth2 no_track
        192.168.3.0/24 dev eth6 no_track
        192.168.55.0/24 dev eth10 no_track
    }
}`;

describe('keepalived.conf (keepalived.py)', () => {
  it("renders Neutron's test configuration exactly (test_config_generation)", () => {
    expect(renderKeepalivedConf(neutronConfig())).toBe(EXPECTED);
  });

  it('drops no_track when keepalived does not know it (test_config_generation_no_track_not_supported)', () => {
    expect(renderKeepalivedConf(neutronConfig(), false)).toBe(EXPECTED.replaceAll(' no_track', ''));
  });

  it('renders only global_defs without instances (test_config_with_reset)', () => {
    expect(renderKeepalivedConf([])).toBe(GLOBAL);
  });

  it('renders gateway, extra and on-link routes (KeepalivedInstanceRoutesTestCase.test_build_config)', () => {
    const conf = renderKeepalivedConf([
      {
        state: 'BACKUP',
        interface: 'ha-1',
        vrid: 3,
        haCidrs: [],
        trackInterfaces: [],
        vips: [],
        routes: [
          { destination: '0.0.0.0/0', nexthop: '1.0.0.254', dev: 'eth0' },
          { destination: '::/0', nexthop: 'fe80::3e97:eff:fe26:3bfa/64', dev: 'eth1' },
          { destination: '10.0.0.0/8', nexthop: '1.0.0.1' },
          { destination: '20.0.0.0/8', nexthop: '2.0.0.2' },
          { destination: '30.0.0.0/8', nexthop: null, dev: 'eth0', scope: 'link' },
        ],
      },
    ]);
    expect(conf).toContain(
      [
        '    virtual_routes {',
        '        0.0.0.0/0 via 1.0.0.254 dev eth0 no_track protocol static',
        '        ::/0 via fe80::3e97:eff:fe26:3bfa/64 dev eth1 no_track protocol static',
        '        10.0.0.0/8 via 1.0.0.1 no_track protocol static',
        '        20.0.0.0/8 via 2.0.0.2 no_track protocol static',
        '        30.0.0.0/8 dev eth0 scope link no_track protocol static',
        '    }',
      ].join('\n'),
    );
  });

  it('finds the primary VIP range as get_free_range does (test_get_free_range*)', () => {
    expect(freeRange('169.254.0.0/16', ['169.254.0.0/24', '169.254.1.0/24'], 24)).toBe('169.254.2.0/24');
    expect(freeRange('169.254.0.0/16', ['255.255.255.0/24'], 24)).toBe('169.254.0.0/24');
    expect(() => freeRange('192.168.1.0/24', [], 8)).toThrow(/was not found/);
    // The HA network's default subnet leaves 169.254.0.0/24: the VIP is 169.254.0.<VRID>/24.
    expect(primaryVip(7, ['169.254.192.0/18'])).toBe('169.254.0.7/24');
    expect(primaryVip(7, ['169.254.0.0/23'])).toBe('169.254.2.7/24');
  });

  it("routes a gateway's default route, on-link first when the gateway is outside its subnet (_add_default_gw_virtual_route)", () => {
    expect(virtualRoutes([{ dst: 'default', via: '172.24.4.1', dev: 'qg-1', owner: 'router:r' }])).toEqual([
      { destination: '0.0.0.0/0', nexthop: '172.24.4.1', dev: 'qg-1', gateway: true },
    ]);
    expect(virtualRoutes([{ dst: 'default', via: '10.0.0.1', dev: 'qg-1', onlink: true, owner: 'router:r' }])).toEqual([
      { destination: '10.0.0.1', nexthop: null, dev: 'qg-1', scope: 'link', gateway: true },
      { destination: '0.0.0.0/0', nexthop: '10.0.0.1', dev: 'qg-1', gateway: true },
    ]);
    // An extra route (routes_updated): no device.
    expect(virtualRoutes([{ dst: '10.9.0.0/16', via: '10.0.0.5', owner: 'router:r' }])).toEqual([{ destination: '10.9.0.0/16', nexthop: '10.0.0.5' }]);
  });
});

describe('the health check (ha_vrrp_health_check_interval: KeepalivedTrackScript)', () => {
  const bare: KeepalivedInstanceSpec = {
    state: 'MASTER',
    interface: 'eth0',
    vrid: 1,
    haCidrs: ['169.254.192.0/18'],
    trackInterfaces: [],
    vips: [],
    routes: [],
  };

  it("renders the vrrp_script before the instance, as Neutron's test does (test_build_config_no_vips_track_script)", () => {
    const expected = [
      '',
      'vrrp_script ha_health_check_1 {',
      '    script "/etc/ha_confs/qrouter-x/ha_check_script_1.sh"',
      '    interval 5',
      '    fall 2',
      '    rise 2',
      '}',
      '',
      'vrrp_instance VR_1 {',
      '    state MASTER',
      '    interface eth0',
      '    virtual_router_id 1',
      '    priority 50',
      '    garp_master_delay 60',
      '    virtual_ipaddress {',
      '        169.254.0.1/24 dev eth0',
      '    }',
      '}',
    ].join('\n');
    expect(renderKeepalivedConf([{ ...bare, healthCheckInterval: 5 }], true, '/etc/ha_confs/qrouter-x')).toBe(`${GLOBAL}\n${expected}`);
    expect(checkScriptPath('/etc/ha_confs/qrouter-x', 1)).toBe('/etc/ha_confs/qrouter-x/ha_check_script_1.sh');
  });

  it('tracks the script in the instance where there is a gateway route (test_get_config_str)', () => {
    const routes = [{ destination: '0.0.0.0/0', nexthop: '10.0.0.1', dev: 'qg-1', gateway: true }];
    const conf = renderKeepalivedConf([{ ...bare, healthCheckInterval: 5, routes }], true, '/d');
    expect(conf).toContain('    }\n    track_script {\n        ha_health_check_1\n    }\n}');
    // An extra route alone (not the gateway's) is not checked.
    const extra = renderKeepalivedConf([{ ...bare, healthCheckInterval: 5, routes: [{ destination: '12.0.0.0/24', nexthop: '10.0.0.1' }] }], true, '/d');
    expect(extra).not.toContain('track_script');
    expect(renderKeepalivedConf([{ ...bare, routes }], true, '/d')).not.toContain('ha_health_check');
  });

  it('writes the script as Neutron does (test_get_script_str, test_write_check_script, test_write_check_script_no_routes)', () => {
    const gw = (nexthop: string, destination: string) => ({ destination, nexthop, gateway: true });
    expect(
      renderCheckScript({ ...bare, healthCheckInterval: 5, routes: [gw('10.0.0.1', '12.0.0.0/24')], vips: [{ cidr: '192.168.0.3/18', dev: 'ha-xxx' }] }),
    ).toBe('#!/bin/bash -eu\nip a | grep 192.168.0.3 || exit 0\nping -c 1 -w 1 10.0.0.1 1>/dev/null || exit 1');
    expect(renderCheckScript({ ...bare, healthCheckInterval: 5, routes: [gw('10.0.0.1', '12.0.0.0/24'), gw('2001:db8::1', '2001:db8::1')] })).toBe(
      '#!/bin/bash -eu\n\nping -c 1 -w 1 10.0.0.1 1>/dev/null || exit 1\nping6 -c 1 -w 1 2001:db8::1 1>/dev/null || exit 1',
    );
    expect(renderCheckScript({ ...bare, healthCheckInterval: 5 })).toBeNull();
    expect(renderCheckScript({ ...bare, routes: [gw('10.0.0.1', '0.0.0.0/0')] })).toBeNull();
  });

  it('is a whole number of seconds, 0 (off) or more', () => {
    expect(() => checkVrrpOptions({ advertInt: 2, healthCheckInterval: 5 })).not.toThrow();
    expect(() => checkVrrpOptions({ advertInt: 2, healthCheckInterval: -1 })).toThrow(/ha_vrrp_health_check_interval/);
    expect(() => checkVrrpOptions({ advertInt: 2, healthCheckInterval: 1.5 })).toThrow(/ha_vrrp_health_check_interval/);
  });
});

describe('VRRPv3 (ha_vrrp_version 3: our extension for sub-second advertisements)', () => {
  it('adds `version 3` after advert_int and nothing else; VRRPv2 renders as Neutron does', () => {
    const [first] = neutronConfig();
    const v3 = renderKeepalivedConf([{ ...first, advertInt: 0.5, version: 3, auth: undefined }]);
    expect(v3).toContain('    advert_int 0.5\n    version 3\n    track_interface {');
    expect(renderKeepalivedConf([{ ...first, version: 3 }]).replace('    version 3\n', '')).toBe(renderKeepalivedConf([first]));
  });

  it('takes a fractional interval in hundredths with version 3 only, and no authentication there', () => {
    expect(() => checkVrrpOptions({ advertInt: 2 })).not.toThrow();
    expect(() => checkVrrpOptions({ advertInt: 0.5 })).toThrow(/whole number of seconds from 1 to 255/);
    expect(() => checkVrrpOptions({ advertInt: 256 })).toThrow(/whole number/);
    expect(() => checkVrrpOptions({ advertInt: 0.5, version: 3 })).not.toThrow();
    expect(() => checkVrrpOptions({ advertInt: 0.25, version: 3 })).not.toThrow();
    expect(() => checkVrrpOptions({ advertInt: 0.005, version: 3 })).toThrow(/0\.01 to 40\.95/);
    expect(() => checkVrrpOptions({ advertInt: 41, version: 3 })).toThrow(/0\.01 to 40\.95/);
    expect(() => checkVrrpOptions({ advertInt: Number.NaN, version: 3 })).toThrow(/0\.01 to 40\.95/);
    expect(() => checkVrrpOptions({ advertInt: 1, version: 3, auth: { type: 'PASS', password: 'secret' } })).toThrow(/no authentication/);
    expect(() => checkVrrpOptions({ advertInt: 1, version: 4 as 3 })).toThrow(/must be 2 or 3/);
  });
});

describe('keepalived_use_no_track_support', () => {
  it('is 2.0.3 or later, from `keepalived --version`', async () => {
    const { noTrackSupported } = await import('../../src/dataplane/netns/keepalived.js');
    expect(noTrackSupported('Keepalived v2.2.7 (01/16,2022)\n')).toBe(true);
    expect(noTrackSupported('Keepalived v2.0.3 (x)')).toBe(true);
    expect(noTrackSupported('Keepalived v2.0.2 (x)')).toBe(false);
    expect(noTrackSupported('Keepalived v1.3.9 (x)')).toBe(false);
    expect(noTrackSupported('bash: keepalived: not found')).toBe(false);
  });
});
