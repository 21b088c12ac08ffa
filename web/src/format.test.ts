import { describe, expect, it } from 'vitest';
import { explainExitCode, formatAge, formatDuration, formatOffset, refLabel, runDuration, triggerLabel } from './format';
import type { Run } from './api';

describe('format', () => {
  it('formats durations', () => {
    expect(formatDuration(40)).toBe('40ms');
    expect(formatDuration(2600)).toBe('2.6s');
    expect(formatDuration(12000)).toBe('12s');
    expect(formatDuration(65000)).toBe('1m 05s');
    expect(formatDuration(3723000)).toBe('1h 02m');
  });

  it('formats a line offset from the run start', () => {
    expect(formatOffset(0)).toBe('0:00.0');
    expect(formatOffset(1450)).toBe('0:01.4');
    expect(formatOffset(754300)).toBe('12:34.3');
    expect(formatOffset(3723000)).toBe('1:02:03');
    expect(formatOffset(-5)).toBe('0:00.0');
  });

  it('formats ages', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(formatAge(now - 3000, now)).toBe('just now');
    expect(formatAge(now - 5 * 60000, now)).toBe('5 min ago');
    expect(formatAge(now + 5 * 60000, now)).toBe('in 5 min');
    expect(formatAge(now + 3 * 3600000 + 60000, now)).toBe('in 3 h');
    expect(formatAge(now + 30 * 3600000, now)).toBe('in 30 h');
    expect(formatAge(now + 3 * 86400000, now)).toBe('in 3 days');
    expect(formatAge(now + 5000, now)).toBe('just now');
    expect(formatAge(now - 3 * 3600000, now)).toBe('3 h ago');
    expect(formatAge(now - 30 * 86400000, now)).toBe('2026-10-26');
  });

  it('labels triggers and refs', () => {
    const t = { kind: 'webhook', provider: 'github', ref: 'refs/heads/main', branch: 'main', commit: 'abc', actor: 'x', delivery: null };
    expect(triggerLabel(t)).toBe('webhook · GitHub');
    expect(triggerLabel({ ...t, kind: 'cli', provider: null })).toBe('CLI');
    expect(refLabel({ ...t, branch: null, ref: 'refs/tags/v1.2' })).toBe('v1.2');
  });

  it('computes run durations', () => {
    const run = { status: 'succeeded', started_at: '2026-11-25T00:00:00Z', finished_at: '2026-11-25T00:00:42Z' } as Run;
    expect(runDuration(run)).toBe(42000);
    expect(runDuration({ ...run, started_at: null })).toBeNull();
    expect(runDuration({ ...run, status: 'running', finished_at: null }, Date.parse('2026-11-25T00:01:00Z'))).toBe(60000);
  });

  it('explains exit codes: signals, cancels, timeouts, missing commands', () => {
    expect(explainExitCode(143, 'cancelled')).toBe('terminated by SIGTERM: cancelled');
    expect(explainExitCode(137, 'cancelled')).toBe('killed by SIGKILL: cancelled, and still running after the grace period');
    expect(explainExitCode(143, 'timed_out')).toBe('terminated by SIGTERM: timed out');
    expect(explainExitCode(143, 'failed')).toBe('terminated by SIGTERM');
    expect(explainExitCode(137, 'failed')).toBe('killed by SIGKILL: by jenky or the system (out of memory?)');
    expect(explainExitCode(139, 'failed')).toBe('killed by SIGSEGV (segmentation fault)');
    expect(explainExitCode(130, 'failed')).toBe('interrupted by SIGINT');
    expect(explainExitCode(128 + 40, 'failed')).toBe('killed by signal 40');
    expect(explainExitCode(127, 'failed')).toBe('a command was not found');
    expect(explainExitCode(0, 'succeeded')).toBe('success');
    expect(explainExitCode(1, 'failed')).toBeNull();
    expect(explainExitCode(128, 'failed')).toBeNull();
    expect(explainExitCode(null, 'cancelled')).toBeNull();
  });
});
