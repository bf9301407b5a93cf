// Budgets before allocation: the checks every loader and input reader makes
// against the one table of limits (protocol/limits.ts) before a declared size
// reaches an allocation, and the translation of what slips through (a typed
// array V8 cannot allocate, a stack overflow) into one clear line naming the
// file instead of an "internal error" or a V8 abort.
//
//   checkJsonShape   nesting depth and container count of JSON text, before JSON.parse
//   checkElements    one tensor's declared value count, and the running total per model
//   allocFloat64     the same, then the Float64Array
//   checkDims        a declared shape: non-negative integers, each ≤ layerUnits, product ≤ tensorElements
//   resourceError    RangeError (allocation, stack) → DtdError naming the file
//   errorText        a message from anything thrown (jsfive throws strings)

import { DtdError, type DtdErrorCode, isDtdError } from './errors';
import { LIMITS } from '../protocol';

function display(fileName: string): string {
  const parts = fileName.split(/[\\/]/);
  return parts[parts.length - 1] || fileName;
}

/** A number for messages: 100000000 → "100 000 000". */
export function count(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ' ') : String(n);
}

/**
 * Scans JSON text for its nesting depth and its number of arrays/objects without
 * building anything, and throws `fail(problem)` past LIMITS.jsonDepth / jsonContainers.
 * Invalid JSON passes (JSON.parse reports it).
 */
export function checkJsonShape(text: string, fail: (problem: string) => Error, maxDepth: number = LIMITS.jsonDepth, maxContainers: number = LIMITS.jsonContainers): void {
  let depth = 0;
  let containers = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) throw fail(`its JSON is nested more than ${maxDepth} levels deep; refused (hostile or corrupt).`);
      if (++containers > maxContainers) throw fail(`its JSON holds more than ${count(maxContainers)} arrays and objects; refused (hostile or too large).`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** JSON.parse after checkJsonShape; `fail` names the file, `what` the document ("the sidecar"). */
export function parseJsonBounded(text: string, fail: (problem: string) => Error, what = 'it'): unknown {
  checkJsonShape(text, fail);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw fail(`${what} is not valid JSON (${errorText(e)}).`);
  }
}

// ── element budget ──────────────────────────────────────────────────────────

let scope: { used: number } | null = null;

/** Runs fn with a fresh per-model budget of LIMITS.modelElements decoded values (loadModel does). */
export function withElementBudget<T>(fn: () => T): T {
  const outer = scope;
  scope = { used: 0 };
  try {
    return fn();
  } finally {
    scope = outer;
  }
}

/** Checks that `n` values (one tensor) may be decoded: ≤ tensorElements, and within the model's running total. */
export function checkElements(n: number, what: string, fail: (problem: string) => Error): void {
  if (!Number.isSafeInteger(n) || n < 0) throw fail(`${what} has an invalid size (${n}).`);
  if (n > LIMITS.tensorElements) {
    throw fail(`${what} declares ${count(n)} values, more than the ${count(LIMITS.tensorElements)} DTD Lens reads in one tensor; refused before allocating.`);
  }
  if (scope) {
    if (scope.used + n > LIMITS.modelElements) {
      throw fail(`${what} would bring the values decoded for this model past ${count(LIMITS.modelElements)}; refused before allocating (the model is too large to explain, or hostile).`);
    }
    scope.used += n;
  }
}

/** checkElements, then the zero-filled array. */
export function allocFloat64(n: number, what: string, fail: (problem: string) => Error): Float64Array {
  checkElements(n, what, fail);
  return new Float64Array(n);
}

/**
 * A declared shape: every dimension a non-negative integer ≤ LIMITS.layerUnits (so a
 * [1e9, 0] tensor, 0 bytes of data, cannot declare a layer of 10⁹ units), and the
 * product ≤ LIMITS.tensorElements. Returns the product.
 */
export function checkDims(dims: readonly number[], what: string, fail: (problem: string) => Error): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw fail(`${what} has an invalid shape [${dims.slice(0, 8).join(', ')}${dims.length > 8 ? ', …' : ''}] (dimensions must be non-negative integers).`);
    if (d > LIMITS.layerUnits) {
      throw fail(`${what} has a dimension of ${count(d)}, more than the ${count(LIMITS.layerUnits)} units DTD Lens allows in one layer; refused before allocating.`);
    }
    n *= d;
  }
  if (n > LIMITS.tensorElements) {
    throw fail(`${what} has shape [${dims.join(', ')}] (${count(n)} values), more than the ${count(LIMITS.tensorElements)} DTD Lens reads in one tensor; refused before allocating.`);
  }
  return n;
}

// ── what slips through ─────────────────────────────────────────────────────

const ALLOCATION = /Array buffer allocation failed|Invalid array length|Invalid typed array length|Invalid string length|allocation failed|out of memory/i;
const STACK = /Maximum call stack size exceeded/;

/**
 * Turns a RangeError that a file provoked (an allocation V8 refused, a stack overflow in
 * a recursive parser) into a DtdError naming the file; other errors come back unchanged.
 */
export function resourceError(e: unknown, fileName: string, code: DtdErrorCode = 'bad-model'): unknown {
  if (isDtdError(e) || !(e instanceof RangeError)) return e;
  if (ALLOCATION.test(e.message)) {
    return new DtdError(code, `${display(fileName)}: the model needs more memory than the limit (${LIMITS.engineHeapMB / 1024} GB); refused.`, fileName);
  }
  if (STACK.test(e.message)) {
    return new DtdError(code, `${display(fileName)}: the file is nested too deeply to read; refused (hostile or corrupt).`, fileName);
  }
  return e;
}

/** A message from anything thrown: an Error's message, a thrown string (jsfive), never "undefined" or "[object Object]". */
export function errorText(e: unknown): string {
  let text: string;
  if (e instanceof Error) text = e.message || e.name;
  else if (typeof e === 'string') text = e;
  else if (typeof e === 'number' || typeof e === 'boolean' || typeof e === 'bigint') text = String(e);
  else text = 'an unexpected value was thrown';
  text = text.replace(/\s+/g, ' ').trim() || 'no details';
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** JSON of a value from a file, cut to `max` characters, for messages (JSON.stringify of a deep or huge value is neither). */
export function preview(v: unknown, max = 80): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = Array.isArray(v) ? 'an array' : typeof v;
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
