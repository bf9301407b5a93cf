// Full-backward DTD with the sampled root finders (fixtures README §8):
// Metropolis–Hastings (a random walk that stays in the input's local linear
// region) and interpolation (random directions to the region's edge). Each
// root is the candidate with the lowest upper relevance for its unit; roots
// are cached by local linear region (the activation pattern of the layers
// from the root's layer up), so every later evaluation in that region reuses
// them, which makes the upper relevance affine inside a region and cheap to
// evaluate for a whole batch of candidates at once. Sampled roots are
// constants (no gradient flows through the sampler), so the Jacobian of
// FB_l is diagonal: Σ_{k: R_k > 0} diag(g_k).
// Runs in float64 on typed arrays (see fullBackward.ts for why).

import { type CancelSignal, type InterpolationOptions, LIMITS, type MetropolisHastingsOptions, type Progress, quoteName, type RootCertificateInfo, type RootFinderName, type RootInfo, type RuleSpec, type TreeEntry } from '../protocol';
import { DtdError, throwIfCancelled } from './errors';
import type { DenseNetwork } from './network';
import { Rng } from './rng';
import { activateRows, activationSlope, forwardRows, layerRows, outputAt } from './forward';
import { inDomain, regionSignature, rootChecks, rootInRegion, sameGradient } from './checks';
import { describeConstraint, firstCrossing } from './region';
import { polytopeRoots, type RootCertificate } from './finders/polytope';
import { hitAndRunCandidates, type HitAndRunOptions } from './finders/hitAndRun';
import { metropolisHastingsCandidates } from './finders/metropolisHastings';
import { interpolationCandidates } from './finders/interpolation';
import { SampledFailure, type CandidateFinder } from './finders/common';

export interface SampledOptions {
  finder: Exclude<RootFinderName, 'linear'>;
  mh: MetropolisHastingsOptions;
  interpolation: InterpolationOptions;
  /** The finders' same-region search criterion (gradient isclose), for every sampled finder. */
  sameRegion: { rtol: number; atol: number };
  hitAndRun?: Partial<HitAndRunOptions>;
  /** Full-backward gradient nudge toward the input for roots on a region's boundary (polytope finder). */
  nudge?: number;
  seed: number;
  signal?: CancelSignal;
  onProgress?: (p: Progress) => void;
  maxTreeEntries: number;
  /** The most numbers the tree's entries hold together (default LIMITS.treeValues); past it the tree is truncated. */
  maxTreeValues?: number;
  inputNonNegative: boolean;
}

export interface SampledOutput {
  failure: { code: 'no-positive-relevance' | 'signed-input' | 'no-root'; message: string } | null;
  relevance: (number[] | null)[] | null;
  roots: RootInfo[][];
  contributions: Map<number, Float64Array>[];
  tree: TreeEntry[];
  treeTruncated: boolean;
  stats: Record<string, number>;
  cacheHits: number;
  cacheMisses: number;
  warnings: string[];
}

export interface UnitRoot {
  unit: number;
  root: Float64Array;
  /** ∂U_l(r)_j/∂r at the root. */
  grad: Float64Array;
  relevanceAtRoot: number;
  /** Polytope finder: why the root is where it is (an exact zero of the unit's relevance, or the constraint that stopped it). */
  certificate?: RootCertificate;
}

export interface RegionRoots {
  units: (UnitRoot | null)[];
  candidates: number;
  acceptFraction: number;
}

/** The sampling finders: each proposes candidate roots for a layer input; the lowest relevance per unit wins. (The polytope finder computes its roots exactly instead.) */
const CANDIDATE_FINDERS: Record<Exclude<RootFinderName, 'linear' | 'polytope'>, CandidateFinder> = {
  'metropolis-hastings': metropolisHastingsCandidates,
  interpolation: interpolationCandidates,
  'hit-and-run': hitAndRunCandidates,
};

export class SampledFullBackward {
  readonly L: number;
  private readonly cache = new Map<string, RegionRoots>();
  readonly rng: Rng;
  cacheHits = 0;
  cacheMisses = 0;
  private stats: Record<string, number> = {};
  private samplerCalls = 0;
  /** Numbers held by the tree entries recorded so far (bounded by maxTreeValues). */
  private treeValues = 0;

