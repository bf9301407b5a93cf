// The rule registry: one record per rule, the vocabulary half from
// protocol/rules.ts (name, aliases, parameter, methods, summary) joined with
// the engine half below, which is everything a method does with the rule:
//   DTD  the root a unit's relevance expands around: on the line a − t·v with
//        the rule's search direction v(w, a) and its derivative ∂v_i/∂a_i
//        (single-unit roots, full-backward), the origin (rule 0), or one root
//        for the whole layer (pinv); and the train-free closed form, batched.
//   LRP  the rule's step through one linear layer as zennit 0.5.1 computes it
//        (fixtures README §7): zennit's input/param/output modifiers folded
//        into one closed form, with the stabiliser s(z) = z + ε·sign(z).
// The train-free and LRP closed forms of most rules are stated as terms
// coef·P ⊙ Fᵀ(V, C) (RelevanceTerm) and summed by sumTerms; the channel flows
// (crp.ts) contract the same terms channel by channel.
// Every caller dispatches through `ruleRecord(spec.name)`; adding a rule is one
// entry in each half (the compiler refuses a vocabulary name without kernels)
// and a test.

import { DtdError } from '../errors';
import type { Mat } from '../ops/ops';
import type { NetMats } from '../forward';
import { findRule, RULES, type KnownRule, type RuleName, type RuleSpec } from '../../protocol';

/** γ when a gamma rule names none. */
export const DEFAULT_GAMMA = 0.25;
/** |v·w| at or below this means the unit has no root (the research code's absolute threshold). */
export const NO_ROOT_EPS = 1e-5;
/** zennit's stabiliser ε in s(z) = z + ε·sign(z) (and the epsilon rule's default ε). */
export const LRP_STABILIZER = 1e-6;

/** An LRP rule: the rule and whether biases are left out (zennit's zero_params='bias'). */
export interface LrpRule extends RuleSpec {
  zeroBias: boolean;
}

/** Bound b at input unit i: a scalar or one value per unit. */
export function boundAt(b: number | number[] | undefined, i: number, dflt: number): number {
  if (b === undefined) return dflt;
  return Array.isArray(b) ? b[i] : b;
}

/** Where a DTD rule puts a unit's root. */
export type DtdRoot =
  | {
      kind: 'line';
      /** The search direction v for unit weights w at layer input a (writes `out`, length of a). */
      direction(rule: RuleSpec, w: ArrayLike<number>, a: ArrayLike<number>, out: Float64Array): void;
      /** ∂v_i/∂a_i (every direction is elementwise in a). */
      derivative(rule: RuleSpec, wi: number): number;
    }
  /** Rule 0: the origin, whatever the unit. */
  | { kind: 'origin' }
  /** pinv: one root for the whole layer, a − pinv(W)·R. */
  | { kind: 'layer' };

/** One layer of the train-free pass: layer l's input A [B, n], the relevance R [B, out] on its units. */
export interface TrainFreeStep<M extends Mat> {
  mats: NetMats<M>;
  l: number;
  A: M;
  R: M;
  rule: RuleSpec;
  /** The units that take part (the explained row on the last layer), null for all. */
  unitMask: M | null;
}
export interface TrainFreeOut<M extends Mat> {
  /** Relevance on the layer's input [B, n]. */
  relevance: M;
  /** v·w per unit [B, out] (null when every unit has its root: rules 0 and pinv). */
  denominator: M | null;
}

/** One linear layer of the LRP pass: input A, pre-activation Z, relevance R on its outputs. */
export interface LrpStep<M extends Mat> {
  mats: NetMats<M>;
  l: number;
  A: M;
  Z: M;
  R: M;
  rule: LrpRule;
}

/**
 * One term of a rule's step through a linear layer: coef · P ⊙ Fᵀ(V, C). Most
 * rules' R_in is a sum of such terms, with P a row of the layer's input side
 * (a, a⁺, a⁻, a bound; null for no factor), V a weight variant and C the
 * output relevance R times a row fixed by the forward pass (so C is linear,
 * and elementwise, in R). The channel flows of crp.ts contract the terms
 * channel by channel without forming R_in.
 */
export interface RelevanceTerm<M extends Mat> {
  P: M | null;
  V: M;
  C: M;
  /** 1 when absent. */
  coef?: number;
}

