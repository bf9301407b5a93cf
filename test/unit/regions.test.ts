// Exact local linear regions, the polytope root finder, hit-and-run and the
// root audit (issue: trust, measured).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { audit, spearman } from '../../extension/engine/audit';
import { explain, loadModel } from '../../extension/engine/index';
import { forward } from '../../extension/engine/forward';
import { requireDense, type DenseNetwork } from '../../extension/engine/network';
import { TypedOps } from '../../extension/engine/ops/typed';
import { piecePolytope } from '../../extension/engine/finders/polytope';
import { hitAndRunCandidates } from '../../extension/engine/finders/hitAndRun';
import { chord, contains, localLinearRegion } from '../../extension/engine/region';
import { Rng } from '../../extension/engine/rng';
import { SampledFullBackward } from '../../extension/engine/sampled';
import { DEFAULT_INTERPOLATION, DEFAULT_MH, DEFAULT_SAME_REGION } from '../../extension/protocol';
import { assertClose, fixtureFile, fixtureNames, loadFixture } from '../helpers/fixtures';

const f64 = new TypedOps('float64');
const net = (name: string) => requireDense(loadModel(new Uint8Array(readFileSync(fixtureFile(name, 'json'))), `${name}.json`));

function sampler(n: DenseNetwork, row: number, finder: 'polytope' | 'hit-and-run' | 'metropolis-hastings', inputNonNegative = true) {
  return new SampledFullBackward(n, n.layers.map(() => ({ name: 'z+' as const })), row, { finder, mh: DEFAULT_MH, interpolation: DEFAULT_INTERPOLATION, sameRegion: DEFAULT_SAME_REGION, seed: 0, maxTreeEntries: 100000, inputNonNegative });
}

describe('exact local linear regions', () => {
  for (const name of fixtureNames()) {
    if (name.startsWith('scale_') || name.startsWith('deep6')) continue; // covered by the same code; kept out for time
    test(`${name}: membership agrees with the research's gradient test around every layer input`, () => {
      const fx = loadFixture(name);
      const n = net(name);
      const f = forward(n, fx.input.x[0]);
      const probe = sampler(n, fx.explained_output_row_in_last_layer, 'metropolis-hastings');
      const rng = new Rng(11);
      let agree = 0, total = 0;
      for (let l = 1; l <= n.layers.length; l++) {
        const a = f.act[l - 1];
        const region = localLinearRegion(f64, n, l, a);
        assert.ok(contains(region, a).inside, `${name} layer${l}: the input is not in its own region`);
        // The region's affine map gives the fixture's slice gradient exactly (sum of the selected outputs).
        const ref = probe.sliceGradient(l, a, 1);
        const inv = fx.stochastic?.region_invariants?.find((r: { layer: string }) => r.layer === `layer${l}`);
        if (inv) assertClose(ref, inv.slice_gradient, 1e-12, 1e-12, `${name} layer${l} slice gradient`);
        for (let k = 0; k < 200; k++) {
          const scale = 10 ** (-3 + 3 * rng.uniform());
          const p = Float64Array.from(a, (v) => v + scale * rng.normal());
          const exact = contains(region, p).inside;
          const byGradient = probe.inRegion(l, ref, p, 1)[0] === 1;
          // Same activation pattern ⇒ same gradient, always.
          if (exact) assert.ok(byGradient, `${name} layer${l}: a point inside the exact region fails the gradient test`);
          total++;
          if (exact === byGradient) agree++;
        }
      }
      // The gradient test can only be looser (a unit that flips without changing the gradient). Where a whole
      // layer is off at the input the gradient is 0 whatever the lower layers do, and the two tests must differ.
      const deadLayer = f.pre.some((z) => z.every((v) => v <= 0));
      if (!deadLayer) assert.ok(agree / total >= 0.97, `${name}: exact and gradient membership agree on ${agree}/${total} points`);
      else assert.ok(agree < total, `${name}: with a dead layer the gradient test cannot see lower flips`);
    });
  }

  test('chords and the first crossed constraint', () => {
    const n = net('mlp3_seed1_notebook');
    const fx = loadFixture('mlp3_seed1_notebook');
    const x = Float64Array.from(fx.input.x[0]);
    const region = localLinearRegion(f64, n, 1, x);
    const d = Float64Array.from({ length: 10 }, (_, i) => (i === 3 ? 1 : 0));
    const c = chord(region, x, d);
    assert.ok(c.tMax > 0 && c.tMin < 0);
    assert.ok(c.exitForward && c.exitForward.kind === 'activation');
    // Just before the exit the point is inside, just after it the named unit has switched.
    const before = Float64Array.from(x, (v, i) => v + (c.tMax * (1 - 1e-9)) * d[i]);
    const after = Float64Array.from(x, (v, i) => v + (c.tMax * (1 + 1e-6)) * d[i]);
    assert.ok(contains(region, before).inside);
    const fa = forward(n, after);
    const f0 = forward(n, x);
    const { layer, unit } = c.exitForward!;
    assert.notEqual(fa.pre[layer - 1][unit] > 0, f0.pre[layer - 1][unit] > 0, 'the reported constraint is the unit that switches');
  });
});