  constructor(
    readonly net: DenseNetwork,
    readonly rules: RuleSpec[],
    readonly row: number,
    readonly opts: SampledOptions,
  ) {
    this.L = net.layers.length;
    this.rng = new Rng(opts.seed);
  }

  readonly warnings: string[] = [];

  /** A warning for the result, once per text (finders call it). */
  warn(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
  }

  private bump(key: string, by = 1): void {
    this.stats[key] = (this.stats[key] ?? 0) + by;
  }

  /** The cache key of a single point: its activation region, and for the exact finders its piece. */
  cacheKey(l: number, a: Float64Array): string {
    const key = this.regionKeys(l, a, 1)[0];
    if (!this.cacheByPiece || l === this.L) return key;
    const u = this.U(l, a, 1);
    return u.usedKeys ? `${key}#${u.usedKeys[0]}` : key;
  }

  /** Activation pattern of layers l..L for each point of the batch, as strings. */
  regionKeys(l: number, P: Float64Array, B: number): string[] {
    const keys = new Array<string>(B).fill(`${l}:`);
    forwardRows(this.net, l, P, B).pre.forEach((Z, k) => {
      const m = this.net.layers[l - 1 + k].outFeatures;
      for (let s = 0; s < B; s++) {
        let bits = '';
        for (let j = 0; j < m; j++) bits += Z[s * m + j] > 0 ? '1' : '0';
        keys[s] += bits + '|';
      }
    });
    return keys;
  }

  /**
   * Gradient, at each point, of the sum of the network's (selected) outputs
   * computed from the input of layer l: the research code's region signature.
   */
  sliceGradient(l: number, P: Float64Array, B: number): Float64Array {
    const Zs = forwardRows(this.net, l, P, B).pre;
    const last = this.net.layers[this.L - 1];
    const sel = this.net.outputSelection ?? { start: 0, stop: last.outFeatures };
    let m = last.outFeatures;
    let G = new Float64Array(B * m);
    for (let s = 0; s < B; s++) for (let j = sel.start; j < sel.stop; j++) G[s * m + j] = 1;
    for (let k = this.L; k >= l; k--) {
      const layer = this.net.layers[k - 1];
      const Z = Zs[k - l];
      const n = layer.inFeatures;
      const next = new Float64Array(B * n);
      for (let s = 0; s < B; s++) {
        for (let j = 0; j < m; j++) {
          const gj = G[s * m + j] * activationSlope(layer, Z[s * m + j]);
          if (gj === 0) continue;
          const wj = j * n;
          for (let i = 0; i < n; i++) next[s * n + i] += gj * layer.weight[wj + i];
        }
      }
      G = next;
      m = n;
    }
    return G;
  }

  /** Per point: whether its slice gradient is close to the reference (the finders' search criterion, checks.ts sameGradient). */
  inRegion(l: number, ref: Float64Array, P: Float64Array, B: number): Uint8Array {
    const G = this.sliceGradient(l, P, B);
    const { rtol, atol } = this.opts.sameRegion;
    const ok = new Uint8Array(B);
    for (let s = 0; s < B; s++) ok[s] = sameGradient(ref, G, s, rtol, atol) ? 1 : 0;
    return ok;
  }

  /** Upper relevance U_l at a batch: [B, m] with m = n_l (l < L) or 1 (l = L, the explained row). NaN where undefined. */
  U(l: number, P: Float64Array, B: number): { values: Float64Array; m: number; diag: Float64Array | null; Z: Float64Array; usedKeys: string[] | null } {
    const layer = this.net.layers[l - 1];
    const Z = layerRows(this.net, l, P, B);
    if (l === this.L) {
      const m = layer.outFeatures;
      const v = new Float64Array(B);
      for (let s = 0; s < B; s++) {
        const z = Z[s * m + this.row];
        v[s] = layer.activation === 'relu' ? Math.max(z, 0) : z;
      }
      return { values: v, m: 1, diag: null, Z, usedKeys: null };
    }
    const H = activateRows(layer, Z);
    const fb = this.FB(l + 1, H, B, false);
    return { values: fb.values, m: layer.outFeatures, diag: fb.diag, Z, usedKeys: fb.usedKeys };
  }

  /**
   * The exact finders (polytope, hit-and-run) cache roots per piece on which
   * the upper relevance is affine: the activation region plus which units of
   * every layer above carry positive relevance at the point's images.
   */
  private get cacheByPiece(): boolean {
    return this.opts.finder === 'polytope' || this.opts.finder === 'hit-and-run';
  }

