// Writes test/models/conv/<case>.dtd.json: the sidecar that describes each conv
// fixture's architecture for its .safetensors (PyTorch state dict), generated
// from the fixture JSON's `network.layers` (CONV.md §2) in the sidecar schema of
// extension/engine/loaders/layerSpec.ts. Also a "preprocessing" block for the
// normalised-input case (its ImageNet mean/std).
// Run: node --import tsx test/models/make-conv-sidecars.ts

import fs from 'node:fs';
import path from 'node:path';
import { CONV_FIXTURES_DIR } from '../helpers/fixtures';

type Obj = Record<string, unknown>;

export function sidecarFromFixture(fx: Obj): Obj {
  const network = fx.network as { layers: Obj[] };
  const input = fx.input as Obj;
  const shape = (input.shape as number[]).slice(1);
  const layers = network.layers.map((l): Obj => {
    const module = l.name as string;
    switch (l.type) {
      case 'Conv2d':
        return { type: 'conv2d', module, stride: l.stride, padding: l.padding, dilation: l.dilation };
      case 'BatchNorm2d':
        return { type: 'batchnorm', module, eps: l.eps };
      case 'ReLU':
        return { type: 'relu' };
      case 'MaxPool2d':
        return { type: 'maxpool2d', kernel: l.kernel_size, stride: l.stride };
      case 'AvgPool2d':
        return { type: 'avgpool2d', kernel: l.kernel_size, stride: l.stride };
      case 'AdaptiveAvgPool2d':
        return { type: 'globalavgpool2d' };
      case 'Flatten':
        return { type: 'flatten' };
      case 'Linear':
        return { type: 'linear', module };
      case 'Softmax':
        return { type: 'softmax' };
      default:
        throw new Error(`no sidecar type for ${String(l.type)}`);
    }
  });
  const out: Obj = { inputShape: shape, layers };
  const norm = input.normalization as { mean: number[]; std: number[] } | undefined;
  if (norm) out.preprocessing = { scale: '0..1', mean: norm.mean, std: norm.std };
  return out;
}

if (require.main === module) {
  const outDir = path.join(__dirname, 'conv');
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(CONV_FIXTURES_DIR).filter((n) => n.endsWith('.json')).sort()) {
    const fx = JSON.parse(fs.readFileSync(path.join(CONV_FIXTURES_DIR, f), 'utf8'));
    const target = path.join(outDir, f.replace(/\.json$/, '.dtd.json'));
    fs.writeFileSync(target, `${JSON.stringify(sidecarFromFixture(fx), null, 1)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), target)}`);
  }
}
