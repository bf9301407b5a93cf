// Graph fixture parity (shared/fixtures/residual, RESIDUAL.md): residual adds
// (BasicBlock, Bottleneck), overlapping padded max pooling, depthwise and
// grouped convolutions, channel concatenation. For every case and both
// explained outputs: the forward pass at every node, the gradient, all 10
// zennit rule keys at the input (the 10th, epsilon_plus, through the named
// preset), zero-bias z⁺ at the inputs of every node, the conservation sums at
// every node input, and train-free DTD z⁺ against zennit's zero-bias z⁺; at
// RESIDUAL.md §7's tolerances (forward/gradient rel 1e-12, relevances
// 1e-9·max|ref| per array, sums 1e-9·|logit|). The IR is built from the
// fixture's node list with the loaders' NetworkBuilder (test/helpers/residual.ts).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadModel } from '../../extension/engine/loaders/index';
import { describe, test } from 'node:test';
import { gradientBatch, lrpBatch, resolveLrpRules } from '../../extension/engine/baselines';
import { explain } from '../../extension/engine/explain';
import { forward, forwardBatch, NetMats } from '../../extension/engine/forward';
import { TypedOps } from '../../extension/engine/ops/typed';
import { flat, rulesForKey } from '../helpers/conv';
import { maxAbs } from '../helpers/fixtures';
import { loadResidualFixture, RESIDUAL_FIXTURES_DIR, residualFixtureNames, residualNetFromFixture } from '../helpers/residual';

const ops = new TypedOps('float64');

function assertArray(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): number {
  assert.equal(got.length, want.length, `${what}: length ${got.length} ≠ ${want.length}`);
  const scale = maxAbs(want);
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    assert.ok(Number.isFinite(got[i]), `${what}[${i}] is ${got[i]}`);
    const d = Math.abs(got[i] - want[i]);
    if (d > worst) [worst, at] = [d, i];
  }
  if (scale === 0) {
    assert.equal(worst, 0, `${what}: the reference is all zeros, got ${got[at]} at ${at}`);
    return 0;
  }
  assert.ok(worst <= tol * scale, `${what}[${at}]: got ${got[at]}, want ${want[at]} (|Δ| = ${worst.toExponential(3)} > ${tol}·max|ref| = ${(tol * scale).toExponential(3)})`);
  return worst / scale;
}

const sumOf = (a: ArrayLike<number>) => Array.from(a).reduce((p, v) => p + v, 0);

