// Conv fixture parity (test/fixtures/conv, CONV.md): for every case and both
// explained outputs: forward logits and every module's output, gradient and
// gradient×input, all 9 zennit rule keys at the input, zero-bias z⁺ at the
// input of every module, conservation sums; at CONV.md §9's tolerances
// (forward/gradient rel 1e-12 of max|ref|, relevances 1e-9·max|ref| per array,
// sums 1e-9·|logit|, complete absorption exactly 0). Networks are built from
// the fixture JSON by an independent test helper.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gradientBatch, lrpBatch } from '../../extension/engine/baselines';
import { forward } from '../../extension/engine/forward';
import type { Network } from '../../extension/engine/network';
import { TypedOps } from '../../extension/engine/ops/typed';
import { forwardBatch, NetMats } from '../../extension/engine/forward';
import { convFixtureNames, convNetFromFixture, flat, loadConvFixture, rulesForKey } from '../helpers/conv';
import { maxAbs, type Fixture } from '../helpers/fixtures';

const ops = new TypedOps('float64');

/** max|got − want| ≤ tol·max|want| over the array (CONV.md §9: per-array tolerance); returns the measured ratio. */
function assertArray(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): number {
  assert.equal(got.length, want.length, `${what}: length ${got.length} ≠ ${want.length}`);
  const scale = maxAbs(want);
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    assert.ok(!Number.isNaN(got[i]), `${what}[${i}] is NaN`);
    const d = Math.abs(got[i] - want[i]);
    if (d > worst) [worst, at] = [d, i];
  }
  if (scale === 0) {
    // Complete absorption: the reference is exactly 0 and so must we be.
    assert.equal(worst, 0, `${what}: the reference is all zeros, got ${got[at]} at ${at}`);
    return 0;
  }
  assert.ok(worst <= tol * scale, `${what}[${at}]: got ${got[at]}, want ${want[at]} (|Δ| = ${worst.toExponential(3)} > ${tol}·max|ref| = ${(tol * scale).toExponential(3)})`);
  return worst / scale;
}

export const measured: Record<string, number> = {};
function record(key: string, v: number): void {
  measured[key] = Math.max(measured[key] ?? 0, v);
}

for (const name of convFixtureNames()) {
  describe(`conv fixture ${name}`, () => {
    const fx = loadConvFixture(name);
    const { net, moduleInput, moduleOutput } = convNetFromFixture(fx, name);
    const x = flat(fx.input.x);
    const L = net.layers.length;

    test('forward: logits and every module output (rel 1e-12 of max|ref|)', () => {
      const f = forward(net, x);
      for (const a of fx.forward.activations) {
        if (a.module_index >= moduleOutput.length) {
          // The final Softmax is not part of the explained function; its output is softmax(logits).
          assert.equal(a.type, 'Softmax');
          const z = f.pre[L - 1], mx = Math.max(...z);
          const e = Array.from(z, (v) => Math.exp(v - mx)), s = e.reduce((p, v) => p + v, 0);
          record('forward', assertArray(e.map((v) => v / s), flat(a.values), 1e-12, 'softmax output'));
          continue;
        }
        const [kind, l] = moduleOutput[a.module_index];
        if (kind === 'folded') continue; // conv output before its folded BatchNorm: checked through the BN module's output
        const got = kind === 'pre' ? f.pre[l - 1] : f.act[l];
        record('forward', assertArray(got, a.values ? flat(a.values) : [], 1e-12, `module ${a.module_index} (${a.type}) output`));
      }
      record('forward', assertArray(f.pre[L - 1], fx.forward.logits, 1e-12, 'logits'));
      // The batched path (Ops) gives the same.
      const bf = forwardBatch(new NetMats(ops, net), ops.matrix(1, x.length, x));
      record('forward', assertArray(ops.read(bf.pre[L - 1]), fx.forward.logits, 1e-12, 'logits (batched)'));
    });

    for (const [e, ex] of (fx.explanations as Fixture[]).entries()) {
      describe(`explanation ${e} (${ex.role}, output ${ex.explained_output})`, () => {
        const row: number = ex.explained_output;
        const mats = new NetMats(ops, net);
        const X = ops.matrix(1, x.length, x);

        test('gradient and gradient×input (rel 1e-12 of max|ref|)', () => {
          const g = ops.read(gradientBatch(mats, X, row));
          record('gradient', assertArray(g, flat(ex.gradient.grad), 1e-12, 'gradient'));
          record('gradient', assertArray(Array.from(g, (v, i) => v * x[i]), flat(ex.gradient.grad_times_input), 1e-12, 'gradient×input'));
        });

        for (const key of Object.keys(ex.zennit.rules)) {
          test(`zennit ${key}: input relevance (1e-9·max|ref|), sums per module input (1e-9·|logit|)`, () => {
            const want = ex.zennit.rules[key];
            assert.equal(want.status, 'ok');
            const out = lrpBatch(mats, X, row, rulesForKey(net, fx, key));
            const R0 = ops.read(out.relevance[0]);
            record(key, assertArray(R0, flat(want.relevance), 1e-9, `${key} input relevance`));
            const logit = Math.abs(ex.explained_logit);
            const cons = ex.conservation.rules[key];
            for (const pm of cons.per_module_input) {
              const s = ops.read(out.relevance[moduleInput[pm.module_index]]).reduce((p, v) => p + v, 0);
              const d = Math.abs(s - pm.sum);
              record(`${key} sums`, d / logit);
              assert.ok(d <= 1e-9 * logit, `${key}: sum at the input of module ${pm.module_index} (${pm.type}) is ${s}, want ${pm.sum} (|Δ| = ${d.toExponential(3)})`);
            }
            const sIn = R0.reduce((p, v) => p + v, 0);
            assert.ok(Math.abs(sIn - cons.input_sum) <= 1e-9 * logit, `${key}: input sum ${sIn} ≠ ${cons.input_sum}`);
          });
        }

        test('zplus_zero_bias at the input of every module (1e-9·max|ref|)', () => {
          const out = lrpBatch(mats, X, row, rulesForKey(net, fx, 'zplus_zero_bias'));
          for (const pl of ex.per_layer_zplus_zero_bias) {
            const idx = pl.at_input_of_module === null ? L : moduleInput[pl.at_input_of_module];
            const got = ops.read(out.relevance[idx]);
            record('zplus_zero_bias per module', assertArray(got, flat(pl.relevance), 1e-9, `relevance at the input of module ${pl.at_input_of_module ?? 'logits'} (${pl.type})`));
          }
        });
      });
    }
  });
}