describe('the polytope root finder and hit-and-run', () => {
  for (const name of ['tiny_3_5_1_seed0', 'tiny_3_5_1_seed2_w5', 'mlp3_seed1_notebook', 'mlp3_seed0_testfull', 'edge_zero_weight_neuron']) {
    test(`${name}: every polytope root satisfies its piece's constraints exactly and its Taylor identity to 1e-9`, async () => {
      const fx = loadFixture(name);
      const n = net(name);
      const r = await explain(n, fx.input.x[0], { method: 'full-backward', rootFinder: 'polytope', explainedOutput: fx.explained_output, baselines: false });
      if (r.status !== 'ok') {
        assert.equal(r.statusCode, 'no-positive-relevance', r.message ?? '');
        return;
      }
      assert.ok(r.tree && r.tree.length > 0);
      const probe = sampler(n, r.explainedRow, 'polytope', fx.input.x[0].every((v: number) => v >= 0));
      for (const e of r.tree) {
        assert.ok(e.checks.inRegion, `${e.path.join('/')} outside its region`);
        assert.ok(Math.abs(e.taylorResidual) <= 1e-9 * Math.max(1, Math.abs(e.relevanceAtInput)), `${e.path.join('/')}: Taylor residual ${e.taylorResidual}`);
        const piece = piecePolytope(probe, e.layer, Float64Array.from(e.input));
        // Exact up to the rounding of evaluating A·r itself (1e-12 of the row's magnitude).
        const m = contains(piece, e.root, 1e-12);
        assert.ok(m.inside, `${e.path.join('/')}: constraint ${JSON.stringify(m.violated)} is violated (min slack ${m.minSlack})`);
      }
    });
  }

  test('hit-and-run samples all lie inside the piece', () => {
    const fx = loadFixture('mlp3_seed1_notebook');
    const n = net('mlp3_seed1_notebook');
    const probe = sampler(n, 0, 'hit-and-run');
    const a = forward(n, fx.input.x[0]).act[1];
    const piece = piecePolytope(probe, 2, a);
    const { C, count } = hitAndRunCandidates(probe, 2, a);
    assert.ok(count >= 100);
    let moved = 0;
    for (let c = 0; c < count; c++) {
      const p = C.subarray(c * a.length, (c + 1) * a.length);
      assert.ok(contains(piece, p, 1e-9).inside, `sample ${c} left the polytope`);
      if (p.some((v, i) => Math.abs(v - a[i]) > 1e-6)) moved++;
    }
    assert.ok(moved > count / 2, 'hit-and-run should move');
  });
});

