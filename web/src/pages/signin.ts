// Sign in with an API token; the server turns it into an HttpOnly,
// SameSite=Strict session cookie, so the token is never kept by the page.

import { ApiError, api } from '../api';
import { h } from '../dom';
import { navigate } from '../router';
import { setSession } from '../session';

function safeNext(next: string | null): string {
  // Only paths of this site (not //host or anything with a scheme).
  if (next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/signin')) return next;
  return '/';
}

export function signinPage(main: HTMLElement, _params: Record<string, string>, query: URLSearchParams): () => void {
  document.title = 'Sign in · jenky';
  main.className = 'signin-main';
  const input = h('input', {
    type: 'password',
    id: 'token',
    name: 'token',
    required: true,
    autocomplete: 'current-password',
    spellcheck: 'false',
    'aria-describedby': 'token-help',
  });
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
  const button = h('button', { type: 'submit', class: 'btn primary wide' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card signin', novalidate: true },
    h('h1', { tabindex: -1 }, 'Sign in to jenky'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { class: 'help', id: 'token-help' }, 'A token from the ', h('code', null, '[[tokens]]'), ' of this server’s configuration. The page keeps only a session cookie, never the token.'),
    error,
    button,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) {
      error.textContent = 'Enter a token.';
      input.focus();
      return;
    }
    button.disabled = true;
    error.textContent = '';
    try {
      await api.signIn(token);
      input.value = '';
      setSession(await api.session());
      navigate(safeNext(query.get('next')), true);
    } catch (err) {
      if (err instanceof ApiError) {
        error.textContent =
          err.status === 401 || err.status === 403
            ? 'That token is not valid here. Check it and try again.'
            : err.status === 429
              ? 'Too many failed attempts from this address; wait a minute and try again.'
              : err.offline
                ? 'jenky cannot be reached. Try again in a moment.'
                : err.message;
      } else {
        error.textContent = String(err);
      }
      input.focus();
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  main.append(form);
  input.focus();
  return () => {};
}

export function notFoundPage(main: HTMLElement): void {
  document.title = 'Not found · jenky';
  main.append(h('h1', { tabindex: -1 }, 'Nothing here'), h('p', null, 'This page does not exist. ', h('a', { href: '/' }, 'See the projects.')));
}
