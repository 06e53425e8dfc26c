import { afterAll, beforeAll, describe, it } from 'vitest';
import { type TestCloud, startCloud } from '../support/cloud.js';
import { type GoldenCallers, type ReplayOptions, expectReplay, goldenCallers, replay } from '../support/neutron-golden.js';

/**
 * QoS, trunks and floating IP port forwarding (issue 11), replayed from real Neutron Zed's
 * answers (test/fixtures/neutron-ext/{qos,trunk,floating-ip-port-forwarding}.json) with real
 * tokens, step by step.
 */

/** Every attribute is served now: bodies are compared whole, key order included. */
const OPTIONS: ReplayOptions = {};

const KNOWN: Record<string, Record<string, string>> = {
  qos: {},
  trunk: {},
  'floating-ip-port-forwarding': {},
};

let tc: TestCloud;
let gc: GoldenCallers;

beforeAll(async () => {
  tc = await startCloud();
  gc = await goldenCallers(tc);
});
afterAll(async () => tc.stop());

describe('golden Neutron scenarios: QoS, trunks, port forwarding', () => {
  for (const [extension, known] of Object.entries(KNOWN)) {
    it(extension, async () => {
      const r = await replay(gc, extension, { ...OPTIONS, beforeStep: () => tc.cloud.services.dataplane.idle() });
      expectReplay(r, known);
    });
  }
});
