// A tiny element builder: h('a', {href, class}, 'text', child, ...).

export type Child = Node | string | number | null | undefined | false | Child[];

export type Attrs = {
  [key: string]: string | number | boolean | null | undefined | EventListener | ((ev: never) => void);
};

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2), v as EventListener);
      } else if (k === 'class') {
        el.className = String(v);
      } else if (v === true) {
        el.setAttribute(k, '');
      } else {
        el.setAttribute(k, String(v));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.textContent = '';
  append(el, children);
}

/** An inline SVG icon from a path list (24×24 viewBox, stroked). */
export function icon(paths: string, label?: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'icon');
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
  } else {
    svg.setAttribute('aria-hidden', 'true');
  }
  for (const d of paths.split('|')) {
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', d);
    svg.appendChild(p);
  }
  return svg;
}

export const ICONS = {
  rocket: 'M5 15c-1.5 1.5-2 5-2 5s3.5-.5 5-2|M9 12a15 15 0 0 1 11-9 15 15 0 0 1-9 11l-2-2z|M9 12H5l2-4h5|M12 15v4l4-2v-5',
  stop: 'M7 7h10v10H7z',
  down: 'M12 5v14|M6 13l6 6 6-6',
  download: 'M12 4v11|M7 10l5 5 5-5|M5 20h14',
  search: 'M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14z|M21 21l-5-5',
  up: 'M12 19V5|M6 11l6-6 6 6',
  check: 'M5 12l5 5 9-10',
  x: 'M6 6l12 12|M18 6L6 18',
  follow: 'M4 12h12|M12 6l6 6-6 6|M20 5v14',
  clock: 'M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z|M12 7v5l3 3',
  wrap: 'M4 6h16|M4 12h13a3 3 0 0 1 0 6h-4|M15 16l-2 2 2 2|M4 18h5',
  copy: 'M9 9h11v11H9z|M5 15H4V4h11v1',
  undo: 'M9 14L4 9l5-5|M4 9h10a6 6 0 0 1 0 12h-3',
  pause: 'M8 5v14|M16 5v14',
  play: 'M7 5l12 7-12 7z',
};
