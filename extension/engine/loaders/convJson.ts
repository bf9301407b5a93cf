// Loader for the convolutional fixture files (test/fixtures/conv/*.json, CONV.md §2):
// `network.layers` (PyTorch module descriptions with input_shape/output_shape and
// hyper-parameters) plus `network.parameters[key] = {shape, values (nested lists)}`.
// The layer list is read with the same code as a sidecar's `layers` (layerSpec.ts),
// so BatchNorm is folded exactly as CONV.md §3 and a final Softmax is dropped.

import type { Network, Shape3 } from '../network';
import { badModel } from './common';
import { allocFloat64, checkDims } from '../budget';
import { type NamedTensor, type TensorLookup, buildFromLayerSpecs } from './layerSpec';
import { quoteName } from '../../protocol';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True for a fixture-style network: it carries its own `parameters` table. */
export function isConvFixtureNetwork(network: unknown): boolean {
  return isObj(network) && isObj(network.parameters) && Array.isArray(network.layers);
}

function leaf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  return undefined;
}

/**
 * Nested lists of numbers → `out` (when given), in order, without recursion; returns how
 * many values there are, counting no further than limit + 1.
 */
function flattenNested(v: unknown, out: Float64Array | null, limit: number, fail: () => Error): number {
  let n = 0;
  const stack: { arr: unknown[]; i: number }[] = [];
  const put = (x: unknown) => {
    const num = leaf(x);
    if (num === undefined) throw fail();
    if (out && n < out.length) out[n] = num;
    n++;
  };
  if (!Array.isArray(v)) put(v);
  else stack.push({ arr: v, i: 0 });
  while (stack.length > 0 && n <= limit) {
    const top = stack[stack.length - 1];
    if (top.i >= top.arr.length) {
      stack.pop();
      continue;
    }
    const x = top.arr[top.i++];
    if (Array.isArray(x)) stack.push({ arr: x, i: 0 });
    else put(x);
  }
  return n;
}

export function loadConvFixtureNetwork(network: Obj, fileName: string): Network {
  const params = network.parameters as Obj;
  const cache = new Map<string, NamedTensor>();
  const tensors: TensorLookup = {
    keys: () => Object.keys(params),
    get: (key) => {
      if (cache.has(key)) return cache.get(key);
      const p = params[key];
      if (p === undefined) return undefined;
      const fail = () => badModel(fileName, `parameter ${quoteName(key)} should be {"shape": [...], "values": nested lists of numbers}.`);
      if (!isObj(p) || !Array.isArray(p.shape) || !p.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw fail();
      const shape = p.shape as number[];
      const size = checkDims(shape, `parameter ${quoteName(key)}`, (m) => badModel(fileName, m));
      // Count first: the values in the file, not the declared shape, decide whether to allocate.
      const n = flattenNested(p.values, null, size, fail);
      if (n !== size) throw badModel(fileName, `parameter ${quoteName(key)} has shape [${shape.join(', ')}] (${size} values) but ${n > size ? 'more' : n} values.`);
      const values = allocFloat64(size, `parameter ${quoteName(key)}`, (m) => badModel(fileName, m));
      flattenNested(p.values, values, size, fail);
      const t = { shape, values };
      cache.set(key, t);
      return t;
    },
  };
  const layers = network.layers as unknown[];
  if (!layers.every(isObj) || layers.length === 0) throw badModel(fileName, '"network.layers" must be a non-empty array of layer objects.');
  const first = (layers[0] as Obj).input_shape ?? (layers[0] as Obj).inputShape;
  if (!Array.isArray(first) || !first.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw badModel(fileName, 'the first layer needs "input_shape" ([1, C, H, W] or [1, n]).');
  }
  const dims = (first.length === 4 || first.length === 2 ? first.slice(1) : first) as number[];
  let input: Shape3 | number;
  if (dims.length === 3) input = dims as Shape3;
  else if (dims.length === 1) input = dims[0];
  else throw badModel(fileName, `the first layer's input_shape [${first.join(', ')}] is neither [1, C, H, W] nor [1, n].`);
  return buildFromLayerSpecs(layers as Obj[], input, tensors, fileName, 'json', 'network.layers');
}
