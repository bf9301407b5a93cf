// Full-backward and the sampled root finders work on a chain of dense ReLU
// layers. A graph network (residual adds, concatenations) becomes such a chain
// here, exactly: chain layer l computes graph layer l's output (its own block,
// first, so graph unit j is chain unit j) and carries along every tensor that
// a later layer still reads (identity units). The chain's layer input is then
// the whole cut of the graph at that layer — every live tensor — so the upper
// relevance, the roots and their checks are functions of the whole cut, which
// is what the layers above really depend on. A carried tensor that may be
// negative crossing a ReLU layer travels as its two parts x⁺ and x⁻ (x = x⁺ − x⁻),
// so the chain computes the graph's function exactly.

import { DtdError } from './errors';
import { layerInputs, materializeDense, nonNegativeTensors, type DenseLayer, type DenseNetwork, type Network } from './network';
import { quoteName } from '../protocol';

/** A block of a chain layer's output: `size` values of graph tensor t, taken with `sign` (the x⁻ part of a split tensor has sign −1). */
export interface ChainBlock {
  t: number;
  sign: 1 | -1;
  offset: number;
  size: number;
  /** Whether its values are ≥ 0 for every input (so a ReLU passes it unchanged). */
  nonNegative: boolean;
}

export interface GraphChain {
  chain: DenseNetwork;
  /** blocks[l]: the blocks of chain tensor l (0 = the input, one block). */
  blocks: ChainBlock[][];
}

/**
 * The graph as an equivalent chain of dense layers. `dense(l)` gives graph layer
 * l as a dense layer over its inputs concatenated in order (conv/avg-pool
 * materialized, max pools as the selection of their winners at the input).
 */
export function graphAsChain(net: Network, dense: (l: number) => DenseLayer, inputNonNegative: boolean): GraphChain {
  const L = net.layers.length;
  const lastReader = new Array(L + 1).fill(0);
  for (let l = 1; l <= L; l++) for (const t of layerInputs(net, l)) lastReader[t] = Math.max(lastReader[t], l);
  const nonNeg = nonNegativeTensors(net);
  nonNeg[0] = inputNonNegative;
  const blocks: ChainBlock[][] = [[{ t: 0, sign: 1, offset: 0, size: net.inputSize, nonNegative: inputNonNegative }]];
  const layers: DenseLayer[] = [];
  for (let l = 1; l <= L; l++) {
    const g = net.layers[l - 1];
    if (g.activation !== 'relu' && g.activation !== 'linear') throw new DtdError('unsupported', `full-backward follows ReLU units; layer ${quoteName(g.name)} uses ${g.activation}.`);
    const G = dense(l);
    const below = blocks[l - 1];
    const n = below.reduce((a, b) => a + b.size, 0);
    // The blocks this chain layer outputs: graph layer l first, then the carried tensors.
    const out: ChainBlock[] = [{ t: l, sign: 1, offset: 0, size: g.outFeatures, nonNegative: nonNeg[l] }];
    const carries: { from: ChainBlock; sign: 1 | -1 }[] = [];
    for (const b of below) {
      if (lastReader[b.t] <= l) continue;
      if (g.activation === 'relu' && !b.nonNegative) {
        // x = x⁺ − x⁻ through a ReLU: two carried parts, each ≥ 0.
        carries.push({ from: b, sign: 1 }, { from: b, sign: -1 });
      } else carries.push({ from: b, sign: 1 });
    }
    let off = g.outFeatures;
    for (const c of carries) {
      const splitPart = g.activation === 'relu' && !c.from.nonNegative;
      out.push({ t: c.from.t, sign: (c.from.sign * c.sign) as 1 | -1, offset: off, size: c.from.size, nonNegative: splitPart || c.from.nonNegative });
      off += c.from.size;
    }
    const m = off;
    if (n * m > 4e8) throw new DtdError('too-costly', `full-backward on this graph needs a chain layer of ${n}×${m} weights at ${quoteName(g.name)}; use the train-free method or LRP.`);
    const W = new Float64Array(m * n);
    const bias = new Float64Array(m);
    bias.set(G.bias.subarray(0, g.outFeatures));
    // Own rows: graph layer l's weights on each of its inputs, spread over every block holding that tensor (with its sign).
    let gOff = 0;
    for (const t of layerInputs(net, l)) {
      const size = net.layers[t - 1]?.outFeatures ?? net.inputSize;
      const holders = below.filter((b) => b.t === t);
      if (!holders.length) throw new DtdError('internal', `graphAsChain: tensor ${t} is not live at layer ${l}.`);
      for (let j = 0; j < g.outFeatures; j++) {
        for (const b of holders) {
          for (let i = 0; i < size; i++) W[j * n + b.offset + i] += b.sign * G.weight[j * G.inFeatures + gOff + i];
        }
      }
      gOff += size;
    }
    // Carried rows: identity (or −identity for the x⁻ part of a split).
    carries.forEach((c, k) => {
      const o = out[k + 1];
      for (let i = 0; i < c.from.size; i++) W[(o.offset + i) * n + c.from.offset + i] = c.sign;
    });
    layers.push({ kind: 'dense', name: g.name, inFeatures: n, outFeatures: m, weight: W, bias, activation: g.activation });
    blocks.push(out);
  }
  const chain: DenseNetwork = { ...net, layers };
  return { chain, blocks };
}

