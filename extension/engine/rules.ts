// DTD rules: parsing the user's text, the search direction v of each rule and
// the single-neuron root r = a − t·v with t = T / (v·w) (fixtures README §4.1).

import { DtdError } from './errors';
import type { RuleName, RuleSpec } from '../protocol';

export const RULE_NAMES: RuleName[] = ['z+', 'w2', 'x', 'gamma', 'zB', '0', 'pinv'];
export const DEFAULT_GAMMA = 0.25;
/** |v·w| at or below this means the unit has no root (the research code's absolute threshold). */
export const NO_ROOT_EPS = 1e-5;

function parseNumberList(text: string, what: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  if (parts.some((p) => p === '') || nums.some((n) => !Number.isFinite(n))) {
    throw new DtdError('bad-usage', `Rule ${what}: '${text}' is not a list of numbers.`);
  }
  return nums;
}

/** Parses one rule: "z+", "w2", "x", "0", "pinv", "gamma", "gamma=0.5", "zB", "zB=0,1", "zB=l1,l2,..;h1,h2,.." is not supported (use two numbers). */
export function parseRule(text: string): RuleSpec {
  const t = text.trim();
  const eq = t.indexOf('=');
  const name = (eq < 0 ? t : t.slice(0, eq)).trim();
  const arg = eq < 0 ? null : t.slice(eq + 1).trim();
  const known = RULE_NAMES.find((r) => r.toLowerCase() === name.toLowerCase());
  if (!known) {
    throw new DtdError('bad-usage', `Unknown rule '${name}'. Known rules: ${RULE_NAMES.join(', ')} (e.g. "z+", "gamma=0.25", "zB=0,1", "layer1=zB=0,1;*=z+").`);
  }
  if (known === 'gamma') {
    const gamma = arg === null ? DEFAULT_GAMMA : Number(arg);
    if (!Number.isFinite(gamma) || gamma < 0) throw new DtdError('bad-usage', `Rule gamma: γ must be a number ≥ 0, got '${arg}'.`);
    return { name: 'gamma', gamma };
  }
  if (known === 'zB') {
    const [low, high] = arg === null ? [0, 1] : parseNumberList(arg, 'zB');
    if (low === undefined || high === undefined || !(low <= high)) {
      throw new DtdError('bad-usage', `Rule zB needs box bounds LOW,HIGH with LOW ≤ HIGH, e.g. "zB=0,1"; got '${arg}'.`);
    }
    return { name: 'zB', low, high };
  }
  if (arg !== null) throw new DtdError('bad-usage', `Rule ${known} takes no parameter (got '${t}').`);
  return { name: known };
}

/**
 * Parses a rule for every layer. Text forms: "z+" (all layers) or
 * "layer1=zB=0,1;*=z+" (per layer by 1-based name or index, '*' for the rest).
 */
export function resolveRules(rule: string | RuleSpec | RuleSpec[] | undefined, nLayers: number, layerNames: string[]): RuleSpec[] {
  if (rule === undefined) return Array.from({ length: nLayers }, () => ({ name: 'z+' as const }));
  if (Array.isArray(rule)) {
    if (rule.length !== nLayers) throw new DtdError('bad-usage', `${rule.length} rules given for ${nLayers} layers.`);
    return rule.map(validateSpec);
  }
  if (typeof rule !== 'string') return Array.from({ length: nLayers }, () => validateSpec(rule));
  const text = rule.trim();
  if (!text.includes(';') && !/^(\*|layer\d+|\d+)\s*=/i.test(text) && !layerNames.some((n) => text.startsWith(n + '='))) {
    const spec = parseRule(text);
    return Array.from({ length: nLayers }, () => spec);
  }
  const out: (RuleSpec | null)[] = Array.from({ length: nLayers }, () => null);
  let fallback: RuleSpec | null = null;
  for (const part of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new DtdError('bad-usage', `Per-layer rule '${part}' must look like layer1=z+ or *=z+.`);
    const key = part.slice(0, eq).trim();
    const spec = parseRule(part.slice(eq + 1));
    if (key === '*') {
      fallback = spec;
      continue;
    }
    let idx = layerNames.indexOf(key);
    const m = /^layer(\d+)$/i.exec(key) ?? /^(\d+)$/.exec(key);
    if (idx < 0 && m) idx = Number(m[1]) - 1;
    if (idx < 0 || idx >= nLayers) throw new DtdError('bad-usage', `Per-layer rule names '${key}', but the network's layers are ${layerNames.join(', ')} (or layer1..layer${nLayers}).`);
    out[idx] = spec;
  }
  return out.map((s, i) => {
    const r = s ?? fallback;
    if (!r) throw new DtdError('bad-usage', `No rule for ${layerNames[i]}: add '*=z+' (or another rule) for the remaining layers.`);
    return r;
  });
}

