// Chooses the compute implementation at start. float64 always runs on typed
// arrays (exact). float32 prefers TensorFlow.js: `tensorflow` through
// @tensorflow/tfjs-node-gpu only when it loads and a probe shows a GPU, then
// @tensorflow/tfjs-node, then wasm (SIMD), then tfjs cpu; typed float32
// arrays if TensorFlow.js itself cannot load. The chosen backend is reported
// in every result.

import { DtdError } from '../errors';
import type { BackendName, Precision } from '../../protocol';
import type { Ops } from './ops';
import { TypedOps } from './typed';

const cache = new Map<string, Promise<Ops>>();

export function getOps(precision: Precision, backend: BackendName): Promise<Ops> {
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(backend)) {
    return Promise.reject(new DtdError('bad-usage', `Unknown backend '${backend}' (use auto, tensorflow, wasm or cpu).`));
  }
  if (precision !== 'float64' && precision !== 'float32') {
    return Promise.reject(new DtdError('bad-usage', `Unknown precision '${precision}' (use float64 or float32).`));
  }
  if (precision === 'float64') return Promise.resolve(new TypedOps('float64') as Ops);
  const key = `${precision}:${backend}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      try {
        const { createTfjsOps } = await import('./tfjs');
        return (await createTfjsOps(backend)) as Ops;
      } catch (e) {
        if (backend !== 'auto') {
          throw new DtdError('bad-usage', `The ${backend} backend is not available here: ${(e as Error).message}`);
        }
        return new TypedOps('float32') as Ops;
      }
    })();
    cache.set(key, p);
  }
  return p;
}
