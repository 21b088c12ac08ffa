import { describe, expect, it } from 'vitest';
import { resourcesLabel } from './resources';

describe('resourcesLabel', () => {
  it('says what the host measured, and only that', () => {
    expect(resourcesLabel({ cpu_seconds: 1.2345, memory_peak_bytes: 191_160_320, processes_peak: 7 }))
      .toBe('1.23 s CPU · 182.3 MiB peak memory · 7 processes at most');
    expect(resourcesLabel({ cpu_seconds: 0.004 })).toBe('0.00 s CPU');
    expect(resourcesLabel({ cpu_seconds: 42.26, processes_peak: 1 })).toBe('42.3 s CPU · 1 process at most');
    expect(resourcesLabel({ cpu_seconds: 1234.5 })).toBe('1235 s CPU');
  });

  it('is nothing for a run that has no resources', () => {
    expect(resourcesLabel(undefined)).toBeNull();
    expect(resourcesLabel(null)).toBeNull();
    expect(resourcesLabel({})).toBeNull();
  });
});
