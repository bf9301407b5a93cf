// Loader for networks written as JSON: the fixtures' `network` layout
// { input_size, layers: [{name, in_features, out_features, weight [[...]], bias, activation}],
//   output_selection }, either alone or as the `network` key of a whole fixture file.
// camelCase spellings (inputSize, inFeatures, ...) are accepted too. Numbers may be
// the strings "NaN"/"Infinity"/"-Infinity" (the fixtures' convention); validateNetwork
// then refuses them with a message.
// A `network` with a `parameters` table (the conv fixtures, CONV.md §2) goes to convJson.ts,
// a TensorFlow.js model.json (modelTopology + weightsManifest) to tfjs.ts.

import type { Activation, DenseLayer, Network } from '../network';
import { LoaderOptions, badModel, parseOutputSelection } from './common';
import { allocFloat64, checkDims, checkJsonShape, errorText, preview } from '../budget';
import { isConvFixtureNetwork, loadConvFixtureNetwork } from './convJson';
import { isTfjsModelJson, loadTfjsModel } from './tfjs';
import { quoteName } from '../../protocol';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function pick(o: Obj, snake: string, camel: string): unknown {
  return o[snake] !== undefined ? o[snake] : o[camel];
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  return undefined;
}

export function loadJsonModel(bytes: Uint8Array, fileName: string, opts: LoaderOptions = {}): Network {
  const fail = (problem: string) => badModel(fileName, problem);
  let doc: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw fail('is not UTF-8 text, so it is not a JSON model.');
  }
  checkJsonShape(text, fail);
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw fail(`is not valid JSON (${errorText(e)}).`);
  }
  // TensorFlow.js Layers model.json (weights in shards next to it): tfjs.ts.
  if (isTfjsModelJson(doc)) return loadTfjsModel(doc as Obj, fileName, opts);
  if (isObj(doc) && isObj(doc.network)) doc = doc.network;
  // Convolutional fixtures (CONV.md): layers described PyTorch-style with a parameters table.
  if (isConvFixtureNetwork(doc)) return loadConvFixtureNetwork(doc as Obj, fileName);
  if (!isObj(doc) || !Array.isArray(doc.layers)) {
    throw fail('is not a DTD Lens network: expected an object with "input_size" and "layers" (or a fixture file with a "network" key).');
  }
  const net = doc;
  const layersRaw = net.layers as unknown[];
  const layers: DenseLayer[] = layersRaw.map((raw, i) => {
    const where = `layer ${i + 1}`;
    if (!isObj(raw)) throw fail(`${where} is not an object.`);
    const name = typeof raw.name === 'string' && raw.name ? raw.name : `layer${i + 1}`;
    const weightRaw = raw.weight;
    if (!Array.isArray(weightRaw)) throw fail(`layer ${quoteName(name)} has no "weight" array.`);
    // Shape from the declared sizes, else from the nested weight array.
    const nested = weightRaw.length > 0 && Array.isArray(weightRaw[0]);
    const outDecl = pick(raw, 'out_features', 'outFeatures');
    const inDecl = pick(raw, 'in_features', 'inFeatures');
    const outFeatures = outDecl !== undefined ? outDecl : nested ? weightRaw.length : undefined;
    const inFeatures = inDecl !== undefined ? inDecl : nested ? (weightRaw[0] as unknown[]).length : undefined;
    if (!Number.isSafeInteger(outFeatures) || !Number.isSafeInteger(inFeatures) || (outFeatures as number) <= 0 || (inFeatures as number) <= 0) {
      throw fail(`layer ${quoteName(name)} needs positive integer "in_features" and "out_features".`);
    }
    const nOut = outFeatures as number;
    const nIn = inFeatures as number;
    // The declared sizes must match the weights actually in the file before anything is allocated.
    checkDims([nOut, nIn], `layer ${quoteName(name)}`, fail);
    if (nested ? weightRaw.length !== nOut : weightRaw.length !== nOut * nIn) {
      throw fail(nested
        ? `layer ${quoteName(name)} has ${weightRaw.length} weight rows but out_features is ${nOut}.`
        : `layer ${quoteName(name)} has ${weightRaw.length} weights but ${nOut}×${nIn} = ${nOut * nIn} are needed.`);
    }
    const weight = allocFloat64(nOut * nIn, `layer ${quoteName(name)}`, fail);
    if (nested) {
      weightRaw.forEach((row, r) => {
        if (!Array.isArray(row) || row.length !== nIn) throw fail(`layer ${quoteName(name)}: weight row ${r} should have ${nIn} values.`);
        row.forEach((v, c) => {
          const x = toNumber(v);
          if (x === undefined) throw fail(`layer ${quoteName(name)}: weight[${r}][${c}] is not a number (${preview(v)}).`);
          weight[r * nIn + c] = x;
        });
      });
    } else {
      weightRaw.forEach((v, k) => {
        const x = toNumber(v);
        if (x === undefined) throw fail(`layer ${quoteName(name)}: weight[${k}] is not a number (${preview(v)}).`);
        weight[k] = x;
      });
    }
    const biasRaw = raw.bias;
    const bias = new Float64Array(nOut);
    if (biasRaw !== undefined && biasRaw !== null) {
      if (!Array.isArray(biasRaw) || biasRaw.length !== nOut) throw fail(`layer ${quoteName(name)}: "bias" should be an array of ${nOut} numbers.`);
      biasRaw.forEach((v, k) => {
        const x = toNumber(v);
        if (x === undefined) throw fail(`layer ${quoteName(name)}: bias[${k}] is not a number (${preview(v)}).`);
        bias[k] = x;
      });
    }
    const act = raw.activation;
    let activation: Activation;
    if (act === 'relu' || act === 'linear') activation = act;
    else if (act === null || act === undefined || act === 'none' || act === 'identity') activation = 'linear';
    else throw fail(`layer ${quoteName(name)} has activation ${preview(act)}; supported: "relu", "linear" (or null).`);
    return { kind: 'dense', name, inFeatures: nIn, outFeatures: nOut, weight, bias, activation };
  });
  if (layers.length === 0) throw fail('the network has no layers.');

  const inputDecl = pick(net, 'input_size', 'inputSize');
  let inputSize = layers[0].inFeatures;
  if (inputDecl !== undefined) {
    if (!Number.isSafeInteger(inputDecl) || (inputDecl as number) <= 0) throw fail(`"input_size" must be a positive integer (got ${preview(inputDecl)}).`);
    inputSize = inputDecl as number;
  }
  const selRaw = pick(net, 'output_selection', 'outputSelection');
  const outputSelection = selRaw === undefined || selRaw === null ? null : parseOutputSelection(selRaw, (p) => fail(`"output_selection" ${p}`));
  return { inputSize, layers, outputSelection, source: { format: 'json', file: fileName }, notes: [] };
}
