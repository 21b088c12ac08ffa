// Who is signed in, and what they may do.

import type { Session } from './api';

let current: Session | null = null;
const listeners = new Set<() => void>();

export function session(): Session | null {
  return current;
}

export function setSession(s: Session | null): void {
  current = s;
  for (const fn of listeners) fn();
}

export function onSessionChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** True if the signed-in user has the scope (admin has every scope). */
export function can(scope: 'read' | 'deploy' | 'admin'): boolean {
  if (!current) return false;
  return current.scopes.includes(scope) || current.scopes.includes('admin');
}
