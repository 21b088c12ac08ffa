// A finished run's "resources" (docs/spec-extensions.md) as one line for the
// run page: "1.24 s CPU · 182.3 MiB peak memory · 7 processes at most". Each
// part only where the host measured it; null when nothing was.
import type { RunResources } from '../api';
import { formatBytes } from '../format';

export function resourcesLabel(r: RunResources | undefined | null): string | null {
  if (!r) return null;
  const parts: string[] = [];
  if (typeof r.cpu_seconds === 'number') {
    const s = r.cpu_seconds;
    parts.push(`${s < 10 ? s.toFixed(2) : s < 100 ? s.toFixed(1) : Math.round(s)} s CPU`);
  }
  if (typeof r.memory_peak_bytes === 'number') parts.push(`${formatBytes(r.memory_peak_bytes)} peak memory`);
  if (typeof r.processes_peak === 'number') {
    parts.push(`${r.processes_peak} process${r.processes_peak === 1 ? '' : 'es'} at most`);
  }
  return parts.length ? parts.join(' · ') : null;
}
