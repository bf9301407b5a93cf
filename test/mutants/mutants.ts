// The mutants the test suite must kill: each one an exact string replacement
// in one source file that breaks a trust check (forces it to a constant, or
// loosens a tolerance). `find` must occur exactly once in its file — the
// runner refuses otherwise, so a refactor that moves the code makes this table
// fail loudly instead of silently testing nothing. `tests` are the test files
// that must catch the mutant (kept small so each mutant runs in seconds).
//
// Two kinds: the checks' single home (protocol/checks.ts: the tolerance table
// and the scalar predicates; engine/checks.ts: samePattern, rootInRegion,
// inDomain) broken for every caller at once, and each call site broken on its
// own (a region / domain argument forced to true, the relevance arguments
// swapped, the audit's unmoved count forced), so a caller that stops passing
// the right values is caught even when the shared predicate is right. `find`
// strings are single call expressions or declarations, short enough to survive
// small refactors around them.

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
const RESIDUAL = ['test/unit/residual-fixtures.test.ts'];

/** A function forced to return `value` whatever its arguments: the original is renamed away (kept, unused). */
function forced(file: string, name: string, value: boolean, description: string, tests: string[]): Mutant {
  return {
    id: `${file.includes('protocol/') ? 'protocol' : 'checks'}.${name}.${value}`,
    file,
    find: `export function ${name}(`,
    replace: `export function ${name}(..._args: unknown[]): boolean {\n  return ${value};\n}\nexport function ${name}_unmutated(`,
    description,
    tests,
  };
}

const PROTOCOL = 'extension/protocol/checks.ts';
const CHECKS = 'extension/engine/checks.ts';