/** Graph layer l as one dense layer over its inputs concatenated (add: [I I …], concat: placement; others materialized). */
export function joinAsDense(net: Network, l: number, other: (l: number) => DenseLayer): DenseLayer {
  const g = net.layers[l - 1];
  if (g.kind === 'add' || g.kind === 'concat') {
    const m = g.outFeatures;
    const n = g.kind === 'add' ? g.inFeatures * layerInputs(net, l).length : g.inFeatures;
    const W = new Float64Array(m * n);
    if (g.kind === 'add') {
      const k = layerInputs(net, l).length;
      for (let j = 0; j < m; j++) for (let q = 0; q < k; q++) W[j * n + q * m + j] = 1;
    } else for (let j = 0; j < m; j++) W[j * n + j] = 1;
    return { kind: 'dense', name: g.name, inFeatures: n, outFeatures: m, weight: W, bias: new Float64Array(m), activation: g.activation };
  }
  return other(l);
}

/**
 * A chain vector (over chain tensor l−1) on graph tensor t: a value is Σ over t's
 * blocks of sign × block (x = x⁺ − x⁻); a relevance is the plain sum (what reached
 * either part belongs to the unit).
 */
export function tensorFromChain(blocks: ChainBlock[], t: number, v: ArrayLike<number>, what: 'value' | 'relevance' = 'value'): number[] | null {
  const holders = blocks.filter((b) => b.t === t);
  if (!holders.length) return null;
  const out = new Array(holders[0].size).fill(0);
  for (const b of holders) for (let i = 0; i < b.size; i++) out[i] += (what === 'value' ? b.sign : 1) * v[b.offset + i];
  return out;
}

export { materializeDense };

/**
 * Full-backward results on the chain, told in the graph's terms: the relevance
 * of graph tensor l is chain layer l's own block (the sum over its readers, as
 * the carried copies bring theirs back); the roots of a weighted graph layer are
 * its own units', each root shown on the tensor the layer reads; pooling, join
 * and affine layers have no roots (as in train-free); contributions (flows) are
 * over that tensor too. The root tree stays in chain space (every live tensor).
 */
export function graphResults<R extends { unit: number; root: number[] | null }>(
  net: Network,
  blocks: ChainBlock[][],
  relevance: (ArrayLike<number> | null)[],
  roots: R[][],
  contributions?: (Map<number, Float64Array> | null)[],
): { relevance: (number[] | null)[]; roots: R[][]; contributions?: (Map<number, Float64Array> | null)[] } {
  const L = net.layers.length;
  const rel = relevance.map((r, t) => (r ? Array.from(t === 0 ? r : Array.prototype.slice.call(r, 0, net.layers[t - 1].outFeatures)) : null));
  const weighted = (l: number) => ['dense', 'conv2d', 'convtranspose2d'].includes(net.layers[l - 1].kind);
  const mapped = roots.map((layerRoots, i) => {
    const l = i + 1;
    if (!weighted(l)) return [];
    const t = layerInputs(net, l)[0];
    return layerRoots
      .filter((r) => r.unit < net.layers[l - 1].outFeatures)
      .map((r) => ({ ...r, root: r.root ? tensorFromChain(blocks[l - 1], t, r.root) : null }));
  });
  const contrib = contributions?.map((m, i) => {
    const l = i + 1;
    if (!m || l > L || !weighted(l)) return null;
    const t = layerInputs(net, l)[0];
    const out = new Map<number, Float64Array>();
    for (const [j, v] of m) if (j < net.layers[l - 1].outFeatures) out.set(j, Float64Array.from(tensorFromChain(blocks[l - 1], t, v, 'relevance') ?? []));
    return out;
  });
  return { relevance: rel, roots: mapped, ...(contrib ? { contributions: contrib } : {}) };
}
