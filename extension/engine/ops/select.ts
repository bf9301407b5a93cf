// Chooses the compute implementation at start. float64 always runs on typed
// arrays (exact). float32 prefers TensorFlow.js: `tensorflow` through
// @tensorflow/tfjs-node-gpu only when it loads and a probe shows a GPU, then
// @tensorflow/tfjs-node, then wasm (SIMD), then tfjs cpu; typed float32
// arrays if TensorFlow.js itself cannot load. The chosen backend is reported
// in every result.

import { DtdError } from '../errors';
import { formatBytes, LIMITS, type BackendName, type Precision } from '../../protocol';
import type { Network } from '../network';
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

/** Weight matrices tfjs keeps a transposed copy of (ops/tfjs.ts), in values. */
export const TRANSPOSE_CACHE_VALUES = 1 << 24;

/**
 * The tfjs-wasm heap (bytes, float32) an explanation of `net` is estimated to need: every weight matrix with its
 * positive and negative parts (and their transposes when tfjs keeps them), and about 16 batch tensors per layer
 * (pre-activations, activations, their signed parts, rule terms, relevance). VGG-16 at 224²: about 2.7 GB.
 */
export function wasmHeapBytes(net: Network): number {
  let values = net.inputSize * 16;
  for (const l of net.layers) {
    const w = 'weight' in l && l.weight ? l.weight.length : 0;
    values += w * (w > TRANSPOSE_CACHE_VALUES ? 3 : 6) + l.outFeatures * 16;
  }
  return values * 4;
}

/**
 * The ops for one explanation of `net`: tfjs-wasm when its heap can hold the run (LIMITS.wasmHeapMB), else, for
 * backend auto, typed float32 arrays with a warning; an explicit --backend wasm is refused before any work.
 */
export async function opsFor(net: Network, precision: Precision, backend: BackendName, warnings: string[]): Promise<Ops> {
  const ops = await getOps(precision, backend);
  if (ops.backend !== 'tfjs-wasm') return ops;
  const need = wasmHeapBytes(net);
  const limit = LIMITS.wasmHeapMB * 1024 * 1024;
  if (need <= limit) return ops;
  const what = `This network needs about ${formatBytes(need)} of tfjs-wasm's heap in float32, more than the ${formatBytes(limit)} it can hold reliably (the heap stops at 4 GB)`;
  if (backend === 'wasm') throw new DtdError('too-costly', `${what}. Use --precision float64 (or backend auto, which runs it on typed float32 arrays).`);
  warnings.push(`${what}: float32 runs on typed arrays (slower than tfjs-wasm).`);
  return new TypedOps('float32');
}