/** Σ_k coef_k · P_k ⊙ Fᵀ(V_k, C_k), accumulated in the terms' order. */
export function sumTerms<M extends Mat>(mats: NetMats<M>, l: number, terms: RelevanceTerm<M>[]): M {
  const { ops } = mats;
  let acc: M | null = null;
  for (const t of terms) {
    const back = mats.bwd(l, t.C, t.V);
    const v = t.P ? ops.mul(back, t.P) : back; // P may be a [1, n] row (a bound): the broadcast operand
    const coef = t.coef ?? 1;
    if (!acc) acc = coef === 1 ? v : ops.scale(v, coef);
    else if (coef === 1) acc = ops.add(acc, v);
    else if (coef === -1) acc = ops.sub(acc, v);
    else acc = ops.add(acc, ops.scale(v, coef));
  }
  if (!acc) throw new DtdError('internal', 'a rule step without terms');
  return acc;
}

/** A train-free step as terms, with its denominator. */
export interface TrainFreeTerms<M extends Mat> {
  terms: RelevanceTerm<M>[];
  denominator: M | null;
}

export interface RuleKernels {
  dtd?: {
    root: DtdRoot;
    /** The closed form R_in of train-free DTD for a batch. */
    trainFree<M extends Mat>(s: TrainFreeStep<M>): TrainFreeOut<M>;
    /** The same closed form as terms (trainFree sums them), where it has that form. */
    trainFreeTerms?<M extends Mat>(s: TrainFreeStep<M>): TrainFreeTerms<M>;
  };
  lrp?: {
    propagate<M extends Mat>(s: LrpStep<M>): M;
    /** The same step as terms (propagate sums them), where it has that form. */
    terms?<M extends Mat>(s: LrpStep<M>): RelevanceTerm<M>[];
    /** The biases cancel, so zero bias changes nothing (zB: zennit clamps the bias with the weights). */
    biasCancels?: boolean;
  };
}

export type RuleRecord = KnownRule & RuleKernels;

// ── DTD: train-free closed forms, C = R / (v·w), 0 where the unit has no root ──

/** A rule's train-free closed form from its terms. */
function trainFreeFromTerms(f: <M extends Mat>(s: TrainFreeStep<M>) => TrainFreeTerms<M>) {
  return {
    trainFreeTerms: f,
    trainFree: <M extends Mat>(s: TrainFreeStep<M>): TrainFreeOut<M> => {
      const { terms, denominator } = f(s);
      return { relevance: sumTerms(s.mats, s.l, terms), denominator };
    },
  };
}

/** A rule's LRP step from its terms. */
function lrpFromTerms(f: <M extends Mat>(s: LrpStep<M>) => RelevanceTerm<M>[]) {
  return { terms: f, propagate: <M extends Mat>(s: LrpStep<M>): M => sumTerms(s.mats, s.l, f(s)) };
}

/** R_in = a ⊙ (C·V) with v·w = F(a, V): z+ (V = W⁺), x (V = W), gamma (V = W + γW⁺). */
function trainFreeAlongA<M extends Mat>({ mats, l, A, R }: TrainFreeStep<M>, V: M): TrainFreeTerms<M> {
  const { ops } = mats;
  const D = mats.fwd(l, A, V);
  const C = ops.divOrZero(R, D, NO_ROOT_EPS);
  return { terms: [{ P: A, V, C }], denominator: D };
}

// ── LRP: zennit's rules on one linear layer ────────────────────────────────

/** The layer's bias and its parts, or nulls under zero bias. */
function lrpBias<M extends Mat>({ mats, l, rule }: LrpStep<M>) {
  const { ops } = mats;
  const b = rule.zeroBias ? null : mats.b(l);
  return { b, bp: b ? ops.positivePart(b) : null, bn: b ? ops.negativePart(b) : null };
}
function withBias<M extends Mat>(mats: NetMats<M>, m: M, bias: M | null): M {
  return bias ? mats.ops.add(m, bias) : m;
}

