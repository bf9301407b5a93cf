// Chooses the compute implementation at start; the chosen backend is reported
// in every result (its text says why when `auto` had to fall back).
//   float32, auto        onnxruntime (native; CUDA when its provider loads and
//                        a probe runs, else CPU), then TensorFlow.js:
//                        tfjs-node-gpu with a GPU, tfjs-node, wasm (SIMD), cpu;
//                        typed float32 arrays if TensorFlow.js cannot load.
//   float64, auto        typed arrays: the exact reference, and the fastest for
//                        the one-input explanations the extension runs (the
//                        runtime's session set-up costs more than a small
//                        network's arithmetic). `onnxruntime` runs float64 natively.
//   onnxruntime          the native runtime in either precision, or an error.
//   tensorflow/wasm/cpu  TensorFlow.js for float32 (float64 stays on typed arrays).
// onnxruntime-node is loaded lazily (ops/ort.ts): where the package or its
// native library is missing, `auto` falls back and says so.

import { DtdError } from '../errors';
import { BACKENDS, formatBytes, LIMITS, type BackendName, type Precision } from '../../protocol';
import type { Network } from '../network';
import type { Ops } from './ops';
import { TypedOps } from './typed';

const cache = new Map<string, Promise<Ops>>();

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const line = text.split('\n')[0];
  return line.length > 160 ? `${line.slice(0, 157)}…` : line;
}

/** onnxruntime Ops, or the reason it is not available. */
async function ortOps(precision: Precision): Promise<Ops | string> {
  try {
    const { createOrtOps } = await import('./ort');
    return createOrtOps(precision) as Ops;
  } catch (e) {
    return firstLine(e);
  }
}

export function getOps(precision: Precision, backend: BackendName): Promise<Ops> {
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    return Promise.reject(new DtdError('bad-usage', `Unknown backend '${backend}' (use ${BACKENDS.join(', ')}).`));
  }
  if (precision !== 'float64' && precision !== 'float32') {
    return Promise.reject(new DtdError('bad-usage', `Unknown precision '${precision}' (use float64 or float32).`));
  }
  if (precision === 'float64' && backend !== 'onnxruntime') return Promise.resolve(new TypedOps('float64') as Ops);
  const key = `${precision}:${backend}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      let ortReason: string | null = null;
      if (backend === 'onnxruntime' || backend === 'auto') {
        const ort = await ortOps(precision);
        if (typeof ort !== 'string') return ort;
        if (backend === 'onnxruntime') throw new DtdError('bad-usage', `The onnxruntime backend is not available here: ${ort}`);
        ortReason = ort;
      }
      const note = (ops: Ops): Ops => (ortReason ? Object.assign(Object.create(ops) as Ops, { backend: `${ops.backend} (onnxruntime unavailable: ${ortReason})` }) : ops);
      try {
        const { createTfjsOps } = await import('./tfjs');
        return note((await createTfjsOps(backend)) as Ops);
      } catch (e) {
        if (backend !== 'auto') {
          throw new DtdError('bad-usage', `The ${backend} backend is not available here: ${(e as Error).message}`);
        }
        return note(new TypedOps('float32') as Ops);
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
  if (!ops.backend.startsWith('tfjs-wasm')) return ops;
  const need = wasmHeapBytes(net);
  const limit = LIMITS.wasmHeapMB * 1024 * 1024;
  if (need <= limit) return ops;
  const what = `This network needs about ${formatBytes(need)} of tfjs-wasm's heap in float32, more than the ${formatBytes(limit)} it can hold reliably (the heap stops at 4 GB)`;
  if (backend === 'wasm') throw new DtdError('too-costly', `${what}. Use --precision float64 (or backend auto, which runs it on typed float32 arrays).`);
  warnings.push(`${what}: float32 runs on typed arrays (slower than tfjs-wasm).`);
  return new TypedOps('float32');
}
