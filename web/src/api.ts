// The HTTP API (SPEC.md "HTTP API (v1)" and docs/spec-extensions.md).
// Every request goes to jenky's own origin; the session is an HttpOnly cookie.

export interface Trigger {
  kind: 'webhook' | 'manual' | 'api' | 'cli' | string;
  provider: string | null;
  ref: string | null;
  branch: string | null;
  commit: string | null;
  actor: string | null;
  delivery: string | null;
  /** The repository's web address, from the webhook payload. */
  repository?: string | null;
  /** The head commit's message, from the webhook payload. */
  message?: string | null;
}

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out' | 'interrupted';

export interface Run {
  id: number;
  project: string;
  status: RunStatus;
  trigger: Trigger;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  reason: string | null;
  log_bytes: number;
  log_url: string;
  recipe?: string | null;
  script_sha256?: string | null;
  log_pruned?: boolean;
  resources?: RunResources;
  /** The deploy inputs as the script got them (JENKY_INPUT_<NAME>). */
  inputs?: Record<string, string>;
  action?: string;
  rollback_to?: number | null;
  /** A fleet run's hosts, in the config's order (docs/fleet.md). */
  hosts?: FleetHost[];
}

/** One host of a fleet run (docs/fleet.md, "Watching it"). */
export interface FleetHost {
  name: string;
  address: string;
  status: 'pending' | 'preparing' | 'prepared' | 'switching' | 'healthy' | 'failed' | 'rolled back' | 'skipped';
  reason: string;
  release: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface InputDecl {
  name: string;
  type: 'string' | 'choice' | 'bool';
  default: string | boolean;
  choices: string[];
  description: string;
}

export interface Pause {
  by: string;
  reason: string;
  at: string;
}

export interface AuditEntry {
  id: number | null;
  time: string;
  actor: string;
  action: string;
  project: string | null;
  run: number | null;
  address: string | null;
  detail: string | null;
}

// What a finished run used, where the host measured it (docs/spec-extensions.md).
export interface RunResources {
  cpu_seconds?: number;
  memory_peak_bytes?: number;
  processes_peak?: number;
}

export interface Webhook {
  provider: string;
  branches?: string[];
  events?: string[];
  url?: string;
}

export interface Project {
  name: string;
  description: string;
  last_run: Run | null;
  workdir?: string;
  shell?: string;
  timeout?: string;
  concurrency?: string;
  keep_runs?: number;
  source?: string;
  recipe?: string | null;
  script_file?: string | null;
  env_names?: string[];
  secret_names?: string[];
  webhook?: Webhook | null;
  paused?: Pause | null;
  inputs?: InputDecl[];
  /** Whether its recipe keeps releases to roll back to. */
  rollback?: boolean;
  /** `schedule = [...]`: each expression's next fire (docs/webhooks.md). */
  schedule?: {
    cron: string[];
    timezone: string;
    catch_up: boolean;
    next: { cron: string; at: string }[];
  } | null;
  /** `[projects.X.poll]`. */
  poll?: { repo: string; branches: string[]; interval: string } | null;
}

export interface Delivery {
  id: number;
  received_at: string;
  provider: string;
  event: string | null;
  delivery: string | null;
  result: 'deployed' | 'duplicate' | 'ignored' | 'ping' | 'rejected' | string;
  status: number;
  reason: string | null;
  run_id: number | null;
  remote: string | null;
}

export interface Session {
  name: string;
  scopes: string[];
  auth: 'none' | 'token' | string;
}

export const FINISHED: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'timed_out', 'interrupted']);

export function isFinished(run: Run): boolean {
  return FINISHED.has(run.status);
}

