// Entry point for reading model files into the network IR. One loader file per
// format, picked by file extension; adding a format is one file plus one entry
// in LOADERS. Every loader's result goes through validateNetwork (shapes chain,
// finite weights, output selection in range).

import { createHash } from 'node:crypto';
import { DtdError } from '../errors';
import { resourceError, withElementBudget } from '../budget';
import { type LoadableExtension, quoteName } from '../../protocol';
import { type Network, validateNetwork } from '../network';
import { type LoaderOptions, displayName } from './common';
import { loadJsonModel } from './json';
import { loadOnnx } from './onnx';
import { loadKerasArchive, loadKerasH5 } from './keras';
import { loadPytorch } from './pytorch';
import { loadSafetensors } from './safetensors';

export { sidecarNameFor } from '../../protocol';
export type { LoaderOptions } from './common';
export { SUPPORTED_ONNX_OPS } from './onnx';

type Loader = (bytes: Uint8Array, fileName: string, opts: LoaderOptions) => Network;

/** One loader per extension the protocol lists (formats.ts): the type makes the two agree. */
const LOADERS: Record<LoadableExtension, Loader> = {
  '.onnx': loadOnnx,
  '.safetensors': loadSafetensors,
  '.json': loadJsonModel,
  '.pt': loadPytorch,
  '.pth': loadPytorch,
  '.keras': loadKerasArchive,
  '.h5': loadKerasH5,
  '.hdf5': loadKerasH5,
};

export const SUPPORTED_MODEL_EXTENSIONS: readonly string[] = Object.keys(LOADERS);

function extensionOf(fileName: string): string {
  const base = displayName(fileName);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}

/**
 * Reads a model file into the network IR.
 * `opts.sidecar` is the parsed `<model>.dtd.json` (see sidecarNameFor), if any;
 * `opts.finalActivation` says whether the last layer has a ReLU for formats that
 * do not store activations (safetensors); `opts.readSibling`/`opts.files` supply the
 * files a model names next to itself (TF.js weight shards); `opts.maxUncompressedBytes`
 * bounds what is unpacked from zip-based formats (.keras, .pt).
 */
export function loadModel(
  bytes: Uint8Array,
  fileName: string,
  opts: LoaderOptions = {},
): Network {
  const ext = extensionOf(fileName);
  const loader = Object.hasOwn(LOADERS, ext) ? LOADERS[ext as LoadableExtension] : undefined;
  if (!loader) {
    throw new DtdError(
      'unsupported',
      `${displayName(fileName)}: ${ext ? `${quoteName(ext)} files are` : 'files without an extension are'} not a model format DTD Lens reads (supported: ${SUPPORTED_MODEL_EXTENSIONS.join(', ')}).`,
      fileName,
    );
  }
  // Every tensor the loader decodes counts against one per-model budget (LIMITS.modelElements);
  // an allocation V8 still refuses, or a stack overflow, is reported naming the file.
  let net: Network;
  try {
    net = withElementBudget(() => validateNetwork(loader(bytes, fileName, opts)));
  } catch (e) {
    throw resourceError(e, fileName);
  }
  net.source.sha256 = createHash('sha256').update(bytes).digest('hex');
  return net;
}