  /**
   * FB_l at a batch: Σ_{j: root, R_j > 0} g_j ⊙ (p − r_j). Returns values and
   * the diagonal Jacobian. Points where no unit contributes get NaN (the
   * research code raises there) unless `strict`, which throws.
   */
  FB(l: number, P: Float64Array, B: number, strict: boolean): { values: Float64Array; diag: Float64Array; usedKeys: string[] | null } {
    throwIfCancelled(this.opts.signal);
    const layer = this.net.layers[l - 1];
    const n = layer.inFeatures;
    const u = this.U(l, P, B);
    const keys = this.regionKeys(l, P, B);
    const byPiece = this.cacheByPiece;
    const usedKeys: string[] | null = byPiece ? new Array<string>(B) : null;
    if (byPiece) {
      for (let s = 0; s < B; s++) {
        let bits = '';
        for (let idx = 0; idx < u.m; idx++) bits += u.values[s * u.m + idx] > 0 ? '1' : '0';
        usedKeys![s] = bits + '/' + (u.usedKeys ? u.usedKeys[s] : '');
        if (u.usedKeys) keys[s] += '#' + u.usedKeys[s];
      }
    }
    const values = new Float64Array(B * n);
    const diag = new Float64Array(B * n);
    const groups = new Map<string, number[]>();
    keys.forEach((k, s) => {
      const g = groups.get(k);
      if (g) g.push(s);
      else groups.set(k, [s]);
    });
    for (const [key, members] of groups) {
      const roots = this.rootsFor(l, key, P.subarray(members[0] * n, (members[0] + 1) * n));
      for (const s of members) {
        let contributed = false;
        let anyRoot = false;
        for (let idx = 0; idx < roots.units.length; idx++) {
          const ur = roots.units[idx];
          if (!ur) continue;
          anyRoot = true;
          const R = u.values[s * u.m + idx];
          if (!(R > 0)) continue;
          contributed = true;
          for (let i = 0; i < n; i++) {
            values[s * n + i] += ur.grad[i] * (P[s * n + i] - ur.root[i]);
            diag[s * n + i] += ur.grad[i];
          }
        }
        if (!contributed) {
          const msg = anyRoot
            ? `At some point of the recursion no unit of ${quoteName(layer.name)} carries positive relevance, so full-backward has nothing to decompose there.`
            : `No unit of ${quoteName(layer.name)} has a sampled root.`;
          if (strict) throw new SampledFailure(anyRoot ? 'no-positive-relevance' : 'no-root', msg);
          for (let i = 0; i < n; i++) values[s * n + i] = NaN;
          this.bump('undefinedEvaluations');
        }
      }
    }
    return { values, diag, usedKeys };
  }

  /** The region's roots: sampled on a cache miss around point a, reused on a hit. */
  rootsFor(l: number, key: string, a: Float64Array): RegionRoots {
    const hit = this.cache.get(key);
    if (hit) {
      this.cacheHits++;
      return hit;
    }
    this.cacheMisses++;
    const layer = this.net.layers[l - 1];
    const n = layer.inFeatures;
    this.samplerCalls++;
    this.opts.onProgress?.({ stage: `Sampling roots for ${quoteName(layer.name)} (${this.opts.finder}, call ${this.samplerCalls})` });
    if (this.opts.finder === 'polytope') {
      // Exact: each unit's relevance is affine on the region's piece, so its root is a ratio test on the rule's line.
      const entry = polytopeRoots(this, l, a);
      this.cache.set(key, entry);
      this.bump(`${layer.name}.polytopeCalls`);
      return entry;
    }
    const { C, count, acceptFraction } = CANDIDATE_FINDERS[this.opts.finder](this, l, a);
    const u = this.U(l, C, count);
    const units: (UnitRoot | null)[] = [];
    for (let idx = 0; idx < u.m; idx++) {
      let best = -1;
      let bestV = Infinity;
      for (let c = 0; c < count; c++) {
        const v = u.values[c * u.m + idx];
        if (v < bestV) {
          bestV = v;
          best = c;
        }
      }
      if (best < 0) {
        units.push(null);
        continue;
      }
      const r = C.slice(best * n, (best + 1) * n);
      // ∂U_l(r)_j/∂r = W_l[j,:]·act'(z_j(r))·s_j, with s_j the diagonal of FB_{l+1}'s Jacobian (1 at the top).
      const j = l === this.L ? this.row : idx;
      const zj = u.Z[best * layer.outFeatures + j];
      const sj = u.diag ? u.diag[best * u.m + idx] : 1;
      const f = activationSlope(layer, zj) * sj;
      const grad = new Float64Array(n);
      for (let i = 0; i < n; i++) grad[i] = layer.weight[j * n + i] * f;
      units.push({ unit: j, root: r, grad, relevanceAtRoot: bestV });
    }
    if (this.opts.finder === 'metropolis-hastings' && acceptFraction === 0) {
      const signed = Array.from(a).some((v) => v < 0);
      this.warn(
        `Metropolis–Hastings accepted no proposal at ${quoteName(layer.name)}${signed && this.opts.mh.clampNonNegative ? ' (its input has negative entries and the sampler clamps to ≥ 0, which leaves the region)' : ''}: every root there is the input itself, so that layer passes no relevance down — as in the research code.`,
      );
    }
    const entry = { units, candidates: count, acceptFraction };
    this.cache.set(key, entry);
    this.bump(`${layer.name}.samplerCalls`);
    this.bump(`${layer.name}.candidates`, count);
    return entry;
  }

