// Loader for the convolutional fixture files (test/fixtures/conv/*.json, CONV.md §2):
// `network.layers` (PyTorch module descriptions with input_shape/output_shape and
// hyper-parameters) plus `network.parameters[key] = {shape, values (nested lists)}`.
// The layer list is read with the same code as a sidecar's `layers` (layerSpec.ts),
// so BatchNorm is folded exactly as CONV.md §3 and a final Softmax is dropped.

import type { Network, Shape3 } from '../network';
import { badModel } from './common';
import { type NamedTensor, type TensorLookup, buildFromLayerSpecs } from './layerSpec';
import { quoteName } from '../../protocol';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True for a fixture-style network: it carries its own `parameters` table. */
export function isConvFixtureNetwork(network: unknown): boolean {
  return isObj(network) && isObj(network.parameters) && Array.isArray(network.layers);
}

function flattenNested(v: unknown, out: number[], fail: () => Error): void {
  if (typeof v === 'number') out.push(v);
  else if (v === 'NaN') out.push(Number.NaN);
  else if (v === 'Infinity') out.push(Number.POSITIVE_INFINITY);
  else if (v === '-Infinity') out.push(Number.NEGATIVE_INFINITY);
  else if (Array.isArray(v)) for (const x of v) flattenNested(x, out, fail);
  else throw fail();
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
      const flat: number[] = [];
      flattenNested(p.values, flat, fail);
      const shape = p.shape as number[];
      const size = shape.reduce((a, d) => a * d, 1);
      if (flat.length !== size) throw badModel(fileName, `parameter ${quoteName(key)} has shape [${shape.join(', ')}] (${size} values) but ${flat.length} values.`);
      const t = { shape, values: Float64Array.from(flat) };
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
