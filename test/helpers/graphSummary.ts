// A small graph network built with the engine's own NetworkBuilder (the code
// every loader uses), shaped like RESIDUAL.md's res_basic_seed20 plus a
// depthwise conv and a channel concat: a stem conv with a BatchNorm folded in,
// a BasicBlock with an identity skip, a BasicBlock with a strided projection
// skip, a grouped 3×3 conv, a concat of two branches, global average pooling,
// a Linear and a final Softmax (removed, with a note). Its summary
// (summarizeModel) is what the inspector and the webview tests draw while no
// loader in main reads a residual file yet. Names are ONNX-style node names;
// `rename` lets a test put a hostile name on one layer.

import { summarizeModel } from '../../extension/engine/assemble';
import { NetworkBuilder, type ConvParams } from '../../extension/engine/loaders/builder';
import type { Network } from '../../extension/engine/network';
import type { ModelSummary } from '../../extension/protocol';

function weights(n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  return Float64Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 0.4;
  });
}

function conv(C: number, O: number, k: number, stride: number, pad: number, seed: number, groups = 1, bias = true): ConvParams {
  return {
    weight: weights(O * (C / groups) * k * k, seed),
    bias: bias ? weights(O, seed + 1000) : null,
    outChannels: O,
    kernel: [k, k],
    stride: [stride, stride],
    padding: [pad, pad, pad, pad],
    dilation: [1, 1],
    groups,
  };
}

function bn(b: NetworkBuilder, name: string, C: number, seed: number, exclusive = true): void {
  const g = weights(C, seed).map((v) => 1 + v);
  g[1] = -0.5; // γ < 0 on channel 1, as in the fixtures
  b.batchNorm(name, g, weights(C, seed + 1), weights(C, seed + 2), weights(C, seed + 3).map((v) => 1 + Math.abs(v)), 1e-5, exclusive);
}

/** The network; `rename` maps a layer's name to another (e.g. a hostile one). */
export function residualNetwork(rename: Record<string, string> = {}): Network {
  const n = (s: string) => rename[s] ?? s;
  const b = new NetworkBuilder('res_graph.onnx', [3, 16, 16]);
  b.conv2d(n('/conv1/Conv'), conv(3, 8, 3, 1, 1, 1, 1, false));
  bn(b, n('/bn1/BatchNormalization'), 8, 2);
  b.relu(n('/relu/Relu'));
  const stem = b.current;
  // block1: BasicBlock(8, 8), identity skip.
  b.conv2d(n('/block1/conv1/Conv'), conv(8, 8, 3, 1, 1, 3, 1, false));
  bn(b, n('/block1/bn1/BatchNormalization'), 8, 4);
  b.relu(n('/block1/relu/Relu'));
  b.conv2d(n('/block1/conv2/Conv'), conv(8, 8, 3, 1, 1, 5, 1, false));
  bn(b, n('/block1/bn2/BatchNormalization'), 8, 6);
  b.add(n('/block1/Add'), [b.current, stem]);
  b.relu(n('/block1/relu_1/Relu'));
  const block1 = b.current;
  // block2: BasicBlock(8, 16, stride 2) with a 1×1 strided projection on the skip.
  b.conv2d(n('/block2/conv1/Conv'), conv(8, 16, 3, 2, 1, 7, 1, false));
  bn(b, n('/block2/bn1/BatchNormalization'), 16, 8);
  b.relu(n('/block2/relu/Relu'));
  b.conv2d(n('/block2/conv2/Conv'), conv(16, 16, 3, 1, 1, 9, 1, false));
  bn(b, n('/block2/bn2/BatchNormalization'), 16, 10);
  const main = b.current;
  b.use(block1);
  b.conv2d(n('/block2/downsample/0/Conv'), conv(8, 16, 1, 2, 0, 11, 1, false));
  bn(b, n('/block2/downsample/1/BatchNormalization'), 16, 12);
  b.add(n('/block2/Add'), [main, b.current]);
  b.relu(n('/block2/relu_1/Relu'));
  const block2 = b.current;
  // A depthwise 3×3 conv beside the block output, joined by a channel concat.
  b.conv2d(n('/dw/Conv'), conv(16, 16, 3, 1, 1, 13, 16));
  b.relu(n('/dw/Relu'));
  b.concat(n('/cat/Concat'), [block2, b.current]);
  b.globalAvgPool(n('/avgpool/GlobalAveragePool'));
  b.flatten();
  b.dense(n('/fc/Gemm'), weights(10 * 32, 14), weights(10, 15), 10, 32);
  b.finalSoftmax(n('/softmax/Softmax'), 'Softmax');
  return b.build('onnx');
}

export function residualSummary(rename: Record<string, string> = {}): ModelSummary {
  return summarizeModel(residualNetwork(rename));
}
