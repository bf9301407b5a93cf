// Test helper for the graph fixtures (shared/fixtures/residual, RESIDUAL.md):
// builds the engine's graph IR from a fixture's node list and parameters with
// the loaders' NetworkBuilder (BatchNorm folded, ReLUs fused into the layer
// that feeds them, Add and Concat as joins), and maps every fixture tensor
// (node output) to the IR tensor that holds it.

import path from 'node:path';
import { NetworkBuilder, type TensorRef } from '../../extension/engine/loaders/builder';
import type { Network, Shape3 } from '../../extension/engine/network';
import { FIXTURES_DIR, fixtureNames, loadFixture, type Fixture } from './fixtures';
import { flat } from './conv';

export const RESIDUAL_FIXTURES_DIR = path.resolve(FIXTURES_DIR, '..', 'residual');
export const residualFixtureNames = (): string[] => fixtureNames(RESIDUAL_FIXTURES_DIR);
export const loadResidualFixture = (name: string): Fixture => loadFixture(name, RESIDUAL_FIXTURES_DIR);

export interface ResidualNet {
  net: Network;
  /**
   * Fixture tensor name (a node's output, or "x") → the IR tensor and whether the
   * fixture value is that tensor ('act') or the pre-activation of layer `tensor`
   * ('pre': a conv/add before its fused ReLU, a folded BatchNorm's output), or a
   * conv's output before its folded BatchNorm ('folded').
   */
  tensors: Map<string, { tensor: number; stage: 'act' | 'pre' | 'folded' }>;
  /** How many nodes read each fixture tensor. */
  readers: Map<string, number>;
}

const pair = (v: number | number[]): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v, v]);

export function residualNetFromFixture(fx: Fixture, name = 'fixture'): ResidualNet {
  const nodes = fx.network.nodes as Fixture[];
  const P = (key: string) => Float64Array.from(flat(fx.network.parameters[key].values));
  const inShape = (fx.input.shape as number[]).slice(1) as Shape3;
  const b = new NetworkBuilder(name, inShape);
  const refs = new Map<string, TensorRef>([['x', 0]]);
  const flatNames = new Set<string>();
  const tensors: ResidualNet['tensors'] = new Map([['x', { tensor: 0, stage: 'act' }]]);
  const readers = new Map<string, number>();
  for (const n of nodes) for (const i of n.inputs as string[]) readers.set(i, (readers.get(i) ?? 0) + 1);
  const logits = fx.network.logits_node as string;
  for (const n of nodes) {
    const inputs = n.inputs as string[];
    const src = refs.get(inputs[0])!;
    const exclusive = (readers.get(inputs[0]) ?? 0) === 1;
    const module = (n.module ?? n.name) as string;
    if (n.type !== 'Add' && n.type !== 'Concat') {
      b.use(src);
      if (flatNames.has(inputs[0])) b.flatten();
    }
    switch (n.type) {
      case 'Conv2d': {
        const [ph, pw] = pair(n.padding);
        b.conv2d(n.name, {
          weight: P(`${module}.weight`),
          bias: n.bias ? P(`${module}.bias`) : null,
          outChannels: n.out_channels,
          kernel: pair(n.kernel_size),
          stride: pair(n.stride),
          padding: [ph, pw, ph, pw],
          dilation: pair(n.dilation),
          groups: n.groups,
        });
        break;
      }
      case 'BatchNorm2d': {
        const before = b.current;
        b.batchNorm(n.name, P(`${module}.weight`), P(`${module}.bias`), P(`${module}.running_mean`), P(`${module}.running_var`), n.eps, exclusive);
        if (b.current === before) tensors.set(inputs[0], { tensor: before, stage: 'folded' });
        break;
      }
      case 'ReLU': {
        const before = b.current;
        b.relu(n.name, exclusive);
        // Fused: the ReLU's input is the pre-activation of the layer that now ends with the ReLU.
        if (b.current === before) tensors.set(inputs[0], { tensor: before, stage: tensors.get(inputs[0])?.stage === 'folded' ? 'folded' : 'pre' });
        break;
      }
      case 'MaxPool2d':
      case 'AvgPool2d': {
        const [ph, pw] = pair(n.padding);
        const k = pair(n.kernel_size);
        b.pool2d(n.type === 'MaxPool2d' ? 'maxpool2d' : 'avgpool2d', n.name, k, n.stride ? pair(n.stride) : k, [ph, pw, ph, pw]);
        break;
      }
      case 'AdaptiveAvgPool2d':
        b.globalAvgPool(n.name);
        break;
      case 'Flatten':
        b.flatten();
        flatNames.add(n.name);
        break;
      case 'Linear':
        b.dense(n.name, P(`${module}.weight`), n.bias === false ? null : P(`${module}.bias`), n.out_features, n.in_features);
        break;
      case 'Add':
        b.add(n.name, inputs.map((i) => refs.get(i)!));
        break;
      case 'Concat':
        b.concat(n.name, inputs.map((i) => refs.get(i)!));
        break;
      default:
        throw new Error(`residual helper: node type ${n.type}`);
    }
    refs.set(n.name, b.current);
    if (!tensors.has(n.name) || tensors.get(n.name)!.tensor !== b.current) tensors.set(n.name, { tensor: b.current, stage: 'act' });
    if (n.name === logits) break;
  }
  // A BatchNorm folded into its conv: the BN's output is the conv layer's pre-activation unless a ReLU was fused after it.
  const net = b.build('json');
  for (const [k, v] of tensors) {
    if (v.stage !== 'act' || v.tensor === 0) continue;
    const layer = net.layers[v.tensor - 1];
    const node = nodes.find((q) => q.name === k);
    if (node && (node.type === 'BatchNorm2d' || node.type === 'Conv2d' || node.type === 'Add' || node.type === 'Linear') && layer.activation !== 'linear') tensors.set(k, { tensor: v.tensor, stage: 'pre' });
  }
  return { net, tensors, readers };
}