for (const name of residualFixtureNames()) {
  describe(`graph fixture ${name}`, () => {
    const fx = loadResidualFixture(name);
    const { net, tensors, readers } = residualNetFromFixture(fx, name);
    const x = flat(fx.input.x);
    const L = net.layers.length;
    const at = (tensorName: string) => {
      const m = tensors.get(tensorName);
      assert.ok(m, `no IR tensor for fixture tensor ${tensorName}`);
      return m;
    };

    test('the IR is a graph with the fixture’s joins', () => {
      const joins = (fx.network.nodes as { type: string }[]).filter((n) => n.type === 'Add' || n.type === 'Concat').length;
      assert.equal(net.layers.filter((l) => l.kind === 'add' || l.kind === 'concat').length, joins);
      const grouped = (fx.network.nodes as { type: string; groups?: number }[]).filter((n) => n.type === 'Conv2d' && (n.groups ?? 1) > 1).length;
      assert.equal(net.layers.filter((l) => l.kind === 'conv2d' && (l.groups ?? 1) > 1).length, grouped);
    });

    test('forward: every node output and the logits (rel 1e-12 of max|ref|)', () => {
      const f = forward(net, x);
      let compared = 0;
      for (const a of fx.forward.activations) {
        const m = at(a.node);
        if (m.stage === 'folded') continue; // a conv's output before its folded BatchNorm is not in the IR
        const got = m.stage === 'pre' ? f.pre[m.tensor - 1] : f.act[m.tensor];
        assertArray(got, flat(a.values), 1e-12, `node ${a.node} (${a.type}) output`);
        compared++;
      }
      assert.ok(compared >= net.layers.length, `compared ${compared} node outputs`);
      assertArray(f.pre[L - 1], fx.forward.logits, 1e-12, 'logits');
      const bf = forwardBatch(new NetMats(ops, net), ops.matrix(1, x.length, x));
      assertArray(ops.read(bf.pre[L - 1]), fx.forward.logits, 1e-12, 'logits (batched)');
    });

    for (const [e, ex] of fx.explanations.entries()) {
      describe(`explanation ${e} (${ex.role}, output ${ex.explained_output})`, () => {
        const row: number = ex.explained_output;
        const mats = new NetMats(ops, net);
        const X = ops.matrix(1, x.length, x);
        const logit = Math.abs(ex.explained_logit);

        test('gradient and gradient×input (rel 1e-12 of max|ref|)', () => {
          const g = ops.read(gradientBatch(mats, X, row));
          assertArray(g, flat(ex.gradient.grad), 1e-12, 'gradient');
          assertArray(Array.from(g, (v, i) => v * x[i]), flat(ex.gradient.grad_times_input), 1e-12, 'gradient×input');
        });

        for (const key of Object.keys(ex.zennit.rules)) {
          test(`zennit ${key}: input relevance (1e-9·max|ref|), sums at every node input read by one node (1e-9·|logit|)`, () => {
            const want = ex.zennit.rules[key];
            assert.equal(want.status, 'ok');
            const rules = key === 'epsilon_plus' ? resolveLrpRules('epsilon_plus', net, false) : rulesForKey(net, fx, key);
            const out = lrpBatch(mats, X, row, rules);
            const R0 = ops.read(out.relevance[0]);
            assertArray(R0, flat(want.relevance), 1e-9, `${key} input relevance`);
            const cons = ex.conservation.rules[key];
            let checked = 0;
            for (const pn of cons.per_node) {
              const node = (fx.network.nodes as { name: string; inputs: string[] }[]).find((q) => q.name === pn.node)!;
              node.inputs.forEach((tn, i) => {
                // A tensor read by several nodes holds the sum of what they send back; per-edge sums are checked through the Add rows below.
                if ((readers.get(tn) ?? 0) !== 1) return;
                const s = sumOf(ops.read(out.relevance[at(tn).tensor]));
                assert.ok(Math.abs(s - pn.input_sums[i]) <= 1e-9 * logit, `${key}: sum at input ${i} of node ${pn.node} is ${s}, want ${pn.input_sums[i]}`);
                checked++;
              });
            }
            assert.ok(checked > 0);
            assert.ok(Math.abs(sumOf(R0) - cons.input_sum) <= 1e-9 * logit, `${key}: input sum ${sumOf(R0)} ≠ ${cons.input_sum}`);
          });
        }

        test('zplus_zero_bias at the inputs of every node (1e-9·max|ref|; tensors read by several nodes: their sum)', () => {
          const out = lrpBatch(mats, X, row, rulesForKey(net, fx, 'zplus_zero_bias'));
          const shared = new Map<string, Float64Array>();
          let edges = 0;
          for (const pl of ex.per_layer_zplus_zero_bias) {
            if (pl.node === null) {
              const got = pl.at.startsWith('logits') ? ops.read(out.relevance[L]) : ops.read(out.relevance[0]);
              assertArray(got, flat(pl.relevance), 1e-9, `relevance ${pl.at}`);
              continue;
            }
            (pl.inputs as string[]).forEach((tn, i) => {
              const want = flat(pl.relevance_at_inputs[i]);
              if ((readers.get(tn) ?? 0) === 1) {
                assertArray(ops.read(out.relevance[at(tn).tensor]), want, 1e-9, `relevance at input ${i} (${tn}) of node ${pl.node}`);
                edges++;
              } else {
                const acc = shared.get(tn) ?? new Float64Array(want.length);
                want.forEach((v, k) => (acc[k] += v));
                shared.set(tn, acc);
              }
            });
          }
          for (const [tn, want] of shared) assertArray(ops.read(out.relevance[at(tn).tensor]), want, 1e-9, `relevance at ${tn} (summed over its ${readers.get(tn)} readers)`);
          assert.ok(edges > 0 && shared.size > 0, `${edges} single-reader edges, ${shared.size} shared tensors`);
        });

        test('residual adds: branch + skip shares equal the zennit values (1e-9·|logit|)', () => {
          const adds = ex.conservation.rules.zplus_zero_bias.residual_adds as { node: string; sum_at_input_branch: number; sum_at_input_skip: number }[];
          if (!adds.length) return;
          // The Norm rule's two shares, recomputed from the forward pass and the relevance at the add's output.
          const out = lrpBatch(mats, X, row, rulesForKey(net, fx, 'zplus_zero_bias'));
          const f = forward(net, x);
          for (const a of adds) {
            const l = at(a.node).tensor;
            const layer = net.layers[l - 1];
            assert.equal(layer.kind, 'add');
            const R = ops.read(out.relevance[l]);
            const z = f.pre[l - 1];
            const shares = layer.inputs!.map((t) => {
              let s = 0;
              for (let j = 0; j < R.length; j++) {
                const rr = layer.activation === 'relu' && !(z[j] > 0) ? 0 : R[j];
                s += (f.act[t][j] * rr) / (z[j] + (z[j] >= 0 ? 1e-6 : -1e-6));
              }
              return s;
            });
            assert.ok(Math.abs(shares[0] - a.sum_at_input_branch) <= 1e-9 * logit, `${a.node} branch share ${shares[0]} vs ${a.sum_at_input_branch}`);
            assert.ok(Math.abs(shares[1] - a.sum_at_input_skip) <= 1e-9 * logit, `${a.node} skip share ${shares[1]} vs ${a.sum_at_input_skip}`);
          }
        });

        test('train-free DTD z+ equals zennit’s zero-bias z+ up to the stabiliser, and its roots are checked', async () => {
          const gap = ex.diagnostics['stabilizer_1e-6_vs_1e-9_input_rel_diff_numpy'].zplus_zero_bias as number;
          const tol = 1.1 * gap + 1e-9;
          const r = await explain(net, x, { rule: 'z+', explainedOutput: row, baselines: false });
          assert.equal(r.status, 'ok', r.message ?? '');
          const want = flat(ex.zennit.rules.zplus_zero_bias.relevance);
          const got = r.relevance[0]!;
          const d = Math.max(...got.map((v, i) => Math.abs(v - want[i]))) / maxAbs(want);
          assert.ok(d <= tol, `input relevance: ${d.toExponential(3)} > ${tol.toExponential(3)}`);
          const checked = r.roots.flat().filter((q) => q.checks !== null).length;
          assert.ok(checked > 0, 'root checks ran on the graph');
        });
      });
    }
  });
}

