// Full-backward DTD with the linear root finder (fixtures README §6), exact
// float64, one point at a time: the upper relevance is the real function the
// layers above compute, so each root re-runs the decomposition above it and
// the gradient is taken there. Outer layers differentiate through the root
// construction of inner ones, so every evaluation returns its Jacobian.
//   U_L(a) = [act(w_row·a + b_row)]
//   U_l(a) = FB_{l+1}(act(W_l a + b_l))
//   FB_l(a) = Σ_{j: root exists, R_j > 0} ∇U_l(r_j)_j ⊙ (a − r_j),  R = U_l(a)
// This path deliberately stays on typed float64 arrays instead of the Ops
// interface: the recursion evaluates tens of thousands of tiny (10-wide)
// products, where a tensor backend's per-op overhead would dominate and
// float32 rounding decides the side of a hinge.

import { DtdError, throwIfCancelled } from './errors';
import { activateRows, activationSlope, affine, dot, outputAt, sum } from './forward';
import { inDomain, regionSignature, rootChecks, rootInRegion } from './checks';
import type { DenseNetwork } from './network';
import { directionDerivative, singleNeuronRoot } from './rules';
import { firstCrossing } from './region';
import { type CancelSignal, LIMITS, quoteName, type RootInfo, type RuleSpec, type TreeEntry } from '../protocol';

export class DecompositionFailure extends Error {
  constructor(
    readonly code: 'no-root' | 'no-positive-relevance',
    message: string,
  ) {
    super(message);
  }
}

/** The estimated number of relevance evaluations (fixtures: C(L) = 3, C(l) = (2 + n_l)·C(l+1)). */
export function fullBackwardCost(net: DenseNetwork): number {
  let c = 3;
  for (let l = net.layers.length - 1; l >= 1; l--) c *= 2 + net.layers[l - 1].outFeatures;
  return c;
}

interface Eval {
  value: Float64Array;
  /** Row-major Jacobian: all rows [value.length, input length] for mode 'all', one row for a row index; null for 'none'. */
  jac: Float64Array | null;
}

/** Which Jacobian rows an evaluation must return: none, all, or a single row (the root's own unit). */
type JacMode = 'none' | 'all' | number;

export interface FullBackwardOptions {
  nudge: number;
  maxTreeEntries: number;
  /** The most numbers the tree's entries hold together (default LIMITS.treeValues); past it the tree is truncated. */
  maxTreeValues?: number;
  signal?: CancelSignal;
  onEvaluation?: (count: number) => void;
  /** Whether layer 1's input domain is ≥ 0 (hidden layers always are for ReLU nets). */
  inputNonNegative: boolean;
}

export interface FullBackwardOutput {
  relevance: Float64Array;
  /** relevance[l] = U_l at the input's own activations (l ≥ 1), index 0 = FB_1(x). */
  layerRelevance: Float64Array[];
  tree: TreeEntry[];
  treeTruncated: boolean;
  /** roots[l-1]: roots of layer l computed at the input's own activations. */
  roots: RootInfo[][];
  /** contributions[l-1]: unit j → rel_j at the input's own activations (for the flows view). */
  contributions: Map<number, Float64Array>[];
  evaluations: number;
}

export class LinearFullBackward {
  private readonly L: number;
  private evaluations = 0;
  private tree: TreeEntry[] = [];
  private treeTruncated = false;
  private treeValues = 0;
  private roots: RootInfo[][];
  private layerRelevance: Float64Array[];
  private contributions: Map<number, Float64Array>[];

  constructor(
    private readonly net: DenseNetwork,
    private readonly rules: RuleSpec[],
    private readonly row: number,
    private readonly opts: FullBackwardOptions,
  ) {
    this.L = net.layers.length;
    this.roots = Array.from({ length: this.L }, () => []);
    this.layerRelevance = new Array(this.L + 1);
    this.contributions = Array.from({ length: this.L }, () => new Map());
    for (const r of rules) {
      if (r.name === 'pinv') throw new DtdError('bad-usage', 'The pinv layer rule is available for the train-free decomposition only.');
    }
  }

  run(x: Float64Array): FullBackwardOutput {
    const out = this.FB(1, x, 'none', [], true, true);
    this.layerRelevance[0] = out.value;
    return {
      relevance: out.value,
      layerRelevance: this.layerRelevance,
      tree: this.tree,
      treeTruncated: this.treeTruncated,
      roots: this.roots,
      contributions: this.contributions,
      evaluations: this.evaluations,
    };
  }