  /** Runs the decomposition at x: relevance per layer at the input's activations, the main-path roots and the root tree. */
  run(x: Float64Array): SampledOutput {
    this.treeValues = 0; // a sampler is reused across inputs (the audit): each run's tree has its own budget
    const L = this.L;
    const acts: Float64Array[] = [x];
    acts.push(...forwardRows(this.net, 1, x, 1).act.slice(1));
    const relevance: (number[] | null)[] = new Array(L + 1).fill(null);
    const roots: RootInfo[][] = Array.from({ length: L }, () => []);
    const contributions: Map<number, Float64Array>[] = Array.from({ length: L }, () => new Map());
    let failure: SampledOutput['failure'] = null;
    try {
      // Top layer first so the progress reads naturally; every FB below reuses the caches this fills.
      for (let l = L; l >= 1; l--) {
        const a = acts[l - 1];
        const fb = this.FB(l, a, 1, true);
        relevance[l - 1] = Array.from(fb.values);
        this.mainRoots(l, a, roots, contributions);
      }
    } catch (e) {
      if (!(e instanceof SampledFailure)) throw e;
      failure = { code: e.code, message: e.message };
    }
    const tree: TreeEntry[] = [];
    let truncated = false;
    if (!failure) truncated = this.walkTree(1, x, [], tree);
    for (const [k, v] of Object.entries({ samplerCalls: this.samplerCalls })) this.stats[k] = v;
    return { failure, relevance: failure ? null : relevance, roots, contributions, tree, treeTruncated: truncated, stats: this.stats, cacheHits: this.cacheHits, cacheMisses: this.cacheMisses, warnings: this.warnings };
  }

  private describeCertificate(c: RootCertificate): RootCertificateInfo {
    return { kind: c.kind, active: c.active ? describeConstraint(c.active, this.net.layers.map((x) => x.name)) : null, tZero: c.tZero, tMax: c.tMax };
  }

  /** What both the main-path roots and the tree walk need at a call input: its roots, upper relevance and region signature. */
  private callAt(l: number, a: Float64Array) {
    const layer = this.net.layers[l - 1];
    return { layer, n: layer.inFeatures, rr: this.rootsFor(l, this.cacheKey(l, a), a), u: this.U(l, a, 1), signature: regionSignature(this.net, l, a) };
  }

  private mainRoots(l: number, a: Float64Array, roots: RootInfo[][], contributions: Map<number, Float64Array>[]): void {
    const { n, rr, u, signature } = this.callAt(l, a);
    rr.units.forEach((ur, idx) => {
      const unit = l === this.L ? this.row : idx;
      const R = u.values[idx];
      if (!ur) {
        roots[l - 1].push({ layer: l, unit, hasRoot: false, root: null, relevanceAtInput: R, relevanceAtRoot: null, passedOn: 0, taylorResidual: null, distance: null, checks: null });
        return;
      }
      const rel = new Float64Array(n);
      let passed = 0, d2 = 0;
      for (let i = 0; i < n; i++) {
        rel[i] = R > 0 ? ur.grad[i] * (a[i] - ur.root[i]) : 0;
        passed += rel[i];
        d2 += (a[i] - ur.root[i]) ** 2;
      }
      if (R > 0) contributions[l - 1].set(unit, rel);
      roots[l - 1].push({
        layer: l,
        unit,
        hasRoot: true,
        root: Array.from(ur.root),
        relevanceAtInput: R,
        relevanceAtRoot: ur.relevanceAtRoot,
        passedOn: passed,
        taylorResidual: R > 0 ? R - ur.relevanceAtRoot - passed : null,
        distance: Math.sqrt(d2),
        checks: this.checksAt(l, a, signature, ur, R),
        ...(ur.certificate ? { certificate: this.describeCertificate(ur.certificate) } : {}),
      });
    });
  }

