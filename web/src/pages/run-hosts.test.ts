import { describe, expect, it } from 'vitest';
import type { FleetHost } from '../api';
import { hostSummary } from './run-hosts';

const host = (name: string, status: FleetHost['status']): FleetHost => ({ name, address: name, status, reason: '', release: '7', started_at: null, finished_at: null });

describe('hostSummary', () => {
  it('counts the hosts by status, in the order a rollout goes', () => {
    expect(hostSummary([host('a', 'failed'), host('b', 'healthy'), host('c', 'rolled back'), host('d', 'healthy'), host('e', 'pending')])).toBe('1 pending · 2 healthy · 1 failed · 1 rolled back');
    expect(hostSummary([])).toBe('');
  });
});
