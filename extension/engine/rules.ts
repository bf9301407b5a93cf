// DTD rules at one unit: the search direction v of a rule and the
// single-neuron root r = a − t·v with t = T / (v·w) (fixtures README §4.1).
// Every rule's behaviour comes from its record in rules/registry.ts; parsing
// rule text is rules/parse.ts. This module keeps the names other modules
// import (direction, singleNeuronRoot, resolveRules, …).

import { DtdError } from './errors';
import { dtdKernels, NO_ROOT_EPS } from './rules/registry';
import { parseRule as parseRuleText, parseRuleMap } from './rules/parse';
import { RULE_NAMES, type RuleSpec } from '../protocol';
import { layerInputs, nonNegativeTensors, type Network } from './network';

export { boundAt, DEFAULT_GAMMA, NO_ROOT_EPS, ruleRecord, RULE_REGISTRY } from './rules/registry';
export { checkRuleSpec, lookupRule, parseRuleMap, ruleToText, rulesHelp, type RuleLayer } from './rules/parse';
export { RULE_NAMES };

/** One rule from text for the DTD methods: "z+", "gamma=0.5", "zB=0,1", … (aliases such as "zplus" are accepted). */
export function parseRule(text: string): RuleSpec {
  return parseRuleText(text, 'train-free');
}

/**
 * A DTD rule for every layer. Text forms: "z+" (all layers) or
 * "layer1=zB=0,1;*=z+" (per layer by name or 1-based index, '*' for the rest).
 */
export function resolveRules(rule: string | RuleSpec | RuleSpec[] | undefined, nLayers: number, layerNames: string[]): RuleSpec[] {
  return parseRuleMap(rule, Array.from({ length: nLayers }, (_, i) => ({ name: layerNames[i] ?? `layer${i + 1}` })), 'train-free');
}

/** The search direction v for unit weights w at layer input a (length n). */
export function direction(rule: RuleSpec, w: ArrayLike<number>, a: ArrayLike<number>, out: Float64Array): Float64Array {
  const root = dtdKernels(rule.name).root;
  if (root.kind !== 'line') throw new DtdError('internal', `direction() called for rule ${rule.name}`);
  root.direction(rule, w, a, out);
  return out;
}

/** ∂v_i/∂a_i (the direction is elementwise in a); 0 for rules without a search line. */
export function directionDerivative(rule: RuleSpec, wi: number): number {
  const root = dtdKernels(rule.name).root;
  return root.kind === 'line' ? root.derivative(rule, wi) : 0;
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
  const root = dtdKernels(rule.name).root;
  if (root.kind === 'origin') return { root: new Float64Array(n), t: 0, d: 0, v: null };
  if (root.kind === 'layer') throw new DtdError('bad-usage', `The ${rule.name} rule is a layer rule: it has no single-neuron root.`);
  const v = new Float64Array(n);
  root.direction(rule, w, a, v);
  let d = 0;
  for (let i = 0; i < n; i++) d += v[i] * w[i];
  if (Math.abs(d) <= NO_ROOT_EPS) return { root: null, t: 0, d, v };
  let t = target / d;
  if (!Number.isFinite(t)) t = 0;
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) r[i] = a[i] - t * v[i];
  return { root: r, t, d, v };
}

const signedCache = new WeakMap<Network, boolean[]>();

/**
 * Layer l's DTD rule as the decomposition applies it: a layer that reads a
 * hidden tensor which may be negative gets `splitSigns` (z+ then follows
 * zennit's ZPlus there; RuleSpec.splitSigns). The one place this is decided.
 */
export function dtdRuleAt(net: Network, rules: readonly RuleSpec[], l: number): RuleSpec {
  let signed = signedCache.get(net);
  if (!signed) {
    const nonNeg = nonNegativeTensors(net);
    signed = net.layers.map((_, i) => {
      const t = layerInputs(net, i + 1)[0];
      return t > 0 && !nonNeg[t];
    });
    signedCache.set(net, signed);
  }
  const r = rules[l - 1];
  return signed[l - 1] && r.name === 'z+' ? { ...r, splitSigns: true } : r;
}

/** Whether layer l's input domain is ≥ 0: a hidden tensor that is ≥ 0 by construction, or the network input when it is. */
export function nonNegativeInputOf(net: Network, l: number, inputNonNegative: boolean): boolean {
  const t = layerInputs(net, l)[0];
  return t === 0 ? inputNonNegative : nonNegativeTensors(net)[t];
}
