// Baselines carried in every result so users can compare DTD with what they
// know: the gradient, gradient×input and LRP rules exactly as the LRP library
// zennit 0.5.1 computes them (fixtures README §7): relevance starts as
// one-hot(row)·output, ReLUs pass the ordinary gradient (0 where z ≤ 0), and
// each linear layer applies one rule with the stabiliser s(z) = z + ε·sign(z),
// sign(0) = +1, ε = 1e-6. Batched over inputs through the Ops interface.
// Conv layers use the same formulas through their forward map and its
// transpose (layers.ts); max pooling passes the gradient (first maximum of a
// window), average pooling zennit's proportional Norm rule
// R_in = a ⊙ Pᵀ(R / s(P a)) (fixtures CONV.md §4).

import { DtdError } from './errors';
import { poolGeom } from './layers';
import { firstWeightedLayer, type Network } from './network';
import type { Mat } from './ops/ops';
import { forwardBatch, type NetMats } from './forward';

export const LRP_STABILIZER = 1e-6;

export type LrpRuleName = 'zplus' | 'epsilon' | 'gamma' | 'alpha2beta1' | 'wsquare' | 'zbox';

export interface LrpRule {
  name: LrpRuleName;
  zeroBias: boolean;
  epsilon?: number;
  gamma?: number;
  low?: number | number[];
  high?: number | number[];
}

/** The fixtures' zennit keys and the rule each stands for. */
export const LRP_BASELINES: Record<string, LrpRule> = {
  zplus_zero_bias: { name: 'zplus', zeroBias: true },
  zplus: { name: 'zplus', zeroBias: false },
  'epsilon_1e-6': { name: 'epsilon', zeroBias: false, epsilon: 1e-6 },
  'epsilon_1e-6_zero_bias': { name: 'epsilon', zeroBias: true, epsilon: 1e-6 },
  'gamma_0.25': { name: 'gamma', zeroBias: false, gamma: 0.25 },
  'gamma_0.25_zero_bias': { name: 'gamma', zeroBias: true, gamma: 0.25 },
  alpha2_beta1: { name: 'alpha2beta1', zeroBias: false },
  wsquare_zero_bias: { name: 'wsquare', zeroBias: true },
};

/** zennit's SpecialFirstLayerMapComposite keys: a rule on the first dense/conv layer, zero-bias z⁺ on the others. */
export const LRP_FIRST_LAYER_BASELINES: Record<string, LrpRule> = {
  wsquare_zplus_zero_bias: { name: 'wsquare', zeroBias: true },
};

/** The rule list for "first dense/conv layer gets `first`, every other layer zero-bias z⁺". */
export function firstLayerRules(net: Network, first: LrpRule): LrpRule[] {
  const f = firstWeightedLayer(net);
  return net.layers.map((_, i) => (i + 1 === f ? first : { name: 'zplus', zeroBias: true }));
}

export interface LrpOutput<M extends Mat> {
  /** relevance[l] [B, n_l]: index 0 = input, index L = the start relevance on the last layer. */
  relevance: M[];
}

/**
 * LRP for a batch X [B, n0] explaining last-layer row `row`. `rules[l-1]`
 * is the rule of layer l (one rule for all layers is the common case).
 */
export function lrpBatch<M extends Mat>(mats: NetMats<M>, X: M, row: number, rules: LrpRule[]): LrpOutput<M> {
  const { ops, net } = mats;
  const L = net.layers.length;
  const fwd = forwardBatch(mats, X);
  const B = X.rows;
  const nL = net.layers[L - 1].outFeatures;
  const onehot = new Float64Array(B * nL);
  const top = ops.read(fwd.act[L]);
  for (let s = 0; s < B; s++) onehot[s * nL + row] = top[s * nL + row];
  const relevance: M[] = new Array(L + 1);
  relevance[L] = ops.matrix(B, nL, onehot);
  let R = relevance[L];
  for (let l = L; l >= 1; l--) {
    const layer = net.layers[l - 1];
    // The ReLU after layer l passes relevance where z > 0.
    if (layer.activation === 'relu') R = ops.mul(R, ops.stepPositive(fwd.pre[l - 1]));
    if (layer.kind === 'maxpool2d') R = ops.maxPool2dBackward(R, fwd.act[l - 1], poolGeom(layer));
    else if (layer.kind === 'avgpool2d') R = ops.mul(fwd.act[l - 1], mats.bwd(l, ops.divStabilized(R, fwd.pre[l - 1], LRP_STABILIZER), null));
    else R = lrpLinear(mats, l, fwd.act[l - 1], fwd.pre[l - 1], R, rules[l - 1]);
    relevance[l - 1] = R;
  }
  return { relevance };
}