/** ε rule: a ⊙ Wᵀ(R / s_ε(z)). */
function lrpEpsilon<M extends Mat>(s: LrpStep<M>, epsilon: number): RelevanceTerm<M>[] {
  const { mats, l, A, R } = s;
  const { ops } = mats;
  const W = mats.W(l);
  // With its bias, z is the layer's pre-activation: the forward pass's Z (layerPre computes it as F(a, W) + b, the same
  // operations on the same a), reused rather than computed again (half the work of an ε step on a conv layer).
  const z = s.rule.zeroBias ? mats.fwd(l, A, W) : s.Z;
  const C = ops.divStabilized(R, z, epsilon);
  return [{ P: A, V: W, C }];
}

const KERNELS = {
  'z+': {
    dtd: {
      root: {
        kind: 'line',
        direction: (r, w, a, out) => {
          if (r.splitSigns) for (let i = 0; i < a.length; i++) out[i] = (w[i] >= 0) === (a[i] >= 0) ? a[i] : 0;
          else for (let i = 0; i < a.length; i++) out[i] = w[i] >= 0 ? a[i] : 0;
        },
        derivative: (_r, wi) => (wi >= 0 ? 1 : 0),
      },
      ...trainFreeFromTerms((s) => {
        if (!s.rule.splitSigns) return trainFreeAlongA(s, s.mats.Wpos(s.l));
        // A signed hidden input: v = a⁺ where w ≥ 0, a⁻ where w < 0 (zennit's ZPlus without bias).
        const { mats, l, A, R } = s;
        const { ops } = mats;
        const Wp = mats.Wpos(l), Wn = mats.Wneg(l);
        const Ap = ops.positivePart(A), An = ops.negativePart(A);
        const D = ops.add(mats.fwd(l, Ap, Wp), mats.fwd(l, An, Wn));
        const C = ops.divOrZero(R, D, NO_ROOT_EPS);
        return { terms: [{ P: Ap, V: Wp, C }, { P: An, V: Wn, C }], denominator: D };
      }),
    },
    lrp: lrpFromTerms((s) => {
      const { mats, l, A, R } = s;
      const { ops } = mats;
      const Wp = mats.Wpos(l), Wn = mats.Wneg(l);
      const { bp } = lrpBias(s);
      const Ap = ops.positivePart(A), An = ops.negativePart(A);
      const z = ops.add(withBias(mats, mats.fwd(l, Ap, Wp), bp), mats.fwd(l, An, Wn));
      const C = ops.divStabilized(R, z, LRP_STABILIZER);
      return [{ P: Ap, V: Wp, C }, { P: An, V: Wn, C }];
    }),
  },
  w2: {
    dtd: {
      root: {
        kind: 'line',
        direction: (_r, w, a, out) => {
          for (let i = 0; i < a.length; i++) out[i] = w[i];
        },
        derivative: () => 0,
      },
      ...trainFreeFromTerms(({ mats, l, A, R }) => {
        // v·w = Σ_i w_i², the same for every sample.
        const { ops } = mats;
        const rows = ops.matrix(A.rows, 1, new Float64Array(A.rows).fill(1));
        const D = ops.matmul(rows, mats.WsqRowSums(l), false);
        const C = ops.divOrZero(R, D, NO_ROOT_EPS);
        return { terms: [{ P: null, V: mats.Wsq(l), C }], denominator: D };
      }),
    },
    lrp: lrpFromTerms((s) => {
      const { mats, l, A, R } = s;
      const { ops } = mats;
      const { b } = lrpBias(s);
      const ones = ops.matrix(A.rows, A.cols, new Float64Array(A.rows * A.cols).fill(1));
      const z = withBias(mats, mats.fwd(l, ones, mats.Wsq(l)), b ? ops.mul(b, b) : null);
      const C = ops.divStabilized(R, z, LRP_STABILIZER);
      return [{ P: null, V: mats.Wsq(l), C }];
    }),
  },
  x: {
    dtd: {
      root: {
        kind: 'line',
        direction: (_r, _w, a, out) => {
          for (let i = 0; i < a.length; i++) out[i] = a[i];
        },
        derivative: () => 1,
      },
      ...trainFreeFromTerms((s) => trainFreeAlongA(s, s.mats.W(s.l))),
    },
    // LRP-0: the ε rule with nothing but the stabiliser.
    lrp: lrpFromTerms((s) => lrpEpsilon(s, LRP_STABILIZER)),
  },
  gamma: {
    dtd: {
      root: {
        kind: 'line',
        direction: (r, w, a, out) => {
          const g = r.gamma ?? DEFAULT_GAMMA;
          for (let i = 0; i < a.length; i++) out[i] = w[i] >= 0 ? a[i] * (1 + g) : a[i];
        },
        derivative: (r, wi) => (wi >= 0 ? 1 + (r.gamma ?? DEFAULT_GAMMA) : 1),
      },
      ...trainFreeFromTerms((s) => trainFreeAlongA(s, s.mats.Wgamma(s.l, s.rule.gamma ?? DEFAULT_GAMMA))),
    },
    lrp: lrpFromTerms((s) => {
      // zennit's generalised γ: W+γW⁺ / W+γW⁻ for the contributions that share z's sign; biases only on the a⁺ terms.
      // The branch is chosen by the sign of the real pre-activation Z (with bias), also for zero-bias.
      const { mats, l, A, Z, R, rule } = s;
      const { ops } = mats;
      const F = (U: typeof A, V: typeof A) => mats.fwd(l, U, V);
      const { b, bp, bn } = lrpBias(s);
      const Ap = ops.positivePart(A), An = ops.negativePart(A);
      const g = rule.gamma ?? DEFAULT_GAMMA;
      const Wgp = mats.Wgamma(l, g);
      const Wgn = mats.WgammaNeg(l, g);
      const bgp = b ? ops.add(b, ops.scale(bp!, g)) : null;
      const bgn = b ? ops.add(b, ops.scale(bn!, g)) : null;
      const zPos = ops.add(withBias(mats, F(Ap, Wgp), bgp), F(An, Wgn));
      const zNeg = ops.add(withBias(mats, F(Ap, Wgn), bgn), F(An, Wgp));
      const mPos = ops.stepPositive(Z);
      const mNeg = ops.stepPositive(ops.scale(Z, -1));
      const Cp = ops.mul(ops.divStabilized(R, zPos, LRP_STABILIZER), mPos);
      const Cn = ops.mul(ops.divStabilized(R, zNeg, LRP_STABILIZER), mNeg);
      return [
        { P: Ap, V: Wgp, C: Cp },
        { P: An, V: Wgn, C: Cp },
        { P: Ap, V: Wgn, C: Cn },
        { P: An, V: Wgp, C: Cn },
      ];
    }),
  },
  zB: {
    dtd: {
      root: {
        kind: 'line',
        direction: (r, w, a, out) => {
          for (let i = 0; i < a.length; i++) out[i] = a[i] - (w[i] >= 0 ? boundAt(r.low, i, 0) : boundAt(r.high, i, 1));
        },
        derivative: () => 1,
      },
      ...trainFreeFromTerms(({ mats, l, A, R, rule }) => {
        // R_in = a⊙(C·W) − l⊙(C·W⁺) − h⊙(C·W⁻)
        const { ops } = mats;
        const W = mats.W(l);
        const lo = mats.boundRow('low', l, rule);
        const hi = mats.boundRow('high', l, rule);
        const shift = ops.add(mats.fwd(l, lo, mats.Wpos(l)), mats.fwd(l, hi, mats.Wneg(l)));
        const D = ops.sub(mats.fwd(l, A, W), shift);
        const C = ops.divOrZero(R, D, NO_ROOT_EPS);
        return { terms: [{ P: A, V: W, C }, { P: lo, V: mats.Wpos(l), C, coef: -1 }, { P: hi, V: mats.Wneg(l), C, coef: -1 }], denominator: D };
      }),
    },
    lrp: {
      biasCancels: true,
      ...lrpFromTerms((s) => {
        const { mats, l, A, R, rule } = s;
        const { ops } = mats;
        const W = mats.W(l), Wp = mats.Wpos(l), Wn = mats.Wneg(l);
        const F = (U: typeof A, V: typeof A) => mats.fwd(l, U, V);
        const { b, bp, bn } = lrpBias(s);
        const lo = mats.boundRow('low', l, rule);
        const hi = mats.boundRow('high', l, rule);
        const ones = ops.matrix(A.rows, 1, new Float64Array(A.rows).fill(1));
        const L = ops.matmul(ones, lo, false), H = ops.matmul(ones, hi, false);
        // zennit clamps the bias with the weights: b − b⁺ − b⁻ = 0, so biases cancel. Padding is zero for l and h too.
        const z = ops.sub(ops.sub(withBias(mats, F(A, W), b), withBias(mats, F(L, Wp), bp)), withBias(mats, F(H, Wn), bn));
        const C = ops.divStabilized(R, z, LRP_STABILIZER);
        return [{ P: A, V: W, C }, { P: L, V: Wp, C, coef: -1 }, { P: H, V: Wn, C, coef: -1 }];
      }),
    },
  },
  '0': {
    dtd: {
      root: { kind: 'origin' },
      // R_in = a ⊙ (U·W), U = 1 on every participating unit (ignores R).
      trainFree: ({ mats, l, A, unitMask }) => {
        const { ops } = mats;
        const out = mats.layer(l).outFeatures;
        const U = unitMask ?? ops.matrix(A.rows, out, new Float64Array(A.rows * out).fill(1));
        return { relevance: ops.mul(A, mats.bwd(l, U, mats.W(l))), denominator: null };
      },
    },
  },
  pinv: {
    dtd: {
      root: { kind: 'layer' },
      // R_in = (1ᵀW) ⊙ (R·pinv(W)ᵀ)
      trainFree: ({ mats, l, R }) => {
        const { ops } = mats;
        const delta = ops.matmul(R, mats.pinvT(l), true);
        return { relevance: ops.mul(delta, mats.colSums(l)), denominator: null };
      },
    },
  },
  epsilon: {
    lrp: lrpFromTerms((s) => lrpEpsilon(s, s.rule.epsilon ?? LRP_STABILIZER)),
  },
  alpha2beta1: {
    lrp: lrpFromTerms((s) => {
      const { mats, l, A, R } = s;
      const { ops } = mats;
      const Wp = mats.Wpos(l), Wn = mats.Wneg(l);
      const F = (U: typeof A, V: typeof A) => mats.fwd(l, U, V);
      const { bp, bn } = lrpBias(s);
      const Ap = ops.positivePart(A), An = ops.negativePart(A);
      const zp = ops.add(withBias(mats, F(Ap, Wp), bp), F(An, Wn));
      const zn = ops.add(withBias(mats, F(Ap, Wn), bn), F(An, Wp));
      const Cp = ops.divStabilized(R, zp, LRP_STABILIZER);
      const Cn = ops.divStabilized(R, zn, LRP_STABILIZER);
      // 2·(positive contributions) − (negative ones)
      return [
        { P: Ap, V: Wp, C: Cp, coef: 2 },
        { P: An, V: Wn, C: Cp, coef: 2 },
        { P: Ap, V: Wn, C: Cn, coef: -1 },
        { P: An, V: Wp, C: Cn, coef: -1 },
      ];
    }),
  },
} satisfies Record<RuleName, RuleKernels>;

