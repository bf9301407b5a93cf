// Text from a file is data, never markup. Names read from a model or an input
// file (ONNX node names and op types, safetensors keys, pickle globals, Keras /
// TF.js / JSON layer names, file names) and whole messages that may carry them
// pass through here before they reach a notification, a log line, the webview
// or the HTML report.
//
// Why substitution and not backslashes: VS Code's notifications render
// `[label](command:…)` as a clickable link with a regular expression that
// ignores backslash escapes (`\[x\](command:y)` is still a link). So a name's
// markup characters become look-alikes (［ ］ （ ） ‹ › ˋ), its control and
// invisible formatting characters become visible `\uXXXX` escapes, and it is
// capped with an ellipsis. A whole message keeps its own brackets (shapes like
// [1, 28, 28]) but can never contain a link: every `](` is broken apart.
//
// Plain string functions: no DOM, no Node, no vscode.

import { LIMITS } from './limits';

/** C0/C1 controls, DEL, invisible formatting characters (bidi overrides and isolates, zero-width characters, BOM, line/paragraph separators, tag characters) and lone surrogates. */
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]|\udb40[\udc00-\udc7f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** ANSI escape sequences (colours, cursor moves, OSC hyperlinks/titles) in full, so no printable tail is left. */
const ANSI = /\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|[@-Z\\-_])|\u009b[0-?]*[ -/]*[@-~]/g;
const LOOKALIKE: Record<string, string> = { '[': '［', ']': '］', '(': '（', ')': '）', '<': '‹', '>': '›', '`': 'ˋ' };
const MARKUP = /[[\]()<>`]/g;

function hex(c: string): string {
  return Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
}

/** At most `maxChars` characters (code points, never half a surrogate pair), the last one an ellipsis when cut. */
export function capText(s: string, maxChars: number): string {
  if (s.length <= maxChars) return s;
  const points = Array.from(s.slice(0, maxChars * 2 + 2));
  if (points.length <= maxChars && s.length <= maxChars * 2 + 2) return s;
  return points.slice(0, Math.max(0, maxChars - 1)).join('') + '…';
}

/**
 * A name from a file, made inert for any message: markup characters become
 * look-alikes, control and invisible characters become `\uXXXX`, capped at
 * `maxChars` (LIMITS.nameChars) with an ellipsis. Not quoted: see quoteName.
 */
export function escapeName(name: unknown, maxChars: number = LIMITS.nameChars): string {
  const s = typeof name === 'string' ? name : safeString(name);
  // Cap before escaping too, so a 100 MB name costs no more than a short one.
  const head = s.length > maxChars * 2 + 2 ? s.slice(0, maxChars * 2 + 2) : s;
  const escaped = head.replace(INVISIBLE, hex).replace(MARKUP, (c) => LOOKALIKE[c]);
  return capText(escaped + (head.length < s.length ? '…' : ''), maxChars);
}

/** A name from a file inside a message: escaped (escapeName) and in single quotes, e.g. `'conv1'`. */
export function quoteName(name: unknown, maxChars: number = LIMITS.nameChars): string {
  return `'${escapeName(name, maxChars).replace(/'/g, "\\'")}'`;
}