function lrpLinear<M extends Mat>(mats: NetMats<M>, l: number, A: M, Z: M, R: M, rule: LrpRule): M {
  const { ops } = mats;
  const eps = LRP_STABILIZER;
  const W = mats.W(l), Wp = mats.Wpos(l), Wn = mats.Wneg(l);
  const F = (U: M, V: M) => mats.fwd(l, U, V);
  const T = (G: M, V: M) => mats.bwd(l, G, V);
  const b = rule.zeroBias ? null : mats.b(l);
  const bp = b ? ops.positivePart(b) : null;
  const bn = b ? ops.negativePart(b) : null;
  const withBias = (m: M, bias: M | null) => (bias ? ops.add(m, bias) : m);
  const Ap = ops.positivePart(A), An = ops.negativePart(A);
  switch (rule.name) {
    case 'epsilon': {
      const z = withBias(F(A, W), b);
      const C = ops.divStabilized(R, z, rule.epsilon ?? eps);
      return ops.mul(A, T(C, W));
    }
    case 'zplus': {
      const z = ops.add(withBias(F(Ap, Wp), bp), F(An, Wn));
      const C = ops.divStabilized(R, z, eps);
      return ops.add(ops.mul(Ap, T(C, Wp)), ops.mul(An, T(C, Wn)));
    }
    case 'alpha2beta1': {
      const zp = ops.add(withBias(F(Ap, Wp), bp), F(An, Wn));
      const zn = ops.add(withBias(F(Ap, Wn), bn), F(An, Wp));
      const Cp = ops.divStabilized(R, zp, eps);
      const Cn = ops.divStabilized(R, zn, eps);
      const pos = ops.add(ops.mul(Ap, T(Cp, Wp)), ops.mul(An, T(Cp, Wn)));
      const neg = ops.add(ops.mul(Ap, T(Cn, Wn)), ops.mul(An, T(Cn, Wp)));
      return ops.sub(ops.scale(pos, 2), neg);
    }
    case 'gamma': {
      // zennit's generalised γ: W+γW⁺ / W+γW⁻ for the contributions that share z's sign; biases only on the a⁺ terms.
      // The branch is chosen by the sign of the real pre-activation Z (with bias), also for zero-bias.
      const g = rule.gamma ?? 0.25;
      const Wgp = mats.Wgamma(l, g);
      const Wgn = mats.WgammaNeg(l, g);
      const bgp = b ? ops.add(b, ops.scale(bp!, g)) : null;
      const bgn = b ? ops.add(b, ops.scale(bn!, g)) : null;
      const zPos = ops.add(withBias(F(Ap, Wgp), bgp), F(An, Wgn));
      const zNeg = ops.add(withBias(F(Ap, Wgn), bgn), F(An, Wgp));
      const mPos = ops.stepPositive(Z);
      const mNeg = ops.stepPositive(ops.scale(Z, -1));
      const Cp = ops.mul(ops.divStabilized(R, zPos, eps), mPos);
      const Cn = ops.mul(ops.divStabilized(R, zNeg, eps), mNeg);
      return ops.add(ops.add(ops.mul(Ap, T(Cp, Wgp)), ops.mul(An, T(Cp, Wgn))), ops.add(ops.mul(Ap, T(Cn, Wgn)), ops.mul(An, T(Cn, Wgp))));
    }
    case 'wsquare': {
      const ones = ops.matrix(A.rows, A.cols, new Float64Array(A.rows * A.cols).fill(1));
      const z = withBias(F(ones, mats.Wsq(l)), b ? ops.mul(b, b) : null);
      const C = ops.divStabilized(R, z, eps);
      return T(C, mats.Wsq(l));
    }
    case 'zbox': {
      const lo = mats.boundRow('low', l, { name: 'zB', low: rule.low, high: rule.high });
      const hi = mats.boundRow('high', l, { name: 'zB', low: rule.low, high: rule.high });
      const ones = ops.matrix(A.rows, 1, new Float64Array(A.rows).fill(1));
      const L = ops.matmul(ones, lo, false), H = ops.matmul(ones, hi, false);
      // zennit clamps the bias with the weights: b − b⁺ − b⁻ = 0, so biases cancel. Padding is zero for l and h too.
      const z = ops.sub(ops.sub(withBias(F(A, W), b), withBias(F(L, Wp), bp)), withBias(F(H, Wn), bn));
      const C = ops.divStabilized(R, z, eps);
      return ops.sub(ops.sub(ops.mul(A, T(C, W)), ops.mul(L, T(C, Wp))), ops.mul(H, T(C, Wn)));
    }
  }
}

