// The workspace the VS Code tests open: fixture models (from DTD_FIXTURES_DIR,
// ../shared/fixtures/dtd beside the clone, or /work/shared/fixtures/dtd), an
// input file, a .txt file, folders, and models that must fail cleanly.

import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';

const ROOT = process.cwd();

function fixturesDir(): string {
  const candidates = [process.env.DTD_FIXTURES_DIR, join(ROOT, '../shared/fixtures/dtd'), join(ROOT, 'test/fixtures/dtd')].filter((p): p is string => !!p);
  const hit = candidates.find((p) => existsSync(join(p, 'mlp3_seed1_notebook.onnx')));
  if (!hit) throw new Error(`fixture models not found in ${candidates.join(', ')} (set DTD_FIXTURES_DIR)`);
  return hit;
}

/** Creates the workspace afresh in `dir`. */
export function prepareWorkspace(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'inputs'), { recursive: true });
  mkdirSync(join(dir, 'models'), { recursive: true }); // a plain folder: no "Explain Output"
  mkdirSync(join(dir, 'trap.onnx'), { recursive: true }); // a folder named like a model: no "Explain Output" either
  writeFileSync(join(dir, 'trap.onnx', 'README.txt'), 'a folder, not a model\n');
  const fx = fixturesDir();
  for (const f of ['mlp3_seed1_notebook.onnx', 'mlp3_seed1_notebook.safetensors']) copyFileSync(join(fx, f), join(dir, f));
  copyFileSync(join(fx, 'mlp3_seed1_notebook.onnx'), join(dir, 'models', 'nested.onnx'));
  // The fixture file doubles as an input file: the input reader takes its input.x.
  copyFileSync(join(fx, 'mlp3_seed1_notebook.json'), join(dir, 'inputs', 'mlp3_seed1_notebook.json'));
  writeFileSync(join(dir, 'notes.txt'), 'not a model\n');
  writeFileSync(join(dir, 'corrupt.onnx'), Buffer.from('this is not a protobuf \u0000\u00ff\u00fe garbage '.repeat(20), 'latin1'));
  const st = readFileSync(join(fx, 'mlp3_seed1_notebook.safetensors'));
  writeFileSync(join(dir, 'truncated.safetensors'), st.subarray(0, Math.floor(st.length / 2)));
  // A convolutional classifier as a TF.js Layers model (model.json + shard) and as a Keras file, and an image input.
  const models = join(ROOT, 'test', 'models');
  mkdirSync(join(dir, 'cnn-tfjs'), { recursive: true });
  for (const f of ['model.json', 'group1-shard1of1.bin']) copyFileSync(join(models, 'tfjs', 'cnn3x10_bn_gap_seed2', f), join(dir, 'cnn-tfjs', f));
  copyFileSync(join(models, 'keras', 'cnn3x10_bn_gap_seed2.keras'), join(dir, 'cnn.keras'));
  const png = new PNG({ width: 10, height: 10 });
  for (let i = 0; i < 100; i++) {
    png.data[4 * i] = (i * 37) % 256;
    png.data[4 * i + 1] = (i * 11) % 256;
    png.data[4 * i + 2] = 255 - ((i * 23) % 256);
    png.data[4 * i + 3] = 255;
  }
  writeFileSync(join(dir, 'inputs', 'image.png'), PNG.sync.write(png));
}