  /** Upper relevance U_l(a) and (optionally) its Jacobian. `main` marks the evaluation at the input's own activations. */
  private U(l: number, a: Float64Array, mode: JacMode, path: string[], main: boolean, record: boolean): Eval {
    this.evaluations++;
    if ((this.evaluations & 1023) === 0) {
      throwIfCancelled(this.opts.signal);
      this.opts.onEvaluation?.(this.evaluations);
    }
    const layer = this.net.layers[l - 1];
    const n = layer.inFeatures;
    if (l === this.L) {
      const w = layer.weight.subarray(this.row * n, (this.row + 1) * n);
      const z = dot(w, a) + layer.bias[this.row];
      const slope = activationSlope(layer, z);
      const value = Float64Array.of(layer.activation === 'relu' ? Math.max(z, 0) : z);
      const jac = mode !== 'none' ? Float64Array.from(w, (wi) => wi * slope) : null;
      return { value, jac };
    }
    const z = affine(layer, a);
    const h = activateRows(layer, z);
    const fb = this.FB(l + 1, h, mode, path, main, record);
    if (main) this.layerRelevance[l] = fb.value;
    if (mode === 'none' || !fb.jac) return { value: fb.value, jac: null };
    // jac = J_FB [rows, m] · diag(act'(z)) · W [m, n]
    const m = layer.outFeatures;
    const rows = mode === 'all' ? m : 1;
    const jac = new Float64Array(rows * n);
    for (let k = 0; k < m; k++) {
      const s = activationSlope(layer, z[k]);
      if (s === 0) continue;
      const wk = k * n;
      for (let p = 0; p < rows; p++) {
        const f = fb.jac[p * m + k] * s;
        if (f === 0) continue;
        const jp = p * n;
        for (let i = 0; i < n; i++) jac[jp + i] += f * layer.weight[wk + i];
      }
    }
    return { value: fb.value, jac };
  }

