// The engine process explains run after run: a float32 explanation must free
// every tensor it makes, and the heap must not grow with the number of runs.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as tf from '@tensorflow/tfjs-core';
import { explain, loadModel } from '../../extension/engine/index';
import { fixtureFile } from '../helpers/fixtures';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('200 float32 explanations (LRP and train-free) in one process free their tensors and keep the heap level', async () => {
  const name = 'scale_784_256_128_10_seed0';
  const net = loadModel(new Uint8Array(readFileSync(fixtureFile(name, 'onnx'))), `${name}.onnx`);
  const x = Float64Array.from({ length: 784 }, (_, i) => (i % 7) / 7);
  const run = (i: number) => explain(net, x, { method: i % 2 ? 'lrp' : 'train-free', rule: i % 2 ? 'epsilon' : 'z+', precision: 'float32', backend: 'wasm', explainedOutput: i % 10 });
  await run(0);
  await run(1);
  gc();
  const tensors = tf.memory().numTensors;
  const heap = process.memoryUsage().heapUsed;
  for (let i = 2; i < 200; i++) await run(i);
  gc();
  assert.equal(tf.memory().numTensors, tensors, 'live tensors after 200 runs');
  // A leak of one result per run would be ≥ 200 × (784 + 256 + 128 + 10) numbers × 8 B ≈ 1.9 MB; allow GC noise well below.
  const grown = process.memoryUsage().heapUsed - heap;
  assert.ok(grown < 8e6, `the heap grew by ${(grown / 1e6).toFixed(1)} MB over 198 runs`);
});
