// Test helpers for the convolutional fixtures (test/fixtures/conv, CONV.md):
// an independent builder of the engine IR from a fixture's JSON description
// (BatchNorm folded in float64 as CONV.md §3; the final Softmax dropped), the
// map from fixture modules to IR relevance/activation indices, and a slow,
// obviously-correct dense reference for conv and pooling layers.

import assert from 'node:assert/strict';
import { firstLayerRules, LRP_BASELINES, lrpRulesFor, type LrpRule } from '../../extension/engine/baselines';
import type { Conv2dLayer, DenseLayer, Layer, Network, Pool2dLayer, Shape3 } from '../../extension/engine/network';
import { CONV_FIXTURES_DIR, fixtureFile, fixtureNames, loadFixture, type Fixture } from './fixtures';

export const convFixtureNames = (): string[] => fixtureNames(CONV_FIXTURES_DIR);
export const loadConvFixture = (name: string): Fixture => loadFixture(name, CONV_FIXTURES_DIR);

export const convFixtureFile = (name: string, ext: string): string => fixtureFile(name, ext, CONV_FIXTURES_DIR);

export function flat(v: unknown): number[] {
  const out: number[] = [];
  const walk = (x: unknown) => {
    if (Array.isArray(x)) x.forEach(walk);
    else out.push(x as number);
  };
  walk(v);
  return out;
}

export interface ConvFixtureNet {
  net: Network;
  /** For module i: the index into relevance[] / activations[] of the tensor at the module's input. */
  moduleInput: number[];
  /** For module i: where its output lives: ['pre' | 'act', IR layer (1-based)]; ['folded', l] for a conv whose BatchNorm was folded into it (its raw output is not in the IR). */
  moduleOutput: ['pre' | 'act' | 'folded', number][];
}

const shape3 = (s: number[]): Shape3 => [s[1], s[2], s[3]];
const pair = (v: number | number[]): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v, v]);