/** A list of names from a file: each quoted, at most `maxShown` of them, then how many more. */
export function quoteNames(names: readonly unknown[], maxShown = 10, maxChars: number = LIMITS.nameChars): string {
  const shown = names.slice(0, maxShown).map((n) => quoteName(n, maxChars));
  const more = names.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

/**
 * A whole message made plain text for a notification (or any one-line place):
 * ANSI sequences and invisible characters removed, line breaks and tabs become
 * spaces, no markdown link can form (`](` → `] (`), capped at `maxChars`
 * (LIMITS.messageChars) with an ellipsis.
 */
export function plainText(message: unknown, maxChars: number = LIMITS.messageChars): string {
  const s = typeof message === 'string' ? message : safeString(message);
  const head = s.length > maxChars * 2 + 64 ? s.slice(0, maxChars * 2 + 64) : s;
  const flat = head
    .replace(ANSI, '')
    .replace(/[\t\n\v\f\r\u0085\u2028\u2029]+/g, ' ')
    .replace(INVISIBLE, '')
    .replace(/\]\s*\(/g, '] (');
  return capText(flat + (head.length < s.length ? '…' : ''), maxChars);
}

/**
 * A log line: like plainText, but line breaks are kept (stack traces stay
 * readable) with every continuation line indented, so text from a file can
 * never forge a line of its own; capped at `maxChars` (LIMITS.logLineChars).
 */
export function logText(message: unknown, maxChars: number = LIMITS.logLineChars): string {
  const s = typeof message === 'string' ? message : safeString(message);
  const head = s.length > maxChars * 2 + 64 ? s.slice(0, maxChars * 2 + 64) : s;
  const lines = head
    .replace(ANSI, '')
    .split(/\r\n|[\n\v\f\r\u0085\u2028\u2029]/)
    .map((l) => l.replace(/\t/g, '  ').replace(INVISIBLE, '').replace(/\]\s*\(/g, '] ('));
  return capText(lines.join('\n    ') + (head.length < s.length ? '…' : ''), maxChars);
}

/** String(v) that never throws (a symbol, an object whose conversion fails). */
function safeString(v: unknown): string {
  try {
    return typeof v === 'symbol' ? v.toString() : String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/**
 * A short description of any value (a malformed message, for the log): never
 * throws, whatever it holds (BigInt, cycles, deep nesting, typed arrays, huge
 * arrays); at most `maxChars` characters. Iterative, so nesting cannot exhaust
 * the stack, and it stops as soon as the budget is spent.
 */
export function describeValue(value: unknown, maxChars = 200): string {
  try {
    let out = '';
    const seen = new Set<object>();
    // A stack of things to write: a value at a depth, or a literal piece of text.
    const todo: ({ v: unknown; depth: number } | string)[] = [{ v: value, depth: 0 }];
    while (todo.length > 0 && out.length <= maxChars) {
      const item = todo.pop()!;
      if (typeof item === 'string') {
        out += item;
        continue;
      }
      const { v, depth } = item;
      if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') out += String(v);
      else if (typeof v === 'bigint') out += `${v}n`;
      else if (typeof v === 'string') out += JSON.stringify(v.length > maxChars ? v.slice(0, maxChars) + '…' : v);
      else if (typeof v === 'symbol' || typeof v === 'function') out += typeof v === 'symbol' ? v.toString() : '[function]';
      else if (ArrayBuffer.isView(v)) out += `${Object.prototype.toString.call(v).slice(8, -1)}(${v.byteLength} bytes)`;
      else if (v instanceof ArrayBuffer) out += `ArrayBuffer(${v.byteLength} bytes)`;
      else if (typeof v === 'object') {
        if (seen.has(v)) {
          out += '[cycle]';
          continue;
        }
        seen.add(v);
        if (depth >= 6) {
          out += Array.isArray(v) ? '[…]' : '{…}';
          continue;
        }
        const isArr = Array.isArray(v);
        const entries: [string, unknown][] = isArr
          ? (v as unknown[]).slice(0, 20).map((x, i) => [String(i), x])
          : v instanceof Map
            ? [...v.entries()].slice(0, 20).map(([k, x]) => [safeString(k), x])
            : Object.keys(v).slice(0, 20).map((k) => [k, (v as Record<string, unknown>)[k]]);
        const total = isArr ? (v as unknown[]).length : v instanceof Map ? v.size : entries.length;
        const pieces: ({ v: unknown; depth: number } | string)[] = [isArr ? '[' : v instanceof Map ? 'Map{' : '{'];
        entries.forEach(([k, x], i) => {
          if (i > 0) pieces.push(',');
          if (!isArr) pieces.push(`${JSON.stringify(k.slice(0, 40))}:`);
          pieces.push({ v: x, depth: depth + 1 });
        });
        if (total > entries.length) pieces.push(',…');
        pieces.push(isArr ? ']' : '}');
        for (let i = pieces.length - 1; i >= 0; i--) todo.push(pieces[i]);
      } else out += safeString(v);
    }
    return capText(out + (todo.length > 0 ? '…' : ''), maxChars);
  } catch {
    return '[a value that cannot be described]';
  }
}

/**
 * About how many bytes `value` takes on the wire (numbers 8, strings their
 * length, typed arrays their byteLength); stops counting once it passes
 * `limit`, so it is cheap on a huge value and terminates on cyclic ones.
 * Iterative: nesting cannot exhaust the stack.
 */
export function approxBytes(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let total = 0;
  const todo: unknown[] = [value];
  while (todo.length > 0 && total <= limit) {
    const v = todo.pop();
    if (typeof v === 'string') total += v.length + 8;
    else if (v === null || typeof v !== 'object') total += 8;
    else if (ArrayBuffer.isView(v)) total += v.byteLength + 16;
    else if (v instanceof ArrayBuffer) total += v.byteLength + 16;
    else if (Array.isArray(v)) {
      total += 16;
      for (let i = 0; i < v.length && total <= limit; i++) {
        const x: unknown = v[i];
        if (x !== null && typeof x === 'object') todo.push(x);
        else total += typeof x === 'string' ? x.length + 8 : 8;
      }
    } else {
      total += 16;
      for (const k of Object.keys(v)) {
        total += k.length + 8;
        todo.push((v as Record<string, unknown>)[k]);
        if (total > limit) break;
      }
    }
  }
  return total;
}