/** Gradient of last-layer row `row` w.r.t. the input, batched. */
export function gradientBatch<M extends Mat>(mats: NetMats<M>, X: M, row: number): M {
  const { ops, net } = mats;
  const L = net.layers.length;
  const fwd = forwardBatch(mats, X);
  const nL = net.layers[L - 1].outFeatures;
  const c = new Float64Array(X.rows * nL);
  for (let s = 0; s < X.rows; s++) c[s * nL + row] = 1;
  let G = ops.matrix(X.rows, nL, c);
  for (let l = L; l >= 1; l--) {
    const layer = net.layers[l - 1];
    if (layer.activation === 'relu') G = ops.mul(G, ops.stepPositive(fwd.pre[l - 1]));
    if (layer.kind === 'maxpool2d') G = ops.maxPool2dBackward(G, fwd.act[l - 1], poolGeom(layer));
    else G = mats.bwd(l, G, layer.kind === 'avgpool2d' ? null : mats.W(l));
  }
  return G;
}

export function lrpRulesFor(net: Network, rule: LrpRule | LrpRule[]): LrpRule[] {
  return Array.isArray(rule) ? rule : net.layers.map(() => rule);
}

// ── the LRP method: rule text ───────────────────────────────────────────────

const LRP_NAMES: Record<string, LrpRuleName> = { zplus: 'zplus', epsilon: 'epsilon', gamma: 'gamma', alpha2beta1: 'alpha2beta1', wsquare: 'wsquare', zbox: 'zbox' };

function lrpBounds(text: string, rule: string): [number | number[], number | number[]] {
  const bad = () => new DtdError('bad-usage', `LRP rule ${rule}: bounds must be LOW,HIGH (e.g. "zbox=0,1") or per channel "zbox=[l1 l2 l3],[h1 h2 h3]"; got '${text}'.`);
  const one = (t: string): number | number[] => {
    const s = t.trim();
    if (s.startsWith('[') && s.endsWith(']')) {
      const v = s.slice(1, -1).trim().split(/[\s,]+/).filter(Boolean).map(Number);
      if (!v.length || v.some((n) => !Number.isFinite(n))) throw bad();
      return v;
    }
    const n = s === '' ? NaN : Number(s);
    if (!Number.isFinite(n)) throw bad();
    return n;
  };
  const m = /^\s*(\[[^\]]*\]|[^,[\]]+)\s*,\s*(\[[^\]]*\]|[^,[\]]+)\s*$/.exec(text);
  if (!m) throw bad();
  const low = one(m[1]), high = one(m[2]);
  const lows = Array.isArray(low) ? low : [low], highs = Array.isArray(high) ? high : [high];
  if (Array.isArray(low) && Array.isArray(high) && low.length !== high.length) throw bad();
  for (let i = 0; i < Math.max(lows.length, highs.length); i++) {
    if (!(lows[Math.min(i, lows.length - 1)] <= highs[Math.min(i, highs.length - 1)])) throw bad();
  }
  return [low, high];
}

