import { describe, expect, it } from 'vitest';
import { cidrTexts, isSubset, rangesOf, subtract } from '../../src/util/ipset.js';

describe('ipset', () => {
  it('compacts adjacent prefixes into the largest CIDRs, as netaddr does', () => {
    expect(cidrTexts(4, rangesOf(['10.0.0.0/25', '10.0.0.128/25', '10.0.1.0/24']))).toEqual(['10.0.0.0/23']);
    expect(cidrTexts(4, rangesOf(['10.0.0.0/24', '10.0.0.0/16']))).toEqual(['10.0.0.0/16']);
    expect(cidrTexts(6, rangesOf(['2001:db8::/64', '2001:db8:0:1::/64']))).toEqual(['2001:db8::/63']);
  });

  it('subtracts allocations and splits what is left into aligned blocks', () => {
    const left = subtract(rangesOf(['10.0.0.0/24']), rangesOf(['10.0.0.64/26']));
    expect(cidrTexts(4, left)).toEqual(['10.0.0.0/26', '10.0.0.128/25']);
    expect(isSubset(rangesOf(['10.0.0.0/26']), left)).toBe(true);
    expect(isSubset(rangesOf(['10.0.0.0/25']), left)).toBe(false);
  });
});