// ── from the .onnx files ────────────────────────────────────────────────────
// The same explanations from the exported .onnx files. Three cases store the
// float32 parameters exactly (BatchNorm kept as nodes, or none), so every rule
// key matches at 1e-9·max|ref|. res_bottleneck_maxpool_seed21's exporter fused
// BatchNorm into the convs in float32 (RESIDUAL.md §6): its weights are the
// float64 folding rounded to float32, so its relevances differ from zennit's by
// that rounding (measured 1e-7 relative, 1e-4 for the bias-free ε and γ keys, where
// small denominators amplify it). For that case the test shows the cause instead:
// every fused weight is the JSON's float64 folding rounded to float32.
const FUSED_IN_FLOAT32 = new Set(['res_bottleneck_maxpool_seed21']);

for (const name of residualFixtureNames()) {
  describe(`graph fixture ${name} from its .onnx file`, () => {
    const fx = loadResidualFixture(name);
    const net = loadModel(readFileSync(path.join(RESIDUAL_FIXTURES_DIR, `${name}.onnx`)), `${name}.onnx`);
    const x = flat(fx.input.x);
    const mats = new NetMats(ops, net);
    const X = ops.matrix(1, x.length, Float64Array.from(x));
    if (FUSED_IN_FLOAT32.has(name)) {
      test('the exporter’s fused weights are the float64 BatchNorm folding rounded to float32', () => {
        const ref = residualNetFromFixture(fx, name).net;
        const convs = (n: typeof net) => n.layers.filter((l) => l.kind === 'conv2d' || l.kind === 'dense');
        const got = convs(net), want = convs(ref);
        assert.equal(got.length, want.length);
        // The exporter orders the downsample branch before the block's convs; match layers by name.
        got.forEach((layer) => {
          const twin = want.find((q) => q.name === layer.name);
          assert.ok(twin, `no layer ${layer.name} in the JSON network`);
          const w = (twin as { weight: Float64Array }).weight, g = (layer as { weight: Float64Array }).weight;
          assert.equal(g.length, w.length);
          for (let k = 0; k < w.length; k++) assert.ok(Math.abs(g[k] - Math.fround(w[k])) <= 2 ** -23 * Math.abs(w[k]) + 1e-30, `${layer.name}[${k}]: ${g[k]} vs fround(${w[k]})`);
        });
      });
      return;
    }
    for (const ex of fx.explanations) {
      test(`explanation ${ex.role}: all ${Object.keys(ex.zennit.rules).length} zennit rule keys at the input (1e-9·max|ref|)`, () => {
        for (const key of Object.keys(ex.zennit.rules)) {
          const rules = key === 'epsilon_plus' ? resolveLrpRules('epsilon_plus', net, false) : rulesForKey(net, fx, key);
          const R0 = ops.read(lrpBatch(mats, X, ex.explained_output, rules).relevance[0]);
          assertArray(R0, flat(ex.zennit.rules[key].relevance), 1e-9, `${key} input relevance from ${name}.onnx`);
        }
      });
    }
  });
}
