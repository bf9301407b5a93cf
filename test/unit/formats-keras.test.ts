// Keras .keras (Keras 3 zip: config.json + model.weights.h5) and legacy .h5,
// written by test/models/make-keras.ts (h5wasm for HDF5; see its header for what
// is and is not genuine): the same IR as the fixture JSON / ONNX / TF.js, and the
// refusals (unsupported layers up front, weights-only .h5, zip bomb, corrupt files).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { zipSync, strToU8, unzipSync } from 'fflate';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';
import { loadModel } from '../../extension/engine/loaders/index';
import { isDtdError } from '../../extension/engine/errors';
import type { Network } from '../../extension/engine/network';
import { assertClose, flat, referenceOutput } from './formats-helpers';
import { KERAS_CASES } from '../models/make-keras';
import { expectDtdError } from '../helpers/errors';

const DIR = path.resolve(__dirname, '..', 'models', 'keras');
const read = (f: string) => new Uint8Array(fs.readFileSync(f));
const strip = (n: Network) => n.layers.map(({ name: _n, ...rest }) => rest);

const expectError = expectDtdError;

for (const name of KERAS_CASES) {
  test(`Keras ${name}: .keras and .h5 give the fixture's IR (as ONNX and TF.js) and forward.logits`, () => {
    const fx = JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${name}.json`), 'utf8'));
    const fromOnnx = loadModel(read(path.join(CONV_FIXTURES_DIR, `${name}.onnx`)), `${name}.onnx`);
    for (const ext of ['.keras', '.h5']) {
      const net = loadModel(read(path.join(DIR, `${name}${ext}`)), `${name}${ext}`);
      assert.equal(net.source.format, 'keras');
      assert.deepEqual(net.inputShape, fx.input.shape.slice(1));
      assert.deepEqual(strip(net), strip(fromOnnx), `${ext}: layers`);
      assertClose(referenceOutput(net, flat(fx.input.x)), fx.forward.logits, 1e-9, `${name}${ext} logits`);
    }
  });
}

const base = KERAS_CASES[0];
const archive = () => unzipSync(read(path.join(DIR, `${base}.keras`)));

test('.keras: unsupported layers are listed before any weight is read', () => {
  const files = archive();
  const config = JSON.parse(new TextDecoder().decode(files['config.json']));
  config.config.layers.splice(2, 0, { module: 'keras.layers', class_name: 'LayerNormalization', config: { name: 'ln' } });
  config.config.layers.push({ module: 'keras.layers', class_name: 'Lambda', config: { name: 'custom' } });
  const bytes = zipSync({ 'config.json': strToU8(JSON.stringify(config)) });
  // The Lambda appended after the softmax Dense also makes that softmax non-final: three problems.
  expectError(() => loadModel(bytes, 'm.keras'), 'unsupported', "m.keras: layer 'ln' (LayerNormalization), layer 'dense_8' (Dense) with activation 'softmax' before the last layer and layer 'custom' (Lambda), which DTD Lens does not support yet (supported: InputLayer, Dense, Conv2D");
});

test('.keras: zip bomb, missing entries, truncated and random bytes', () => {
  const files = archive();
  const bomb = zipSync({ 'config.json': files['config.json'], 'model.weights.h5': new Uint8Array(30 * 1024 * 1024) }, { level: 9 });
  expectError(() => loadModel(bomb, 'bomb.keras', { maxUncompressedBytes: 5 * 1024 * 1024 }), 'bad-model', "bomb.keras: refused: entry 'model.weights.h5' declares 30.0 MB uncompressed, more than the 5.0 MB");
  expectError(() => loadModel(zipSync({ 'a.txt': strToU8('x') }), 'no.keras'), 'bad-model', 'is not a Keras v3 archive: it has no config.json (entries: \'a.txt\')');
  expectError(() => loadModel(zipSync({ 'config.json': files['config.json'] }), 'now.keras'), 'bad-model', 'has no model.weights.h5');
  const good = read(path.join(DIR, `${base}.keras`));
  expectError(() => loadModel(good.slice(0, good.length - 30), 'cut.keras'), 'bad-model', 'cut.keras');
  expectError(() => loadModel(zipSync({ 'config.json': files['config.json'], 'model.weights.h5': new Uint8Array(100) }), 'garbage.keras'), 'bad-model', 'model.weights.h5 is not an HDF5 file');
  expectError(() => loadModel(zipSync({ 'config.json': strToU8('{not json') }), 'bad.keras'), 'bad-model', 'config.json is not valid JSON');
});

test('.h5: weights-only files, truncated and random bytes', () => {
  const good = read(path.join(DIR, `${base}.h5`));
  let seed = 11;
  for (const cut of [64, 512, 2048, good.length >> 1, good.length - 100]) {
    let caught: unknown;
    try {
      loadModel(good.slice(0, cut), 'cut.h5');
    } catch (e) {
      caught = e;
    }
    assert.ok(isDtdError(caught) && caught.message.startsWith('cut.h5: '), `cut at ${cut}: ${String(caught)}`);
  }
  for (let trial = 0; trial < 20; trial++) {
    const bytes = Uint8Array.from({ length: 200 + trial * 37 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24));
    bytes.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
    let caught: unknown;
    try {
      loadModel(bytes, 'random.h5');
    } catch (e) {
      caught = e;
    }
    assert.ok(isDtdError(caught) && caught.code === 'bad-model', `trial ${trial}: ${String(caught)}`);
  }
  expectError(() => loadModel(good.slice(0, good.length - 100), 'short.h5'), 'bad-model', `short.h5: the file is truncated: its HDF5 superblock says it ends at byte ${good.length}, but it has ${good.length - 100} bytes.`);
  expectError(() => loadModel(new TextEncoder().encode('hello'), 'text.h5'), 'bad-model', 'text.h5: the file is not an HDF5 file');
  // The weights store of a .keras on its own has no model_config.
  expectError(() => loadModel(archive()['model.weights.h5'], 'weights.h5'), 'unsupported', 'holds weights only (no model_config attribute');
});
