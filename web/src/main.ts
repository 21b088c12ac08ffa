import './style.css';
import { ApiError, api, setUnauthorizedHandler } from './api';
import { h, replace } from './dom';
import { projectPage, allRunsPage } from './pages/project';
import { auditPage } from './pages/audit';
import { projectsPage } from './pages/projects';
import { runPage } from './pages/run';
import { notFoundPage, signinPage } from './pages/signin';
import { fallback, guard, navigate, route, start } from './router';
import { can, onSessionChange, session, setSession } from './session';
import { backoffDelay } from './log/socket';
import { mountNotices, setConnectionProblem, toast } from './ui/notice';
import { startClocks } from './ui/time';

const LOGO =
  '<svg viewBox="0 0 24 24" aria-hidden="true" class="logo"><path d="M4 17l6-6-6-6"/><path d="M12 19h8"/></svg>';

function shell(): { main: HTMLElement; user: HTMLElement } {
  const app = document.getElementById('app')!;
  const brand = h('a', { href: '/', class: 'brand', 'aria-label': 'jenky home' });
  brand.innerHTML = LOGO;
  brand.append(h('span', null, 'jenky'));
  const user = h('div', { class: 'user' });
  const nav = h(
    'nav',
    { class: 'nav', 'aria-label': 'Main' },
    h('a', { href: '/', 'data-nav': 'projects' }, 'Projects'),
    h('a', { href: '/runs', 'data-nav': 'runs' }, 'Runs'),
    h('a', { href: '/audit', 'data-nav': 'audit' }, 'Audit'),
  );
  const header = h('header', { class: 'topbar' }, h('a', { href: '#main', class: 'skip', 'data-native': '' }, 'Skip to content'), brand, nav, user);
  const main = h('main', { id: 'main', tabindex: -1 });
  replace(app, header, main);
  mountNotices(app);
  return { main, user };
}

function renderUser(el: HTMLElement): void {
  const s = session();
  const nav = document.querySelector<HTMLElement>('.nav');
  if (nav) nav.hidden = !s;
  if (!s) {
    replace(el);
    return;
  }
  const readOnly = !can('deploy');
  const parts: Node[] = [];
  if (s.auth === 'token') {
    parts.push(h('span', { class: 'who', title: `scopes: ${s.scopes.join(', ')}` }, h('span', { class: 'who-name' }, s.name), readOnly ? h('span', { class: 'chip' }, 'read-only') : null));
    const out = h('button', { type: 'button', class: 'btn small ghost' }, 'Sign out');
    out.addEventListener('click', async () => {
      try {
        await api.signOut();
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 401) {
          toast(`Could not sign out: ${e instanceof Error ? e.message : e}`, 'error');
          return;
        }
      }
      setSession(null);
      navigate('/signin', true);
    });
    parts.push(out);
  } else if (readOnly) {
    parts.push(h('span', { class: 'chip' }, 'read-only'));
  }
  replace(el, ...parts);
}

function markNav(): void {
  const p = location.pathname;
  const which = p.startsWith('/runs') ? 'runs' : p.startsWith('/audit') ? 'audit' : p === '/' || p.startsWith('/projects') ? 'projects' : '';
  for (const a of document.querySelectorAll<HTMLAnchorElement>('.nav a')) {
    if (a.dataset.nav === which) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function loadSession(): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const s = await api.session();
      // A server may also answer "not signed in" with a session without a name.
      setSession(s && (s.name || s.auth === 'none') ? s : null);
      setConnectionProblem('session', null);
      return;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        setSession(null);
        setConnectionProblem('session', null);
        return;
      }
      const delay = backoffDelay(attempt);
      setConnectionProblem('session', { message: 'jenky cannot be reached.', retryAt: Date.now() + delay });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function boot(): Promise<void> {
  const { main, user } = shell();
  startClocks();
  onSessionChange(() => renderUser(user));
  renderUser(user);

  route('/', projectsPage);
  route('/projects/:name', projectPage);
  route('/runs', allRunsPage);
  route('/runs/:id', runPage);
  route('/audit', auditPage);
  route('/signin', signinPage);
  fallback(notFoundPage);

  let lastPath = '';
  guard((path) => {
    markNav();
    if (!session() && path !== '/signin') {
      navigate(`/signin?next=${encodeURIComponent(path + location.search + location.hash)}`, true);
      return false;
    }
    if (session() && path === '/signin') {
      navigate('/', true);
      return false;
    }
    // Move focus to the new page's heading for keyboard and screen-reader users
    // (not on the first load, where the browser's own focus order is right).
    if (lastPath && lastPath !== path) {
      requestAnimationFrame(() => (main.querySelector('h1') as HTMLElement | null)?.focus({ preventScroll: true }));
    }
    lastPath = path;
    return true;
  });

  setUnauthorizedHandler(() => {
    if (!session()) return;
    setSession(null);
    toast('Your session has ended; sign in again.', 'error');
    navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, true);
  });

  await loadSession();
  start(main);
}

void boot();
