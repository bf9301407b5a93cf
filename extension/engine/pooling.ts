// Max pooling in full-backward DTD. Inside the input's local linear region a
// max pool is the selection of each window's winner (the first maximum,
// row-major): a 0/1 dense layer. Full-backward decomposes that linearized
// network — DTD's winner-takes-all treatment, the rule's root of a selection
// row giving the whole relevance to the winner — and every root is then
// checked on the real network: a root at which some window has another winner
// lies outside the input's local linear region, and says which window.

import { forwardFrom } from './forward';
import { poolGeom } from './layers';
import type { DenseLayer, Network, Pool2dLayer } from './network';
import { maxPoolArgmax } from './ops/kernels';
import { quoteName } from '../protocol';

/** Winners (flat input index per output unit) of every max pool from layer `from` up, at a point in that layer's input space. */
export function maxPoolWinnersFrom(net: Network, from: number, a: ArrayLike<number>): Int32Array[] {
  const f = forwardFrom(net, from, a);
  const out: Int32Array[] = [];
  for (let k = from; k <= net.layers.length; k++) {
    const layer = net.layers[k - 1];
    if (layer.kind === 'maxpool2d') out.push(maxPoolArgmax(f.act[k - from], 1, poolGeom(layer)));
  }
  return out;
}

/** The max pool as the dense selection of the winners it has at its input `a`. */
export function maxPoolAsSelection(layer: Pool2dLayer, a: ArrayLike<number>): DenseLayer {
  const winners = maxPoolArgmax(a, 1, poolGeom(layer));
  const n = layer.inFeatures, m = layer.outFeatures;
  const weight = new Float64Array(n * m);
  for (let j = 0; j < m; j++) if (winners[j] >= 0) weight[j * n + winners[j]] = 1;
  return { kind: 'dense', name: layer.name, inFeatures: n, outFeatures: m, weight, bias: new Float64Array(m), activation: layer.activation };
}

/**
 * Compares the max-pool winners at a root with those at the input of its call
 * (layer l's input space): null when all agree, else a description of the first
 * window whose winner changes.
 */
export function maxPoolWinnerChange(net: Network, l: number, input: ArrayLike<number>, root: ArrayLike<number>): string | null {
  const a = maxPoolWinnersFrom(net, l, input);
  const b = maxPoolWinnersFrom(net, l, root);
  const pools = net.layers.slice(l - 1).filter((x) => x.kind === 'maxpool2d');
  for (let p = 0; p < a.length; p++) {
    for (let j = 0; j < a[p].length; j++) {
      if (a[p][j] !== b[p][j]) return `max pool ${quoteName(pools[p].name)} unit ${j} changes its winner (input ${a[p][j]} → ${b[p][j]})`;
    }
  }
  return null;
}
