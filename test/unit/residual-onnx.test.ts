// The residual/concat/grouped-conv fixtures' .onnx files (RESIDUAL.md §6: torch.onnx.export,
// opset 13) load as graphs and reproduce forward.output within 1e-6 absolute (RESIDUAL.md §7:
// float32 weights; the exporter's own BN fusion is float32 arithmetic). The relevance checks
// against these fixtures live elsewhere.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { RESIDUAL_FIXTURES_DIR, loadFixture } from '../helpers/fixtures';
import { loadModel } from '../../extension/engine/loaders/index';
import { outputs } from '../../extension/engine/forward';

const CASES = fs.existsSync(RESIDUAL_FIXTURES_DIR) ? fs.readdirSync(RESIDUAL_FIXTURES_DIR).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5)).sort() : [];
const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);

/** What each case's graph must hold (RESIDUAL.md §1, §6). */
const EXPECT: Record<string, { adds: number; concats: number; groups: number[]; maxpool: boolean; bnNotes: boolean }> = {
  res_basic_seed20: { adds: 2, concats: 0, groups: [], maxpool: false, bnNotes: true },
  res_bottleneck_maxpool_seed21: { adds: 1, concats: 0, groups: [], maxpool: true, bnNotes: false },
  mobile_depthwise_seed22: { adds: 1, concats: 0, groups: [16, 2], maxpool: false, bnNotes: false },
  dense_concat_seed23: { adds: 0, concats: 2, groups: [], maxpool: false, bnNotes: false },
};

test('residual fixtures: all four cases have an .onnx file', (t) => {
  if (!fs.existsSync(RESIDUAL_FIXTURES_DIR)) return t.skip(`no residual fixtures at ${RESIDUAL_FIXTURES_DIR}`);
  assert.deepEqual(CASES, Object.keys(EXPECT).sort());
});

for (const name of CASES) {
  test(`residual fixture ${name}.onnx: a graph whose forward pass gives forward.output within 1e-6`, () => {
    const fx = loadFixture(name, RESIDUAL_FIXTURES_DIR);
    const file = path.join(RESIDUAL_FIXTURES_DIR, `${name}.onnx`);
    const net = loadModel(new Uint8Array(fs.readFileSync(file)), file);
    assert.deepEqual(net.inputShape, fx.input.shape.slice(1));
    const want = EXPECT[name];
    assert.equal(net.layers.filter((l) => l.kind === 'add').length, want.adds);
    assert.equal(net.layers.filter((l) => l.kind === 'concat').length, want.concats);
    assert.deepEqual(net.layers.flatMap((l) => ('groups' in l && l.groups ? [l.groups] : [])), want.groups);
    assert.equal(net.layers.some((l) => l.kind === 'maxpool2d'), want.maxpool);
    assert.equal(net.layers.some((l) => l.kind === 'affine'), false, 'every BatchNorm folds into its conv');
    assert.equal(net.notes.some((n) => n.startsWith('BatchNormalization')), want.bnNotes);
    const y = outputs(net, flat(fx.input.x));
    const ref = flat(fx.forward.output);
    assert.equal(y.length, ref.length);
    ref.forEach((r, k) => assert.ok(Math.abs(y[k] - r) <= 1e-6, `${name} output ${k}: ${y[k]} vs ${r}`));
  });
}
