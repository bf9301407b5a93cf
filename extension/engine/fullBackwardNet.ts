// The network full-backward and the sampled finders work on: conv and
// average-pool layers as dense matrices, max pools as the selection of the
// winners at the explained input (pooling.ts), and the check that flags roots
// whose real max-pool winners differ.

import { DtdError } from './errors';
import { forward as forward64 } from './forward';
import { chainOnlyProblems, hasSpatialLayers, isChain, layerInputs, materializeDense, requireDense, type DenseNetwork, type Network } from './network';
import { maxPoolAsSelection, maxPoolWinnerChange } from './pooling';
import { graphAsChain, joinAsDense, type ChainBlock } from './graphChain';
import { escapeName, type RootInfo, type TreeEntry } from '../protocol';

/** Largest dense-equivalent weight count full-backward materializes for conv/avg-pool layers. */
const MAX_FULL_BACKWARD_WEIGHTS = 2e7;

/**
 * The network full-backward and the sampled finders work on: dense layers as
 * they are, conv and average-pool layers as their dense matrices (for small
 * networks), and max pools as the selection of the winners they have at the
 * explained input x (pooling.ts; roots that change a winner are flagged).
 */
export function fullBackwardNetwork(net: Network, maxCost: number, x: ArrayLike<number>): DenseNetwork {
  const problems = chainOnlyProblems(net);
  if (problems.length) {
    throw new DtdError(
      'unsupported',
      `${escapeName(net.source.file.split(/[\\/]/).pop() ?? net.source.file)}: full-backward and its root finders follow ReLU units, and ${problems.join('; ')}. Use --method train-free or --method lrp.`,
      net.source.file,
    );
  }
  const graph = !isChain(net);
  if (!graph && !hasSpatialLayers(net) && net.layers.every((l) => l.kind === 'dense')) return requireDense(net);
  const weights = net.layers.reduce((acc, l) => acc + l.inFeatures * l.outFeatures, 0);
  if (weights > Math.max(MAX_FULL_BACKWARD_WEIGHTS, maxCost)) {
    throw new DtdError(
      'too-costly',
      `${net.source.file}: full-backward on this convolutional network needs its layers as dense matrices, ${weights.toExponential(2)} weights in all (limit ${Math.max(MAX_FULL_BACKWARD_WEIGHTS, maxCost).toExponential(2)}). Use the train-free method or LRP.`,
      net.source.file,
    );
  }
  const act = forward64(net, x).act;
  const dense = (l: number) => {
    const layer = net.layers[l - 1];
    return layer.kind === 'maxpool2d' ? maxPoolAsSelection(layer, act[layerInputs(net, l)[0]]) : materializeDense(layer);
  };
  if (!graph) return { ...net, layers: net.layers.map((_, i) => dense(i + 1)) };
  const { chain, blocks } = graphAsChain(net, (l) => joinAsDense(net, l, dense), Array.prototype.every.call(x, (v: number) => v >= 0));
  chainBlocks.set(chain, blocks);
  return chain;
}

const chainBlocks = new WeakMap<DenseNetwork, ChainBlock[][]>();

/** For a graph network's full-backward chain (graphChain.ts): the blocks of every chain tensor; undefined for a chain network. */
export function graphChainBlocks(fbNet: DenseNetwork): ChainBlock[][] | undefined {
  return chainBlocks.get(fbNet);
}

/** Full-backward on a network with max pools: roots whose real max-pool winners differ from their call input's are outside the region. */
export function checkMaxPoolWinners(net: Network, x: ArrayLike<number>, roots: RootInfo[][], tree: TreeEntry[] | null): number {
  if (!net.layers.some((l) => l.kind === 'maxpool2d')) return 0;
  const act = forward64(net, x).act;
  let flagged = 0;
  for (const layerRoots of roots) {
    for (const q of layerRoots) {
      if (!q.root || !q.checks) continue;
      const change = maxPoolWinnerChange(net, q.layer, act[q.layer - 1], q.root);
      if (change) {
        flagged += q.checks.inRegion ? 1 : 0;
        q.checks.inRegion = false;
        q.checks.crossing ??= change;
      }
    }
  }
  for (const e of tree ?? []) {
    const change = maxPoolWinnerChange(net, e.layer, e.input, e.root);
    if (change) {
      flagged += e.checks.inRegion ? 1 : 0;
      e.checks.inRegion = false;
      e.checks.crossing ??= change;
    }
  }
  return flagged;
}