/** Every rule, vocabulary and kernels, in the vocabulary's order. */
export const RULE_REGISTRY: readonly RuleRecord[] = (RULES as readonly KnownRule[]).map((info) => ({ ...info, ...(KERNELS[info.name] as RuleKernels) }));

const BY_NAME = new Map<string, RuleRecord>(RULE_REGISTRY.map((r) => [r.name, r]));

/** The record of a rule by canonical name or alias (throws for a name no rule has: parsing should have caught it). */
export function ruleRecord(name: string): RuleRecord {
  const r = BY_NAME.get(name) ?? BY_NAME.get(findRule(name)?.name ?? '');
  if (!r) throw new DtdError('internal', `No rule named '${name}' in the registry.`);
  return r;
}

/** The DTD half of a rule (throws a bad-usage error for an LRP-only rule). */
export function dtdKernels(name: string): NonNullable<RuleKernels['dtd']> {
  const r = ruleRecord(name);
  if (!r.dtd) throw new DtdError('bad-usage', `Rule ${r.name} is an LRP rule (method lrp); the DTD methods have no root for it.`);
  return r.dtd;
}

/** The LRP half of a rule (throws a bad-usage error for a DTD-only rule). */
export function lrpKernels(name: string): NonNullable<RuleKernels['lrp']> {
  const r = ruleRecord(name);
  if (!r.lrp) throw new DtdError('bad-usage', `Rule ${r.name} has no LRP form (it applies to: ${r.methods.join(', ')}).`);
  return r.lrp;
}