/** Builds the IR from the fixture's module list and parameters (independently of the loaders). */
export function convNetFromFixture(fx: Fixture, name = 'fixture'): ConvFixtureNet {
  const P = (key: string) => Float64Array.from(flat(fx.network.parameters[key].values));
  const layers: Layer[] = [];
  const moduleInput: number[] = [];
  const moduleOutput: ConvFixtureNet['moduleOutput'] = [];
  const n = fx.forward.explained_module_count as number;
  for (const m of fx.network.layers.slice(0, n)) {
    moduleInput.push(layers.length);
    const last = layers[layers.length - 1];
    const inShape = m.input_shape as number[];
    const outShape = m.output_shape as number[];
    switch (m.type) {
      case 'Conv2d': {
        const [ph, pw] = pair(m.padding);
        const layer: Conv2dLayer = {
          kind: 'conv2d',
          name: `conv${m.index}`,
          inShape: shape3(inShape),
          outShape: shape3(outShape),
          inFeatures: inShape[1] * inShape[2] * inShape[3],
          outFeatures: outShape[1] * outShape[2] * outShape[3],
          weight: P(m.params.weight),
          bias: m.params.bias ? P(m.params.bias) : new Float64Array(outShape[1]),
          kernel: pair(m.kernel_size),
          stride: pair(m.stride),
          padding: [ph, pw, ph, pw],
          dilation: pair(m.dilation),
          activation: 'linear',
        };
        layers.push(layer);
        moduleOutput.push(['pre', layers.length]);
        break;
      }
      case 'BatchNorm2d': {
        const conv = last as Conv2dLayer;
        moduleOutput[moduleOutput.length - 1] = ['folded', layers.length];
        const g = P(m.params.weight), beta = P(m.params.bias), mean = P(m.params.running_mean), v = P(m.params.running_var);
        const eps = m.eps ?? 1e-5;
        const per = conv.weight.length / conv.bias.length;
        for (let o = 0; o < conv.bias.length; o++) {
          const scale = g[o] / Math.sqrt(v[o] + eps);
          for (let q = 0; q < per; q++) conv.weight[o * per + q] *= scale;
          conv.bias[o] = (conv.bias[o] - mean[o]) * scale + beta[o];
        }
        moduleOutput.push(['pre', layers.length]);
        break;
      }
      case 'ReLU':
        last.activation = 'relu';
        moduleOutput.push(['act', layers.length]);
        break;
      case 'MaxPool2d':
      case 'AvgPool2d':
      case 'AdaptiveAvgPool2d': {
        const global = m.type === 'AdaptiveAvgPool2d';
        const k = global ? [inShape[2], inShape[3]] : pair(m.kernel_size);
        const [ph, pw] = global ? [0, 0] : pair(m.padding ?? 0);
        const layer: Pool2dLayer = {
          kind: m.type === 'MaxPool2d' ? 'maxpool2d' : 'avgpool2d',
          name: `pool${m.index}`,
          inShape: shape3(inShape),
          outShape: shape3(outShape),
          inFeatures: inShape[1] * inShape[2] * inShape[3],
          outFeatures: outShape[1] * outShape[2] * outShape[3],
          kernel: [k[0], k[1]],
          stride: global ? [k[0], k[1]] : pair(m.stride ?? m.kernel_size),
          padding: [ph, pw, ph, pw],
          activation: 'linear',
        };
        layers.push(layer);
        moduleOutput.push(['pre', layers.length]);
        break;
      }
      case 'Flatten':
        moduleOutput.push(moduleOutput[moduleOutput.length - 1]);
        break;
      case 'Linear': {
        const layer: DenseLayer = {
          kind: 'dense',
          name: `fc${m.index}`,
          inFeatures: m.in_features,
          outFeatures: m.out_features,
          weight: P(m.params.weight),
          bias: m.params.bias ? P(m.params.bias) : new Float64Array(m.out_features),
          activation: 'linear',
        };
        layers.push(layer);
        moduleOutput.push(['pre', layers.length]);
        break;
      }
      default:
        throw new Error(`convNetFromFixture: module type ${m.type}`);
    }
  }
  const xs = fx.input.shape as number[];
  const inputShape: Shape3 = xs.length === 4 ? shape3(xs) : (xs as unknown as Shape3);
  const net: Network = {
    inputSize: inputShape[0] * inputShape[1] * inputShape[2],
    inputShape,
    layers,
    outputSelection: null,
    source: { format: 'json', file: `${name}.json` },
    notes: [],
  };
  return { net, moduleInput, moduleOutput };
}

/** Slow dense reference for a conv layer: y_j = b + Σ_i W_dense[j,i] x_i, building W_dense by the textbook index formula. */
export function slowConvDense(layer: Conv2dLayer): Float64Array {
  const [C, H, W] = layer.inShape;
  const [O, OH, OW] = layer.outShape;
  const [kh, kw] = layer.kernel;
  const M = new Float64Array(layer.outFeatures * layer.inFeatures);
  for (let o = 0; o < O; o++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++)
        for (let c = 0; c < C; c++)
          for (let u = 0; u < kh; u++)
            for (let v = 0; v < kw; v++) {
              const r = i * layer.stride[0] - layer.padding[0] + u * layer.dilation[0];
              const q = j * layer.stride[1] - layer.padding[1] + v * layer.dilation[1];
              if (r < 0 || r >= H || q < 0 || q >= W) continue;
              M[(o * OH * OW + i * OW + j) * layer.inFeatures + c * H * W + r * W + q] += layer.weight[((o * C + c) * kh + u) * kw + v];
            }
  return M;
}

/** The rule list of a fixture key (CONV.md §5). */
export function rulesForKey(net: Network, fx: Fixture, key: string): LrpRule[] {
  if (key === 'zbox_zplus_zero_bias') {
    const { low, high } = fx.input.zbox_bounds;
    return firstLayerRules(net, { name: 'zB', zeroBias: true, low, high });
  }
  if (key === 'wsquare_zplus_zero_bias') return firstLayerRules(net, { name: 'w2', zeroBias: true });
  const r = LRP_BASELINES[key];
  assert.ok(r, `no rule for key ${key}`);
  return lrpRulesFor(net, r);
}

