import type { Scenario } from '../scenario.js';
import * as core from './core.js';
import * as more from './more.js';
import * as qos from './qos.js';

/** Every scenario, in capture order. */
export const SCENARIOS: Scenario[] = [
  core.extensions(),
  core.networks(),
  core.subnets(),
  core.ports(),
  core.securityGroups(),
  core.routers(),
  core.floatingips(),
  core.subnetpools(),
  core.quotas(),
  core.tags(),
  core.metering(),
  core.networkIpAvailability(),
  qos.qos(),
  qos.trunk(),
  ...more.all(),
];
