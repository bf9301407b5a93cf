// Concepts (CRP, crp.ts) on the conv fixtures (chains) and the graph fixtures, in
// float64, for train-free DTD and LRP:
//   - conditional heatmaps: summed over all channels of a tensor that is a cut of
//     the graph (every path from the output to the input passes through it), they
//     equal the decomposition's input relevance within 1e-9 (relative to its max);
//   - channel flows, per tensor t: Σ over t's readers l and their output channels d
//     of flow_l(c → d) equals the relevance at channel c of t (1e-9: the walk sums
//     what every reader sends); per layer and output channel d: Σ_c flow(c → d)
//     equals the relevance channel d passes down: all of it for joins and max
//     pooling (any rule), and for z+ (train-free, zero-bias LRP) the relevance of
//     its units with a root, recomputed from the layer's positive weights (1e-9;
//     add: 1e-5, the stabiliser);
//   - explain() puts the flows in the result; the concept request refuses what it
//     cannot condition.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type * as vscode from 'vscode';
import { EngineClient, EngineError } from '../../extension/engineClient';
import { loadModel } from '../../extension/engine/loaders';
import { resolveLrpRules } from '../../extension/engine/baselines';
import { explainConcepts } from '../../extension/engine/concepts';
import { channelsOf, computeChannelFlows, conditionalHeatmaps, fullWalk, type CrpRules } from '../../extension/engine/crp';
import { isDtdError } from '../../extension/engine/errors';
import { explain } from '../../extension/engine/explain';
import { exactMats } from '../../extension/engine/forward';
import { explainedRow, layerInputs, layerShapes, nonNegativeTensors, type Network } from '../../extension/engine/network';
import { parseRuleMap } from '../../extension/engine/rules';
import { convFixtureFile, convFixtureNames, convNetFromFixture, flat, loadConvFixture } from '../helpers/conv';
import { REPO } from '../helpers/fixtures';
import { loadResidualFixture, residualFixtureNames, residualNetFromFixture } from '../helpers/residual';

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

/** Tensor t is a cut when no layer above it reads a tensor below it. */
function isCut(net: Network, t: number): boolean {
  for (let l = t + 1; l <= net.layers.length; l++) if (layerInputs(net, l).some((u) => u < t)) return false;
  return true;
}

function channelSums(r: ArrayLike<number>, shape: number[]): number[] {
  const { count, size } = channelsOf(shape);
  return Array.from({ length: count }, (_, c) => {
    let s = 0;
    for (let p = c * size; p < (c + 1) * size; p++) s += r[p];
    return s;
  });
}

const specs = (net: Network): [string, CrpRules, boolean][] => [
  ['train-free z+', { method: 'train-free', rules: parseRuleMap('z+', net.layers, 'train-free') }, true],
  ['train-free gamma', { method: 'train-free', rules: parseRuleMap('gamma=0.25', net.layers, 'train-free') }, false],
  ['LRP z+ (zero bias)', { method: 'lrp', rules: resolveLrpRules('zplus', net, true) }, true],
  ['LRP epsilon', { method: 'lrp', rules: resolveLrpRules('epsilon=1e-6', net, false) }, false],
];

