// The rule vocabulary: every rule's canonical name, the other spellings
// accepted for it, its parameter with its default, and the methods it applies
// to. One vocabulary for the engine, the command line, the settings, the
// results and the docs: the DTD names (z+, w2, x, gamma, zB, 0, pinv) and
// zennit's LRP-only rules (epsilon, alpha2beta1); zennit's spellings (zplus,
// wsquare, zbox, …) are aliases. The engine's half of each record — search
// direction, closed forms, LRP kernel — is engine/rules/registry.ts, keyed
// by these names (the compiler refuses a name without its kernels).

import type { METHODS } from './defaults';

type RuleMethod = (typeof METHODS)[number];

/** A rule's parameter: a number ≥ 0 (γ, ε) or the box [LOW, HIGH] of zB. */
export type RuleParam =
  | { kind: 'number'; key: 'gamma' | 'epsilon'; symbol: string; default: number }
  | { kind: 'box'; default: { low: number; high: number } };

export interface RuleInfo {
  /** Canonical name: what results, settings and the docs say. */
  readonly name: string;
  /** Other spellings the parser accepts (compared without case, '-', '_' and spaces). */
  readonly aliases: readonly string[];
  readonly param: RuleParam | null;
  /** Methods the rule applies to. */
  readonly methods: readonly RuleMethod[];
  /** One line for help texts and pickers. */
  readonly summary: string;
}

const ALL: readonly RuleMethod[] = ['train-free', 'full-backward', 'lrp'];
const DTD: readonly RuleMethod[] = ['train-free', 'full-backward'];
const GAMMA: RuleParam = { kind: 'number', key: 'gamma', symbol: 'γ', default: 0.25 };
const BOX: RuleParam = { kind: 'box', default: { low: 0, high: 1 } };

/** Every rule, in the order help texts list them. */
export const RULES = [
  { name: 'z+', aliases: ['zplus'], param: null, methods: ALL, summary: 'direction a ⊙ 1[w ≥ 0]: for ReLU inputs (≥ 0); conservative and positive (= LRP-α1β0 without biases)' },
  { name: 'w2', aliases: ['wsquare'], param: null, methods: ALL, summary: 'direction w: for unbounded inputs; roots may leave a ≥ 0 (LRP: w², independent of the input)' },
  { name: 'x', aliases: ['lrp0'], param: null, methods: ALL, summary: 'direction a (LRP-0): gradient × input when biases are 0' },
  { name: 'gamma', aliases: ['γ'], param: GAMMA, methods: ALL, summary: 'direction a ⊙ (1 + γ·1[w ≥ 0]): between x and z+ (LRP: zennit’s generalised γ)' },
  { name: 'zB', aliases: ['zbox', 'box'], param: BOX, methods: ALL, summary: 'box [LOW, HIGH] for pixel-like inputs: the root stays in the box (scalars or per channel "[l1 l2 l3],[h1 h2 h3]")' },
  { name: '0', aliases: ['origin'], param: null, methods: DTD, summary: 'the origin as root: kept for parity with the research code; not a valid DTD root' },
  { name: 'pinv', aliases: [], param: null, methods: ['train-free'], summary: 'layer rule: one root for the whole layer, a − pinv(W)·R' },
  { name: 'epsilon', aliases: ['eps', 'ε'], param: { kind: 'number', key: 'epsilon', symbol: 'ε', default: 1e-6 }, methods: ['lrp'], summary: 'ε rule: a ⊙ Wᵀ(R / (z + ε·sign z))' },
  { name: 'alpha2beta1', aliases: ['α2β1'], param: null, methods: ['lrp'], summary: 'α = 2, β = 1: twice the positive contributions minus the negative ones' },
] as const satisfies readonly RuleInfo[];

export type RuleName = (typeof RULES)[number]['name'];

/** A vocabulary entry with its name typed. */
export type KnownRule = RuleInfo & { readonly name: RuleName };

export const RULE_NAMES: readonly RuleName[] = RULES.map((r) => r.name);

/** A rule with its parameter, as results and options carry it. */
export interface RuleSpec {
  name: RuleName;
  /** γ for the gamma rule (default 0.25). */
  gamma?: number;
  /** ε for the epsilon rule (default 1e-6). */
  epsilon?: number;
  /** Box bounds for zB: a scalar, one value per input unit, or one per channel. */
  low?: number | number[];
  high?: number | number[];
  /**
   * Set by the engine, never parsed: the layer reads a hidden tensor that may be
   * negative (an add without a ReLU after it). z+ then searches along a⁺ where
   * w ≥ 0 and a⁻ where w < 0 (zennit's ZPlus), which is a ⊙ 1[w ≥ 0] whenever a ≥ 0.
   */
  splitSigns?: boolean;
}

/** How names compare: without case, '-', '_' and spaces ("Alpha2_Beta1" = "alpha2beta1", "LRP-0" = "lrp0"). */
export function normalizeRuleName(text: string): string {
  return text.trim().toLowerCase().replace(/[-_\s]/g, '');
}

/** The rule a name or alias stands for; undefined when none does. */
export function findRule(name: string): KnownRule | undefined {
  const key = normalizeRuleName(name);
  return (RULES as readonly KnownRule[]).find((r) => normalizeRuleName(r.name) === key || r.aliases.some((a) => normalizeRuleName(a) === key));
}

/** The rules of a method. */
export function rulesFor(method: RuleMethod): KnownRule[] {
  return (RULES as readonly KnownRule[]).filter((r) => r.methods.includes(method));
}

/** How a rule is written with its parameter spelled out, e.g. "gamma[=0.25]", "zB[=LOW,HIGH]". */
export function ruleUsage(r: RuleInfo): string {
  if (!r.param) return r.name;
  if (r.param.kind === 'box') return `${r.name}[=LOW,HIGH]`;
  const d = r.param.default;
  return `${r.name}[=${d !== 0 && Math.abs(d) < 1e-3 ? d.toExponential() : d}]`;
}

/**
 * zennit's named composites for LRP, by zennit's registered names: a rule per
 * layer type ("conv" covers convolutions and transposed convolutions, "dense"
 * fully connected layers), `first` for the first dense/conv layer. Layers
 * without a rule (pooling, joins, affine) pass relevance as they always do.
 * They use the bias (zennit's composites do not zero it).
 */
export const RULE_PRESETS: Readonly<Record<string, { conv: string; dense: string; first?: string; description: string }>> = {
  epsilon_plus: { conv: 'z+', dense: 'epsilon=1e-6', description: 'zennit EpsilonPlus: z+ on convolutions, ε = 1e-6 on dense layers' },
  epsilon_gamma_box: { conv: 'gamma=0.25', dense: 'epsilon=1e-6', first: 'zB', description: 'zennit EpsilonGammaBox: zB on the first layer, γ = 0.25 on convolutions, ε = 1e-6 on dense layers' },
  epsilon_alpha2_beta1: { conv: 'alpha2beta1', dense: 'epsilon=1e-6', description: 'zennit EpsilonAlpha2Beta1: α2β1 on convolutions, ε = 1e-6 on dense layers' },
};

export const RULE_PRESET_NAMES = Object.keys(RULE_PRESETS);
