import { readFileSync } from 'node:fs';
import { loadModel } from '../extension/engine/loaders/index';
import { explain } from '../extension/engine/explain';
(async () => {
  const net = loadModel(readFileSync('../shared/fixtures/peer/lenet.onnx'), 'lenet.onnx');
  const x = Array.from({ length: net.inputSize }, (_, i) => ((i * 7919) % 100) / 100);
  const t0 = performance.now();
  const r = await explain(net, x, { baselines: false, explainedOutput: 0 });
  console.log(r.status, (performance.now() - t0).toFixed(0), 'ms', r.diagnostics.rootSampling, r.timings);
})();
