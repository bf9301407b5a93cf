// A ResNet-18-shaped network exported by torch (torchvision 0.14's
// ResNet(BasicBlock, [2, 2, 2, 2]) at 3×64×64, base width 16 so the committed
// file stays small; tools/real-models/make_onnx.py): it loads as a graph with
// its 8 residual adds, and explains with LRP (zennit's epsilon_plus composite)
// and train-free DTD, whose root checks (exact region test) run, sampled where
// the work limit says so; the root audit runs on it.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { audit } from '../../extension/engine/audit';
import { explain } from '../../extension/engine/explain';
import { loadModel } from '../../extension/engine/loaders/index';
import { isChain } from '../../extension/engine/network';
import { REAL_MODELS_DIR } from '../helpers/fixtures';

const FILE = path.join(REAL_MODELS_DIR, 'onnx', 'resnet18_w16.onnx');
const expected = JSON.parse(readFileSync(FILE.replace(/\.onnx$/, '.expected.json'), 'utf8'));
const net = loadModel(readFileSync(FILE), 'resnet18_w16.onnx');
const x: number[] = expected.input.values;
// The largest logit (the file's `explained_output` field holds the output vector).
const out: number[] = expected.output_float64;
const k = out.indexOf(Math.max(...out));

test('ResNet-18 (torch export): a graph with 8 residual adds and 3 projection shortcuts', () => {
  assert.equal(isChain(net), false);
  assert.equal(net.layers.filter((l) => l.kind === 'add').length, 8);
  assert.equal(net.layers.filter((l) => l.kind === 'conv2d' && l.kernel[0] === 1 && l.stride[0] === 2).length, 3);
  assert.equal(net.inputSize, 3 * 64 * 64);
});

for (const precision of ['float32', 'float64'] as const) {
  test(`ResNet-18, LRP epsilon_plus in ${precision}: f(x) is torch's, relevance finite and on every tensor`, async () => {
    const r = await explain(net, x, { method: 'lrp', rule: 'epsilon_plus', precision, explainedOutput: k, baselines: false });
    assert.equal(r.status, 'ok', r.message ?? '');
    assert.ok(Math.abs(r.explainedValue - out[k]) <= 1e-5, `${r.explainedValue} vs torch ${out[k]}`);
    assert.equal(r.relevance.length, net.layers.length + 1);
    assert.ok(r.relevance.every((v) => v !== null && v.every(Number.isFinite)));
    // epsilon_plus: z+ on every conv, ε on the dense layer (zennit's EpsilonPlus).
    assert.ok(r.rules.some((t) => t.startsWith('epsilon')) && r.rules.some((t) => t === 'z+'), r.rules.join(' | '));
  });
}

test('ResNet-18, train-free z+ (float32): conserved through the adds, root checks (exact region test) ran', async () => {
  const r = await explain(net, x, { method: 'train-free', precision: 'float32', explainedOutput: k, baselines: false });
  assert.equal(r.status, 'ok', r.message ?? '');
  const sum = r.relevance[0]!.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - r.explainedValue) <= 1e-2 * Math.abs(r.explainedValue), `input sum ${sum} vs f(x) ${r.explainedValue}`);
  const checked = r.roots.flat().filter((q) => q.checks);
  assert.ok(checked.length > 0, 'some roots were checked');
  assert.ok(checked.every((q) => typeof q.checks!.inRegion === 'boolean' && typeof q.checks!.relevanceZero === 'boolean'));
  // Big layers are sampled or skipped, and the result says which.
  const said = r.warnings.some((w) => w.startsWith('Root checks sampled') || w.startsWith('Root diagnostics skipped'));
  assert.ok(said || checked.length === r.roots.flat().length, r.warnings.join('\n'));
});

test('ResNet-18: the root audit runs (train-free z+, 2 inputs)', async () => {
  const res = await audit(net, { inputs: 2, rules: ['z+'], methods: ['train-free'], explainedOutput: k });
  assert.equal(res.rows.length, 1);
  assert.equal(res.rows[0].skipped, undefined);
  assert.ok(res.rows[0].inputs - res.rows[0].failedInputs >= 1, JSON.stringify(res.rows[0]));
});