test('measured deviations (information)', () => {
  // Printed so the report can quote them; the assertions above are the checks.
  console.log(JSON.stringify(measured, (_k, v) => (typeof v === 'number' ? Number(v.toExponential(2)) : v), 1));
});

// The same networks from the model files (the formats' loaders): ONNX, and safetensors with the sidecar
// in test/models/conv. Unfused files must give the fixture's explanations at the same tolerances; the
// BN-fused ONNX export (float32 fusion by torch) is checked at CONV.md §9's abs 1e-6 on the forward pass.
import { readFileSync as readFile, existsSync } from 'node:fs';
import * as nodePath from 'node:path';
import { loadModel } from '../../extension/engine/loaders';
import { convFixtureFile } from '../helpers/conv';
import { REPO } from '../helpers/fixtures';

for (const name of convFixtureNames()) {
  for (const ext of ['onnx', 'safetensors'] as const) {
    test(`conv fixture ${name} loaded from .${ext}: forward and LRP explanations`, () => {
      const fx = loadConvFixture(name);
      const sidecarFile = nodePath.join(REPO, 'test', 'models', 'conv', `${name}.dtd.json`);
      // safetensors holds no architecture: the sidecar in test/models/conv describes it, for every conv fixture.
      if (ext === 'safetensors') assert.ok(existsSync(sidecarFile), `${sidecarFile} is missing`);
      const sidecar = ext === 'safetensors' ? JSON.parse(readFile(sidecarFile, 'utf8')) : undefined;
      const net: Network = loadModel(new Uint8Array(readFile(convFixtureFile(name, ext))), `${name}.${ext}`, { sidecar });
      const fused = ext === 'onnx' && fx.model_files.onnx.batchnorm_fused_into_conv_by_exporter === true;
      const x = flat(fx.input.x);
      const f = forward(net, x);
      const logits = f.pre[net.layers.length - 1];
      if (fused) {
        for (let i = 0; i < logits.length; i++) assert.ok(Math.abs(logits[i] - fx.forward.logits[i]) <= 1e-6, `fused ONNX logit ${i}`);
        return;
      }
      record(`forward (.${ext})`, assertArray(logits, fx.forward.logits, 1e-12, `logits from .${ext}`));
      const mats = new NetMats(ops, net);
      const X = ops.matrix(1, x.length, x);
      for (const ex of fx.explanations) {
        for (const key of Object.keys(ex.zennit.rules)) {
          const out = lrpBatch(mats, X, ex.explained_output, rulesForKey(net, fx, key));
          record(`${key} (.${ext})`, assertArray(ops.read(out.relevance[0]), flat(ex.zennit.rules[key].relevance), 1e-9, `${key} from .${ext}, output ${ex.explained_output}`));
        }
      }
    });
  }
}