describe('the continuity example of Montavon et al.', () => {
  // Hidden relu(x1−x2), relu(x2−x1), relu(x1+x2); output relu((a1+a2+a3)/2) = max(x1, x2).
  const w = (W: number[][], b: number[]) => ({ kind: 'dense' as const, name: '', inFeatures: W[0].length, outFeatures: W.length, weight: Float64Array.from(W.flat()), bias: Float64Array.from(b), activation: 'relu' as const });
  const maxNet: DenseNetwork = {
    inputSize: 2,
    layers: [{ ...w([[1, -1], [-1, 1], [1, 1]], [0, 0, 0]), name: 'layer1' }, { ...w([[0.5, 0.5, 0.5]], [0]), name: 'layer2' }],
    outputSelection: null,
    source: { format: 'test', file: 'max.json' },
    notes: [],
  };
  for (const [x, want] of [[[3, 1], [2.5, 0.5]], [[1, 3], [0.5, 2.5]], [[2, 2], [1, 1]]] as const) {
    test(`z+ at x = (${x}) gives (${want})`, async () => {
      const r = await explain(maxNet, x, { rule: 'z+' });
      assertClose(r.relevance[0], want, 1e-12, 1e-12, `z+ at (${x})`);
    });
  }
  test('z+ is continuous across the diagonal, gradient×input jumps', async () => {
    const below = await explain(maxNet, [2 + 1e-9, 2], { rule: 'z+', baselines: true });
    const above = await explain(maxNet, [2, 2 + 1e-9], { rule: 'z+', baselines: true });
    assertClose(below.relevance[0], above.relevance[0]!, 0, 1e-8, 'z+ across the diagonal');
    const gxBelow = below.baselines!.gradientTimesInput, gxAbove = above.baselines!.gradientTimesInput;
    assert.ok(Math.abs(gxBelow[0] - gxAbove[0]) > 1.9, `gradient×input should jump: ${gxBelow} vs ${gxAbove}`);
  });
});

describe('the root audit', () => {
  test('reproduces the research finding on the research network, stably for a seed', async () => {
    const n = net('mlp3_seed1_notebook');
    const a = await audit(n, { inputs: 300, rules: ['z+'], methods: ['train-free', 'full-backward'], rootFinder: 'polytope', seed: 5 });
    const b = await audit(n, { inputs: 300, rules: ['z+'], methods: ['train-free', 'full-backward'], rootFinder: 'polytope', seed: 5 });
    assert.deepEqual(a.rows, b.rows, 'same seed, same audit');
    const tf = a.rows.find((r) => r.method === 'train-free')!;
    // Sixt & Landgraf: about 40 % of inputs with a root outside, 8–10 % of roots.
    assert.ok(tf.shareInputsWithRootOutside > 0.25 && tf.shareInputsWithRootOutside < 0.55, `inputs with a root outside: ${tf.shareInputsWithRootOutside}`);
    assert.ok(tf.shareRootsOutside > 0.04 && tf.shareRootsOutside < 0.14, `roots outside: ${tf.shareRootsOutside}`);
    assert.ok(tf.meanConservationError < 1e-12, 'train-free z+ conserves');
    assert.equal(tf.shareInputsWithNegativeRelevance, 0, 'z+ relevance is never negative');
    const fb = a.rows.find((r) => r.method === 'full-backward')!;
    assert.equal(fb.shareRootsOutside, 0, 'polytope roots are inside their region by construction');
    for (const r of a.rows) for (const k of ['shareInputsWithRootOutside', 'shareRootsOutside', 'shareRootsUnmoved', 'shareInputsWithNegativeRelevance'] as const) assert.ok(r[k] >= 0 && r[k] <= 1);
  });
  test('sanity checks: randomising everything destroys the explanation; flipping by relevance hurts more than random', async () => {
    const n = net('mlp3_seed1_notebook');
    const a = await audit(n, { inputs: 100, rules: ['z+'], methods: ['train-free'], sanity: ['randomization', 'random-logit', 'pixel-flipping'], seed: 1 });
    const rnd = a.sanity!.randomization!;
    assert.equal(rnd.length, 3);
    assert.ok(rnd[0].meanSpearman < 1);
    assert.ok(a.sanity!.pixelFlipping!.aopcRelevanceOrder > a.sanity!.pixelFlipping!.aopcRandomOrder);
    assert.ok(Number.isFinite(a.sanity!.randomLogit!.meanSpearman));
  });
  test('Spearman rank correlation', () => {
    assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
    assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
    assertClose([spearman([1, 2, 2, 3], [1, 2, 3, 4])], [0.9486832980505138], 1e-12, 0, 'ties');
    assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])));
  });
});