/** One LRP rule from text: zplus | epsilon[=E] | gamma[=G] | alpha2beta1 | wsquare | zbox=LOW,HIGH. */
export function parseLrpRule(text: string, zeroBias: boolean): LrpRule {
  const t = text.trim();
  const eq = t.indexOf('=');
  const key = (eq < 0 ? t : t.slice(0, eq)).trim().toLowerCase().replace(/[-_ ]/g, '');
  const arg = eq < 0 ? null : t.slice(eq + 1).trim();
  const name = LRP_NAMES[key];
  if (!name) {
    throw new DtdError('bad-usage', `Unknown LRP rule '${t}'. LRP rules: zplus, epsilon[=1e-6], gamma[=0.25], alpha2beta1, wsquare, zbox=LOW,HIGH (e.g. "layer1=zbox=0,1;*=zplus").`);
  }
  const num = (what: string, dflt: number) => {
    if (arg === null) return dflt;
    const v = Number(arg);
    if (arg === '' || !Number.isFinite(v) || v < 0) throw new DtdError('bad-usage', `LRP rule ${name}: ${what} must be a number ≥ 0, got '${arg}'.`);
    return v;
  };
  switch (name) {
    case 'epsilon':
      return { name, zeroBias, epsilon: num('ε', LRP_STABILIZER) };
    case 'gamma':
      return { name, zeroBias, gamma: num('γ', 0.25) };
    case 'zbox': {
      const [low, high] = arg === null ? [0, 1] : lrpBounds(arg, name);
      return { name, zeroBias, low, high };
    }
    default:
      if (arg !== null) throw new DtdError('bad-usage', `LRP rule ${name} takes no parameter (got '${t}').`);
      return { name, zeroBias };
  }
}

/** LRP rules for every layer from text: one rule, or per layer "layer1=zbox=0,1;*=zplus" (names or 1-based indices). */
export function resolveLrpRules(text: string | undefined, net: Network, zeroBias: boolean): LrpRule[] {
  const n = net.layers.length;
  const names = net.layers.map((l) => l.name);
  const t = (text ?? 'zplus').trim();
  if (!t.includes(';') && !/^(\*|layer\d+|\d+)\s*=/i.test(t) && !names.some((nm) => t.startsWith(nm + '='))) {
    const r = parseLrpRule(t, zeroBias);
    return names.map(() => r);
  }
  const out: (LrpRule | null)[] = names.map(() => null);
  let fallback: LrpRule | null = null;
  for (const part of t.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new DtdError('bad-usage', `Per-layer LRP rule '${part}' must look like layer1=zbox=0,1 or *=zplus.`);
    const key = part.slice(0, eq).trim();
    const r = parseLrpRule(part.slice(eq + 1), zeroBias);
    if (key === '*') {
      fallback = r;
      continue;
    }
    let idx = names.indexOf(key);
    const m = /^layer(\d+)$/i.exec(key) ?? /^(\d+)$/.exec(key);
    if (idx < 0 && m) idx = Number(m[1]) - 1;
    if (idx < 0 || idx >= n) throw new DtdError('bad-usage', `Per-layer LRP rule names '${key}', but the network's layers are ${names.join(', ')} (or layer1..layer${n}).`);
    out[idx] = r;
  }
  return out.map((r, i) => {
    const rule = r ?? fallback;
    if (!rule) {
      // Pooling layers take no rule; anything will do.
      if (net.layers[i].kind === 'maxpool2d' || net.layers[i].kind === 'avgpool2d') return { name: 'zplus', zeroBias };
      throw new DtdError('bad-usage', `No LRP rule for ${names[i]}: add '*=zplus' (or another rule) for the remaining layers.`);
    }
    return rule;
  });
}

/** Text of a layer's LRP rule as the result reports it (pooling layers say what they do instead). */
export function lrpRuleText(rule: LrpRule, layer: Network['layers'][number]): string {
  if (layer.kind === 'maxpool2d') return 'max pool: winner takes all';
  if (layer.kind === 'avgpool2d') return 'avg pool: proportional (Norm)';
  const fmt = (b: number | number[] | undefined, d: number) => (Array.isArray(b) ? `[${b.join(' ')}]` : String(b ?? d));
  const base =
    rule.name === 'epsilon' ? `epsilon=${rule.epsilon ?? LRP_STABILIZER}` : rule.name === 'gamma' ? `gamma=${rule.gamma ?? 0.25}` : rule.name === 'zbox' ? `zbox=${fmt(rule.low, 0)},${fmt(rule.high, 1)}` : rule.name;
  return rule.zeroBias && rule.name !== 'zbox' && rule.name !== 'wsquare' ? `${base} (zero bias)` : base;
}
