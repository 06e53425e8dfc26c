/**
 * Nova's scheduling options as PocketStack reads them from its environment: [scheduler]
 * max_attempts, [filter_scheduler] build_failure_weight_multiplier and [compute]
 * consecutive_build_service_disable_threshold, with Nova's defaults, and the values oslo.config
 * would refuse (max_attempts below its min=1, anything not a number) stopping the start.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('scheduler options', () => {
  it("default to Nova's", () => {
    expect(loadConfig({}, {}).scheduler).toEqual({ maxAttempts: 3, buildFailureWeightMultiplier: 1000000.0, consecutiveBuildServiceDisableThreshold: 10 });
  });

  it('are read from POCKETSTACK_SCHEDULER_MAX_ATTEMPTS, _BUILD_FAILURE_WEIGHT_MULTIPLIER and _CONSECUTIVE_BUILD_SERVICE_DISABLE_THRESHOLD', () => {
    const env = {
      POCKETSTACK_SCHEDULER_MAX_ATTEMPTS: '1',
      POCKETSTACK_BUILD_FAILURE_WEIGHT_MULTIPLIER: '2.5',
      POCKETSTACK_CONSECUTIVE_BUILD_SERVICE_DISABLE_THRESHOLD: '0',
    };
    expect(loadConfig({}, env).scheduler).toEqual({ maxAttempts: 1, buildFailureWeightMultiplier: 2.5, consecutiveBuildServiceDisableThreshold: 0 });
  });

  it('refuse what oslo.config refuses', () => {
    expect(() => loadConfig({}, { POCKETSTACK_SCHEDULER_MAX_ATTEMPTS: '0' })).toThrow(
      'POCKETSTACK_SCHEDULER_MAX_ATTEMPTS: "0" is not an integer of at least 1',
    );
    expect(() => loadConfig({}, { POCKETSTACK_SCHEDULER_MAX_ATTEMPTS: '2.5' })).toThrow(/not an integer/);
    expect(() => loadConfig({}, { POCKETSTACK_BUILD_FAILURE_WEIGHT_MULTIPLIER: 'high' })).toThrow(/not a number/);
  });
});