  private FB(l: number, a: Float64Array, mode: JacMode, path: string[], main: boolean, record: boolean): Eval {
    const layer = this.net.layers[l - 1];
    const rule = this.rules[l - 1];
    const n = layer.inFeatures;
    // Evaluating the upper relevance at this call's own input is not a tree entry (as in the research code); only root evaluations are.
    const u = this.U(l, a, mode === 'none' ? 'none' : 'all', path, main, false);
    const units = l === this.L ? [this.row] : Array.from({ length: layer.outFeatures }, (_, j) => j);
    const value = new Float64Array(n);
    // J = (1−ε)·(diag(S) + Σ_k c_k dt_kᵀ) with S = Σ_k g_k⊙t_k·∂v_k, c_k = g_k⊙v_k (see below); rows as requested.
    const wantJac = mode !== 'none';
    const jacRows = mode === 'all' ? n : 1;
    const rowOf = (i: number) => (mode === 'all' ? i : mode === i ? 0 : -1);
    const jac = wantJac ? new Float64Array(jacRows * n) : null;
    const S = wantJac ? new Float64Array(n) : null;
    const eps = this.opts.nudge;
    let anyRoot = false;
    let anyContributed = false;
    const entryValues = 4 * n + layer.outFeatures; // root, input, relevance, gradient, upper relevance
    // The entries of the top call (the roots at the input itself) are always kept; deeper ones while the budget lasts.
    const roomInTree = () => this.tree.length < this.opts.maxTreeEntries && (path.length === 0 || this.treeValues + entryValues <= (this.opts.maxTreeValues ?? LIMITS.treeValues));
    const needChecks = main || (record && roomInTree());
    const aSignature = needChecks ? regionSignature(this.net, l, a) : [];
    for (const j of units) {
      const idx = l === this.L ? 0 : j;
      const label = l === this.L ? 0 : j;
      const w = layer.weight.subarray(j * n, (j + 1) * n);
      const T = u.value[idx];
      const sr = singleNeuronRoot(rule, w, a, T);
      if (!sr.root) {
        if (main) this.roots[l - 1].push(noRoot(l, j, T));
        continue;
      }
      anyRoot = true;
      if (!(T > 0)) {
        if (main) this.roots[l - 1].push({ ...noRoot(l, j, T), hasRoot: true, root: Array.from(sr.root), distance: dist(a, sr.root) } as RootInfo);
        continue;
      }
      anyContributed = true;
      const r = sr.root;
      if (eps) for (let i = 0; i < n; i++) r[i] += eps * (a[i] - r[i]);
      const childPath = [...path, `layer${l}`, `root_${label}`];
      let entry: TreeEntry | null = null;
      if (record) {
        if (roomInTree()) {
          this.treeValues += entryValues;
          entry = {} as TreeEntry;
          this.tree.push(entry); // pre-order: the parent precedes the entries of its own recursion
        } else {
          this.treeTruncated = true;
        }
      }
      const ev = this.U(l, r, idx, childPath, false, record);
      const g = ev.jac!.subarray(0, n);
      const unresolved = ev.value[idx];
      let relSum = 0;
      const rel = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        rel[i] = g[i] * (a[i] - r[i]);
        value[i] += rel[i];
        relSum += rel[i];
      }
      if (jac && S) {
        // rel_j = g ⊙ (a − r) with r = (1−ε)(a − t·v) + εa, t = T/d, d = v·w, so
        // ∂rel_j/∂a = (1−ε)·(diag(g⊙t·∂v) + (g⊙v)·(∂t/∂a)ᵀ),  ∂t/∂a = ∂T/∂a / d − T/d²·(∂v⊙w).
        // Rule 0 (r = 0): ∂rel_j/∂a = (1−ε)·diag(g).
        if (rule.name === '0') {
          for (let i = 0; i < n; i++) S[i] += g[i];
        } else {
          const dT = u.jac!.subarray(idx * n, (idx + 1) * n);
          const v = sr.v!;
          const finite = Number.isFinite(T / sr.d);
          const dtda = new Float64Array(n);
          for (let i = 0; i < n; i++) {
            const dvi = directionDerivative(rule, w[i]);
            S[i] += g[i] * sr.t * dvi;
            if (finite) dtda[i] = dT[i] / sr.d - (T / (sr.d * sr.d)) * dvi * w[i];
          }
          if (finite) {
            for (let i = 0; i < n; i++) {
              const ri = rowOf(i);
              if (ri < 0) continue;
              const c = g[i] * v[i];
              if (c === 0) continue;
              const o = ri * n;
              for (let k2 = 0; k2 < n; k2++) jac[o + k2] += c * dtda[k2];
            }
          }
        }
      }
      if (!entry && !main) continue;
      const z = dot(w, r) + layer.bias[j];
      const inRegion = rootInRegion(this.net, l, aSignature, r, this.row);
      const checks = rootChecks(unresolved, T, inRegion, inDomain(rule, r, l > 1 || this.opts.inputNonNegative), inRegion ? null : firstCrossing(this.net, l, a, r, this.row));
      const taylorResidual = T - unresolved - relSum;
      if (entry) {
        Object.assign(entry, {
          layer: l,
          path: childPath,
          unit: label,
          root: Array.from(r),
          input: Array.from(a),
          relevanceAtInput: T,
          relevance: Array.from(rel),
          passedOn: relSum,
          relevanceAtRoot: unresolved,
          taylorResidual,
          gradient: Array.from(g),
          upperRelevance: Array.from(u.value),
          outputAtRoot: outputAt(this.net, l, r, this.row),
          outputAtInput: outputAt(this.net, l, a, this.row),
          preActivationAtRoot: z,
          gradAtRootIsZero: g.every((x) => x === 0),
          checks: { ...checks },
        } satisfies TreeEntry);
      }
      if (main) {
        this.contributions[l - 1].set(j, rel);
        this.roots[l - 1].push({
          layer: l,
          unit: j,
          hasRoot: true,
          root: Array.from(r),
          relevanceAtInput: T,
          relevanceAtRoot: unresolved,
          passedOn: relSum,
          taylorResidual,
          distance: dist(a, r),
          checks: { ...checks },
        });
      }
    }
    if (jac && S) {
      for (let i = 0; i < n; i++) {
        const ri = rowOf(i);
        if (ri >= 0) jac[ri * n + i] += S[i];
      }
      for (let q = 0; q < jac.length; q++) jac[q] *= 1 - eps;
    }
    if (!anyRoot) throw new DecompositionFailure('no-root', `No unit of ${quoteName(layer.name)} has a root under rule ${rule.name}: relevance cannot pass below this layer.`);
    if (!anyContributed) {
      throw new DecompositionFailure(
        'no-positive-relevance',
        `At some point of the recursion no unit of ${quoteName(layer.name)} carries positive relevance (a root pushed the output to ≤ 0), so full-backward has nothing to decompose there.`,
      );
    }
    return { value, jac };
  }
}

function dist(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

function noRoot(layer: number, unit: number, T: number): RootInfo {
  return {
    layer,
    unit,
    hasRoot: false,
    root: null,
    relevanceAtInput: T,
    relevanceAtRoot: null,
    passedOn: 0,
    taylorResidual: null,
    distance: null,
    checks: null,
  };
}

export { sum };