export const MUTANTS: Mutant[] = [
  // ── the single home: protocol/checks.ts ────────────────────────────────────
  forced(PROTOCOL, 'relevanceVanishes', true, 'every root of every path reports relevance ≈ 0', ROOT_CHECKS),
  forced(PROTOCOL, 'relevanceVanishes', false, 'no root of any path reports relevance ≈ 0', ROOT_CHECKS),
  forced(PROTOCOL, 'isConserved', true, 'every layer of every result conserves f(x)', ROOT_CHECKS),
  forced(PROTOCOL, 'outputUnmoved', true, 'the audit counts every root (both paths) as not moving the output', ROOT_CHECKS),
  {
    id: 'protocol.relevanceZeroRtol.1e3',
    file: PROTOCOL,
    find: 'relevanceZeroRtol: 1e-6,',
    replace: 'relevanceZeroRtol: 1e3,',
    description: 'relevance ≈ 0 up to 1000× the unit\'s relevance at its input',
    tests: ROOT_CHECKS,
  },
  {
    id: 'protocol.hingeBand.1e3',
    file: PROTOCOL,
    find: 'hingeBand: 1e-9,',
    replace: 'hingeBand: 1e3,',
    description: 'every unit within 1000 of its hinge counts as either side: every root in its region',
    tests: ROOT_CHECKS,
  },
  {
    id: 'protocol.float32.hingeBandRel.1e3',
    file: PROTOCOL,
    find: 'hingeBandRel: 1e-5,',
    replace: 'hingeBandRel: 1e3,',
    description: 'float32 train-free checks: every unit within 1000× its layer\'s scale of its hinge counts as either side',
    tests: ['test/unit/float32-checks.test.ts'],
  },
  {
    id: 'protocol.float32.relevanceZeroRtol.1e3',
    file: PROTOCOL,
    find: 'relevanceZeroRtol: 1e-4,',
    replace: 'relevanceZeroRtol: 1e3,',
    description: 'float32 train-free checks: relevance ≈ 0 up to 1000× the unit\'s relevance at its input',
    tests: ['test/unit/float32-checks.test.ts'],
  },
  // ── the single home: engine/checks.ts ──────────────────────────────────────
  forced(CHECKS, 'samePattern', true, 'every root (train-free, full-backward, audit) in its region', ROOT_CHECKS),
  {
    id: 'checks.samePattern.allOutputs',
    file: CHECKS,
    find: 'const last = l + k === L;',
    replace: 'const last = false;',
    description: 'the region check counts every output of the last layer, not the explained one only (another output turning off puts a root outside)',
    tests: ROOT_CHECKS,
  },
  forced(CHECKS, 'rootInRegion', true, 'every full-backward root (linear and sampled/exact finders) in its region', ROOT_CHECKS),
  forced(CHECKS, 'inDomain', true, 'every root of every path inside the domain', ROOT_CHECKS),
  // ── call sites: full-backward, linear roots (roots and tree entries) ─────────
  {
    id: 'fullBackward.inRegion.true',
    file: 'extension/engine/fullBackward.ts',
    find: 'rootInRegion(this.net, l, aSignature, r, this.row)',
    replace: 'true',
    description: 'full-backward (linear) roots and tree entries always in their region',
    tests: ROOT_CHECKS,
  },
  {
    id: 'fullBackward.inDomain.true',
    file: 'extension/engine/fullBackward.ts',
    find: 'inDomain(rule, r, l > 1 || this.opts.inputNonNegative)',
    replace: 'true',
    description: 'full-backward (linear) roots and tree entries always in the domain',
    tests: ROOT_CHECKS,
  },
  {
    id: 'fullBackward.relevance.inputAsRoot',
    file: 'extension/engine/fullBackward.ts',
    find: 'rootChecks(unresolved, T,',
    replace: 'rootChecks(T, T,',
    description: 'full-backward (linear): the relevance at the input passed as the one at the root (relevance ≈ 0 never holds)',
    tests: ROOT_CHECKS,
  },
  {
    id: 'fullBackward.relevance.swapped',
    file: 'extension/engine/fullBackward.ts',
    find: 'rootChecks(unresolved, T,',
    replace: 'rootChecks(T, unresolved,',
    description: 'full-backward (linear): relevance at the root and at the input swapped',
    tests: ROOT_CHECKS,
  },
  {
    id: 'fullBackward.relevance.zeroRoot',
    file: 'extension/engine/fullBackward.ts',
    find: 'rootChecks(unresolved, T,',
    replace: 'rootChecks(0, T,',
    description: 'full-backward (linear): the relevance at the root passed as 0 (relevance ≈ 0 always holds)',
    tests: ROOT_CHECKS,
  },
  // ── call sites: full-backward, sampled and exact finders ─────────────────────
  {
    id: 'sampled.inRegion.true',
    file: 'extension/engine/sampled.ts',
    find: 'rootInRegion(this.net, l, signature, ur.root, this.row)',
    replace: 'true',
    description: 'sampled/exact finder roots and tree entries always in their region',
    tests: ROOT_CHECKS,
  },
  {
    id: 'sampled.inDomain.true',
    file: 'extension/engine/sampled.ts',
    find: 'inDomain(this.rules[l - 1], ur.root, l > 1 || this.opts.inputNonNegative)',
    replace: 'true',
    description: 'sampled/exact finder roots and tree entries always in the domain',
    tests: ROOT_CHECKS,
  },
  {
    id: 'sampled.relevance.inputAsRoot',
    file: 'extension/engine/sampled.ts',
    find: 'rootChecks(ur.relevanceAtRoot, R,',
    replace: 'rootChecks(R, R,',
    description: 'sampled/exact finders: the relevance at the input passed as the one at the root',
    tests: ROOT_CHECKS,
  },
  {
    id: 'sampled.relevance.swapped',
    file: 'extension/engine/sampled.ts',
    find: 'rootChecks(ur.relevanceAtRoot, R,',
    replace: 'rootChecks(R, ur.relevanceAtRoot,',
    description: 'sampled/exact finders: relevance at the root and at the input swapped',
    tests: ROOT_CHECKS,
  },
  {
    id: 'sampled.relevance.zeroRoot',
    file: 'extension/engine/sampled.ts',
    find: 'rootChecks(ur.relevanceAtRoot, R,',
    replace: 'rootChecks(0, R,',
    description: 'sampled/exact finders: the relevance at the root passed as 0',
    tests: ROOT_CHECKS,
  },
  // ── call sites: train-free roots (explainBatch.ts trainFreeRoots, shared by explain and the audit) ─────────────────
  {
    id: 'explainBatch.trainFree.inRegion.true',
    file: 'extension/engine/explainBatch.ts',
    find: 'samePattern(net, l, ref, rootPre, row, b, ops.precision)',
    replace: 'true',
    description: 'train-free roots always in their region',
    tests: ROOT_CHECKS,
  },
  {
    id: 'explainBatch.trainFree.inDomain.true',
    file: 'extension/engine/explainBatch.ts',
    find: 'inDomain(rule, pts[b], nonNegativeInputOf(net, l, opts.inputNonNegative[s]))',
    replace: 'true',
    description: 'train-free roots always in the domain',
    tests: ROOT_CHECKS,
  },
  {
    id: 'explainBatch.trainFree.relevance.inputAsRoot',
    file: 'extension/engine/explainBatch.ts',
    find: 'rootChecks(atRoot[b], Rj,',
    replace: 'rootChecks(Rj, Rj,',
    description: 'train-free: the relevance at the input passed as the one at the root',
    tests: ROOT_CHECKS,
  },
  {
    id: 'explainBatch.trainFree.relevance.swapped',
    file: 'extension/engine/explainBatch.ts',
    find: 'rootChecks(atRoot[b], Rj,',
    replace: 'rootChecks(Rj, atRoot[b],',
    description: 'train-free: relevance at the root and at the input swapped',
    tests: ROOT_CHECKS,
  },
  {
    id: 'explainBatch.trainFree.relevance.zeroRoot',
    file: 'extension/engine/explainBatch.ts',
    find: 'rootChecks(atRoot[b], Rj,',
    replace: 'rootChecks(0, Rj,',
    description: 'train-free: the relevance at the root passed as 0',
    tests: ROOT_CHECKS,
  },
  // ── call sites: the root audit ───────────────────────────────────────────────
  {
    id: 'audit.trainFree.unmoved.all',
    file: 'extension/engine/audit.ts',
    find: 'outputUnmoved(q.outputAtRoot ?? NaN, tf.f[s])',
    replace: 'true',
    description: 'the audit counts every train-free root as not moving the output',
    tests: ROOT_CHECKS,
  },
  {
    id: 'audit.fullBackward.unmoved.all',
    file: 'extension/engine/audit.ts',
    find: 'outputUnmoved(e.outputAtRoot, e.outputAtInput)',
    replace: 'true',
    description: 'the audit counts every full-backward root as not moving the output',
    tests: ROOT_CHECKS,
  },
  // ── the webview only displays the engine's decisions ─────────────────────────
  {
    id: 'webview.treeChecks.relevanceZero.true',
    file: 'webview/tree.ts',
    find: 'return e.checks;',
    replace: 'return { ...e.checks, relevanceZero: true };',
    description: 'the root tree shows every entry\'s relevance as ≈ 0',
    tests: TREE_WEBVIEW,
  },
  {
    id: 'webview.treeChecks.allTrue',
    file: 'webview/tree.ts',
    find: 'return e.checks;',
    replace: 'return { relevanceZero: true, inRegion: true, inDomain: true, crossing: null };',
    description: 'the root tree shows every entry passing every check',
    tests: TREE_WEBVIEW,
  },
  {
    id: 'webview.conservationFails.false',
    file: 'webview/ledger.ts',
    find: 'return !d.conserved;',
    replace: 'return false;',
    description: 'the ledger never highlights a layer that does not conserve f(x)',
    tests: TREE_WEBVIEW,
  },
  // ── graph networks: the join rules and the graph walk (backward.ts) ────────
  {
    id: 'backward.add.gradient',
    file: 'extension/engine/backward.ts',
    find: 'return s.inputs.map((a) => ops.mul(a, c));',
    replace: 'return s.inputs.map(() => s.R);',
    description: 'a residual add copies its relevance to both inputs (the gradient) instead of zennit’s Norm rule',
    tests: RESIDUAL,
  },
  {
    id: 'backward.consumers.last',
    file: 'extension/engine/backward.ts',
    find: 'rel[j] = prev ? ops.add(prev, outs[i]) : outs[i];',
    replace: 'rel[j] = outs[i];',
    description: 'a tensor read by several layers keeps only one reader’s relevance instead of their sum',
    tests: RESIDUAL,
  },
  {
    id: 'rules.zplus.splitSigns.ignored',
    file: 'extension/engine/rules.ts',
    find: "return signed[l - 1] && r.name === 'z+' ? { ...r, splitSigns: true } : r;",
    replace: 'return r;',
    description: 'z+ on a signed hidden input (an add without a ReLU) searches along a ⊙ 1[w ≥ 0]',
    tests: RESIDUAL,
  },
];
