// The same convolutional network saved as ONNX, TF.js Layers, Keras (.keras,
// .h5) and safetensors + sidecar gives the same explanation, for DTD (zB at the
// pixels, z+ above) and for LRP.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { explain, loadModel, type Network } from '../../extension/engine/index';
import { assertClose, CONV_FIXTURES_DIR, maxAbs, REPO } from '../helpers/fixtures';

const NAME = 'cnn3x10_bn_gap_seed2';
const fx = JSON.parse(readFileSync(path.join(CONV_FIXTURES_DIR, `${NAME}.json`), 'utf8'));
const x: number[] = fx.input.x.flat(3);
const k: number = fx.explanations[0].explained_output;

function models(): [string, Network][] {
  const models = path.join(REPO, 'test', 'models');
  const bytes = (f: string) => new Uint8Array(readFileSync(f));
  const tfjsDir = path.join(models, 'tfjs', NAME);
  return [
    ['onnx', loadModel(bytes(path.join(CONV_FIXTURES_DIR, `${NAME}.onnx`)), `${NAME}.onnx`)],
    ['tfjs', loadModel(bytes(path.join(tfjsDir, 'model.json')), 'model.json', { readSibling: (n) => bytes(path.join(tfjsDir, n)) })],
    ['keras', loadModel(bytes(path.join(models, 'keras', `${NAME}.keras`)), `${NAME}.keras`)],
    ['h5', loadModel(bytes(path.join(models, 'keras', `${NAME}.h5`)), `${NAME}.h5`)],
    [
      'safetensors',
      loadModel(bytes(path.join(CONV_FIXTURES_DIR, `${NAME}.safetensors`)), `${NAME}.safetensors`, {
        sidecar: JSON.parse(readFileSync(path.join(models, 'conv', `${NAME}.dtd.json`), 'utf8')),
      }),
    ],
  ];
}

test('one conv network in five formats: the same DTD and LRP explanation of an image input', async () => {
  const all = models();
  const ref = await explain(all[0][1], x, { explainedOutput: k, rule: 'layer1=zB=0,1;*=z+' });
  assert.equal(ref.status, 'ok');
  assert.deepEqual(ref.shapes?.[0], [3, 10, 10]);
  const zennit = fx.explanations[0].zennit.rules.zbox_zplus_zero_bias.relevance.flat(2);
  const lrpRef = await explain(all[0][1], x, { explainedOutput: k, method: 'lrp', rule: 'layer1=zbox=0,1;*=zplus', zeroBias: true });
  assertClose(lrpRef.relevance[0], zennit, 0, 1e-9 * maxAbs(zennit), 'ONNX LRP zbox/z+ vs zennit');
  for (const [fmt, net] of all.slice(1)) {
    const r = await explain(net, x, { explainedOutput: k, rule: 'layer1=zB=0,1;*=z+' });
    assertClose(r.relevance[0], ref.relevance[0]!, 0, 1e-9 * maxAbs(ref.relevance[0]!), `${fmt}: DTD input relevance`);
    const l = await explain(net, x, { explainedOutput: k, method: 'lrp', rule: 'layer1=zbox=0,1;*=zplus', zeroBias: true });
    assertClose(l.relevance[0], zennit, 0, 1e-9 * maxAbs(zennit), `${fmt}: LRP vs zennit`);
  }
});