function checkNetwork(name: string, net: Network, x: number[], output: number): void {
  const mats = exactMats(net);
  const row = explainedRow(net, output);
  const shapes = layerShapes(net);
  const L = net.layers.length;
  const nonNeg = nonNegativeTensors(net);
  const spatial = Array.from({ length: L }, (_, i) => i + 1).filter((t) => shapes[t].length === 3);
  assert.ok(spatial.length >= 2, `${name}: has image-shaped layers`);

  for (const [label, spec, conserving] of specs(net)) {
    test(`${name}, ${label}: the conditional heatmaps of all channels of a cut layer sum to the input relevance (1e-9)`, () => {
      let cuts = 0;
      for (const t of spatial) {
        const { count } = channelsOf(shapes[t]);
        const all = Array.from({ length: count }, (_, c) => c);
        const out = conditionalHeatmaps(mats, x, row, spec, t, all);
        const want = out.inputRelevance;
        assert.ok(maxAbs(want) > 0, 'the input relevance is not all zero');
        const sum = new Float64Array(want.length);
        for (const h of out.heatmaps) for (let i = 0; i < sum.length; i++) sum[i] += h[i];
        if (!isCut(net, t)) continue;
        cuts++;
        let d = 0;
        for (let i = 0; i < sum.length; i++) d = Math.max(d, Math.abs(sum[i] - want[i]));
        assert.ok(d <= 1e-9 * maxAbs(want), `tensor ${t} (${net.layers[t - 1].name}): max|Σ_c heat_c − R_input| = ${d} (max|R_input| ${maxAbs(want)})`);
        // Each channel's heatmap is its own: a channel without relevance sends nothing.
        out.channelRelevance.forEach((r, c) => {
          if (r === 0) assert.equal(maxAbs(out.heatmaps[c]), 0, `channel ${c} has no relevance but a heatmap`);
        });
        // Not every channel's heatmap is the same (the conditioning does something).
        assert.ok(out.heatmaps.some((h) => maxAbs(h) > 0 && h.some((v, i) => v !== want[i])), 'a channel heatmap differs from the full one');
      }
      assert.ok(cuts >= 1, 'at least one cut layer checked');
    });

    test(`${name}, ${label}: channel flows add up to the relevance at both ends`, () => {
      const full = fullWalk(mats, x, row, spec);
      const { flows, skipped } = computeChannelFlows(mats, x, row, spec, full);
      assert.deepEqual(skipped, []);
      const byLayer = new Map<number, typeof flows>();
      for (const f of flows) byLayer.set(f.layer, [...(byLayer.get(f.layer) ?? []), f]);
      for (const t of spatial) assert.ok(byLayer.has(t), `layer ${t} has channel flows`);
      // Lower end: every tensor all of whose readers have flows.
      let lowerChecked = 0;
      let upperChecked = 0;
      for (let t = 0; t < L; t++) {
        const readers = Array.from({ length: L }, (_, i) => i + 1).filter((l) => layerInputs(net, l).includes(t));
        if (!readers.length || !readers.every((l) => byLayer.has(l))) continue;
        const want = channelSums(full.relevance[t], shapes[t]);
        const got = new Array(want.length).fill(0);
        for (const f of flows.filter((f) => f.from === t)) f.matrix.forEach((rowC, c) => rowC.forEach((v) => (got[c] += v)));
        const scale = Math.max(1e-300, maxAbs(full.relevance[0]), maxAbs(want));
        want.forEach((w, c) => assert.ok(Math.abs(got[c] - w) <= 1e-9 * scale, `tensor ${t} channel ${c}: Σ flows ${got[c]} vs relevance ${w}`));
        lowerChecked++;
      }
      assert.ok(lowerChecked >= 2, `checked ${lowerChecked} tensors`);
      // Upper end: Σ_c flow(c → d) = what channel d passes down. Joins and max pooling pass all of it (add: up to the
      // stabiliser). z+ passes a unit's relevance exactly when the unit has a root, Σ a·w⁺ > 1e-5 (train-free), and
      // R·z⁺/(z⁺ + 1e-6) (zero-bias LRP, after the ReLU's mask): recomputed here from the layer's positive weights,
      // on weighted layers whose input is ≥ 0 (signed inputs split signs, see docs/engine.md).
      for (const [l, fs] of byLayer) {
        const layer = net.layers[l - 1];
        const kind = layer.kind;
        const R = full.relevance[l];
        let passed: Float64Array;
        if (kind === 'add' || kind === 'concat' || kind === 'maxpool2d') passed = Float64Array.from(R);
        else if (conserving && (kind === 'conv2d' || kind === 'dense') && nonNeg[layerInputs(net, l)[0]] !== false && (layerInputs(net, l)[0] > 0 || x.every((v) => v >= 0))) {
          const ops = mats.ops;
          const A = full.fwd.act[layerInputs(net, l)[0]];
          const D = ops.read(mats.fwd(l, A, mats.Wpos(l)));
          const Z = ops.read(full.fwd.pre[l - 1]);
          passed = R.map((r, j) => {
            if (spec.method === 'train-free') return Math.abs(D[j]) > 1e-5 ? r : 0;
            if (layer.activation === 'relu' && !(Z[j] > 0)) return 0;
            return (r * D[j]) / (D[j] + (D[j] >= 0 ? 1e-6 : -1e-6));
          });
        } else continue;
        upperChecked++;
        const want = channelSums(passed, shapes[l]);
        const got = new Array(want.length).fill(0);
        for (const f of fs) f.matrix.forEach((rowC) => rowC.forEach((v, d) => (got[d] += v)));
        const tol = kind === 'add' ? 1e-5 : 1e-9;
        const scale = Math.max(1e-300, maxAbs(channelSums(R, shapes[l])));
        want.forEach((w, d) => assert.ok(Math.abs(got[d] - w) <= tol * scale, `layer ${l} (${kind}) channel ${d}: Σ_c flows ${got[d]} vs passed relevance ${w}`));
      }
      if (conserving) assert.ok(upperChecked >= 2, `upper end checked on ${upperChecked} layers`);
    });
  }
}

describe('CRP on the conv fixtures (chains)', () => {
  for (const name of convFixtureNames().slice(0, 3)) {
    const fx = loadConvFixture(name);
    const { net } = convNetFromFixture(fx, name);
    checkNetwork(name, net, flat(fx.input.x), fx.explanations[0].explained_output);
  }
});

