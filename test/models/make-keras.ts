// Writes Keras model files without Python/Keras (none is available offline):
//   * `<case>.keras`: a zip (fflate) with config.json, metadata.json and
//     model.weights.h5, laid out as Keras 3's saving_lib writes them (an InputLayer
//     with batch_shape, layer configs with module/class_name/config, weights at
//     layers/<layer name>/vars/<i> in layer.weights order);
//   * `<case>.h5`: the legacy model.save('m.h5') layout (root attribute
//     model_config, model_weights/<layer> groups with weight_names, datasets
//     model_weights/<layer>/<layer>/<var>:0).
// The HDF5 files are written with h5wasm (the HDF5 C library compiled to wasm),
// so they are genuine HDF5; what is not genuine is that Keras wrote them: the
// layout follows Keras' documented/observed format, the network is a conv
// fixture rebuilt with TensorFlow.js (make-tfjs.ts), so its config is a Keras
// config as tfjs-layers serialises it.
// Run: node --import tsx test/models/make-keras.ts → test/models/keras/

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import * as tf from '@tensorflow/tfjs';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';
import { tfjsFromFixture } from './make-tfjs';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const KERAS_CASES = ['cnn3x10_stride2_softmax_seed3', 'cnn3x10_bn_gap_seed2'];

/** The tfjs-layers topology as a Keras 3 config.json (InputLayer first, module keys). */
export function keras3Config(topology: Obj): Obj {
  const layers = (topology.config.layers as Obj[]).map((l) => ({ module: 'keras.layers', class_name: l.class_name, config: { ...l.config }, registered_name: null }));
  const first = layers[0].config;
  const batchShape = first.batch_input_shape;
  delete first.batch_input_shape;
  return {
    module: 'keras', class_name: 'Sequential',
    config: { name: topology.config.name, trainable: true, dtype: 'float32', layers: [{ module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: batchShape, dtype: 'float32', sparse: false, name: 'input_layer' }, registered_name: null }, ...layers] },
    registered_name: null,
  };
}

async function h5file(write: (f: Obj, h5: Obj) => void): Promise<Uint8Array> {
  const h5wasm: Obj = await import('h5wasm/node');
  await h5wasm.ready;
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dtd-keras-')), 'w.h5');
  const f = new h5wasm.File(tmp, 'w');
  write(f, h5wasm);
  f.close();
  const bytes = new Uint8Array(fs.readFileSync(tmp));
  fs.rmSync(path.dirname(tmp), { recursive: true });
  return bytes;
}

export async function kerasFiles(m: tf.LayersModel): Promise<{ keras: Uint8Array; h5: Uint8Array }> {
  const topology = m.toJSON(null, false) as Obj;
  const weightsOf = (layer: tf.layers.Layer) => layer.weights.map((w, i) => ({ name: w.originalName.split('/').pop()!, value: layer.getWeights()[i] }));
  // Keras 3 weights store: layers/<name>/vars/<i>.
  const weightsH5 = await h5file((f) => {
    f.create_group('layers');
    for (const layer of m.layers) {
      f.get('layers').create_group(layer.name);
      const g = f.get(`layers/${layer.name}`);
      g.create_group('vars');
      weightsOf(layer).forEach((w, i) => g.get('vars').create_dataset({ name: String(i), data: Float32Array.from(w.value.dataSync()), shape: w.value.shape }));
    }
  });
  const config = keras3Config(topology);
  const keras = zipSync({
    'metadata.json': strToU8(JSON.stringify({ keras_version: '3.6.0', date_saved: '2025-01-01@00:00:00' })),
    'config.json': strToU8(JSON.stringify(config)),
    'model.weights.h5': weightsH5,
  }, { mtime: new Date(1980, 0, 1) });
  // Legacy HDF5.
  const h5 = await h5file((f) => {
    f.create_attribute('model_config', JSON.stringify({ class_name: 'Sequential', config: topology.config }));
    f.create_attribute('keras_version', '2.15.0');
    f.create_attribute('backend', 'tensorflow');
    f.create_group('model_weights');
    const mw = f.get('model_weights');
    mw.create_attribute('layer_names', m.layers.map((l) => l.name));
    for (const layer of m.layers) {
      mw.create_group(layer.name);
      const g = f.get(`model_weights/${layer.name}`);
      const ws = weightsOf(layer);
      g.create_attribute('weight_names', ws.length ? ws.map((w) => `${layer.name}/${w.name}:0`) : ['']);
      if (ws.length) g.create_group(layer.name);
      for (const w of ws) f.get(`model_weights/${layer.name}/${layer.name}`).create_dataset({ name: `${w.name}:0`, data: Float32Array.from(w.value.dataSync()), shape: w.value.shape });
    }
  });
  return { keras, h5 };
}

if (require.main === module) {
  (async () => {
    await tf.setBackend('cpu');
    for (const c of KERAS_CASES) {
      const m = tfjsFromFixture(JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, `${c}.json`), 'utf8')));
      const { keras, h5 } = await kerasFiles(m);
      fs.writeFileSync(path.join(__dirname, 'keras', `${c}.keras`), keras);
      fs.writeFileSync(path.join(__dirname, 'keras', `${c}.h5`), h5);
      console.log(`wrote test/models/keras/${c}.keras (${keras.length} bytes) and .h5 (${h5.length} bytes)`);
    }
  })();
}