/** An answer of the API that is not a success, or a failure to reach it (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** What is wrong with each field of the request (a bad deploy input), when the server says. */
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
  }

  /** The server could not be reached (network down, server restarting). */
  get offline(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

// The server's clock relative to ours (ms), learnt from the Date header of its
// answers when it sends one; log line times are measured on the server's clock.
let clockOffset = 0;

/** Now, on the server's clock (as well as the Date header lets us know it). */
export function serverNow(): number {
  return Date.now() + clockOffset;
}

function learnClock(res: Response, sent: number): void {
  const date = res.headers.get('Date');
  if (!date) return;
  const server = Date.parse(date);
  if (Number.isNaN(server)) return;
  const now = Date.now();
  // Date has whole seconds: only a difference beyond that means anything.
  const diff = server + 500 - (sent + now) / 2;
  clockOffset = Math.abs(diff) > 1500 ? Math.round(diff) : 0;
}

type UnauthorizedHandler = () => void;
let onUnauthorized: UnauthorizedHandler = () => {};

/** Called whenever the API answers 401: the session is gone or was never there. */
export function setUnauthorizedHandler(fn: UnauthorizedHandler): void {
  onUnauthorized = fn;
}

async function request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  const sent = Date.now();
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'offline', 'jenky cannot be reached');
  }
  learnClock(res, sent);
  if (!res.ok) {
    let code = 'http_' + res.status;
    let message = `${res.status} ${res.statusText}`;
    let fields: Record<string, string> = {};
    try {
      const j = (await res.json()) as { error?: { code?: string; message?: string; fields?: Record<string, string> } };
      if (j.error?.code) code = j.error.code;
      if (j.error?.message) message = j.error.message;
      if (j.error?.fields && typeof j.error.fields === 'object') fields = j.error.fields;
    } catch {
      /* not JSON */
    }
    if (res.status === 401 && path !== '/api/v1/session') onUnauthorized();
    throw new ApiError(res.status, code, message, fields);
  }
  return res;
}

export async function getJSON<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await request('GET', path, undefined, signal);
  return (await res.json()) as T;
}

export async function sendJSON<T>(method: string, path: string, body?: unknown): Promise<T | null> {
  const res = await request(method, path, body);
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? (JSON.parse(text) as T) : null;
}

const enc = encodeURIComponent;

export const api = {
  session: () => getJSON<Session>('/api/v1/session'),
  signIn: (token: string) => sendJSON<Session>('POST', '/api/v1/session', { token }),
  signOut: () => sendJSON<unknown>('DELETE', '/api/v1/session'),
  projects: (signal?: AbortSignal) => getJSON<Project[]>('/api/v1/projects', signal),
  project: (name: string, signal?: AbortSignal) => getJSON<Project>(`/api/v1/projects/${enc(name)}`, signal),
  projectRuns: (name: string, limit: number, before?: number, signal?: AbortSignal) =>
    getJSON<Run[]>(`/api/v1/projects/${enc(name)}/runs?limit=${limit}${before ? `&before=${before}` : ''}`, signal),
  allRuns: (limit: number, before?: number, signal?: AbortSignal) =>
    getJSON<Run[]>(`/api/v1/runs?limit=${limit}${before ? `&before=${before}` : ''}`, signal),
  deliveries: (name: string, signal?: AbortSignal) => getJSON<Delivery[]>(`/api/v1/projects/${enc(name)}/deliveries`, signal),
  run: (id: number, signal?: AbortSignal) => getJSON<Run>(`/api/v1/runs/${id}`, signal),
  deploy: (name: string, body: { ref?: string; commit?: string; inputs?: Record<string, string | boolean> } = {}) =>
    sendJSON<Run>('POST', `/api/v1/projects/${enc(name)}/runs`, { kind: 'manual', ...body }),
  rollback: (name: string, to: number) => sendJSON<Run>('POST', `/api/v1/projects/${enc(name)}/rollback`, { kind: 'manual', to }),
  pause: (name: string, reason: string) => sendJSON<{ paused: Pause | null }>('POST', `/api/v1/projects/${enc(name)}/pause`, { reason }),
  resume: (name: string) => sendJSON<{ paused: Pause | null }>('POST', `/api/v1/projects/${enc(name)}/resume`),
  audit: (limit: number, before?: number, signal?: AbortSignal) =>
    getJSON<AuditEntry[]>(`/api/v1/audit?limit=${limit}${before ? `&before=${before}` : ''}`, signal),
  cancel: (id: number) => sendJSON<Run>('POST', `/api/v1/runs/${id}/cancel`),
  /** When each line started ([line, unix ms] records), from line `from` on. */
  lineTimes: (id: number, from = 0) => getJSON<{ run: number; times: [number, number][] }>(`/api/v1/runs/${id}/log/times?from_line=${from}`),
  async script(id: number): Promise<{ text: string; recipe: string | null; sha256: string | null }> {
    const res = await request('GET', `/api/v1/runs/${id}/script`);
    return {
      text: await res.text(),
      recipe: res.headers.get('X-Jenky-Recipe'),
      sha256: res.headers.get('X-Jenky-Script-Sha256'),
    };
  },
};
