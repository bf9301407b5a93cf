// The workspace the VS Code tests open: fixture models (from DTD_FIXTURES_DIR,
// ../shared/fixtures/dtd beside the clone, or /work/shared/fixtures/dtd), a
// residual network (../residual/res_basic_seed20.onnx beside them, when there), an
// input file, a .txt file, folders, and models that must fail cleanly.

import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';

const ROOT = process.cwd();

function fixturesDir(): string {
  const candidates = [process.env.DTD_FIXTURES_DIR, join(ROOT, '../shared/fixtures/dtd'), join(ROOT, 'test/fixtures/dtd')].filter((p): p is string => !!p);
  const hit = candidates.find((p) => existsSync(join(p, 'mlp3_seed1_notebook.onnx')));
  if (!hit) throw new Error(`fixture models not found in ${candidates.join(', ')} (set DTD_FIXTURES_DIR)`);
  return hit;
}

/** The residual network copied into the workspace root (RESIDUAL.md), when the fixtures have it. */
export const RESIDUAL_MODEL = 'res_basic_seed20.onnx';

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
  // A graph (ResNet BasicBlocks: identity and projection skips) for the model inspector's join rows.
  const residual = join(fx, '..', 'residual', RESIDUAL_MODEL);
  if (existsSync(residual)) copyFileSync(residual, join(dir, RESIDUAL_MODEL));
  // The fixture file doubles as an input file: the input reader takes its input.x.
  copyFileSync(join(fx, 'mlp3_seed1_notebook.json'), join(dir, 'inputs', 'mlp3_seed1_notebook.json'));
  // An input of another size (5 values): the input picker leaves it out for the 10-input MLP.
  writeFileSync(join(dir, 'inputs', 'wrong-size.csv'), '0.1,0.2,0.3,0.4,0.5\n');
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
  // A dataset: a folder of three images (one of them 20×20, resized to the model's 10×10).
  mkdirSync(join(dir, 'images'), { recursive: true });
  for (const [name, size, k] of [['b.png', 10, 5], ['a.png', 10, 3], ['c.png', 20, 7]] as const) {
    const img = new PNG({ width: size, height: size });
    for (let i = 0; i < size * size; i++) {
      img.data[4 * i] = (i * k * 13) % 256;
      img.data[4 * i + 1] = (i * k) % 256;
      img.data[4 * i + 2] = 255 - ((i * 29) % 256);
      img.data[4 * i + 3] = 255;
    }
    writeFileSync(join(dir, 'images', name), PNG.sync.write(img));
  }
  prepareHostileFiles(dir, fx, models);
}

/**
 * Files a cloned repository can carry to attack the host (issue 12): a model that
 * is a symlink to /dev/zero, a sidecar that is a symlink out of its folder, and a
 * TF.js model.json whose shard path escapes through a symlinked sub-folder (to a
 * shard of the right size, which would otherwise be used silently). POSIX only.
 */
function prepareHostileFiles(dir: string, fx: string, models: string): void {
  if (process.platform === 'win32') return;
  const hostile = join(dir, 'hostile');
  mkdirSync(hostile, { recursive: true });
  symlinkSync('/dev/zero', join(hostile, 'zero.onnx'));
  copyFileSync(join(fx, 'mlp3_seed1_notebook.safetensors'), join(hostile, 'leaky.safetensors'));
  symlinkSync('/etc/passwd', join(hostile, 'leaky.dtd.json'));
  // The shard lives outside the model's folder; model.json reaches it through weights/ → ../outside.
  mkdirSync(join(dir, 'outside'), { recursive: true });
  const tfjs = join(models, 'tfjs', 'cnn3x10_bn_gap_seed2');
  copyFileSync(join(tfjs, 'group1-shard1of1.bin'), join(dir, 'outside', 'group1-shard1of1.bin'));
  const escape = join(hostile, 'escape-tfjs');
  mkdirSync(escape, { recursive: true });
  symlinkSync(join('..', '..', 'outside'), join(escape, 'weights'));
  const doc = JSON.parse(readFileSync(join(tfjs, 'model.json'), 'utf8'));
  doc.weightsManifest[0].paths = ['weights/group1-shard1of1.bin'];
  writeFileSync(join(escape, 'model.json'), JSON.stringify(doc));
}

