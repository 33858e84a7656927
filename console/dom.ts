/** A few lines of DOM building instead of a framework: the pages are small and mostly update text. */

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

function apply(el: Element, attrs: Attrs | null | undefined): void {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** Replace an element's children, skipping null/false ones. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

const SVG = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

const nf = new Intl.NumberFormat('en-US');
export const num = (n: number): string => nf.format(Math.round(n));

export function ms(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(0)} s` : n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${n} ms`;
}

export const usd = (n: number): string => `$${n < 0.01 ? n.toFixed(6) : n.toFixed(4)}`;

/** A button that copies `text` and says so for a moment. */
export function copyButton(text: () => string, label = 'Copy'): HTMLButtonElement {
  const b = h('button', { type: 'button', class: 'small', 'aria-label': `${label} document` }, label);
  b.addEventListener('click', () => {
    void navigator.clipboard.writeText(text()).then(
      () => {
        b.textContent = 'Copied';
        setTimeout(() => {
          b.textContent = label;
        }, 1200);
      },
      () => {
        b.textContent = 'Copy failed';
      },
    );
  });
  return b;
}

export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href }, ...children);
}

export const taskHref = (label: string) => `#/task/${encodeURIComponent(label)}`;
export const collectionHref = (name: string) => `#/collection/${encodeURIComponent(name)}`;
