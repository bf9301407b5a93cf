// Small DOM helpers shared by the panels. Elements are built with properties,
// never with innerHTML of data, so a value from a result cannot inject markup.

export type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined | null> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Short form for tables and labels; the exact value goes in a title / data-value. */
export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-4) return v.toExponential(3);
  return String(Number(v.toPrecision(5)));
}

/** A number cell/span: short text, exact value in data-value and title. */
export function num(v: number | null | undefined, cls = 'num'): HTMLElement {
  const el = h('span', { class: cls, 'data-value': v === null || v === undefined ? 'null' : String(v), title: v === null || v === undefined ? 'no value' : String(v) }, fmt(v));
  return el;
}

export type BadgeState = 'pass' | 'fail' | 'unknown';

export function badge(label: string, state: BadgeState, why: string): HTMLElement {
  const mark = state === 'pass' ? '✓' : state === 'fail' ? '✗' : '?';
  return h('span', { class: `badge ${state}`, 'data-check': label, 'data-state': state, title: why }, `${mark} ${label}`);
}
