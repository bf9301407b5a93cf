// Train-free root checks on a float32 backend carry float32 rounding: a root on its own unit's hinge lands about
// 1e-7·scale off it. With float64's absolute band (1e-9) the explained output's root on the bundled example was
// "outside its region" in float32 only (seen in the platform package's smoke screenshot). The float32 tolerances
// (protocol/checks.ts FLOAT32_CHECK_TOLERANCES) must give every root the same verdicts as float64 there.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { explain } from '../../extension/engine/explain';
import { loadModel } from '../../extension/engine/loaders';
import { getOps } from '../../extension/engine/ops/select';
import { Rng } from '../../extension/engine/rng';
import { fixtureFile, loadFixture } from '../helpers/fixtures';

const NAME = 'mlp3_seed1_notebook';

async function backends(): Promise<('wasm' | 'onnxruntime')[]> {
  const out: ('wasm' | 'onnxruntime')[] = ['wasm'];
  try {
    await getOps('float32', 'onnxruntime');
    out.push('onnxruntime');
  } catch {
    /* not installed here: wasm only */
  }
  return out;
}

test('float32 train-free root checks give every root the verdicts float64 gives (region, relevance ≈ 0, domain), and say which tolerances they used', async () => {
  const fx = loadFixture(NAME);
  const net = loadModel(new Uint8Array(readFileSync(fixtureFile(NAME, 'onnx'))), `${NAME}.onnx`);
  const row = fx.explained_output_row_in_last_layer ?? 0;
  // The fixture input and |N(0, 1)| draws (as the extension's random input), so that float64 has roots on both sides.
  const rng = new Rng(7);
  const inputs = [fx.input.x[0] as number[], ...Array.from({ length: 6 }, () => Array.from({ length: net.inputSize }, () => Math.abs(rng.normal())))];
  const tally = { compared: 0, outside: 0, nonzero: 0 };
  for (const x of inputs) {
    const ref = await explain(net, x, { method: 'train-free', rule: 'z+', explainedOutput: row });
    assert.equal(ref.precision, 'float64');
    for (const backend of await backends()) {
      const got = await explain(net, x, { method: 'train-free', rule: 'z+', explainedOutput: row, precision: 'float32', backend });
      assert.equal(got.precision, 'float32', backend);
      ref.roots.forEach((layer, l) =>
        layer.forEach((r, i) => {
          const g = got.roots[l][i];
          assert.equal(g.unit, r.unit);
          assert.ok(r.checks && g.checks, `${backend}: layer ${l + 1} unit ${r.unit} has checks`);
          for (const k of ['inRegion', 'relevanceZero', 'inDomain'] as const) assert.equal(g.checks![k], r.checks![k], `${backend}: layer ${l + 1} unit ${r.unit} ${k}: float32 ${g.checks![k]}, float64 ${r.checks![k]}`);
          tally.compared++;
          if (!r.checks!.inRegion) tally.outside++;
          if (!r.checks!.relevanceZero) tally.nonzero++;
        }),
      );
      assert.match(got.diagnostics.checkDefinitions!.inRegion, /× the layer's largest \|pre-activation\| \(float32\)/);
    }
    assert.match(ref.diagnostics.checkDefinitions!.inRegion, /within 1e-9 of their hinge/);
  }
  // Both verdicts occur, so agreeing is not trivial.
  assert.ok(tally.compared >= 100 && tally.outside > 0 && tally.nonzero > 0 && tally.outside < tally.compared, JSON.stringify(tally));
});
