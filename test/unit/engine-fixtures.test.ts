// Fixture parity: every case in the golden folder (research code + zennit),
// at the tolerances of the fixtures README §10, in float64 (and float32 for
// train-free), with the network loaded from .json, .onnx and .safetensors.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { explain, forward, loadModel, parseRule, type ExplainResult } from '../../extension/engine/index';
import { isDtdError } from '../../extension/engine/errors';
import { singleNeuronRoot } from '../../extension/engine/rules';
import { SampledFullBackward } from '../../extension/engine/sampled';
import { requireDense, type DenseNetwork } from '../../extension/engine/network';
import { assertClose, fixtureFile, fixtureNames, loadFixture, maxAbs, type Fixture } from '../helpers/fixtures';

const RULES = ['z+', 'w2', 'gamma', 'x', '0'] as const;

function ruleText(fx: Fixture, rule: string): string {
  return rule === 'gamma' ? `gamma=${fx.train_free?.gamma ?? fx.single_neuron_roots.gamma}` : rule;
}

function netFromJson(name: string): DenseNetwork {
  return requireDense(loadModel(new Uint8Array(readFileSync(fixtureFile(name, 'json'))), `${name}.json`));
}

for (const name of fixtureNames()) {
  describe(`fixture ${name}`, () => {
    const fx = loadFixture(name);
    const net = netFromJson(name);
    const x: number[] = fx.input.x[0];
    const k: number = fx.explained_output;
    const L = net.layers.length;

    test('forward pass, activation pattern and gradient (rel 1e-12)', async () => {
      const f = forward(net, x);
      for (let l = 1; l <= L; l++) {
        const z = fx.forward.pre_activations[l - 1][0] ?? fx.forward.pre_activations[l - 1];
        const want: number[] = Array.isArray(z) ? z : fx.forward.pre_activations[l - 1];
        assertClose(f.pre[l - 1], want, 1e-12, 1e-12 * maxAbs(want), `pre-activation layer${l}`);
        const a = fx.forward.activations[l - 1];
        const wantA: number[] = Array.isArray(a[0]) ? a[0] : a;
        assertClose(f.act[l], wantA, 1e-12, 1e-12 * maxAbs(wantA), `activation layer${l}`);
        const pat = fx.forward.activation_pattern[l - 1];
        const wantP: number[] = Array.isArray(pat[0]) ? pat[0] : pat;
        assert.deepEqual(Array.from(f.pre[l - 1], (v) => (v > 0 ? 1 : 0)), wantP, `activation pattern layer${l}`);
      }
      const r = await explain(net, x, { explainedOutput: k, baselines: true });
      assertClose([r.explainedValue], [fx.forward.explained_logit], 1e-12, 1e-15, 'explained logit');
      const g: number[] = Array.isArray(fx.gradient.grad[0]) ? fx.gradient.grad[0] : fx.gradient.grad;
      const gx: number[] = Array.isArray(fx.gradient.grad_times_input[0]) ? fx.gradient.grad_times_input[0] : fx.gradient.grad_times_input;
      assertClose(r.baselines!.gradient, g, 1e-12, 1e-12 * maxAbs(g), 'gradient');
      assertClose(r.baselines!.gradientTimesInput, gx, 1e-12, 1e-12 * maxAbs(gx), 'gradient×input');
    });

    test('single-neuron roots for every rule (rel 1e-9, abs 1e-12; null exactly)', () => {
      const snr = fx.single_neuron_roots;
      for (const layerEntry of snr.layers) {
        const l = Number(String(layerEntry.layer).replace('layer', ''));
        const layer = net.layers[l - 1];
        const a: number[] = layerEntry.input;
        for (const [rule, entries] of Object.entries(snr.rules ?? layerEntry.rules) as [string, { j: number; root: number[] | null; linear_at_root: number | null }[]][]) {
          const spec = parseRule(rule === 'gamma' ? `gamma=${snr.gamma}` : rule);
          for (const e of entries) {
            const w = layer.weight.subarray(e.j * layer.inFeatures, (e.j + 1) * layer.inFeatures);
            const z = layerEntry.pre_activation[e.j];
            const got = singleNeuronRoot(spec, w, a, z).root;
            if (e.root === null) {
              assert.equal(got, null, `${layerEntry.layer} unit ${e.j} rule ${rule}: expected no root`);
              continue;
            }
            assertClose(got, e.root, 1e-9, 1e-12, `${layerEntry.layer} unit ${e.j} rule ${rule} root`);
          }
        }
      }
    });

    test('train-free relevances for every rule, and the expected failures (rel 1e-8, abs 1e-11)', async () => {
      for (const rule of RULES) {
        const want = fx.train_free.rules[rule];
        if (!want) continue;
        const r = await explain(net, x, { rule: ruleText(fx, rule), explainedOutput: k, baselines: false });
        const values = want.status === 'ok' ? want : want.result_with_check_consistent_false;
        if (want.status === 'ok') assert.equal(r.status, 'ok', `${rule}: status ${r.status} (${r.message})`);
        else assert.equal(r.status, 'failed', `${rule}: the research code fails here (${want.error_type}), the engine must say so`);
        if (!values?.relevances) continue;
        for (const entry of values.relevances) {
          if (entry.at_input_of === 'output') continue;
          const l = Number(entry.at_input_of.replace('layer', ''));
          assertClose(r.relevance[l - 1], entry.relevance, 1e-8, 1e-11, `${rule} relevance at the input of ${entry.at_input_of}`);
          if (entry.roots) {
            const mine = r.roots[l - 1];
            for (const q of entry.roots) {
              const unit = l === L ? r.explainedRow : q.explained_neuron;
              const info = mine.find((m) => m.unit === unit);
              assert.ok(info?.hasRoot && info.root, `${rule} ${entry.at_input_of}: root of unit ${unit} missing`);
              assertClose(info.root, q.root, 1e-9, 1e-12, `${rule} ${entry.at_input_of} root of unit ${unit}`);
            }
          }
          if (typeof entry.n_roots === 'number') {
            assert.equal(r.roots[l - 1].filter((q) => q.hasRoot).length, entry.n_roots, `${rule} ${entry.at_input_of}: number of roots`);
          }
        }
        if (want.status === 'ok') {
          const d = r.diagnostics.layers.find((q) => q.index === 0)!;
          assertClose([d.relevanceSum], [want.input_relevance_sum], 1e-8, 1e-11, `${rule} input relevance sum`);
        }
      }
    });

    test('train-free in float32 through TensorFlow.js (1e-4 × max|value|)', async () => {
      for (const rule of RULES) {
        const want = fx.train_free.rules[rule];
        if (!want || want.status !== 'ok') continue;
        const r = await explain(net, x, { rule: ruleText(fx, rule), explainedOutput: k, baselines: false, precision: 'float32', backend: 'wasm' });
        assert.equal(r.precision, 'float32');
        assert.match(r.backend, /tfjs|tensorflow/);
        assertClose(r.relevance[0], want.input_relevance, 0, 1e-4 * maxAbs(want.input_relevance), `${rule} float32 input relevance`);
      }
    });

    test('full-backward (nudged) for every rule: relevance, status and root tree (1e-7 × max|relevance|)', async () => {
      const fb = fx.full_backward_linear;
      if (fb.skipped) {
        await assert.rejects(explain(net, x, { method: 'full-backward', explainedOutput: k }), (e: unknown) => isDtdError(e) && e.code === 'too-costly' && /evaluations/.test(e.message));
        return;
      }
      for (const [rule, variants] of Object.entries(fb.rules) as [string, Fixture][]) {
        const want = variants.nudged;
        const r = await explain(net, x, { rule: ruleText(fx, rule), method: 'full-backward', explainedOutput: k, baselines: false, nudge: fb.nudge_eps });
        if (want.status !== 'ok') {
          assert.equal(r.status, 'failed', `${rule}: the research code raises (${want.error_message}); the engine must report a failed status`);
          assert.ok(r.message && r.message.length > 20, `${rule}: failure needs an explanation`);
          continue;
        }
        assert.equal(r.status, 'ok', `${rule}: ${r.message}`);
        const tol = 1e-7 * maxAbs(want.relevance);
        assertClose(r.relevance[0], want.relevance, 0, tol, `${rule} full-backward relevance`);
        assert.ok(r.tree);
        if (want.tree_levels_stored === 'full' && !want.tree_truncated) assert.equal(r.tree.length, want.n_tree_entries, `${rule}: tree entries`);
        const byPath = new Map(r.tree.map((e) => [e.path.join('/'), e]));
        for (const e of want.tree) {
          const mine = byPath.get(e.callgraph.join('/'));
          assert.ok(mine, `${rule}: tree entry ${e.callgraph.join('/')} missing`);
          const scale = Math.max(maxAbs(want.relevance), Math.abs(e.input_relevance_of_neuron));
          assertClose([mine.passedOn, mine.relevanceAtRoot, mine.relevanceAtInput, mine.taylorResidual], [e.relevance_sum, e.unresolved_relevance, e.input_relevance_of_neuron, e.taylor_residual], 0, 1e-7 * scale, `${rule} tree ${e.callgraph.join('/')} scalars`);
          assert.equal(mine.gradAtRootIsZero, e.grad_at_root_is_zero, `${rule} tree ${e.callgraph.join('/')} zero gradient`);
          if (e.root) assertClose(mine.root, e.root, 1e-7, 1e-7 * maxAbs(e.root), `${rule} tree ${e.callgraph.join('/')} root`);
          if (e.relevance) assertClose(mine.relevance, e.relevance, 0, 1e-7 * scale, `${rule} tree ${e.callgraph.join('/')} relevance`);
        }
        for (const [layerName, stats] of Object.entries(want.tree_stats_per_layer) as [string, Fixture][]) {
          if (want.tree_levels_stored !== 'full') break;
          const l = Number(layerName.replace('layer', ''));
          assert.equal(r.tree.filter((e) => e.layer === l).length, stats.n_roots_used, `${rule} ${layerName}: roots used`);
        }
      }
    });

    test('LRP baselines equal zennit, overall and per layer', async () => {
      const r = await explain(net, x, { explainedOutput: k, baselines: true });
      for (const [key, want] of Object.entries(fx.zennit.rules) as [string, Fixture][]) {
        const got = r.baselines!.lrp[key];
        assert.ok(got, `baseline ${key} missing`);
        assertClose(got.relevance, want.relevance, 1e-9, 1e-12 * Math.max(1, maxAbs(want.relevance)), `zennit ${key}`);
      }
      for (const entry of fx.zennit.per_layer) {
        const l = Number(entry.at_input_of.replace('layer', ''));
        for (const [key, want] of Object.entries(entry) as [string, number[]][]) {
          if (key === 'at_input_of') continue;
          assertClose(r.baselines!.lrp[key].perLayer![l - 1], want, 1e-9, 1e-12 * Math.max(1, maxAbs(want)), `zennit ${key} at the input of ${entry.at_input_of}`);
        }
      }
      assertClose(r.baselines!.gradient, fx.zennit.gradient.flat(), 1e-12, 1e-15, 'zennit gradient');
    });

    test('.onnx and .safetensors load to the same explanation as the JSON network', async () => {
      const onnx = loadModel(new Uint8Array(readFileSync(fixtureFile(name, 'onnx'))), `${name}.onnx`);
      const st = loadModel(new Uint8Array(readFileSync(fixtureFile(name, 'safetensors'))), `${name}.safetensors`, {
        sidecar: { finalActivation: 'relu', outputSelection: fx.network.output_selection ?? undefined },
      });
      const ref = await explain(net, x, { explainedOutput: k, rule: 'w2', baselines: true });
      for (const [what, other] of [['onnx', onnx], ['safetensors', st]] as const) {
        const r = await explain(other, x, { explainedOutput: k, rule: 'w2', baselines: true });
        assert.equal(r.explainedValue, ref.explainedValue, `${what}: f(x)`);
        assert.deepEqual(r.relevance, ref.relevance, `${what}: train-free relevance`);
        assert.deepEqual(r.baselines!.lrp.zplus.relevance, ref.baselines!.lrp.zplus.relevance, `${what}: LRP z+`);
      }
    });

    if (fx.stochastic?.runs) {
      test('stochastic root finders satisfy the research invariants (§8)', async () => {
        const st = fx.stochastic;
        const probe = new SampledFullBackward(net, [], fx.explained_output_row_in_last_layer, {
          finder: 'metropolis-hastings',
          mh: { steps: 1, warmup: 0, chains: 1, initScale: 1e-6, clampNonNegative: true, targetAcceptance: 0.9, minScale: 1e-6, maxScale: 0.01 },
          interpolation: { batchSize: 1, points: 2, refinementSteps: 0, initScale: 1, clampNonNegative: true },
          sameRegion: { rtol: 1e-3, atol: 1e-5 },
          seed: 0,
          maxTreeEntries: 0,
          inputNonNegative: true,
        });
        const f = forward(net, x);
        for (const inv of st.region_invariants) {
          const l = Number(inv.layer.replace('layer', ''));
          const g = probe.sliceGradient(l, f.act[l - 1], 1);
          assertClose(g, inv.slice_gradient, 1e-12, 1e-12 * Math.max(1e-300, maxAbs(inv.slice_gradient)), `slice gradient at ${inv.layer}`);
        }
        const xNonNeg = x.every((v) => v >= 0);
        const check = (r: ExplainResult, what: string) => {
          assert.equal(r.status, 'ok', `${what}: ${r.message}`);
          assert.ok(r.tree && r.tree.length > 0, `${what}: empty tree`);
          for (const e of r.tree) {
            assert.ok(e.checks.inRegion, `${what}: root ${e.path.join('/')} outside its input's region`);
            if (e.layer > 1 || xNonNeg) assert.ok(e.root.every((v) => v >= 0), `${what}: root ${e.path.join('/')} has negative entries`);
            if (e.layer === L) assert.ok(Math.abs(e.taylorResidual) <= 1e-9, `${what}: last-layer Taylor residual ${e.taylorResidual} at ${e.path.join('/')}`);
          }
          for (const layerRoots of r.roots) for (const q of layerRoots) if (q.checks) assert.ok(q.checks.inRegion, `${what}: root of unit ${q.unit} (layer ${q.layer}) outside the region`);
        };
        const mhCfg = st.runs.metropolis_hastings_full_backward.config.args;
        const mh = await explain(net, x, {
          method: 'full-backward',
          rootFinder: 'metropolis-hastings',
          explainedOutput: k,
          baselines: false,
          metropolisHastings: { steps: mhCfg.n_steps, warmup: mhCfg.n_warmup, chains: mhCfg.n_chains, initScale: mhCfg.init_scale },
        });
        if (st.runs.metropolis_hastings_full_backward.status === 'ok') check(mh, 'metropolis-hastings');
        const ipRun = st.runs.interpolation_full_backward;
        const ip = await explain(net, x, { method: 'full-backward', rootFinder: 'interpolation', explainedOutput: k, baselines: false });
        if (ipRun.status === 'ok') check(ip, 'interpolation');
        else {
          assert.equal(ip.status, 'failed');
          assert.equal(ip.statusCode, 'signed-input');
        }
      });
    }
  });
}
