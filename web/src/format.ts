// Times, durations and short forms of run facts.

import { serverNow, type Run, type Trigger } from './api';

export function parseTime(s: string | null | undefined): number | null {
  if (!s) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
}

/** "45s", "3m 05s", "1h 02m". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return ms < 10000 && ms % 1000 !== 0 && s < 10 ? `${(ms / 1000).toFixed(1)}s` : `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const hh = Math.floor(m / 60);
  if (hh < 48) return `${hh}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hh / 24)}d ${hh % 24}h`;
}

/**
 * "just now", "5 min ago", "3 h ago", "2 days ago", then a date; a time to
 * come (a schedule's next fire) reads "in 5 min", "in 30 h", "in 3 days".
 */
export function formatAge(t: number, now = Date.now()): string {
  const s = Math.round((now - t) / 1000);
  if (s < -10) return formatUntil(-s, t);
  if (s < 10) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const hh = Math.floor(m / 60);
  if (hh < 24) return `${hh} h ago`;
  const d = Math.floor(hh / 24);
  if (d < 14) return d === 1 ? 'yesterday' : `${d} days ago`;
  return new Date(t).toISOString().slice(0, 10);
}

function formatUntil(s: number, t: number): string {
  if (s < 60) return `in ${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `in ${m} min`;
  const hh = Math.floor(m / 60);
  // "tomorrow" would be wrong for 03:00 the day after tomorrow: hours, then days.
  if (hh < 48) return `in ${hh} h`;
  const d = Math.floor(hh / 24);
  if (d < 14) return `in ${d} days`;
  return new Date(t).toISOString().slice(0, 10);
}

let absolute: Intl.DateTimeFormat | null = null;

export function formatAbsolute(t: number): string {
  // One formatter for the page: toLocaleString with options makes a new one
  // on every call, and the first costs tens of milliseconds (a run page's
  // header calls it several times before the log's first lines).
  absolute ??= new Intl.DateTimeFormat(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  return absolute.format(t);
}

/** Time since the run started, for a log line: "0:07.3", "12:34.5", "1:02:03". */
export function formatOffset(ms: number): string {
  const t = Math.max(0, Math.floor(ms / 100)); // tenths
  const s = Math.floor(t / 10);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  if (hh > 0) return `${hh}:${String(mm).padStart(2, '0')}:${ss}`;
  return `${mm}:${ss}.${t % 10}`;
}

/** A line's clock time, local, to the millisecond: 14:03:22.123. */
export function formatClock(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** How long a run took, or has been running (null before it starts). */
export function runDuration(run: Run, now = serverNow()): number | null {
  const start = parseTime(run.started_at);
  if (start === null) return null;
  const end = parseTime(run.finished_at) ?? (run.status === 'running' ? now : null);
  return end === null ? null : Math.max(0, end - start);
}

export function shortCommit(c: string | null | undefined): string {
  return c ? c.slice(0, 7) : '';
}

const KINDS: Record<string, string> = { manual: 'manual', api: 'API', cli: 'CLI', webhook: 'webhook' };

const PROVIDERS: Record<string, string> = {
  github: 'GitHub',
  gitea: 'Gitea',
  forgejo: 'Forgejo',
  gitlab: 'GitLab',
  generic: 'generic',
};

/** "webhook · GitHub", "manual", "CLI". */
export function triggerLabel(t: Trigger): string {
  const kind = KINDS[t.kind] ?? t.kind;
  if (t.kind === 'webhook' && t.provider) return `${kind} · ${PROVIDERS[t.provider] ?? t.provider}`;
  return kind;
}

export function refLabel(t: Trigger): string {
  if (t.branch) return t.branch;
  if (t.ref) return t.ref.replace(/^refs\/(heads|tags)\//, '');
  return '';
}

export const STATUS_LABEL: Record<string, string> = {
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  timed_out: 'timed out',
  interrupted: 'interrupted',
};

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Signals a deploy script is commonly ended by: [name, what it did, a note]. */
const SIGNALS: Record<number, [string, string, string?]> = {
  1: ['SIGHUP', 'hung up'],
  2: ['SIGINT', 'interrupted'],
  3: ['SIGQUIT', 'quit'],
  4: ['SIGILL', 'killed', 'illegal instruction'],
  6: ['SIGABRT', 'aborted'],
  7: ['SIGBUS', 'killed', 'bus error'],
  8: ['SIGFPE', 'killed', 'arithmetic error'],
  9: ['SIGKILL', 'killed'],
  11: ['SIGSEGV', 'killed', 'segmentation fault'],
  13: ['SIGPIPE', 'killed', 'broken pipe'],
  14: ['SIGALRM', 'killed', 'alarm'],
  15: ['SIGTERM', 'terminated'],
};

/**
 * What an exit code says, in words, or null when it says nothing more than
 * "failed": 143 of a cancelled run is "terminated by SIGTERM: cancelled".
 * Codes above 128 are the shell's report of a signal (128 + its number).
 */
export function explainExitCode(code: number | null, status: string): string | null {
  if (code === null) return null;
  if (code === 0) return 'success';
  if (code === 126) return 'a command could not be executed (not executable, or a directory)';
  if (code === 127) return 'a command was not found';
  if (code > 128 && code < 128 + 65) {
    const n = code - 128;
    const [name, what, note] = SIGNALS[n] ?? [`signal ${n}`, 'killed'];
    const why =
      status === 'cancelled'
        ? n === 9
          ? 'cancelled, and still running after the grace period'
          : 'cancelled'
        : status === 'timed_out'
          ? n === 9
            ? 'timed out, and still running after the grace period'
            : 'timed out'
          : n === 9
            ? 'by jenky or the system (out of memory?)'
            : '';
    return `${what} by ${name}${note ? ` (${note})` : ''}${why ? `: ${why}` : ''}`;
  }
  return null;
}
