// Path-based routing with the History API (the server answers every non-API
// path with index.html). A page is a function that fills the main element and
// returns its cleanup.

export type Cleanup = () => void;
export type Page = (main: HTMLElement, params: Record<string, string>, query: URLSearchParams) => Cleanup | void;

interface Route {
  pattern: RegExp;
  keys: string[];
  page: Page;
}

const routes: Route[] = [];
let notFound: Page = () => {};
let cleanup: Cleanup | null = null;
let mainEl: HTMLElement;
let beforeEach: (path: string) => boolean = () => true;

export function route(path: string, page: Page): void {
  const keys: string[] = [];
  const pattern = new RegExp(
    '^' +
      path.replace(/\/:(\w+)/g, (_m, k: string) => {
        keys.push(k);
        return '/([^/]+)';
      }) +
      '/?$',
  );
  routes.push({ pattern, keys, page });
}

export function fallback(page: Page): void {
  notFound = page;
}

/** A guard run before each page: return false to stop (it navigated elsewhere). */
export function guard(fn: (path: string) => boolean): void {
  beforeEach = fn;
}

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

/** Re-renders the current page (after signing in, for instance). */
export function render(): void {
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.warn(e);
    }
    cleanup = null;
  }
  const path = location.pathname;
  if (!beforeEach(path)) return;
  mainEl.textContent = '';
  mainEl.className = '';
  const query = new URLSearchParams(location.search);
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    r.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1])));
    cleanup = r.page(mainEl, params, query) || null;
    return;
  }
  cleanup = notFound(mainEl, {}, query) || null;
}

export function start(main: HTMLElement): void {
  mainEl = main;
  window.addEventListener('popstate', () => render());
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element).closest?.('a');
    if (!a || a.target || a.hasAttribute('download') || a.dataset.native !== undefined) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin) return;
    if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/ws/') || url.pathname.startsWith('/hooks/')) return;
    if (url.pathname === location.pathname && url.search === location.search && url.hash) return; // in-page anchor
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  render();
}