function validateSpec(s: RuleSpec): RuleSpec {
  if (!RULE_NAMES.includes(s.name)) throw new DtdError('bad-usage', `Unknown rule '${String(s.name)}'. Known rules: ${RULE_NAMES.join(', ')}.`);
  return s;
}

export function ruleToText(s: RuleSpec): string {
  if (s.name === 'gamma') return `gamma=${s.gamma ?? DEFAULT_GAMMA}`;
  if (s.name === 'zB') return `zB=${fmtBound(s.low ?? 0)},${fmtBound(s.high ?? 1)}`;
  return s.name;
}
function fmtBound(b: number | number[]): string {
  return Array.isArray(b) ? `[${b.join(' ')}]` : String(b);
}

export function boundAt(b: number | number[] | undefined, i: number, dflt: number): number {
  if (b === undefined) return dflt;
  return Array.isArray(b) ? b[i] : b;
}

/** The search direction v for unit weights w at layer input a (length n). */
export function direction(rule: RuleSpec, w: ArrayLike<number>, a: ArrayLike<number>, out: Float64Array): Float64Array {
  const n = a.length;
  switch (rule.name) {
    case 'z+':
      for (let i = 0; i < n; i++) out[i] = w[i] >= 0 ? a[i] : 0;
      break;
    case 'w2':
      for (let i = 0; i < n; i++) out[i] = w[i];
      break;
    case 'x':
      for (let i = 0; i < n; i++) out[i] = a[i];
      break;
    case 'gamma': {
      const g = rule.gamma ?? DEFAULT_GAMMA;
      for (let i = 0; i < n; i++) out[i] = w[i] >= 0 ? a[i] * (1 + g) : a[i];
      break;
    }
    case 'zB':
      for (let i = 0; i < n; i++) out[i] = a[i] - (w[i] >= 0 ? boundAt(rule.low, i, 0) : boundAt(rule.high, i, 1));
      break;
    default:
      throw new DtdError('internal', `direction() called for rule ${rule.name}`);
  }
  return out;
}

/** ∂v_i/∂a_i (the direction is elementwise in a). */
export function directionDerivative(rule: RuleSpec, wi: number): number {
  switch (rule.name) {
    case 'z+':
      return wi >= 0 ? 1 : 0;
    case 'w2':
      return 0;
    case 'x':
    case 'zB':
      return 1;
    case 'gamma':
      return wi >= 0 ? 1 + (rule.gamma ?? DEFAULT_GAMMA) : 1;
    default:
      return 0;
  }
}

export interface SingleRoot {
  root: Float64Array | null;
  /** t and d = v·w, for differentiating through the root. */
  t: number;
  d: number;
  v: Float64Array | null;
}

/**
 * Root of unit with weights w (bias b) at layer input a for target T
 * (T = z_j when no relevance is given). Rule "0" gives the zero vector.
 */
export function singleNeuronRoot(rule: RuleSpec, w: ArrayLike<number>, a: ArrayLike<number>, target: number): SingleRoot {
  const n = a.length;
  if (rule.name === '0') return { root: new Float64Array(n), t: 0, d: 0, v: null };
  if (rule.name === 'pinv') throw new DtdError('bad-usage', 'The pinv rule is a layer rule: it has no single-neuron root.');
  const v = direction(rule, w, a, new Float64Array(n));
  let d = 0;
  for (let i = 0; i < n; i++) d += v[i] * w[i];
  if (Math.abs(d) <= NO_ROOT_EPS) return { root: null, t: 0, d, v };
  let t = target / d;
  if (!Number.isFinite(t)) t = 0;
  const root = new Float64Array(n);
  for (let i = 0; i < n; i++) root[i] = a[i] - t * v[i];
  return { root, t, d, v };
}