  /** The root tree in depth-first order: used roots (R_j > 0) and, below each, the roots used at its image. Returns whether it was truncated. */
  private walkTree(l: number, a: Float64Array, path: string[], tree: TreeEntry[]): boolean {
    const { layer, n, rr, u, signature } = this.callAt(l, a);
    let truncated = false;
    for (let idx = 0; idx < rr.units.length; idx++) {
      const ur = rr.units[idx];
      const R = u.values[idx];
      if (!ur || !(R > 0)) continue;
      const entryValues = 4 * n + layer.outFeatures; // root, input, relevance, gradient, upper relevance
      // The entries of the top call (the roots at the input itself) are always kept; deeper ones while the budget lasts.
      if (tree.length >= this.opts.maxTreeEntries || (path.length > 0 && this.treeValues + entryValues > (this.opts.maxTreeValues ?? LIMITS.treeValues))) return true;
      this.treeValues += entryValues;
      const label = l === this.L ? 0 : idx;
      const childPath = [...path, `layer${l}`, `root_${label}`];
      const rel = new Float64Array(n);
      let s = 0;
      for (let i = 0; i < n; i++) {
        rel[i] = ur.grad[i] * (a[i] - ur.root[i]);
        s += rel[i];
      }
      const z = this.net.layers[l - 1].bias[ur.unit] + ur.root.reduce((acc, v, i) => acc + v * layer.weight[ur.unit * n + i], 0);
      tree.push({
        layer: l,
        path: childPath,
        unit: label,
        root: Array.from(ur.root),
        input: Array.from(a),
        relevanceAtInput: R,
        relevance: Array.from(rel),
        passedOn: s,
        relevanceAtRoot: ur.relevanceAtRoot,
        taylorResidual: R - ur.relevanceAtRoot - s,
        gradient: Array.from(ur.grad),
        upperRelevance: Array.from(u.values),
        outputAtRoot: outputAt(this.net, l, ur.root, this.row),
        outputAtInput: outputAt(this.net, l, a, this.row),
        preActivationAtRoot: z,
        gradAtRootIsZero: ur.grad.every((g) => g === 0),
        checks: this.checksAt(l, a, signature, ur, R),
        ...(ur.certificate ? { certificate: this.describeCertificate(ur.certificate) } : {}),
      });
      if (l < this.L) {
        const h = activateRows(layer, layerRows(this.net, l, ur.root, 1));
        try {
          if (this.walkTree(l + 1, h, childPath, tree)) truncated = true;
        } catch (e) {
          if (!(e instanceof SampledFailure)) throw e;
        }
      }
      if (truncated && path.length > 0) return true; // the top call goes on: its own entries are always kept
    }
    return truncated;
  }

  /** The root checks (checks.ts) of a unit's root at call input a. */
  private checksAt(l: number, a: Float64Array, signature: Float64Array[], ur: UnitRoot, R: number) {
    const inRegion = rootInRegion(this.net, l, signature, ur.root, this.row);
    return rootChecks(ur.relevanceAtRoot, R, inRegion, inDomain(this.rules[l - 1], ur.root, l > 1 || this.opts.inputNonNegative), inRegion ? null : firstCrossing(this.net, l, a, ur.root, this.row));
  }
}

export function runSampledFullBackward(net: DenseNetwork, x: Float64Array, row: number, rules: RuleSpec[], opts: SampledOptions): SampledOutput {
  if (rules.some((r) => r.name === 'pinv')) throw new DtdError('bad-usage', 'The pinv layer rule is available for the train-free decomposition only.');
  return new SampledFullBackward(net, rules, row, opts).run(x);
}
