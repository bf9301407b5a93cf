// The mutants the test suite must kill: each one an exact string replacement
// in one source file that breaks a trust check (forces it to a constant, or
// loosens a tolerance). `find` must occur exactly once in its file — the
// runner refuses otherwise, so a refactor that moves the code makes this table
// fail loudly instead of silently testing nothing. `tests` are the test files
// that must catch the mutant (kept small so each mutant runs in seconds).

export interface Mutant {
  id: string;
  /** Path from the repository root. */
  file: string;
  find: string;
  replace: string;
  description: string;
  tests: string[];
}

const ROOT_CHECKS = ['test/unit/root-checks.test.ts'];
const TREE_WEBVIEW = ['test/webview/tree-checks.test.ts'];

export const MUTANTS: Mutant[] = [
  // ── full-backward, linear roots ───────────────────────────────────────────
  {
    id: 'fullBackward.relevanceZero.true',
    file: 'extension/engine/fullBackward.ts',
    find: 'checks: { relevanceZero: Math.abs(unresolved) <= 1e-6 * Math.max(Math.abs(T), 1e-300),',
    replace: 'checks: { relevanceZero: true,',
    description: 'full-backward (linear) roots always report relevance ≈ 0',
    tests: ROOT_CHECKS,
  },
  {
    id: 'fullBackward.relevanceZero.false',
    file: 'extension/engine/fullBackward.ts',
    find: 'checks: { relevanceZero: Math.abs(unresolved) <= 1e-6 * Math.max(Math.abs(T), 1e-300),',
    replace: 'checks: { relevanceZero: false,',
    description: 'full-backward (linear) roots never report relevance ≈ 0',
    tests: ROOT_CHECKS,
  },
  {
    id: 'fullBackward.inRegion.true',
    file: 'extension/engine/fullBackward.ts',
    find: 'const inRegion = samePattern(aPattern, patternFrom(this.net, l, r, 1e-9));',
    replace: 'const inRegion = true;',
    description: 'full-backward (linear) roots and tree entries always in their region',
    tests: ROOT_CHECKS,
  },
  {
    id: 'fullBackward.inDomain.true',
    file: 'extension/engine/fullBackward.ts',
    find: 'const domainOk = inDomain(rule, r, l > 1 || this.opts.inputNonNegative);',
    replace: 'const domainOk = true;',
    description: 'full-backward (linear) roots and tree entries always in the domain',
    tests: ROOT_CHECKS,
  },
  // ── full-backward, sampled and exact finders (main-path roots) ──────────────
  {
    id: 'sampled.relevanceZero.true',
    file: 'extension/engine/sampled.ts',
    find: 'relevanceZero: Math.abs(ur.unresolved) <= 1e-6 * Math.max(Math.abs(R), 1e-12),',
    replace: 'relevanceZero: true,',
    description: 'sampled/exact finder roots always report relevance ≈ 0',
    tests: ROOT_CHECKS,
  },
  {
    id: 'sampled.relevanceZero.false',
    file: 'extension/engine/sampled.ts',
    find: 'relevanceZero: Math.abs(ur.unresolved) <= 1e-6 * Math.max(Math.abs(R), 1e-12),',
    replace: 'relevanceZero: false,',
    description: 'sampled/exact finder roots never report relevance ≈ 0',
    tests: ROOT_CHECKS,
  },
  {
    id: 'sampled.inRegion.true',
    file: 'extension/engine/sampled.ts',
    find: 'if (R > 0) contributions[l - 1].set(unit, rel);\n      const inReg = this.inRegion(l, ref, ur.root, 1, this.opts.mh.rtol, this.opts.mh.atol)[0] === 1;',
    replace: 'if (R > 0) contributions[l - 1].set(unit, rel);\n      const inReg = true;',
    description: 'sampled/exact finder roots always in their region',
    tests: ROOT_CHECKS,
  },
  {
    id: 'sampled.inDomain.true',
    file: 'extension/engine/sampled.ts',
    find: '          inDomain: inDomain(this.rules[l - 1], ur.root, l > 1 || this.opts.inputNonNegative),\n          crossing: inReg ? null : firstCrossing(this.net, l, a, ur.root),\n        },',
    replace: '          inDomain: true,\n          crossing: inReg ? null : firstCrossing(this.net, l, a, ur.root),\n        },',
    description: 'sampled/exact finder roots always in the domain',
    tests: ROOT_CHECKS,
  },
  {
    id: 'sampled.tree.inRegion.true',
    file: 'extension/engine/sampled.ts',
    find: "const z = this.net.layers[l - 1].bias[ur.unit] + ur.root.reduce((acc, v, i) => acc + v * layer.weight[ur.unit * n + i], 0);\n      const inReg = this.inRegion(l, ref, ur.root, 1, this.opts.mh.rtol, this.opts.mh.atol)[0] === 1;",
    replace: "const z = this.net.layers[l - 1].bias[ur.unit] + ur.root.reduce((acc, v, i) => acc + v * layer.weight[ur.unit * n + i], 0);\n      const inReg = true;",
    description: 'sampled/exact finder tree entries always in their region',
    tests: ROOT_CHECKS,
  },
  {
    id: 'sampled.tree.inDomain.true',
    file: 'extension/engine/sampled.ts',
    find: '        inDomain: inDomain(this.rules[l - 1], ur.root, l > 1 || this.opts.inputNonNegative),\n        crossing: inReg ? null : firstCrossing(this.net, l, a, ur.root),\n        ...(ur.certificate',
    replace: '        inDomain: true,\n        crossing: inReg ? null : firstCrossing(this.net, l, a, ur.root),\n        ...(ur.certificate',
    description: 'sampled/exact finder tree entries always in the domain',
    tests: ROOT_CHECKS,
  },
  // ── train-free roots (explain.ts) ──────────────────────────────────────────
  {
    id: 'explain.trainFree.relevanceZero.true',
    file: 'extension/engine/explain.ts',
    find: 'relevanceZero: Math.abs(atRoot[s]) <= 1e-6 * Math.max(Math.abs(Rj), 1e-12),',
    replace: 'relevanceZero: true,',
    description: 'train-free roots always report relevance ≈ 0',
    tests: ROOT_CHECKS,
  },
  {
    id: 'explain.trainFree.relevanceZero.false',
    file: 'extension/engine/explain.ts',
    find: 'relevanceZero: Math.abs(atRoot[s]) <= 1e-6 * Math.max(Math.abs(Rj), 1e-12),',
    replace: 'relevanceZero: false,',
    description: 'train-free roots never report relevance ≈ 0',
    tests: ROOT_CHECKS,
  },
  {
    id: 'explain.trainFree.inRegion.true',
    file: 'extension/engine/explain.ts',
    find: 'const inRegion = samePreSigns(refPre, rootPre, s);',
    replace: 'const inRegion = true;',
    description: 'train-free roots always in their region',
    tests: ROOT_CHECKS,
  },
  {
    id: 'explain.trainFree.inDomain.true',
    file: 'extension/engine/explain.ts',
    find: 'inDomain: inDomain(rule, pts[s], l > 1 || inputNonNegative),',
    replace: 'inDomain: true,',
    description: 'train-free roots always in the domain',
    tests: ROOT_CHECKS,
  },
  // ── the root audit ──────────────────────────────────────────────────────────
  {
    id: 'audit.trainFree.unmoved.all',
    file: 'extension/engine/audit.ts',
    find: 'if (Math.abs(outAct[b * nL + row] - f) <= 1e-12 * Math.max(1, Math.abs(f))) unmoved++;',
    replace: 'unmoved++;',
    description: 'the audit counts every train-free root as not moving the output',
    tests: ROOT_CHECKS,
  },
  {
    id: 'audit.fullBackward.unmoved.all',
    file: 'extension/engine/audit.ts',
    find: 'if (Math.abs(e.rootLogit - e.inputLogit) <= 1e-12 * Math.max(1, Math.abs(e.inputLogit))) unmoved++;',
    replace: 'unmoved++;',
    description: 'the audit counts every full-backward root as not moving the output',
    tests: ROOT_CHECKS,
  },
  // ── the webview's tree check ────────────────────────────────────────────────
  {
    id: 'webview.TREE_ZERO_RTOL.1e3',
    file: 'webview/inspector.ts',
    find: 'export const TREE_ZERO_RTOL = 1e-3;',
    replace: 'export const TREE_ZERO_RTOL = 1e3;',
    description: 'the root tree calls a relevance "≈ 0" up to 1000× the unit\'s relevance',
    tests: TREE_WEBVIEW,
  },
];
