// The pinv rule's pseudo-inverse (a Jacobi SVD, ~min(m,n)²·max(m,n) per sweep) is refused up front on a layer
// where it would take minutes, with a message naming the layer and the limit; small layers still run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardBatch, MAX_PINV_WORK, NetMats } from '../../extension/engine/forward';
import { isDtdError } from '../../extension/engine/errors';
import { TypedOps } from '../../extension/engine/ops/typed';
import { parseRuleMap } from '../../extension/engine/rules/parse';
import { explainedRowStart, trainFreeBatch } from '../../extension/engine/trainFree';
import { flat } from '../helpers/conv';
import { loadResidualFixture, residualNetFromFixture } from '../helpers/residual';

test('pinv on a 2048×768 conv layer is refused before any SVD work, naming the layer and the limit', () => {
  const fx = loadResidualFixture('res_basic_seed20');
  const net = residualNetFromFixture(fx, 'res_basic_seed20').net;
  const ops = new TypedOps('float64');
  const mats = new NetMats(ops, net);
  const fwd = forwardBatch(mats, ops.matrix(1, net.inputSize, flat(fx.input.x)));
  const start = explainedRowStart(ops, fwd.act[net.layers.length], 0);
  const t0 = performance.now();
  assert.throws(
    () => trainFreeBatch(mats, fwd, parseRuleMap('pinv', net.layers, 'train-free'), start.top, start.mask),
    (e: unknown) => isDtdError(e) && e.code === 'too-costly' && /pinv rule on '.+' needs the pseudo-inverse of its \d+×\d+ matrix .*limit 1\.5e\+8/.test(e.message),
  );
  assert.ok(performance.now() - t0 < 2000, 'refused up front, not after the SVD');
  assert.ok(768 * 768 * 2048 > MAX_PINV_WORK);
});

test('pinv on a layer under the limit still runs (the 16→10 dense head of the same network)', () => {
  const fx = loadResidualFixture('res_basic_seed20');
  const net = residualNetFromFixture(fx, 'res_basic_seed20').net;
  const L = net.layers.length;
  const ops = new TypedOps('float64');
  const mats = new NetMats(ops, net);
  const P = ops.read(mats.pinvT(L));
  assert.equal(P.length, net.layers[L - 1].inFeatures * net.layers[L - 1].outFeatures);
  assert.ok(P.every(Number.isFinite));
});