describe('CRP on the graph fixtures', () => {
  for (const name of residualFixtureNames()) {
    const fx = loadResidualFixture(name);
    const { net } = residualNetFromFixture(fx, name);
    checkNetwork(name, net, flat(fx.input.x), fx.explanations[0].explained_output);
  }
});

describe('CRP in results and requests', () => {
  const name = convFixtureNames()[0];
  const fx = loadConvFixture(name);
  const { net } = convNetFromFixture(fx, name);
  const x = flat(fx.input.x);
  const output = fx.explanations[0].explained_output;

  test('explain() carries channel flows for train-free and LRP, none for full-backward', async () => {
    for (const method of ['train-free', 'lrp'] as const) {
      const r = await explain(net, x, { method, explainedOutput: output, baselines: false });
      assert.ok(r.channelFlows && r.channelFlows.length > 0, method);
      for (const f of r.channelFlows!) {
        const from = r.shapes![f.from];
        const to = r.shapes![f.layer];
        assert.equal(f.matrix.length, channelsOf(from).count);
        for (const rowC of f.matrix) assert.equal(rowC.length, channelsOf(to).count);
      }
      assert.ok(JSON.stringify(r.channelFlows).length < 200_000, 'channel flows stay small');
    }
  });

  test('the concept request recomputes the run: same heatmaps as conditionalHeatmaps, refusals for full-backward and rule 0', () => {
    const t = layerShapes(net).findIndex((s, i) => i > 0 && s.length === 3);
    const got = explainConcepts(net, x, { method: 'train-free', rule: 'z+', explainedOutput: output }, t, [0, 1]);
    const want = conditionalHeatmaps(exactMats(net), x, explainedRow(net, output), { method: 'train-free', rules: parseRuleMap('z+', net.layers, 'train-free') }, t, [0, 1]);
    assert.deepEqual(got.map((g) => g.relevance), want.heatmaps.map((h) => Array.from(h)));
    assert.deepEqual(got.map((g) => g.channelRelevance), want.channelRelevance);
    const refused = (f: () => unknown, code: string) =>
      assert.throws(f, (e: unknown) => isDtdError(e) && e.code === code);
    refused(() => explainConcepts(net, x, { method: 'full-backward', explainedOutput: output }, t, [0]), 'unsupported');
    refused(() => explainConcepts(net, x, { method: 'train-free', rule: '0', explainedOutput: output }, t, [0]), 'unsupported');
    refused(() => explainConcepts(net, x, { method: 'train-free', explainedOutput: output }, t, [9999]), 'bad-usage');
    refused(() => explainConcepts(net, x, { method: 'train-free', explainedOutput: output }, 0, [0]), 'bad-usage');
  });
});

describe('the concept request through the engine process (EngineClient → dist/engine.js)', () => {
  const ENGINE = path.join(REPO, 'dist', 'engine.js');
  const name = 'cnn3x10_bn_gap_seed2';
  const fx = loadConvFixture(name);
  const bytes = new Uint8Array(readFileSync(convFixtureFile(name, 'onnx')));
  const net = loadModel(bytes, `${name}.onnx`);
  const x = flat(fx.input.x);
  const output = fx.explanations[0].explained_output;
  const quiet = new Proxy({}, { get: () => () => undefined }) as vscode.LogOutputChannel;
  let client: EngineClient;
  before(() => {
    // The engine bundle as the extension forks it, built from this tree.
    const b = spawnSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    client = new EngineClient({ enginePath: ENGINE, log: quiet, timeoutSeconds: () => 60 });
  });
  after(() => client?.dispose());

  test('answers with the conditional heatmaps the library computes; refuses a changed model file', async () => {
    const t = layerShapes(net).findIndex((sh, i) => i > 0 && sh.length === 3);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const options = { method: 'lrp' as const, rule: 'epsilon', explainedOutput: output };
    const got = await client.concepts({ fileName: `${name}.onnx`, modelBytes: bytes }, { kind: 'values', values: x }, options, t, [0, 3], sha);
    const want = explainConcepts(net, x, options, t, [0, 3]);
    assert.deepEqual(got, want);
    await assert.rejects(client.concepts({ fileName: `${name}.onnx`, modelBytes: bytes }, { kind: 'values', values: x }, options, t, [0], 'f'.repeat(64)), (e: unknown) => e instanceof EngineError && /changed since this run/.test(e.message));
    await assert.rejects(client.concepts({ fileName: `${name}.onnx`, modelBytes: bytes }, { kind: 'values', values: x }, { method: 'full-backward', explainedOutput: output }, t, [0], sha), (e: unknown) => e instanceof EngineError && e.code === 'unsupported');
  });
});
